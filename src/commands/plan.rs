//! `fgform plan [DIR] [-out FILE]`: refresh, plan, print (text, JSON or Markdown), and with
//! `-out` save the plan for `apply FILE`. Exit 0, 2 with `--detailed-exitcode` and changes,
//! 1 on error.

use crate::cli::{PlanArgs, PlanFormat};
use crate::error::ExitStatus;
use crate::ops::reconcile::{plan_stack, targets, Planned};
use crate::ops::rerun::{refuse_blocked, shell_word};
use crate::ops::saved;
use crate::session::Session;

/// `fgform plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitStatus> {
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let (desired, shown) = (&session.desired, &session.state_shown);
    let targets = targets(&args.targets)?;
    session.block_on(async {
        let Planned {
            mut plan,
            state,
            artifacts,
            prior,
        } = plan_stack(&session, args.destroy).await?;
        plan.retain_targets(&targets);
        let format = args.output_format();
        super::plan_output::print(&plan, desired, format)?;
        // Nothing the manifests ask for is skipped silently, and no plan file is written
        // for a plan that cannot be applied.
        refuse_blocked(&plan, &args.target, desired, shown)?;
        if let Some(out) = &args.out {
            let file = saved::saved_plan(&args, desired, &artifacts, prior, &state.lineage, shown, plan.clone());
            saved::write_plan_file(out, &file)?;
            let note = format!(
                "Saved the plan to: {}\n\nTo perform exactly these actions, run:\n    fgform apply {}",
                out.display(),
                shell_word(&out.display().to_string())
            );
            // Machine and merge-request output stays exactly the plan.
            if format == PlanFormat::Text {
                crate::outln!("\n{note}");
            } else {
                eprintln!("{note}");
            }
        }
        Ok(if args.detailed_exitcode && !plan.is_empty() {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        })
    })
}
