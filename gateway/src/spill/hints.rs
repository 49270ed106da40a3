//! Numbering hints: what a replay learned that the terminal must hear. A state update answered
//! `spooled` meets the stale check only when it is replayed; when its key then holds a seq above
//! it from another numbering of the terminal (a reinstall whose clock is behind), it is dropped,
//! and the terminal, long since answered, never saw the `stale` it would renumber from. The seq
//! is kept here until the terminal's next reply carries it as `renumber_above`
//! (mt5-bridge/CLIENT.md, "Sequence numbers").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct RenumberHints {
    /// Whether any hint waits, so the live path takes no lock when none does (nearly always).
    any: AtomicBool,
    by_terminal: Mutex<HashMap<Arc<str>, u64>>,
}

impl RenumberHints {
    /// Remembers that `instance_id`'s numbering must pass `stored_seq`.
    pub fn note(&self, instance_id: &Arc<str>, stored_seq: u64) {
        let mut map = self.by_terminal.lock().unwrap_or_else(|e| e.into_inner());
        let seq = map.entry(instance_id.clone()).or_insert(stored_seq);
        *seq = (*seq).max(stored_seq);
        self.any.store(true, Ordering::Release);
    }

    /// The hint for `instance_id`, once.
    pub fn take(&self, instance_id: &str) -> Option<u64> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut map = self.by_terminal.lock().unwrap_or_else(|e| e.into_inner());
        let seq = map.remove(instance_id);
        if map.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_taken_once_and_keeps_the_highest_seq() {
        let hints = RenumberHints::default();
        assert_eq!(hints.take("T1"), None);
        let id: Arc<str> = Arc::from("T1");
        hints.note(&id, 50);
        hints.note(&id, 70);
        hints.note(&id, 60);
        assert_eq!(hints.take("T2"), None);
        assert_eq!(hints.take("T1"), Some(70));
        assert_eq!(hints.take("T1"), None);
    }
}
