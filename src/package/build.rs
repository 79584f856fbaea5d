//! Building a stack's local artifacts: in memory for upload ([`upload`]) or into a zip on
//! disk ([`build`], `fgform package`). Either way SHA-512 comes from the writer that
//! produced the bytes, and sizes are refused by [`check_upload`] alone.

use std::io;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::{
    check_upload, inspect_archive, package_dir, Artifact, FileEntry, HashingWriter, PackageError, TooLarge, ZipAt,
};
use crate::model::{Address, CodeSource};

/// Why a local artifact could not be built: the file or folder (or output) that failed, or
/// a size the API would refuse ([`check_upload`], the one place limits are checked).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{address}: failed to read `{}`", path.display())]
    Read {
        address: Address,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{address}: failed to package `{}`", path.display())]
    Package {
        address: Address,
        path: PathBuf,
        #[source]
        source: Box<PackageError>,
    },
    #[error("{address}: `{}` is not a readable zip archive", path.display())]
    NotAZip {
        address: Address,
        path: PathBuf,
        #[source]
        source: Box<PackageError>,
    },
    /// Where the zip goes (`fgform package`) cannot be written.
    #[error("failed to {what} `{}`", path.display())]
    Output {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

impl BuildError {
    /// The way out, for a size the API would refuse.
    pub fn hint(&self) -> Option<&str> {
        match self {
            BuildError::TooLarge(refused) => Some(&refused.hint),
            _ => None,
        }
    }
}

/// A local artifact in memory, ready to upload: its bytes and their digests, each computed
/// once (SHA-512 while the bytes were produced).
#[derive(Debug, Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    /// Size and SHA-512 (a function's `digest`).
    pub artifact: Artifact,
    /// MD5 hex (a dependency version's `etag`).
    pub md5: String,
}

/// Packages (a folder) or reads (an archive) `source` in memory; `None` for OBS. A package
/// the API would refuse is an error here, before any call, not a 413 mid-apply.
pub fn upload(address: &Address, source: &CodeSource) -> Result<Option<Upload>, BuildError> {
    let Some(upload) = upload_unchecked(address, source)? else {
        return Ok(None);
    };
    check_upload(address, source, upload.artifact.size, ZipAt::Unknown)?;
    Ok(Some(upload))
}

/// [`upload`] without the size check: for a caller that sends a package too large for a
/// base64 upload another way (the code bucket, `crate::codestore`).
pub fn upload_unchecked(address: &Address, source: &CodeSource) -> Result<Option<Upload>, BuildError> {
    let (bytes, artifact) = match source {
        CodeSource::Obs { .. } => return Ok(None),
        CodeSource::Archive { path, .. } => {
            let read = |source| BuildError::Read {
                address: address.clone(),
                path: path.clone(),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(read)?;
            let mut writer = HashingWriter::new(Vec::new());
            io::copy(&mut file, &mut writer).map_err(read)?;
            let (size, digest, bytes) = writer.finish().map_err(read)?;
            (bytes, Artifact { files: 0, size, digest })
        }
        CodeSource::Directory { path, exclude } => {
            let mut bytes = Vec::new();
            let (_, artifact) = package_dir(path, exclude, &mut bytes).map_err(|source| BuildError::Package {
                address: address.clone(),
                path: path.clone(),
                source: Box::new(source),
            })?;
            (bytes, artifact)
        }
    };
    let md5 = hex::encode(md5::Md5::digest(&bytes));
    Ok(Some(Upload { bytes, artifact, md5 }))
}

/// One artifact `fgform package` built (or hashed).
#[derive(Debug)]
pub struct Built {
    pub address: Address,
    /// The zip written (folders) or the archive used as it is.
    pub path: PathBuf,
    pub artifact: Artifact,
    pub files: Vec<FileEntry>,
}

/// Builds the artifact of one code source into `out_dir` (a folder's zip, written
/// atomically) or inspects it in place (an archive); `None` for OBS objects. A package the
/// API would refuse is an error naming the zip.
pub fn build(address: &Address, source: &CodeSource, out_dir: &Path) -> Result<Option<Built>, BuildError> {
    match source {
        CodeSource::Obs { .. } => Ok(None),
        CodeSource::Archive { path, .. } => {
            let size = std::fs::metadata(path)
                .map_err(|source| BuildError::Output {
                    what: "read",
                    path: path.clone(),
                    source,
                })?
                .len();
            check_upload(address, source, size, ZipAt::Unknown)?;
            let (files, artifact) = inspect_archive(path).map_err(|source| BuildError::NotAZip {
                address: address.clone(),
                path: path.clone(),
                source: Box::new(source),
            })?;
            let path = path.clone();
            Ok(Some(Built {
                address: address.clone(),
                path,
                artifact,
                files,
            }))
        }
        CodeSource::Directory { path, exclude } => {
            let output = |what, path: &Path| {
                let path = path.to_path_buf();
                move |source| BuildError::Output { what, path, source }
            };
            std::fs::create_dir_all(out_dir).map_err(output("create", out_dir))?;
            let zip_path = out_dir.join(format!("{address}.zip"));
            let mut staged = crate::atomic::Staged::new(&zip_path, crate::atomic::Access::Default)
                .map_err(output("create a file beside", &zip_path))?;
            let (files, artifact) =
                package_dir(path, exclude, staged.file()).map_err(|source| BuildError::Package {
                    address: address.clone(),
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            // Not fsynced: a zip is rebuilt from its folder whenever it is needed.
            staged.commit(false).map_err(output("write", &zip_path))?;
            check_upload(address, source, artifact.size, ZipAt::Written(&zip_path))?;
            Ok(Some(Built {
                address: address.clone(),
                path: zip_path,
                artifact,
                files,
            }))
        }
    }
}
