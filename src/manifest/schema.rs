//! The manifest format as data: every key, its shape, the API field it becomes and its
//! documentation. Unknown-key checks, "did you mean" hints, `fgform schema` (JSON Schema), the
//! docs test and the names human plans show ([`plan_naming`]) all read these tables, so they
//! cannot drift apart.

mod names;
mod output;

use crate::api::limits;
pub use names::{plan_naming, Naming};
pub use output::{json_schema, key_paths, reference_table};

/// What a key holds.
pub enum Shape {
    String,
    Integer,
    Boolean,
    /// Any scalar (numbers and booleans are taken as their text).
    Scalar,
    Enum(&'static [&'static str]),
    StringList,
    /// A mapping of names to scalars.
    StringMap,
    /// A mapping whose keys are all listed.
    Object(&'static [Field]),
    /// A mapping whose listed keys are checked and whose other keys pass through to the API.
    OpenObject(&'static [Field]),
    /// A mapping of names to `Object`s.
    MapOf(&'static [Field]),
    /// A mapping of names to `Object`s, each of which may be written as just its `value`
    /// string.
    MapOfShort(&'static [Field]),
    List(&'static Shape),
    /// Free JSON, passed through.
    Any,
}

/// One key.
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    /// The API field it becomes (empty when fgform consumes it itself).
    pub api: &'static str,
    pub doc: &'static str,
}

const fn field(name: &'static str, shape: Shape, api: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        shape,
        required: false,
        api,
        doc,
    }
}

const fn required(name: &'static str, shape: Shape, api: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        shape,
        required: true,
        api,
        doc,
    }
}

pub static ROOT: &[Field] = &[
    required(
        "stack",
        Shape::String,
        "",
        "Names the stack: its state file and the ownership tag on every function; put it in one of the files.",
    ),
    field(
        "provider",
        Shape::Object(PROVIDER),
        "",
        "Where to deploy. Absent: the embedded emulator.",
    ),
    field(
        "state",
        Shape::Any,
        "",
        "Where the state lives: a path, `postgres://…`, `s3://bucket/prefix?endpoint=URL&region=R` or `obs://bucket/prefix`; or a mapping `{location: …, passphrase_env: VAR}` that also encrypts it with the passphrase in $VAR. `--state` and FGFORM_STATE come first.",
    ),
    field(
        "stages",
        Shape::StringList,
        "",
        "The stages `--stage` may name (e.g. `[dev, prod]`); without it, the stages of the `*.<stage>.yaml` overlays.",
    ),
    field("variables", Shape::MapOf(VARIABLE), "", "Inputs for `${var.NAME}`."),
    field(
        "dependencies",
        Shape::MapOf(DEPENDENCY),
        "",
        "Dependency packages, by name.",
    ),
    field(
        "functions",
        Shape::MapOf(FUNCTION),
        "",
        "Functions, by name (`func_name`).",
    ),
    field("workflows", Shape::MapOf(WORKFLOW), "", "Workflows (函数流), by name."),
    field(
        "outputs",
        Shape::MapOfShort(OUTPUT),
        "",
        "Values `fgform output` prints after apply, by name: `NAME: \"…${…}…\"` or `NAME: {value, description, sensitive}`.",
    ),
];

pub static OUTPUT: &[Field] = &[
    required(
        "value",
        Shape::String,
        "",
        "The string, with `${…}`: every form the manifests use, plus what the state records (`${function.NAME.trigger.T.id}`, `${function.NAME.alias.A.urn}`, `${function.NAME.version}`, `${workflow.NAME.id}`, `${dependency.NAME.id}`, `${dependency.NAME.version}`).",
    ),
    field("description", Shape::String, "", "What the output is for (in `fgform output --json`)."),
    field(
        "sensitive",
        Shape::Boolean,
        "",
        "Shown as `(sensitive)` in listings; the value only with `--json` or when asked for by name.",
    ),
];

pub static PROVIDER: &[Field] = &[
    required("region", Shape::String, "", "Region id, e.g. `cn-north-4`."),
    field(
        "project_id",
        Shape::String,
        "",
        "Project id the resources belong to; left out: `HUAWEICLOUD_SDK_PROJECT_ID`, then `HW_PROJECT_ID`.",
    ),
    field(
        "endpoint",
        Shape::String,
        "",
        "Overrides `https://functiongraph.{region}.myhuaweicloud.com`.",
    ),
    field(
        "code_bucket",
        Shape::String,
        "",
        "Where packages too large for an inline upload go, under content-addressed keys: `obs://BUCKET/PREFIX` or `s3://BUCKET/PREFIX?endpoint=URL&region=R`.",
    ),
];

pub static VARIABLE: &[Field] = &[
    field(
        "default",
        Shape::Scalar,
        "",
        "Value used when neither `--var` nor `--var-file` gives one.",
    ),
    field("description", Shape::String, "", "What the variable is for."),
];

pub static DEPENDENCY: &[Field] = &[
    required(
        "runtime",
        Shape::Enum(limits::RUNTIMES),
        "runtime",
        "Runtime; functions using it must have the same.",
    ),
    required(
        "source",
        Shape::String,
        "depend_file / depend_link",
        "A folder (zipped deterministically), a `.zip` file, or `obs://bucket/key`.",
    ),
    field(
        "exclude",
        Shape::StringList,
        "",
        "Globs (gitignore syntax) left out of a folder source.",
    ),
    field("description", Shape::String, "description", "At most 512 characters."),
];

pub static FUNCTION: &[Field] = &[
    required(
        "runtime",
        Shape::Enum(limits::RUNTIMES),
        "runtime",
        "Runtime, exact spelling (e.g. `Python3.9`, `Node.js18.15`).",
    ),
    required(
        "handler",
        Shape::String,
        "handler",
        "`file.function` (3–128 characters); `-` for Custom Image.",
    ),
    field(
        "memory",
        Shape::Integer,
        "memory_size",
        "MB: 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 8192 or 10240. Default 128.",
    ),
    field("timeout", Shape::Integer, "timeout", "Seconds, 3–259200. Default 3."),
    required(
        "code",
        Shape::String,
        "code_type + func_code.file / code_url, code_filename",
        "A folder (zipped deterministically), a `.zip`/`.jar` file, or `obs://bucket/key`.",
    ),
    field(
        "exclude",
        Shape::StringList,
        "",
        "Globs (gitignore syntax) left out of a folder `code`.",
    ),
    field("description", Shape::String, "description", "At most 512 characters."),
    field(
        "app",
        Shape::String,
        "package",
        "The app the function belongs to (part of its URN). Default `default`.",
    ),
    field(
        "environment",
        Shape::StringMap,
        "user_data",
        "Environment variables, sent as a JSON-object string. With `secrets`: at most 20 keys and 4096 bytes each.",
    ),
    field(
        "secrets",
        Shape::StringMap,
        "encrypted_user_data",
        "Encrypted environment variables; never printed.",
    ),
    field(
        "dependencies",
        Shape::StringList,
        "depend_version_list",
        "Names of this stack's dependencies.",
    ),
    field(
        "agency",
        Shape::String,
        "xrole",
        "IAM agency the function's configuration uses.",
    ),
    field(
        "app_agency",
        Shape::String,
        "app_xrole",
        "IAM agency the code runs with (defaults to `agency`).",
    ),
    field(
        "max_instances",
        Shape::Integer,
        "strategy_config.concurrency",
        "Maximum instances: −1 unlimited, 0 disabled, up to 1000.",
    ),
    field(
        "concurrency_per_instance",
        Shape::Integer,
        "strategy_config.concurrent_num",
        "Concurrent requests per instance, 1–1000.",
    ),
    field("vpc", Shape::Object(VPC), "func_vpc", "VPC access."),
    field(
        "mount_user",
        Shape::Object(MOUNT_USER),
        "mount_config.mount_user",
        "User and group the mounts are accessed as (default −1/−1).",
    ),
    field(
        "mounts",
        Shape::List(&MOUNT_SHAPE),
        "mount_config.func_mounts",
        "File systems to mount, at most 5.",
    ),
    field(
        "initializer",
        Shape::Object(HOOK),
        "initializer_handler, initializer_timeout",
        "Initializer; timeout 1–300 s.",
    ),
    field(
        "pre_stop",
        Shape::Object(HOOK),
        "pre_stop_handler, pre_stop_timeout",
        "Pre-stop hook; timeout 1–90 s.",
    ),
    field("log", Shape::Object(LOG), "log_config", "LTS log group and stream."),
    field(
        "tags",
        Shape::StringMap,
        "tags (tags API)",
        "At most 20; key ≤ 128, value ≤ 255 characters; `fgform-stack` is reserved.",
    ),
    field(
        "async",
        Shape::Object(ASYNC),
        "async-invoke-config",
        "Asynchronous invocation settings.",
    ),
    field("triggers", Shape::MapOf(TRIGGER), "triggers", "Triggers, by name."),
    field(
        "versions",
        Shape::Object(VERSIONS),
        "versions",
        "Published versions: `publish: on-change` publishes one when code or configuration changed since the last.",
    ),
    field(
        "aliases",
        Shape::MapOf(ALIAS),
        "aliases",
        "Aliases, by name (at most 10): a main version and at most one additional version with a share of the traffic.",
    ),
    field(
        "rollout",
        Shape::Object(ROLLOUT),
        "",
        "How a newly published version reaches an alias: traffic steps judged by the new version's error rate, rolled back automatically.",
    ),
];

pub static VERSIONS: &[Field] = &[
    field(
        "publish",
        Shape::Enum(&["on-change", "never"]),
        "",
        "`on-change` (default): publish when code or configuration differ from the last published version; `never`.",
    ),
    field(
        "description",
        Shape::String,
        "description",
        "Description of each version published (e.g. `${var.release}`).",
    ),
];

pub static ALIAS: &[Field] = &[
    required(
        "version",
        Shape::String,
        "version",
        "`latest-published` (the newest version, this apply's included), `latest`, or a version name.",
    ),
    field(
        "weights",
        Shape::StringMap,
        "additional_version_weights",
        "One additional version and the whole percentage of traffic it gets, e.g. `{v3: 10}`.",
    ),
    field("description", Shape::String, "description", "Up to 512 characters."),
];

pub static ROLLOUT: &[Field] = &[
    required("alias", Shape::String, "", "The alias whose traffic shifts to each new version."),
    required(
        "steps",
        Shape::List(&Shape::Integer),
        "",
        "Rising percentages of traffic for the new version, ending at 100, e.g. `[10, 50, 100]`.",
    ),
    required("interval", Shape::String, "", "How long each step lasts before it is judged: `30s`, `5m`, `1h`."),
    field(
        "max_error_rate",
        Shape::Scalar,
        "",
        "Highest error rate of the new version a step passes with: `1%` or `0.01` (default `1%`).",
    ),
    field(
        "min_invocations",
        Shape::Integer,
        "",
        "Invocations of the new version a step needs before it is judged (default 1).",
    ),
    field(
        "deadline",
        Shape::String,
        "",
        "How long past its interval a step may wait for `min_invocations`, and how late an interrupted rollout may resume (default 3 intervals, at least 10m).",
    ),
];

pub static VPC: &[Field] = &[
    required("vpc_id", Shape::String, "func_vpc.vpc_id", "VPC id."),
    required("subnet_id", Shape::String, "func_vpc.subnet_id", "Subnet id."),
    field("vpc_name", Shape::String, "func_vpc.vpc_name", ""),
    field("subnet_name", Shape::String, "func_vpc.subnet_name", ""),
    field("cidr", Shape::String, "func_vpc.cidr", ""),
    field("gateway", Shape::String, "func_vpc.gateway", ""),
    field(
        "security_groups",
        Shape::StringList,
        "func_vpc.security_groups",
        "Security group ids.",
    ),
    field("is_safety", Shape::Boolean, "func_vpc.is_safety", ""),
];

pub static MOUNT_USER: &[Field] = &[
    required(
        "user_id",
        Shape::Integer,
        "mount_user.user_id",
        "−1..65534, not 0, 1000 or 1002.",
    ),
    required(
        "user_group_id",
        Shape::Integer,
        "mount_user.user_group_id",
        "−1..65534, not 0, 1000 or 1002.",
    ),
];

pub static MOUNT: &[Field] = &[
    required(
        "mount_type",
        Shape::Enum(&["sfs", "sfsTurbo", "ecs"]),
        "func_mounts[].mount_type",
        "",
    ),
    required(
        "mount_resource",
        Shape::String,
        "func_mounts[].mount_resource",
        "File system id.",
    ),
    field(
        "mount_share_path",
        Shape::String,
        "func_mounts[].mount_share_path",
        "Required for `ecs`.",
    ),
    required(
        "local_mount_path",
        Shape::String,
        "func_mounts[].local_mount_path",
        "Absolute path inside the function.",
    ),
];
pub static MOUNT_SHAPE: Shape = Shape::Object(MOUNT);

pub static HOOK: &[Field] = &[
    required("handler", Shape::String, "*_handler", "`file.function`."),
    required("timeout", Shape::Integer, "*_timeout", "Seconds."),
];

pub static LOG: &[Field] = &[
    field("group_id", Shape::String, "log_config.group_id", ""),
    field("group_name", Shape::String, "log_config.group_name", ""),
    field("stream_id", Shape::String, "log_config.stream_id", ""),
    field("stream_name", Shape::String, "log_config.stream_name", ""),
];

pub static ASYNC: &[Field] = &[
    field(
        "max_event_age",
        Shape::Integer,
        "max_async_event_age_in_seconds",
        "Seconds, 1–86400.",
    ),
    field("max_retries", Shape::Integer, "max_async_retry_attempts", "0–8."),
    field(
        "on_success",
        Shape::Object(DESTINATION),
        "destination_config.on_success",
        "Where results go.",
    ),
    field(
        "on_failure",
        Shape::Object(DESTINATION),
        "destination_config.on_failure",
        "Where failures go.",
    ),
    field(
        "status_log",
        Shape::Boolean,
        "enable_async_status_log",
        "Record async invocation status.",
    ),
    field(
        "qualifier",
        Shape::String,
        "function_urn qualifier",
        "An alias of this function whose async settings these are (default: latest).",
    ),
];

pub static DESTINATION: &[Field] = &[
    field(
        "function",
        Shape::String,
        "destination FunctionGraph, param.func_urn",
        "A function of this stack by name, or a function URN.",
    ),
    field(
        "smn",
        Shape::String,
        "destination SMN, param.topic_urn",
        "SMN topic URN (`urn:smn:…`).",
    ),
    field(
        "dis",
        Shape::String,
        "destination DIS, param.stream_name",
        "DIS stream name.",
    ),
    field(
        "obs",
        Shape::Object(OBS_DESTINATION),
        "destination OBS, param",
        "An OBS bucket.",
    ),
];

pub static OBS_DESTINATION: &[Field] = &[
    required("bucket", Shape::String, "param.bucket", ""),
    field("prefix", Shape::String, "param.prefix", ""),
    field("expires", Shape::Integer, "param.expires", "Days, 0–365."),
];

pub static TRIGGER: &[Field] = &[
    field(
        "timer",
        Shape::Object(TIMER),
        "trigger_type_code TIMER, event_data",
        "A TIMER trigger; its name is the trigger's name.",
    ),
    field(
        "type",
        Shape::Enum(limits::GENERIC_TRIGGER_TYPES),
        "trigger_type_code",
        "Any other trigger type.",
    ),
    field(
        "event_data",
        Shape::Any,
        "event_data",
        "The type's event_data, passed through (with `type`).",
    ),
    field(
        "enabled",
        Shape::Boolean,
        "trigger_status",
        "ACTIVE (default) or DISABLED; only TIMER, DDS, DMS, KAFKA and LTS can be disabled.",
    ),
    field(
        "payload",
        Shape::String,
        "event_data.user_event",
        "TIMER only: the string the function receives as `user_event`.",
    ),
    field(
        "qualifier",
        Shape::String,
        "function_urn qualifier",
        "An alias of this function the trigger invokes (default: latest).",
    ),
];

pub static TIMER: &[Field] = &[
    field(
        "rate",
        Shape::String,
        "schedule_type Rate, schedule",
        "`<n>m` (1–60), `<n>h` (1–24) or `<n>d` (1–30).",
    ),
    field(
        "cron",
        Shape::String,
        "schedule_type Cron, schedule",
        "`sec min hour dom month [dow]`, `@every 1h30m`, optional `CRON_TZ=<zone> ` prefix.",
    ),
];

pub static WORKFLOW: &[Field] = &[
    field("description", Shape::String, "description", "1–512 characters."),
    field(
        "mode",
        Shape::Enum(limits::WORKFLOW_MODES),
        "mode",
        "`NORMAL` (default) or `EXPRESS`.",
    ),
    required("start", Shape::String, "start", "Id of the first state."),
    required(
        "states",
        Shape::List(&STATE_SHAPE),
        "states",
        "1–100 states; unknown keys pass through.",
    ),
    field(
        "constants",
        Shape::Any,
        "constants",
        "Free JSON, referenced as `$CONST.a.b`.",
    ),
    field(
        "retries",
        Shape::List(&RETRY_SHAPE),
        "retries",
        "Retry policies for `on_errors[].retry_ref`.",
    ),
    field("triggers", Shape::Any, "triggers", "Workflow triggers, passed through."),
    field(
        "express_config",
        Shape::Any,
        "express_config",
        "EXPRESS only: `{log_level: ALL|ERROR|NONE}`.",
    ),
    field("enable_stream_response", Shape::Boolean, "enable_stream_response", ""),
    field("enterprise_project_id", Shape::String, "enterprise_project_id", ""),
];

pub static STATE: &[Field] = &[
    required("id", Shape::String, "states[].id", "Unique within the workflow."),
    required(
        "type",
        Shape::String,
        "states[].type",
        "`Operation`, `Sleep`, `End`, or any type the API knows.",
    ),
    field("next", Shape::String, "states[].transition", "Id of the next state."),
    field("end", Shape::Boolean, "states[].end", "Set for you on `End` states."),
    field(
        "actions",
        Shape::List(&ACTION_SHAPE),
        "states[].actions",
        "Function calls; unknown keys pass through.",
    ),
    field(
        "on_errors",
        Shape::List(&ON_ERROR_SHAPE),
        "states[].on_errors",
        "Error handlers.",
    ),
];
pub static STATE_SHAPE: Shape = Shape::OpenObject(STATE);

pub static ACTION: &[Field] = &[
    field(
        "function",
        Shape::String,
        "functions[] + actions[].function_ref.ref_name",
        "A function of this stack by name, or a function URN.",
    ),
    field(
        "arguments",
        Shape::Any,
        "function_ref.arguments",
        "JSONPath values into the input, constants, numbers.",
    ),
    field(
        "invoke_mode",
        Shape::String,
        "function_ref.invoke_mode",
        "`sync` (the only mode today; default).",
    ),
];
pub static ACTION_SHAPE: Shape = Shape::OpenObject(ACTION);

pub static ON_ERROR: &[Field] = &[
    field("error", Shape::String, "on_errors[].error", "Error match expression."),
    field("next", Shape::String, "on_errors[].transition", "State to go to."),
    field(
        "retry_ref",
        Shape::String,
        "on_errors[].retry_ref",
        "Name of a `retries` entry.",
    ),
];
pub static ON_ERROR_SHAPE: Shape = Shape::OpenObject(ON_ERROR);

pub static RETRY: &[Field] = &[
    required("name", Shape::String, "retries[].name", "Unique."),
    field("delay", Shape::Integer, "retries[].delay", "Seconds (default 1)."),
    field("max_attempts", Shape::Integer, "retries[].max_attempts", "Default 3."),
];
pub static RETRY_SHAPE: Shape = Shape::Object(RETRY);

/// The hint for an unknown key: a close spelling, or the manifest name of an API field.
pub fn unknown_key_hint(key: &str, fields: &[Field]) -> Option<String> {
    if let Some(f) = fields
        .iter()
        .find(|f| !f.api.is_empty() && f.api.split([' ', ',', '.', '+']).any(|a| a == key))
    {
        return Some(format!("the API's `{key}` is written `{}` here", f.name));
    }
    let aliases: &[(&str, &str)] = &[
        ("env", "environment"),
        ("variables", "environment"),
        ("memory_mb", "memory"),
    ];
    if let Some((_, to)) = aliases
        .iter()
        .find(|(from, to)| *from == key && fields.iter().any(|f| f.name == *to))
    {
        return Some(format!("did you mean `{to}`?"));
    }
    crate::manifest::diagnostic::did_you_mean(key, fields.iter().map(|f| f.name))
        .map(|s| format!("did you mean `{s}`?"))
}
