//! The API's documented limits and enumerations (`shared/reference/fgs-api.md`), in one
//! place: the emulator enforces them and the manifest validator checks them offline.

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

/// Accepted `memory_size` values in MB.
pub const MEMORY_SIZES: &[i64] = &[
    128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 8192, 10240,
];

/// `timeout` range in seconds (current API; 900 was the classic cap).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 3..=259_200;
/// `code_type` values.
pub const CODE_TYPES: &[&str] = &["inline", "zip", "obs", "jar", "Custom-Image-Swr"];
/// Longest function name.
pub const FUNCTION_NAME_MAX: usize = 60;
/// `user_data` / `encrypted_user_data`: at most this many keys…
pub const USER_DATA_MAX_KEYS: usize = 20;
/// …and this many bytes as serialized JSON.
pub const USER_DATA_MAX_BYTES: usize = 4096;
/// `description` length.
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
/// Largest raw zip that fits a base64 upload under the gateway's 12 MB body cap.
pub const BASE64_UPLOAD_MAX_BYTES: u64 = 9 * 1024 * 1024;
/// Decoded dependency package size through `depend_file`.
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
/// Trigger types, TIMER first (the manifest's generic types are the rest).
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
/// Trigger types that accept `trigger_status: DISABLED`.
pub const DISABLEABLE_TRIGGERS: &[&str] = &["TIMER", "DDS", "DMS", "KAFKA", "LTS"];
/// Workflow name length.
pub const WORKFLOW_NAME_MAX: usize = 64;
/// Alias name length.
pub const ALIAS_NAME_MAX: usize = 64;
/// Tags per function, key and value length.
pub const TAGS_MAX: usize = 20;
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 255;

/// `cpu` in millicores for a memory size: `memory / 128 * 100 + 200`.
pub fn cpu_for_memory(memory_mb: i64) -> i64 {
    memory_mb / 128 * 100 + 200
}
