//! The API's validation rules, each written once, as pure functions over plain values: the
//! emulator answers a broken rule with the [`Violation`]'s error code and message, and the
//! manifest validator turns it into a diagnostic at the offending YAML node (with its own,
//! manifest-vocabulary wording). The numbers come from [`crate::api::limits`].

mod workflow;

use std::ops::RangeInclusive;
use std::sync::LazyLock;

use regex::Regex;

use crate::api::limits::*;
pub use crate::api::schedule::{check_cron, check_rate};
pub use workflow::definition as workflow_definition;

/// A broken rule: the wire field, the API's error code and the API's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    /// The request field (dotted for nested ones), e.g. `strategy_config.concurrency`.
    pub field: String,
    /// The error code the API answers with, e.g. `FSS.1007`.
    pub code: &'static str,
    /// The API's `error_msg`.
    pub message: String,
}

/// The result of one rule.
pub type Checked = Result<(), Violation>;

/// `FSS.0400`: the API's generic invalid-parameter code.
pub const INVALID_PARAMETER: &str = "FSS.0400";

fn violation(field: &str, code: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        field: field.to_string(),
        code,
        message: message.into(),
    }
}

fn check(ok: bool, field: &str, code: &'static str, message: impl FnOnce() -> String) -> Checked {
    if ok {
        Ok(())
    } else {
        Err(violation(field, code, message()))
    }
}

macro_rules! regex {
    ($name:ident, $re:literal) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("valid regex"));
    };
}

regex!(FUNCTION_NAME, r"^[A-Za-z]([A-Za-z0-9_-]{0,58}[A-Za-z0-9])?$");
regex!(TIMER_NAME, r"^[A-Za-z][A-Za-z0-9_-]{0,63}$");
regex!(DEPENDENCY_NAME, r"^[A-Za-z]([A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?$");
regex!(WORKFLOW_NAME, r"^[A-Za-z][A-Za-z0-9_-]{0,63}$");
regex!(STACK_NAME, r"^[A-Za-z]([A-Za-z0-9_-]{0,38}[A-Za-z0-9])?$");
regex!(STAGE_NAME, r"^[A-Za-z]([A-Za-z0-9_-]{0,38}[A-Za-z0-9])?$");
regex!(ALIAS_NAME, r"^[A-Za-z]([A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$");
regex!(VERSION_NAME, r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,41}$");
regex!(HANDLER_FORM, r"^[^.\s]+(\.[^.\s]+)+$");

/// Function names: 1–60 chars, `[A-Za-z0-9_-]`, starts with a letter, ends with a letter/digit.
pub fn is_valid_function_name(name: &str) -> bool {
    FUNCTION_NAME.is_match(name)
}

/// `func_name` (FSS.1002).
pub fn function_name(name: &str) -> Checked {
    check(is_valid_function_name(name), "func_name", "FSS.1002", || {
        format!("func_name `{name}` must start with a letter, end with a letter or digit, use letters, digits, _ and -, and be 1-60 characters")
    })
}

/// `package` (the app a function belongs to, FSS.1004): 1–64 characters of `[A-Za-z0-9_-]`.
pub fn package_name(package: &str) -> Checked {
    let ok = !package.is_empty()
        && package.len() <= PACKAGE_NAME_MAX
        && package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    check(ok, "package", "FSS.1004", || format!("package `{package}` is invalid"))
}

/// `code_type` (FSS.1006).
pub fn code_type(code_type: &str) -> Checked {
    check(CODE_TYPES.contains(&code_type), "code_type", "FSS.1006", || {
        format!("code_type `{code_type}` is not one of {CODE_TYPES:?}")
    })
}

/// Timer trigger names (`event_data.name`).
pub fn is_valid_timer_name(name: &str) -> bool {
    TIMER_NAME.is_match(name)
}

/// A timer trigger's `event_data.name` (FSS.1109).
pub fn timer_name(name: &str) -> Checked {
    check(is_valid_timer_name(name), "event_data.name", "FSS.1109", || {
        format!("timer name `{name}` must start with a letter and use letters, digits, _ and - (1-64)")
    })
}

/// `trigger_type_code` (FSS.1101): one of the API's trigger types.
pub fn trigger_type(ty: &str) -> Checked {
    check(TRIGGER_TYPES.contains(&ty), "trigger_type_code", "FSS.1101", || {
        format!("trigger_type_code `{ty}` is not supported")
    })
}

/// `trigger_status` of a trigger of type `ty`: ACTIVE, or DISABLED for the types that can
/// be disabled.
pub fn trigger_status(ty: &str, status: &str) -> Checked {
    let message = match status {
        "ACTIVE" => return Ok(()),
        "DISABLED" if DISABLEABLE_TRIGGERS.contains(&ty) => return Ok(()),
        "DISABLED" => format!("{ty} triggers cannot be DISABLED"),
        other => format!("trigger_status `{other}` is not ACTIVE or DISABLED"),
    };
    Err(violation("trigger_status", INVALID_PARAMETER, message))
}

/// Dependency names: 1–96 chars, `[A-Za-z0-9_.-]`, starts with a letter, ends with letter/digit.
pub fn is_valid_dependency_name(name: &str) -> bool {
    DEPENDENCY_NAME.is_match(name)
}

/// A dependency version's `depend_type` (FSS.1032): `zip` (uploaded) or `obs` (a link).
pub fn depend_type(kind: &str) -> Checked {
    check(matches!(kind, "zip" | "obs"), "depend_type", "FSS.1032", || {
        format!("depend_type `{kind}` is not zip or obs")
    })
}

/// A dependency's `name` (FSS.1024).
pub fn dependency_name(name: &str) -> Checked {
    check(is_valid_dependency_name(name), "name", "FSS.1024", || {
        format!("dependency name `{name}` is invalid")
    })
}

/// An alias's `name` (FSS.1014): 1–64 chars of `[A-Za-z0-9_-]`, starts with a letter, ends
/// with a letter or digit, and is not `latest`.
pub fn alias_name(name: &str) -> Checked {
    let ok = ALIAS_NAME.is_match(name) && name.len() <= ALIAS_NAME_MAX && name != "latest";
    check(ok, "name", "FSS.1014", || format!("alias name `{name}` is invalid"))
}

/// A published version's `version` (FSS.1015): 1–42 chars of `[A-Za-z0-9_.-]`, starts with a
/// letter or digit, and is not `latest`.
pub fn version_name(name: &str) -> Checked {
    let ok = VERSION_NAME.is_match(name) && name != "latest";
    check(ok, "version", "FSS.1015", || {
        format!("version name `{name}` is invalid")
    })
}

/// An alias's gray traffic (`additional_version_weights`, FSS.1091/1092/1093): at most one
/// additional version, which is neither `latest` nor the alias's main version `main`, with a
/// whole percentage 0–100 (`None`: the value was not a whole number).
pub fn alias_weights(main: &str, weights: &[(&str, Option<i64>)]) -> Checked {
    let field = "additional_version_weights";
    check(weights.len() <= 1, field, "FSS.1091", || {
        format!(
            "an alias sends traffic to at most one additional version, not {}",
            weights.len()
        )
    })?;
    for (version, weight) in weights {
        check(*version != "latest", field, "FSS.1091", || {
            "the latest version cannot be an additional version".to_string()
        })?;
        check(*version != main, field, "FSS.1093", || {
            format!("the additional version {version} is the alias's main version")
        })?;
        check(
            weight.is_some_and(|w| (0..=100).contains(&w)),
            field,
            "FSS.1092",
            || format!("the weight of {version} must be a whole percentage, 0–100"),
        )?;
    }
    Ok(())
}

/// Workflow names: 1–64 chars of `[A-Za-z0-9_-]` starting with a letter.
pub fn is_valid_workflow_name(name: &str) -> bool {
    WORKFLOW_NAME.is_match(name)
}

/// A workflow definition's `name`.
pub fn workflow_name(name: &str) -> Checked {
    check(is_valid_workflow_name(name), "name", INVALID_PARAMETER, || {
        format!("workflow name `{name}` must start with a letter and use letters, digits, _ and - (1-64)")
    })
}

/// A workflow definition's `mode`.
pub fn workflow_mode(mode: &str) -> Checked {
    check(WORKFLOW_MODES.contains(&mode), "mode", INVALID_PARAMETER, || {
        format!("mode `{mode}` is not NORMAL or EXPRESS")
    })
}

/// Stack names (fgform's own rule: they end up in tags and state file names).
pub fn is_valid_stack_name(name: &str) -> bool {
    STACK_NAME.is_match(name)
}

/// Stage names (fgform's own rule, like stack names: they end up in state file names and,
/// with `${stage}`, in stack names; no `.`, which separates the stage in overlay file names).
pub fn is_valid_stage_name(name: &str) -> bool {
    STAGE_NAME.is_match(name)
}

/// Runtimes whose handler is free-form (not `file.function`).
fn free_form_handler(runtime: &str) -> bool {
    matches!(runtime, "Custom Image" | "http" | "Custom")
}

/// `handler` as the API checks it (FSS.1003): `file.function` of 3–128 characters without
/// whitespace, or any 1–128 characters for Custom, http and Custom Image runtimes.
pub fn handler(handler: &str, runtime: &str) -> Checked {
    if free_form_handler(runtime) {
        return check(
            !handler.is_empty() && handler.len() <= 128,
            "handler",
            "FSS.1003",
            || "invalid handler".into(),
        );
    }
    let ok = HANDLER_LEN.contains(&handler.len()) && handler.contains('.') && !handler.contains(char::is_whitespace);
    check(ok, "handler", "FSS.1003", || {
        format!("handler `{handler}` must look like file.function (3-128 characters)")
    })
}

/// Handlers a manifest may declare: what the API accepts, written as `file.func` (3–128
/// characters, non-empty parts around every `.`), or `-` for Custom Image.
pub fn is_valid_handler(text: &str, runtime: &str) -> bool {
    let form = match runtime {
        "Custom Image" => text == "-" || HANDLER_FORM.is_match(text),
        _ => HANDLER_LEN.contains(&text.chars().count()) && HANDLER_FORM.is_match(text),
    };
    form && handler(text, runtime).is_ok()
}

/// `runtime` (FSS.1005).
pub fn runtime(runtime: &str) -> Checked {
    check(RUNTIMES.contains(&runtime), "runtime", "FSS.1005", || {
        format!("runtime `{runtime}` is not supported")
    })
}

pub fn is_valid_runtime(name: &str) -> bool {
    runtime(name).is_ok()
}

/// `memory_size` in MB (FSS.1007).
pub fn memory_size(memory: i64) -> Checked {
    check(MEMORY_SIZES.contains(&memory), "memory_size", "FSS.1007", || {
        format!("memory_size {memory} is not one of {MEMORY_SIZES:?}")
    })
}

/// `timeout` in seconds (FSS.1008).
pub fn timeout(timeout: i64) -> Checked {
    check(TIMEOUT_RANGE.contains(&timeout), "timeout", "FSS.1008", || {
        format!(
            "timeout {timeout} is outside {}-{} seconds",
            TIMEOUT_RANGE.start(),
            TIMEOUT_RANGE.end()
        )
    })
}

/// `user_data` / `encrypted_user_data`: how many variables (FSS.1017).
pub fn user_data_keys(field: &str, keys: usize) -> Checked {
    check(keys <= USER_DATA_MAX_KEYS, field, "FSS.1017", || {
        format!("{field} has {keys} keys; at most {USER_DATA_MAX_KEYS} are allowed")
    })
}

/// `user_data` / `encrypted_user_data`: bytes of the JSON object string (FSS.1018).
pub fn user_data_bytes(field: &str, bytes: usize) -> Checked {
    check(bytes <= USER_DATA_MAX_BYTES, field, "FSS.1018", || {
        format!("{field} is {bytes} bytes; at most {USER_DATA_MAX_BYTES} are allowed")
    })
}

/// `description` of a function, dependency or workflow: characters (FSS.1019).
pub fn description(text: &str) -> Checked {
    check(
        text.chars().count() <= DESCRIPTION_MAX,
        "description",
        "FSS.1019",
        || format!("description is longer than {DESCRIPTION_MAX} characters"),
    )
}

fn ranged(field: &str, value: i64, range: &RangeInclusive<i64>, code: &'static str) -> Checked {
    check(range.contains(&value), field, code, || {
        format!("{field} {value} is outside {}..{}", range.start(), range.end())
    })
}

/// `strategy_config.concurrency` or `max_instance_num` (FSS.1026).
pub fn max_instances(field: &str, n: i64) -> Checked {
    ranged(field, n, &MAX_INSTANCES, "FSS.1026")
}

/// `strategy_config.concurrent_num` (FSS.1026).
pub fn concurrent_num(n: i64) -> Checked {
    ranged("strategy_config.concurrent_num", n, &CONCURRENT_NUM, "FSS.1026")
}

/// `initializer_timeout` (FSS.1405).
pub fn initializer_timeout(t: i64) -> Checked {
    check(
        INITIALIZER_TIMEOUT.contains(&t),
        "initializer_timeout",
        "FSS.1405",
        || "initializer_timeout must be 1-300 seconds".into(),
    )
}

/// `pre_stop_timeout`.
pub fn pre_stop_timeout(t: i64) -> Checked {
    check(
        PRE_STOP_TIMEOUT.contains(&t),
        "pre_stop_timeout",
        INVALID_PARAMETER,
        || "pre_stop_timeout must be 1-90 seconds".into(),
    )
}

/// `mount_config.mount_user.user_id` / `user_group_id` (FSS.1075).
pub fn mount_id(key: &str, id: i64) -> Checked {
    let ok = MOUNT_ID_RANGE.contains(&id) && !MOUNT_ID_RESERVED.contains(&id);
    check(ok, &format!("mount_config.mount_user.{key}"), "FSS.1075", || {
        format!("mount_user.{key} {id} is not allowed")
    })
}

/// How many `mount_config.func_mounts`.
pub fn mount_count(n: usize) -> Checked {
    check(n <= MAX_MOUNTS, "mount_config.func_mounts", INVALID_PARAMETER, || {
        format!("at most {MAX_MOUNTS} mounts are allowed")
    })
}

/// `mount_type` of one mount.
pub fn mount_type(kind: &str) -> Checked {
    check(MOUNT_TYPES.contains(&kind), "mount_type", INVALID_PARAMETER, || {
        format!("mount_type `{kind}` is not sfs, sfsTurbo or ecs")
    })
}

/// `max_async_event_age_in_seconds` of an async invoke config.
pub fn async_event_age(age: i64) -> Checked {
    check(
        ASYNC_EVENT_AGE.contains(&age),
        "max_async_event_age_in_seconds",
        INVALID_PARAMETER,
        || {
            format!(
                "max_async_event_age_in_seconds {age} is outside {}-{}",
                ASYNC_EVENT_AGE.start(),
                ASYNC_EVENT_AGE.end()
            )
        },
    )
}

/// `max_async_retry_attempts` of an async invoke config.
pub fn async_retries(retries: i64) -> Checked {
    check(
        ASYNC_RETRIES.contains(&retries),
        "max_async_retry_attempts",
        INVALID_PARAMETER,
        || {
            format!(
                "max_async_retry_attempts {retries} is outside {}-{}",
                ASYNC_RETRIES.start(),
                ASYNC_RETRIES.end()
            )
        },
    )
}

/// How many tags a function carries.
pub fn tag_count(n: usize) -> Checked {
    check(n <= TAGS_MAX, "tags", INVALID_PARAMETER, || {
        format!("a function can carry at most {TAGS_MAX} tags")
    })
}

/// A tag key: 1–128 characters.
pub fn tag_key(key: &str) -> Checked {
    let ok = !key.is_empty() && key.chars().count() <= TAG_KEY_MAX;
    check(ok, "tags.key", INVALID_PARAMETER, || {
        format!("tag key `{key}` must be 1-{TAG_KEY_MAX} characters")
    })
}

/// A tag value: at most 255 characters.
pub fn tag_value(key: &str, value: &str) -> Checked {
    check(
        value.chars().count() <= TAG_VALUE_MAX,
        "tags.value",
        INVALID_PARAMETER,
        || format!("tag value of `{key}` is longer than {TAG_VALUE_MAX} characters"),
    )
}

#[cfg(test)]
mod tests;
