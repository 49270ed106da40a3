//! One spill record: a validated, routed [`Op`] as bytes, and the frame around it on disk.
//!
//! Frame: `u32 LE payload length | u32 LE CRC-32 of the payload | payload`. Payload (version 1):
//! `u8 version | u8 kind | u64 seq | u64 spooled_ms | str instance_id | body | u16 n | n x (str
//! field name, str value)`, where `str` is `u32 LE length + UTF-8 bytes` and the body is
//! `u8 n + n x str absent` (instance, kind 0), `str ticket + u8 closed + u8 n + n x str absent`
//! (trade, kind 1), `str signal_id` (signal, kind 2) or `u32 n + n x u64 ticket` (positions
//! snapshot, kind 3, sorted tickets). Field names are stored as text and matched against the
//! contract's field tables on reading, so a record never depends on a table's order.
//!
//! A new kind of update is a new kind byte, not a new version: files written before it read as
//! they always did.

use std::sync::Arc;

use tradestate_mt5_bridge::{
    INSTANCE_STATE_FIELDS, MAX_SNAPSHOT_TICKETS, POSITIONS_FIELDS, TRADE_SIGNAL_FIELDS,
    TRADE_STATE_FIELDS,
};

use crate::ops::{Kind, Op, OpBody};

const VERSION: u8 = 1;
/// Bytes before a payload: its length and checksum.
pub const FRAME_HEADER: usize = 8;
/// No valid payload is larger (a batch's body is bounded far below this); a larger length read
/// back is corruption, not a record.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// A record read back: the op and when it was spooled (unix ms).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub op: Op,
    pub spooled_ms: u64,
}

/// Appends `op`'s frame to `out`.
pub fn encode(op: &Op, spooled_ms: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    out.push(VERSION);
    out.push(match op.kind() {
        Kind::Instance => 0,
        Kind::Trade => 1,
        Kind::Signal => 2,
        Kind::Positions => 3,
    });
    out.extend_from_slice(&op.seq.to_le_bytes());
    out.extend_from_slice(&spooled_ms.to_le_bytes());
    put_str(out, &op.instance_id);
    match &op.body {
        OpBody::Instance { absent } => put_names(out, absent),
        OpBody::Trade {
            ticket,
            closed,
            absent,
        } => {
            put_str(out, ticket);
            out.push(u8::from(*closed));
            put_names(out, absent);
        }
        OpBody::Signal { signal_id } => put_str(out, signal_id),
        OpBody::Positions { tickets } => {
            out.extend_from_slice(&(tickets.len() as u32).to_le_bytes());
            for ticket in tickets {
                out.extend_from_slice(&ticket.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&(op.fields.len() as u16).to_le_bytes());
    for (name, value) in &op.fields {
        put_str(out, name);
        put_str(out, value);
    }
    let payload = &out[start + FRAME_HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_names(out: &mut Vec<u8>, names: &[&'static str]) {
    out.push(names.len() as u8);
    for name in names {
        put_str(out, name);
    }
}

/// What the bytes at an offset of a segment are.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A whole frame whose checksum matches; `len` is the frame's size.
    Whole { payload: &'a [u8], len: usize },
    /// The bytes end inside this frame: a write cut short by a crash.
    Torn,
    /// A whole frame whose checksum does not match, or an impossible length.
    Corrupt(String),
}

/// Reads the frame at the start of `bytes` (which must not be empty).
pub fn frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.len() < FRAME_HEADER {
        return Frame::Torn;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len > MAX_PAYLOAD {
        return Frame::Corrupt(format!(
            "record length {len} is over the {MAX_PAYLOAD}-byte limit"
        ));
    }
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Frame::Torn;
    };
    if crc32fast::hash(payload) != crc {
        // A checksum that fails on the very last frame is a torn write; the caller decides.
        return Frame::Corrupt("checksum mismatch".into());
    }
    Frame::Whole {
        payload,
        len: FRAME_HEADER + len,
    }
}

/// Turns a checked payload back into an op.
pub fn decode(payload: &[u8]) -> Result<Decoded, String> {
    let mut r = Reader { bytes: payload };
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!(
            "record version {version}, this gateway reads version {VERSION}"
        ));
    }
    let kind = r.u8()?;
    let seq = r.u64()?;
    let spooled_ms = r.u64()?;
    let instance_id: Arc<str> = Arc::from(r.str()?);
    let (table, body) = match kind {
        0 => (
            INSTANCE_STATE_FIELDS,
            OpBody::Instance {
                absent: r.names(INSTANCE_STATE_FIELDS)?,
            },
        ),
        1 => {
            let ticket = r.str()?.to_string();
            let closed = r.u8()? != 0;
            let absent = r.names(TRADE_STATE_FIELDS)?;
            (
                TRADE_STATE_FIELDS,
                OpBody::Trade {
                    ticket,
                    closed,
                    absent,
                },
            )
        }
        2 => (
            TRADE_SIGNAL_FIELDS,
            OpBody::Signal {
                signal_id: r.str()?.to_string(),
            },
        ),
        3 => (
            POSITIONS_FIELDS,
            OpBody::Positions {
                tickets: r.tickets()?,
            },
        ),
        other => return Err(format!("unknown record kind {other}")),
    };
    let n = r.u16()?;
    let mut fields = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let name = intern(table, r.str()?)?;
        fields.push((name, r.str()?.to_string()));
    }
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the record's fields", r.bytes.len()));
    }
    Ok(Decoded {
        op: Op {
            instance_id,
            seq,
            fields,
            body,
        },
        spooled_ms,
    })
}

fn intern(table: &'static [&'static str], name: &str) -> Result<&'static str, String> {
    table
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| format!("field {name:?} is not in this gateway's contract"))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("record ends early".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let b = self.take(4)?;
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| "text that is not UTF-8".to_string())
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A snapshot's tickets; more than a snapshot may list is corruption, not a record.
    fn tickets(&mut self) -> Result<Vec<u64>, String> {
        let n = self.u32()? as usize;
        if n > MAX_SNAPSHOT_TICKETS {
            return Err(format!(
                "a positions record lists {n} tickets, a snapshot has at most {MAX_SNAPSHOT_TICKETS}"
            ));
        }
        (0..n).map(|_| self.u64()).collect()
    }

    fn names(&mut self, table: &'static [&'static str]) -> Result<Vec<&'static str>, String> {
        let n = self.u8()?;
        (0..n).map(|_| intern(table, self.str()?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn trade(seq: u64) -> Op {
        Op {
            instance_id: Arc::from("T1"),
            seq,
            fields: vec![("seq", seq.to_string()), ("symbol", "EURUSD".into())],
            body: OpBody::Trade {
                ticket: "42".into(),
                closed: true,
                absent: vec!["sl"],
            },
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let signal = Op {
            instance_id: Arc::from("T9"),
            seq: 7,
            fields: vec![("signal_id", "s-1".into()), ("symbol", "XAUUSD".into())],
            body: OpBody::Signal {
                signal_id: "s-1".into(),
            },
        };
        let positions = Op {
            instance_id: Arc::from("T9"),
            seq: 8,
            fields: vec![
                ("seq", "8".into()),
                ("time_msc", "1718020800000".into()),
                ("tickets", "7,18446744073709551615".into()),
            ],
            body: OpBody::Positions {
                tickets: vec![7, u64::MAX],
            },
        };
        let empty = Op {
            instance_id: Arc::from("T9"),
            seq: 9,
            fields: vec![("tickets", String::new())],
            body: OpBody::Positions { tickets: vec![] },
        };
        for op in [trade(5), signal, positions, empty] {
            let mut bytes = Vec::new();
            encode(&op, 1234, &mut bytes);
            let Frame::Whole { payload, len } = frame(&bytes) else {
                panic!("not a whole frame")
            };
            assert_eq!(len, bytes.len());
            let back = decode(payload).unwrap();
            assert_eq!(back.spooled_ms, 1234);
            assert_eq!(format!("{:?}", back.op), format!("{op:?}"));
        }
    }

    #[test]
    fn a_cut_frame_is_torn_and_a_flipped_byte_is_corrupt() {
        let mut bytes = Vec::new();
        encode(&trade(5), 1, &mut bytes);
        for cut in 1..bytes.len() {
            assert!(matches!(frame(&bytes[..cut]), Frame::Torn), "cut at {cut}");
        }
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(frame(&bytes), Frame::Corrupt(_)));
    }

    #[test]
    fn a_positions_record_is_kind_3_after_the_version() {
        let op = Op {
            instance_id: Arc::from("T1"),
            seq: 1,
            fields: vec![],
            body: OpBody::Positions { tickets: vec![5] },
        };
        let mut bytes = Vec::new();
        encode(&op, 1, &mut bytes);
        assert_eq!(&bytes[FRAME_HEADER..FRAME_HEADER + 2], &[VERSION, 3]);
        // A record of the kinds before it still reads (the version did not change).
        let mut old = Vec::new();
        encode(&trade(5), 1, &mut old);
        assert_eq!(&old[FRAME_HEADER..FRAME_HEADER + 2], &[1, 1]);
    }

    #[test]
    fn a_positions_record_with_too_many_tickets_is_refused() {
        let op = Op {
            instance_id: Arc::from("T1"),
            seq: 1,
            fields: vec![],
            body: OpBody::Positions {
                tickets: (1..=MAX_SNAPSHOT_TICKETS as u64 + 1).collect(),
            },
        };
        let mut bytes = Vec::new();
        encode(&op, 1, &mut bytes);
        let Frame::Whole { payload, .. } = frame(&bytes) else {
            panic!("not a whole frame")
        };
        assert!(decode(payload).unwrap_err().contains("at most"));
    }

    #[test]
    fn unknown_field_names_are_refused() {
        let mut op = trade(5);
        op.fields.push(("not_a_field", "1".into()));
        let mut bytes = Vec::new();
        encode(&op, 1, &mut bytes);
        let Frame::Whole { payload, .. } = frame(&bytes) else {
            panic!()
        };
        assert!(decode(payload).unwrap_err().contains("not_a_field"));
    }
}
