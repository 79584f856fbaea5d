//! Async-invoke configs: put or delete.

use super::*;

impl<'a> Ctx<'a> {
    pub(super) fn async_config(&mut self, function: &str, spec: &FunctionSpec) {
        let Some(async_spec) = &spec.async_config else {
            return;
        };
        let address = Address::Async(function.into());
        let put = Call::send(Request::UpdateFunctionAsyncInvokeConfig(Box::new(
            async_spec.request(self.desired),
        )));
        let mut after = async_spec.body(self.desired);
        normalize_destinations(&mut after);
        // Moved to another qualifier (latest ↔ an alias): the old one's config goes.
        if let Some(recorded) = self.in_state(&address).filter(|_| !self.recreated.contains(function)) {
            let was = recorded.attributes.get("qualifier");
            let was = was.as_ref().and_then(Value::as_str);
            if was != async_spec.qualifier.as_deref() {
                let before = state_view(self.state, &address);
                let attributes = vec![AttrDiff {
                    path: "qualifier".into(),
                    before: was.map(Value::from),
                    after: async_spec.qualifier.clone().map(Value::from),
                    forces_replacement: true,
                    sensitive: false,
                }];
                let calls = vec![Call::bare(Operation::DeleteFunctionAsyncInvokeConfig), put];
                self.push(address, Action::Replace, calls, before, after, attributes);
                return;
            }
        }
        let live = (!self.recreated.contains(function))
            .then(|| self.live.functions.get(function).and_then(|f| f.async_config.as_ref()))
            .flatten();
        let Some(live) = live else {
            self.push_create(address, vec![put.clone()], after);
            return;
        };
        let mut before = async_view(live);
        if let Some(q) = &async_spec.qualifier {
            before["qualifier"] = q.clone().into();
        }
        // Scalars the manifest leaves unset are the server's defaults.
        let keys: Vec<&str> = ASYNC_SCALAR_KEYS
            .iter()
            .copied()
            .filter(|k| after.get(*k).is_some())
            .collect();
        let mut attributes = compare(&before, &after, &keys, &|_| false);
        // PUT replaces the whole config, so destinations compare exactly.
        let (b, a) = (destinations(&before), destinations(&after));
        if b != a {
            attributes.push(AttrDiff {
                path: "destination_config".into(),
                before: Some(b),
                after: Some(a),
                forces_replacement: false,
                sensitive: false,
            });
        }
        if !attributes.is_empty() {
            self.push(address, Action::Update, vec![put.clone()], before, after, attributes);
            return;
        }
        if self.in_state(&address).is_some() {
            self.rerecord_if_stale(&address, &after);
            return;
        }
        // Live and as desired, but not in state (a put whose answer was lost): under a
        // function this stack manages, it is this config, so the state records it.
        let parent = Address::Function(function.into());
        let urn = self.in_state(&parent).map(|r| r.id.clone()).or_else(|| {
            self.plan
                .adopt
                .iter()
                .find(|(a, _)| *a == parent)
                .map(|(_, id)| id.clone())
        });
        if let Some(urn) = urn {
            if self.record_would_match(&address, "async", &urn, &after) {
                self.plan.rerecord.push(Rerecord {
                    address,
                    id: urn,
                    attributes: after,
                });
            }
        }
    }
}
