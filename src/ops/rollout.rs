//! `fgform rollout status | promote | abort`: the rollouts state records under way (an
//! apply interrupted mid-rollout leaves one), read with the new version's figures so far,
//! or ended now by hand.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{json, Value};

use crate::apply::rollout::{figures, stamp};
use crate::client::Client;
use crate::model::release::alias_request;
use crate::model::{Address, Desired};
use crate::plan::Progress;
use crate::state::{Attributes, State};

/// One alias with a rollout: under way, or how the last one ended.
#[derive(Debug, Clone, Serialize)]
pub struct AliasRollout {
    pub address: String,
    /// The rollout under way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Its step count, from the manifests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// The new version's figures since its step began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// The alias as live has it: `{version, additional_version_weights}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// How the last rollout ended when it rolled back: `{version, from, reason, at}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<Value>,
    /// Why the figures or the live alias could not be read, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The recorded rollout is not what live shows (it ended after its last record): the
    /// next apply records the alias as it is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// Whether live alias `live` shows rollout `p` under way: on its old version, the new one
/// weighted.
fn under_way(live: &crate::api::types::Alias, p: &Progress) -> bool {
    live.version == p.from
        && live
            .additional_version_weights
            .as_ref()
            .is_some_and(|w| w.get(&p.to).and_then(Value::as_i64).is_some_and(|w| w > 0))
}

/// The aliases `state` records with a rollout under way or rolled back.
pub async fn status(client: &Client, desired: &Desired, state: &State) -> anyhow::Result<Vec<AliasRollout>> {
    let mut out = Vec::new();
    for (key, record) in &state.resources {
        let Ok(Address::Alias { function, alias }) = key.parse::<Address>() else {
            continue;
        };
        let progress: Option<Progress> = record
            .private
            .get("rollout")
            .and_then(|v| serde_json::from_value(v).ok());
        let rolled_back = record.private.get("rolled_back");
        if progress.is_none() && rolled_back.is_none() {
            continue;
        }
        let urn = function_urn(state, &function);
        let mut unknown = None;
        let live_alias = match client.show_alias(&urn, &alias).await {
            Ok(a) => Some(a),
            Err(e) => {
                unknown = Some(format!("reading the alias: {e}"));
                None
            }
        };
        let stale = match (&progress, &live_alias) {
            (Some(p), Some(a)) => p.rolling_back.is_none() && !under_way(a, p),
            _ => false,
        };
        let live = live_alias
            .as_ref()
            .map(|a| json!({"version": a.version, "additional_version_weights": a.additional_version_weights}));
        let steps = desired
            .functions
            .get(&function)
            .and_then(|f| f.rollout.as_ref())
            .map(|r| r.steps.len());
        let mut figures_so_far = None;
        if let Some(p) = progress.as_ref().filter(|_| !stale) {
            let now = client.target_now().await.timestamp();
            match figures(client, &urn, &p.to, p.step_started - 1, now).await {
                Ok(f) => figures_so_far = Some(f),
                Err(e) => unknown = Some(format!("reading the statistics of {urn}:{}: {e}", p.to)),
            }
        }
        out.push(AliasRollout {
            address: key.clone(),
            progress,
            steps,
            invocations: figures_so_far.map(|f: crate::api::types::Totals| f.invocations),
            errors: figures_so_far.map(|f| f.errors),
            live,
            rolled_back,
            unknown,
            stale,
        });
    }
    Ok(out)
}

/// How `promote` or `abort` ends a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The new version gets all the traffic.
    Promote,
    /// The old version gets it all back.
    Abort,
}

/// Ends the rollouts under way (only `only`'s when given) with `end`, recording each in
/// `state`; returns one line per alias.
pub async fn end(client: &Client, state: &mut State, only: Option<&Address>, end: End) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let keys: Vec<String> = state.resources.keys().cloned().collect();
    for key in keys {
        let Ok(address @ Address::Alias { .. }) = key.parse::<Address>() else {
            continue;
        };
        if only.is_some_and(|o| *o != address) {
            continue;
        }
        let record = state.resources.get(&key).expect("listed");
        let Some(progress) = record
            .private
            .get("rollout")
            .and_then(|v| serde_json::from_value::<Progress>(v).ok())
        else {
            continue;
        };
        let Address::Alias { function, alias } = &address else {
            unreachable!("matched above")
        };
        let urn = function_urn(state, function);
        let live = client
            .show_alias(&urn, alias)
            .await
            .with_context(|| format!("reading {address}"))?;
        if progress.rolling_back.is_none() && !under_way(&live, &progress) {
            // It ended after its last record: nothing to do live; the record goes.
            let record = state.resources.get_mut(&key).expect("listed");
            record.private.remove("rollout");
            lines.push(format!(
                "{address}: no rollout under way live (it is on {} alone): the state's record of one was stale and is cleared; the next apply records the alias as it is",
                live.version
            ));
            continue;
        }
        let description = record
            .attributes
            .get("description")
            .and_then(|v| v.as_str().map(str::to_string));
        let version = match end {
            End::Promote => &progress.to,
            End::Abort => &progress.from,
        };
        let body = alias_request(alias, version, description.as_deref(), &BTreeMap::new(), false);
        let live = client
            .update_alias(&urn, alias, &body)
            .await
            .with_context(|| format!("pointing {address} at version {version}"))?;
        let record = state.resources.get_mut(&key).expect("listed");
        record.attributes = Attributes::from_object(&crate::plan::resources::alias_view(&live));
        record.private.remove("rollout");
        let now = stamp(client.target_now().await.timestamp());
        match end {
            End::Promote => {
                record.private.remove("rolled_back");
                lines.push(format!("{address}: promoted: {} takes all the traffic", progress.to));
            }
            End::Abort => {
                record.private.insert(
                    "rolled_back",
                    json!({"version": progress.to, "from": progress.from, "reason": "aborted with `fgform rollout abort`", "at": now}),
                );
                lines.push(format!(
                    "{address}: aborted: {} has all the traffic again ({} is off)",
                    progress.from, progress.to
                ));
            }
        }
    }
    Ok(lines)
}

/// The URN state records for function `name`.
fn function_urn(state: &State, name: &str) -> String {
    state
        .resources
        .get(&Address::Function(name.into()).to_string())
        .map(|r| r.id.clone())
        .unwrap_or_default()
}
