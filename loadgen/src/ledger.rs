//! One terminal's record of what it sent and what the service acknowledged, kept for the final
//! read-back: per state key (its instance hash, each trade ticket) the snapshots sent, by
//! numbering epoch and `seq`, and those acknowledged; per signal whether and how it was
//! acknowledged.
//!
//! Why epochs: after a restart with a reset `seq` (or a jump past a `stale` answer) the numbers
//! start again lower or higher than before, so "newer" is the higher `(epoch, seq)`, not the
//! higher `seq`. A close numbered 10 after a reset is newer than the open numbered 1000 before
//! it; comparing bare `seq`s would accept the open as the newest state. The same `seq` may also
//! come again in another epoch, so a stored `seq` names a snapshot only together with its fields.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use tradestate_mt5_bridge::{TradeStatus, Update};

use crate::link::AckStatus;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    Instance,
    Trade(String),
}

/// Where an update stands in its terminal's numbering: later made is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Numbered {
    /// Starts at 0; one more after each reset and each jump.
    pub epoch: u32,
    pub seq: u64,
}

/// One snapshot as sent: what the stored hash must hold if this `seq` is the stored one.
#[derive(Debug, Clone, Copy)]
pub struct SentSnapshot {
    pub epoch: u32,
    pub seq: u64,
    pub fingerprint: u64,
    pub closed: bool,
    /// Unix ms of the first send: the service wrote it (and set its TTL) no earlier.
    pub sent_unix_ms: i64,
}

#[derive(Debug, Default, Clone)]
pub struct KeyRecord {
    pub sent: Vec<SentSnapshot>,
    /// Acknowledged updates of this key, whatever the answer (`stale` included: the terminal
    /// dropped them, so the stored state must be at least as new).
    pub acked: Vec<Numbered>,
    /// A close (trade state `closed`) of this key was acknowledged: the key must not be left
    /// open.
    pub close_acked: bool,
}

impl KeyRecord {
    pub fn max_acked(&self) -> Option<Numbered> {
        self.acked.iter().copied().max()
    }

    /// Whether any snapshot with this `seq` was sent (in any epoch).
    pub fn sent_seq(&self, seq: u64) -> bool {
        self.sent.iter().any(|s| s.seq == seq)
    }

    /// The snapshot a stored hash is: this `seq` and these fields. When several epochs sent the
    /// very same fields under one `seq` they are one state; the newest is taken.
    pub fn snapshot(&self, seq: u64, fingerprint: u64) -> Option<&SentSnapshot> {
        self.sent
            .iter()
            .filter(|s| s.seq == seq && s.fingerprint == fingerprint)
            .max_by_key(|s| s.epoch)
    }
}

#[derive(Debug, Clone)]
pub struct SignalRecord {
    pub signal_id: String,
    pub acked: bool,
    pub entry_id: Option<String>,
    pub acked_unix_ms: i64,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub keys: HashMap<StateKey, KeyRecord>,
    pub signals: Vec<SignalRecord>,
    signal_index: HashMap<String, usize>,
}

impl Ledger {
    /// Records an update (numbered in `epoch`) the first time it is handed to the transport.
    pub fn sent(&mut self, update: &Update, epoch: u32) {
        match update {
            Update::Signal(signal) => {
                self.signal_index
                    .insert(signal.signal_id.clone(), self.signals.len());
                self.signals.push(SignalRecord {
                    signal_id: signal.signal_id.clone(),
                    acked: false,
                    entry_id: None,
                    acked_unix_ms: 0,
                });
            }
            state => {
                let Some(key) = state_key(state) else { return };
                let fields = match state {
                    Update::Instance(s) => s.to_fields(),
                    Update::Trade(t) => t.to_fields(),
                    Update::Signal(_) | Update::Positions(_) => return,
                };
                let closed = is_close(state);
                self.keys.entry(key).or_default().sent.push(SentSnapshot {
                    epoch,
                    seq: state.seq(),
                    fingerprint: fingerprint(
                        fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
                    ),
                    closed,
                    sent_unix_ms: unix_ms(),
                });
            }
        }
    }

    pub fn acked(
        &mut self,
        update: &Update,
        epoch: u32,
        status: AckStatus,
        entry_id: Option<String>,
    ) {
        let now = unix_ms();
        match update {
            Update::Signal(signal) => {
                if let Some(&i) = self.signal_index.get(&signal.signal_id) {
                    let record = &mut self.signals[i];
                    record.acked = true;
                    record.acked_unix_ms = now;
                    // A spooled signal has no entry id yet; a duplicate's is the first one's.
                    let stored = matches!(status, AckStatus::Stored | AckStatus::Volatile);
                    if stored && entry_id.is_some() {
                        record.entry_id = entry_id;
                    }
                }
            }
            state => {
                if let Some(record) = state_key(state).and_then(|k| self.keys.get_mut(&k)) {
                    record.acked.push(Numbered {
                        epoch,
                        seq: state.seq(),
                    });
                    record.close_acked |= is_close(state);
                }
            }
        }
    }

    pub fn acked_count(&self) -> u64 {
        let states: usize = self.keys.values().map(|k| k.acked.len()).sum();
        let signals = self.signals.iter().filter(|s| s.acked).count();
        (states + signals) as u64
    }
}

pub fn state_key(update: &Update) -> Option<StateKey> {
    match update {
        Update::Instance(_) => Some(StateKey::Instance),
        Update::Trade(trade) => Some(StateKey::Trade(trade.ticket.clone())),
        // Positions snapshots (contract 1.1) are not sent by the model, so not recorded.
        Update::Signal(_) | Update::Positions(_) => None,
    }
}

fn is_close(update: &Update) -> bool {
    matches!(update, Update::Trade(t) if t.state == TradeStatus::Closed)
}

/// An order-independent digest of hash fields (field order in a hash is not kept).
pub fn fingerprint<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    let mut digest = 0u64;
    let mut count = 0u64;
    for (name, value) in pairs {
        let mut h = DefaultHasher::new();
        name.hash(&mut h);
        value.hash(&mut h);
        digest = digest.wrapping_add(h.finish());
        count += 1;
    }
    digest ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_field_order_but_not_values() {
        let a = [(&b"seq"[..], &b"5"[..]), (b"symbol", b"EURUSD")];
        let b = [(&b"symbol"[..], &b"EURUSD"[..]), (b"seq", b"5")];
        let c = [(&b"symbol"[..], &b"EURUSD"[..]), (b"seq", b"6")];
        assert_eq!(fingerprint(a.into_iter()), fingerprint(b.into_iter()));
        assert_ne!(fingerprint(a.into_iter()), fingerprint(c.into_iter()));
        assert_ne!(
            fingerprint(a[..1].iter().copied()),
            fingerprint(a.into_iter())
        );
    }

    #[test]
    fn signals_keep_the_entry_id_of_a_stored_or_volatile_answer() {
        let signal = |id: &str| -> Update {
            Update::Signal(
                serde_json::from_value(serde_json::json!({
                    "seq": 1, "signal_id": id, "time_msc": 1_718_020_801_000_i64,
                    "strategy": "s", "symbol": "EURUSD", "action": "buy"
                }))
                .expect("a valid signal"),
            )
        };
        let mut ledger = Ledger::default();
        for (id, status, entry_id) in [
            ("stored", AckStatus::Stored, Some("1-0")),
            ("volatile", AckStatus::Volatile, Some("2-0")),
            ("spooled", AckStatus::Spooled, None),
            ("duplicate", AckStatus::Duplicate, Some("3-0")),
        ] {
            let update = signal(id);
            ledger.sent(&update, 0);
            ledger.acked(&update, 0, status, entry_id.map(String::from));
        }
        let kept: Vec<(&str, bool, Option<&str>)> = ledger
            .signals
            .iter()
            .map(|s| (s.signal_id.as_str(), s.acked, s.entry_id.as_deref()))
            .collect();
        assert_eq!(
            kept,
            [
                ("stored", true, Some("1-0")),
                ("volatile", true, Some("2-0")),
                ("spooled", true, None),
                ("duplicate", true, None),
            ]
        );
        assert_eq!(ledger.acked_count(), 4);
    }
}
