//! `fgform force-unlock LOCK_ID [DIR]`: removes a state lock its holder can no longer
//! release (a CI job killed on another machine). Asks for `yes` on a terminal; never
//! prompts without one, where it needs `--force`. (The "locked" error of every locking
//! command, which prints the `force-unlock` command to run, is `session::lock`.)

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};

use crate::cli::ForceUnlockArgs;
use crate::error::{ExitStatus, Hint};
use crate::state::{self, Lock};

fn state_path(args: &ForceUnlockArgs) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = &args.state {
        return Ok(Some(path.clone()));
    }
    match crate::session::load_stack(&args.stack, false)? {
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
