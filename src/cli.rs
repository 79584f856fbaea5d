//! Command-line syntax (clap derive). Parsing only: commands resolve and act.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// How many API calls run at once unless `--parallelism` says otherwise. A cloud round trip
/// is tens of milliseconds, so what bounds a plan is requests x round trip / calls in
/// flight: at 30 ms, 10 in flight cap a run at ~330 requests/s, 64 at ~2,100. 64 makes a
/// no-op plan of 1,000 functions 0.09x the official SDK's 10-thread read, and an apply
/// 0.18x its seed (`cargo bench --bench reconcile`); 10 gave 0.33x and 0.5x or more. The load
/// on the API is bounded by the request rate (`--rate-limit`, 429 adaptation), not by this.
pub const DEFAULT_PARALLELISM: usize = 64;

/// A Terraform-style reconciler for Huawei Cloud FunctionGraph.
#[derive(Debug, Parser)]
#[command(name = "fgform", version = env!("FGFORM_LONG_VERSION"), about, propagate_version = true)]
pub struct Cli {
    /// Log every API request and response (signatures, tokens and secrets redacted) to
    /// stderr. `RUST_LOG` refines it, e.g. `RUST_LOG=fgform::client=debug`.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a local FunctionGraph API that the official SDKs cannot tell from the cloud.
    Emulator(EmulatorArgs),
    /// Check a stack's manifests offline: every problem, with file:line:column (exit 0 / 1).
    Validate(ValidateArgs),
    /// Build every artifact of a stack deterministically and print sizes and SHA-512 digests.
    Package(PackageArgs),
    /// Print the JSON Schema of the manifest format (for editors' YAML language servers).
    Schema(SchemaArgs),
    /// Show what apply would change (exit 2 with --detailed-exitcode when something would).
    Plan(PlanArgs),
    /// Print the resources and what each refers to, as Graphviz dot or Mermaid (`--plan`:
    /// marked with what a plan would do).
    Graph(GraphArgs),
    /// Make the live resources match the manifests (`apply PLANFILE`: run a saved plan).
    Apply(ApplyArgs),
    /// Delete every resource the state records.
    Destroy(ApplyArgs),
    /// Report changes made outside fgform, deleted resources and unmanaged ones (exit 0 in
    /// sync, 2 drift, 1 error); read-only.
    Drift(DriftArgs),
    /// Print the state file's resources, or a saved plan (`show PLANFILE [--json]`).
    Show(ShowArgs),
    /// Inspect or edit the state file.
    State(StateArgs),
    /// Record an existing live resource in state under a manifest address (changes nothing live).
    Import(ImportArgs),
    /// Write a stack (manifests, code, state) from the functions a live project already has, so
    /// `plan` on it changes nothing. Changes nothing live.
    Generate(GenerateArgs),
    /// Remove a state lock left behind by a process that can no longer release it.
    ForceUnlock(ForceUnlockArgs),
    /// Run one of the stack's functions and print its result (exit 1 when it failed).
    Invoke(InvokeArgs),
    /// Show the function logs the emulator kept for one of the stack's functions.
    Logs(LogsArgs),
    /// Show, promote or abort the rollouts an apply left under way.
    Rollout(RolloutArgs),
    /// Print the stack's outputs (`outputs:`) from the manifests and the state, like
    /// `terraform output`; calls no API.
    Output(OutputArgs),
    /// Print a shell completion script: `source <(fgform completions bash)`.
    Completions(CompletionsArgs),
    /// Print fgform's man page (roff): `fgform man > fgform.1`; `--dir` writes one per subcommand.
    Man(ManArgs),
}

/// `fgform man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `fgform.1` and a page per subcommand (`fgform-plan.1`, …) into DIR instead of
    /// printing `fgform.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `fgform completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `fgform rollout …`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Each rollout alias: its rollout under way (step, weights, the new version's figures
    /// so far) or how its last one ended. Read-only.
    Status(RolloutStatusArgs),
    /// Give the new version all the alias's traffic now, skipping the remaining steps.
    Promote(RolloutChangeArgs),
    /// Roll back now: the alias goes back to the old version alone.
    Abort(RolloutChangeArgs),
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RolloutChangeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only this alias (`function.NAME.alias.NAME`), when several rollouts are under way.
    #[arg(long = "alias", value_name = "ADDR")]
    pub alias: Option<String>,
}

/// Which stack, and the inputs its manifests read.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// The stack directory: every `*.yaml`/`*.yml` in it is merged.
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Merge the `*.<STAGE>.yaml` overlays (maps merge, lists replace).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Set a variable, repeatable: `--var stage=prod`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Read variables from a YAML file of `name: value` pairs, repeatable (`--var` wins).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// Accepts Terraform's single-dash `-out FILE` / `-out=FILE` as `--out` (clap knows only
/// `--out`); everything else passes through.
pub fn terraform_spellings(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some("-out") => "--out".into(),
            Some(s) if s.starts_with("-out=") => format!("-{s}").into(),
            _ => arg,
        })
        .collect()
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// `fgform generate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["all", "function", "prefix"])))]
pub struct GenerateArgs {
    /// Every function and workflow of the project.
    #[arg(long)]
    pub all: bool,
    /// These functions (`--function a b`, or the flag repeated).
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub function: Vec<String>,
    /// Functions and workflows whose names start with P.
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// The new stack's folder: created, or empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The new stack's name (default: the stack the functions are tagged for, else the folder's name).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The stage whose tagged functions to take, when the stack has several.
    #[arg(long, value_name = "S")]
    pub stage: Option<String>,
    /// Read from this endpoint (e.g. an `fgform emulator`; its region and project are asked).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region to read (default: HUAWEICLOUD_SDK_REGION, then HW_REGION_NAME).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Project to read (default: HUAWEICLOUD_SDK_PROJECT_ID, then HW_PROJECT_ID).
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,
    /// Where the new stack's state goes (default: FGFORM_STATE, else
    /// `state/<stack>[-<stage>].json` under the current directory). It must hold no state yet.
    #[arg(long, value_name = "LOCATION")]
    pub state: Option<String>,
    /// How many API calls may run at once (the request rate is bounded apart from this, by
    /// `--rate-limit` and the client's adaptation to 429s).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_name = "N")]
    pub parallelism: usize,
}

/// `fgform validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print one JSON document (`valid`, the counts, every diagnostic) instead of text
    /// (docs/json-output.md).
    #[arg(long)]
    pub json: bool,
}

/// `fgform package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Also print every file that ships in each artifact.
    #[arg(long)]
    pub list: bool,
    /// Where built zips go (default: `DIR/.fgform/build`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `fgform schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `fgform emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: SocketAddr,
    /// Keep state in this directory (journal, snapshot, code blobs); absent = memory only.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Access key accepted for AK/SK signatures.
    #[arg(long, env = "FGFORM_EMULATOR_AK", default_value = crate::api::local::ACCESS_KEY)]
    pub ak: String,
    /// Secret key for that access key.
    #[arg(long, env = "FGFORM_EMULATOR_SK", default_value = crate::api::local::SECRET_KEY, hide_env_values = true)]
    pub sk: String,
    /// Project id served, repeatable (each isolated from the others); the first is the one
    /// IAM tokens are scoped to by default. A path naming any other project gets 403.
    #[arg(long, value_name = "ID", default_value = crate::api::local::PROJECT_ID)]
    pub project_id: Vec<String>,
    /// Region written into URNs.
    #[arg(long, default_value = crate::api::local::REGION)]
    pub region: String,
    /// IAM password `POST /v3/auth/tokens` accepts (any user and domain name).
    #[arg(long, env = "FGFORM_EMULATOR_IAM_PASSWORD", default_value = crate::api::local::IAM_PASSWORD, hide_env_values = true)]
    pub iam_password: String,
    /// Accept requests with no or bad credentials (debugging only; breaks parity).
    #[arg(long)]
    pub no_auth: bool,
    /// Fault rule, repeatable: `status=429,p=0.3[,method=POST][,path=/fgs/functions*][,retry_after=1]`,
    /// `latency=200ms[,p=1]`, `drop,p=0.1`. See README.
    #[arg(long = "chaos", value_name = "RULE")]
    pub chaos: Vec<String>,
    /// Quota override, repeatable: `fgs_func_num=10000`.
    #[arg(long = "quota", value_name = "TYPE=N")]
    pub quota: Vec<String>,
    /// fsync the journal before answering each mutation (survives power loss, not just a
    /// killed process).
    #[arg(long)]
    pub fsync: bool,
    /// An S3-compatible endpoint standing in for OBS: code and dependency packages sent by URL
    /// (`code_type: obs`) are fetched from it, and their real SHA-512 becomes `digest`.
    /// Requests are signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (else
    /// HUAWEICLOUD_SDK_AK/_SK) when set.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub obs_endpoint: Option<String>,
    /// Make weighted alias routing repeatable: each alias (function URN + alias name) draws
    /// from its own generator seeded from N, so the versions it picks depend only on N and
    /// the order of the invocations through it. Without it each draw is random.
    #[arg(long, value_name = "N", env = "FGFORM_EMULATOR_SEED")]
    pub seed: Option<u64>,
    /// Throttle like the cloud's API gateway: at most N API requests per second per project
    /// (a token bucket holding one second's worth); the rest get 429 APIGW.0308 with a
    /// `Retry-After`. The control plane `/_emulator/*` is not throttled. Default: none.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
    /// Function instances (interpreter processes) alive at once, across every function.
    /// At the limit the instance idle the longest is stopped to start another; with none
    /// idle, an invocation is throttled (429 FSS.0429; an async one waits and retries).
    #[arg(long, value_name = "N", default_value_t = crate::emulator::MAX_INSTANCES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_instances: usize,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("`{s}` is not a positive number of requests per second")),
    }
}

fn parse_http_url(s: &str) -> Result<String, String> {
    match reqwest::Url::parse(s) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(s.trim_end_matches('/').to_string())
        }
        Ok(_) => Err(format!("`{s}` is not an http(s) URL")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// What every reconciling command takes: the stack, where it lives, where its state is.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Send API calls here instead of the provider's endpoint (e.g. a local emulator).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Where the state lives: a path, `postgres://USER@HOST/DB`, `s3://BUCKET/PREFIX?endpoint=URL`
    /// or `obs://BUCKET/PREFIX` (default: FGFORM_STATE, else the stack's `state:`, else
    /// `state/<stack>[-<stage>].json` under the current directory).
    #[arg(long, value_name = "LOCATION")]
    pub state: Option<String>,
    /// `--lock=false` runs without the state lock: only when nothing else can use this state.
    /// Loud on purpose; state writes stay conditional, so a newer state is never overwritten.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", hide_default_value = true)]
    pub lock: bool,
    /// How many API calls may run at once (the request rate is bounded apart from this, by
    /// `--rate-limit` and the client's adaptation to 429s).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_name = "N")]
    pub parallelism: usize,
    /// Client-side limit of API requests per second, 0 = none (default: 20 against the cloud,
    /// none against the embedded emulator or a loopback `--endpoint`).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<f64>,
    /// Wait up to this many seconds for a held state lock.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

/// `fgform plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Exit 2 when there are changes (0 none, 1 error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the plan as JSON (docs/plan-json.md); the same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// How to print the plan: `text` (default), `json` (docs/plan-json.md) or `markdown`
    /// (for a merge-request comment).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<PlanFormat>,
    /// Plan only these resources (and their children), repeatable.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Plan the destruction of everything in state.
    #[arg(long)]
    pub destroy: bool,
    /// Save the plan to FILE for `fgform apply FILE` (Terraform's `-out FILE` works too).
    /// It holds no plaintext secret; apply refuses it once the state or a resource it
    /// touches has moved.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How `fgform plan` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// The human plan, coloured on a terminal.
    Text,
    /// The machine plan of docs/plan-json.md.
    Json,
    /// A Markdown summary table plus the full text plan, for merge-request comments.
    Markdown,
}

impl PlanArgs {
    /// The output format `--format` or `--json` asks for.
    pub fn output_format(&self) -> PlanFormat {
        match (self.format, self.json) {
            (Some(format), _) => format,
            (None, true) => PlanFormat::Json,
            (None, false) => PlanFormat::Text,
        }
    }
}

/// `fgform graph`. Without `--plan` only the stack flags count: no API call is made.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// `dot` (Graphviz) or `mermaid` (a Mermaid flowchart).
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot, value_name = "FORMAT")]
    pub format: GraphFormat,
    /// Refresh and plan as `fgform plan` does, and mark each resource with its planned action
    /// (create, update, replace, delete, no-op), including those the plan deletes.
    #[arg(long)]
    pub plan: bool,
}

/// How `fgform graph` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz: `fgform graph | dot -Tsvg > graph.svg`.
    Dot,
    /// A Mermaid `flowchart`, for Markdown that renders Mermaid.
    Mermaid,
}

/// `fgform apply [DIR]` / `fgform apply PLANFILE` / `fgform destroy`. Given a file made by
/// `fgform plan -out`, apply runs exactly that plan without asking, after checking that the
/// state, the manifests, the packages and every resource it touches are as planned.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Apply only these resources (and their children), repeatable.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Move aliases to a newly published version at once, skipping their rollout's steps
    /// and checks (a hotfix).
    #[arg(long)]
    pub no_rollout: bool,
    /// Print one JSON object per line instead of text (docs/json-output.md); needs
    /// --auto-approve or a saved plan, as nothing can be asked.
    #[arg(long)]
    pub json: bool,
}

/// `fgform drift`. Takes no lock, so `--lock-timeout` is accepted and has no effect.
#[derive(Debug, Args)]
#[command(mut_arg("lock_timeout", |a| a.hide(true)))]
pub struct DriftArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the report as JSON (docs/drift.md).
    #[arg(long)]
    pub json: bool,
    /// Rules that silence known drift, one per line: `PATTERN [until YYYY-MM-DD] # reason`
    /// (default: `DIR/.fgform-drift-ignore`, when it exists).
    #[arg(long, value_name = "PATH")]
    pub ignore_file: Option<PathBuf>,
}

/// `fgform invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function: `function.NAME` (or just NAME).
    #[arg(value_name = "ADDR")]
    pub address: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The event: JSON text, `@FILE` to read it from a file, `@-` from stdin (default `{}`).
    #[arg(long, value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// Queue the invocation and print its request id instead of waiting for the result.
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// Invoke this version or alias instead of `latest`.
    #[arg(long, value_name = "Q")]
    pub qualifier: Option<String>,
    /// Print the end of the function log to stderr.
    #[arg(long)]
    pub log: bool,
    /// Print the request id, result, error code, log and summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fgform logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function: `function.NAME` (or just NAME).
    #[arg(value_name = "ADDR")]
    pub address: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How many of the latest invocations to show.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Print the records as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fgform show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the state as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fgform output` (it calls no API and takes no lock: those flags are accepted, unlisted).
#[derive(Debug, Args)]
#[command(
    mut_arg("endpoint", |a| a.hide(true)),
    mut_arg("lock", |a| a.hide(true)),
    mut_arg("parallelism", |a| a.hide(true)),
    mut_arg("rate_limit", |a| a.hide(true)),
    mut_arg("lock_timeout", |a| a.hide(true))
)]
pub struct OutputArgs {
    /// Print only this output's value (a sensitive one included); a directory given alone is
    /// the stack's DIR.
    pub name: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON: `{"NAME": {"value": …, "sensitive": …, "description": …}}`, or with NAME
    /// just its value.
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// With NAME: print the bare value, without quotes, for shell use.
    #[arg(long, requires = "name")]
    pub raw: bool,
}

/// `fgform state list`.
#[derive(Debug, Args)]
pub struct StateListArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print each address with its kind, id (the URN for functions) and recorded
    /// dependencies as JSON (docs/json-output.md).
    #[arg(long)]
    pub json: bool,
}

/// `fgform state …`.
#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the addresses in state.
    List(StateListArgs),
    /// Print one resource's recorded id and attributes; with `--serial N`, from an older
    /// version of the state (the whole version when no address is given).
    Show {
        /// The resource address, e.g. `function.hello`.
        address: Option<String>,
        /// Show version N from the state's history (`fgform state history` lists them).
        #[arg(long, value_name = "N")]
        serial: Option<u64>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print the state as JSON (decrypted when it is encrypted).
    Pull(ShowArgs),
    /// Replace the state with FILE (a state JSON, e.g. from `state pull`), under the lock.
    /// Refused when FILE has another lineage, or a serial older than the stored state's.
    Push {
        /// The state file to push.
        file: PathBuf,
        /// Push even when the lineage differs or the serial goes back.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Copy the state, with its history, to another location under both locks; the source
    /// is kept. Also how a state is encrypted (or its passphrase changed): see
    /// docs/state-encryption.md.
    Migrate {
        /// Where to copy it: a path, `postgres://…`, `s3://…` or `obs://…`.
        #[arg(long, value_name = "LOCATION")]
        to: String,
        /// Encrypt the copy with the passphrase in this environment variable (default: as the
        /// stack's state is configured: `state.passphrase_env`, else FGFORM_STATE_PASSPHRASE).
        #[arg(long, value_name = "VAR", conflicts_with = "to_plaintext")]
        to_passphrase_env: Option<String>,
        /// Write the copy unencrypted (decrypting an encrypted state).
        #[arg(long)]
        to_plaintext: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List the kept versions of the state: serial, time, who and operation.
    History(ShowArgs),
    /// Check that a location can hold state safely: reach it, and for S3 and OBS probe that
    /// the store enforces conditional writes (a create twice, and a race of 8 creates).
    Check {
        /// The location, as for `--state`.
        location: String,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Forget a resource (it keeps existing live); a function takes its triggers and async
    /// config with it.
    Rm {
        /// The resource address, e.g. `function.hello`.
        address: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Rename a resource in state (nothing changes live); a function takes its triggers and
    /// async config with it.
    Mv {
        /// The address it is recorded under, e.g. `function.hello`.
        source: String,
        /// The address to record it under, e.g. `function.greeter` (same kind); the
        /// manifests must declare it.
        destination: String,
        /// Move to an address the manifests do not declare (the next apply then deletes the
        /// resource unless the manifests come to declare it).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `fgform import ADDR ID [DIR]`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The manifest address to record it under, e.g. `function.hello`.
    pub address: String,
    /// The live resource: a function URN (unqualified or `:latest`), a trigger id, a
    /// dependency version id (or `DEP_ID/VERSION`), or a workflow id.
    pub id: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `fgform force-unlock LOCK_ID [DIR]`.
#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as the "locked by" error prints it.
    pub lock_id: String,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Where the state lives (as for `plan`; default: FGFORM_STATE, the stack's `state:`, else
    /// `state/<stack>[-<stage>].json`).
    #[arg(long, value_name = "LOCATION")]
    pub state: Option<String>,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (argument order, conflicts, names) over every command.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn plan_format_and_the_json_shorthand() {
        use clap::Parser as _;

        use super::{Cli, Command, PlanFormat};
        let format = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Plan(p)) => Ok(p.output_format()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(format(&["fgform", "plan"]), Ok(PlanFormat::Text));
        assert_eq!(format(&["fgform", "plan", "--json"]), Ok(PlanFormat::Json));
        assert_eq!(format(&["fgform", "plan", "--format", "json"]), Ok(PlanFormat::Json));
        assert_eq!(
            format(&["fgform", "plan", "dir", "--format", "markdown"]),
            Ok(PlanFormat::Markdown)
        );
        assert_eq!(
            format(&["fgform", "plan", "--json", "--format", "text"]),
            Err(clap::error::ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            format(&["fgform", "plan", "--format", "html"]),
            Err(clap::error::ErrorKind::InvalidValue)
        );
    }

    #[test]
    fn graph_defaults_to_dot_from_the_manifests() {
        use clap::Parser as _;

        use super::{Cli, Command, GraphFormat};
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Graph(g)) => Ok((g.format, g.plan, g.target.stack.dir)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(parse(&["fgform", "graph"]), Ok((GraphFormat::Dot, false, ".".into())));
        assert_eq!(
            parse(&["fgform", "graph", "stack", "--format", "mermaid", "--plan"]),
            Ok((GraphFormat::Mermaid, true, "stack".into()))
        );
        assert_eq!(
            parse(&["fgform", "graph", "--format", "svg"]),
            Err(clap::error::ErrorKind::InvalidValue)
        );
    }
}
