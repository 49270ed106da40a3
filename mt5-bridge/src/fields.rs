//! The RESP encoding: each object as flat `(field, value)` pairs, the fields of a Redis hash
//! (`ris:{<id>}`, `rts:{<id>}:<ticket>`, `rts:{<id>}:positions`) or of a stream entry
//! (`rtss:signals`). Terminals that
//! speak RESP send these pairs with `HSET`/`XADD`; the gateway decodes them with `from_fields`.
//!
//! Values are text: integers in decimal, floats as Rust's shortest round-trip `Display` of f64,
//! bools `1`/`0` (`true`/`false` accepted on input), enums by their JSON names; an absent
//! `Option` is an absent field.

use std::collections::HashMap;

use crate::errors::{FieldError, ValidationErrors};
use crate::types::{
    InstanceState, PositionType, PositionsSnapshot, SignalAction, TradeSignal, TradeState,
    TradeStatus,
};

/// Field names of an instance state, in encoding order.
pub const INSTANCE_STATE_FIELDS: &[&str] = &[
    "seq",
    "time_msc",
    "login",
    "server",
    "company",
    "currency",
    "leverage",
    "balance",
    "credit",
    "equity",
    "profit",
    "margin",
    "margin_free",
    "margin_level",
    "connected",
    "trade_allowed",
    "ping_us",
    "build",
    "positions",
    "orders",
    "ea_version",
];

/// Field names of a trade state, in encoding order.
pub const TRADE_STATE_FIELDS: &[&str] = &[
    "seq",
    "ticket",
    "time_msc",
    "time_update_msc",
    "symbol",
    "type",
    "volume",
    "price_open",
    "price_current",
    "sl",
    "tp",
    "profit",
    "swap",
    "commission",
    "magic",
    "comment",
    "state",
    "time_close_msc",
    "price_close",
];

/// Field names of a trade signal, in encoding order.
pub const TRADE_SIGNAL_FIELDS: &[&str] = &[
    "seq",
    "signal_id",
    "time_msc",
    "strategy",
    "symbol",
    "action",
    "volume",
    "price",
    "sl",
    "tp",
    "magic",
    "comment",
];

/// Field names of a positions snapshot, in encoding order.
pub const POSITIONS_FIELDS: &[&str] = &["seq", "time_msc", "tickets"];

impl InstanceState {
    /// The hash fields of `ris:{<id>}`.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = FieldWriter::with_capacity(INSTANCE_STATE_FIELDS.len());
        out.put("seq", self.seq);
        out.put("time_msc", self.time_msc);
        out.put("login", self.login);
        out.text("server", &self.server);
        out.optional_text("company", self.company.as_deref());
        out.text("currency", &self.currency);
        out.put("leverage", self.leverage);
        out.put("balance", self.balance);
        out.put("credit", self.credit);
        out.put("equity", self.equity);
        out.put("profit", self.profit);
        out.put("margin", self.margin);
        out.put("margin_free", self.margin_free);
        out.put("margin_level", self.margin_level);
        out.flag("connected", self.connected);
        out.flag("trade_allowed", self.trade_allowed);
        out.put("ping_us", self.ping_us);
        out.put("build", self.build);
        out.put("positions", self.positions);
        out.put("orders", self.orders);
        out.optional_text("ea_version", self.ea_version.as_deref());
        out.0
    }

    /// Decodes and validates hash fields (e.g. a terminal's `HSET ris:{<id>} ...`).
    pub fn from_fields(pairs: &[(&[u8], &[u8])]) -> Result<Self, ValidationErrors> {
        let mut input = FieldReader::new(pairs, INSTANCE_STATE_FIELDS);
        let state = InstanceState {
            seq: input.required("seq"),
            time_msc: input.required("time_msc"),
            login: input.required("login"),
            server: input.required("server"),
            company: input.optional("company"),
            currency: input.required("currency"),
            leverage: input.required("leverage"),
            balance: input.required("balance"),
            credit: input.required("credit"),
            equity: input.required("equity"),
            profit: input.required("profit"),
            margin: input.required("margin"),
            margin_free: input.required("margin_free"),
            margin_level: input.required("margin_level"),
            connected: input.required("connected"),
            trade_allowed: input.required("trade_allowed"),
            ping_us: input.required("ping_us"),
            build: input.required("build"),
            positions: input.required("positions"),
            orders: input.required("orders"),
            ea_version: input.optional("ea_version"),
        };
        input.finish()?;
        state.validate()?;
        Ok(state)
    }
}

impl TradeState {
    /// The hash fields of `rts:{<id>}:<ticket>` (the ticket is a field too).
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = FieldWriter::with_capacity(TRADE_STATE_FIELDS.len());
        out.put("seq", self.seq);
        out.text("ticket", &self.ticket);
        out.put("time_msc", self.time_msc);
        out.put("time_update_msc", self.time_update_msc);
        out.text("symbol", &self.symbol);
        out.text("type", self.r#type.as_str());
        out.put("volume", self.volume);
        out.put("price_open", self.price_open);
        out.put("price_current", self.price_current);
        out.put("sl", self.sl);
        out.put("tp", self.tp);
        out.put("profit", self.profit);
        out.put("swap", self.swap);
        out.put("commission", self.commission);
        out.put("magic", self.magic);
        out.optional_text("comment", self.comment.as_deref());
        out.text("state", self.state.as_str());
        out.optional("time_close_msc", self.time_close_msc);
        out.optional("price_close", self.price_close);
        out.0
    }

    /// Decodes and validates hash fields; the ticket comes from the `ticket` field.
    pub fn from_fields(pairs: &[(&[u8], &[u8])]) -> Result<Self, ValidationErrors> {
        let mut input = FieldReader::new(pairs, TRADE_STATE_FIELDS);
        let trade = TradeState {
            seq: input.required("seq"),
            ticket: input.required("ticket"),
            time_msc: input.required("time_msc"),
            time_update_msc: input.required("time_update_msc"),
            symbol: input.required("symbol"),
            r#type: input.required("type"),
            volume: input.required("volume"),
            price_open: input.required("price_open"),
            price_current: input.required("price_current"),
            sl: input.required("sl"),
            tp: input.required("tp"),
            profit: input.required("profit"),
            swap: input.required("swap"),
            commission: input.required("commission"),
            magic: input.required("magic"),
            comment: input.optional("comment"),
            state: input.required("state"),
            time_close_msc: input.optional("time_close_msc"),
            price_close: input.optional("price_close"),
        };
        input.finish()?;
        trade.validate()?;
        Ok(trade)
    }
}

impl TradeSignal {
    /// The fields of an `rtss:signals` stream entry.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = FieldWriter::with_capacity(TRADE_SIGNAL_FIELDS.len());
        out.put("seq", self.seq);
        out.text("signal_id", &self.signal_id);
        out.put("time_msc", self.time_msc);
        out.text("strategy", &self.strategy);
        out.text("symbol", &self.symbol);
        out.text("action", self.action.as_str());
        out.optional("volume", self.volume);
        out.optional("price", self.price);
        out.optional("sl", self.sl);
        out.optional("tp", self.tp);
        out.optional("magic", self.magic);
        out.optional_text("comment", self.comment.as_deref());
        out.0
    }

    /// Decodes and validates stream entry fields (e.g. a terminal's `XADD ... <fields>`).
    pub fn from_fields(pairs: &[(&[u8], &[u8])]) -> Result<Self, ValidationErrors> {
        let mut input = FieldReader::new(pairs, TRADE_SIGNAL_FIELDS);
        let signal = TradeSignal {
            seq: input.required("seq"),
            signal_id: input.required("signal_id"),
            time_msc: input.required("time_msc"),
            strategy: input.required("strategy"),
            symbol: input.required("symbol"),
            action: input.required("action"),
            volume: input.optional("volume"),
            price: input.optional("price"),
            sl: input.optional("sl"),
            tp: input.optional("tp"),
            magic: input.optional("magic"),
            comment: input.optional("comment"),
        };
        input.finish()?;
        signal.validate()?;
        Ok(signal)
    }
}

impl PositionsSnapshot {
    /// The hash fields of `rts:{<id>}:positions`.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = FieldWriter::with_capacity(POSITIONS_FIELDS.len());
        out.put("seq", self.seq);
        out.put("time_msc", self.time_msc);
        out.text("tickets", &self.tickets);
        out.0
    }

    /// Decodes and validates hash fields (a terminal's `HSET rts:{<id>}:positions ...`).
    pub fn from_fields(pairs: &[(&[u8], &[u8])]) -> Result<Self, ValidationErrors> {
        let mut input = FieldReader::new(pairs, POSITIONS_FIELDS);
        let snapshot = PositionsSnapshot {
            seq: input.required("seq"),
            time_msc: input.required("time_msc"),
            tickets: input.required("tickets"),
        };
        input.finish()?;
        snapshot.validate()?;
        Ok(snapshot)
    }
}

/// Builds the pairs; every value goes through `Display`, which for f64 is the shortest text
/// that parses back to the same number.
struct FieldWriter(Vec<(&'static str, String)>);

impl FieldWriter {
    fn with_capacity(capacity: usize) -> Self {
        FieldWriter(Vec::with_capacity(capacity))
    }

    fn put(&mut self, name: &'static str, value: impl std::fmt::Display) {
        self.0.push((name, value.to_string()));
    }

    fn text(&mut self, name: &'static str, value: &str) {
        self.0.push((name, value.to_owned()));
    }

    fn flag(&mut self, name: &'static str, value: bool) {
        self.text(name, if value { "1" } else { "0" });
    }

    fn optional(&mut self, name: &'static str, value: Option<impl std::fmt::Display>) {
        if let Some(value) = value {
            self.put(name, value);
        }
    }

    fn optional_text(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        }
    }
}

/// A value type of the RESP encoding.
trait FieldValue: Sized {
    /// Stands in for a missing or bad value while the other fields are still being read; never
    /// returned to the caller, because any error makes `finish` fail.
    const PLACEHOLDER: Self;
    /// What the value should look like, for error messages.
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! parsed_field_value {
    ($($type:ty => $placeholder:expr, $expected:literal;)*) => {$(
        impl FieldValue for $type {
            const PLACEHOLDER: Self = $placeholder;
            const EXPECTED: &'static str = $expected;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}

parsed_field_value! {
    u32 => 0, "an unsigned 32-bit integer";
    u64 => 0, "an unsigned 64-bit integer";
    i64 => 0, "a signed 64-bit integer";
    f64 => 0.0, "a decimal number";
}

impl FieldValue for String {
    const PLACEHOLDER: Self = String::new();
    const EXPECTED: &'static str = "text";
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl FieldValue for bool {
    const PLACEHOLDER: Self = false;
    const EXPECTED: &'static str = "1 or 0 (true or false)";
    fn parse(text: &str) -> Option<Self> {
        match text {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        }
    }
}

impl FieldValue for PositionType {
    const PLACEHOLDER: Self = PositionType::Buy;
    const EXPECTED: &'static str = "buy or sell (a position), or buy_limit, sell_limit, buy_stop, sell_stop, buy_stop_limit or sell_stop_limit (an order)";
    fn parse(text: &str) -> Option<Self> {
        PositionType::ALL
            .into_iter()
            .find(|value| value.as_str() == text)
    }
}

impl FieldValue for TradeStatus {
    const PLACEHOLDER: Self = TradeStatus::Open;
    const EXPECTED: &'static str =
        "open or closed (a position), or pending, cancelled or filled (an order)";
    fn parse(text: &str) -> Option<Self> {
        TradeStatus::ALL
            .into_iter()
            .find(|value| value.as_str() == text)
    }
}

impl FieldValue for SignalAction {
    const PLACEHOLDER: Self = SignalAction::Buy;
    const EXPECTED: &'static str = "buy, sell or close";
    fn parse(text: &str) -> Option<Self> {
        [SignalAction::Buy, SignalAction::Sell, SignalAction::Close]
            .into_iter()
            .find(|value| value.as_str() == text)
    }
}

/// Reads pairs by name, collecting every problem before giving up.
struct FieldReader<'a> {
    values: HashMap<&'static str, &'a str>,
    errors: Vec<FieldError>,
}

impl<'a> FieldReader<'a> {
    fn new(pairs: &[(&'a [u8], &'a [u8])], known: &[&'static str]) -> Self {
        let mut values = HashMap::with_capacity(pairs.len());
        let mut errors = Vec::new();
        for (raw_name, raw_value) in pairs {
            let shown_name = String::from_utf8_lossy(raw_name);
            let Some(&name) = known.iter().find(|known| known.as_bytes() == *raw_name) else {
                errors.push(FieldError::new(
                    shown_name.as_ref(),
                    format!(
                        "unknown field `{shown_name}`, expected one of {}",
                        known.join(", ")
                    ),
                ));
                continue;
            };
            let Ok(value) = std::str::from_utf8(raw_value) else {
                errors.push(FieldError::new(name, "value is not valid UTF-8"));
                continue;
            };
            if values.insert(name, value).is_some() {
                errors.push(FieldError::new(name, format!("duplicate field `{name}`")));
            }
        }
        FieldReader { values, errors }
    }

    fn required<T: FieldValue>(&mut self, name: &'static str) -> T {
        match self.values.get(name).copied() {
            Some(text) => self.parse(name, text),
            None => {
                self.errors
                    .push(FieldError::new(name, format!("missing field `{name}`")));
                T::PLACEHOLDER
            }
        }
    }

    fn optional<T: FieldValue>(&mut self, name: &'static str) -> Option<T> {
        let text = *self.values.get(name)?;
        Some(self.parse(name, text))
    }

    fn parse<T: FieldValue>(&mut self, name: &'static str, text: &str) -> T {
        T::parse(text).unwrap_or_else(|| {
            self.errors.push(FieldError::new(
                name,
                format!("invalid value {text:?}, expected {}", T::EXPECTED),
            ));
            T::PLACEHOLDER
        })
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        ValidationErrors::into_result(self.errors)
    }
}
