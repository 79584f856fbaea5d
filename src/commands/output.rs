//! `fgform output [NAME] [DIR] [--json] [--raw]`: the stack's `outputs:` resolved from the
//! manifests and the state, like `terraform output`. No API call, no lock.

use std::path::Path;

use crate::cli::OutputArgs;
use crate::error::{ExitStatus, Hint};
use crate::manifest::diagnostic::did_you_mean;
use crate::ops::outputs::{self, Unresolved};
use crate::session::{no_state, Session};

/// `fgform output`.
pub fn run(mut args: OutputArgs) -> anyhow::Result<ExitStatus> {
    // `fgform output DIR`: the one positional is the stack's directory.
    if let Some(name) = &args.name {
        if args.target.stack.dir == Path::new(".") && Path::new(name).is_dir() {
            args.target.stack.dir = name.into();
            args.name = None;
        }
    }
    if args.raw && args.name.is_none() {
        return Err(
            anyhow::anyhow!("`--raw` prints one output's value, and no output is named")
                .context(Hint("name it: `fgform output NAME --raw`".into())),
        );
    }
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let desired = &session.desired;
    let apply = || Hint(format!("run `fgform apply{}` first", session.rerun_args()));
    if let Some(name) = &args.name {
        if !desired.outputs.contains_key(name) {
            let hint = match did_you_mean(name, desired.outputs.keys().map(String::as_str)) {
                Some(close) => format!("did you mean `{close}`?"),
                None if desired.outputs.is_empty() => "the stack declares no outputs".to_string(),
                None => format!(
                    "the stack's outputs: {}",
                    desired
                        .outputs
                        .keys()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(anyhow::anyhow!("the stack declares no output `{name}`").context(Hint(hint)));
        }
    } else if desired.outputs.is_empty() {
        if args.json {
            crate::outln!("{{}}");
        } else {
            eprintln!("No outputs: the stack declares none (`outputs:` in its manifests).");
        }
        return Ok(ExitStatus::Success);
    }
    let Some(state) = session.load_checked()? else {
        return Err(anyhow::anyhow!(
            "{} `{}`: the stack's outputs are known once it is applied",
            no_state(&session.location),
            session.state_shown
        )
        .context(apply()));
    };
    let unresolved = |e: Unresolved| {
        let message = match &e {
            Unresolved::NotInState { .. } => format!("{e} at `{}`", session.state_shown),
            Unresolved::NoAttribute { .. } => e.to_string(),
        };
        anyhow::anyhow!(message).context(apply())
    };
    match &args.name {
        Some(name) => {
            let value = outputs::value(name, &desired.outputs[name], &state).map_err(unresolved)?;
            if args.raw {
                // As `terraform output -raw`: the bytes alone, for `$(…)` and redirection.
                crate::out!("{value}");
            } else {
                crate::outln!("{}", outputs::quoted(&value));
            }
        }
        None => {
            let resolved = outputs::resolve_all(desired, &state).map_err(unresolved)?;
            if args.json {
                crate::outln!("{}", serde_json::to_string_pretty(&outputs::json(&resolved))?);
            } else {
                for output in &resolved {
                    crate::outln!("{}", outputs::line(output.name, output.spec, &output.value));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
