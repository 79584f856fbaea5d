//! A stack's `outputs:` resolved from the manifests and the state alone (no API call), and
//! rendered as `fgform output` and `apply` print them: `name = "value"` lines, sorted, a
//! sensitive one as `(sensitive)`; or JSON, `{"NAME": {"value", "sensitive", "description"?}}`.

use serde_json::{Map, Value};

use crate::model::{Address, Desired, OutputSpec, Part, StateRef};
use crate::state::State;

/// An output with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub name: &'a str,
    pub spec: &'a OutputSpec,
    pub value: String,
}

/// Why an output has no value (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("output `{output}` refers to {address}, which is not in the state")]
    NotInState { output: String, address: Address },
    #[error("output `{output}`: the state's record of {address} holds no {attribute}")]
    NoAttribute {
        output: String,
        address: Address,
        attribute: &'static str,
    },
}

impl Unresolved {
    /// The resource the output waits for.
    pub fn address(&self) -> &Address {
        match self {
            Unresolved::NotInState { address, .. } | Unresolved::NoAttribute { address, .. } => address,
        }
    }
}

/// The value of output `name` (`spec`) as `state` records its resources.
pub fn value(name: &str, spec: &OutputSpec, state: &State) -> Result<String, Unresolved> {
    let mut out = String::new();
    for part in &spec.value {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::State(reference) => out.push_str(&read(name, reference, state)?),
        }
    }
    Ok(out)
}

/// One attribute of one record.
fn read(output: &str, reference: &StateRef, state: &State) -> Result<String, Unresolved> {
    let address = reference.address();
    let Some(record) = state.resources.get(&address.to_string()) else {
        return Err(Unresolved::NotInState {
            output: output.to_string(),
            address,
        });
    };
    let (attribute, value) = match reference {
        StateRef::FunctionUrn(_)
        | StateRef::TriggerId { .. }
        | StateRef::AliasUrn { .. }
        | StateRef::WorkflowId(_)
        | StateRef::DependencyId(_) => return Ok(record.id.clone()),
        StateRef::WorkflowUrn(_) => ("workflow_urn", record.private.get("workflow_urn")),
        StateRef::FunctionVersion(_) | StateRef::DependencyVersion(_) => ("version", record.attributes.get("version")),
    };
    match value {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(Unresolved::NoAttribute {
            output: output.to_string(),
            address,
            attribute,
        }),
    }
}

/// Every output of `desired`, sorted by name; the first (by name) that `state` cannot
/// resolve is the error.
pub fn resolve_all<'a>(desired: &'a Desired, state: &State) -> Result<Vec<Resolved<'a>>, Unresolved> {
    desired
        .outputs
        .iter()
        .map(|(name, spec)| {
            Ok(Resolved {
                name,
                spec,
                value: value(name, spec, state)?,
            })
        })
        .collect()
}

/// `value` as a quoted string, as Terraform prints one.
pub fn quoted(value: &str) -> String {
    serde_json::to_string(value).expect("strings serialize")
}

/// `name = "value"`, or `name = (sensitive)`.
pub fn line(name: &str, spec: &OutputSpec, value: &str) -> String {
    if spec.sensitive {
        format!("{name} = (sensitive)")
    } else {
        format!("{name} = {}", quoted(value))
    }
}

/// `{"NAME": {"value": …, "sensitive": …, "description"?: …}}`, sensitive values included.
pub fn json(resolved: &[Resolved<'_>]) -> Value {
    let mut out = Map::new();
    for output in resolved {
        let mut entry = Map::new();
        entry.insert("value".into(), output.value.clone().into());
        entry.insert("sensitive".into(), output.spec.sensitive.into());
        if let Some(description) = &output.spec.description {
            entry.insert("description".into(), description.clone().into());
        }
        out.insert(output.name.to_string(), Value::Object(entry));
    }
    Value::Object(out)
}

/// What `apply` tells of the outputs after its summary, each output resolved once.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterApply {
    /// The text form: a blank line, `Outputs:`, a blank line and one line per output. An
    /// output whose resource the state does not hold (after `--target`) says which one it
    /// waits for.
    pub lines: Vec<String>,
    /// The JSON form: `{"NAME": {"sensitive": …, "value"?: …}}`, the value left out when it is
    /// sensitive (events carry no secret) or not yet known.
    pub values: Value,
}

/// [`AfterApply`]; `None` when the stack declares no outputs or there is no state.
pub fn after_apply(desired: &Desired, state: Option<&State>) -> Option<AfterApply> {
    let state = state.filter(|_| !desired.outputs.is_empty())?;
    let mut lines = vec![String::new(), "Outputs:".to_string(), String::new()];
    let mut values = Map::new();
    for (name, spec) in &desired.outputs {
        let resolved = value(name, spec, state);
        let mut entry = Map::new();
        entry.insert("sensitive".into(), spec.sensitive.into());
        lines.push(match &resolved {
            Ok(value) => {
                if !spec.sensitive {
                    entry.insert("value".into(), value.clone().into());
                }
                line(name, spec, value)
            }
            Err(why) => format!("{name} = (not yet known: {} is not applied)", why.address()),
        });
        values.insert(name.clone(), Value::Object(entry));
    }
    Some(AfterApply {
        lines,
        values: Value::Object(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Attributes, ResourceState};

    fn record(kind: &str, id: &str, attributes: Value, private: Value) -> ResourceState {
        ResourceState {
            kind: kind.into(),
            id: id.into(),
            attributes: Attributes::from_object(&attributes),
            private: Attributes::from_object(&private),
        }
    }

    fn state() -> State {
        let mut state = State::new("shop", None);
        let null = Value::Null;
        for (address, record) in [
            (
                "function.api",
                record("function", "urn:f:api", null.clone(), null.clone()),
            ),
            (
                "function.api.version",
                record(
                    "version",
                    "urn:f:api",
                    serde_json::json!({"version": "v3"}),
                    null.clone(),
                ),
            ),
            (
                "function.api.alias.live",
                record("alias", "urn:f:api:!live", null.clone(), null.clone()),
            ),
            (
                "function.api.trigger.warm",
                record("trigger", "t-1", null.clone(), null.clone()),
            ),
            (
                "workflow.etl",
                record(
                    "workflow",
                    "w-1",
                    null.clone(),
                    serde_json::json!({"workflow_urn": "urn:w:etl"}),
                ),
            ),
            (
                "dependency.pillow.v2",
                record("dependency", "d-1", serde_json::json!({"version": 4}), null.clone()),
            ),
        ] {
            state.resources.insert(address.into(), record);
        }
        state
    }

    fn output(parts: Vec<Part>, sensitive: bool) -> OutputSpec {
        OutputSpec {
            value: parts,
            description: None,
            sensitive,
        }
    }

    #[test]
    fn every_reference_reads_its_record() {
        let state = state();
        for (reference, expected) in [
            (StateRef::FunctionUrn("api".into()), "urn:f:api"),
            (StateRef::FunctionVersion("api".into()), "v3"),
            (
                StateRef::AliasUrn {
                    function: "api".into(),
                    alias: "live".into(),
                },
                "urn:f:api:!live",
            ),
            (
                StateRef::TriggerId {
                    function: "api".into(),
                    trigger: "warm".into(),
                },
                "t-1",
            ),
            (StateRef::WorkflowUrn("etl".into()), "urn:w:etl"),
            (StateRef::WorkflowId("etl".into()), "w-1"),
            (StateRef::DependencyId("pillow.v2".into()), "d-1"),
            (StateRef::DependencyVersion("pillow.v2".into()), "4"),
        ] {
            let spec = output(
                vec![
                    Part::Text("<".into()),
                    Part::State(reference.clone()),
                    Part::Text(">".into()),
                ],
                false,
            );
            assert_eq!(
                value("o", &spec, &state).unwrap(),
                format!("<{expected}>"),
                "{reference}"
            );
        }
    }

    #[test]
    fn a_resource_not_in_state_or_an_attribute_it_lacks_is_an_error() {
        let mut state = state();
        let spec = output(vec![Part::State(StateRef::WorkflowId("other".into()))], false);
        assert_eq!(
            value("id", &spec, &state).unwrap_err().to_string(),
            "output `id` refers to workflow.other, which is not in the state"
        );
        state.resources.get_mut("function.api.version").unwrap().attributes = Attributes::default();
        let spec = output(vec![Part::State(StateRef::FunctionVersion("api".into()))], false);
        assert_eq!(
            value("v", &spec, &state).unwrap_err().to_string(),
            "output `v`: the state's record of function.api.version holds no version"
        );
    }

    #[test]
    fn listings_hide_sensitive_values_and_json_holds_them() {
        let mut desired = crate::manifest::load_sources(
            std::path::Path::new("."),
            vec![crate::manifest::Source {
                path: "stack.yaml".into(),
                text: "stack: s\n".into(),
            }],
            Vec::new(),
            &Default::default(),
        )
        .unwrap();
        let mut token = output(vec![Part::Text("s3cr\"t".into())], true);
        token.description = Some("for the pipeline".into());
        desired.outputs.insert("token".into(), token);
        desired.outputs.insert(
            "workflow".into(),
            output(vec![Part::State(StateRef::WorkflowId("etl".into()))], false),
        );
        desired.outputs.insert(
            "pending".into(),
            output(vec![Part::State(StateRef::FunctionUrn("later".into()))], false),
        );
        let told = after_apply(&desired, Some(&state())).unwrap();
        assert_eq!(
            told.values.to_string(),
            r#"{"pending":{"sensitive":false},"token":{"sensitive":true},"workflow":{"sensitive":false,"value":"w-1"}}"#
        );
        assert_eq!(
            told.lines,
            [
                "",
                "Outputs:",
                "",
                "pending = (not yet known: function.later is not applied)",
                "token = (sensitive)",
                "workflow = \"w-1\"",
            ]
        );
        assert!(resolve_all(&desired, &state()).is_err());
        desired.outputs.remove("pending");
        let resolved = resolve_all(&desired, &state()).unwrap();
        assert_eq!(
            json(&resolved).to_string(),
            r#"{"token":{"value":"s3cr\"t","sensitive":true,"description":"for the pipeline"},"workflow":{"value":"w-1","sensitive":false}}"#
        );
        desired.outputs.clear();
        assert!(after_apply(&desired, Some(&state())).is_none());
    }
}
