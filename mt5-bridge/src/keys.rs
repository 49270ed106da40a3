//! The partitions and the key layout: which engine instance each kind of update goes to and the
//! key it is stored under. The one definition of these names: the gateway writes and reads with
//! them (`tradestate_gateway::keys` re-exports this module), `tradestate-config` takes its
//! partition list from [`PARTITIONS`], and the load generator's read-back and the bench drivers
//! build every key they read or write with these functions, so a change here moves all of them.
//! docs/ARCHITECTURE.md, Key layout and policies, lists each key with its writer, expiry and
//! settings.
//!
//! Every per-terminal key carries the instance id as a `{hash tag}`, so one terminal's keys share
//! a Redis Cluster slot and can be written in one pipeline to one node.

/// An engine instance of the service, named by the prefix of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Instance states: `ris:{<id>}` and the `ris:seen` index.
    Ris,
    /// Trade states and positions snapshots: `rts:{<id>}:...`.
    Rts,
    /// Signals: the signal stream and the dedupe markers `rtss:sig:...`.
    Rtss,
}

impl Partition {
    /// Every partition, in the order of [`PARTITIONS`] (and of [`Partition::index`]).
    pub const ALL: [Partition; 3] = [Partition::Ris, Partition::Rts, Partition::Rtss];

    /// The partition's name: `ris`, `rts` or `rtss` (config sections, metrics labels, key
    /// prefixes).
    pub const fn name(self) -> &'static str {
        match self {
            Partition::Ris => "ris",
            Partition::Rts => "rts",
            Partition::Rtss => "rtss",
        }
    }

    /// Position in [`Partition::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The partition names, in the order of [`Partition::ALL`].
pub const PARTITIONS: [&str; 3] = [
    Partition::Ris.name(),
    Partition::Rts.name(),
    Partition::Rtss.name(),
];

/// The default name of the signal stream (`policy.rtss_stream`), the one terminals write to.
pub const SIGNAL_STREAM: &str = "rtss:signals";

/// The default name of the index of instances by last heartbeat (`policy.ris_seen_key`).
pub const SEEN_INDEX: &str = "ris:seen";

/// Instance state hash of one terminal: `ris:{T1}`.
pub fn instance(instance_id: &str) -> String {
    format!("ris:{{{instance_id}}}")
}

/// One trade's hash, a position or a pending order: `rts:{T1}:123456`.
pub fn trade(instance_id: &str, ticket: &str) -> String {
    format!("rts:{{{instance_id}}}:{ticket}")
}

/// Set of a terminal's live tickets (open positions and pending orders): `rts:{T1}:open`.
pub fn open_trades(instance_id: &str) -> String {
    format!("rts:{{{instance_id}}}:open")
}

/// A terminal's latest positions snapshot (`seq`, `time_msc`, `tickets`): `rts:{T1}:positions`.
/// Tickets are digits, so no trade's key can be this one.
pub fn positions(instance_id: &str) -> String {
    format!("rts:{{{instance_id}}}:positions")
}

/// Sorted set of a terminal's done tickets (closed, cancelled or filled), scored by when the
/// close was recorded (ms): `rts:{T1}:closed`.
pub fn closed_trades(instance_id: &str) -> String {
    format!("rts:{{{instance_id}}}:closed")
}

/// Marker that a terminal's signal was stored: `rtss:sig:{rtss:signals}:T1:<signal_id>`, the
/// string `1` with the `policy.signal_dedupe_ttl_s` TTL, set in the transaction of the signal's
/// `XADD` to `stream`. Only its existence counts; it does not hold the entry id.
///
/// Its hash tag is the stream's (the stream key's own tag when it has one, else the whole
/// key), so on a Redis Cluster the marker and the entry share a slot and the transaction that
/// writes them both is allowed there.
pub fn signal_marker(stream: &str, instance_id: &str, signal_id: &str) -> String {
    format!(
        "rtss:sig:{{{}}}:{instance_id}:{signal_id}",
        hash_tag(stream)
    )
}

/// What Redis Cluster hashes of `key`: the text between its first `{` and the next `}` when
/// not empty, else the whole key.
pub fn hash_tag(key: &str) -> &str {
    key.find('{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.find('}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key)
}

/// Which of a terminal's keys a RESP write names, or `None` for a key it may not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalKey {
    Instance,
    Trade { ticket: String },
    Positions,
}

/// Parses `ris:{id}` / `rts:{id}:<ticket>` / `rts:{id}:positions` (the keys [`instance`],
/// [`trade`] and [`positions`] build) and checks the tag is the authenticated terminal's.
pub fn parse_terminal_key(key: &[u8], instance_id: &str) -> Option<TerminalKey> {
    let key = std::str::from_utf8(key).ok()?;
    if let Some(rest) = key.strip_prefix("ris:") {
        return (rest.strip_prefix('{')?.strip_suffix('}')? == instance_id)
            .then_some(TerminalKey::Instance);
    }
    let rest = key.strip_prefix("rts:{")?;
    let (tag, ticket) = rest.split_once("}:")?;
    if tag == instance_id && ticket == "positions" {
        return Some(TerminalKey::Positions);
    }
    if tag != instance_id || ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(TerminalKey::Trade {
        ticket: ticket.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_once() {
        assert_eq!(PARTITIONS, ["ris", "rts", "rtss"]);
        for (i, p) in Partition::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(p.name(), PARTITIONS[i]);
        }
    }

    #[test]
    fn keys_carry_the_instance_as_hash_tag() {
        assert_eq!(instance("T1"), "ris:{T1}");
        assert_eq!(trade("T1", "42"), "rts:{T1}:42");
        assert_eq!(open_trades("T1"), "rts:{T1}:open");
        assert_eq!(positions("T1"), "rts:{T1}:positions");
        assert_eq!(closed_trades("T1"), "rts:{T1}:closed");
        assert_eq!(
            signal_marker("rtss:signals", "T1", "s-1"),
            "rtss:sig:{rtss:signals}:T1:s-1"
        );
        assert_eq!(
            signal_marker("{desk}:signals", "T1", "s-1"),
            "rtss:sig:{desk}:T1:s-1"
        );
        assert_eq!(hash_tag("a{}b"), "a{}b");
        // Each key lives in the partition its prefix names.
        for key in [
            instance("T1"),
            trade("T1", "1"),
            signal_marker(SIGNAL_STREAM, "T1", "s"),
        ] {
            assert!(PARTITIONS.iter().any(|p| key.starts_with(&format!("{p}:"))));
        }
        assert!(SIGNAL_STREAM.starts_with("rtss:"));
    }

    #[test]
    fn terminal_keys_only_for_the_authenticated_terminal() {
        assert_eq!(
            parse_terminal_key(instance("T1").as_bytes(), "T1"),
            Some(TerminalKey::Instance)
        );
        assert_eq!(parse_terminal_key(b"ris:{T2}", "T1"), None);
        assert_eq!(
            parse_terminal_key(trade("T1", "77").as_bytes(), "T1"),
            Some(TerminalKey::Trade {
                ticket: "77".into()
            })
        );
        assert_eq!(parse_terminal_key(b"rts:{T2}:77", "T1"), None);
        assert_eq!(parse_terminal_key(open_trades("T1").as_bytes(), "T1"), None);
        assert_eq!(
            parse_terminal_key(positions("T1").as_bytes(), "T1"),
            Some(TerminalKey::Positions)
        );
        assert_eq!(parse_terminal_key(b"rts:{T2}:positions", "T1"), None);
        assert_eq!(parse_terminal_key(b"rts:{T1}:positionsx", "T1"), None);
        assert_eq!(parse_terminal_key(b"rts:{T1}:", "T1"), None);
        assert_eq!(parse_terminal_key(b"other", "T1"), None);
    }
}
