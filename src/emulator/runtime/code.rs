//! Code on disk for the instances: each package (function code or dependency) unpacked
//! once per SHA-512 digest under `<root>/code/<digest>/`, shared read-only by every
//! instance that runs it.

use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Where package `digest` is (or will be) unpacked.
pub(super) fn dir(root: &Path, digest: &str) -> PathBuf {
    root.join("code").join(digest)
}

/// Unpacks the zip `bytes` of package `digest`, unless that was done before. Extracts into a
/// temporary directory and renames it into place, so an instance never sees half a package
/// and two first invocations racing both succeed.
pub(super) fn unpack(root: &Path, digest: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let target = dir(root, digest);
    if target.is_dir() {
        return Ok(target);
    }
    let parent = root.join("code");
    std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a directory under {}: {e}", parent.display()))?;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("the code package is not a zip file: {e}"))?;
    // `extract` refuses entries whose names would leave the directory.
    archive
        .extract(staging.path())
        .map_err(|e| format!("cannot unpack the code package: {e}"))?;
    match std::fs::rename(staging.path(), &target) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = staging.keep();
            Ok(target)
        }
        Err(_) if target.is_dir() => Ok(target),
        Err(e) => Err(format!("cannot move the unpacked code to {}: {e}", target.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in files {
            out.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            out.write_all(body.as_bytes()).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn a_package_is_unpacked_once_per_digest() {
        let root = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[("index.py", "x = 1\n"), ("lib/util.py", "y = 2\n")]);
        let dir = unpack(root.path(), "d1", &bytes).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("lib/util.py")).unwrap(), "y = 2\n");
        // A second unpack of the same digest leaves the first in place.
        std::fs::write(dir.join("marker"), "").unwrap();
        assert_eq!(unpack(root.path(), "d1", &zip_of(&[])).unwrap(), dir);
        assert!(dir.join("marker").exists());
        let leftovers: Vec<_> = std::fs::read_dir(root.path().join("code")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory is left behind");
    }

    #[test]
    fn a_damaged_package_is_an_error_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let err = unpack(root.path(), "d2", b"not a zip").unwrap_err();
        assert!(err.contains("not a zip"), "{err}");
        assert!(!dir(root.path(), "d2").exists());
    }
}
