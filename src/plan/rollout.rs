//! Rollouts, pure: what a plan asks for ([`Rollout`]), what state keeps of one under way
//! ([`Progress`]) and how a step is judged ([`judge`]). The waiting, reading and alias calls
//! are `apply::rollout`'s.

use serde::{Deserialize, Serialize};

use crate::api::types::Totals;
use crate::model::release::format_duration;
use crate::model::RolloutSpec;

/// An alias's traffic moving from version `from` to version `to` step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub alias: String,
    pub from: String,
    pub to: String,
    /// Percentages of the alias's traffic `to` gets, rising, the last 100.
    pub steps: Vec<u8>,
    /// Seconds a step lasts before it is judged.
    pub interval: u64,
    /// The highest error rate (0–1) a step passes with.
    pub max_error_rate: f64,
    pub min_invocations: u64,
    /// Seconds a step may wait past its interval for `min_invocations`; how late an
    /// interrupted rollout may resume.
    pub deadline: u64,
    /// Where an earlier, interrupted run left this rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Progress>,
}

impl Rollout {
    pub fn new(spec: &RolloutSpec, from: &str, to: &str, resume: Option<Progress>) -> Rollout {
        Rollout {
            alias: spec.alias.clone(),
            from: from.into(),
            to: to.into(),
            steps: spec.steps.clone(),
            interval: spec.interval,
            max_error_rate: spec.max_error_rate,
            min_invocations: spec.min_invocations,
            deadline: spec.deadline,
            resume,
        }
    }

    /// One line for plan output: `rollout v2 → v3: 10% → 50% → 100%, 5m a step, rolled back
    /// above 1% errors`.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(|s| format!("{s}%")).collect();
        let mut text = format!(
            "rollout {} → {}: {}, {} a step, rolled back above {} errors (at least {} invocations a step)",
            self.from,
            self.to,
            steps.join(" → "),
            format_duration(self.interval),
            percent(self.max_error_rate),
            self.min_invocations
        );
        if let Some(p) = &self.resume {
            text.push_str(&format!(
                "; resumes step {}/{} ({}%)",
                p.step + 1,
                self.steps.len(),
                self.steps.get(p.step).copied().unwrap_or(0)
            ));
        }
        text
    }
}

/// A rollout under way, as state keeps it in the alias record's private `rollout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub from: String,
    pub to: String,
    /// The index of the step under way in the rollout's steps.
    pub step: usize,
    /// The share of traffic `to` has during it.
    pub weight: u8,
    /// When the step began, by the target's clock (epoch seconds).
    pub step_started: i64,
    /// When the rollout began (epoch seconds).
    pub started: i64,
    /// The steps it runs (a resume whose manifest changed them goes on from `weight`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<u8>,
    /// Why it is rolling back, once it started to: a run that stopped midway is finished by
    /// the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_back: Option<String>,
}

/// `3 errors in 40 invocations (7.5%)`: what the new version did during a step.
pub fn describe(figures: &Totals) -> String {
    format!(
        "{} error{} in {} invocation{} ({})",
        figures.errors,
        if figures.errors == 1 { "" } else { "s" },
        figures.invocations,
        if figures.invocations == 1 { "" } else { "s" },
        percent(rate(figures))
    )
}

/// The error rate, 0 without invocations.
fn rate(figures: &Totals) -> f64 {
    figures.error_rate().unwrap_or(0.0)
}

/// A rate as a percentage with at most one decimal: `1%`, `7.5%`.
pub fn percent(rate: f64) -> String {
    let p = (rate * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// What a step's figures decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not yet: the interval has not passed, or too few invocations so far.
    Wait,
    /// The step passed: on to the next.
    Pass,
    /// Roll back, for this reason.
    Fail(String),
}

/// Judges a step `elapsed` seconds after it began. Errors above the limit roll back as soon
/// as `min_invocations` were seen, without waiting for the interval to end; a pass needs
/// both the interval and `min_invocations`; a step that sees too few invocations by
/// `interval + deadline` rolls back (a version nobody called is not known to work).
pub fn judge(rollout: &Rollout, figures: &Totals, elapsed: u64) -> Verdict {
    let enough = figures.invocations >= rollout.min_invocations;
    if enough && figures.invocations > 0 && rate(figures) > rollout.max_error_rate {
        return Verdict::Fail(format!(
            "error rate {} ({} error{} in {} invocations of version {}) is above the {} allowed",
            percent(rate(figures)),
            figures.errors,
            if figures.errors == 1 { "" } else { "s" },
            figures.invocations,
            rollout.to,
            percent(rollout.max_error_rate),
        ));
    }
    if elapsed < rollout.interval {
        return Verdict::Wait;
    }
    if enough {
        return Verdict::Pass;
    }
    if elapsed >= rollout.interval + rollout.deadline {
        return Verdict::Fail(format!(
            "too few invocations to judge version {}: {} in {}, {} needed",
            rollout.to,
            figures.invocations,
            format_duration(elapsed),
            rollout.min_invocations
        ));
    }
    Verdict::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        Rollout {
            alias: "live".into(),
            from: "v1".into(),
            to: "v2".into(),
            steps: vec![10, 50, 100],
            interval: 300,
            max_error_rate: 0.01,
            min_invocations: 20,
            deadline: 600,
            resume: None,
        }
    }

    fn figures(invocations: u64, errors: u64) -> Totals {
        Totals {
            invocations,
            errors,
            ..Totals::default()
        }
    }

    #[test]
    fn a_step_passes_only_after_its_interval_with_enough_invocations() {
        let r = rollout();
        assert_eq!(judge(&r, &figures(100, 0), 299), Verdict::Wait);
        assert_eq!(judge(&r, &figures(100, 1), 300), Verdict::Pass);
        assert_eq!(judge(&r, &figures(19, 0), 300), Verdict::Wait);
        assert_eq!(judge(&r, &figures(19, 0), 899), Verdict::Wait);
        let Verdict::Fail(why) = judge(&r, &figures(19, 0), 900) else {
            panic!("too few invocations by the deadline roll back")
        };
        assert!(why.contains("19 in 15m, 20 needed"), "{why}");
    }

    #[test]
    fn errors_above_the_limit_roll_back_at_once_but_not_on_too_few_invocations() {
        let r = rollout();
        let Verdict::Fail(why) = judge(&r, &figures(40, 3), 10) else {
            panic!("3 of 40 is 7.5%")
        };
        assert_eq!(
            why,
            "error rate 7.5% (3 errors in 40 invocations of version v2) is above the 1% allowed"
        );
        assert_eq!(judge(&r, &figures(10, 5), 10), Verdict::Wait);
        let exact = Rollout {
            max_error_rate: 0.05,
            ..rollout()
        };
        assert_eq!(
            judge(&exact, &figures(40, 2), 300),
            Verdict::Pass,
            "5% is allowed at 5%"
        );
    }

    #[test]
    fn no_minimum_passes_an_idle_step() {
        let r = Rollout {
            min_invocations: 0,
            ..rollout()
        };
        assert_eq!(judge(&r, &figures(0, 0), 300), Verdict::Pass);
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.333), "33.3%");
    }

    #[test]
    fn a_plan_line_names_the_steps_and_the_resume_point() {
        let mut r = rollout();
        assert_eq!(
            r.describe(),
            "rollout v1 → v2: 10% → 50% → 100%, 5m a step, rolled back above 1% errors (at least 20 invocations a step)"
        );
        r.resume = Some(Progress {
            from: "v1".into(),
            to: "v2".into(),
            step: 1,
            weight: 50,
            step_started: 0,
            started: 0,
            steps: vec![10, 50, 100],
            rolling_back: None,
        });
        assert!(r.describe().ends_with("; resumes step 2/3 (50%)"));
    }
}
