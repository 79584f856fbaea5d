//! The expressions a workflow definition holds: JSONPath selects (`$`, `$.a.b[0]`,
//! `$['a']`, `$CONST.x`), action arguments, Switch conditions and `on_errors[].error`
//! patterns.

use serde_json::Value;

/// One step of a path.
enum Seg {
    Key(String),
    Index(usize),
}

/// The steps after the root (`.a`, `[0]`, `['a']`, `["a"]`); `None` when malformed.
fn segments(mut rest: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(Seg::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            let quoted = unquote(inner);
            out.push(match quoted {
                Some(key) => Seg::Key(key.to_string()),
                None => Seg::Index(inner.parse().ok()?),
            });
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// `'text'` or `"text"` without its quotes.
fn unquote(s: &str) -> Option<&str> {
    let quoted = |q: char| s.len() >= 2 && s.starts_with(q) && s.ends_with(q);
    (quoted('\'') || quoted('"')).then(|| &s[1..s.len() - 1])
}

/// What `path` names in `input` (`$…`) or in the definition's `constants` (`$CONST…`);
/// `None` when it is no path or names nothing.
pub(crate) fn select(path: &str, input: &Value, constants: &Value) -> Option<Value> {
    let path = path.trim();
    let (root, rest) = match path.strip_prefix("$CONST") {
        Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => (constants, rest),
        _ => (input, path.strip_prefix('$')?),
    };
    let mut at = root;
    for seg in segments(rest)? {
        at = match seg {
            Seg::Key(k) => at.get(&k)?,
            Seg::Index(i) => at.get(i)?,
        };
    }
    Some(at.clone())
}

/// An action's `arguments`, resolved against the state's input: a string starting with
/// `$` is a path (null when it names nothing), `'text'` is the text, objects and arrays
/// resolve inside, anything else is itself.
pub(crate) fn argument(v: &Value, input: &Value, constants: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => select(s, input, constants).unwrap_or(Value::Null),
        Value::String(s) => unquote(s)
            .filter(|_| s.starts_with('\''))
            .map_or_else(|| v.clone(), |t| Value::String(t.to_string())),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), argument(v, input, constants)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| argument(v, input, constants)).collect()),
        other => other.clone(),
    }
}

/// A `state_data_filter` path applied to `data` (absent or empty: `data` itself; a path
/// naming nothing: null).
pub(crate) fn filter(path: Option<&str>, data: Value, constants: &Value) -> Value {
    match path.map(str::trim).filter(|p| !p.is_empty() && *p != "$") {
        None => data,
        Some(p) => select(p, &data, constants).unwrap_or(Value::Null),
    }
}

/// Evaluates a Switch condition: `a || b`, `a && b` (`&&` binds tighter; no parentheses),
/// each term a comparison `x OP y` (`==`, `!=`, `>`, `>=`, `<`, `<=`) or one operand taken
/// as true unless null, false, 0, "" or missing. Operands: paths, `'text'`/`"text"`,
/// numbers, `true`, `false`, `null`. `Err` names what could not be read.
pub(crate) fn condition(expr: &str, input: &Value, constants: &Value) -> Result<bool, String> {
    for any in expr.split("||") {
        let mut all = true;
        for term in any.split("&&") {
            all &= term_holds(term.trim(), input, constants)?;
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

const OPERATORS: [&str; 6] = [">=", "<=", "==", "!=", ">", "<"];

/// Where the first comparison operator outside quotes is, and which.
fn operator(term: &str) -> Option<(usize, &'static str)> {
    let mut quote = None;
    for (i, c) in term.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {
                if let Some(op) = OPERATORS.iter().find(|op| term[i..].starts_with(**op)) {
                    return Some((i, op));
                }
            }
        }
    }
    None
}

fn term_holds(term: &str, input: &Value, constants: &Value) -> Result<bool, String> {
    let Some((at, op)) = operator(term) else {
        return Ok(truthy(&operand(term, input, constants)?));
    };
    let left = operand(&term[..at], input, constants)?;
    let right = operand(&term[at + op.len()..], input, constants)?;
    let ordering = match (&left, &right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let equal = ordering.map_or(left == right, |o| o.is_eq());
    Ok(match op {
        "==" => equal,
        "!=" => !equal,
        ">" => ordering.is_some_and(|o| o.is_gt()),
        ">=" => ordering.is_some_and(|o| o.is_ge()),
        "<" => ordering.is_some_and(|o| o.is_lt()),
        _ => ordering.is_some_and(|o| o.is_le()),
    })
}

fn operand(text: &str, input: &Value, constants: &Value) -> Result<Value, String> {
    let text = text.trim();
    if text.starts_with('$') {
        return Ok(select(text, input, constants).unwrap_or(Value::Null));
    }
    if let Some(t) = unquote(text) {
        return Ok(Value::String(t.to_string()));
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| !v.is_object() && !v.is_array())
        .ok_or_else(|| format!("`{text}` is not a path, a quoted text, a number, true, false or null"))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Whether an `on_errors[].error` pattern catches `error` (a function's error object
/// `{errorType, errorMessage, …}`, or `{errorType: FSS code, errorMessage}` when it could
/// not run): empty, `*` and `.*` catch everything; otherwise the pattern, as a regular
/// expression matching the whole text, must match the error's type or its message (a
/// pattern that is no regular expression must equal one of them).
pub(crate) fn catches(pattern: &str, error: &Value) -> bool {
    let pattern = pattern.trim();
    if matches!(pattern, "" | "*" | ".*") {
        return true;
    }
    let texts: Vec<&str> = ["errorType", "errorMessage", "error_code", "error_msg"]
        .iter()
        .filter_map(|k| error.get(*k).and_then(Value::as_str))
        .collect();
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => texts.iter().any(|t| re.is_match(t)),
        Err(_) => texts.contains(&pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_from_the_input_or_the_constants() {
        let input = json!({"a": {"b": [10, 20]}, "x y": 1});
        let constants = json!({"k": "v"});
        assert_eq!(select("$.a.b[1]", &input, &constants), Some(json!(20)));
        assert_eq!(select("$['x y']", &input, &constants), Some(json!(1)));
        assert_eq!(select("$", &input, &constants), Some(input.clone()));
        assert_eq!(select("$CONST.k", &input, &constants), Some(json!("v")));
        assert_eq!(select("$.missing", &input, &constants), None);
        assert_eq!(
            argument(
                &json!({"n": "$.a.b[0]", "t": "'hi'", "c": "$CONST.k", "f": 1.5, "raw": "plain"}),
                &input,
                &constants
            ),
            json!({"n": 10, "t": "hi", "c": "v", "f": 1.5, "raw": "plain"})
        );
    }

    #[test]
    fn conditions_compare_and_combine() {
        let input = json!({"x": 5, "s": "b", "flag": true});
        let c = |e: &str| condition(e, &input, &json!({"lim": 3})).unwrap();
        assert!(c("$.x > 3"));
        assert!(!c("$.x < 3"));
        assert!(c("$.x >= $CONST.lim && $.s == 'b'"));
        assert!(c("$.x == 1 || $.flag"));
        assert!(!c("$.s != \"b\""));
        assert!(!c("$.missing"));
        assert!(condition("$.x > {", &input, &json!({})).is_err());
    }

    #[test]
    fn error_patterns_match_the_type_or_the_message() {
        let e = json!({"errorType": "ValueError", "errorMessage": "boom"});
        assert!(catches("*", &e));
        assert!(catches("Value.*", &e));
        assert!(catches("boom", &e));
        assert!(!catches("TypeError", &e));
    }
}
