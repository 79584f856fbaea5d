//! The commands a message suggests, built to run as printed from where the user stands:
//! shell-quoted words, paths as typed, and the arguments that reach the same stack, stage,
//! state and target.

use std::path::Path;

use crate::cli::TargetArgs;
use crate::model::Desired;
use crate::plan::Plan;

/// `word` as a POSIX shell reads it back: as it is when it is plain, else single-quoted
/// (every command a message suggests is built from these, so it runs as printed).
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A path as the user would type it (without `.` components, see `manifest::tidy_path`).
pub fn display_path(path: &Path) -> String {
    crate::manifest::tidy_path(path).display().to_string()
}

/// A `--state` location as the user would type it again: a tidy path, or a URL without its
/// password.
pub fn shown_location(text: &str) -> String {
    if crate::state::location::is_remote(text) {
        crate::state::location::redact(text)
    } else {
        display_path(Path::new(text))
    }
}

/// The arguments that make a suggested command work on the same stack, stage, state and
/// target from where the user stands: ` DIR --stage S --var-file F --var K=V --state P
/// --endpoint U`, each only when given (the directory only when it is not `.`). A variable
/// whose value feeds a secret is never repeated: it shows as `--var NAME=…` to fill in.
pub fn rerun_args(target: &TargetArgs, desired: Option<&Desired>) -> String {
    rerun_parts(
        &display_path(&target.stack.dir),
        target.stack.stage.as_deref(),
        &target
            .stack
            .var_files
            .iter()
            .map(|p| display_path(p))
            .collect::<Vec<_>>(),
        &target.stack.vars,
        desired,
        target.state.as_deref().map(shown_location).as_deref(),
        target.endpoint.as_deref(),
    )
}

/// The arguments that make a suggested command that only touches the state (`state rm`,
/// `state mv`, `force-unlock`) reach the state `path` of `target` from where the user stands:
/// DIR (always), `--stage`, `--var-file`, and `--state PATH` when `--state` or any `--var` was given.
/// `--var` values are never repeated (they may feed secrets); naming the state they led to
/// does the same job. No `--endpoint`: these commands call no API.
pub fn state_rerun_args(target: &TargetArgs, shown: &str) -> String {
    let named = target.state.is_some() || !target.stack.vars.is_empty();
    // The directory is named even when it is `.`, so the command reads complete.
    let dir = format!(" {}", shell_word(&display_path(&target.stack.dir)));
    dir + &rerun_parts(
        "",
        target.stack.stage.as_deref(),
        &target
            .stack
            .var_files
            .iter()
            .map(|p| display_path(p))
            .collect::<Vec<_>>(),
        &[],
        None,
        named.then_some(shown),
        None,
    )
}

pub fn rerun_parts(
    dir: &str,
    stage: Option<&str>,
    var_files: &[String],
    vars: &[(String, String)],
    desired: Option<&Desired>,
    state: Option<&str>,
    endpoint: Option<&str>,
) -> String {
    let mut out = String::new();
    if !dir.is_empty() && dir != "." {
        out.push_str(&format!(" {}", shell_word(dir)));
    }
    if let Some(stage) = stage {
        out.push_str(&format!(" --stage {}", shell_word(stage)));
    }
    for file in var_files {
        out.push_str(&format!(" --var-file {}", shell_word(file)));
    }
    let withheld = desired
        .map(|d| crate::plan::saved::split_vars(d, vars).1)
        .unwrap_or_default();
    for (name, value) in vars {
        if withheld.contains(name) || desired.is_none() {
            out.push_str(&format!(" --var {name}=…"));
        } else {
            out.push_str(&format!(" --var {}", shell_word(&format!("{name}={value}"))));
        }
    }
    if let Some(state) = state {
        out.push_str(&format!(" --state {}", shell_word(state)));
    }
    if let Some(endpoint) = endpoint {
        out.push_str(&format!(" --endpoint {}", shell_word(endpoint)));
    }
    out
}

/// The error a plan with blocked resources is (see `Plan::blocked`), with the way out for
/// each, as commands that run from where the user stands.
pub fn refuse_blocked(plan: &Plan, target: &TargetArgs, desired: &Desired, shown: &str) -> anyhow::Result<()> {
    let (rerun, state_rerun) = (rerun_args(target, Some(desired)), state_rerun_args(target, shown));
    match plan.blocked_error(&rerun, &state_rerun) {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_read_back_as_written() {
        assert_eq!(shell_word("state/shop-prod.json"), "state/shop-prod.json");
        assert_eq!(shell_word("my stack"), "'my stack'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
