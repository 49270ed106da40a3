//! The writes a terminal may send over RESP, decoded into writer [`Op`]s, and the replies their
//! outcomes become.
//!
//! `HSET`/`HMSET ris:{<id>}`, `HSET`/`HMSET rts:{<id>}:<ticket>` and
//! `HSET`/`HMSET rts:{<id>}:positions` carry a full snapshot as the mt5-bridge field encoding;
//! `XADD <rtss stream> * ...` carries a signal. The key must be
//! the authenticated terminal's, the stream the configured one. Anything a terminal sends about
//! retention (`MAXLEN`, `MINID`, `NOMKSTREAM`) is dropped: the gateway applies its own policy.

use std::sync::Arc;

use tradestate_engine::protocol::reply::Reply;
use tradestate_mt5_bridge::{
    FieldError, InstanceState, PositionsSnapshot, TradeSignal, TradeState, ValidationErrors,
};

use crate::admission::Rejection;
use crate::convert;
use crate::keys::{self, parse_terminal_key, TerminalKey};
use crate::ops::{Op, Outcome, Partition};

/// How the reply to an accepted write is shaped once its outcome is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// `HSET`: `:<pairs>` when stored or coalesced, `:0` when stale or a duplicate.
    Hset { pairs: usize },
    /// `HMSET`: `+OK` for any acknowledgement, as Redis answers HMSET.
    Hmset,
    /// `XADD`: the entry id as a bulk string, or a nil bulk for a duplicate `signal_id`.
    Xadd,
}

/// Why a write command was not turned into an op; each is answered in place.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// `-ERR wrong number of arguments for '<cmd>' command`.
    Arity(&'static str),
    /// `-NOPERM ...` naming the key or stream.
    NotYours(String),
    /// `-ERR ...` for a malformed command (bad XADD option, explicit id).
    Syntax(String),
    /// `-ERR invalid update: <field>: <message>; ...`.
    Invalid(ValidationErrors),
}

impl WriteError {
    pub fn reply(&self, out: &mut Reply) {
        match self {
            WriteError::Arity(command) => out.error(&format!(
                "ERR wrong number of arguments for '{command}' command"
            )),
            WriteError::NotYours(text) => out.error(&format!("NOPERM {text}")),
            WriteError::Syntax(text) => out.error(&format!("ERR {text}")),
            WriteError::Invalid(errors) => out.error(&format!("ERR invalid update: {errors}")),
        }
    }
}

/// What this terminal may write, for `-NOPERM` texts.
pub fn allowed_writes(instance_id: &str, stream: &str) -> String {
    format!(
        "this terminal may only HSET {} / {} / {} and XADD {stream}",
        keys::instance(instance_id),
        keys::trade(instance_id, "<ticket>"),
        keys::positions(instance_id),
    )
}

/// `HSET key field value [field value ...]` (and HMSET) on one of the terminal's state keys.
pub fn hash_write(
    instance_id: &Arc<str>,
    stream: &str,
    command: &'static str,
    argv: &[&[u8]],
) -> Result<(Op, usize), WriteError> {
    if argv.len() < 4 || !argv.len().is_multiple_of(2) {
        return Err(WriteError::Arity(command));
    }
    let key = argv[1];
    let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let sent = pairs.len();
    let op = match parse_terminal_key(key, instance_id) {
        Some(TerminalKey::Instance) => {
            let state = InstanceState::from_fields(&pairs).map_err(WriteError::Invalid)?;
            convert::instance_op(instance_id, &state)
        }
        Some(TerminalKey::Trade { ticket }) => {
            let trade = trade_from_fields(pairs, &ticket)?;
            convert::trade_op(instance_id, &trade)
        }
        Some(TerminalKey::Positions) => {
            let snapshot = PositionsSnapshot::from_fields(&pairs).map_err(WriteError::Invalid)?;
            convert::positions_op(instance_id, &snapshot)
        }
        None => {
            return Err(WriteError::NotYours(format!(
                "{} on key '{}' is not allowed: {}",
                command.to_ascii_uppercase(),
                String::from_utf8_lossy(key),
                allowed_writes(instance_id, stream)
            )))
        }
    };
    Ok((op, sent))
}

/// The trade's ticket comes from the key; a `ticket` field, when sent, must agree with it.
fn trade_from_fields<'a>(
    mut pairs: Vec<(&'a [u8], &'a [u8])>,
    ticket: &'a str,
) -> Result<TradeState, WriteError> {
    match pairs.iter().find(|(name, _)| *name == b"ticket") {
        Some((_, value)) if *value != ticket.as_bytes() => {
            return Err(WriteError::Invalid(ValidationErrors(vec![
                FieldError::new(
                    "ticket",
                    format!(
                        "field ticket {:?} differs from the key's ticket {ticket:?}",
                        String::from_utf8_lossy(value)
                    ),
                ),
            ])))
        }
        Some(_) => {}
        None => pairs.push((b"ticket", ticket.as_bytes())),
    }
    TradeState::from_fields(&pairs).map_err(WriteError::Invalid)
}

/// `XADD <stream> [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] * field value ...`.
pub fn stream_write(
    instance_id: &Arc<str>,
    stream: &str,
    argv: &[&[u8]],
) -> Result<Op, WriteError> {
    if argv.len() < 5 {
        return Err(WriteError::Arity("xadd"));
    }
    if argv[1] != stream.as_bytes() {
        return Err(WriteError::NotYours(format!(
            "XADD to stream '{}' is not allowed: {}",
            String::from_utf8_lossy(argv[1]),
            allowed_writes(instance_id, stream)
        )));
    }
    let mut i = 2;
    // Retention options are parsed (so a typo is still an error) and then ignored.
    loop {
        let Some(word) = argv.get(i) else {
            return Err(WriteError::Arity("xadd"));
        };
        if word.eq_ignore_ascii_case(b"NOMKSTREAM") {
            i += 1;
        } else if word.eq_ignore_ascii_case(b"MAXLEN") || word.eq_ignore_ascii_case(b"MINID") {
            i += 1;
            if matches!(argv.get(i), Some(&b"=") | Some(&b"~")) {
                i += 1;
            }
            if argv.get(i).is_none() {
                return Err(WriteError::Syntax("syntax error".into()));
            }
            i += 1;
            if argv
                .get(i)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"LIMIT"))
            {
                if argv.get(i + 1).is_none() {
                    return Err(WriteError::Syntax("syntax error".into()));
                }
                i += 2;
            }
        } else {
            break;
        }
    }
    if argv[i] != b"*" {
        return Err(WriteError::Syntax(format!(
            "the gateway assigns stream ids: use XADD {stream} * field value ... (got id '{}')",
            String::from_utf8_lossy(argv[i])
        )));
    }
    let fields = &argv[i + 1..];
    if fields.is_empty() || !fields.len().is_multiple_of(2) {
        return Err(WriteError::Arity("xadd"));
    }
    let pairs: Vec<(&[u8], &[u8])> = fields.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let signal = TradeSignal::from_fields(&pairs).map_err(WriteError::Invalid)?;
    Ok(convert::signal_op(instance_id, &signal))
}

/// The reply to one accepted write, from what became of it. `stale_key` is the key of an HSET
/// from a RESP3 client (`None` otherwise): a stale outcome is then announced by a push right
/// before its `:0` (see [`stale_push`]).
pub fn outcome_reply(
    out: &mut Reply,
    shape: ReplyShape,
    partition: Partition,
    result: &Result<Outcome, Rejection>,
    stale_key: Option<&str>,
) {
    match result {
        Err(rejection) => rejection_reply(out, rejection),
        Ok(Outcome::Unavailable { reason }) => out.error(&format!(
            "TRYAGAIN partition {} unavailable: {reason}",
            partition.name()
        )),
        Ok(Outcome::Refused { reason }) => out.error(&format!(
            "TRYAGAIN partition {} unavailable: the engine refused the write: {reason}",
            partition.name()
        )),
        Ok(outcome) => match shape {
            ReplyShape::Hmset => out.ok(),
            ReplyShape::Hset { pairs } => match outcome {
                Outcome::Stored { .. }
                | Outcome::Volatile { .. }
                | Outcome::Spooled
                | Outcome::Coalesced => out.int(pairs as i64),
                Outcome::Stale { stored_seq } => {
                    if let (Some(key), true) = (stale_key, out.resp3) {
                        stale_push(out, key, *stored_seq);
                    }
                    out.int(0)
                }
                _ => out.int(0),
            },
            // A spooled signal has no entry id until it is written: nil, as for a duplicate.
            ReplyShape::Xadd => match outcome {
                Outcome::Stored { entry_id: Some(id) }
                | Outcome::Volatile { entry_id: Some(id) } => out.bulk(id.as_bytes()),
                _ => out.null(),
            },
        },
    }
}

/// `>3 $5 stale $<len> <key> :<stored_seq>`: the HSET whose `:0` follows was not newer than
/// the `seq` the gateway holds for `key`. A RESP2 reply of `:0` cannot say that, and a terminal
/// needs `stored_seq` to notice that the gateway holds a newer numbering of it (CLIENT.md,
/// "Sequence numbers"). It comes immediately before the reply, so a client that reads replies
/// in order knows which command it is about. RESP3 only: a RESP2 client would take the push
/// for the reply.
pub fn stale_push(out: &mut Reply, key: &str, stored_seq: u64) {
    out.push(3);
    out.bulk(b"stale");
    out.bulk(key.as_bytes());
    // Written by hand: a seq is a u64 and `Reply::int` takes an i64.
    out.buf
        .extend_from_slice(format!(":{stored_seq}\r\n").as_bytes());
}

/// `-TRYAGAIN <why>, retry in <ms> ms`.
pub fn rejection_reply(out: &mut Reply, rejection: &Rejection) {
    out.error(&format!(
        "TRYAGAIN {}, retry in {} ms",
        rejection.message(),
        rejection.retry_after().as_millis().max(1)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Arc<str> {
        Arc::from("T1")
    }

    fn args(line: &str) -> Vec<Vec<u8>> {
        line.split_whitespace()
            .map(|s| s.as_bytes().to_vec())
            .collect()
    }

    fn refs(args: &[Vec<u8>]) -> Vec<&[u8]> {
        args.iter().map(|a| a.as_slice()).collect()
    }

    const TRADE: &str = "seq 3 time_msc 1763000000000 time_update_msc 1763000000003 symbol EURUSD type buy volume 0.1 price_open 1.1 price_current 1.1 sl 0 tp 0 profit 0 swap 0 commission 0 magic 0 state open";
    const SIGNAL: &str =
        "seq 1 signal_id s-1 time_msc 1763000000000 strategy trend symbol EURUSD action buy";

    #[test]
    fn a_trade_takes_its_ticket_from_the_key() {
        let a = args(&format!("HSET rts:{{T1}}:77 {TRADE}"));
        let (op, pairs) = hash_write(&id(), "rtss:signals", "hset", &refs(&a)).unwrap();
        assert_eq!(pairs, 15);
        assert_eq!(op.state_key().as_deref(), Some("rts:{T1}:77"));
    }

    #[test]
    fn a_ticket_field_must_match_the_key() {
        let a = args(&format!("HSET rts:{{T1}}:77 ticket 78 {TRADE}"));
        match hash_write(&id(), "rtss:signals", "hset", &refs(&a)) {
            Err(WriteError::Invalid(errors)) => assert_eq!(errors.0[0].field, "ticket"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_terminals_key_is_refused() {
        let a = args(&format!("HSET rts:{{T2}}:77 {TRADE}"));
        match hash_write(&id(), "rtss:signals", "hset", &refs(&a)) {
            Err(WriteError::NotYours(text)) => assert!(text.contains("rts:{T2}:77"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xadd_drops_retention_options() {
        let a = args(&format!(
            "XADD rtss:signals NOMKSTREAM MAXLEN ~ 5 LIMIT 10 * {SIGNAL}"
        ));
        let op = stream_write(&id(), "rtss:signals", &refs(&a)).unwrap();
        assert_eq!(op.seq, 1);
        let a = args(&format!("XADD rtss:signals MINID = 0-1 * {SIGNAL}"));
        assert!(stream_write(&id(), "rtss:signals", &refs(&a)).is_ok());
    }

    #[test]
    fn xadd_needs_the_configured_stream_and_a_star_id() {
        let a = args(&format!("XADD other * {SIGNAL}"));
        assert!(matches!(
            stream_write(&id(), "rtss:signals", &refs(&a)),
            Err(WriteError::NotYours(_))
        ));
        let a = args(&format!("XADD rtss:signals 1-1 {SIGNAL}"));
        assert!(matches!(
            stream_write(&id(), "rtss:signals", &refs(&a)),
            Err(WriteError::Syntax(_))
        ));
        let a = args("XADD rtss:signals MAXLEN");
        assert!(stream_write(&id(), "rtss:signals", &refs(&a)).is_err());
    }

    #[test]
    fn replies_follow_the_outcome() {
        let mut out = Reply::new();
        let shape = ReplyShape::Hset { pairs: 3 };
        outcome_reply(
            &mut out,
            shape,
            Partition::Ris,
            &Ok(Outcome::Coalesced),
            None,
        );
        outcome_reply(
            &mut out,
            shape,
            Partition::Ris,
            &Ok(Outcome::Stale { stored_seq: 9 }),
            None,
        );
        outcome_reply(
            &mut out,
            ReplyShape::Xadd,
            Partition::Rtss,
            &Ok(Outcome::Duplicate { entry_id: None }),
            None,
        );
        outcome_reply(
            &mut out,
            ReplyShape::Xadd,
            Partition::Rtss,
            &Ok(Outcome::Stored {
                entry_id: Some("1-0".into()),
            }),
            None,
        );
        assert_eq!(out.buf, b":3\r\n:0\r\n$-1\r\n$3\r\n1-0\r\n");
    }

    #[test]
    fn a_stale_hset_of_a_resp3_client_is_pushed_right_before_its_reply() {
        let stale = Ok(Outcome::Stale {
            stored_seq: 1_718_020_800_000_123,
        });
        let shape = ReplyShape::Hset { pairs: 3 };
        let mut out = Reply::new();
        out.resp3 = true;
        outcome_reply(&mut out, shape, Partition::Rts, &stale, Some("rts:{T1}:77"));
        outcome_reply(
            &mut out,
            shape,
            Partition::Rts,
            &Ok(Outcome::Duplicate { entry_id: None }),
            Some("rts:{T1}:77"),
        );
        assert_eq!(
            out.buf,
            b">3\r\n$5\r\nstale\r\n$11\r\nrts:{T1}:77\r\n:1718020800000123\r\n:0\r\n:0\r\n"
        );
        // Beyond i64: the seq as it is.
        let mut out = Reply::new();
        out.resp3 = true;
        stale_push(&mut out, "ris:{T1}", u64::MAX);
        assert_eq!(
            out.buf,
            b">3\r\n$5\r\nstale\r\n$8\r\nris:{T1}\r\n:18446744073709551615\r\n"
        );
    }

    #[test]
    fn resp2_clients_and_hmset_get_no_stale_push() {
        let stale = Ok(Outcome::Stale { stored_seq: 9 });
        let mut out = Reply::new();
        outcome_reply(
            &mut out,
            ReplyShape::Hset { pairs: 3 },
            Partition::Rts,
            &stale,
            Some("rts:{T1}:77"),
        );
        assert_eq!(out.buf, b":0\r\n");
        let mut out = Reply::new();
        out.resp3 = true;
        outcome_reply(&mut out, ReplyShape::Hmset, Partition::Rts, &stale, None);
        assert_eq!(out.buf, b"+OK\r\n");
    }

    #[test]
    fn a_snapshot_is_an_hset_of_the_positions_key() {
        let a = args("HSET rts:{T1}:positions seq 9 time_msc 1763000000000 tickets 5,6");
        let (op, pairs) = hash_write(&id(), "rtss:signals", "hset", &refs(&a)).unwrap();
        assert_eq!(pairs, 3);
        assert_eq!(op.state_key().as_deref(), Some("rts:{T1}:positions"));
        assert!(
            matches!(&op.body, crate::ops::OpBody::Positions { tickets } if tickets == &[5, 6])
        );
        let a = args("HSET rts:{T1}:positions seq 9 time_msc 1763000000000 tickets 5,5");
        match hash_write(&id(), "rtss:signals", "hset", &refs(&a)) {
            Err(WriteError::Invalid(errors)) => assert_eq!(errors.0[0].field, "tickets"),
            other => panic!("{other:?}"),
        }
    }
}
