//! The key layout: where each kind of update lives in its partition. docs/ARCHITECTURE.md, Key
//! layout and policies, lists each key with its writer, expiry and settings.
//!
//! Every per-terminal key carries the instance id as a `{hash tag}`, so one terminal's keys share
//! a Redis Cluster slot and can be written in one pipeline to one node.

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

/// Marker that a terminal's signal was stored: `rtss:sig:{T1}:<signal_id>`, the string `1` with
/// the `policy.signal_dedupe_ttl_s` TTL, set in the transaction of the signal's `XADD`. Only its
/// existence counts; it does not hold the entry id.
pub fn signal_marker(instance_id: &str, signal_id: &str) -> String {
    format!("rtss:sig:{{{instance_id}}}:{signal_id}")
}

/// Which of a terminal's keys a RESP write names, or `None` for a key it may not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalKey {
    Instance,
    Trade { ticket: String },
    Positions,
}

/// Parses `ris:{id}` / `rts:{id}:<ticket>` / `rts:{id}:positions` and checks the tag is the
/// authenticated terminal's.
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
    fn keys_carry_the_instance_as_hash_tag() {
        assert_eq!(instance("T1"), "ris:{T1}");
        assert_eq!(trade("T1", "42"), "rts:{T1}:42");
        assert_eq!(open_trades("T1"), "rts:{T1}:open");
        assert_eq!(positions("T1"), "rts:{T1}:positions");
        assert_eq!(signal_marker("T1", "s-1"), "rtss:sig:{T1}:s-1");
    }

    #[test]
    fn terminal_keys_only_for_the_authenticated_terminal() {
        assert_eq!(
            parse_terminal_key(b"ris:{T1}", "T1"),
            Some(TerminalKey::Instance)
        );
        assert_eq!(parse_terminal_key(b"ris:{T2}", "T1"), None);
        assert_eq!(
            parse_terminal_key(b"rts:{T1}:77", "T1"),
            Some(TerminalKey::Trade {
                ticket: "77".into()
            })
        );
        assert_eq!(parse_terminal_key(b"rts:{T2}:77", "T1"), None);
        assert_eq!(parse_terminal_key(b"rts:{T1}:open", "T1"), None);
        assert_eq!(
            parse_terminal_key(b"rts:{T1}:positions", "T1"),
            Some(TerminalKey::Positions)
        );
        assert_eq!(parse_terminal_key(b"rts:{T2}:positions", "T1"), None);
        assert_eq!(parse_terminal_key(b"rts:{T1}:positionsx", "T1"), None);
        assert_eq!(parse_terminal_key(b"rts:{T1}:", "T1"), None);
        assert_eq!(parse_terminal_key(b"other", "T1"), None);
    }
}
