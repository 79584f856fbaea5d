//! Every limit of the FunctionGraph API that can be checked offline, in one place, as pure
//! functions over plain values (see `shared/reference/fgs-api.md`). The manifest validator
//! and the emulator both use these, so a manifest that validates is one the emulator accepts.

use std::sync::LazyLock;

use regex::Regex;

/// Allowed `memory_size` values in MB (§2; the invoke header also lists 8192 and 10240).
pub const MEMORY_SIZES: &[u32] = &[
    128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 8192, 10240,
];
/// Function `timeout` range in seconds (§2; the long-running bound).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 3..=259_200;
/// Runtimes (§2.1), exact strings: the emulator's list.
pub use crate::api::limits::RUNTIMES;
/// `user_data` / `encrypted_user_data`: at most this many keys.
pub const USER_DATA_MAX_KEYS: usize = 20;
/// `user_data` / `encrypted_user_data`: at most this many bytes once serialized.
pub const USER_DATA_MAX_BYTES: usize = 4096;
/// Description length (characters) for functions and dependencies (FSS.1019).
pub const DESCRIPTION_MAX_CHARS: usize = 512;
/// Handler length range (characters).
pub const HANDLER_LEN: std::ops::RangeInclusive<usize> = 3..=128;
/// Async config: `max_async_event_age_in_seconds`.
pub const ASYNC_MAX_EVENT_AGE: std::ops::RangeInclusive<u32> = 1..=86_400;
/// Async config: `max_async_retry_attempts`.
pub const ASYNC_MAX_RETRIES: std::ops::RangeInclusive<u32> = 0..=8;
/// `strategy_config.concurrency` (max instances; −1 unlimited, 0 disabled).
pub const MAX_INSTANCES: std::ops::RangeInclusive<i64> = -1..=1000;
/// `strategy_config.concurrent_num` (requests per instance).
pub const CONCURRENCY_PER_INSTANCE: std::ops::RangeInclusive<i64> = 1..=1000;
/// `initializer_timeout` seconds.
pub const INITIALIZER_TIMEOUT: std::ops::RangeInclusive<u32> = 1..=300;
/// `pre_stop_timeout` seconds.
pub const PRE_STOP_TIMEOUT: std::ops::RangeInclusive<u32> = 1..=90;
/// At most this many `func_mounts`.
pub const MAX_MOUNTS: usize = 5;
/// Mount user/group ids: −1..=65534, except these reserved ones.
pub const MOUNT_ID_RANGE: std::ops::RangeInclusive<i64> = -1..=65534;
pub const MOUNT_ID_RESERVED: &[i64] = &[0, 1000, 1002];
/// OBS async destination `expires` days.
pub const OBS_DESTINATION_EXPIRES: std::ops::RangeInclusive<i64> = 0..=365;
/// Tags (TMS convention): at most 20, key ≤ 128 chars, value ≤ 255 chars.
pub const MAX_TAGS: usize = 20;
pub const TAG_KEY_MAX_CHARS: usize = 128;
pub const TAG_VALUE_MAX_CHARS: usize = 255;
/// A function code zip larger than this (raw bytes) cannot be uploaded base64-inline: the
/// gateway caps bodies at 12 MB, so ≲ 9 MB of zip survives base64 (§3.1).
pub const INLINE_CODE_MAX_BYTES: u64 = 9 * 1024 * 1024;
/// A dependency zip larger than this cannot be uploaded base64-inline (§7.1).
pub const INLINE_DEPENDENCY_MAX_BYTES: u64 = 40 * 1024 * 1024;
/// Any function package over this is refused by the service (FSS.1071).
pub const PACKAGE_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// The API gateway refuses a request body over 12 MiB (`APIG.0201`, §10), whatever the API
/// behind it would accept: a base64 upload must fit in it too.
pub const REQUEST_BODY_MAX_BYTES: u64 = 12 * 1024 * 1024;
/// Room an upload request needs besides the base64 package, at most: a function's whole
/// configuration (two 4 KiB user_data maps, escaped, a 512-character description, …) or a
/// dependency's fields. A margin: the package must leave this much of the body free.
pub const UPLOAD_REQUEST_OVERHEAD_BYTES: u64 = 64 * 1024;

/// The length of `bytes` bytes in (padded) base64.
pub const fn base64_len(bytes: u64) -> u64 {
    bytes.div_ceil(3) * 4
}

/// What a local package is uploaded as, base64 in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// `func_code.file` of a function create / code update.
    FunctionCode,
    /// `depend_file` of a dependency version create.
    Dependency,
}

impl Upload {
    /// The largest package the API accepts decoded, for this kind of upload.
    pub fn max_package_bytes(self) -> u64 {
        match self {
            Upload::FunctionCode => INLINE_CODE_MAX_BYTES,
            Upload::Dependency => INLINE_DEPENDENCY_MAX_BYTES,
        }
    }

    /// The largest package whose upload request fits the gateway's body limit.
    pub fn max_request_package_bytes(self) -> u64 {
        (REQUEST_BODY_MAX_BYTES - UPLOAD_REQUEST_OVERHEAD_BYTES) / 4 * 3
    }
}

/// Why the API would refuse a base64 upload of a `package_bytes` zip, or `None` if it fits:
/// the decoded size against the API's limit, then the request it makes against the
/// gateway's. The text completes "the package …".
pub fn upload_refusal(kind: Upload, package_bytes: u64) -> Option<String> {
    let size = format!("{} ({package_bytes} bytes)", human_bytes(package_bytes));
    if package_bytes > kind.max_package_bytes() {
        return Some(format!(
            "is {size}, over the {} the API accepts in a base64 upload",
            human_bytes(kind.max_package_bytes())
        ));
    }
    let request = base64_len(package_bytes) + UPLOAD_REQUEST_OVERHEAD_BYTES;
    (request > REQUEST_BODY_MAX_BYTES).then(|| {
        format!(
            "is {size}: base64, its upload request would be about {}, over the {} the API gateway accepts (at most {} bytes of package fit)",
            human_bytes(request),
            human_bytes(REQUEST_BODY_MAX_BYTES),
            kind.max_request_package_bytes()
        )
    })
}

/// Human-readable byte counts (B, KiB, MiB).
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// Workflow limits (§8.1).
pub const WORKFLOW_MAX_STATES: usize = 100;
pub const WORKFLOW_MAX_FUNCTIONS: usize = 100;
pub const WORKFLOW_MODES: &[&str] = &["NORMAL", "EXPRESS"];
/// Tag key fgform sets on every function to its owning state (`model::Owner`: stack, stage,
/// lineage); users cannot set it.
pub const OWNERSHIP_TAG_KEY: &str = "fgform-stack";
/// Trigger types other than TIMER (§6.2) that a generic trigger may name: the emulator's
/// list, which starts with TIMER, without it.
pub const TRIGGER_TYPES: &[&str] = crate::api::limits::TRIGGER_TYPES.split_at(1).1;
/// Trigger types that accept `trigger_status: DISABLED` (§6.2).
pub use crate::api::limits::DISABLEABLE_TRIGGERS as TRIGGER_TYPES_DISABLEABLE;

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
regex!(HANDLER, r"^[^.\s]+(\.[^.\s]+)+$");

/// Function names: 1–60 chars, `[A-Za-z0-9_-]`, starts with a letter, ends with a letter/digit.
pub fn is_valid_function_name(name: &str) -> bool {
    FUNCTION_NAME.is_match(name)
}

/// Timer trigger names (`event_data.name`).
pub fn is_valid_timer_name(name: &str) -> bool {
    TIMER_NAME.is_match(name)
}

/// Dependency names: 1–96 chars, `[A-Za-z0-9_.-]`, starts with a letter, ends with letter/digit.
pub fn is_valid_dependency_name(name: &str) -> bool {
    DEPENDENCY_NAME.is_match(name)
}

/// Workflow names: 1–64 chars of `[A-Za-z0-9_-]` starting with a letter.
pub fn is_valid_workflow_name(name: &str) -> bool {
    WORKFLOW_NAME.is_match(name)
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

/// Handlers: `file.func` form (3–128 chars, at least one `.`), or `-` for Custom Image.
pub fn is_valid_handler(handler: &str, runtime: &str) -> bool {
    if runtime == "Custom Image" {
        return handler == "-" || HANDLER.is_match(handler);
    }
    HANDLER_LEN.contains(&handler.chars().count()) && HANDLER.is_match(handler)
}

pub fn is_valid_memory(memory: u32) -> bool {
    MEMORY_SIZES.contains(&memory)
}

pub fn is_valid_runtime(runtime: &str) -> bool {
    RUNTIMES.contains(&runtime)
}

pub use crate::api::schedule::{check_cron, check_rate};

/// The serialized size of a user_data map as the API receives it (a JSON object string).
pub fn user_data_bytes(json: &str) -> usize {
    json.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_api() {
        for ok in ["1m", "60m", "24h", "1d", "30d", "3m"] {
            assert_eq!(check_rate(ok), Ok(()), "{ok}");
        }
        for bad in ["0m", "61m", "25h", "31d", "1s", "m", "", "1.5h", "-1d", "1 d"] {
            assert!(check_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn crons_follow_the_api() {
        for ok in [
            "0 30 2 * * ?",
            "0 */5 * * *",
            "0 0 8-18 ? * MON-FRI",
            "0 0 0 1 JAN,jul ?",
            "CRON_TZ=Asia/Shanghai 0 0 9 * * ?",
            "@every 1h30m",
            "@every 90s",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        for bad in [
            "* * *",
            "0 0 0 0 * ?",
            "0 60 * * * ?",
            "0 0 0 * 13 ?",
            "0 0 0 * * 7",
            "0 0 0 * * FOO",
            "@every",
            "@every 1 hour",
            "0 0 0 * * ? *",
            "0  0 0 * *",
            "0 5-1 * * *",
            "0 */0 * * *",
        ] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uploads_must_fit_the_api_and_the_gateway() {
        for kind in [Upload::FunctionCode, Upload::Dependency] {
            let fits = kind.max_request_package_bytes();
            assert_eq!(upload_refusal(kind, fits), None);
            assert!(base64_len(fits) + UPLOAD_REQUEST_OVERHEAD_BYTES <= REQUEST_BODY_MAX_BYTES);
            let refusal = upload_refusal(kind, fits + 3).expect("one base64 quantum more");
            assert!(
                refusal.contains("over the 12.0 MiB the API gateway accepts"),
                "{refusal}"
            );
        }
        // 9 MiB is the API's own inline limit, but base64 it alone fills the 12 MiB body.
        assert_eq!(base64_len(INLINE_CODE_MAX_BYTES), REQUEST_BODY_MAX_BYTES);
        assert!(upload_refusal(Upload::FunctionCode, INLINE_CODE_MAX_BYTES).is_some());
        let refusal = upload_refusal(Upload::Dependency, INLINE_DEPENDENCY_MAX_BYTES + 1).unwrap();
        assert!(
            refusal.starts_with("is 40.0 MiB (41943041 bytes), over the 40.0 MiB the API accepts"),
            "{refusal}"
        );
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
    }

    #[test]
    fn names_follow_the_api() {
        assert!(is_valid_function_name("a"));
        assert!(is_valid_function_name(&format!("a{}", "b".repeat(59))));
        assert!(!is_valid_function_name(&format!("a{}", "b".repeat(60))));
        assert!(!is_valid_function_name("a-"));
        assert!(!is_valid_function_name("1a"));
        assert!(is_valid_dependency_name("pillow.9-x"));
        assert!(!is_valid_dependency_name("pillow."));
        assert!(is_valid_stage_name("prod") && is_valid_stage_name("eu-west_2"));
        assert!(!is_valid_stage_name("pr.od") && !is_valid_stage_name("2prod") && !is_valid_stage_name("dev-"));
        assert!(is_valid_handler("index.handler", "Python3.9"));
        assert!(!is_valid_handler("index", "Python3.9"));
        assert!(is_valid_handler("-", "Custom Image"));
        assert!(is_valid_handler("com.example.Main::handle", "Java11"));
    }
}

#[cfg(test)]
mod agree_with_the_emulator {
    //! The emulator enforces `api::limits`; the manifest validator checks these. They must
    //! agree, or a manifest that validates could be refused on apply.
    use super::*;
    use crate::api::limits as api;

    #[test]
    fn offline_limits_equal_the_emulators() {
        assert_eq!(
            MEMORY_SIZES.iter().map(|m| *m as i64).collect::<Vec<_>>(),
            api::MEMORY_SIZES
        );
        assert_eq!(
            (*TIMEOUT_RANGE.start() as i64, *TIMEOUT_RANGE.end() as i64),
            (*api::TIMEOUT_RANGE.start(), *api::TIMEOUT_RANGE.end())
        );
        assert_eq!(
            (USER_DATA_MAX_KEYS, USER_DATA_MAX_BYTES),
            (api::USER_DATA_MAX_KEYS, api::USER_DATA_MAX_BYTES)
        );
        assert_eq!(DESCRIPTION_MAX_CHARS, api::DESCRIPTION_MAX);
        assert_eq!(HANDLER_LEN, api::HANDLER_LEN);
        assert_eq!(
            (*ASYNC_MAX_EVENT_AGE.start() as i64, *ASYNC_MAX_EVENT_AGE.end() as i64),
            (*api::ASYNC_EVENT_AGE.start(), *api::ASYNC_EVENT_AGE.end())
        );
        assert_eq!(
            (*ASYNC_MAX_RETRIES.start() as i64, *ASYNC_MAX_RETRIES.end() as i64),
            (*api::ASYNC_RETRIES.start(), *api::ASYNC_RETRIES.end())
        );
        assert_eq!(MAX_INSTANCES, api::MAX_INSTANCES);
        assert_eq!(CONCURRENCY_PER_INSTANCE, api::CONCURRENT_NUM);
        assert_eq!(
            (*INITIALIZER_TIMEOUT.start() as i64, *INITIALIZER_TIMEOUT.end() as i64),
            (*api::INITIALIZER_TIMEOUT.start(), *api::INITIALIZER_TIMEOUT.end())
        );
        assert_eq!(
            (*PRE_STOP_TIMEOUT.start() as i64, *PRE_STOP_TIMEOUT.end() as i64),
            (*api::PRE_STOP_TIMEOUT.start(), *api::PRE_STOP_TIMEOUT.end())
        );
        assert_eq!(
            (MAX_TAGS, TAG_KEY_MAX_CHARS, TAG_VALUE_MAX_CHARS),
            (api::TAGS_MAX, api::TAG_KEY_MAX, api::TAG_VALUE_MAX)
        );
        assert_eq!(INLINE_CODE_MAX_BYTES, api::BASE64_UPLOAD_MAX_BYTES);
        assert_eq!(INLINE_DEPENDENCY_MAX_BYTES, api::DEPENDENCY_MAX_BYTES);
        assert_eq!(PACKAGE_MAX_BYTES, api::PACKAGE_MAX_BYTES);
        assert_eq!(REQUEST_BODY_MAX_BYTES, crate::emulator::MAX_BODY_BYTES as u64);
        assert_eq!(api::TRIGGER_TYPES[0], "TIMER");
        assert!(!TRIGGER_TYPES.contains(&"TIMER"));
        assert_eq!(TRIGGER_TYPES.len() + 1, api::TRIGGER_TYPES.len());
    }
}
