//! Published versions: `versions: {publish: on-change}` publishes one when the function's
//! code or configuration differs from its newest published version.

use super::*;
use crate::api::types::{FunctionConfig, PublishVersionRequest};
use crate::model::Publish;

/// Attributes a published version freezes, compared between `latest` and the newest
/// version (both as the API shows them). One the API leaves out of either side is not
/// compared: list items do not carry every attribute.
const VERSION_KEYS: &[&str] = &[
    "code",
    "handler",
    "memory_size",
    "timeout",
    "user_data",
    "xrole",
    "app_xrole",
    "initializer_handler",
    "initializer_timeout",
    "pre_stop_handler",
    "pre_stop_timeout",
    "depend_version_list",
];

/// The version record of published version `v`.
pub(crate) fn version_view(v: &FunctionConfig) -> Value {
    json!({
        "version": v.version,
        "code": v.digest,
        "description": v.extra.get("version_description").unwrap_or(Value::String(String::new())),
    })
}

/// Whether `latest` differs from published version `version` in what a version freezes.
fn differs(latest: &LiveFunction, version: &FunctionConfig) -> bool {
    let view = |config: &FunctionConfig| {
        let f = LiveFunction {
            config: config.clone(),
            ..Default::default()
        };
        function_view(&f, false)
    };
    let (a, b) = (view(&latest.config), view(version));
    VERSION_KEYS.iter().any(|k| {
        let (x, y) = (a.get(*k), b.get(*k));
        match (x, y) {
            (None, _) | (_, None) => false,
            _ => !((diff::is_empty(x) && diff::is_empty(y)) || x == y),
        }
    })
}

/// `v<N+1>`, N the highest `v<N>` among the function's versions.
fn next_version_name(live: Option<&LiveFunction>) -> String {
    let highest = live
        .and_then(|l| l.versions.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.version.strip_prefix('v')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("v{}", highest + 1)
}

impl<'a> Ctx<'a> {
    /// What a version of `function` freezes, as the manifests want it, hashed: its desired
    /// view without tags, with dependency names for their version ids. Recorded with each
    /// version fgform publishes, so a publish lost after the function's update (the call
    /// failed, the run was killed) is made by the next plan, though nothing else differs.
    /// Secrets are left out (only their change in the same plan publishes).
    fn version_fingerprint(&self, function: &str, spec: &FunctionSpec) -> String {
        use sha2::Digest as _;
        let mut view = self.function_after(function, spec);
        view.remove("tags");
        view.remove("encrypted_user_data");
        view.insert("depend_version_list".into(), json!(spec.dependencies));
        let text = serde_json::to_string(&view).expect("a view serializes");
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    pub(super) fn version(&mut self, function: &str, spec: &FunctionSpec) {
        let Some(versions) = &spec.versions else { return };
        if versions.publish == Publish::Never {
            return;
        }
        let address = Address::Version(function.into());
        let live = (!self.recreated.contains(function))
            .then(|| self.live.functions.get(function).map(|f| &**f))
            .flatten();
        let newest = live.and_then(LiveFunction::newest_version);
        // An update of anything but tags in this plan (a create or replace has no live
        // version to compare: `stale`), or latest unlike the newest version.
        let function_changes = self.reconfigured.contains(function);
        let stale = match (live, newest) {
            (Some(live), Some(newest)) => differs(live, newest),
            _ => true,
        };
        let fingerprint = self.version_fingerprint(function, spec);
        let recorded = self
            .in_state(&address)
            .and_then(|r| r.attributes.get("fingerprint"))
            .and_then(|v| v.as_str().map(str::to_string));
        let lost = recorded.is_some_and(|fp| fp != fingerprint);
        if !function_changes && !stale && !lost {
            if let Some(newest) = newest {
                let mut view = version_view(newest);
                view["fingerprint"] = fingerprint.into();
                self.rerecord_if_stale(&address, &view);
            }
            return;
        }
        let name = next_version_name(live);
        let digest = self
            .artifacts
            .digests
            .get(&Address::Function(function.into()))
            .map(|d| d.sha512.clone());
        let description = versions.description.clone().unwrap_or_default();
        let after = json!({
            "version": name,
            "code": digest.clone().map(Value::String).unwrap_or_else(|| KNOWN_AFTER_APPLY.into()),
            "description": description,
            "fingerprint": fingerprint,
        });
        let request = PublishVersionRequest {
            version: Some(name.clone()),
            description: Some(description),
            digest,
        };
        let call = Call::send(Request::CreateFunctionVersion(Box::new(request)));
        self.published.insert(function.into(), name);
        let (action, before) = match self.in_state(&address) {
            Some(_) => (Action::Update, state_view(self.state, &address)),
            None => (Action::Create, Value::Null),
        };
        match action {
            Action::Create => self.push_create(address, vec![call], after),
            _ => {
                let attributes = compare(&before, &after, &["version", "code", "description"], &|_| false);
                self.push(address, action, vec![call], before, after, attributes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_named_after_the_highest_number() {
        assert_eq!(next_version_name(None), "v1");
        let mut live = LiveFunction::default();
        let named = |v: &str| FunctionConfig {
            version: v.into(),
            ..Default::default()
        };
        live.versions = Some(vec![named("v2"), named("20240101-000000"), named("v10"), named("vx")]);
        assert_eq!(next_version_name(Some(&live)), "v11");
    }

    #[test]
    fn only_frozen_attributes_both_sides_show_are_compared() {
        let mut latest = LiveFunction::default();
        latest.config.digest = "abc".into();
        latest.config.memory_size = 256;
        latest.config.description = "new words".into();
        let mut v1 = latest.config.clone();
        v1.version = "v1".into();
        assert!(!differs(&latest, &v1), "the description is not frozen");
        v1.memory_size = 128;
        assert!(differs(&latest, &v1));
        v1.memory_size = 256;
        v1.digest = "old".into();
        assert!(differs(&latest, &v1));
    }
}
