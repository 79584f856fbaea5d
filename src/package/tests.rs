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
