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
}
