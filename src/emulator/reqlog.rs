//! The request log behind `GET /_emulator/requests`: what tests read to check call order.

use std::collections::VecDeque;

use serde::{Serialize, Serializer};

use crate::api::Operation;

/// Entries kept; older ones are dropped first.
const CAPACITY: usize = 50_000;

/// One answered (or dropped) request.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// The API operation; serialized as the official SDK names it (`CreateFunction`, …).
    pub operation: Logged,
    pub project: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub request_id: String,
    /// The fault rule that fired, if any (`status:503`, `drop`, `latency:200ms`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<String>,
    pub duration_ms: f64,
}

/// What a logged request was: an operation, or refused before one was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    Api(Operation),
    /// The body could not be read (over the gateway limit, or broken off).
    Body,
    /// No operation has this method and path.
    Unknown,
}

impl Logged {
    /// `CreateFunction`, `(body)` or `(unknown)`.
    pub fn as_str(self) -> &'static str {
        match self {
            Logged::Api(op) => op.as_str(),
            Logged::Body => "(body)",
            Logged::Unknown => "(unknown)",
        }
    }
}

impl std::fmt::Display for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Logged {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for Logged {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Logged {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Operation> for Logged {
    fn eq(&self, other: &Operation) -> bool {
        *self == Logged::Api(*other)
    }
}

#[derive(Default)]
pub struct RequestLog {
    next: u64,
    entries: VecDeque<Entry>,
}

impl RequestLog {
    pub fn push(&mut self, mut entry: Entry) {
        self.next += 1;
        entry.seq = self.next;
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<Entry> {
        self.entries.iter().filter(|e| e.seq > since).cloned().collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.next
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            operation: Logged::Api(Operation::ListFunctions),
            project: String::new(),
            status: 200,
            error_code: None,
            request_id: String::new(),
            chaos: None,
            duration_ms: 0.0,
        }
    }

    #[test]
    fn keeps_the_newest_entries_with_increasing_sequence_numbers() {
        let mut log = RequestLog::default();
        for _ in 0..CAPACITY + 5 {
            log.push(entry());
        }
        let all = log.since(0);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].seq, 6);
        assert_eq!(log.last_seq(), (CAPACITY + 5) as u64);
        assert_eq!(log.since(log.last_seq() - 2).len(), 2);
    }

    #[test]
    fn operations_serialize_as_their_names() {
        let e = entry();
        assert_eq!(serde_json::to_value(&e).unwrap()["operation"], "ListFunctions");
        assert_eq!(e.operation, "ListFunctions");
        assert_eq!(serde_json::to_value(Logged::Body).unwrap(), "(body)");
        assert_eq!(Logged::Unknown.to_string(), "(unknown)");
    }
}
