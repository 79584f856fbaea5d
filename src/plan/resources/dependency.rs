//! Dependencies: a new version on any change (versions are immutable).

use super::*;

impl<'a> Ctx<'a> {
    /// A new version, its `depend_file` left for the applier (the package it uploads).
    fn dependency_call(&self, spec: &DependencySpec) -> Call {
        let mut request = spec.create_request(self.desired.region());
        // Too large for a base64 upload: the package goes through the code bucket.
        let address = Address::Dependency(spec.name.clone());
        if let Some(url) = self.artifacts.digests.get(&address).and_then(|d| d.bucket_url.clone()) {
            request.depend_type = "obs".into();
            request.depend_link = Some(url);
        }
        Call::send(Request::CreateDependencyVersion(Box::new(request)))
    }

    pub(super) fn dependency(&mut self, name: &str) {
        let spec = &self.desired.dependencies[name];
        let address = Address::Dependency(name.into());
        let content = self
            .artifacts
            .digests
            .get(&address)
            .map(|d| d.md5.clone())
            .or_else(|| spec.source.obs_url(self.desired.region()))
            .unwrap_or_default();
        let after = json!({
            "name": spec.name,
            "runtime": spec.runtime,
            "description": spec.description.clone().unwrap_or_default(),
            "content": content,
        });
        let live = self.in_state(&address).and_then(|_| self.live.dependencies.get(name));
        let Some(live) = live else {
            self.new_versions.insert(name.into());
            let call = self.dependency_call(spec);
            self.push_create(address, vec![call], after);
            return;
        };
        let recorded = self.in_state(&address).and_then(|r| r.attributes.get("content"));
        let before = dependency_view(live, recorded);
        let attributes = compare(&before, &after, DEPENDENCY_KEYS, &|_| true);
        if !attributes.is_empty() {
            self.new_versions.insert(name.into());
            self.push(
                address,
                Action::Replace,
                vec![
                    self.dependency_call(spec),
                    Call::bare(Operation::DeleteDependencyVersion),
                ],
                before,
                after,
                attributes,
            );
            return;
        }
        // A replace interrupted after its new version was recorded: the old version is
        // still to be deleted (once the functions have moved off it).
        if let Some(old) = self.in_state(&address).and_then(|r| r.private.get("old_version")) {
            let attributes = vec![AttrDiff {
                path: "old_version".into(),
                before: Some(old),
                after: None,
                forces_replacement: false,
                sensitive: false,
            }];
            self.push(
                address,
                Action::Update,
                vec![Call::bare(Operation::DeleteDependencyVersion)],
                before,
                after,
                attributes,
            );
        }
    }
}
