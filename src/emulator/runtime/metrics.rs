//! Invocation metrics per function, version and alias, by minute of the emulator's clock:
//! what `ListFunctionStatistics` (`…/functions/{urn}/statistics/{period}`) and
//! `ListFunctionAsMetric` (`…/fgs/function/report`) serve. Kept in memory, for the last
//! [`KEPT_MINUTES`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Minutes of metrics kept.
const KEPT_MINUTES: i64 = 7 * 24 * 60;

/// How an invocation ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Success,
    /// The handler raised, timed out or ran out of memory.
    FunctionError,
    /// The instance failed, or the invocation could not run.
    SystemError,
    /// Throttled: every instance was busy.
    Rejected,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    count: u64,
    function_errors: u64,
    system_errors: u64,
    rejected: u64,
    total_ms: f64,
    max_ms: f64,
    min_ms: Option<f64>,
}

impl Bucket {
    /// Merges `other` into this bucket.
    fn add(&mut self, other: &Bucket) {
        self.count += other.count;
        self.function_errors += other.function_errors;
        self.system_errors += other.system_errors;
        self.rejected += other.rejected;
        self.total_ms += other.total_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
        self.min_ms = match (self.min_ms, other.min_ms) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
}

/// The version or alias name a deleted one's invocations are kept under: still in the
/// function's totals, no longer under a name that can be created again.
const DELETED: &str = "\u{0}deleted";

/// Which invocations a query counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Only this version (`latest` or a name).
    pub version: Option<String>,
    /// Only invocations through this alias.
    pub alias: Option<String>,
}

/// Key: function URN (unqualified), version, alias ("" for none), minute (epoch minutes).
type Key = (String, String, String, i64);

#[derive(Default)]
pub(crate) struct Metrics {
    buckets: Mutex<BTreeMap<Key, Bucket>>,
}

impl Metrics {
    /// Counts one invocation that ended at `at` after `ms`.
    pub fn record(&self, urn: &str, version: &str, alias: &str, at: DateTime<Utc>, ended: Ended, ms: f64) {
        let minute = at.timestamp().div_euclid(60);
        let mut buckets = self.buckets.lock();
        let b = buckets
            .entry((urn.to_string(), version.to_string(), alias.to_string(), minute))
            .or_default();
        match ended {
            Ended::Rejected => {
                b.rejected += 1;
                return;
            }
            Ended::FunctionError => b.function_errors += 1,
            Ended::SystemError => b.system_errors += 1,
            Ended::Success => {}
        }
        b.count += 1;
        b.total_ms += ms;
        b.max_ms = b.max_ms.max(ms);
        b.min_ms = Some(b.min_ms.map_or(ms, |m| m.min(ms)));
        if buckets.len() > 100_000 {
            buckets.retain(|k, _| k.3 > minute - KEPT_MINUTES);
        }
    }

    /// Per-minute buckets of `urn` matching `filter` in `[from, to]`, merged across
    /// versions and aliases.
    fn minutes(&self, urn: &str, filter: &Filter, from: i64, to: i64) -> BTreeMap<i64, Bucket> {
        let mut out: BTreeMap<i64, Bucket> = BTreeMap::new();
        for ((u, version, alias, minute), b) in self.buckets.lock().iter() {
            if u != urn || *minute < from || *minute > to {
                continue;
            }
            if filter.version.as_ref().is_some_and(|v| v != version)
                || filter.alias.as_ref().is_some_and(|a| a != alias)
            {
                continue;
            }
            out.entry(*minute).or_default().add(b);
        }
        out
    }

    /// Forgets a deleted function's invocations, so one created again under the same URN
    /// starts from nothing.
    pub fn forget_function(&self, urn: &str) {
        self.buckets.lock().retain(|k, _| k.0 != urn);
    }

    /// A deleted version's (`version`) or alias's (`alias`) invocations stop counting under
    /// its name, so one created again under that name starts from nothing; the function's
    /// totals (and the other name of each invocation) keep them.
    pub fn forget_name(&self, urn: &str, version: Option<&str>, alias: Option<&str>) {
        let mut buckets = self.buckets.lock();
        let hit = |k: &Key| k.0 == urn && (version == Some(k.1.as_str()) || alias == Some(k.2.as_str()));
        let moved: Vec<(Key, Bucket)> = buckets
            .iter()
            .filter(|(k, _)| hit(k))
            .map(|(k, b)| (k.clone(), b.clone()))
            .collect();
        for (mut key, bucket) in moved {
            buckets.remove(&key);
            if version == Some(key.1.as_str()) {
                key.1 = DELETED.into();
            }
            if alias == Some(key.2.as_str()) {
                key.2 = DELETED.into();
            }
            buckets.entry(key).or_default().add(&bucket);
        }
    }

    /// Forgets everything (`/_emulator/reset`).
    pub fn clear(&self) {
        self.buckets.lock().clear();
    }

    /// `ListFunctionStatistics`: every metric as `[{timestamp (ms), value}]`, one entry per
    /// minute with invocations, over the last `period_minutes` before `now`.
    pub fn statistics(&self, urn: &str, filter: &Filter, now: DateTime<Utc>, period_minutes: i64) -> Value {
        let to = now.timestamp().div_euclid(60);
        let minutes = self.minutes(urn, filter, to - period_minutes + 1, to);
        let series = |value: &dyn Fn(&Bucket) -> f64| -> Value {
            minutes
                .iter()
                .map(|(minute, b)| json!({"timestamp": minute * 60_000, "value": value(b)}))
                .collect()
        };
        let avg = |b: &Bucket| {
            if b.count == 0 {
                0.0
            } else {
                (b.total_ms / b.count as f64 * 1000.0).round() / 1000.0
            }
        };
        json!({
            "count": series(&|b| b.count as f64),
            "duration": series(&avg),
            "fail_count": series(&|b| (b.function_errors + b.system_errors) as f64),
            "max_duration": series(&|b| b.max_ms),
            "min_duration": series(&|b| b.min_ms.unwrap_or(0.0)),
            "reject_count": series(&|b| b.rejected as f64),
            "function_error_count": series(&|b| b.function_errors as f64),
            "system_error_count": series(&|b| b.system_errors as f64),
            "reserved_instance_num": series(&|_| 0.0),
            "concurrency_num": series(&|_| 0.0),
        })
    }

    /// `ListFunctionAsMetric`: functions of `urns` ranked by `kind` (`count`, `failcount`,
    /// `rejectcount`, `duration` (average ms)) within `[from, to]`, highest first.
    pub fn report(&self, urns: &[String], kind: &str, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Value {
        let (from, to) = (from.timestamp().div_euclid(60), to.timestamp().div_euclid(60));
        let mut ranked: Vec<(String, u64)> = urns
            .iter()
            .map(|urn| {
                let all = self.minutes(urn, &Filter::default(), from, to);
                let sum = |f: &dyn Fn(&Bucket) -> u64| all.values().map(f).sum::<u64>();
                let value = match kind {
                    "failcount" => sum(&|b| b.function_errors + b.system_errors),
                    "rejectcount" => sum(&|b| b.rejected),
                    "duration" => {
                        let count = sum(&|b| b.count);
                        let total: f64 = all.values().map(|b| b.total_ms).sum();
                        if count == 0 {
                            0
                        } else {
                            (total / count as f64).round() as u64
                        }
                    }
                    _ => sum(&|b| b.count),
                };
                (urn.clone(), value)
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let count = ranked.len();
        let values: Vec<Value> = ranked
            .into_iter()
            .take(limit)
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        json!({"values": values, "next_marker": 0, "count": count})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_merge_and_filter_by_version_and_alias() {
        let m = Metrics::default();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T10:00:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let later = t0 + chrono::Duration::seconds(70);
        m.record("f", "v1", "", t0, Ended::Success, 10.0);
        m.record("f", "v2", "prod", t0, Ended::FunctionError, 30.0);
        m.record("f", "v2", "prod", later, Ended::Rejected, 0.0);
        m.record("g", "latest", "", t0, Ended::Success, 5.0);
        let all = m.statistics("f", &Filter::default(), later, 5);
        assert_eq!(
            all["count"],
            json!([{"timestamp": 1767261600000i64, "value": 2.0}, {"timestamp": 1767261660000i64, "value": 0.0}])
        );
        assert_eq!(all["duration"][0]["value"], 20.0);
        assert_eq!(all["max_duration"][0]["value"], 30.0);
        assert_eq!(all["min_duration"][0]["value"], 10.0);
        assert_eq!(all["reject_count"][1]["value"], 1.0);
        let prod = m.statistics(
            "f",
            &Filter {
                alias: Some("prod".into()),
                ..Default::default()
            },
            later,
            5,
        );
        assert_eq!(prod["fail_count"][0]["value"], 1.0);
        assert_eq!(prod["function_error_count"][0]["value"], 1.0);
        let v1 = m.statistics(
            "f",
            &Filter {
                version: Some("v1".into()),
                ..Default::default()
            },
            later,
            5,
        );
        assert_eq!(v1["count"].as_array().unwrap().len(), 1);
        // Outside the period: nothing.
        let old = m.statistics("f", &Filter::default(), later + chrono::Duration::hours(1), 5);
        assert_eq!(old["count"], json!([]));
        let report = m.report(&["f".into(), "g".into()], "count", t0, later, 10);
        assert_eq!(
            report["values"],
            json!([{"key": "f", "value": 2}, {"key": "g", "value": 1}])
        );
        let fails = m.report(&["f".into(), "g".into()], "failcount", t0, later, 10);
        assert_eq!(fails["values"], json!([{"key": "f", "value": 1}]));
    }

    #[test]
    fn deleted_names_and_functions_start_over() {
        let m = Metrics::default();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T10:00:10Z")
            .unwrap()
            .with_timezone(&Utc);
        m.record("f", "v2", "prod", t0, Ended::FunctionError, 30.0);
        m.record("f", "v2", "", t0, Ended::Success, 10.0);
        m.record("f", "v1", "prod", t0, Ended::Success, 10.0);
        m.record("g", "v2", "", t0, Ended::Success, 5.0);
        let count = |urn: &str, version: Option<&str>, alias: Option<&str>| {
            let filter = Filter {
                version: version.map(str::to_string),
                alias: alias.map(str::to_string),
            };
            let stats = m.statistics(urn, &filter, t0, 5);
            stats["count"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["value"].as_f64().unwrap())
                .sum::<f64>()
        };
        m.forget_name("f", Some("v2"), None);
        assert_eq!(
            count("f", Some("v2"), None),
            0.0,
            "a deleted version's name starts over"
        );
        assert_eq!(count("f", None, Some("prod")), 2.0, "the alias keeps what it routed");
        assert_eq!(count("f", None, None), 3.0, "the function keeps everything");
        assert_eq!(count("g", Some("v2"), None), 1.0, "other functions are untouched");
        m.forget_name("f", None, Some("prod"));
        assert_eq!(count("f", None, Some("prod")), 0.0);
        assert_eq!(
            count("f", Some("v1"), None),
            1.0,
            "the version keeps what the alias sent it"
        );
        assert_eq!(count("f", None, None), 3.0);
        m.forget_function("f");
        assert_eq!(count("f", None, None), 0.0);
        assert_eq!(count("g", None, None), 1.0);
        m.clear();
        assert_eq!(count("g", None, None), 0.0);
    }
}
