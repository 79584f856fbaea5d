//! `fgform force-unlock LOCK_ID [DIR]`: removes a state lock its holder can no longer
//! release (a CI job killed on another machine), on every backend. Asks for `yes` on a
//! terminal; never prompts without one, where it needs `--force`. (The "locked" error of
//! every locking command, which prints the `force-unlock` command to run, is
//! `session::lock`.)

use std::io::{IsTerminal as _, Write as _};

use anyhow::{anyhow, Context as _};

use crate::cli::{ForceUnlockArgs, TargetArgs};
use crate::error::{ExitStatus, Hint};
use crate::state::{self, backend::BackendError};

/// `fgform force-unlock`.
pub fn run(args: ForceUnlockArgs) -> anyhow::Result<ExitStatus> {
    let target = TargetArgs {
        stack: args.stack.clone(),
        endpoint: None,
        state: args.state.clone(),
        lock: true,
        parallelism: 1,
        rate_limit: None,
        lock_timeout: 0,
    };
    let Some(named) = super::state::open(&target)? else {
        return Ok(ExitStatus::Error);
    };
    let (backend, shown) = (named.store.backend(), &named.shown);
    let id = args.lock_id.as_str();
    let holder = match backend.holder()? {
        Some(h) if h.id == id => h,
        Some(h) => {
            return Err(anyhow!("the state is locked by {h}")
                .context(format!("lock id `{id}` is not the lock on `{shown}`"))
                .context(Hint(format!(
                    "make sure that process is gone before you remove its lock: `fgform force-unlock {}`",
                    h.id
                ))))
        }
        None => {
            let hint = match named.store.location_path().map(state::lock_path) {
                Some(file) if file.exists() => format!(
                    "`{}` exists but cannot be read: delete it by hand once no fgform uses this state",
                    file.display()
                ),
                _ => "the state is not locked: there is nothing to unlock".into(),
            };
            return Err(anyhow!("no lock with id `{id}` is held on `{shown}`").context(Hint(hint)));
        }
    };
    if !args.force && !confirm(&holder)? {
        eprintln!("force-unlock cancelled: the lock stays.");
        return Ok(ExitStatus::Error);
    }
    let removed = backend.force_unlock(id).map_err(|e| match e {
        BackendError::NoSuchLock { .. } => anyhow!(e).context(Hint("the lock was released meanwhile".into())),
        other => anyhow!(other),
    });
    let removed = removed.with_context(|| format!("cannot remove the lock on `{shown}`"))?;
    crate::outln!("The state `{shown}` has been unlocked.");
    crate::outln!("Removed lock {id}, held by {removed}.");
    Ok(ExitStatus::Success)
}

/// Asks for `yes` on a terminal; without one it refuses, pointing at `--force`.
fn confirm(holder: &state::LockInfo) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(
            anyhow!("refusing to force-unlock without confirmation: stdin is not a terminal")
                .context(Hint("pass --force once you are sure the holder is gone".into())),
        );
    }
    crate::out!(
        "The state is locked by {holder}.\nRemoving the lock while that process still runs can corrupt the state.\n\n\
         Do you really want to force-unlock? Only 'yes' will be accepted.\n  Enter a value: "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
