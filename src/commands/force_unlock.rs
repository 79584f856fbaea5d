//! `fgform force-unlock LOCK_ID [DIR]`: removes a state lock its holder can no longer
//! release (a CI job killed on another machine). Asks for `yes` on a terminal; never
//! prompts without one, where it needs `--force`. Also the lock acquisition every locking
//! command shares, whose "locked" error prints the `force-unlock` command to run.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};

use crate::cli::{ForceUnlockArgs, TargetArgs};
use crate::error::{ExitStatus, Hint};
use crate::state::{self, Lock, StateError};

/// Takes the state lock of `path` for `operation`, waiting up to `--lock-timeout`; a held
/// lock is an error naming its holder, with the way out as a hint: the `force-unlock`
/// command for this stack and state, ready to run from the same directory.
pub fn acquire(target: &TargetArgs, path: &Path, operation: &str) -> anyhow::Result<Lock> {
    match Lock::acquire(path, operation, Duration::from_secs(target.lock_timeout)) {
        Ok(lock) => Ok(lock),
        Err(StateError::Locked { path: state, holder }) => {
            let hint = if holder.id == "?" {
                "wait for it (--lock-timeout SECONDS): its holder is still writing the lock file".to_string()
            } else {
                format!(
                    "wait for it (--lock-timeout SECONDS), or if that process is gone for good: `{}`",
                    unlock_command(&holder.id, target, path)
                )
            };
            Err(anyhow::Error::from(StateError::Locked { path: state, holder }).context(Hint(hint)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `fgform force-unlock ID DIR …` for the state `path` of `target` (see
/// `reconcile::state_rerun_args`).
fn unlock_command(id: &str, target: &TargetArgs, path: &Path) -> String {
    format!(
        "fgform force-unlock {}{}",
        super::shell_word(id),
        super::reconcile::state_rerun_args(target, path)
    )
}

fn state_path(args: &ForceUnlockArgs) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = &args.state {
        return Ok(Some(path.clone()));
    }
    match super::validate::load(&args.stack)? {
        Ok(desired) => Ok(Some(state::default_path(
            Path::new(""),
            &desired.stack,
            desired.stage.as_deref(),
        ))),
        Err(rendered) => {
            eprint!("{rendered}");
            Ok(None)
        }
    }
}

/// `fgform force-unlock`.
pub fn run(args: ForceUnlockArgs) -> anyhow::Result<ExitStatus> {
    let Some(path) = state_path(&args)? else {
        return Ok(ExitStatus::Error);
    };
    let id = args.lock_id.as_str();
    let holder = match state::holder(&path) {
        Some(h) if h.id == id => h,
        Some(h) => {
            return Err(anyhow!("the state is locked by {h}")
                .context(format!("lock id `{id}` is not the lock on `{}`", path.display()))
                .context(Hint(format!(
                    "make sure that process is gone before you remove its lock: `fgform force-unlock {}`",
                    h.id
                ))))
        }
        None => {
            let file = state::lock_path(&path);
            let hint = if file.exists() {
                format!(
                    "`{}` exists but cannot be read: delete it by hand once no fgform uses this state",
                    file.display()
                )
            } else {
                "the state is not locked: there is nothing to unlock".into()
            };
            return Err(anyhow!("no lock with id `{id}` is held on `{}`", path.display()).context(Hint(hint)));
        }
    };
    if !args.force && !confirm(&holder)? {
        eprintln!("force-unlock cancelled: the lock stays.");
        return Ok(ExitStatus::Error);
    }
    let removed =
        Lock::force_unlock(&path, id).with_context(|| format!("cannot remove the lock on `{}`", path.display()))?;
    println!("The state `{}` has been unlocked.", path.display());
    println!("Removed lock {id}, held by {removed}.");
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
    print!(
        "The state is locked by {holder}.\nRemoving the lock while that process still runs can corrupt the state.\n\n\
         Do you really want to force-unlock? Only 'yes' will be accepted.\n  Enter a value: "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
