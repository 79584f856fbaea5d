use std::io::Read as _;
use std::num::NonZeroUsize;

use super::*;

#[test]
fn zips_read_back_with_the_zip_crate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lib/ü")).unwrap();
    std::fs::write(
        dir.path().join("index.py"),
        "def handler(e, c):\n    return e\n".repeat(50),
    )
    .unwrap();
    std::fs::write(dir.path().join("lib/ü/data.bin"), [7u8; 3]).unwrap();
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    let mut bytes = Vec::new();
    let (files, artifact) = package_dir(dir.path(), &[], &mut bytes).unwrap();
    assert_eq!(
        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["empty", "index.py", "lib/ü/data.bin"]
    );
    assert_eq!(artifact.size, bytes.len() as u64);
    assert_eq!(artifact.digest, hex::encode(Sha512::digest(&bytes)));
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), 3);
    let mut text = String::new();
    archive.by_name("index.py").unwrap().read_to_string(&mut text).unwrap();
    assert!(text.starts_with("def handler"));
    let mut data = Vec::new();
    archive
        .by_name("lib/ü/data.bin")
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    assert_eq!(data, [7, 7, 7]);
    assert_eq!(archive.by_name("index.py").unwrap().unix_mode(), Some(0o100644));
}

#[test]
fn incompressible_files_are_stored_and_text_is_deflated() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..600_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.path().join("noise.bin"), &noise).unwrap();
    std::fs::write(dir.path().join("text.txt"), "hello world\n".repeat(50_000)).unwrap();
    let mut bytes = Vec::new();
    package_dir(dir.path(), &[], &mut bytes).unwrap();
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    assert_eq!(
        archive.by_name("noise.bin").unwrap().compression(),
        zip::CompressionMethod::Stored
    );
    assert_eq!(
        archive.by_name("text.txt").unwrap().compression(),
        zip::CompressionMethod::Deflated
    );
    let mut back = Vec::new();
    archive.by_name("noise.bin").unwrap().read_to_end(&mut back).unwrap();
    assert!(back == noise);
}

#[test]
fn ignore_files_and_excludes_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for path in [
        "a.py",
        "b.pyc",
        "tests/t.py",
        "keep/x.log",
        "secret.env",
        ".git/HEAD",
        "sub/.fgformignore",
        "sub/big.bin",
        "sub/ok.txt",
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    std::fs::write(root.join(".gitignore"), "*.pyc\n*.log\n!keep/x.log\n").unwrap();
    std::fs::write(root.join(".fgformignore"), "secret.env\n").unwrap();
    std::fs::write(root.join("sub/.fgformignore"), "big.bin\n").unwrap();
    let names: Vec<String> = collect(root, &["tests/**".into()])
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        [
            ".fgformignore",
            ".gitignore",
            "a.py",
            "keep/x.log",
            "sub/.fgformignore",
            "sub/ok.txt"
        ]
    );
}

/// Xorshift bytes: incompressible, and the same on every machine.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Many small files (text and noise), empty ones, a large compressible file, a large
/// incompressible one (stored by the sample) and a small incompressible one (stored after
/// deflating), some executable.
fn mixed_tree(root: &Path) -> Vec<FileEntry> {
    let write = |name: &str, data: &[u8], executable: bool| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    for i in 0..300u64 {
        let name = format!("small/{:02}/f{i:03}", i % 17);
        if i % 3 == 0 {
            write(&name, &noise(i + 1, 100 + (i as usize * 37) % 5000), i % 11 == 0);
        } else {
            write(
                &name,
                format!("line {i} of a small text file\n")
                    .repeat(1 + i as usize % 90)
                    .as_bytes(),
                false,
            );
        }
    }
    write("empty", b"", false);
    write("small/empty", b"", true);
    let text: String = (0..60_000)
        .map(|i| format!("def handler{i}(event):\n    return {}\n", i * 7 % 13))
        .collect();
    write("large/text.py", text.as_bytes(), false);
    write("large/noise.bin", &noise(42, 900_000), false);
    write("large/noise-small.bin", &noise(7, 200_000), false);
    collect(root, &[]).unwrap()
}

/// The zip of [`mixed_tree`] as the writer made it before the worker count and the reused
/// encoders (commit 8fb9b90): the bytes must not change with the number of cores, the machine
/// or a release.
const MIXED_TREE_SIZE: u64 = 1_608_856;
const MIXED_TREE_SHA512: &str = "1d53268d2b8d61b241705683fd28d63f78a1c36e72f2a326ba140425befd62fb\
                                 b6f479cb8e9a1a12234e19228f5b3ab302a3cd68758a439538db33f8feaeea87";

#[test]
fn mixed_tree_zips_to_pinned_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let files = mixed_tree(dir.path());
    let mut bytes = Vec::new();
    let artifact = write_zip(&files, &mut bytes).unwrap();
    assert_eq!(
        (artifact.files, artifact.size, artifact.digest.as_str()),
        (305, MIXED_TREE_SIZE, MIXED_TREE_SHA512)
    );
}

fn zip_with(files: &[FileEntry], workers: usize, window: u64) -> (Vec<u8>, Artifact) {
    let mut bytes = Vec::new();
    let workers = NonZeroUsize::new(workers).unwrap();
    let artifact = writer::write_zip_windowed(files, &mut bytes, workers, window).unwrap();
    (bytes, artifact)
}

#[test]
fn any_number_of_workers_writes_the_single_threaded_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let files = mixed_tree(dir.path());
    let (single, single_artifact) = zip_with(&files, 1, writer::WINDOW_BYTES);
    assert_eq!(single_artifact.digest, hex::encode(Sha512::digest(&single)));
    // A window smaller than most files makes workers wait for room and the large files
    // start only as the entry the writer needs next; 0 allows nothing else in flight.
    for (workers, window) in [
        (2, writer::WINDOW_BYTES),
        (3, writer::WINDOW_BYTES),
        (8, 20_000),
        (4, 0),
    ] {
        let (bytes, artifact) = zip_with(&files, workers, window);
        assert!(bytes == single, "{workers} workers, window {window}: different bytes");
        assert_eq!(artifact, single_artifact);
    }
}

#[test]
fn the_first_unreadable_file_in_path_order_is_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let files = mixed_tree(dir.path());
    let gone = [&files[40], &files[200]];
    for file in gone {
        std::fs::remove_file(&file.source).unwrap();
    }
    for (workers, window) in [(1, writer::WINDOW_BYTES), (2, writer::WINDOW_BYTES), (8, 20_000)] {
        let workers = NonZeroUsize::new(workers).unwrap();
        match writer::write_zip_windowed(&files, io::sink(), workers, window) {
            Err(PackageError::Io { path, source }) => {
                assert_eq!(path, gone[0].source);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{workers} workers: {other:?}"),
        }
    }
}

/// Accepts `room` bytes, then fails.
struct FailingWriter {
    room: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_stops_the_workers_and_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let files = mixed_tree(dir.path());
    for (workers, window) in [(1, writer::WINDOW_BYTES), (3, writer::WINDOW_BYTES), (4, 20_000)] {
        let workers = NonZeroUsize::new(workers).unwrap();
        // Past the 1 MiB buffer, so the error comes while entries are still being written.
        let out = FailingWriter { room: 1 << 20 };
        match writer::write_zip_windowed(&files, out, workers, window) {
            Err(PackageError::Write(source)) => assert_eq!(source.to_string(), "disk full"),
            other => panic!("{workers} workers: {other:?}"),
        }
    }
}
