//! The request log behind `GET /_emulator/requests`: what tests read to check call order.

use std::collections::VecDeque;

use serde::Serialize;

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
    /// The API operation, named as in the official SDK (`CreateFunction`, …).
    pub operation: String,
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
            operation: "ListFunctions".into(),
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
}
