//! The exact bytes a terminal sends: the compact JSON of `POST /v1/ingest` and the RESP commands
//! (`HSET ris:{<id>} ...`, `HSET rts:{<id>}:<ticket> ...`, `HSET rts:{<id>}:positions ...`,
//! `XADD rtss:signals * ...`) a socket client writes after `AUTH <id> <token>`.
//!
//! The MQL5 library (`mql5/Include/Tradestate/Wire.mqh`) builds the same bytes from the same
//! field tables ([`INSTANCE_STATE_WIRE`], [`TRADE_STATE_WIRE`], [`TRADE_SIGNAL_WIRE`],
//! [`POSITIONS_WIRE`]) and the
//! same number rule ([`wire_number`]); `tests/mql5_source.rs` parses the `.mqh` and fails when
//! the two differ, and `fixtures/wire` / `fixtures/resp` hold the bytes both must produce.
//!
//! Rules, identical in JSON and RESP:
//! - fields in table order, an absent optional field is left out;
//! - integers in decimal; numbers ([`WireType::Number`]) in fixed notation with the fewest
//!   decimals (0..=16) that read back as the same double, zero as `0` (see [`wire_number`]);
//! - JSON: `{"kind":"<kind>",...}`, no spaces, text quoted with `"` and `\` escaped and control
//!   characters as `\u00xx`, bools `true`/`false`, non-ASCII as raw UTF-8;
//! - RESP: every argument a bulk string, text raw, bools `1`/`0`.

use std::fmt::Write as _;

use crate::keys;
use crate::types::Update;

/// The stream signals go to (the gateway's default `policy.rtss_stream`), defined in
/// [`crate::keys`].
pub use crate::keys::SIGNAL_STREAM;

/// The two ways a terminal speaks to the gateway, as a label (metrics, reports, command-line
/// options): HTTP JSON (`POST /v1/ingest`) or RESP (`HSET`/`XADD` on the RESP listener). The
/// reference client's `client::Endpoint` says where to reach each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Http,
    Resp,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Http, Transport::Resp];

    /// `http` or `resp`.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Resp => "resp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown transport {s:?} (http or resp)"))
    }
}

/// Most decimals [`wire_number`] writes (MQL5's `DoubleToString` takes at most 16).
pub const WIRE_MAX_DECIMALS: usize = 16;

/// How a field's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// Decimal integer, unquoted in JSON.
    Int,
    /// A double by [`wire_number`], unquoted in JSON.
    Number,
    /// Text (also enums and the ticket), quoted in JSON.
    Text,
    /// `true`/`false` in JSON, `1`/`0` in RESP.
    Bool,
}

impl WireType {
    /// The name the MQL5 field tables use (`int`, `num`, `text`, `bool`).
    pub fn mql5_name(self) -> &'static str {
        match self {
            WireType::Int => "int",
            WireType::Number => "num",
            WireType::Text => "text",
            WireType::Bool => "bool",
        }
    }
}

/// One field of an update kind, in encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireField {
    pub name: &'static str,
    pub ty: WireType,
    pub optional: bool,
}

use WireType::{Bool, Int, Number, Text};

/// The field tables, declared with the RESP field names (module `fields`) so that both
/// encodings read one list.
pub use crate::fields::{INSTANCE_STATE_WIRE, POSITIONS_WIRE, TRADE_SIGNAL_WIRE, TRADE_STATE_WIRE};

/// The JSON `kind` of an update and its field table.
pub fn wire_table(update: &Update) -> (&'static str, &'static [WireField]) {
    match update {
        Update::Instance(_) => ("instance", INSTANCE_STATE_WIRE),
        Update::Trade(_) => ("trade", TRADE_STATE_WIRE),
        Update::Signal(_) => ("signal", TRADE_SIGNAL_WIRE),
        Update::Positions(_) => ("positions", POSITIONS_WIRE),
    }
}

/// A double as the wire writes it: fixed notation with the fewest decimals (0..=16) whose text
/// reads back as exactly `value`; 16 decimals when none does; `0` for zero (and minus zero).
/// MQL5 does the same with `DoubleToString(value, d)` / `StringToDouble`.
pub fn wire_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    if !value.is_finite() {
        // Never valid; written so that the gateway names the field instead of a parse error.
        return value.to_string();
    }
    for decimals in 0..=WIRE_MAX_DECIMALS {
        let text = format!("{value:.decimals$}");
        if text.parse::<f64>() == Ok(value) {
            return text;
        }
    }
    format!("{value:.WIRE_MAX_DECIMALS$}")
}

/// One value in wire form before it is written as JSON or RESP.
#[derive(Clone, Debug, PartialEq)]
pub enum WireValue {
    Int(i128),
    Number(f64),
    Text(String),
    Bool(bool),
}

impl WireValue {
    fn ty(&self) -> WireType {
        match self {
            WireValue::Int(_) => Int,
            WireValue::Number(_) => Number,
            WireValue::Text(_) => Text,
            WireValue::Bool(_) => Bool,
        }
    }

    /// The RESP argument (also the text between the quotes of a JSON string, unescaped).
    pub fn resp_text(&self) -> String {
        match self {
            WireValue::Int(value) => value.to_string(),
            WireValue::Number(value) => wire_number(*value),
            WireValue::Text(value) => value.clone(),
            WireValue::Bool(value) => if *value { "1" } else { "0" }.to_owned(),
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            WireValue::Int(value) => {
                let _ = write!(out, "{value}");
            }
            WireValue::Number(value) => out.push_str(&wire_number(*value)),
            WireValue::Text(value) => json_string(value, out),
            WireValue::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        }
    }
}

/// `"text"` with `"`, `\` and control characters escaped (the MQL5 library's `TsJsonQuote`).
pub fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The present fields of an update, in table order.
pub fn wire_values(update: &Update) -> Vec<(&'static str, WireValue)> {
    let values = match update {
        Update::Instance(state) => state.wire_values(),
        Update::Trade(trade) => trade.wire_values(),
        Update::Signal(signal) => signal.wire_values(),
        Update::Positions(snapshot) => snapshot.wire_values(),
    };
    debug_assert!({
        let (_, table) = wire_table(update);
        values.iter().all(|(name, value)| {
            table
                .iter()
                .any(|field| field.name == *name && field.ty == value.ty())
        })
    });
    values
}

/// One update as a batch entry: `{"kind":"instance","seq":1,...}`.
pub fn update_json(update: &Update) -> String {
    let (kind, _) = wire_table(update);
    let mut out = String::with_capacity(512);
    out.push_str("{\"kind\":");
    json_string(kind, &mut out);
    for (name, value) in wire_values(update) {
        out.push(',');
        json_string(name, &mut out);
        out.push(':');
        value.write_json(&mut out);
    }
    out.push('}');
    out
}

/// The body of `POST /v1/ingest`: `{"instance_id":"T1","updates":[...]}` (no `instance_id`
/// member when `None`; the terminal then names itself in the `x-tradestate-instance` header).
pub fn batch_json<'a>(
    instance_id: Option<&str>,
    updates: impl IntoIterator<Item = &'a Update>,
) -> String {
    let mut out = String::with_capacity(1024);
    out.push('{');
    if let Some(id) = instance_id {
        out.push_str("\"instance_id\":");
        json_string(id, &mut out);
        out.push(',');
    }
    out.push_str("\"updates\":[");
    for (index, update) in updates.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&update_json(update));
    }
    out.push_str("]}");
    out
}

/// The command a socket client sends for one update, as arguments:
/// `HSET ris:{<id>} f v ...`, `HSET rts:{<id>}:<ticket> f v ...`,
/// `HSET rts:{<id>}:positions f v ...` or `XADD <stream> * f v ...`.
pub fn resp_args(instance_id: &str, stream: &str, update: &Update) -> Vec<String> {
    let mut args = match update {
        Update::Instance(_) => vec!["HSET".to_owned(), keys::instance(instance_id)],
        Update::Trade(trade) => vec!["HSET".to_owned(), keys::trade(instance_id, &trade.ticket)],
        Update::Signal(_) => vec!["XADD".to_owned(), stream.to_owned(), "*".to_owned()],
        Update::Positions(_) => vec!["HSET".to_owned(), keys::positions(instance_id)],
    };
    for (name, value) in wire_values(update) {
        args.push(name.to_owned());
        args.push(value.resp_text());
    }
    args
}

/// `AUTH <instance_id> <token>` as arguments.
pub fn resp_auth_args(instance_id: &str, token: &str) -> Vec<String> {
    vec!["AUTH".to_owned(), instance_id.to_owned(), token.to_owned()]
}

/// A command as a RESP array of bulk strings: `*<n>\r\n$<len>\r\n<arg>\r\n...`.
pub fn resp_encode<S: AsRef<[u8]>>(args: &[S]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The RESP bytes for a sequence of updates (no AUTH), one command each.
pub fn resp_commands<'a>(
    instance_id: &str,
    stream: &str,
    updates: impl IntoIterator<Item = &'a Update>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for update in updates {
        out.extend(resp_encode(&resp_args(instance_id, stream, update)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_the_fewest_decimals_that_round_trip() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (0.1, "0.1"),
            (1.07512, "1.07512"),
            (10250.37, "10250.37"),
            (-0.45, "-0.45"),
            (1e15, "1000000000000000"),
            (1e-7, "0.0000001"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (value, text) in cases {
            assert_eq!(wire_number(value), text, "{value:?}");
        }
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        json_string("a\"b\\c\nd\u{1}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\u000ad\\u0001é\"");
    }

    #[test]
    fn tables_follow_the_resp_field_order() {
        let names = |table: &[WireField]| table.iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(INSTANCE_STATE_WIRE), crate::INSTANCE_STATE_FIELDS);
        assert_eq!(names(TRADE_STATE_WIRE), crate::TRADE_STATE_FIELDS);
        assert_eq!(names(TRADE_SIGNAL_WIRE), crate::TRADE_SIGNAL_FIELDS);
        assert_eq!(names(POSITIONS_WIRE), crate::POSITIONS_FIELDS);
    }

    #[test]
    fn resp_encoding_is_an_array_of_bulks() {
        assert_eq!(
            resp_encode(&["AUTH", "T1", "tok"]),
            b"*3\r\n$4\r\nAUTH\r\n$2\r\nT1\r\n$3\r\ntok\r\n"
        );
    }
}
