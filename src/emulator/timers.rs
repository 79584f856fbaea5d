//! TIMER triggers fire while the emulator runs: every ACTIVE one on its `Rate` or `Cron`
//! schedule, on the emulator's clock (so `POST /_emulator/clock/advance` makes them fire),
//! delivering the documented event as an async invocation of the trigger's qualifier.
//! `POST /_emulator/triggers/{trigger_id}/fire` fires one now, whatever its status.
//!
//! A schedule runs from when the emulator first saw the trigger active; occurrences the
//! clock jumped over all fire (at most [`MAX_CATCH_UP`] per pass). A schedule the emulator
//! cannot evaluate (a `CRON_TZ` other than UTC) never fires by itself, and
//! `GET /_emulator/triggers` says why.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::routes::invoke;
use super::Shared;
use crate::api::FunctionUrn;

/// Occurrences of one timer fired in one pass at most (after a long clock jump).
const MAX_CATCH_UP: usize = 100;
/// How often the scheduler looks for new, changed or deleted timers.
const RESCAN: Duration = Duration::from_secs(1);

/// What the scheduler knows of one timer.
#[derive(Debug, Clone)]
struct Schedule {
    /// The schedule text it was computed for: a changed one starts over.
    schedule: String,
    since: DateTime<Utc>,
    last: DateTime<Utc>,
    /// Why it cannot fire by itself, if it cannot.
    problem: Option<String>,
    fired: u64,
}

/// The scheduler's table, kept in [`Shared`] for `GET /_emulator/triggers`.
#[derive(Default)]
pub(crate) struct Timers {
    schedules: Mutex<HashMap<String, Schedule>>,
}

/// One TIMER trigger as the store holds it.
struct Timer {
    id: String,
    /// The qualified URN it invokes.
    urn: String,
    name: String,
    schedule_type: String,
    schedule: String,
    user_event: String,
    active: bool,
}

fn timers(shared: &Shared) -> Vec<Timer> {
    let db = shared.db.lock();
    let mut out = Vec::new();
    for f in db.tables.functions.values() {
        let base = FunctionUrn::unqualified(&shared.config.region, &f.project, &f.package, &f.name);
        for t in f.triggers.iter().filter(|t| t.trigger_type_code == "TIMER") {
            let text = |k: &str| {
                t.event_data
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            out.push(Timer {
                id: t.trigger_id.clone(),
                urn: format!("{base}:{}", t.qualifier.trim_start_matches('!')),
                name: text("name"),
                schedule_type: text("schedule_type"),
                schedule: text("schedule"),
                user_event: text("user_event"),
                active: t.trigger_status == "ACTIVE",
            });
        }
    }
    out
}

/// Runs the scheduler until the emulator is gone. It holds the emulator only while it
/// fires, never while it waits: a stopped emulator's store must be released.
pub(crate) async fn run(shared: Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let next = pass(&strong);
        let clock = strong.clock.clone();
        drop(strong);
        let clock_wait = async {
            match next {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = clock_wait => {}
            _ = tokio::time::sleep(RESCAN) => {}
        }
    }
}

/// Fires what is due; returns when the next timer is due.
fn pass(shared: &Arc<Shared>) -> Option<DateTime<Utc>> {
    let now = shared.clock.now();
    let timers = timers(shared);
    let mut due = Vec::new();
    let mut earliest: Option<DateTime<Utc>> = None;
    {
        let mut schedules = shared.timers.schedules.lock();
        schedules.retain(|id, _| timers.iter().any(|t| t.active && &t.id == id));
        for t in timers.iter().filter(|t| t.active) {
            let key = format!("{} {}", t.schedule_type, t.schedule);
            let s = schedules.entry(t.id.clone()).or_insert_with(|| Schedule {
                schedule: key.clone(),
                since: now,
                last: now,
                problem: None,
                fired: 0,
            });
            if s.schedule != key {
                *s = Schedule {
                    schedule: key,
                    since: now,
                    last: now,
                    problem: None,
                    fired: 0,
                };
            }
            for _ in 0..MAX_CATCH_UP {
                match crate::api::schedule::next_fire(&t.schedule_type, &t.schedule, s.since, s.last) {
                    Ok(at) if at <= now => {
                        s.last = at;
                        s.fired += 1;
                        due.push((t.id.clone(), at));
                    }
                    Ok(at) => {
                        earliest = Some(earliest.map_or(at, |e| e.min(at)));
                        break;
                    }
                    Err(why) => {
                        s.problem = Some(why);
                        break;
                    }
                }
            }
        }
    }
    for (id, at) in due {
        if let Some(t) = timers.iter().find(|t| t.id == id) {
            fire_timer(shared, t, at);
        }
    }
    earliest
}

/// The event a TIMER trigger delivers.
fn event(t: &Timer, at: DateTime<Utc>) -> Value {
    json!({
        "version": "v1.0",
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "trigger_type": "TIMER",
        "trigger_name": t.name,
        "user_event": t.user_event,
    })
}

fn fire_timer(shared: &Arc<Shared>, t: &Timer, at: DateTime<Utc>) -> Option<String> {
    match invoke::start_async(shared, &t.urn, event(t, at)) {
        Ok(id) => Some(id),
        Err(why) => {
            eprintln!("fgform emulator: timer {} ({}) could not fire: {why}", t.name, t.id);
            None
        }
    }
}

/// `POST /_emulator/triggers/{id}/fire`: fires TIMER trigger `id` now.
pub(crate) fn fire(shared: &Arc<Shared>, id: &str) -> (u16, Value) {
    let Some(t) = timers(shared).into_iter().find(|t| t.id == id) else {
        return (
            404,
            json!({"error_code": "EMULATOR.0404", "error_msg": format!("no TIMER trigger {id}")}),
        );
    };
    match invoke::start_async(shared, &t.urn, event(&t, shared.clock.now())) {
        Ok(request_id) => (
            200,
            json!({"request_id": request_id, "function_urn": t.urn, "trigger_name": t.name}),
        ),
        Err(why) => (409, json!({"error_code": "EMULATOR.0409", "error_msg": why})),
    }
}

/// `GET /_emulator/triggers`: every timer, its schedule's state, and why it cannot fire.
pub(crate) fn list(shared: &Shared) -> Value {
    let schedules = shared.timers.schedules.lock();
    let items: Vec<Value> = timers(shared)
        .iter()
        .map(|t| {
            let s = schedules.get(&t.id);
            json!({
                "trigger_id": t.id,
                "function_urn": t.urn,
                "name": t.name,
                "schedule_type": t.schedule_type,
                "schedule": t.schedule,
                "active": t.active,
                "fired": s.map_or(0, |s| s.fired),
                "last": s.map(|s| s.last.to_rfc3339()),
                "problem": s.and_then(|s| s.problem.clone()),
            })
        })
        .collect();
    json!({ "triggers": items })
}
