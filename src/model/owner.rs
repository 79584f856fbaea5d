//! Who owns a live function: the value of its `fgform-stack` tag.
//!
//! The tag names the stack, the stage and the lineage of the one state that manages the
//! function: `shop@<lineage>` or `shop:prod@<lineage>`. Only a resource whose tag names
//! exactly the state at hand may be adopted automatically (it is what a crash of that state
//! left behind); a resource tagged for another state of the same stack, for another stack,
//! or not at all is never adopted, changed or deleted without an explicit `fgform import`.
//! Tags written before the lineage was part of the value (`shop`) parse with no lineage and
//! name no state.

use std::fmt;

/// A parsed ownership tag value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub stack: String,
    pub stage: Option<String>,
    /// The owning state's lineage; `None` for a tag from before lineages were tagged.
    pub lineage: Option<String>,
}

impl Owner {
    /// The owner a state of `stack`/`stage` with `lineage` writes.
    pub fn new(stack: &str, stage: Option<&str>, lineage: &str) -> Self {
        Owner {
            stack: stack.to_string(),
            stage: stage.map(str::to_string),
            lineage: Some(lineage.to_string()),
        }
    }

    /// Parses a tag value (never fails: any value names some owner).
    pub fn parse(value: &str) -> Self {
        let (head, lineage) = match value.rsplit_once('@') {
            Some((head, lineage)) if !lineage.is_empty() => (head, Some(lineage.to_string())),
            _ => (value, None),
        };
        let (stack, stage) = match head.split_once(':') {
            Some((stack, stage)) if !stage.is_empty() => (stack, Some(stage.to_string())),
            _ => (head, None),
        };
        Owner {
            stack: stack.to_string(),
            stage,
            lineage,
        }
    }

    /// The tag value.
    pub fn tag_value(&self) -> String {
        self.to_string()
    }

    /// Whether this names exactly the state `stack`/`stage`/`lineage`.
    pub fn is_state(&self, stack: &str, stage: Option<&str>, lineage: &str) -> bool {
        self.stack == stack && self.stage.as_deref() == stage && self.lineage.as_deref() == Some(lineage)
    }

    /// Whether this names the same stack and stage (any state of it).
    pub fn is_stack_stage(&self, stack: &str, stage: Option<&str>) -> bool {
        self.stack == stack && self.stage.as_deref() == stage
    }

    /// "stack `shop` (stage `prod`), state lineage 3f2a…" for messages.
    pub fn describe(&self) -> String {
        let mut out = format!("stack `{}`", self.stack);
        if let Some(stage) = &self.stage {
            out.push_str(&format!(" stage `{stage}`"));
        }
        match &self.lineage {
            Some(lineage) => out.push_str(&format!(", state lineage {lineage}")),
            None => out.push_str(" (a tag from before fgform named the owning state)"),
        }
        out
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stack)?;
        if let Some(stage) = &self.stage {
            write!(f, ":{stage}")?;
        }
        if let Some(lineage) = &self.lineage {
            write!(f, "@{lineage}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_stage() {
        for owner in [
            Owner::new("shop", None, "3f2a0c1e-0000-4000-8000-000000000001"),
            Owner::new("shop", Some("prod"), "3f2a0c1e-0000-4000-8000-000000000001"),
        ] {
            assert_eq!(Owner::parse(&owner.tag_value()), owner);
            assert!(owner.tag_value().len() <= crate::model::limits::TAG_VALUE_MAX);
        }
        assert_eq!(Owner::new("shop", Some("prod"), "abc").tag_value(), "shop:prod@abc");
    }

    #[test]
    fn a_legacy_value_names_a_stack_and_no_state() {
        let legacy = Owner::parse("shop");
        assert_eq!(legacy.stack, "shop");
        assert_eq!(legacy.lineage, None);
        assert!(!legacy.is_state("shop", None, "abc"));
        assert!(legacy.is_stack_stage("shop", None));
    }

    #[test]
    fn another_state_of_the_same_stack_is_not_this_state() {
        let other = Owner::new("shop", None, "lineage-a");
        assert!(other.is_state("shop", None, "lineage-a"));
        assert!(!other.is_state("shop", None, "lineage-b"));
        assert!(!other.is_state("shop", Some("prod"), "lineage-a"));
        assert!(!Owner::new("shop", Some("dev"), "x").is_state("shop", Some("prod"), "x"));
    }
}
