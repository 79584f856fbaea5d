//! The zip writer: entries deflated on every core, written (and hashed) in path order.
//!
//! Each entry is deflated whole and alone, by an encoder in its initial state, and whether it
//! is stored depends only on its bytes, so an entry's bytes do not depend on which thread
//! compressed it or when; the writer puts them in the order of `files`. The zip is therefore
//! the same bytes for any number of workers (tested against the one-worker path, which
//! compresses and writes on the calling thread alone).

use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, MutexGuard};

use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::{Artifact, FileEntry, HashingWriter, PackageError};

/// Deflate level of every entry.
const LEVEL: u32 = 6;

/// How much of a large file is test-compressed to decide whether deflating it is worth it.
const SAMPLE_BYTES: usize = 128 * 1024;

/// Bytes that entries after the one the writer needs next may hold (raw while they are
/// compressed, then compressed): bounds memory while keeping every core busy. The entry the
/// writer needs next is not counted, so one file larger than this still compresses while the
/// other cores work on the files after it.
pub(super) const WINDOW_BYTES: u64 = 64 * 1024 * 1024;

/// One worker per available core (1 when that cannot be told).
pub fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

struct Compressed {
    crc: u32,
    method: u16,
    size: u64,
    data: Vec<u8>,
}

/// A deflate encoder reused from one entry to the next: reset between entries, so each entry
/// is deflated exactly as a fresh encoder would, without allocating one per file.
struct Deflater {
    encoder: DeflateEncoder<Vec<u8>>,
}

impl Deflater {
    fn new() -> Self {
        Deflater {
            encoder: DeflateEncoder::new(Vec::new(), Compression::new(LEVEL)),
        }
    }

    /// `data` as one complete raw deflate stream.
    fn deflate(&mut self, data: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
        self.encoder.get_mut().reserve(capacity);
        let deflated = self
            .encoder
            .write_all(data)
            .and_then(|()| self.encoder.reset(Vec::new()));
        if deflated.is_err() {
            // Never leave a half-written stream for the next entry.
            *self = Deflater::new();
        }
        deflated
    }

    fn compress(&mut self, entry: &FileEntry) -> Result<Compressed, PackageError> {
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
        let stored = |raw| Compressed {
            crc,
            method: 0,
            size,
            data: raw,
        };
        // Already-compressed content (images, archives, wheels) does not shrink: when a sample
        // of its start does not, store the file instead of deflating all of it for nothing.
        if raw.len() > 2 * SAMPLE_BYTES {
            let sample = self
                .deflate(&raw[..SAMPLE_BYTES], SAMPLE_BYTES + 64)
                .map_err(io_error)?;
            if sample.len() as u64 * 100 > SAMPLE_BYTES as u64 * 97 {
                return Ok(stored(raw));
            }
        }
        let deflated = self.deflate(&raw, raw.len() / 2 + 64).map_err(io_error)?;
        Ok(if deflated.len() < raw.len() {
            Compressed {
                crc,
                method: 8,
                size,
                data: deflated,
            }
        } else {
            stored(raw)
        })
    }
}

/// Writes `files` (already sorted) as a deterministic zip into `out`, deflating on
/// [`default_workers`] threads.
pub fn write_zip<W: Write>(files: &[FileEntry], out: W) -> Result<Artifact, PackageError> {
    write_zip_with(files, out, default_workers())
}

/// [`write_zip`] with `workers` threads deflating entries; with 1 the calling thread
/// compresses and writes each entry in turn. The bytes are the same for any count.
pub fn write_zip_with<W: Write>(files: &[FileEntry], out: W, workers: NonZeroUsize) -> Result<Artifact, PackageError> {
    write_zip_windowed(files, out, workers, WINDOW_BYTES)
}

/// [`write_zip_with`] with the window of [`WINDOW_BYTES`] as a parameter (tests shrink it).
pub(super) fn write_zip_windowed<W: Write>(
    files: &[FileEntry],
    out: W,
    workers: NonZeroUsize,
    window: u64,
) -> Result<Artifact, PackageError> {
    if files.len() > 0xFFFF {
        return Err(PackageError::TooLarge);
    }
    let mut zip = ZipWriter {
        writer: HashingWriter::new(io::BufWriter::with_capacity(1 << 20, out)),
        central: Vec::new(),
    };
    let workers = workers.get().min(files.len());
    if workers <= 1 {
        let mut deflater = Deflater::new();
        for entry in files {
            zip.entry(entry, &deflater.compress(entry)?)?;
        }
    } else {
        compress_in_parallel(files, workers, window, |entry, compressed| zip.entry(entry, compressed))?;
    }
    zip.finish(files.len())
}

/// State shared by the compressing threads and the writer.
struct Pipeline {
    /// Next file index a worker may claim.
    next_claim: usize,
    /// Next file index the writer needs.
    next_write: usize,
    /// Bytes held for entries after `next_write`, at most the window (see [`WINDOW_BYTES`]).
    held: u64,
    /// What each entry counts in `held`: its raw size while compressed, then its compressed
    /// size; 0 once it is the entry the writer needs next.
    charged: Vec<u64>,
    slots: Vec<Option<Result<Compressed, PackageError>>>,
    abort: bool,
}

struct Shared {
    state: Mutex<Pipeline>,
    /// An entry was compressed.
    ready: Condvar,
    /// The window has room again, or the writer moved on (or gave up).
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, condvar: &Condvar, guard: MutexGuard<'a, Pipeline>) -> MutexGuard<'a, Pipeline> {
        condvar.wait(guard).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next entry to compress, in order, once the window has room for it; `None` when
    /// there is none left or the writer gave up.
    fn claim(&self, files: &[FileEntry], window: u64) -> Option<usize> {
        let mut state = self.lock();
        loop {
            if state.abort || state.next_claim >= files.len() {
                return None;
            }
            let i = state.next_claim;
            // The entry the writer needs next may always start, however large.
            let size = files[i].size;
            if i == state.next_write || state.held + size <= window {
                state.next_claim += 1;
                if i != state.next_write {
                    state.held += size;
                    state.charged[i] = size;
                }
                return Some(i);
            }
            state = self.wait(&self.room, state);
        }
    }

    /// Hands entry `i` to the writer; what it holds now counts instead of its raw size.
    fn done(&self, i: usize, result: Result<Compressed, PackageError>) {
        let mut state = self.lock();
        let shrunk = state.charged[i] > 0;
        if shrunk {
            let now = result.as_ref().map_or(0, |c| c.data.len() as u64);
            state.held = state.held - state.charged[i] + now;
            state.charged[i] = now;
        }
        state.slots[i] = Some(result);
        drop(state);
        self.ready.notify_all();
        if shrunk {
            self.room.notify_all();
        }
    }

    /// Waits for entry `i` (the next to write) to be compressed.
    fn take(&self, i: usize) -> Result<Compressed, PackageError> {
        let mut state = self.lock();
        loop {
            if let Some(result) = state.slots[i].take() {
                return result;
            }
            state = self.wait(&self.ready, state);
        }
    }

    /// Entry `i` is written: the one after it is the one the writer needs next.
    fn written(&self, i: usize) {
        let mut state = self.lock();
        state.next_write = i + 1;
        if let Some(charged) = state.charged.get_mut(i + 1) {
            let freed = std::mem::take(charged);
            state.held -= freed;
        }
        drop(state);
        self.room.notify_all();
    }

    fn give_up(&self) {
        self.lock().abort = true;
        self.room.notify_all();
    }
}

/// Compresses `files` on `workers` threads, in order and within `window`, while the calling
/// thread hands each to `write` in order as soon as it and all before it are ready. The first
/// error in file order is returned (a read error) or the writer's own.
fn compress_in_parallel(
    files: &[FileEntry],
    workers: usize,
    window: u64,
    mut write: impl FnMut(&FileEntry, &Compressed) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let shared = Shared {
        state: Mutex::new(Pipeline {
            next_claim: 0,
            next_write: 0,
            held: 0,
            charged: vec![0; files.len()],
            slots: (0..files.len()).map(|_| None).collect(),
            abort: false,
        }),
        ready: Condvar::new(),
        room: Condvar::new(),
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut deflater = Deflater::new();
                while let Some(i) = shared.claim(files, window) {
                    shared.done(i, deflater.compress(&files[i]));
                }
            });
        }
        let result = files.iter().enumerate().try_for_each(|(i, entry)| {
            let compressed = shared.take(i)?;
            write(entry, &compressed)?;
            drop(compressed);
            shared.written(i);
            Ok(())
        });
        if result.is_err() {
            shared.give_up();
        }
        result
    })
}

/// DOS date of 1980-01-01 (day 1, month 1, year 0); DOS time 00:00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

struct ZipWriter<W: Write> {
    writer: HashingWriter<W>,
    /// The central directory, written after the last entry.
    central: Vec<u8>,
}

impl<W: Write> ZipWriter<W> {
    fn entry(&mut self, entry: &FileEntry, compressed: &Compressed) -> Result<(), PackageError> {
        let offset = u32::try_from(self.writer.written).map_err(|_| PackageError::TooLarge)?;
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
        self.writer.write_all(&local).map_err(PackageError::Write)?;
        self.writer.write_all(&compressed.data).map_err(PackageError::Write)?;

        let central = &mut self.central;
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

    /// Writes the central directory and its end record; the artifact of `files` entries.
    fn finish(mut self, files: usize) -> Result<Artifact, PackageError> {
        let central_offset = self.writer.written;
        self.writer.write_all(&self.central).map_err(PackageError::Write)?;
        let central_size = self.writer.written - central_offset;
        let offset = u32::try_from(central_offset).map_err(|_| PackageError::TooLarge)?;
        let size = u32::try_from(central_size).map_err(|_| PackageError::TooLarge)?;
        let count = files as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0, 0, 0, 0]);
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&offset.to_le_bytes());
        end.extend_from_slice(&[0, 0]);
        self.writer.write_all(&end).map_err(PackageError::Write)?;
        let (size, digest, _) = self.writer.finish().map_err(PackageError::Write)?;
        Ok(Artifact { files, size, digest })
    }
}
