//! TIMER trigger schedules (§6.1): `Rate` (`3m`, `1h`, `1d`) and `Cron` (seconds-first
//! cron with 5–6 fields, `@every <duration>`, optional `CRON_TZ=<zone> ` prefix).

/// Checks a `Rate` schedule: `<n>m` (1–60), `<n>h` (1–24) or `<n>d` (1–30).
pub fn check_rate(schedule: &str) -> Result<(), String> {
    let s = schedule.trim();
    // Only ASCII can be valid, and it keeps the byte split below on a char boundary.
    if !s.is_ascii() {
        return Err(format!(
            "rate `{schedule}` must be a number followed by m, h or d (like 5m)"
        ));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let range = match unit {
        "m" => 1..=60,
        "h" => 1..=24,
        "d" => 1..=30,
        _ => return Err(format!("rate `{schedule}` must end in m, h or d (like 5m, 1h, 1d)")),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.starts_with('0') {
        return Err(format!(
            "rate `{schedule}` must be a positive whole number followed by m, h or d"
        ));
    }
    let n: u32 = num.parse().map_err(|_| format!("rate `{schedule}` is out of range"))?;
    if !range.contains(&n) {
        return Err(format!(
            "rate `{schedule}` is out of range: {}{unit} to {}{unit}",
            range.start(),
            range.end()
        ));
    }
    Ok(())
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn field_value(token: &str, min: u32, max: u32, names: &[&str]) -> Option<u32> {
    if let Ok(n) = token.parse::<u32>() {
        return (min..=max).contains(&n).then_some(n);
    }
    let upper = token.to_ascii_uppercase();
    names.iter().position(|n| *n == upper).map(|i| i as u32 + min)
}

fn check_field(field: &str, what: &str, min: u32, max: u32, names: &[&str], question: bool) -> Result<(), String> {
    if field == "?" {
        return if question {
            Ok(())
        } else {
            Err(format!(
                "`?` is only allowed in day-of-month and day-of-week, not in {what}"
            ))
        };
    }
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n >= 1 && n <= max.max(1) => {}
                _ => return Err(format!("bad step `{step}` in {what} field `{field}`")),
            }
        }
        if range == "*" {
            continue;
        }
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (range, None),
        };
        let lo_v =
            field_value(lo, min, max, names).ok_or_else(|| format!("`{lo}` is not a valid {what} ({min}-{max})"))?;
        if let Some(hi) = hi {
            let hi_v = field_value(hi, min, max, names)
                .ok_or_else(|| format!("`{hi}` is not a valid {what} ({min}-{max})"))?;
            if hi_v < lo_v {
                return Err(format!("range `{range}` in {what} runs backwards"));
            }
        }
    }
    Ok(())
}

fn check_go_duration(d: &str) -> Result<(), String> {
    let mut rest = d.trim();
    if rest.is_empty() {
        return Err("`@every` needs a duration like 1h30m".into());
    }
    let mut total_ok = false;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("bad duration `{d}` (like 90s, 1h30m)"));
        }
        let (num, tail) = rest.split_at(digits);
        let num: f64 = num.parse().map_err(|_| format!("bad number in duration `{d}`"))?;
        let unit_len = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| tail.starts_with(*u))
            .map(|u| u.len())
            .ok_or_else(|| format!("bad unit in duration `{d}` (ns, us, ms, s, m, h)"))?;
        if num > 0.0 {
            total_ok = true;
        }
        rest = &tail[unit_len..];
    }
    if total_ok {
        Ok(())
    } else {
        Err(format!("duration `{d}` must be positive"))
    }
}

/// Checks a `Cron` schedule.
pub fn check_cron(schedule: &str) -> Result<(), String> {
    let mut s = schedule.trim();
    if let Some(rest) = s.strip_prefix("CRON_TZ=") {
        let (tz, expr) = rest
            .split_once(' ')
            .ok_or_else(|| "CRON_TZ= must be followed by a zone and the expression".to_string())?;
        if tz.is_empty() {
            return Err("CRON_TZ= needs a time zone like Asia/Shanghai".into());
        }
        s = expr.trim();
    }
    if let Some(d) = s.strip_prefix("@every") {
        return check_go_duration(d);
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(format!(
            "cron `{schedule}` has {} fields; FunctionGraph wants 5 or 6: second minute hour day-of-month month [day-of-week]",
            fields.len()
        ));
    }
    check_field(fields[0], "second", 0, 59, &[], false)?;
    check_field(fields[1], "minute", 0, 59, &[], false)?;
    check_field(fields[2], "hour", 0, 23, &[], false)?;
    check_field(fields[3], "day-of-month", 1, 31, &[], true)?;
    check_field(fields[4], "month", 1, 12, MONTHS, false)?;
    if let Some(dow) = fields.get(5) {
        check_field(dow, "day-of-week", 0, 6, DAYS, true)?;
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
