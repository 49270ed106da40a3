//! What one simulated terminal sends: a heartbeat (`InstanceState`) and the snapshots of its open
//! positions (`TradeState`), built with the mt5-bridge types so they are valid by construction
//! and encoded exactly as a terminal would: the JSON of `POST /v1/ingest`, or the `to_fields()`
//! pairs of a RESP `HSET`.

use std::time::{SystemTime, UNIX_EPOCH};

use tradestate_mt5_bridge::{
    keys, parse_batch, Batch, InstanceState, PositionType, TradeState, TradeStatus, Update,
};

/// One terminal's identity and its monotonic sequence number.
pub struct Terminal {
    pub id: String,
    index: u64,
    seq: u64,
    positions: u32,
}

impl Terminal {
    /// `seq_base` must exceed every `seq` an earlier run stored for this id: the gateway keeps
    /// the newest state and answers older ones as stale.
    pub fn new(prefix: &str, index: usize, seq_base: u64, positions: u32) -> Terminal {
        Terminal {
            id: format!("{prefix}-{index:03}"),
            index: index as u64,
            seq: seq_base,
            positions,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn heartbeat(&mut self) -> InstanceState {
        let seq = self.next_seq();
        let wobble = (seq % 1000) as f64 / 100.0;
        InstanceState {
            seq,
            time_msc: unix_ms(),
            login: 51_000_000 + self.index,
            server: "Broker-Live01".into(),
            company: Some("Broker Ltd".into()),
            currency: "USD".into(),
            leverage: 100,
            balance: 10_250.75,
            credit: 0.0,
            equity: 10_250.75 + wobble,
            profit: wobble,
            margin: 412.3,
            margin_free: 9_838.45 + wobble,
            margin_level: 2_486.2,
            connected: true,
            trade_allowed: true,
            ping_us: 2_350,
            build: 4_755,
            positions: self.positions,
            orders: 0,
            ea_version: Some("1.4.2".into()),
        }
    }

    /// The snapshot of open position number `position` (0-based) of this terminal.
    pub fn trade(&mut self, position: u32) -> TradeState {
        let seq = self.next_seq();
        let now = unix_ms();
        let tick = (seq % 100) as f64 / 100_000.0;
        TradeState {
            seq,
            ticket: (1_000_000_000 + self.index * 1_000 + u64::from(position)).to_string(),
            time_msc: now - 3_600_000,
            time_update_msc: now,
            symbol: "EURUSD".into(),
            r#type: match position % 2 {
                0 => PositionType::Buy,
                _ => PositionType::Sell,
            },
            volume: 0.1,
            price_open: 1.0850,
            price_current: 1.0850 + tick,
            sl: 1.0800,
            tp: 1.0950,
            profit: tick * 10_000.0,
            swap: -0.12,
            commission: -0.7,
            magic: 42,
            comment: None,
            state: TradeStatus::Open,
            time_close_msc: None,
            price_close: None,
        }
    }

    /// A heartbeat followed by `size - 1` position snapshots (cycling over the open positions).
    pub fn batch(&mut self, size: usize) -> Batch {
        let mut updates = Vec::with_capacity(size);
        updates.push(Update::Instance(self.heartbeat()));
        for i in 1..size {
            let position = (i as u32 - 1) % self.positions.max(1);
            updates.push(Update::Trade(self.trade(position)));
        }
        Batch {
            instance_id: None,
            updates,
        }
    }

    /// The JSON body of one `POST /v1/ingest`.
    pub fn batch_json(&mut self, size: usize) -> Vec<u8> {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_vec(&self.batch(size)).unwrap_or_default()
    }

    /// `HSET ris:{id} <heartbeat fields>`, RESP-encoded, appended to `out`.
    pub fn heartbeat_hset(&mut self, out: &mut Vec<u8>) {
        let key = keys::instance(&self.id);
        let fields = self.heartbeat().to_fields();
        encode_hset(out, &key, &fields);
    }

    /// `HSET rts:{id}:<ticket> <trade fields>`, RESP-encoded, appended to `out`.
    pub fn trade_hset(&mut self, position: u32, out: &mut Vec<u8>) {
        let trade = self.trade(position);
        let key = keys::trade(&self.id, &trade.ticket);
        encode_hset(out, &key, &trade.to_fields());
    }
}

/// Checks that what this driver sends is what the gateway accepts, before any load is sent.
pub fn self_check(batch_size: usize) -> Result<(), String> {
    let mut terminal = Terminal::new("check", 0, 1, 9);
    parse_batch(&terminal.batch_json(batch_size))
        .map_err(|e| format!("the driver's own HTTP batch does not validate: {e}"))?;
    InstanceState::from_fields(&as_bytes(&terminal.heartbeat().to_fields()))
        .map_err(|e| format!("the driver's own RESP heartbeat does not validate: {e}"))?;
    TradeState::from_fields(&as_bytes(&terminal.trade(0).to_fields()))
        .map_err(|e| format!("the driver's own RESP trade does not validate: {e}"))?;
    Ok(())
}

/// Field/value pairs as the bytes a RESP command carries, which `from_fields` reads.
fn as_bytes<K: AsRef<str>>(fields: &[(K, String)]) -> Vec<(&[u8], &[u8])> {
    fields
        .iter()
        .map(|(k, v)| (k.as_ref().as_bytes(), v.as_bytes()))
        .collect()
}

/// Appends one RESP command (an array of bulk strings).
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn encode_hset(out: &mut Vec<u8>, key: &str, fields: &[(&'static str, String)]) {
    let mut args: Vec<&[u8]> = Vec::with_capacity(2 + fields.len() * 2);
    args.push(b"HSET");
    args.push(key.as_bytes());
    for (field, value) in fields {
        args.push(field.as_bytes());
        args.push(value.as_bytes());
    }
    encode_command(out, &args);
}

pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A `seq` base above anything an earlier run could have sent: microseconds since the epoch,
/// while a terminal sends far fewer than a million updates per second.
pub fn seq_base() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_driver_sends_validates() {
        assert_eq!(self_check(10), Ok(()));
        assert_eq!(self_check(1), Ok(()));
    }

    #[test]
    fn a_batch_is_a_heartbeat_then_positions_with_rising_seq() {
        let mut terminal = Terminal::new("t", 3, 100, 2);
        let batch = terminal.batch(4);
        let seqs: Vec<u64> = batch.updates.iter().map(Update::seq).collect();
        assert_eq!(seqs, vec![101, 102, 103, 104]);
        assert!(matches!(batch.updates[0], Update::Instance(_)));
        let tickets: Vec<&str> = batch.updates[1..]
            .iter()
            .filter_map(|u| match u {
                Update::Trade(t) => Some(t.ticket.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(tickets, vec!["1000003000", "1000003001", "1000003000"]);
    }

    #[test]
    fn hset_is_one_resp_array_on_the_terminals_key() {
        let mut terminal = Terminal::new("bench", 7, 0, 1);
        let mut out = Vec::new();
        terminal.heartbeat_hset(&mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        let pairs = tradestate_mt5_bridge::INSTANCE_STATE_FIELDS.len();
        assert!(text.starts_with(&format!(
            "*{}\r\n$4\r\nHSET\r\n$15\r\nris:{{bench-007}}\r\n",
            2 + 2 * pairs
        )));
        assert!(text.contains("\r\n$3\r\nseq\r\n$1\r\n1\r\n"));
    }
}
