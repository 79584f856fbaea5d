//! A rollout: the alias's traffic moves to the new version step by step, each step judged by
//! the new version's own invocations and errors (`ListFunctionStatistics` on its
//! version-qualified URN, so the old version's errors never count against it), and rolled
//! back, the alias on the old version alone, when a step fails.
//!
//! Each step is recorded before it is waited on (the alias record's private `rollout`), so
//! an apply killed mid-rollout resumes on the next run, or rolls back when the step began
//! longer ago than the rollout's deadline allows. Time is the target's: the fgform
//! emulator's clock (tests move it), else this machine's.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::alias::alias_record;
use super::{Ctx, StepError};
use crate::api::types::Totals;
use crate::api::types::{Alias, AliasRequest};
use crate::api::Operation;
use crate::model::release::{alias_request, alias_view, format_duration};
use crate::plan::rollout::{describe, judge, Verdict};
use crate::plan::{Change, Progress, Request, Rollout};

/// How often a step is looked at against the emulator (whose clock tests move at will).
const EMULATOR_POLL: Duration = Duration::from_millis(200);
/// At most this long between looks against the cloud (each look reads the statistics).
const CLOUD_POLL: Duration = Duration::from_secs(15);

/// The target's clock.
struct Clock {
    emulated: bool,
}

impl Clock {
    /// Now, epoch milliseconds.
    async fn now_ms(&self, ctx: &Ctx<'_>) -> i64 {
        if self.emulated {
            if let Some(t) = ctx.client.emulator_now().await {
                return t.timestamp_millis();
            }
        }
        chrono::Utc::now().timestamp_millis()
    }

    /// Now, epoch seconds, rounded down.
    async fn now(&self, ctx: &Ctx<'_>) -> i64 {
        self.now_ms(ctx).await.div_euclid(1000)
    }

    /// When a step that begins now began, epoch seconds rounded up: a step never ends early.
    async fn start(&self, ctx: &Ctx<'_>) -> i64 {
        (self.now_ms(ctx).await + 999).div_euclid(1000)
    }

    /// How long to sleep before looking again, `left` seconds before the step's interval ends.
    fn poll(&self, left: i64) -> Duration {
        if self.emulated {
            return EMULATOR_POLL;
        }
        if left <= 0 {
            // Past the interval, waiting for invocations: no faster than the cloud pace.
            return CLOUD_POLL;
        }
        Duration::from_secs(left.clamp(1, CLOUD_POLL.as_secs() as i64) as u64)
    }
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    function_urn: &str,
    rollout: &Rollout,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let op = Operation::UpdateVersionAlias;
    let Some(Request::UpdateVersionAlias(last)) = change.request(op) else {
        return Err(super::unplanned(address, op));
    };
    let clock = Clock {
        emulated: ctx.client.emulator_now().await.is_some(),
    };
    let run = Run {
        ctx,
        change,
        urn: function_urn,
        rollout,
        private,
        clock,
        last,
    };
    run.go(settle).await
}

struct Run<'a> {
    ctx: &'a Ctx<'a>,
    change: &'a Change,
    urn: &'a str,
    rollout: &'a Rollout,
    private: BTreeMap<String, Value>,
    clock: Clock,
    /// The alias as it ends.
    last: &'a AliasRequest,
}

impl Run<'_> {
    async fn go(&self, settle: &mut Vec<String>) -> Result<(), StepError> {
        let r = self.rollout;
        let address = &self.change.address;
        let n = r.steps.len();
        let now = self.clock.now(self.ctx).await;
        let (mut progress, mut resuming) = match &r.resume {
            Some(p) => (p.clone(), true),
            None => (
                Progress {
                    from: r.from.clone(),
                    to: r.to.clone(),
                    step: 0,
                    weight: r.steps[0],
                    step_started: now,
                    started: now,
                    steps: r.steps.clone(),
                    rolling_back: None,
                },
                false,
            ),
        };
        if resuming {
            if let Some(why) = progress.rolling_back.clone() {
                // Stopped while rolling back: finish it.
                return self.roll_back(&progress, &why, settle).await;
            }
            let late = now - progress.step_started;
            if late > (r.interval + r.deadline) as i64 {
                let why = format!(
                    "the apply running step {}/{n} ({}% to {}) stopped, and this one began {} after that step, past the rollout's deadline of {}",
                    progress.step + 1,
                    progress.weight,
                    r.to,
                    format_duration(late.max(0) as u64),
                    format_duration(r.interval + r.deadline)
                );
                return self.roll_back(&progress, &why, settle).await;
            }
            if !progress.steps.is_empty() && progress.steps != r.steps {
                // The manifest's steps changed since: go on from the first step that gives
                // the new version at least the share it has, as a new step.
                let at = r.steps.iter().position(|&w| w >= progress.weight).unwrap_or(n - 1);
                self.note(format!(
                    "the steps changed since step {} ({}%) began: going on at step {}/{n} ({}%)",
                    progress.step + 1,
                    progress.weight,
                    at + 1,
                    r.steps[at]
                ));
                progress.step = at;
                resuming = false;
            }
        }
        for step in progress.step..n {
            let weight = r.steps[step];
            if weight == 100 {
                break;
            }
            let weights = BTreeMap::from([(r.to.clone(), weight)]);
            if resuming {
                self.note(format!(
                    "resuming step {}/{n}: {} has {weight}% of the traffic since {}",
                    step + 1,
                    r.to,
                    stamp(progress.step_started)
                ));
                // The run that stopped may have recorded the step before its call went out.
                self.set_alias(&r.from, &weights, settle).await?;
            } else {
                // Recorded (durably) before the call: a kill in between resumes this step.
                progress = Progress {
                    step,
                    weight,
                    step_started: self.clock.start(self.ctx).await,
                    steps: r.steps.clone(),
                    ..progress
                };
                self.record_step(&progress, &weights, settle).await?;
                self.set_alias(&r.from, &weights, settle).await?;
                self.note(format!(
                    "step {}/{n}: {} takes {weight}% of the traffic, judged after {}",
                    step + 1,
                    r.to,
                    format_duration(r.interval)
                ));
            }
            resuming = false;
            match self.watch(&progress).await? {
                Ok(figures) => self.note(format!("step {}/{n} passed: {}", step + 1, describe(&figures))),
                Err(why) => return self.roll_back(&progress, &why, settle).await,
            }
        }
        let live = self
            .ctx
            .call(address, Operation::UpdateVersionAlias, settle, async {
                self.ctx
                    .client
                    .update_alias(self.urn, &self.rollout.alias, self.last)
                    .await
            })
            .await?;
        self.note(format!("{} takes all the traffic", r.to));
        let mut private = self.private.clone();
        private.remove("rollout");
        Ok(self.ctx.recorder.put(address, alias_record(&live, private), settle)?)
    }

    /// Waits out a step: `Ok` with its figures when it passed, `Err` with why it failed.
    /// A statistics read that fails is tried again until the step's deadline.
    async fn watch(&self, progress: &Progress) -> Result<Result<Totals, String>, StepError> {
        let r = self.rollout;
        let mut failed_reads = 0u32;
        loop {
            if self.ctx.stopping() {
                return Err(StepError::Other {
                    address: self.change.address.clone(),
                    message: format!(
                        "interrupted during rollout step {}/{} ({}% to {}); the next apply resumes it, or `fgform rollout abort` rolls it back",
                        progress.step + 1,
                        r.steps.len(),
                        progress.weight,
                        r.to
                    ),
                });
            }
            let now_ms = self.clock.now_ms(self.ctx).await;
            let elapsed = (now_ms - progress.step_started * 1000).max(0) as u64 / 1000;
            let left = r.interval as i64 - elapsed as i64;
            // `step_started` was rounded up: invocations of the second before count too.
            let read = figures(
                &self.ctx.client,
                self.urn,
                &r.to,
                progress.step_started - 1,
                now_ms.div_euclid(1000),
            )
            .await;
            let figures = match read {
                Ok(figures) => figures,
                Err(e) if elapsed < r.interval + r.deadline => {
                    failed_reads += 1;
                    if failed_reads == 1 {
                        self.note(format!("reading {}'s statistics failed ({e}); trying again", r.to));
                    }
                    self.nap(self.clock.poll(left)).await;
                    continue;
                }
                Err(source) => {
                    return Err(StepError::Api {
                        address: self.change.address.clone(),
                        source,
                    })
                }
            };
            match judge(r, &figures, elapsed) {
                Verdict::Pass => return Ok(Ok(figures)),
                Verdict::Fail(why) => return Ok(Err(why)),
                Verdict::Wait => self.nap(self.clock.poll(left)).await,
            }
        }
    }

    /// Sleeps `d`, waking early once the apply is stopping.
    async fn nap(&self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until && !self.ctx.stopping() {
            let left = until - tokio::time::Instant::now();
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
    }

    /// Points the alias at `version` with `weights`.
    async fn set_alias(
        &self,
        version: &str,
        weights: &BTreeMap<String, u8>,
        settle: &mut Vec<String>,
    ) -> Result<Alias, StepError> {
        let body = alias_request(
            &self.rollout.alias,
            version,
            self.last.description.as_deref(),
            weights,
            false,
        );
        let address = &self.change.address;
        self.ctx
            .call(address, Operation::UpdateVersionAlias, settle, async {
                self.ctx.client.update_alias(self.urn, &self.rollout.alias, &body).await
            })
            .await
    }

    /// Records the alias as the step sets it, with the step, and waits until that is
    /// durable: a kill from here on resumes (or finishes rolling back) from it.
    async fn record_step(
        &self,
        progress: &Progress,
        weights: &BTreeMap<String, u8>,
        settle: &mut Vec<String>,
    ) -> Result<(), StepError> {
        let address = &self.change.address;
        let mut record = self
            .ctx
            .recorder
            .get(address)
            .unwrap_or_else(|| crate::state::ResourceState {
                kind: "alias".into(),
                id: format!("{}:!{}", self.urn, self.rollout.alias),
                attributes: Default::default(),
                private: Default::default(),
            });
        let view = alias_view(&progress.from, self.last.description.as_deref(), weights);
        record.attributes = crate::state::Attributes::from_object(&view);
        let mut private = self.private.clone();
        private.insert(
            "rollout".into(),
            serde_json::to_value(progress).expect("progress serializes"),
        );
        private.remove("rolled_back");
        record.private = crate::state::Attributes::from_map(&private);
        self.ctx.recorder.put(address, record, settle)?;
        self.ctx.recorder.flush().await?;
        Ok(())
    }

    /// Puts the alias back on the old version alone, records why, and fails the step. The
    /// intent to roll back is recorded first, so a kill midway finishes it on the next run.
    async fn roll_back(&self, progress: &Progress, why: &str, settle: &mut Vec<String>) -> Result<(), StepError> {
        let r = self.rollout;
        let address = &self.change.address;
        let marked = Progress {
            rolling_back: Some(why.to_string()),
            ..progress.clone()
        };
        let weights = BTreeMap::from([(r.to.clone(), progress.weight)]);
        self.record_step(&marked, &weights, settle).await?;
        let live = self.set_alias(&r.from, &BTreeMap::new(), settle).await?;
        self.note(format!("rolled back: {} has all the traffic again", r.from));
        let mut private = self.private.clone();
        private.remove("rollout");
        private.insert(
            "rolled_back".into(),
            json!({"version": r.to, "from": r.from, "reason": why, "at": stamp(self.clock.now(self.ctx).await)}),
        );
        self.ctx.recorder.put(address, alias_record(&live, private), settle)?;
        Err(StepError::Other {
            address: address.clone(),
            message: format!("rollout of version {} rolled back to {}: {why}", r.to, r.from),
        })
    }

    fn note(&self, line: String) {
        self.ctx.note(self.change, line);
    }
}

/// Version `version` of function `function_urn`: its invocations and errors from the
/// minute `from` (epoch seconds) began until `now`, as `ListFunctionStatistics` on the
/// version-qualified URN counts them (per minute, so a step is judged from the start of
/// the minute it began).
pub async fn figures(
    client: &crate::client::Client,
    function_urn: &str,
    version: &str,
    from: i64,
    now: i64,
) -> Result<Totals, crate::client::ApiError> {
    let urn = format!("{function_urn}:{version}");
    let minutes = ((now - from).max(0) / 60 + 2) as u32;
    let stats = client.function_statistics(&urn, minutes).await?;
    Ok(stats.since(from.div_euclid(60) * 60 * 1000))
}

/// Epoch seconds as RFC 3339 UTC.
pub fn stamp(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| epoch.to_string())
}
