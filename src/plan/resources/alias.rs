//! Aliases: create, update (in place, never delete + create), or a rollout that moves the
//! alias's traffic to a new version step by step.

use super::*;
use crate::api::types::Alias;
use crate::model::release::LATEST_PUBLISHED;
use crate::model::{AliasSpec, AliasTarget};
use crate::plan::{Progress, Rollout, Unresolved};

/// The live side of an alias.
pub(crate) fn alias_view(live: &Alias) -> Value {
    let weights: Map<String, Value> = live
        .additional_version_weights
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, w)| w.as_i64() != Some(0))
        .collect();
    json!({
        "version": live.version,
        "description": live.description,
        "additional_version_weights": weights,
    })
}

/// Alias attributes compared.
pub(crate) const ALIAS_KEYS: &[&str] = &["version", "description", "additional_version_weights"];

impl<'a> Ctx<'a> {
    pub(super) fn alias(&mut self, function: &str, spec: &FunctionSpec, alias: &AliasSpec) {
        let address = Address::Alias {
            function: function.into(),
            alias: alias.name.clone(),
        };
        let live_function = (!self.recreated.contains(function))
            .then(|| self.live.functions.get(function).map(|f| &**f))
            .flatten();
        let target = match &alias.version {
            AliasTarget::Named(v) => Some(v.clone()),
            AliasTarget::LatestPublished => self.published.get(function).cloned().or_else(|| {
                live_function
                    .and_then(LiveFunction::newest_version)
                    .map(|v| v.version.clone())
            }),
        };
        let Some(target) = target else {
            self.plan.unresolved.push(Unresolved {
                address,
                reason: format!("its version is `{LATEST_PUBLISHED}`, but function {function} has no published version and this plan publishes none"),
                hint: format!("set `functions.{function}.versions: {{publish: on-change}}`, or name a version in `aliases.{}.version`", alias.name),
            });
            return;
        };
        let after = alias.view(&target, &alias.weights);
        let Some(live) = live_function.and_then(|f| f.alias(&alias.name)) else {
            let request = alias.request(&target, &alias.weights, true);
            let call = Call::send(Request::CreateVersionAlias(Box::new(request)));
            self.push_create(address, vec![call], after);
            return;
        };
        let before = alias_view(live);
        let request = alias.request(&target, &alias.weights, false);
        let update = Call::send(Request::UpdateVersionAlias(Box::new(request)));
        if let Some(rollout) = self.rollout_of(&address, spec, live, &target) {
            let rolled_back = self.in_state(&address).and_then(|r| r.private.get("rolled_back"));
            if let Some(rb) =
                rolled_back.filter(|rb| rb.get("version").and_then(Value::as_str) == Some(target.as_str()))
            {
                self.plan.warnings.push(format!(
                    "{address}: version {target} was rolled back at {} ({}); this apply rolls it out again",
                    rb.get("at").and_then(Value::as_str).unwrap_or("?"),
                    rb.get("reason").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            let attributes = compare(&before, &after, ALIAS_KEYS, &|_| false);
            self.push(address.clone(), Action::Update, vec![update], before, after, attributes);
            self.plan.changes.last_mut().expect("pushed").rollout = Some(Box::new(rollout));
            return;
        }
        let attributes = compare(&before, &after, ALIAS_KEYS, &|_| false);
        if attributes.is_empty() {
            if self.in_state(&address).is_some() {
                self.rerecord_if_stale(&address, &after);
            } else if self.record_would_match(&address, "alias", &live.alias_urn, &after) {
                // Live as desired, not in state (a create whose answer was lost): it is under
                // a function this state manages, so the state records it.
                self.plan.rerecord.push(Rerecord {
                    address,
                    id: live.alias_urn.clone(),
                    attributes: after,
                });
            }
            return;
        }
        self.push(address, Action::Update, vec![update], before, after, attributes);
    }

    /// The rollout moving alias `live` to version `target`, when the function's `rollout`
    /// names this alias: one an earlier run left under way (resumed, or restarted towards a
    /// newer version), or a new one when the alias's main version changes from a published
    /// version to another.
    fn rollout_of(&self, address: &Address, spec: &FunctionSpec, live: &Alias, target: &str) -> Option<Rollout> {
        let rollout = spec.rollout.as_ref().filter(|r| r.alias == live.name)?;
        let progress: Option<Progress> = self
            .in_state(address)
            .and_then(|r| r.private.get("rollout"))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        if let Some(p) = progress.filter(|p| p.from == live.version) {
            let resume = (p.to == target).then(|| p.clone());
            return Some(Rollout::new(rollout, &p.from, target, resume));
        }
        let from_published = live.version != "latest" && live.version != target;
        from_published.then(|| Rollout::new(rollout, &live.version, target, None))
    }
}
