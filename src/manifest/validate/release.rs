//! `functions.<name>.versions`, `.aliases` and `.rollout`, and the aliases triggers and
//! async settings name as their `qualifier`.

use std::collections::BTreeMap;

use super::{get, join, Checker, Entries};
use crate::api::limits::*;
use crate::api::rules::*;
use crate::manifest::schema;
use crate::manifest::yaml::{Kind, Node};
use crate::model::release::{parse_duration, parse_rate, LATEST_PUBLISHED};
use crate::model::*;

/// What `versions`, `aliases` and `rollout` of one function hold.
pub(super) struct Releases {
    pub versions: Option<VersionsSpec>,
    pub aliases: BTreeMap<String, AliasSpec>,
    pub rollout: Option<RolloutSpec>,
}

impl Checker<'_> {
    pub(super) fn releases(&mut self, fields: Entries<'_>, path: &str, function: &str) -> Releases {
        let versions = get(fields, "versions").and_then(|node| self.versions(node, &join(path, "versions")));
        let mut aliases = BTreeMap::new();
        if let Some(node) = get(fields, "aliases") {
            let p = join(path, "aliases");
            if let Some(entries) = self.object(node, &p, &[], true) {
                if entries.len() > ALIASES_PER_FUNCTION {
                    self.error(
                        node.span,
                        &p,
                        format!("{} aliases is too many", entries.len()),
                        Some(format!("a function has at most {ALIASES_PER_FUNCTION} aliases")),
                    );
                }
                for entry in entries {
                    let address = Address::Alias {
                        function: function.into(),
                        alias: entry.key.clone(),
                    };
                    self.address = Some(address.clone());
                    if versions.is_some() {
                        self.edges.insert((address, Address::Version(function.into())));
                    }
                    if let Some(alias) = self.alias(&entry.key, entry.key_span, &entry.value, &p) {
                        aliases.insert(entry.key.clone(), alias);
                    }
                }
                self.address = Some(Address::Function(function.into()));
            }
        }
        let rollout = get(fields, "rollout").and_then(|node| self.rollout(node, &join(path, "rollout"), &aliases));
        Releases {
            versions,
            aliases,
            rollout,
        }
    }

    fn versions(&mut self, node: &Node, path: &str) -> Option<VersionsSpec> {
        let fields = self.object(node, path, schema::VERSIONS, false)?;
        let publish = match self.opt_string(fields, "publish", path).as_deref() {
            None | Some("on-change") => Publish::OnChange,
            Some("never") => Publish::Never,
            Some(other) => {
                let span = get(fields, "publish").map(|n| n.span).unwrap_or_default();
                self.error(
                    span,
                    &join(path, "publish"),
                    format!("`{other}` is not `on-change` or `never`"),
                    Some(
                        "`on-change` publishes a version when code or configuration changed; `never` publishes none"
                            .into(),
                    ),
                );
                return None;
            }
        };
        let description = self.description(fields, path);
        Some(VersionsSpec { publish, description })
    }

    fn alias(
        &mut self,
        name: &str,
        key_span: crate::manifest::yaml::Span,
        node: &Node,
        path: &str,
    ) -> Option<AliasSpec> {
        let path = join(path, name);
        if alias_name(name).is_err() {
            self.error(
                key_span,
                &path,
                format!("`{name}` is not a valid alias name"),
                Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter and ending with a letter or digit; not `latest`".into()),
            );
        }
        let fields = self.object(node, &path, schema::ALIAS, false)?;
        let version_node = get(fields, "version");
        let version = self
            .opt_string(fields, "version", &path)
            .map(|v| AliasTarget::parse(&v));
        if let (Some(AliasTarget::Named(v)), Some(n)) = (&version, version_node) {
            if v != "latest" && version_name(v).is_err() {
                self.error(
                    n.span,
                    &join(&path, "version"),
                    format!("`{v}` is not a version name"),
                    Some(format!(
                        "write `{LATEST_PUBLISHED}`, `latest` or a published version's name"
                    )),
                );
            }
        }
        let description = self.description(fields, &path);
        let mut weights = BTreeMap::new();
        if let Some(node) = get(fields, "weights") {
            let wp = join(&path, "weights");
            let pairs = self.string_map(node, &wp);
            let parsed: Vec<(String, Option<i64>)> = pairs
                .iter()
                .map(|(k, v, _)| (k.clone(), v.trim().parse::<i64>().ok()))
                .collect();
            let main = version.as_ref().map(AliasTarget::as_str).unwrap_or_default();
            let borrowed: Vec<(&str, Option<i64>)> = parsed.iter().map(|(k, w)| (k.as_str(), *w)).collect();
            if let Err(v) = alias_weights(main, &borrowed) {
                let hint = match v.code {
                    "FSS.1092" => "write a whole percentage, e.g. `v3: 10`",
                    "FSS.1093" => "the additional version must differ from `version`",
                    _ => "name one published version besides the main one, e.g. `weights: {v3: 10}`",
                };
                self.error(node.span, &wp, v.message, Some(hint.into()));
            }
            for ((version, weight), (_, _, span)) in parsed.iter().zip(&pairs) {
                if version_name(version).is_err() {
                    self.error(
                        *span,
                        &join(&wp, version),
                        format!("`{version}` is not a version name"),
                        Some("weights name a published version, e.g. `v3: 10`".into()),
                    );
                }
                if let Some(w) = weight.filter(|w| (0..=100).contains(w)) {
                    weights.insert(version.clone(), w as u8);
                }
            }
        }
        Some(AliasSpec {
            name: name.to_string(),
            version: version?,
            weights,
            description,
        })
    }

    fn rollout(&mut self, node: &Node, path: &str, aliases: &BTreeMap<String, AliasSpec>) -> Option<RolloutSpec> {
        let fields = self.object(node, path, schema::ROLLOUT, false)?;
        let alias_node = get(fields, "alias");
        let alias = self.opt_string(fields, "alias", path);
        if let (Some(alias), Some(n)) = (&alias, alias_node) {
            match aliases.get(alias) {
                None => {
                    let names: Vec<&str> = aliases.keys().map(String::as_str).collect();
                    self.error(
                        n.span,
                        &join(path, "alias"),
                        format!("`{alias}` is not one of this function's aliases"),
                        Some(if names.is_empty() {
                            format!("declare it under `aliases:`, e.g. `aliases: {{{alias}: {{version: {LATEST_PUBLISHED}}}}}`")
                        } else {
                            format!("aliases: {}", names.join(", "))
                        }),
                    );
                }
                Some(spec) if spec.version != AliasTarget::LatestPublished => self.error(
                    n.span,
                    &join(path, "alias"),
                    format!(
                        "alias `{alias}` is pinned to `{}`, so no new version ever rolls out to it",
                        spec.version.as_str()
                    ),
                    Some(format!("set `aliases.{alias}.version: {LATEST_PUBLISHED}`")),
                ),
                Some(spec) if !spec.weights.is_empty() => self.error(
                    n.span,
                    &join(path, "alias"),
                    format!("alias `{alias}` sets `weights`, which the rollout manages"),
                    Some(format!("remove `aliases.{alias}.weights`")),
                ),
                Some(_) => {}
            }
        }
        let steps = self.steps(fields, path);
        let interval = self.duration(fields, "interval", path);
        let max_error_rate = match get(fields, "max_error_rate") {
            None => Some(0.01),
            Some(n) => {
                let text = self.string(n, &join(path, "max_error_rate"))?;
                let rate = parse_rate(&text);
                if rate.is_none() {
                    self.error(
                        n.span,
                        &join(path, "max_error_rate"),
                        format!("`{text}` is not an error rate"),
                        Some("write a percentage such as `1%`, or a fraction such as `0.01`".into()),
                    );
                }
                rate
            }
        };
        let min_invocations = match get(fields, "min_invocations") {
            None => Some(1),
            Some(_) => self.ranged(fields, "min_invocations", path, 0..=i64::MAX),
        };
        let deadline = match get(fields, "deadline") {
            None => interval.map(RolloutSpec::default_deadline),
            Some(_) => self.duration(fields, "deadline", path),
        };
        Some(RolloutSpec {
            alias: alias?,
            steps: steps?,
            interval: interval?,
            max_error_rate: max_error_rate?,
            min_invocations: min_invocations? as u64,
            deadline: deadline?,
        })
    }

    fn steps(&mut self, fields: Entries<'_>, path: &str) -> Option<Vec<u8>> {
        let node = get(fields, "steps")?;
        let p = join(path, "steps");
        let items = self.list(node, &p)?;
        let mut steps = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let n = self.int(item, &format!("{p}[{i}]"))?;
            if !(1..=100).contains(&n) || steps.last().is_some_and(|&last: &u8| i64::from(last) >= n) {
                self.error(
                    item.span,
                    &format!("{p}[{i}]"),
                    format!("step {n} does not rise from the one before, within 1–100"),
                    Some("steps are rising percentages ending at 100, e.g. `[10, 50, 100]`".into()),
                );
                return None;
            }
            steps.push(n as u8);
        }
        if steps.last() != Some(&100) {
            self.error(
                node.span,
                &p,
                "the last step must be 100",
                Some("end with 100, e.g. `[10, 50, 100]`: the new version takes all the traffic".into()),
            );
            return None;
        }
        Some(steps)
    }

    fn duration(&mut self, fields: Entries<'_>, key: &str, path: &str) -> Option<u64> {
        let node = get(fields, key)?;
        let p = join(path, key);
        let text = self.string(node, &p)?;
        match parse_duration(&text) {
            Some(secs) if secs > 0 => Some(secs),
            _ => {
                self.error(
                    node.span,
                    &p,
                    format!("`{text}` is not a duration"),
                    Some("write seconds, minutes or hours: `30s`, `5m`, `1h`".into()),
                );
                None
            }
        }
    }

    /// Checks that the `qualifier` of each trigger and of the async settings names one of
    /// the function's aliases, and orders them after it.
    pub(super) fn qualifiers(
        &mut self,
        fields: Entries<'_>,
        path: &str,
        function: &str,
        aliases: &BTreeMap<String, AliasSpec>,
        triggers: &litemap::LiteMap<String, TriggerSpec>,
        async_config: Option<&AsyncSpec>,
    ) {
        let mut named: Vec<(Address, String, String)> = triggers
            .iter()
            .filter_map(|(t, spec)| {
                let q = spec.qualifier.clone()?;
                let address = Address::Trigger {
                    function: function.into(),
                    trigger: t.clone(),
                };
                Some((address, q, format!("triggers.{t}")))
            })
            .collect();
        if let Some(q) = async_config.and_then(|a| a.qualifier.clone()) {
            named.push((Address::Async(function.into()), q, "async".into()));
        }
        for (address, qualifier, at) in named {
            let p = join(&join(path, &at), "qualifier");
            if aliases.contains_key(&qualifier) {
                self.edges.insert((
                    address,
                    Address::Alias {
                        function: function.into(),
                        alias: qualifier,
                    },
                ));
                continue;
            }
            let span = qualifier_span(fields, &at).unwrap_or_default();
            let names: Vec<&str> = aliases.keys().map(String::as_str).collect();
            self.error(
                span,
                &p,
                format!("`{qualifier}` is not one of this function's aliases"),
                Some(if names.is_empty() {
                    format!(
                        "declare it under `aliases:`, e.g. `aliases: {{{qualifier}: {{version: {LATEST_PUBLISHED}}}}}`"
                    )
                } else {
                    format!("aliases: {}", names.join(", "))
                }),
            );
        }
    }
}

/// The span of `<at>.qualifier` (`at` = `async` or `triggers.NAME`) under a function's keys.
fn qualifier_span(fields: Entries<'_>, at: &str) -> Option<crate::manifest::yaml::Span> {
    let mut node_fields = fields;
    let mut node = None;
    for key in at.split('.').chain(["qualifier"]) {
        let n = get(node_fields, key)?;
        node = Some(n.span);
        if let Kind::Map(entries) = &n.kind {
            node_fields = entries;
        }
    }
    node
}
