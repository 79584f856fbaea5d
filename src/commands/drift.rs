//! `fgform drift`: read-only drift detection, e.g. from cron. Loads the stack and the state
//! (no lock, nothing written), refreshes with GETs only, takes stock of the project,
//! compares (`crate::drift`), applies the ignore file and prints the report. Exit 0 in
//! sync, 2 drift or pending changes, 1 error.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};

use crate::apply::inventory;
use crate::cli::DriftArgs;
use crate::drift::{self, ignore, render, Inventory};
use crate::error::{ExitStatus, Hint};
use crate::ops::build_artifacts;
use crate::plan::{self, Live};
use crate::refresh;
use crate::session::{no_state, Session};

/// `fgform drift`.
pub fn run(args: DriftArgs) -> anyhow::Result<ExitStatus> {
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let desired = &session.desired;
    let Some(state) = session.load_checked()? else {
        bail!(
            anyhow!("{} `{}`", no_state(&session.location), session.state_shown).context(Hint(format!(
                "nothing has been applied yet: run `fgform apply{}` first, or name the stack's state file with --state",
                session.rerun_args()
            )))
        );
    };
    let rules = read_rules(&args)?;
    let (artifacts, _) = build_artifacts(desired)?;
    let parallelism = session.parallelism();
    let (live, inventory): (Live, Inventory) = session.block_on(async {
        let connection = session.connect().await?;
        let client = &connection.client;
        let read = async {
            let (live, listed) = refresh::refresh_listed(client, Some(desired), &state, parallelism).await?;
            let inventory = inventory::read(client, &state, &live, listed, parallelism).await?;
            anyhow::Ok((live, inventory))
        }
        .await;
        // Not shut down: a shutdown rewrites the embedded emulator's snapshot, and drift
        // writes nothing.
        connection.abandon();
        read
    })?;
    let plan = plan::plan(desired, &artifacts, &state, &live);
    let mut report = drift::detect(&state, &live, &inventory, &plan);
    if let Some(rules) = &rules {
        report.apply_ignore(rules, chrono::Utc::now().date_naive());
    }
    if args.json {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        crate::outln!("{}", serde_json::to_string_pretty(&render::json(&report, &now))?);
    } else {
        crate::out!(
            "{}",
            crate::printer::drift(&render::text(&report), crate::printer::stdout_color())
        );
    }
    Ok(if report.in_sync() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

/// The ignore rules: `--ignore-file` (which must exist), else `DIR/.fgform-drift-ignore`
/// when there is one.
fn read_rules(args: &DriftArgs) -> anyhow::Result<Option<ignore::Rules>> {
    let (path, named) = match &args.ignore_file {
        Some(path) => (path.clone(), true),
        None => (args.target.stack.dir.join(ignore::DEFAULT_FILE_NAME), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read the ignore file `{}`", path.display())),
    };
    let rules = ignore::parse(&shown(&path), &text).map_err(|e| {
        anyhow::Error::from(e).context(Hint(format!(
            "each rule is `PATTERN [until YYYY-MM-DD] # reason`, e.g. `{}`",
            ignore::EXAMPLE_RULE
        )))
    })?;
    Ok(Some(rules))
}

/// A path as the user wrote it, without a leading `./`.
fn shown(path: &Path) -> String {
    path.strip_prefix(".")
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
