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
//! * files are compressed on all cores, a bounded window ahead of the writer, and written in
//!   path order as soon as they are ready.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::DeflateEncoder;
use flate2::Compression;
use sha2::{Digest, Sha512};

use crate::model::{limits, Address, CodeSource};

mod build;

pub use build::{build, upload, upload_unchecked, BuildError, Built, Upload};

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
    let files = collect(dir, exclude)?;
    let artifact = write_zip(&files, out)?;
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

/// How much of a large file is test-compressed to decide whether deflating it is worth it.
const SAMPLE_BYTES: usize = 128 * 1024;

struct Compressed {
    crc: u32,
    method: u16,
    size: u64,
    data: Vec<u8>,
}

fn compress(entry: &FileEntry) -> Result<Compressed, PackageError> {
    let io_error = |source| PackageError::Io {
        path: entry.source.clone(),
        source,
    };
    let mut raw = Vec::with_capacity(entry.size as usize);
    std::fs::File::open(&entry.source)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(io_error)?;
    let crc = crc32fast::hash(&raw);
    let size = raw.len() as u64;
    // Already-compressed content (images, archives, wheels) does not shrink: when a sample
    // of its start does not, store the file instead of deflating all of it for nothing.
    if raw.len() > 2 * SAMPLE_BYTES {
        let mut sample = DeflateEncoder::new(Vec::with_capacity(SAMPLE_BYTES + 64), Compression::new(6));
        sample.write_all(&raw[..SAMPLE_BYTES]).map_err(io_error)?;
        if sample.finish().map_err(io_error)?.len() as u64 * 100 > SAMPLE_BYTES as u64 * 97 {
            return Ok(Compressed {
                crc,
                method: 0,
                size,
                data: raw,
            });
        }
    }
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(raw.len() / 2 + 64), Compression::new(6));
    encoder.write_all(&raw).map_err(io_error)?;
    let deflated = encoder.finish().map_err(io_error)?;
    Ok(if deflated.len() < raw.len() {
        Compressed {
            crc,
            method: 8,
            size,
            data: deflated,
        }
    } else {
        Compressed {
            crc,
            method: 0,
            size,
            data: raw,
        }
    })
}

/// Raw bytes that may be read and compressed ahead of the writer: bounds memory while
/// keeping every core busy.
const WINDOW_BYTES: u64 = 64 * 1024 * 1024;

/// Work shared by the compressing threads and the writer.
struct Pipeline {
    /// Next file index a worker may claim.
    next_claim: usize,
    /// Next file index the writer needs.
    next_write: usize,
    /// Raw bytes claimed but not yet written.
    in_flight: u64,
    slots: Vec<Option<Result<Compressed, PackageError>>>,
    abort: bool,
}

/// Writes `files` (already sorted) as a deterministic zip into `out`.
///
/// Worker threads compress files in order, up to `WINDOW_BYTES` (64 MiB of input) ahead; the
/// calling thread writes each entry (and hashes it) as soon as it and all before it are ready.
pub fn write_zip<W: Write>(files: &[FileEntry], out: W) -> Result<Artifact, PackageError> {
    use std::sync::{Condvar, Mutex};

    if files.len() > 0xFFFF {
        return Err(PackageError::TooLarge);
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let mut writer = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, out));
    let mut central = Vec::new();
    let pipeline = Mutex::new(Pipeline {
        next_claim: 0,
        next_write: 0,
        in_flight: 0,
        slots: (0..files.len()).map(|_| None).collect(),
        abort: false,
    });
    let (ready, room) = (Condvar::new(), Condvar::new());
    let lock = || pipeline.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    let written: Result<(), PackageError> = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = {
                    let mut state = lock();
                    loop {
                        if state.abort || state.next_claim >= files.len() {
                            return;
                        }
                        let i = state.next_claim;
                        // The file the writer waits for may always start, however large.
                        if i == state.next_write || state.in_flight + files[i].size <= WINDOW_BYTES {
                            state.next_claim += 1;
                            state.in_flight += files[i].size;
                            break i;
                        }
                        state = room.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                };
                let result = compress(&files[index]);
                lock().slots[index] = Some(result);
                ready.notify_all();
            });
        }
        let result = (|| {
            for (i, entry) in files.iter().enumerate() {
                let compressed = {
                    let mut state = lock();
                    loop {
                        if let Some(result) = state.slots[i].take() {
                            break result;
                        }
                        state = ready.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                }?;
                write_entry(&mut writer, &mut central, entry, &compressed)?;
                drop(compressed);
                let mut state = lock();
                state.next_write = i + 1;
                state.in_flight -= entry.size;
                drop(state);
                room.notify_all();
            }
            Ok(())
        })();
        if result.is_err() {
            lock().abort = true;
            room.notify_all();
        }
        result
    });
    written?;
    let central_offset = writer.written;
    writer.write_all(&central).map_err(PackageError::Write)?;
    let central_size = writer.written - central_offset;
    let offset = u32::try_from(central_offset).map_err(|_| PackageError::TooLarge)?;
    let size = u32::try_from(central_size).map_err(|_| PackageError::TooLarge)?;
    let count = files.len() as u16;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0]);
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&size.to_le_bytes());
    end.extend_from_slice(&offset.to_le_bytes());
    end.extend_from_slice(&[0, 0]);
    writer.write_all(&end).map_err(PackageError::Write)?;
    let (size, digest, _) = writer.finish().map_err(PackageError::Write)?;
    Ok(Artifact {
        files: files.len(),
        size,
        digest,
    })
}

/// DOS date of 1980-01-01 (day 1, month 1, year 0); DOS time 00:00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

fn write_entry<W: Write>(
    writer: &mut HashingWriter<W>,
    central: &mut Vec<u8>,
    entry: &FileEntry,
    compressed: &Compressed,
) -> Result<(), PackageError> {
    let offset = u32::try_from(writer.written).map_err(|_| PackageError::TooLarge)?;
    let csize = u32::try_from(compressed.data.len()).map_err(|_| PackageError::TooLarge)?;
    let usize_ = u32::try_from(compressed.size).map_err(|_| PackageError::TooLarge)?;
    let name = entry.name.as_bytes();
    let flags: u16 = if entry.name.is_ascii() { 0 } else { 1 << 11 };
    let version_needed: u16 = if compressed.method == 8 { 20 } else { 10 };
    let mode: u32 = if entry.executable { 0o100755 } else { 0o100644 };

    let mut local = Vec::with_capacity(30 + name.len());
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&version_needed.to_le_bytes());
    local.extend_from_slice(&flags.to_le_bytes());
    local.extend_from_slice(&compressed.method.to_le_bytes());
    local.extend_from_slice(&DOS_TIME.to_le_bytes());
    local.extend_from_slice(&DOS_DATE.to_le_bytes());
    local.extend_from_slice(&compressed.crc.to_le_bytes());
    local.extend_from_slice(&csize.to_le_bytes());
    local.extend_from_slice(&usize_.to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    writer.write_all(&local).map_err(PackageError::Write)?;
    writer.write_all(&compressed.data).map_err(PackageError::Write)?;

    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
    central.extend_from_slice(&version_needed.to_le_bytes());
    central.extend_from_slice(&flags.to_le_bytes());
    central.extend_from_slice(&compressed.method.to_le_bytes());
    central.extend_from_slice(&DOS_TIME.to_le_bytes());
    central.extend_from_slice(&DOS_DATE.to_le_bytes());
    central.extend_from_slice(&compressed.crc.to_le_bytes());
    central.extend_from_slice(&csize.to_le_bytes());
    central.extend_from_slice(&usize_.to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&(mode << 16).to_le_bytes());
    central.extend_from_slice(&offset.to_le_bytes());
    central.extend_from_slice(name);
    Ok(())
}

#[cfg(test)]
mod tests;
