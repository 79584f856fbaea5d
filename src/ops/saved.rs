//! Plan files: the one `fgform plan -out` writes (atomically, owner-only) and `apply FILE` and
//! `show FILE` read, and the inputs an `apply FILE` replays (see `plan::saved` for what a
//! plan file holds and its stale checks).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::rerun::{display_path, rerun_parts, shell_word};
use crate::atomic;
use crate::cli::{PlanArgs, TargetArgs};
use crate::error::Hint;
use crate::model::Desired;
use crate::plan::saved::{self, SavedPlan};
use crate::plan::{Artifacts, Plan};
use crate::state;

/// The plan file for `plan` (see `plan::saved`).
pub fn saved_plan(
    args: &PlanArgs,
    desired: &Desired,
    artifacts: &Artifacts,
    prior_state: saved::PriorState,
    lineage: &str,
    state_shown: &str,
    plan: Plan,
) -> SavedPlan {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    let (vars, withheld_vars) = saved::split_vars(desired, &args.target.stack.vars);
    SavedPlan {
        format: saved::FORMAT.into(),
        format_version: saved::FORMAT_VERSION,
        fgform_version: env!("CARGO_PKG_VERSION").into(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        stack: desired.stack.clone(),
        stage: desired.stage.clone(),
        inputs: saved::Inputs {
            dir: args.target.stack.dir.display().to_string(),
            stage: args.target.stack.stage.clone(),
            var_files: args
                .target
                .stack
                .var_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            vars,
            withheld_vars,
            endpoint: args.target.endpoint.clone(),
            state: state_shown.to_string(),
            targets: args.targets.clone(),
            destroy: args.destroy,
        },
        inputs_sha256: saved::inputs_hash(desired, artifacts, &salt),
        salt,
        prior_state,
        lineage: lineage.to_string(),
        live: saved::fingerprints(&plan),
        plan,
    }
}

/// Writes a plan file atomically, readable by its owner only (it describes the stack's
/// configuration, though never a secret).
pub fn write_plan_file(path: &Path, saved: &SavedPlan) -> anyhow::Result<()> {
    let context = || format!("failed to write the plan file `{}`", path.display());
    std::fs::create_dir_all(atomic::parent(path)).with_context(context)?;
    let mut bytes = serde_json::to_vec_pretty(saved).with_context(context)?;
    bytes.push(b'\n');
    atomic::write(path, &bytes, atomic::Access::Private).with_context(context)
}

/// Reads a plan file made by this fgform version.
pub fn read_plan_file(path: &Path) -> anyhow::Result<SavedPlan> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read the plan file `{}`", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<String>,
        format_version: Option<u32>,
        fgform_version: Option<String>,
    }
    let not_a_plan = || {
        anyhow::anyhow!("`{}` is not an fgform plan file", path.display())
            .context(Hint("make one with `fgform plan -out FILE`".into()))
    };
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|_| not_a_plan())?;
    if probe.format.as_deref() != Some(saved::FORMAT) {
        return Err(not_a_plan());
    }
    let version = probe.fgform_version.unwrap_or_default();
    if probe.format_version != Some(saved::FORMAT_VERSION) || version != env!("CARGO_PKG_VERSION") {
        bail!(anyhow::anyhow!(
            "the plan file `{}` was made by fgform {version}; this is fgform {}",
            path.display(),
            env!("CARGO_PKG_VERSION")
        )
        .context(Hint("plan again with this version".into())));
    }
    serde_json::from_slice(&bytes).with_context(|| format!("the plan file `{}` is damaged", path.display()))
}

/// A plan file and the arguments that replay the inputs it was made from, for `apply FILE`.
pub struct Replay {
    /// The plan file.
    pub file: PathBuf,
    pub saved: SavedPlan,
    /// The stack, stage, variables, state and endpoint the plan was made with (the state
    /// and variables this apply names take precedence).
    pub target: TargetArgs,
    /// The `--state` this apply names.
    own_state: Option<String>,
}

impl Replay {
    /// Reads the plan file `given.stack.dir` names and rebuilds its inputs: the variables
    /// whose values it withheld must be given again, and an `--endpoint` must be the one
    /// it was planned against.
    pub fn open(given: &TargetArgs) -> anyhow::Result<Replay> {
        let file = given.stack.dir.clone();
        let saved = read_plan_file(&file)?;
        let mut replay = Replay {
            file,
            target: given.clone(),
            own_state: given.state.clone(),
            saved,
        };
        let inputs = &replay.saved.inputs;
        // Re-read the stack exactly as it was planned.
        if !Path::new(&inputs.dir).is_dir() {
            bail!(
                anyhow::anyhow!("the saved plan's stack directory `{}` does not exist here", inputs.dir).context(Hint(
                    "run `fgform apply FILE` from the directory `fgform plan -out` ran in".into()
                ))
            );
        }
        let target = &mut replay.target;
        target.stack.dir = inputs.dir.clone().into();
        target.stack.stage = inputs.stage.clone();
        target.stack.var_files = inputs.var_files.iter().map(Into::into).collect();
        let given_vars: std::collections::BTreeMap<String, String> = given.stack.vars.iter().cloned().collect();
        let missing: Vec<&str> = inputs
            .withheld_vars
            .iter()
            .filter(|v| !given_vars.contains_key(*v))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            bail!(anyhow::anyhow!(
                "the saved plan needs --var {} again: their values feed secrets, so the plan file does not keep them",
                missing.join(", --var ")
            ));
        }
        let mut vars = inputs.vars.clone();
        vars.extend(given_vars);
        target.stack.vars = vars.into_iter().collect();
        match (&given.endpoint, &inputs.endpoint) {
            (Some(now), Some(then)) if now != then => {
                return Err(replay.refused(format!("it was planned against `{then}`, not `{now}`")));
            }
            (Some(_), None) => {
                return Err(replay.refused("it was planned without --endpoint".into()));
            }
            _ => target.endpoint = inputs.endpoint.clone(),
        }
        // A location whose password was withheld from the plan file is found again the way
        // it was (FGFORM_STATE or the stack's `state:`, with PGPASSWORD).
        target.state = given
            .state
            .clone()
            .or_else(|| (!inputs.state.contains(":***@")).then(|| inputs.state.clone()));
        Ok(replay)
    }

    /// Refuses to apply the plan because of `what`, pointing at the `fgform plan` command
    /// that makes a new one from the same inputs.
    pub fn refused(&self, what: String) -> anyhow::Error {
        let (saved, inputs) = (&self.saved, &self.saved.inputs);
        let default_state = display_path(&state::default_path(
            Path::new(""),
            &saved.stack,
            saved.stage.as_deref(),
        ));
        // The state the plan was made against, unless this apply names its own.
        let own_state = self.own_state.as_deref().map(super::rerun::shown_location);
        let state = own_state
            .as_deref()
            .or(Some(inputs.state.as_str()))
            .filter(|s| *s != default_state);
        let vars: Vec<(String, String)> = inputs.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let again = rerun_parts(
            &display_path(Path::new(&inputs.dir)),
            inputs.stage.as_deref(),
            &inputs.var_files,
            &vars,
            None,
            state,
            inputs.endpoint.as_deref(),
        );
        let withheld: String = inputs.withheld_vars.iter().map(|v| format!(" --var {v}=…")).collect();
        anyhow::anyhow!("refusing to apply the saved plan `{}`: {what}", self.file.display()).context(Hint(format!(
            "make a new plan with `fgform plan{again}{withheld} -out {}` and review it",
            shell_word(&display_path(&self.file))
        )))
    }
}
