//! The tables rendered: the JSON Schema of a manifest file (`fgform schema`), the key
//! reference of `docs/manifest.md` and the list of key paths the docs test reads.

use serde_json::{json, Map, Value};

use super::{Field, Shape, ROOT};

const INTERPOLATION: &str = r"\$\{[^}]+\}";

fn shape_schema(shape: &Shape, doc: &str) -> Value {
    let interpolated = json!({"type": "string", "pattern": INTERPOLATION});
    let mut schema = match shape {
        Shape::String => json!({"type": "string"}),
        Shape::Integer => json!({"anyOf": [{"type": "integer"}, interpolated]}),
        Shape::Boolean => json!({"anyOf": [{"type": "boolean"}, interpolated]}),
        Shape::Scalar => json!({"type": ["string", "number", "boolean"]}),
        Shape::Enum(values) => json!({"anyOf": [{"enum": values}, interpolated]}),
        Shape::StringList => json!({"type": "array", "items": {"type": "string"}}),
        Shape::StringMap => {
            json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})
        }
        Shape::Object(fields) => object_schema(fields, false),
        Shape::OpenObject(fields) => object_schema(fields, true),
        Shape::MapOf(fields) => json!({"type": "object", "additionalProperties": object_schema(fields, false)}),
        Shape::MapOfShort(fields) => json!({"type": "object", "additionalProperties": {
            "anyOf": [{"type": "string"}, object_schema(fields, false)]
        }}),
        Shape::List(item) => json!({"type": "array", "items": shape_schema(item, "")}),
        Shape::Any => json!({}),
    };
    if !doc.is_empty() {
        schema["description"] = doc.into();
    }
    schema
}

fn object_schema(fields: &[Field], open: bool) -> Value {
    let mut properties = Map::new();
    for f in fields {
        let doc = if f.api.is_empty() {
            f.doc.to_string()
        } else {
            format!("{} (API: {})", f.doc, f.api).trim().to_string()
        };
        properties.insert(f.name.into(), shape_schema(&f.shape, &doc));
    }
    // No `required`: a file is a fragment of the merged stack (stage overlays repeat a
    // function with only the keys they change); `fgform validate` checks required keys.
    json!({"type": "object", "properties": properties, "additionalProperties": open})
}

/// The JSON Schema (draft-07) of one manifest file. Files are merged, so no key is required
/// per file; required keys are checked on the whole stack by `fgform validate`.
pub fn json_schema() -> Value {
    let mut schema = object_schema(ROOT, false);
    let object = schema.as_object_mut().expect("object");
    let mut out = Map::new();
    out.insert("$schema".into(), "http://json-schema.org/draft-07/schema#".into());
    out.insert("$id".into(), "https://fgform.dev/schema/manifest.json".into());
    out.insert("title".into(), "fgform stack manifest".into());
    out.extend(std::mem::take(object));
    Value::Object(out)
}

/// The key reference of `docs/manifest.md`: one row per key path, generated from the tables.
pub fn reference_table() -> String {
    fn kind(shape: &Shape) -> String {
        match shape {
            Shape::String => "string".into(),
            Shape::Integer => "integer".into(),
            Shape::Boolean => "boolean".into(),
            Shape::Scalar => "scalar".into(),
            Shape::Enum(values) if values.len() > 4 => "enum (see below)".into(),
            Shape::Enum(values) => values.join(" \\| "),
            Shape::StringList => "list of strings".into(),
            Shape::StringMap => "map of strings".into(),
            Shape::Object(_) => "mapping".into(),
            Shape::OpenObject(_) => "mapping (open)".into(),
            Shape::MapOf(_) => "map of name → mapping".into(),
            Shape::MapOfShort(_) => "map of name → string or mapping".into(),
            Shape::List(item) => format!("list of {}", kind(item)),
            Shape::Any => "any (passed through)".into(),
        }
    }
    fn walk(prefix: &str, fields: &[Field], out: &mut String) {
        for f in fields {
            let path = if prefix.is_empty() {
                f.name.to_string()
            } else {
                format!("{prefix}.{}", f.name)
            };
            let api = if f.api.is_empty() {
                "—".to_string()
            } else {
                format!("`{}`", f.api)
            };
            let doc = f.doc.replace('|', "\\|");
            out.push_str(&format!(
                "| `{path}` | {} | {} | {api} | {doc} |\n",
                kind(&f.shape),
                if f.required { "yes" } else { "" }
            ));
            let (shape, path) = match &f.shape {
                Shape::List(item) => (*item, format!("{path}[]")),
                shape => (shape, path),
            };
            match shape {
                Shape::Object(inner) | Shape::OpenObject(inner) => walk(&path, inner, out),
                Shape::MapOf(inner) | Shape::MapOfShort(inner) => walk(&format!("{path}.*"), inner, out),
                _ => {}
            }
        }
    }
    let mut out = String::from("| key | type | required | API field | meaning |\n|---|---|---|---|---|\n");
    walk("", ROOT, &mut out);
    out
}

/// Every documented key path (`functions.*.async.max_retries`), for the docs test.
pub fn key_paths() -> Vec<String> {
    fn walk(prefix: &str, fields: &[Field], out: &mut Vec<String>) {
        for f in fields {
            let path = if prefix.is_empty() {
                f.name.to_string()
            } else {
                format!("{prefix}.{}", f.name)
            };
            out.push(path.clone());
            let mut shape = &f.shape;
            let mut path = path;
            if let Shape::List(item) = shape {
                shape = item;
                path.push_str("[]");
            }
            match shape {
                Shape::Object(inner) | Shape::OpenObject(inner) => walk(&path, inner, out),
                Shape::MapOf(inner) | Shape::MapOfShort(inner) => walk(&format!("{path}.*"), inner, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk("", ROOT, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::{unknown_key_hint, FUNCTION};
    use super::*;

    #[test]
    fn api_names_point_to_manifest_names() {
        assert_eq!(
            unknown_key_hint("memory_size", FUNCTION).unwrap(),
            "the API's `memory_size` is written `memory` here"
        );
        assert_eq!(
            unknown_key_hint("xrole", FUNCTION).unwrap(),
            "the API's `xrole` is written `agency` here"
        );
        assert_eq!(unknown_key_hint("timout", FUNCTION).unwrap(), "did you mean `timeout`?");
    }

    #[test]
    fn schema_lists_function_keys() {
        let schema = json_schema();
        let function = &schema["properties"]["functions"]["additionalProperties"];
        assert_eq!(function["additionalProperties"], false);
        assert!(function["properties"]["memory"]["description"]
            .as_str()
            .unwrap()
            .contains("memory_size"));
        assert!(key_paths().contains(&"functions.*.async.on_failure.smn".to_string()));
    }
}
