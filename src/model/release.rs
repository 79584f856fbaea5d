//! Published versions, aliases and rollouts of a function: `versions:`, `aliases:` and
//! `rollout:` in its manifest.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::api::types::AliasRequest;

/// `versions.publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// A version is published when the code or configuration changed since the last one.
    OnChange,
    /// fgform publishes nothing; aliases may still name versions published elsewhere.
    Never,
}

/// `versions:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionsSpec {
    pub publish: Publish,
    /// The description of a version fgform publishes (`versions.description`).
    pub description: Option<String>,
}

/// What an alias's main version is (`aliases.NAME.version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// `latest-published`: the newest published version, the one this apply publishes
    /// included.
    LatestPublished,
    /// A version by name (`latest` included).
    Named(String),
}

/// The manifest's spelling of [`AliasTarget::LatestPublished`].
pub const LATEST_PUBLISHED: &str = "latest-published";

impl AliasTarget {
    pub fn parse(text: &str) -> AliasTarget {
        if text == LATEST_PUBLISHED {
            AliasTarget::LatestPublished
        } else {
            AliasTarget::Named(text.to_string())
        }
    }

    /// As the manifest spells it.
    pub fn as_str(&self) -> &str {
        match self {
            AliasTarget::LatestPublished => LATEST_PUBLISHED,
            AliasTarget::Named(v) => v,
        }
    }
}

/// `aliases.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    pub name: String,
    pub version: AliasTarget,
    /// `weights:`: the additional version (by name) and the percentage of traffic it gets.
    pub weights: BTreeMap<String, u8>,
    pub description: Option<String>,
}

impl AliasSpec {
    /// The alias as the API holds it, once its main version is known.
    pub fn view(&self, version: &str, weights: &BTreeMap<String, u8>) -> Value {
        alias_view(version, self.description.as_deref(), weights)
    }

    /// The create (`create` = true: with the name) or update body.
    pub fn request(&self, version: &str, weights: &BTreeMap<String, u8>, create: bool) -> AliasRequest {
        alias_request(&self.name, version, self.description.as_deref(), weights, create)
    }
}

/// An alias on `version` with gray traffic `weights`, as plans show it and state records it.
pub fn alias_view(version: &str, description: Option<&str>, weights: &BTreeMap<String, u8>) -> Value {
    json!({
        "version": version,
        "description": description.unwrap_or_default(),
        "additional_version_weights": weights_json(weights),
    })
}

/// An alias body pointing at `version` with gray traffic `weights`.
pub fn alias_request(
    name: &str,
    version: &str,
    description: Option<&str>,
    weights: &BTreeMap<String, u8>,
    create: bool,
) -> AliasRequest {
    AliasRequest {
        name: create.then(|| name.to_string()),
        version: version.to_string(),
        description: Some(description.unwrap_or_default().to_string()),
        additional_version_weights: Some(match weights_json(weights) {
            Value::Object(o) => o,
            _ => Map::new(),
        }),
        additional_version_strategy: None,
    }
}

/// Weights as the API writes them: `{"v2": 10}`; a weight of 0 sends nothing, so it is left
/// out (the live side reads the same).
pub fn weights_json(weights: &BTreeMap<String, u8>) -> Value {
    Value::Object(
        weights
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k.clone(), json!(*v)))
            .collect(),
    )
}

/// `rollout:`: how a newly published version reaches an alias.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutSpec {
    /// The alias whose traffic shifts (one of the function's `aliases`).
    pub alias: String,
    /// Percentages of the alias's traffic the new version gets, rising; the last is 100.
    pub steps: Vec<u8>,
    /// Seconds each step lasts before it is judged.
    pub interval: u64,
    /// The highest error rate (errors / invocations, 0–1) a step passes with.
    pub max_error_rate: f64,
    /// Invocations of the new version a step needs before it is judged.
    pub min_invocations: u64,
    /// Seconds a step may wait for `min_invocations` past its interval before the rollout
    /// rolls back for want of traffic; also how late an interrupted rollout may resume.
    pub deadline: u64,
}

impl RolloutSpec {
    /// Default `deadline`: three intervals, at least ten minutes.
    pub fn default_deadline(interval: u64) -> u64 {
        (interval * 3).max(600)
    }
}

/// Seconds in a duration written `90`, `30s`, `5m`, `2h` or `1h30m`; `None` when it is not one.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let mut total = 0u64;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then_some(total)
}

/// A rate written `1%`, `0.5%` or `0.01`, as a fraction; `None` when it is not one in 0–1.
pub fn parse_rate(text: &str) -> Option<f64> {
    let text = text.trim();
    let rate = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => text.parse::<f64>().ok()?,
    };
    (rate.is_finite() && (0.0..=1.0).contains(&rate)).then_some(rate)
}

/// A duration as a person reads it: `90s`, `5m`, `1h30m`.
pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_parse_as_written() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        for bad in ["", "m", "5x", "5m3", "-1s", "1.5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_rate("1%"), Some(0.01));
        assert_eq!(parse_rate("0.5 %"), Some(0.005));
        assert_eq!(parse_rate("0.2"), Some(0.2));
        for bad in ["101%", "2", "-1%", "x", "NaN"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(5), "5s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn an_alias_request_carries_its_weights_as_numbers() {
        let weights = BTreeMap::from([("v2".to_string(), 10u8)]);
        let body = alias_request("live", "v1", None, &weights, true);
        let json = serde_json::to_value(body).unwrap();
        assert_eq!(
            json,
            json!({"name": "live", "version": "v1", "description": "", "additional_version_weights": {"v2": 10}})
        );
        // A weight of 0 sends nothing: written as no gray version, as the live side reads.
        let zero = BTreeMap::from([("v2".to_string(), 0u8)]);
        assert_eq!(weights_json(&zero), json!({}));
    }
}
