//! A small block-style YAML writer for generated manifests: JSON values in, the manifest's
//! own layout out (mappings as indented blocks, lists as `- ` items), with comment lines
//! attached to keys. Strings are written plain when YAML reads them back as the same string,
//! otherwise double-quoted (JSON escapes are valid YAML).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Comment lines to write above a key, by the key's dotted path (`functions.api.triggers`).
pub type Comments = BTreeMap<String, Vec<String>>;

/// The document: a header comment, then `root`'s keys.
pub fn document(header: &[String], root: &Map<String, Value>, comments: &Comments) -> String {
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    for line in mapping(root, "", comments) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The lines of a mapping at column 0 (callers indent them).
fn mapping(map: &Map<String, Value>, path: &str, comments: &Comments) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, value) in map {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        for comment in comments.get(&here).into_iter().flatten() {
            lines.push(format!("# {comment}"));
        }
        let k = scalar_string(key);
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                lines.push(format!("{k}:"));
                lines.extend(mapping(inner, &here, comments).into_iter().map(|l| format!("  {l}")));
            }
            Value::Array(items) if !items.is_empty() => {
                lines.push(format!("{k}:"));
                lines.extend(sequence(items, &here, comments).into_iter().map(|l| format!("  {l}")));
            }
            other => lines.push(format!("{k}: {}", inline(other))),
        }
    }
    lines
}

/// The lines of a list: each item after `- `, its continuation lines indented under it.
fn sequence(items: &[Value], path: &str, comments: &Comments) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let inner = match item {
            Value::Object(map) if !map.is_empty() => mapping(map, &format!("{path}[{i}]"), comments),
            Value::Array(list) if !list.is_empty() => sequence(list, &format!("{path}[{i}]"), comments),
            other => vec![inline(other)],
        };
        for (j, line) in inner.into_iter().enumerate() {
            lines.push(if j == 0 {
                format!("- {line}")
            } else {
                format!("  {line}")
            });
        }
    }
    lines
}

/// A scalar, or an empty collection, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// `s` plain when that reads back as the same string, else JSON-quoted.
pub fn scalar_string(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialize")
    }
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control())
    {
        return false;
    }
    // What a YAML reader makes of it: a string equal to `s`, not a number, bool or null.
    match yaml_rust2::YamlLoader::load_from_str(&format!("k: {s}")) {
        Ok(docs) => matches!(&docs.first().map(|d| &d["k"]), Some(yaml_rust2::Yaml::String(read)) if read == s),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_would_read_as_something_else_are_quoted() {
        for (s, want) in [
            ("index.handler", "index.handler"),
            ("true", "\"true\""),
            ("42", "\"42\""),
            ("1.5", "\"1.5\""),
            ("null", "\"null\""),
            ("", "\"\""),
            (" x", "\" x\""),
            ("a: b", "\"a: b\""),
            ("#x", "\"#x\""),
            ("0 30 2 * * ?", "0 30 2 * * ?"),
            ("*.jpg", "\"*.jpg\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("${function.a.urn}", "${function.a.urn}"),
            ("urn:fss:r:p:function:default:a", "urn:fss:r:p:function:default:a"),
        ] {
            assert_eq!(scalar_string(s), want, "{s:?}");
        }
    }

    #[test]
    fn documents_read_back_as_the_values_written() {
        let root = json!({
            "stack": "gen",
            "functions": {"a": {
                "memory": 256,
                "environment": {"X": "1", "Y": "yes"},
                "tags": {},
                "states": [{"id": "s", "actions": [{"function": "a", "arguments": {"k": [1, "two"]}}]}, "plain"],
            }},
        });
        let mut comments = Comments::new();
        comments.insert("functions.a.memory".into(), vec!["a note".into()]);
        let text = document(&["generated".into()], root.as_object().unwrap(), &comments);
        assert!(text.starts_with("# generated\n"), "{text}");
        assert!(text.contains("    # a note\n    memory: 256\n"), "{text}");
        let read = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
        assert_eq!(read["functions"]["a"]["environment"]["Y"].as_str(), Some("yes"));
        assert_eq!(read["functions"]["a"]["environment"]["X"].as_str(), Some("1"));
        assert_eq!(read["functions"]["a"]["memory"].as_i64(), Some(256));
        let state = &read["functions"]["a"]["states"][0];
        assert_eq!(state["actions"][0]["arguments"]["k"][1].as_str(), Some("two"));
        assert_eq!(read["functions"]["a"]["states"][1].as_str(), Some("plain"));
        assert!(read["functions"]["a"]["tags"].as_hash().is_some_and(|h| h.is_empty()));
    }
}
