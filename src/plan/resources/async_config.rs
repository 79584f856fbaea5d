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
        let live = (!self.recreated.contains(function))
            .then(|| self.live.functions.get(function).and_then(|f| f.async_config.as_ref()))
            .flatten();
        let Some(live) = live else {
            let attributes = all_attributes(&after, false);
            self.push(
                address,
                Action::Create,
                vec![put.clone()],
                Value::Null,
                after,
                attributes,
            );
            return;
        };
        let before = async_view(live);
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
