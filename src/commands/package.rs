//! `fgform package [DIR] [--list]`: build every artifact of a stack and report file count,
//! size and SHA-512. Size limits are checked here too (`package::check_upload`, the check
//! `validate` and `plan` make), before anything could be uploaded.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::PackageArgs;
use crate::error::ExitStatus;
use crate::model::{Address, CodeSource};
use crate::package::{self, Built};

/// Human-readable byte counts (KiB, MiB).
pub fn human(bytes: u64) -> String {
    crate::model::limits::human_bytes(bytes)
}

/// [`package::build`], its error with the way out as a hint.
pub fn build(address: &Address, source: &CodeSource, out_dir: &Path) -> anyhow::Result<Option<Built>> {
    package::build(address, source, out_dir).map_err(crate::ops::build_error)
}

/// `fgform package`.
pub fn run(args: PackageArgs) -> anyhow::Result<ExitStatus> {
    let desired = match crate::session::load_stack(&args.stack, false)? {
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
    crate::out!("{out}");
    if failures.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        for failure in &failures {
            eprint!("{}", crate::error::render(failure));
        }
        Ok(ExitStatus::Error)
    }
}
