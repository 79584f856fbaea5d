//! The API's documented limits and enumerations (`shared/reference/fgs-api.md`): the one
//! table. The emulator enforces them and the manifest validator checks them offline, both
//! through the rules in [`crate::api::rules`]. Pure values and size arithmetic, no I/O.

/// Runtimes accepted by `runtime` (SDK 3.1.219 list, exact spelling).
pub const RUNTIMES: &[&str] = &[
    "Python2.7",
    "Python3.6",
    "Python3.9",
    "Python3.10",
    "Go1.8",
    "Go1.x",
    "Java8",
    "Java11",
    "Java17",
    "Node.js6.10",
    "Node.js8.10",
    "Node.js10.16",
    "Node.js12.13",
    "Node.js14.18",
    "Node.js16.17",
    "Node.js18.15",
    "C#(.NET Core 2.0)",
    "C#(.NET Core 2.1)",
    "C#(.NET Core 3.1)",
    "C#(.NET Core 6.0)",
    "Custom",
    "PHP7.3",
    "PHP8.3",
    "Cangjie1.0",
    "http",
    "Custom Image",
];

/// Accepted `memory_size` values in MB (§2; the invoke header also lists 8192 and 10240).
pub const MEMORY_SIZES: &[i64] = &[
    128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 8192, 10240,
];

/// `timeout` range in seconds (current API; 900 was the classic cap).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 3..=259_200;
/// `code_type` values.
pub const CODE_TYPES: &[&str] = &["inline", "zip", "obs", "jar", "Custom-Image-Swr"];
/// Longest `package` (app) name.
pub const PACKAGE_NAME_MAX: usize = 64;
/// Longest function name.
pub const FUNCTION_NAME_MAX: usize = 60;
/// `user_data` / `encrypted_user_data`: at most this many keys…
pub const USER_DATA_MAX_KEYS: usize = 20;
/// …and this many bytes as serialized JSON.
pub const USER_DATA_MAX_BYTES: usize = 4096;
/// `description` length (characters) for functions, dependencies and workflows (FSS.1019).
pub const DESCRIPTION_MAX: usize = 512;
/// Handler length.
pub const HANDLER_LEN: std::ops::RangeInclusive<usize> = 3..=128;
/// `initializer_timeout` seconds.
pub const INITIALIZER_TIMEOUT: std::ops::RangeInclusive<i64> = 1..=300;
/// `pre_stop_timeout` seconds.
pub const PRE_STOP_TIMEOUT: std::ops::RangeInclusive<i64> = 1..=90;
/// `strategy_config.concurrency` (max instances; −1 unlimited, 0 disabled).
pub const MAX_INSTANCES: std::ops::RangeInclusive<i64> = -1..=1000;
/// `strategy_config.concurrent_num` (requests per instance).
pub const CONCURRENT_NUM: std::ops::RangeInclusive<i64> = 1..=1000;
/// Decoded package size through `func_code.file`.
pub const PACKAGE_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Decoded inline code size.
pub const INLINE_MAX_BYTES: u64 = 10 * 1024;
/// A function code zip larger than this (raw bytes) cannot be uploaded base64-inline: the
/// gateway caps bodies at 12 MB, so ≲ 9 MB of zip survives base64 (§3.1).
pub const INLINE_CODE_MAX_BYTES: u64 = 9 * 1024 * 1024;
/// Decoded dependency package size through `depend_file`, which is also the largest
/// dependency zip a base64 upload may carry (§7.1).
pub const DEPENDENCY_MAX_BYTES: u64 = 40 * 1024 * 1024;
/// Dependency name length.
pub const DEPENDENCY_NAME_MAX: usize = 96;
/// Async invoke: `max_async_event_age_in_seconds`.
pub const ASYNC_EVENT_AGE: std::ops::RangeInclusive<i64> = 1..=86_400;
/// Async invoke: `max_async_retry_attempts`.
pub const ASYNC_RETRIES: std::ops::RangeInclusive<i64> = 0..=8;
/// Async destinations.
pub const ASYNC_DESTINATIONS: &[&str] = &["OBS", "SMN", "DIS", "FunctionGraph"];
/// Timer trigger name length.
pub const TIMER_NAME_MAX: usize = 64;
/// Trigger types, TIMER first: the rest are the ones a manifest's generic trigger may name
/// ([`GENERIC_TRIGGER_TYPES`]).
pub const TRIGGER_TYPES: &[&str] = &[
    "TIMER",
    "APIG",
    "DEDICATEDGATEWAY",
    "CTS",
    "DDS",
    "DMS",
    "DIS",
    "LTS",
    "OBS",
    "SMN",
    "KAFKA",
    "OPENSOURCEKAFKA",
    "RABBITMQ",
    "ROCKETMQ",
    "EVENTGRID",
    "APIC",
    "IOTDA",
];
/// Trigger types other than TIMER (§6.2) that a generic trigger may name.
pub const GENERIC_TRIGGER_TYPES: &[&str] = TRIGGER_TYPES.split_at(1).1;
/// Trigger types that accept `trigger_status: DISABLED` (§6.2).
pub const DISABLEABLE_TRIGGERS: &[&str] = &["TIMER", "DDS", "DMS", "KAFKA", "LTS"];
/// Workflow name length.
pub const WORKFLOW_NAME_MAX: usize = 64;
/// Alias name length.
pub const ALIAS_NAME_MAX: usize = 64;
/// Aliases per function (`fgs_alias_num`, guide §3.1).
pub const ALIASES_PER_FUNCTION: usize = 10;
/// Tags (TMS convention): at most 20 per function, key ≤ 128 chars, value ≤ 255 chars.
pub const TAGS_MAX: usize = 20;
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 255;

/// At most this many `func_mounts`.
pub const MAX_MOUNTS: usize = 5;
/// `mount_type` values.
pub const MOUNT_TYPES: &[&str] = &["sfs", "sfsTurbo", "ecs"];
/// Mount user/group ids: −1..=65534, except these reserved ones.
pub const MOUNT_ID_RANGE: std::ops::RangeInclusive<i64> = -1..=65534;
pub const MOUNT_ID_RESERVED: &[i64] = &[0, 1000, 1002];
/// OBS async destination `expires` days.
pub const OBS_DESTINATION_EXPIRES: std::ops::RangeInclusive<i64> = 0..=365;
/// Workflow limits (§8.1): states, distinct functions, modes.
pub const WORKFLOW_MAX_STATES: usize = 100;
pub const WORKFLOW_MAX_FUNCTIONS: usize = 100;
pub const WORKFLOW_MODES: &[&str] = &["NORMAL", "EXPRESS"];
/// Tag key fgform sets on every function to its owning state (`model::Owner`: stack, stage,
/// lineage); users cannot set it.
pub const OWNERSHIP_TAG_KEY: &str = "fgform-stack";
/// `cpu` in millicores for a memory size: `memory / 128 * 100 + 200`.
pub fn cpu_for_memory(memory_mb: i64) -> i64 {
    memory_mb / 128 * 100 + 200
}

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
            Upload::Dependency => DEPENDENCY_MAX_BYTES,
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

// Inline code fits a base64 upload, which fits the package limit: checked when compiling.
const _: () = assert!(INLINE_MAX_BYTES < INLINE_CODE_MAX_BYTES && INLINE_CODE_MAX_BYTES < PACKAGE_MAX_BYTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert!(MEMORY_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(TRIGGER_TYPES[0], "TIMER");
        assert!(!GENERIC_TRIGGER_TYPES.contains(&"TIMER"));
        assert_eq!(GENERIC_TRIGGER_TYPES.len() + 1, TRIGGER_TYPES.len());
        assert!(DISABLEABLE_TRIGGERS.iter().all(|t| TRIGGER_TYPES.contains(t)));
        assert_eq!(cpu_for_memory(128), 300);
        assert_eq!(cpu_for_memory(1024), 1000);
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
        let refusal = upload_refusal(Upload::Dependency, DEPENDENCY_MAX_BYTES + 1).unwrap();
        assert!(
            refusal.starts_with("is 40.0 MiB (41943041 bytes), over the 40.0 MiB the API accepts"),
            "{refusal}"
        );
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
    }
}
