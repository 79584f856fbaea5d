//! `fgform package [DIR] [--list]`: build every artifact of a stack and report file count,
//! size and SHA-512. Size limits are checked here too (`package::check_upload`, the check
//! `validate` and `plan` make), before anything could be uploaded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::atomic;
use crate::cli::PackageArgs;
use crate::error::{ExitStatus, Hint};
use crate::model::{Address, CodeSource};
use crate::package::{self, Artifact, FileEntry, ZipAt};

/// One built (or hashed) artifact.
#[derive(Debug)]
pub struct Built {
    pub address: Address,
    /// The zip written (folders) or the archive used as it is.
    pub path: PathBuf,
    pub artifact: Artifact,
    pub files: Vec<FileEntry>,
}

/// Human-readable byte counts (KiB, MiB).
pub fn human(bytes: u64) -> String {
    crate::model::limits::human_bytes(bytes)
}

/// Builds the artifact of one code source; `None` for OBS objects (nothing local). A package
/// the API would refuse ([`package::check_upload`]) is an error with a hint to use OBS.
pub fn build(address: &Address, source: &CodeSource, out_dir: &Path) -> anyhow::Result<Option<Built>> {
    let too_large = |size: u64, zip: ZipAt<'_>| match package::check_upload(address, source, size, zip) {
        Ok(()) => Ok(()),
        Err(err) => Err(anyhow::anyhow!(err.to_string()).context(Hint(err.hint))),
    };
    match source {
        CodeSource::Obs { .. } => Ok(None),
        CodeSource::Archive { path, .. } => {
            let size = std::fs::metadata(path)
                .with_context(|| format!("failed to read `{}`", path.display()))?
                .len();
            too_large(size, ZipAt::Unknown)?;
            let (files, artifact) = package::inspect_archive(path)
                .with_context(|| format!("{address}: `{}` is not a readable zip archive", path.display()))?;
            Ok(Some(Built {
                address: address.clone(),
                path: path.clone(),
                artifact,
                files,
            }))
        }
        CodeSource::Directory { path, exclude } => {
            std::fs::create_dir_all(out_dir).with_context(|| format!("failed to create `{}`", out_dir.display()))?;
            let zip_path = out_dir.join(format!("{address}.zip"));
            let mut staged = atomic::Staged::new(&zip_path, atomic::Access::Default)
                .with_context(|| format!("failed to create a file beside `{}`", zip_path.display()))?;
            let (files, artifact) = package::package_dir(path, exclude, staged.file())
                .with_context(|| format!("{address}: failed to package `{}`", path.display()))?;
            // Not fsynced: a zip is rebuilt from its folder whenever it is needed.
            staged
                .commit(false)
                .with_context(|| format!("failed to write `{}`", zip_path.display()))?;
            too_large(artifact.size, ZipAt::Written(&zip_path))?;
            Ok(Some(Built {
                address: address.clone(),
                path: zip_path,
                artifact,
                files,
            }))
        }
    }
}

pub fn run(args: PackageArgs) -> anyhow::Result<ExitStatus> {
    let desired = match super::validate::load(&args.stack)? {
        Ok(desired) => desired,
        Err(rendered) => {
            eprint!("{rendered}");
            return Ok(ExitStatus::Error);
        }
    };
    let out_dir = args.out.clone().unwrap_or_else(|| args.stack.dir.join(".fgform/build"));
    let mut jobs: Vec<(Address, &CodeSource)> = Vec::new();
    for (name, dependency) in &desired.dependencies {
        jobs.push((Address::Dependency(name.clone()), &dependency.source));
    }
    for (name, function) in &desired.functions {
        jobs.push((Address::Function(name.clone()), &function.code));
    }
    let mut built = Vec::new();
    let mut failures = Vec::new();
    let mut remote = Vec::new();
    for (address, source) in jobs {
        match build(&address, source, &out_dir) {
            Ok(Some(b)) => built.push(b),
            Ok(None) => remote.push((address, source.obs_url(desired.region()).unwrap_or_default())),
            Err(err) => failures.push(err),
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<40} {:>6} {:>10}  sha512", "artifact", "files", "size");
    for b in &built {
        let files = b.artifact.files.to_string();
        let _ = writeln!(
            out,
            "{:<40} {:>6} {:>10}  {}",
            b.address.to_string(),
            files,
            human(b.artifact.size),
            b.artifact.digest
        );
        if args.list {
            for file in &b.files {
                let _ = writeln!(
                    out,
                    "    {}{:>10}  {}",
                    if file.executable { "x " } else { "  " },
                    human(file.size),
                    file.name
                );
            }
        }
    }
    for (address, url) in &remote {
        let _ = writeln!(
            out,
            "{:<40} {:>6} {:>10}  (in OBS: {url})",
            address.to_string(),
            "-",
            "-"
        );
    }
    let _ = writeln!(
        out,
        "{} artifact(s) in `{}`",
        built.len(),
        crate::manifest::tidy_path(&out_dir).display()
    );
    print!("{out}");
    if failures.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        for failure in &failures {
            eprint!("{}", crate::error::render(failure));
        }
        Ok(ExitStatus::Error)
    }
}
