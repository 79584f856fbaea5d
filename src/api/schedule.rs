//! TIMER trigger schedules (§6.1): `Rate` (`3m`, `1h`, `1d`) and `Cron` (seconds-first
//! cron with 5–6 fields, `@every <duration>`, optional `CRON_TZ=<zone> ` prefix). One
//! implementation for the emulator and the manifest validator, so a manifest that
//! validates is one the emulator accepts.

use std::sync::LazyLock;

use regex::Regex;

static GO_DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$").expect("valid regex"));

/// Checks a TIMER `Rate` schedule: `<n>m` (1–60), `<n>h` (1–24) or `<n>d` (1–30).
pub fn check_rate(schedule: &str) -> Result<(), String> {
    let Some(unit) = schedule.chars().last() else {
        return Err("an empty rate".into());
    };
    let digits = &schedule[..schedule.len() - unit.len_utf8()];
    let max = match unit {
        'm' => 60,
        'h' => 24,
        'd' => 30,
        _ => return Err(format!("`{schedule}` must end in `m`, `h` or `d`")),
    };
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.len() > 3
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(format!(
            "`{schedule}` must be a whole number followed by `m`, `h` or `d`"
        ));
    }
    let n: u32 = digits.parse().map_err(|_| format!("`{schedule}` is not a number"))?;
    if !(1..=max).contains(&n) {
        return Err(format!(
            "`{schedule}`: the number must be within 1..={max} for `{unit}`"
        ));
    }
    Ok(())
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Checks a TIMER `Cron` schedule: `@every <go duration>`, or 5–6 space-separated fields
/// `sec min hour day-of-month month [day-of-week]` with `? * , - /`, months 1–12/JAN–DEC,
/// days of week 0–6/SUN–SAT, optionally prefixed by `CRON_TZ=<tz> `.
pub fn check_cron(schedule: &str) -> Result<(), String> {
    let mut expr = schedule.trim();
    if expr != schedule {
        return Err("a cron expression must not start or end with spaces".into());
    }
    if let Some(rest) = expr.strip_prefix("CRON_TZ=") {
        let Some((tz, tail)) = rest.split_once(' ') else {
            return Err("`CRON_TZ=<zone>` must be followed by a space and the expression".into());
        };
        if tz.is_empty() || !tz.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)) {
            return Err(format!("`{tz}` is not a time zone name"));
        }
        expr = tail;
    }
    if let Some(duration) = expr.strip_prefix("@every ") {
        return if GO_DURATION.is_match(duration.trim()) {
            Ok(())
        } else {
            Err(format!(
                "`{duration}` is not a duration such as `1h30m` (units ns, us, ms, s, m, h)"
            ))
        };
    }
    let fields: Vec<&str> = expr.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) {
        return Err("fields must be separated by single spaces".into());
    }
    if !(5..=6).contains(&fields.len()) {
        return Err(format!(
            "{} fields found; a cron expression has 5 or 6: second minute hour day-of-month month [day-of-week]",
            fields.len()
        ));
    }
    let specs: [(&str, u32, u32, &[&str]); 6] = [
        ("second", 0, 59, &[]),
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        ("day-of-week", 0, 6, DAYS),
    ];
    for (field, (what, min, max, names)) in fields.iter().zip(specs) {
        check_cron_field(field, min, max, names, what.starts_with("day"))
            .map_err(|e| format!("{what} field `{field}`: {e}"))?;
    }
    Ok(())
}

fn check_cron_field(field: &str, min: u32, max: u32, names: &[&str], question: bool) -> Result<(), String> {
    if field == "?" {
        return if question {
            Ok(())
        } else {
            Err("`?` is only allowed in day-of-month and day-of-week".into())
        };
    }
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(s) if s >= 1 && s <= max.max(1) => {}
                _ => return Err(format!("`{step}` is not a valid step")),
            }
        }
        if range == "*" {
            continue;
        }
        let value = |s: &str| -> Result<u32, String> {
            if let Ok(n) = s.parse::<u32>() {
                return if (min..=max).contains(&n) {
                    Ok(n)
                } else {
                    Err(format!("{n} is outside {min}..={max}"))
                };
            }
            let upper = s.to_ascii_uppercase();
            match names.iter().position(|n| *n == upper) {
                Some(i) => Ok(i as u32 + min),
                None => Err(format!("`{s}` is not a number within {min}..={max}")),
            }
        };
        match range.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (value(lo)?, value(hi)?);
                if lo > hi {
                    return Err(format!("range {lo}-{hi} runs backwards"));
                }
            }
            None => {
                value(range)?;
            }
        }
    }
    Ok(())
}

/// When a TIMER schedule fires next: the first time after `after` (UTC), for a schedule
/// running since `since` (rates and `@every` count from it). `Err` for what the emulator
/// cannot evaluate: a `CRON_TZ` other than UTC (it has no time zone database), or a
/// schedule that does not check.
pub fn next_fire(
    schedule_type: &str,
    schedule: &str,
    since: chrono::DateTime<chrono::Utc>,
    after: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let every = |period: chrono::Duration| {
        if period <= chrono::Duration::zero() {
            return Err("a zero period".to_string());
        }
        let elapsed = (after - since).max(chrono::Duration::zero());
        let periods = elapsed.num_milliseconds() / period.num_milliseconds() + 1;
        Ok(since + period * periods as i32)
    };
    if schedule_type == "Rate" {
        check_rate(schedule)?;
        let n: i64 = schedule[..schedule.len() - 1]
            .parse()
            .map_err(|_| "not a number".to_string())?;
        return every(match schedule.as_bytes()[schedule.len() - 1] {
            b'm' => chrono::Duration::minutes(n),
            b'h' => chrono::Duration::hours(n),
            _ => chrono::Duration::days(n),
        });
    }
    check_cron(schedule)?;
    let mut expr = schedule;
    if let Some(rest) = expr.strip_prefix("CRON_TZ=") {
        let (tz, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if !["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"].contains(&tz) {
            return Err(format!("CRON_TZ={tz}: the emulator evaluates schedules in UTC only"));
        }
        expr = tail;
    }
    if let Some(duration) = expr.strip_prefix("@every ") {
        return every(go_duration(duration.trim())?);
    }
    next_cron(expr, after)
}

/// A Go duration (`1h30m`, `90s`, `1.5h`).
fn go_duration(text: &str) -> Result<chrono::Duration, String> {
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration"))?;
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len())
            .ok_or_else(|| format!("`{text}` is not a duration"))?;
        rest = &rest[unit.len()..];
        total += number
            * match *unit {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                _ => 3600.0,
            };
    }
    Ok(chrono::Duration::milliseconds((total * 1000.0).round() as i64))
}

/// The values a cron field allows, `min..=max`.
fn cron_values(field: &str, min: u32, max: u32, names: &[&str]) -> Vec<u32> {
    if field == "?" || field == "*" {
        return (min..=max).collect();
    }
    let value = |s: &str| {
        s.parse::<u32>().ok().or_else(|| {
            let upper = s.to_ascii_uppercase();
            names.iter().position(|n| *n == upper).map(|i| i as u32 + min)
        })
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse().unwrap_or(1).max(1)),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            _ if range == "*" => (min, max),
            Some((lo, hi)) => (value(lo).unwrap_or(min), value(hi).unwrap_or(max)),
            // `5/15`: from 5 to the end in steps.
            None if step > 1 => (value(range).unwrap_or(min), max),
            None => (value(range).unwrap_or(min), value(range).unwrap_or(min)),
        };
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The first time after `after` a 5–6 field cron expression matches (within 5 years). As
/// Go's cron does it: when day-of-month and day-of-week are both restricted, a day matching
/// either matches.
fn next_cron(expr: &str, after: chrono::DateTime<chrono::Utc>) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{Datelike, TimeZone, Timelike};
    let fields: Vec<&str> = expr.split(' ').collect();
    let seconds = cron_values(fields[0], 0, 59, &[]);
    let minutes = cron_values(fields[1], 0, 59, &[]);
    let hours = cron_values(fields[2], 0, 23, &[]);
    let dom = cron_values(fields[3], 1, 31, &[]);
    let months = cron_values(fields[4], 1, 12, MONTHS);
    let dow_field = fields.get(5).copied().unwrap_or("*");
    let dow = cron_values(dow_field, 0, 6, DAYS);
    let restricted = |f: &str| f != "*" && f != "?";
    let either = restricted(fields[3]) && restricted(dow_field);
    let start = after + chrono::Duration::seconds(1);
    let mut day = start.date_naive();
    for _ in 0..(366 * 5) {
        let dom_ok = dom.contains(&day.day());
        let dow_ok = dow.contains(&day.weekday().num_days_from_sunday());
        let day_ok = if either { dom_ok || dow_ok } else { dom_ok && dow_ok };
        if months.contains(&day.month()) && day_ok {
            for &h in &hours {
                for &m in &minutes {
                    for &s in &seconds {
                        let Some(at) = day.and_hms_opt(h, m, s) else { continue };
                        let at = chrono::Utc.from_utc_datetime(&at);
                        if at >= start.with_nanosecond(0).unwrap_or(start) {
                            return Ok(at);
                        }
                    }
                }
            }
        }
        day = day.succ_opt().ok_or("the date overflowed")?;
    }
    Err(format!("`{expr}` never fires within five years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        for ok in ["1m", "60m", "3m", "1h", "24h", "1d", "30d"] {
            assert!(check_rate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0m",
            "61m",
            "25h",
            "31d",
            "5",
            "m",
            "5s",
            "05m",
            "-1m",
            "1.5h",
            "",
            "5\u{1F600}",
            "\u{e9}",
        ] {
            assert!(check_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn crons() {
        for ok in [
            "0 30 2 * * ?",
            "0 */5 * * *",
            "0 0 9-17 ? * MON-FRI",
            "0 0 0 1 JAN,JUL ?",
            "@every 1h30m",
            "@every 90s",
            "CRON_TZ=Asia/Shanghai 0 0 8 * * ?",
            "0 0 12 * * 0",
        ] {
            assert!(check_cron(ok).is_ok(), "{ok}: {:?}", check_cron(ok));
        }
        for bad in [
            "* * *",
            "0 60 * * *",
            "0 0 24 * * ?",
            "0 0 0 32 * ?",
            "0 0 0 * 13 ?",
            "0 0 0 * * 7",
            "@every",
            "@every 5x",
            "? 0 0 * * *",
            "0 0 5-1 * * ?",
            "1 2 3 4 5 6 7",
            "CRON_TZ= 0 0 * * *",
        ] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn next_fires() {
        let since = at("2026-01-01T00:00:00Z");
        let cases = [
            ("Rate", "5m", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"),
            ("Rate", "5m", "2026-01-01T00:07:00Z", "2026-01-01T00:10:00Z"),
            ("Rate", "1d", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
            ("Cron", "@every 1h30m", "2026-01-01T01:00:00Z", "2026-01-01T01:30:00Z"),
            ("Cron", "0 */15 * * * ?", "2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"),
            (
                "Cron",
                "30 0 9 * * MON-FRI",
                "2026-01-02T10:00:00Z",
                "2026-01-05T09:00:30Z",
            ),
            (
                "Cron",
                "0 0 0 1 JAN,JUL ?",
                "2026-01-01T00:00:00Z",
                "2026-07-01T00:00:00Z",
            ),
            ("Cron", "0 0 12 * *", "2026-03-31T12:00:00Z", "2026-04-01T12:00:00Z"),
            (
                "Cron",
                "CRON_TZ=UTC 0 0 8 * * ?",
                "2026-01-01T09:00:00Z",
                "2026-01-02T08:00:00Z",
            ),
            // Both day fields restricted: either matches (1st of the month, or a Sunday).
            ("Cron", "0 0 0 1 * SUN", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
        ];
        for (kind, schedule, after, want) in cases {
            assert_eq!(
                next_fire(kind, schedule, since, at(after)),
                Ok(at(want)),
                "{kind} {schedule} after {after}"
            );
        }
        let err = next_fire("Cron", "CRON_TZ=Asia/Shanghai 0 0 8 * * ?", since, since).unwrap_err();
        assert!(err.contains("UTC only"), "{err}");
    }
}
