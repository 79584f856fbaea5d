//! Triggers: create, replace, or a status update.

use super::*;
use crate::api::types::UpdateTriggerRequest;

impl<'a> Ctx<'a> {
    pub(super) fn live_trigger(
        &self,
        function: &str,
        id: Option<&str>,
        spec: Option<&TriggerSpec>,
    ) -> Option<&'a Trigger> {
        if self.recreated.contains(function) {
            return None;
        }
        let live = self.live.functions.get(function)?;
        let triggers = &live.triggers;
        if let Some(id) = id {
            return triggers.iter().find(|t| t.trigger_id == id);
        }
        let spec = spec?;
        triggers.iter().find(|t| {
            is_trigger(t, &spec.trigger_type_code, &spec.event_data)
                && live.trigger_qualifiers.get(&t.trigger_id) == spec.qualifier.as_ref()
        })
    }

    pub(super) fn trigger(&mut self, function: &str, name: &str, spec: &TriggerSpec) {
        let address = Address::Trigger {
            function: function.into(),
            trigger: name.into(),
        };
        let after = spec.create_body();
        let id = self.in_state(&address).map(|r| r.id.clone());
        let Some(live) = self.live_trigger(function, id.as_deref(), Some(spec)) else {
            self.push_create(address, vec![create(spec)], after);
            return;
        };
        let mut adopted = false;
        if id.is_none() {
            // Found live by name under a function this stack manages (recorded, or adopted
            // by its tag): it is this trigger, so the state records it.
            let parent = Address::Function(function.into());
            let owned = self.in_state(&parent).is_some() || self.plan.adopt.iter().any(|(a, _)| *a == parent);
            if owned {
                self.plan.adopt.push((address.clone(), live.trigger_id.clone()));
                adopted = true;
            }
        }
        let mut before = trigger_view(live);
        let live_qualifier = self
            .live
            .functions
            .get(function)
            .and_then(|f| f.trigger_qualifiers.get(&live.trigger_id));
        if let Some(q) = live_qualifier {
            before["qualifier"] = q.clone().into();
        }
        let mut attributes = compare(&before, &after, TRIGGER_KEYS, &|k| k != "trigger_status");
        if live_qualifier != spec.qualifier.as_ref() {
            // An alias's triggers are the alias's: moving one is a new trigger.
            attributes.push(AttrDiff {
                path: "qualifier".into(),
                before: live_qualifier.map(|q| q.clone().into()),
                after: spec.qualifier.clone().map(Value::from),
                forces_replacement: true,
                sensitive: false,
            });
        }
        if attributes.is_empty() {
            if adopted && spec.qualifier.is_some() {
                // An alias's trigger: its record must say where it lives, so later refreshes
                // and its delete find it there.
                self.plan.rerecord.push(Rerecord {
                    address,
                    id: live.trigger_id.clone(),
                    attributes: after,
                });
            } else {
                self.rerecord_if_stale(&address, &after);
            }
            return;
        }
        if attributes.iter().any(|a| a.forces_replacement) {
            let calls = vec![Call::bare(Operation::DeleteFunctionTrigger), create(spec)];
            self.push(address, Action::Replace, calls, before, after, attributes);
        } else {
            self.push(
                address,
                Action::Update,
                vec![Call::send(Request::UpdateTrigger(Box::new(UpdateTriggerRequest {
                    trigger_status: Some(spec.trigger_status.as_str().into()),
                    event_data: None,
                })))],
                before,
                after,
                attributes,
            );
        }
    }
}

fn create(spec: &TriggerSpec) -> Call {
    Call::send(Request::CreateFunctionTrigger(Box::new(spec.create_request())))
}
