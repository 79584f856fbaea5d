//! Functions: create, replace, or the narrowest updates (config, code, tags).

use super::*;
use crate::api::types::{Tag, UpdateFunctionCodeRequest};

impl<'a> Ctx<'a> {
    /// The desired view of function `name`: what apply records and the diff compares.
    pub(in crate::plan) fn function_after(&self, name: &str, spec: &FunctionSpec) -> Map<String, Value> {
        let mut body = spec.config_body();
        let object = body.as_object_mut().expect("object");
        object.remove("func_name");
        object.remove("encrypted_user_data");
        let user_data = spec.user_data().map(|u| parse_json_string(&u)).unwrap_or(Value::Null);
        object.insert("user_data".into(), user_data);
        if !spec.secrets.is_empty() {
            object.insert("encrypted_user_data".into(), SENSITIVE.into());
        }
        let code_type = match self.bucket_url(name) {
            Some(_) => "obs",
            None => spec.code.code_type(),
        };
        object.insert("code_type".into(), code_type.into());
        let code = self
            .artifacts
            .digests
            .get(&Address::Function(name.into()))
            .map(|d| d.sha512.clone())
            .or_else(|| spec.code.obs_url(self.desired.region()))
            .unwrap_or_default();
        object.insert("code".into(), code.into());
        let mut versions = Vec::new();
        for dep in &spec.dependencies {
            let id = if self.new_versions.contains(dep) {
                KNOWN_AFTER_APPLY.to_string()
            } else {
                self.in_state(&Address::Dependency(dep.clone()))
                    .map(|r| r.id.clone())
                    .unwrap_or_else(|| KNOWN_AFTER_APPLY.into())
            };
            versions.push(Value::String(id));
        }
        versions.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        object.insert("depend_version_list".into(), Value::Array(versions));
        let mut tags: Map<String, Value> = spec.tags.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        tags.insert(OWNERSHIP_TAG_KEY.into(), self.state.owner().tag_value().into());
        object.insert("tags".into(), Value::Object(tags));
        std::mem::take(object)
    }

    pub(super) fn function_live(&self, address: &Address, live: &LiveFunction) -> Map<String, Value> {
        let recorded = self.in_state(address).and_then(|r| r.private.get("secrets_hmac"));
        let name = match address {
            Address::Function(name) => name.as_str(),
            _ => "",
        };
        // A package fgform put in the code bucket is compared by content, as a zip is: the
        // service reports the SHA-512 of the object it fetched.
        let by_digest = self.bucket_url(name).is_some();
        function_view_with(live, recorded.is_some_and(|v| !v.is_null()), by_digest)
    }

    /// The code bucket URL function `name`'s package is sent by, when it is too large for a
    /// base64 upload.
    fn bucket_url(&self, name: &str) -> Option<String> {
        let digests = self.artifacts.digests.get(&Address::Function(name.into()))?;
        digests.bucket_url.clone()
    }

    /// `request` sending the package through the code bucket when it goes there:
    /// `code_type: obs` and its content-addressed `code_url`.
    fn through_bucket(&self, name: &str, request: &mut UpdateFunctionCodeRequest) {
        if let Some(url) = self.bucket_url(name) {
            request.code_type = "obs".into();
            request.code_url = Some(url);
            request.code_filename = None;
        }
    }

    pub(super) fn function(&mut self, name: &str, spec: &FunctionSpec) {
        let address = Address::Function(name.into());
        let after = Value::Object(self.function_after(name, spec));
        let recorded = self.in_state(&address);
        let live = self.live.functions.get(name);
        if let Some(live) = live {
            if let Some(reason) = not_ours(self.state, recorded, live) {
                self.plan
                    .blocked
                    .push(blocked_function(name, live, recorded.is_some(), reason));
                self.skipped.insert(name.into());
                return;
            }
            if recorded.is_none() {
                // Tagged for exactly this state: what a crash of this state left behind.
                self.plan.adopt.push((address.clone(), live.config.func_urn.clone()));
            }
        }
        let Some(live) = live else {
            self.recreated.insert(name.into());
            let calls = self.create_calls(name, spec);
            // Tags go in the create body.
            self.push_create(address, calls, after);
            return;
        };
        let before = Value::Object(self.function_live(&address, live));
        // Keys the manifest stopped setting are compared as "empty" so they get cleared.
        let mut keys = function_keys();
        let set_before: BTreeSet<String> = recorded
            .map(|r| r.attributes.keys().into_iter().collect())
            .unwrap_or_default();
        keys.retain(|k| after.get(*k).is_some() || set_before.contains(*k));
        let mut attributes = compare(&before, &after, &keys, &|k| REPLACE_KEYS.contains(&k));
        // Secrets: the API masks them, so compare the fingerprints kept in state.
        let key = crate::plan::hmac_key(self.state);
        let want = spec.encrypted_user_data();
        let have = recorded
            .and_then(|r| r.private.get("secrets_hmac"))
            .and_then(|v| v.as_str().map(str::to_string));
        if !diff::secret_unchanged(have.as_deref(), want.as_ref().map(|s| s.expose()), key) {
            attributes.push(AttrDiff {
                path: "encrypted_user_data".into(),
                before: have.map(|_| SENSITIVE.into()),
                after: want.map(|_| SENSITIVE.into()),
                forces_replacement: false,
                sensitive: true,
            });
        }
        if attributes.is_empty() {
            self.rerecord_if_stale(&address, &after);
            return;
        }
        if attributes.iter().any(|a| a.forces_replacement) {
            self.recreated.insert(name.into());
            let mut calls = vec![Call::bare(Operation::DeleteFunction)];
            calls.extend(self.create_calls(name, spec));
            self.push(address, Action::Replace, calls, before, after, attributes);
            return;
        }
        // Listed config, code, tags, as plans always have (the applier has its own order).
        let (mut config, mut code, mut tags) = (false, false, false);
        for a in &attributes {
            let k = a.path.as_str();
            if CODE_KEYS.contains(&k) {
                code = true;
            } else if k == "tags" {
                tags = true;
            } else {
                config = true;
            }
        }
        let region = self.desired.region();
        let mut calls = Vec::new();
        if config {
            calls.push(Call::send(Request::UpdateFunctionConfig(Box::new(
                spec.config_request(),
            ))));
        }
        if code {
            // `func_code.file` and `depend_version_list` are the applier's to fill in.
            let mut request = spec.code_request(region, None, &[]);
            self.through_bucket(name, &mut request);
            calls.push(Call::send(Request::UpdateFunctionCode(Box::new(request))));
        }
        if tags {
            calls.push(Call::send(Request::CreateTags(self.function_tags(spec))));
        }
        if attributes.iter().any(|a| a.path != "tags") {
            self.reconfigured.insert(name.into());
        }
        self.push(address, Action::Update, calls, before, after, attributes);
    }

    /// A create: config, code and tags in one body (`func_code.file` and
    /// `depend_version_list` are the applier's to fill in), then the config again when the
    /// create does not take all of it (`strategy_config`).
    fn create_calls(&self, name: &str, spec: &FunctionSpec) -> Vec<Call> {
        let tags = self.function_tags(spec);
        let mut create = spec.create_request(self.desired.region(), None, &[], &tags);
        if let Some(url) = self.bucket_url(name) {
            create.code_type = "obs".into();
            create.code_url = Some(url);
            create.code_filename = None;
        }
        let mut calls = vec![Call::send(Request::CreateFunction(Box::new(create)))];
        if spec.strategy_config.is_some() {
            calls.push(Call::send(Request::UpdateFunctionConfig(Box::new(
                spec.config_request(),
            ))));
        }
        calls
    }

    /// The tags a function carries: the manifest's, then this state's ownership tag.
    fn function_tags(&self, spec: &FunctionSpec) -> Vec<Tag> {
        let mut tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        tags.push(Tag {
            key: OWNERSHIP_TAG_KEY.into(),
            value: self.state.owner().tag_value(),
        });
        tags
    }
}
