//! Function and workflow URNs (`shared/reference/fgs-api.md` §1): parsing every form the
//! API accepts as a path parameter, and formatting the forms it returns.

use std::fmt;

/// Which published state of a function a URN points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// The mutable head (`:latest`).
    Latest,
    /// A published version name, or (written without `!`) possibly an alias: the server
    /// looks versions up first.
    Named(String),
    /// An alias written as `!name`.
    Alias(String),
}

impl Qualifier {
    fn parse(s: &str) -> Result<Self, UrnError> {
        if s.is_empty() {
            return Err(UrnError::Invalid("empty qualifier".into()));
        }
        if s == "latest" {
            Ok(Qualifier::Latest)
        } else if let Some(alias) = s.strip_prefix('!') {
            if alias.is_empty() || alias.contains('!') {
                return Err(UrnError::Invalid(format!("invalid alias qualifier `{s}`")));
            }
            Ok(Qualifier::Alias(alias.to_string()))
        } else if s.contains('!') {
            Err(UrnError::Invalid(format!("invalid qualifier `{s}`")))
        } else {
            Ok(Qualifier::Named(s.to_string()))
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Latest => f.write_str("latest"),
            Qualifier::Named(n) => f.write_str(n),
            Qualifier::Alias(a) => write!(f, "!{a}"),
        }
    }
}

/// A function reference parsed from any accepted URN form. Fields the short forms leave
/// out are `None` (project, region) or defaulted (package `default`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionUrn {
    pub region: Option<String>,
    pub project: Option<String>,
    pub package: String,
    pub name: String,
    /// `None` when the URN is unqualified (which reads like `latest` but deletes the whole
    /// function).
    pub qualifier: Option<Qualifier>,
}

/// A URN that cannot be parsed (FSS.1309 on the server).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrnError {
    #[error("invalid URN: {0}")]
    Invalid(String),
}

fn valid_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '!' | '.'))
}

/// `urn` without a trailing `:latest` (what the config of latest names itself), every other
/// form as it is.
pub fn without_latest(urn: &str) -> &str {
    urn.strip_suffix(":latest").unwrap_or(urn)
}

impl FunctionUrn {
    /// Parses the 1, 2, 3, 4, 7 and 8 field forms of §1.
    pub fn parse(s: &str) -> Result<Self, UrnError> {
        if !valid_chars(s) {
            return Err(UrnError::Invalid(format!(
                "`{s}` has characters a function URN cannot hold"
            )));
        }
        let parts: Vec<&str> = s.split(':').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(UrnError::Invalid(format!("`{s}` has an empty field")));
        }
        let urn = |region: Option<&str>, project: Option<&str>, package: &str, name: &str, q: Option<&str>| {
            Ok(FunctionUrn {
                region: region.map(str::to_string),
                project: project.map(str::to_string),
                package: package.to_string(),
                name: name.to_string(),
                qualifier: q.map(Qualifier::parse).transpose()?,
            })
        };
        match parts.as_slice() {
            ["urn", "fss", region, project, "function", package, name] => {
                urn(Some(region), Some(project), package, name, None)
            }
            ["urn", "fss", region, project, "function", package, name, q] => {
                urn(Some(region), Some(project), package, name, Some(q))
            }
            ["urn", ..] => Err(UrnError::Invalid(format!("`{s}` is not a function URN"))),
            [name] => urn(None, None, "default", name, None),
            [package, name] => urn(None, None, package, name, None),
            [project, package, name] => urn(None, Some(project), package, name, None),
            [project, package, name, q] => urn(None, Some(project), package, name, Some(q)),
            _ => Err(UrnError::Invalid(format!("`{s}` has {} fields", parts.len()))),
        }
    }

    /// The 7-field unqualified form (what list items carry).
    pub fn unqualified(region: &str, project: &str, package: &str, name: &str) -> String {
        format!("urn:fss:{region}:{project}:function:{package}:{name}")
    }

    /// The 8-field qualified form.
    pub fn qualified(region: &str, project: &str, package: &str, name: &str, qualifier: &Qualifier) -> String {
        format!("urn:fss:{region}:{project}:function:{package}:{name}:{qualifier}")
    }
}

/// Workflow URN: `urn:fss:{region}:{project}:workflow:default:{name}:latest`.
pub fn workflow_urn(region: &str, project: &str, name: &str) -> String {
    format!("urn:fss:{region}:{project}:workflow:default:{name}:latest")
}

/// Parses a workflow URN into `(region, project, name)`.
pub fn parse_workflow_urn(s: &str) -> Result<(String, String, String), UrnError> {
    match s.split(':').collect::<Vec<_>>().as_slice() {
        ["urn", "fss", region, project, "workflow", "default", name, "latest"]
            if !region.is_empty() && !project.is_empty() && !name.is_empty() =>
        {
            Ok((region.to_string(), project.to_string(), name.to_string()))
        }
        _ => Err(UrnError::Invalid(format!("`{s}` is not a workflow URN"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let full = FunctionUrn::parse("urn:fss:cn-north-4:p1:function:default:hello:latest").unwrap();
        assert_eq!(full.project.as_deref(), Some("p1"));
        assert_eq!(full.qualifier, Some(Qualifier::Latest));
        let unq = FunctionUrn::parse("urn:fss:cn-north-4:p1:function:default:hello").unwrap();
        assert_eq!(unq.qualifier, None);
        assert_eq!(FunctionUrn::parse("hello").unwrap().package, "default");
        assert_eq!(FunctionUrn::parse("app:hello").unwrap().package, "app");
        assert_eq!(FunctionUrn::parse("p:app:hello").unwrap().project.as_deref(), Some("p"));
        assert_eq!(
            FunctionUrn::parse("p:app:hello:!blue").unwrap().qualifier,
            Some(Qualifier::Alias("blue".into()))
        );
        assert_eq!(
            FunctionUrn::parse("p:app:hello:v1").unwrap().qualifier,
            Some(Qualifier::Named("v1".into()))
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "a::b",
            "a b",
            "urn:fss:r:p:workflow:default:x:latest",
            "a:b:c:d:e",
            "x/y",
            "p:a:h:!",
        ] {
            assert!(FunctionUrn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        let q = FunctionUrn::qualified("r", "p", "default", "f", &Qualifier::Alias("a".into()));
        assert_eq!(q, "urn:fss:r:p:function:default:f:!a");
        assert_eq!(
            FunctionUrn::parse(&q).unwrap().qualifier,
            Some(Qualifier::Alias("a".into()))
        );
        let w = workflow_urn("r", "p", "flow");
        assert_eq!(parse_workflow_urn(&w).unwrap().2, "flow");
    }
}
