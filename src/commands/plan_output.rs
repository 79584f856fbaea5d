//! How `fgform plan` prints its plan: `--format text|json|markdown` (`--json` = json).

use crate::cli::PlanFormat;
use crate::model::Desired;
use crate::plan::{render, Plan};

/// The plan as `format` renders it (text coloured when `color`).
pub fn render(plan: &Plan, desired: &Desired, format: PlanFormat, color: bool) -> anyhow::Result<String> {
    Ok(match format {
        PlanFormat::Text => crate::printer::plan(&render::text(plan), color),
        PlanFormat::Json => {
            let mut json = serde_json::to_string_pretty(&render::json(plan, &desired.stack))?;
            json.push('\n');
            json
        }
        PlanFormat::Markdown => render::markdown(plan, &desired.stack, desired.stage.as_deref()),
    })
}

/// Prints the plan to stdout.
pub fn print(plan: &Plan, desired: &Desired, format: PlanFormat) -> anyhow::Result<()> {
    crate::out!("{}", render(plan, desired, format, crate::printer::stdout_color())?);
    Ok(())
}
