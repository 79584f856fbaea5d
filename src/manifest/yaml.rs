//! A YAML tree that remembers where every key and value came from (file, line, column),
//! built from `yaml-rust2`'s event stream. serde_yaml's `Value` carries no spans, and every
//! diagnostic must point at the exact key.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts: a file index into the loader's file list, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub file: usize,
    pub line: u32,
    pub column: u32,
}

/// A YAML node with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar as written; `quoted` ones are always strings, plain ones are typed on use.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order; keys are always strings (scalar keys are taken as text).
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// A syntax problem with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    /// For a key defined twice: its dotted path and where it was first defined.
    pub duplicate: Option<(String, Span)>,
}

/// Aliases may not expand a document beyond this many nodes ("billion laughs").
const MAX_NODES: usize = 200_000;

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// What kind of node this is, for messages: "a mapping", "a list", "a string", …
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar { .. } if self.is_null() => "empty (null)",
            Kind::Scalar { .. } => "a scalar",
        }
    }

    /// The node as JSON: quoted scalars are strings; plain ones follow YAML 1.2's core schema.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Scalar { text, quoted } => scalar_to_json(text, *quoted),
            Kind::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect())
            }
        }
    }
}

/// YAML 1.2 core-schema typing of a plain scalar.
pub fn scalar_to_json(text: &str, quoted: bool) -> serde_json::Value {
    use serde_json::Value;
    if quoted {
        return Value::String(text.into());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    let looks_numeric =
        text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.into())
}

/// Parses one YAML document. An empty file gives `None`.
pub fn parse(text: &str, file: usize) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        documents: 0,
        nodes: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(err) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            span: span(file, *err.marker()),
            message: err.info().to_string(),
            duplicate: None,
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root)
}

fn span(file: usize, marker: Marker) -> Span {
    Span {
        file,
        line: marker.line().try_into().unwrap_or(u32::MAX),
        // yaml-rust2 columns are 0-based.
        column: (marker.col() + 1).try_into().unwrap_or(u32::MAX),
    }
}

enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Span)>,
    },
}

struct Builder {
    file: usize,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, span: Span, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                span,
                message: message.into(),
                duplicate: None,
            });
        }
    }

    /// The dotted path of the collection being built (`functions.f.triggers`).
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack[..self.stack.len().saturating_sub(1)] {
            match frame {
                Frame::Map {
                    key: Some((key, _)), ..
                } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Seq { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Frame::Map { key: None, .. } => {}
            }
        }
        path
    }

    fn count(&mut self, node: &Node) -> bool {
        fn size(node: &Node) -> usize {
            match &node.kind {
                Kind::Scalar { .. } => 1,
                Kind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
                Kind::Map(entries) => 1 + entries.iter().map(|e| size(&e.value)).sum::<usize>(),
            }
        }
        self.nodes += size(node);
        self.nodes <= MAX_NODES
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if self.error.is_some() {
            return;
        }
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let key_text = match &node.kind {
                        Kind::Scalar { text, .. } => text.clone(),
                        _ => {
                            let span = node.span;
                            self.fail(span, "mapping keys must be plain strings, not lists or mappings");
                            return;
                        }
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == key_text).map(|e| e.key_span) {
                        let mut path = self.path();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(&key_text);
                        self.fail(node.span, "defined twice");
                        if let Some(error) = &mut self.error {
                            error.duplicate = Some((path, first));
                        }
                        return;
                    }
                    *key = Some((key_text, node.span));
                }
                Some((key_text, key_span)) => {
                    let mut value = node;
                    // A block collection under a key starts on a later line: point at the key.
                    if !matches!(value.kind, Kind::Scalar { .. }) && value.span.line > key_span.line {
                        value.span = key_span;
                    }
                    entries.push(Entry {
                        key: key_text,
                        key_span,
                        value,
                    });
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let here = span(self.file, marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        here,
                        "a manifest file holds one YAML document; split the others into their own files",
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let quoted = style != TScalarStyle::Plain
                    || tag.is_some_and(|t| t.suffix == "str" || t.suffix.ends_with(":str"));
                let node = Node {
                    kind: Kind::Scalar { text, quoted },
                    span: here,
                };
                if self.count(&node) {
                    self.push(node, anchor);
                } else {
                    self.fail(here, "the document is too large");
                }
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                span: here,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                span: here,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { span, anchor, items }) => (
                        Node {
                            kind: Kind::Seq(items),
                            span,
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        span, anchor, entries, ..
                    }) => {
                        // Block mappings are reported after their first key; use the key.
                        let span = match entries.first() {
                            Some(first) if first.key_span < span => first.key_span,
                            _ => span,
                        };
                        (
                            Node {
                                kind: Kind::Map(entries),
                                span,
                            },
                            anchor,
                        )
                    }
                    None => return,
                };
                self.nodes += 1;
                self.push(node, anchor);
            }
            Event::Alias(id) => {
                let Some(node) = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                else {
                    self.fail(here, "alias to an unknown anchor");
                    return;
                };
                if self.count(&node) {
                    self.push(node, 0);
                } else {
                    self.fail(here, "aliases expand the document beyond 200000 nodes");
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_one_based_and_point_at_keys_and_values() {
        let node = parse("a: 1\nb:\n  c: [x, 'y']\n", 0).unwrap().unwrap();
        let entries = node.as_map().unwrap();
        assert_eq!((entries[0].key_span.line, entries[0].key_span.column), (1, 1));
        assert_eq!((entries[0].value.span.line, entries[0].value.span.column), (1, 4));
        let inner = entries[1].value.as_map().unwrap();
        assert_eq!((inner[0].key_span.line, inner[0].key_span.column), (3, 3));
        assert_eq!(
            inner[0].value.to_json(),
            serde_json::json!(["x", "y"]),
            "sequences keep order and typing"
        );
    }

    #[test]
    fn duplicate_keys_name_both_places() {
        let err = parse("a: 1\nb: 2\na: 3\n", 0).unwrap_err();
        assert_eq!((err.span.line, err.span.column), (3, 1));
        let (path, first) = err.duplicate.unwrap();
        assert_eq!((path.as_str(), first.line, first.column), ("a", 1, 1));
        let err = parse("x:\n  - {k: 1, k: 2}\n", 0).unwrap_err();
        assert_eq!(err.duplicate.unwrap().0, "x[0].k");
    }

    #[test]
    fn aliases_expand_and_empty_files_are_none() {
        let node = parse("a: &x {k: v}\nb: *x\n", 0).unwrap().unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": {"k": "v"}, "b": {"k": "v"}}));
        assert_eq!(parse("", 0).unwrap(), None);
        assert_eq!(parse("# only a comment\n", 0).unwrap(), None);
    }

    #[test]
    fn plain_scalars_are_typed_and_quoted_ones_are_strings() {
        let node = parse("a: 1\nb: '1'\nc: true\nd: 1.5\ne: ~\nf: 1.2.3\n", 0)
            .unwrap()
            .unwrap();
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": null, "f": "1.2.3"})
        );
    }
}
