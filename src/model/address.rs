//! Resource addresses: `function.thumbnail`, `function.thumbnail.trigger.nightly`,
//! `function.thumbnail.async`, `function.thumbnail.version` (its published versions),
//! `function.thumbnail.alias.live`, `dependency.pillow`, `workflow.nightly-etl`. Used in plan
//! output, state, errors and `--target`.

use std::fmt;
use std::str::FromStr;

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Address {
    Function(String),
    Trigger {
        function: String,
        trigger: String,
    },
    Async(String),
    /// The versions fgform publishes of a function (the last one is recorded).
    Version(String),
    Alias {
        function: String,
        alias: String,
    },
    Dependency(String),
    Workflow(String),
}

impl Address {
    /// The resource kind as the state and the JSON plan name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Function(_) => "function",
            Address::Trigger { .. } => "trigger",
            Address::Async(_) => "async",
            Address::Version(_) => "version",
            Address::Alias { .. } => "alias",
            Address::Dependency(_) => "dependency",
            Address::Workflow(_) => "workflow",
        }
    }

    /// The address this one belongs to (`function.x` for its triggers and async config).
    pub fn parent(&self) -> Option<Address> {
        match self {
            Address::Trigger { function, .. }
            | Address::Async(function)
            | Address::Version(function)
            | Address::Alias { function, .. } => Some(Address::Function(function.clone())),
            _ => None,
        }
    }

    /// Whether `--target self` selects `other` (itself or one of its children).
    pub fn contains(&self, other: &Address) -> bool {
        self == other || other.parent().as_ref() == Some(self)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Function(name) => write!(f, "function.{name}"),
            Address::Trigger { function, trigger } => write!(f, "function.{function}.trigger.{trigger}"),
            Address::Async(function) => write!(f, "function.{function}.async"),
            Address::Version(function) => write!(f, "function.{function}.version"),
            Address::Alias { function, alias } => write!(f, "function.{function}.alias.{alias}"),
            Address::Dependency(name) => write!(f, "dependency.{name}"),
            Address::Workflow(name) => write!(f, "workflow.{name}"),
        }
    }
}

/// A string that is not a resource address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a resource address (function.NAME, function.NAME.trigger.NAME, function.NAME.async, function.NAME.version, function.NAME.alias.NAME, dependency.NAME, workflow.NAME)")]
pub struct AddressParseError(pub String);

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressParseError(s.to_string());
        let (kind, rest) = s.split_once('.').ok_or_else(err)?;
        if rest.is_empty() {
            return Err(err());
        }
        match kind {
            // Function names cannot contain dots, so the first dot ends the name.
            "function" => match rest.split_once('.') {
                None => Ok(Address::Function(rest.into())),
                Some((function, "async")) if !function.is_empty() => Ok(Address::Async(function.into())),
                Some((function, "version")) if !function.is_empty() => Ok(Address::Version(function.into())),
                Some((function, tail)) if !function.is_empty() => {
                    if let Some(trigger) = tail.strip_prefix("trigger.").filter(|t| !t.is_empty()) {
                        Ok(Address::Trigger {
                            function: function.into(),
                            trigger: trigger.into(),
                        })
                    } else if let Some(alias) = tail
                        .strip_prefix("alias.")
                        .filter(|a| !a.is_empty() && !a.contains('.'))
                    {
                        Ok(Address::Alias {
                            function: function.into(),
                            alias: alias.into(),
                        })
                    } else {
                        Err(err())
                    }
                }
                Some(_) => Err(err()),
            },
            "dependency" => Ok(Address::Dependency(rest.into())),
            "workflow" if !rest.contains('.') => Ok(Address::Workflow(rest.into())),
            _ => Err(err()),
        }
    }
}

impl From<Address> for String {
    fn from(address: Address) -> String {
        address.to_string()
    }
}

impl TryFrom<String> for Address {
    type Error = AddressParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_text() {
        for text in [
            "function.thumbnail",
            "function.thumbnail.trigger.nightly",
            "function.thumbnail.async",
            "function.thumbnail.version",
            "function.thumbnail.alias.live",
            "dependency.pillow.v2",
            "workflow.nightly-etl",
        ] {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
        }
        for bad in [
            "function",
            "function.",
            "thing.x",
            "function.a.b",
            "function.a.trigger.",
            "workflow.a.b",
            "function.a.alias.",
            "function.a.alias.b.c",
            "function..version",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_function_target_contains_its_triggers_and_async_config() {
        let function: Address = "function.f".parse().unwrap();
        assert!(function.contains(&"function.f.trigger.t".parse().unwrap()));
        assert!(function.contains(&"function.f.async".parse().unwrap()));
        assert!(!function.contains(&"function.g".parse().unwrap()));
    }
}
