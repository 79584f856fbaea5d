//! `fgform schema`: the JSON Schema of a manifest file.

use anyhow::Context as _;

use crate::cli::SchemaArgs;
use crate::error::ExitStatus;

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitStatus> {
    let text = serde_json::to_string_pretty(&crate::manifest::schema::json_schema())? + "\n";
    match args.out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))?,
        None => crate::out!("{text}"),
    }
    Ok(ExitStatus::Success)
}
