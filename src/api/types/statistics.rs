//! `ListFunctionStatistics` (`GET …/functions/{func_urn}/statistics/{period}`): a function's
//! metrics over the last `period` minutes, one slot per minute. A version-qualified URN
//! (`…:func:v3`) gives what that version ran (directly or through an alias), an alias URN
//! (`…:func:!prod`) what went through the alias.
//!
//! The SDK (3.1.219) models each metric as a list of `SlaReportsValue {timestamp, value}`,
//! with no unit for the timestamp; the emulator sends epoch milliseconds of each minute's
//! start. Read leniently: a timestamp may come as a number or a string, and one below
//! 10^11 is taken for seconds (10^11 ms is 1973, 10^11 s the year 5138), so both agree.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Epoch values below this are seconds, not milliseconds.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// One minute of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Epoch milliseconds of the minute's start.
    #[serde(deserialize_with = "epoch_ms")]
    pub timestamp: i64,
    /// The metric's value in that minute (a count, or milliseconds for durations).
    #[serde(default, deserialize_with = "number")]
    pub value: f64,
}

/// A `ListFunctionStatistics` answer; a metric the API left out is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionStatistics {
    /// Invocations that ran (rejected ones not included).
    #[serde(default, deserialize_with = "super::null_default")]
    pub count: Vec<Slot>,
    /// Invocations that failed (function and system errors).
    #[serde(default, deserialize_with = "super::null_default")]
    pub fail_count: Vec<Slot>,
    /// The handler raised, timed out or ran out of memory.
    #[serde(default, deserialize_with = "super::null_default")]
    pub function_error_count: Vec<Slot>,
    /// The platform failed (the instance, or the invocation could not run).
    #[serde(default, deserialize_with = "super::null_default")]
    pub system_error_count: Vec<Slot>,
    /// Invocations refused (throttled).
    #[serde(default, deserialize_with = "super::null_default")]
    pub reject_count: Vec<Slot>,
    /// Average duration, ms.
    #[serde(default, deserialize_with = "super::null_default")]
    pub duration: Vec<Slot>,
    /// Longest duration, ms.
    #[serde(default, deserialize_with = "super::null_default")]
    pub max_duration: Vec<Slot>,
    /// Shortest duration, ms.
    #[serde(default, deserialize_with = "super::null_default")]
    pub min_duration: Vec<Slot>,
}

/// The sums of a [`FunctionStatistics`] from some time on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Invocations that ran (`count`).
    pub invocations: u64,
    /// Failed invocations: `function_error_count` + `system_error_count`, or `fail_count`
    /// when the answer carried neither.
    pub errors: u64,
    /// Refused invocations (`reject_count`).
    pub rejected: u64,
    /// The longest duration in any slot, ms (0 without slots).
    pub max_duration_ms: f64,
}

impl Totals {
    /// `errors / invocations`, or `None` without invocations.
    pub fn error_rate(&self) -> Option<f64> {
        (self.invocations > 0).then(|| self.errors as f64 / self.invocations as f64)
    }
}

impl FunctionStatistics {
    /// The sums over the slots whose timestamp is at or after `from_ms` (epoch ms).
    pub fn since(&self, from_ms: i64) -> Totals {
        let sum = |metric: &[Slot]| -> u64 {
            let total: f64 = metric
                .iter()
                .filter(|s| s.timestamp >= from_ms)
                .map(|s| s.value.max(0.0))
                .sum();
            total.round() as u64
        };
        let errors = if self.function_error_count.is_empty() && self.system_error_count.is_empty() {
            sum(&self.fail_count)
        } else {
            sum(&self.function_error_count) + sum(&self.system_error_count)
        };
        Totals {
            invocations: sum(&self.count),
            errors,
            rejected: sum(&self.reject_count),
            max_duration_ms: self
                .max_duration
                .iter()
                .filter(|s| s.timestamp >= from_ms)
                .map(|s| s.value)
                .fold(0.0, f64::max),
        }
    }
}

/// A number, or a string holding one.
fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(0.0),
        Value::Number(n) => n.as_f64().ok_or_else(|| serde::de::Error::custom("not a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a number"))),
        other => Err(serde::de::Error::custom(format!("{other} is not a number"))),
    }
}

/// Epoch milliseconds from a number or a string of epoch seconds or milliseconds. A
/// timestamp that cannot be read is an error, not a slot at time 0 that `since` would
/// quietly leave out.
fn epoch_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let n = match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(|f| f as i64)),
        _ => None,
    };
    let n = n.ok_or_else(|| serde::de::Error::custom("timestamp is not an epoch number"))?;
    Ok(if n.abs() < SECONDS_BELOW { n * 1000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_767_261_600_000;

    #[test]
    fn slots_read_numbers_strings_seconds_and_missing_metrics() {
        let stats: FunctionStatistics = serde_json::from_value(json!({
            "count": [
                {"timestamp": T0, "value": 3},
                {"timestamp": (T0 + 60_000).to_string(), "value": "2"},
                {"timestamp": (T0 + 120_000) / 1000, "value": 1.0},
            ],
            "fail_count": null,
            "reserved_instance_num": [{"timestamp": T0, "value": 0}],
        }))
        .unwrap();
        let times: Vec<i64> = stats.count.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [T0, T0 + 60_000, T0 + 120_000], "ms, ms as text, seconds");
        let values: Vec<f64> = stats.count.iter().map(|s| s.value).collect();
        assert_eq!(values, [3.0, 2.0, 1.0]);
        assert!(stats.fail_count.is_empty() && stats.duration.is_empty() && stats.reject_count.is_empty());
        let bad = serde_json::from_value::<FunctionStatistics>(json!({"count": [{"timestamp": "soon", "value": 1}]}));
        assert!(bad.is_err(), "an unreadable timestamp is refused");
    }

    #[test]
    fn since_sums_the_slots_from_a_time_on() {
        let slot = |minute: i64, value: f64| json!({"timestamp": T0 + minute * 60_000, "value": value});
        let stats: FunctionStatistics = serde_json::from_value(json!({
            "count": [slot(0, 10.0), slot(1, 20.0), slot(2, 30.0)],
            "fail_count": [slot(0, 9.0), slot(2, 9.0)],
            "function_error_count": [slot(0, 1.0), slot(2, 2.0)],
            "system_error_count": [slot(1, 4.0)],
            "reject_count": [slot(2, 5.0)],
            "max_duration": [slot(0, 900.0), slot(1, 120.5)],
        }))
        .unwrap();
        assert_eq!(
            stats.since(T0 + 60_000),
            Totals {
                invocations: 50,
                errors: 6,
                rejected: 5,
                max_duration_ms: 120.5
            }
        );
        assert_eq!(stats.since(T0).invocations, 60, "a slot at from_ms counts");
        assert_eq!(stats.since(T0 + 1).invocations, 50, "one before it does not");
        assert_eq!(stats.since(T0 + 3 * 60_000), Totals::default());
        assert_eq!(stats.since(T0).error_rate(), Some(7.0 / 60.0));
        assert_eq!(Totals::default().error_rate(), None);
    }

    #[test]
    fn errors_fall_back_to_fail_count_without_the_split() {
        let stats: FunctionStatistics = serde_json::from_value(json!({
            "count": [{"timestamp": T0, "value": 10}],
            "fail_count": [{"timestamp": T0, "value": 4}],
        }))
        .unwrap();
        assert_eq!(stats.since(T0).errors, 4);
        // With the split present, even all zero, fail_count is not added on top.
        let split: FunctionStatistics = serde_json::from_value(json!({
            "fail_count": [{"timestamp": T0, "value": 4}],
            "function_error_count": [{"timestamp": T0, "value": 0}],
        }))
        .unwrap();
        assert_eq!(split.since(T0).errors, 0);
    }
}
