//! Deterministic packaging: a folder becomes a zip whose bytes depend only on the files'
//! relative paths, contents and executable bit, never on mtimes, umask, owners or the order
//! the file system lists directories in. SHA-512 is computed while the zip is written.
//!
//! * entries sorted by path (bytewise, `/` separators), files only (no directory entries);
//! * every timestamp is 1980-01-01 00:00:00 (the DOS epoch), no extra fields;
//! * permissions 0644, or 0755 when any execute bit is set; "made by" Unix;
//! * deflate (level 6), or stored when deflate does not shrink the file (for files over
//!   256 KiB: when deflating their first 128 KiB saves less than 3%);
//! * `.gitignore` files inside the folder, `.fgformignore` files and `exclude:` globs are
//!   honoured; parent folders' ignore files, the global git excludes and `.git/` are not
//!   consulted, so results are the same on every machine and checkout;
//! * entries are deflated on all cores, each whole and alone, a bounded window ahead of the
//!   writer, and written in path order as soon as they are ready: the bytes do not depend on
//!   the number of cores (`package/writer.rs`).

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha512};

use crate::model::{limits, Address, CodeSource};

mod build;
mod writer;

pub use build::{build, upload, upload_unchecked, BuildError, Built, Upload};
pub use writer::{default_workers, write_zip, write_zip_with};

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write the package")]
    Write(#[source] io::Error),
    #[error("invalid exclude pattern `{pattern}`")]
    Pattern {
        pattern: String,
        #[source]
        source: ignore::Error,
    },
    #[error("failed to walk `{}`", dir.display())]
    Walk {
        dir: PathBuf,
        #[source]
        source: ignore::Error,
    },
    #[error("`{}` has a name that is not UTF-8", path.display())]
    NonUtf8Name { path: PathBuf },
    #[error("the package is too large for a zip without zip64 (over 4 GiB or 65535 files)")]
    TooLarge,
}

/// One file that ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the zip, `/`-separated, relative to the folder.
    pub name: String,
    pub source: PathBuf,
    pub size: u64,
    pub executable: bool,
}

/// A finished artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Number of files inside.
    pub files: usize,
    /// Size of the artifact in bytes (`code_size`).
    pub size: u64,
    /// Lowercase hex SHA-512 of the artifact bytes (the API's `digest`).
    pub digest: String,
}

/// Lists the files of `dir` that ship, sorted by name.
pub fn collect(dir: &Path, exclude: &[String]) -> Result<Vec<FileEntry>, PackageError> {
    let mut overrides = ignore::overrides::OverrideBuilder::new(dir);
    for pattern in exclude {
        overrides
            .add(&format!("!{pattern}"))
            .map_err(|source| PackageError::Pattern {
                pattern: pattern.clone(),
                source,
            })?;
    }
    let overrides = overrides.build().map_err(|source| PackageError::Pattern {
        pattern: exclude.join(", "),
        source,
    })?;
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .git_ignore(true)
        .require_git(false)
        .add_custom_ignore_filename(".fgformignore")
        .overrides(overrides)
        .follow_links(true)
        .filter_entry(|entry| !matches!(entry.file_name().to_str(), Some(".git" | ".fgform")))
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|source| PackageError::Walk {
            dir: dir.to_path_buf(),
            source,
        })?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let metadata = std::fs::metadata(path).map_err(|source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let relative = path.strip_prefix(dir).unwrap_or(path);
        let mut name = String::new();
        for component in relative.components() {
            let part = component
                .as_os_str()
                .to_str()
                .ok_or_else(|| PackageError::NonUtf8Name {
                    path: path.to_path_buf(),
                })?;
            if !name.is_empty() {
                name.push('/');
            }
            name.push_str(part);
        }
        files.push(FileEntry {
            name,
            source: path.to_path_buf(),
            size: metadata.len(),
            executable: is_executable(&metadata),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha512,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha512::new(),
            written: 0,
        }
    }

    /// Bytes written and their SHA-512 (hex).
    pub fn finish(mut self) -> io::Result<(u64, String, W)> {
        self.inner.flush()?;
        Ok((self.written, hex::encode(self.hasher.finalize()), self.inner))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes a file (a pre-built archive) while streaming it.
pub fn hash_file(path: &Path) -> Result<Artifact, PackageError> {
    let io_error = |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut writer).map_err(io_error)?;
    let (size, digest, _) = writer.finish().map_err(io_error)?;
    Ok(Artifact { files: 0, size, digest })
}

/// Lists the entries of a pre-built `.zip`/`.jar` (reading only its central directory) and
/// hashes it; a file that is not a zip is an error here rather than `FSS.1011` at upload.
pub fn inspect_archive(path: &Path) -> Result<(Vec<FileEntry>, Artifact), PackageError> {
    let io_error = |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| io_error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| io_error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        if entry.is_dir() {
            continue;
        }
        files.push(FileEntry {
            name: entry.name().to_string(),
            source: path.to_path_buf(),
            size: entry.size(),
            executable: entry.unix_mode().is_some_and(|m| m & 0o111 != 0),
        });
    }
    let mut artifact = hash_file(path)?;
    artifact.files = files.len();
    Ok((files, artifact))
}

/// Packages `dir` into `out`; returns the shipped files and the artifact.
pub fn package_dir<W: Write>(
    dir: &Path,
    exclude: &[String],
    out: W,
) -> Result<(Vec<FileEntry>, Artifact), PackageError> {
    package_dir_with(dir, exclude, out, default_workers())
}

/// [`package_dir`] deflating on `workers` threads (the same bytes for any count).
pub fn package_dir_with<W: Write>(
    dir: &Path,
    exclude: &[String],
    out: W,
    workers: NonZeroUsize,
) -> Result<(Vec<FileEntry>, Artifact), PackageError> {
    let files = collect(dir, exclude)?;
    let artifact = write_zip_with(&files, out, workers)?;
    Ok((files, artifact))
}

/// The size of the package a code source uploads: a folder is zipped into a sink (exactly the
/// bytes `package_dir` would write, nothing kept), an archive is measured; `None` for OBS.
pub fn upload_size(source: &CodeSource) -> Result<Option<u64>, PackageError> {
    match source {
        CodeSource::Obs { .. } => Ok(None),
        CodeSource::Archive { path, .. } => {
            std::fs::metadata(path)
                .map(|m| Some(m.len()))
                .map_err(|source| PackageError::Io {
                    path: path.clone(),
                    source,
                })
        }
        CodeSource::Directory { path, exclude } => Ok(Some(package_dir(path, exclude, io::sink())?.1.size)),
    }
}

/// Where the zip of a folder source is, for the hint of [`check_upload`].
#[derive(Debug, Clone, Copy)]
pub enum ZipAt<'a> {
    /// Already written here (`fgform package`).
    Written(&'a Path),
    /// Not written: `fgform package` with these arguments writes it into the stack directory.
    Package { args: &'a str, stack_dir: &'a Path },
    /// Not known here (plan and apply build it in memory).
    Unknown,
}

/// A package the API would refuse: where (address and file), why, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address}: {message}")]
pub struct TooLarge {
    pub address: Address,
    /// The file and why (without the address).
    pub message: String,
    pub hint: String,
}

/// Refuses, before any call, a package of `package_bytes` that the API or its gateway would
/// refuse as a base64 upload ([`limits::upload_refusal`]).
pub fn check_upload(
    address: &Address,
    source: &CodeSource,
    package_bytes: u64,
    zip: ZipAt<'_>,
) -> Result<(), TooLarge> {
    let kind = match address {
        Address::Dependency(_) => limits::Upload::Dependency,
        _ => limits::Upload::FunctionCode,
    };
    let Some(reason) = limits::upload_refusal(kind, package_bytes) else {
        return Ok(());
    };
    // `dir/./code` as the loader joins it reads better as `dir/code`.
    let path = source
        .local_path()
        .map(|p| p.components().collect::<PathBuf>().display().to_string())
        .unwrap_or_default();
    let what = match source {
        CodeSource::Directory { .. } => format!("the zip of `{path}`"),
        _ => format!("`{path}`"),
    };
    let key = if kind == limits::Upload::Dependency {
        "source"
    } else {
        "code"
    };
    let then = format!(
        "set `provider.code_bucket: obs://BUCKET/PREFIX` and fgform uploads it there, or upload it to OBS \
         and set `{key}: obs://BUCKET/KEY` (no size limit there)"
    );
    let hint = match (source, zip) {
        (CodeSource::Directory { .. }, ZipAt::Written(zip)) => format!("the zip is `{}`: {then}", zip.display()),
        (CodeSource::Directory { .. }, ZipAt::Package { args, stack_dir }) => format!(
            "`fgform package {args}` writes the zip to `{}`: {then}",
            stack_dir.join(".fgform/build").join(format!("{address}.zip")).display()
        ),
        (CodeSource::Directory { .. }, ZipAt::Unknown) => {
            format!("`fgform package` writes the zip to `.fgform/build/{address}.zip` in the stack directory: {then}")
        }
        _ => then,
    };
    Err(TooLarge {
        address: address.clone(),
        message: format!("{what} {reason}"),
        hint,
    })
}

#[cfg(test)]
mod tests;
