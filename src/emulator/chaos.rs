//! Fault injection: throttling, server errors, latency and dropped connections, per
//! method, path or operation, with a probability. Set by `--chaos` flags and by
//! `/_emulator/chaos`.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::api::Operation;

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Answer with this HTTP status (429 carries `Retry-After`).
    Status,
    /// Wait `latency_ms` before handling.
    Latency,
    /// Close the connection without answering.
    Drop,
}

/// One fault rule. The first matching `status`/`drop` rule that fires wins; every
/// matching `latency` rule that fires adds its delay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub id: u64,
    pub effect: Effect,
    #[serde(default = "one")]
    pub probability: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Override of the error code (default `FSS.0<status>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Glob (`*` matches anything) on the path after `/v2/{project_id}`, e.g.
    /// `/fgs/functions*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The operation, written as the SDK names it (`CreateFunction`); an unknown name is
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// Apply after the request was handled: the change is made, then the answer is
    /// replaced (status) or lost (drop). This is how an ambiguous create is produced.
    #[serde(default)]
    pub after: bool,
    /// Fire at most this many times, then remove the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
}

fn one() -> f64 {
    1.0
}

impl Rule {
    /// Parses the `--chaos` syntax: comma-separated `key=value` items and flags, e.g.
    /// `status=429,p=0.3,method=POST,path=/fgs/functions*,retry_after=1`,
    /// `latency=200ms`, `drop,p=0.1,after`, `status=503,op=CreateFunction,times=1`.
    pub fn parse(spec: &str) -> Result<Rule, String> {
        let mut rule = Rule {
            id: 0,
            effect: Effect::Status,
            probability: 1.0,
            status: None,
            error_code: None,
            retry_after: None,
            latency_ms: None,
            method: None,
            path: None,
            operation: None,
            after: false,
            times: None,
        };
        let mut effect = None;
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .map(|(k, v)| (k.trim(), Some(v.trim())))
                .unwrap_or((item, None));
            fn need<'v>(v: Option<&'v str>, key: &str, spec: &str) -> Result<&'v str, String> {
                v.ok_or_else(|| format!("`{key}` needs a value in chaos rule `{spec}`"))
            }
            let num = |v: Option<&str>| -> Result<u64, String> {
                need(v, key, spec)?
                    .parse()
                    .map_err(|_| format!("`{key}` must be a whole number in chaos rule `{spec}`"))
            };
            match key {
                "status" => {
                    rule.status = Some(num(value)? as u16);
                    effect = Some(Effect::Status);
                }
                "latency" => {
                    let v = need(value, key, spec)?;
                    let ms = if let Some(ms) = v.strip_suffix("ms") {
                        ms.parse::<u64>().ok()
                    } else if let Some(s) = v.strip_suffix('s') {
                        s.parse::<f64>().ok().map(|s| (s * 1000.0) as u64)
                    } else {
                        v.parse::<u64>().ok()
                    };
                    rule.latency_ms = Some(ms.ok_or_else(|| format!("bad latency `{v}` (try 200ms or 1.5s)"))?);
                    effect = Some(Effect::Latency);
                }
                "drop" => effect = Some(Effect::Drop),
                "after" => rule.after = true,
                "p" | "probability" => {
                    let p: f64 = need(value, key, spec)?
                        .parse()
                        .map_err(|_| format!("bad probability in `{spec}`"))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!("probability must be between 0 and 1 in `{spec}`"));
                    }
                    rule.probability = p;
                }
                "method" => rule.method = Some(need(value, key, spec)?.to_ascii_uppercase()),
                "path" => rule.path = Some(need(value, key, spec)?.to_string()),
                "op" | "operation" => {
                    let name = need(value, key, spec)?;
                    let op = name
                        .parse::<Operation>()
                        .map_err(|_| format!("unknown operation `{name}` in chaos rule `{spec}`"))?;
                    rule.operation = Some(op);
                }
                "retry_after" => rule.retry_after = Some(num(value)?),
                "code" | "error_code" => rule.error_code = Some(need(value, key, spec)?.to_string()),
                "times" => rule.times = Some(num(value)?),
                other => return Err(format!("unknown chaos key `{other}` in `{spec}`")),
            }
        }
        rule.effect = effect.ok_or_else(|| format!("chaos rule `{spec}` needs one of status=N, latency=T or drop"))?;
        rule.check()?;
        Ok(rule)
    }

    /// Checks a rule's consistency (also for rules posted as JSON).
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err("probability must be between 0 and 1".into());
        }
        match self.effect {
            Effect::Status => match self.status {
                Some(s) if (400..=599).contains(&s) => Ok(()),
                _ => Err("a status rule needs status between 400 and 599".into()),
            },
            Effect::Latency if self.latency_ms.is_none() => Err("a latency rule needs latency_ms".into()),
            Effect::Latency if self.after => Err("latency cannot be `after`".into()),
            _ => Ok(()),
        }
    }

    fn matches(&self, method: &str, path: &str, operation: Operation) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.operation.is_none_or(|o| o == operation)
            && self.path.as_deref().is_none_or(|g| glob(g, path))
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// What the rules decided for one request.
#[derive(Debug, Default, Clone)]
pub struct Decision {
    pub latency_ms: u64,
    /// A status or drop rule, and whether it applies after handling.
    pub fault: Option<Rule>,
}

/// The rule set.
#[derive(Debug, Default)]
pub struct Chaos {
    next_id: u64,
    rules: Vec<Rule>,
}

impl Chaos {
    pub fn add(&mut self, mut rule: Rule) -> u64 {
        self.next_id += 1;
        rule.id = self.next_id;
        self.rules.push(rule);
        self.next_id
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    /// Rolls the dice for one request.
    pub fn decide(&mut self, method: &str, path: &str, operation: Operation) -> Decision {
        let mut decision = Decision::default();
        let mut rng = rand::thread_rng();
        let mut spent = Vec::new();
        for rule in &mut self.rules {
            if !rule.matches(method, path, operation) {
                continue;
            }
            let is_fault = rule.effect != Effect::Latency;
            if is_fault && decision.fault.is_some() {
                continue;
            }
            if rule.probability < 1.0 && rng.gen::<f64>() >= rule.probability {
                continue;
            }
            match rule.effect {
                Effect::Latency => decision.latency_ms += rule.latency_ms.unwrap_or(0),
                _ => decision.fault = Some(rule.clone()),
            }
            if let Some(times) = rule.times.as_mut() {
                *times = times.saturating_sub(1);
                if *times == 0 {
                    spent.push(rule.id);
                }
            }
        }
        self.rules.retain(|r| !spent.contains(&r.id));
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flag_syntax() {
        let r = Rule::parse("status=429,p=0.3,method=post,path=/fgs/functions*,retry_after=2").unwrap();
        assert_eq!(
            (r.effect.clone(), r.status, r.retry_after),
            (Effect::Status, Some(429), Some(2))
        );
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(Rule::parse("latency=1.5s").unwrap().latency_ms, Some(1500));
        let dropped = Rule::parse("drop,after,op=CreateFunction").unwrap();
        assert!(dropped.after);
        assert_eq!(dropped.operation, Some(Operation::CreateFunction));
        let unknown = Rule::parse("status=503,op=CreateFunktion").unwrap_err();
        assert!(unknown.contains("unknown operation `CreateFunktion`"), "{unknown}");
        assert!(Rule::parse("p=0.5").is_err());
        assert!(Rule::parse("status=200").is_err());
        assert!(Rule::parse("status=503,bogus=1").is_err());
        assert!(Rule::parse("status=503,p=2").is_err());
    }

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("/fgs/functions*", "/fgs/functions/x/config"));
        assert!(glob("*/config", "/fgs/functions/x/config"));
        assert!(glob("/fgs/*/config", "/fgs/functions/x/config"));
        assert!(!glob("/fgs/triggers*", "/fgs/functions"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }

    #[test]
    fn first_fault_wins_latency_adds_and_times_expire() {
        let mut c = Chaos::default();
        c.add(Rule::parse("latency=10ms").unwrap());
        c.add(Rule::parse("latency=5ms,method=GET").unwrap());
        c.add(Rule::parse("status=503,times=1").unwrap());
        c.add(Rule::parse("status=429").unwrap());
        let d = c.decide("GET", "/fgs/functions", Operation::ListFunctions);
        assert_eq!(d.latency_ms, 15);
        assert_eq!(d.fault.unwrap().status, Some(503));
        let d = c.decide("POST", "/fgs/functions", Operation::CreateFunction);
        assert_eq!(d.latency_ms, 10);
        assert_eq!(d.fault.unwrap().status, Some(429));
        assert_eq!(c.rules().len(), 3);
    }

    #[test]
    fn operation_rules_match_only_their_operation_and_json_rules_name_it_as_a_string() {
        let mut c = Chaos::default();
        c.add(Rule::parse("status=503,op=CreateFunction").unwrap());
        assert!(c
            .decide("POST", "/fgs/functions", Operation::ListFunctions)
            .fault
            .is_none());
        assert!(c
            .decide("POST", "/fgs/functions", Operation::CreateFunction)
            .fault
            .is_some());
        let json = serde_json::to_value(&c.rules()[0]).unwrap();
        assert_eq!(json["operation"], "CreateFunction");
        let bad = serde_json::json!({"effect": "drop", "operation": "Nope"});
        assert!(serde_json::from_value::<Rule>(bad).is_err());
    }

    #[test]
    fn probability_is_respected_roughly() {
        let mut c = Chaos::default();
        c.add(Rule::parse("status=500,p=0.3").unwrap());
        let hits = (0..4000)
            .filter(|_| c.decide("GET", "/", Operation::ListQuotas).fault.is_some())
            .count();
        assert!((900..1500).contains(&hits), "{hits}");
    }
}
