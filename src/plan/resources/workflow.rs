//! Workflows: create or update the whole definition.

use super::*;

impl<'a> Ctx<'a> {
    pub(super) fn workflow(&mut self, name: &str) {
        let spec = &self.desired.workflows[name];
        let address = Address::Workflow(name.into());
        let after = json!({"definition": spec.definition(self.desired)});
        let recorded = self.in_state(&address);
        if recorded.is_none() {
            if let Some(id) = self.live.workflow_names.get(&spec.name) {
                self.plan.blocked.push(crate::plan::Blocked {
                    address,
                    id: id.id.clone(),
                    owner: None,
                    recorded: false,
                    reason: format!(
                        "a workflow named `{}` exists and this state does not record it (workflows carry \
                         no ownership tag)",
                        spec.name
                    ),
                });
                return;
            }
        }
        let live = recorded.and_then(|_| self.live.workflows.get(name));
        let Some(live) = live else {
            let create = Request::CreateWorkflow(Box::new(spec.definition_request(self.desired)));
            self.push_create(address, vec![Call::send(create)], after);
            return;
        };
        let before = workflow_view(live);
        let attributes = compare(&before, &after, &["definition"], &|_| false);
        if !attributes.is_empty() {
            self.push(
                address,
                Action::Update,
                vec![Call::send(Request::UpdateWorkFlow(Box::new(
                    spec.definition_request(self.desired),
                )))],
                before,
                after,
                attributes,
            );
        } else {
            self.rerecord_if_stale(&address, &after);
        }
    }
}
