//! `.fgform-drift-ignore`: rules that silence known drift, each with a reason and an
//! optional expiry. Parsing and matching only; the command reads the file.
//!
//! ```text
//! # A line starting with `#` is a comment.
//! function.legacy-*                          # owned by the data team (DATA-12)
//! function.api:memory_size until 2025-06-30  # tuned by hand during INC-42
//! function.*:tags.*                          # tags belong to FinOps
//! ```
//!
//! `PATTERN [until YYYY-MM-DD] # reason`: the reason is mandatory, the expiry optional (the
//! rule applies through that day, UTC). PATTERN is a glob (`*` any run of characters, dots
//! included; `?` one character) matched against a resource address, or, written
//! `ADDRESS:PATH`, against one attribute of one resource.

use chrono::NaiveDate;
use globset::{GlobBuilder, GlobMatcher};

/// The file `fgform drift` reads from the stack directory unless `--ignore-file` names another.
pub const DEFAULT_FILE_NAME: &str = ".fgform-drift-ignore";

/// What every rule looks like, for hints.
pub const EXAMPLE_RULE: &str = "function.api:memory_size until 2025-12-31 # tuned by hand during INC-42";

/// Resource kinds an address pattern may start with.
const KINDS: &[&str] = &["function", "dependency", "workflow"];

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// 1-based line in the file.
    pub line: usize,
    /// The pattern as written.
    pub pattern: String,
    pub until: Option<NaiveDate>,
    pub reason: String,
    address: GlobMatcher,
    /// Set for `ADDRESS:PATH` rules, which match single attributes.
    attribute: Option<GlobMatcher>,
}

impl Rule {
    /// Whether the rule's expiry date has passed on `today`.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        self.until.is_some_and(|until| today > until)
    }

    /// Whether this address rule silences everything reported about `address`.
    pub fn matches_address(&self, address: &str) -> bool {
        self.attribute.is_none() && self.address.is_match(address)
    }

    /// Whether this `ADDRESS:PATH` rule silences attribute `path` of `address`.
    pub fn matches_attribute(&self, address: &str, path: &str) -> bool {
        self.attribute
            .as_ref()
            .is_some_and(|attribute| self.address.is_match(address) && attribute.is_match(path))
    }
}

/// The rules of one file, in file order (the first rule that matches a finding takes it).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The file as the user named it, for `file:line` references.
    pub file: String,
    pub rules: Vec<Rule>,
}

/// A line that is not a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub problem: Problem,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("rule `{0}` has no reason: every rule ends with `# why it is ignored`")]
    MissingReason(String),
    #[error("the reason after `#` is empty")]
    EmptyReason,
    #[error("`{pattern}` is not a valid pattern: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("`{0}` does not start with a resource kind (function., dependency., workflow.) or a wildcard")]
    UnknownKind(String),
    #[error("expected `until YYYY-MM-DD` after the pattern, found `{0}`")]
    UnexpectedWords(String),
    #[error("`{0}` is not a date: write it as YYYY-MM-DD")]
    BadDate(String),
}

/// Parses the text of an ignore file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Rules, ParseError> {
    let mut rules = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |problem| ParseError {
            file: file.to_string(),
            line,
            problem,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((rule, reason)) = trimmed.split_once('#') else {
            return Err(err(Problem::MissingReason(trimmed.to_string())));
        };
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(err(Problem::EmptyReason));
        }
        // Not a comment, so something precedes the `#`.
        let mut words = rule.split_whitespace();
        let pattern = words.next().unwrap_or_default();
        let rest: Vec<&str> = words.collect();
        let until = match rest.as_slice() {
            [] => None,
            ["until", date] => {
                Some(NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| err(Problem::BadDate(date.to_string())))?)
            }
            other => return Err(err(Problem::UnexpectedWords(other.join(" ")))),
        };
        let (address, attribute) = match pattern.split_once(':') {
            Some((address, attribute)) => (address, Some(attribute)),
            None => (pattern, None),
        };
        let first = address.split('.').next().unwrap_or_default();
        if !KINDS.contains(&first) && !first.contains(['*', '?', '[', '{']) {
            return Err(err(Problem::UnknownKind(pattern.to_string())));
        }
        let glob = |part: &str| {
            if part.is_empty() {
                return Err(err(Problem::BadPattern {
                    pattern: pattern.to_string(),
                    message: "an empty address or attribute path".into(),
                }));
            }
            GlobBuilder::new(part)
                .literal_separator(false)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| {
                    err(Problem::BadPattern {
                        pattern: pattern.to_string(),
                        message: e.kind().to_string(),
                    })
                })
        };
        rules.push(Rule {
            line,
            pattern: pattern.to_string(),
            until,
            reason: reason.to_string(),
            address: glob(address)?,
            attribute: attribute.map(glob).transpose()?,
        });
    }
    Ok(Rules {
        file: file.to_string(),
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn problem(text: &str) -> (usize, Problem) {
        let e = parse("ignore", text).unwrap_err();
        (e.line, e.problem)
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_rules_keep_their_lines() {
        let rules = parse(
            ".fgform-drift-ignore",
            "# header\n\n   # indented comment\nfunction.api # tuned by hand\nworkflow.*   until 2030-01-31   #  adhoc flows  \n",
        )
        .unwrap();
        let lines: Vec<_> = rules
            .rules
            .iter()
            .map(|r| (r.line, r.pattern.as_str(), r.until, r.reason.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (4, "function.api", None, "tuned by hand"),
                (5, "workflow.*", Some(date("2030-01-31")), "adhoc flows"),
            ]
        );
    }

    #[test]
    fn globs_match_addresses() {
        let rules = parse("f", "function.legacy-* # old\nfunction.a?i # x\n").unwrap();
        let (legacy, api) = (&rules.rules[0], &rules.rules[1]);
        assert!(legacy.matches_address("function.legacy-billing"));
        // `*` runs over dots: a function's rule covers its triggers and async config too.
        assert!(legacy.matches_address("function.legacy-billing.trigger.nightly"));
        assert!(!legacy.matches_address("function.current"));
        assert!(api.matches_address("function.api"));
        assert!(!api.matches_address("function.apis"));
        // Address rules never match single attributes, and the other way round.
        assert!(!api.matches_attribute("function.api", "memory_size"));
    }

    #[test]
    fn attribute_rules_match_one_path_of_matching_addresses() {
        let rules = parse("f", "function.api:memory_size # a\nfunction.*:tags.* # b\n").unwrap();
        let (memory, tags) = (&rules.rules[0], &rules.rules[1]);
        assert!(memory.matches_attribute("function.api", "memory_size"));
        assert!(!memory.matches_attribute("function.api", "timeout"));
        assert!(!memory.matches_attribute("function.web", "memory_size"));
        assert!(!memory.matches_address("function.api"));
        assert!(tags.matches_attribute("function.web", "tags.team"));
        assert!(!tags.matches_attribute("function.web", "tags"));
        assert!(!tags.matches_attribute("workflow.web", "tags.team"));
    }

    #[test]
    fn a_rule_applies_through_its_expiry_day() {
        let rules = parse("f", "function.a until 2025-03-01 # r\nfunction.b # forever\n").unwrap();
        assert!(!rules.rules[0].is_expired(date("2025-03-01")));
        assert!(rules.rules[0].is_expired(date("2025-03-02")));
        assert!(!rules.rules[1].is_expired(date("2999-01-01")));
    }

    #[test]
    fn a_rule_without_a_reason_is_an_error_naming_its_line() {
        let e = parse(".fgform-drift-ignore", "# ok\nfunction.a # fine\nfunction.b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            ".fgform-drift-ignore:3: rule `function.b` has no reason: every rule ends with `# why it is ignored`"
        );
        assert_eq!(problem("function.b until 2030-01-01 #   "), (1, Problem::EmptyReason));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        assert_eq!(
            problem("function.a until 2025-13-01 # r"),
            (1, Problem::BadDate("2025-13-01".into()))
        );
        assert_eq!(
            problem("function.a after 2025-01-01 # r"),
            (1, Problem::UnexpectedWords("after 2025-01-01".into()))
        );
        assert_eq!(
            problem("function.a until # r"),
            (1, Problem::UnexpectedWords("until".into()))
        );
        assert_eq!(
            problem("fucntion.api # typo"),
            (1, Problem::UnknownKind("fucntion.api".into()))
        );
        assert!(matches!(problem("function.[a # r"), (1, Problem::BadPattern { .. })));
        assert!(matches!(problem("function.a: # r"), (1, Problem::BadPattern { .. })));
    }
}
