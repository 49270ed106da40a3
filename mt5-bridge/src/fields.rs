//! The RESP encoding: each object as flat `(field, value)` pairs, the fields of a Redis hash
//! (`ris:{<id>}`, `rts:{<id>}:<ticket>`, `rts:{<id>}:positions`) or of a stream entry
//! (`rtss:signals`). Terminals that
//! speak RESP send these pairs with `HSET`/`XADD`; the gateway decodes them with `from_fields`.
//!
//! Values are text: integers in decimal, floats as Rust's shortest round-trip `Display` of f64,
//! bools `1`/`0` (`true`/`false` accepted on input), enums by their JSON names; an absent
//! `Option` is an absent field.
//!
//! Each message type lists its fields once, in `field_encoding!`: the RESP field names, the
//! wire table of [`crate::wire`], `to_fields`, `from_fields` and the wire values all come from
//! that one list, so the encodings cannot disagree on a name, an order or which fields may be
//! absent.

use std::collections::HashMap;

use crate::errors::{FieldError, ValidationErrors};
use crate::types::{
    InstanceState, PositionType, PositionsSnapshot, SignalAction, TradeSignal, TradeState,
    TradeStatus,
};
use crate::wire::{WireField, WireType, WireValue};

/// Declares a message type's field encoding from one list of its fields, in encoding order:
/// `required <field>: <wire type>` or `optional <field>: <wire type>` (an `Option` field, left
/// out when absent), with `as "<name>"` where the field name is not the Rust name.
macro_rules! field_encoding {
    (
        $(#[$names_doc:meta])*
        pub const $names:ident;
        $(#[$table_doc:meta])*
        pub const $table:ident;
        impl $type:ident {
            $(#[$to_doc:meta])*
            fn to_fields;
            $(#[$from_doc:meta])*
            fn from_fields;
        }
        fields {
            $($presence:ident $field:ident $(as $name:literal)?: $wire:ident,)*
        }
    ) => {
        $(#[$names_doc])*
        pub const $names: &[&str] = &[$(field_name!($field $($name)?)),*];

        $(#[$table_doc])*
        pub const $table: &[WireField] = &[$(WireField {
            name: field_name!($field $($name)?),
            ty: WireType::$wire,
            optional: field_presence!($presence is_optional),
        }),*];

        impl $type {
            $(#[$to_doc])*
            pub fn to_fields(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::with_capacity($names.len());
                $(if let Some(value) = field_presence!($presence present(self.$field)) {
                    out.push((field_name!($field $($name)?), value.text()));
                })*
                out
            }

            $(#[$from_doc])*
            pub fn from_fields(pairs: &[(&[u8], &[u8])]) -> Result<Self, ValidationErrors> {
                let mut input = FieldReader::new(pairs, $names);
                let decoded = $type {
                    $($field: input.$presence(field_name!($field $($name)?)),)*
                };
                input.finish()?;
                decoded.validate()?;
                Ok(decoded)
            }

            /// The present fields in wire form, in table order.
            pub(crate) fn wire_values(&self) -> Vec<(&'static str, WireValue)> {
                let mut out = Vec::with_capacity($table.len());
                $(if let Some(value) = field_presence!($presence present(self.$field)) {
                    out.push((field_name!($field $($name)?), value.wire()));
                })*
                out
            }
        }
    };
}

/// A field's name: its Rust name, or the one given with `as`.
macro_rules! field_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $name:literal) => {
        $name
    };
}

/// What `required` and `optional` mean for the table and for reading a field's value.
macro_rules! field_presence {
    (required is_optional) => {
        false
    };
    (optional is_optional) => {
        true
    };
    (required present($value:expr)) => {
        Some(&$value)
    };
    (optional present($value:expr)) => {
        $value.as_ref()
    };
}

field_encoding! {
    /// Field names of an instance state, in encoding order.
    pub const INSTANCE_STATE_FIELDS;
    /// Instance state fields (same order as [`INSTANCE_STATE_FIELDS`]).
    pub const INSTANCE_STATE_WIRE;
    impl InstanceState {
        /// The hash fields of `ris:{<id>}`.
        fn to_fields;
        /// Decodes and validates hash fields (e.g. a terminal's `HSET ris:{<id>} ...`).
        fn from_fields;
    }
    fields {
        required seq: Int,
        required time_msc: Int,
        required login: Int,
        required server: Text,
        optional company: Text,
        required currency: Text,
        required leverage: Int,
        required balance: Number,
        required credit: Number,
        required equity: Number,
        required profit: Number,
        required margin: Number,
        required margin_free: Number,
        required margin_level: Number,
        required connected: Bool,
        required trade_allowed: Bool,
        required ping_us: Int,
        required build: Int,
        required positions: Int,
        required orders: Int,
        optional ea_version: Text,
    }
}

field_encoding! {
    /// Field names of a trade state, in encoding order.
    pub const TRADE_STATE_FIELDS;
    /// Trade state fields (same order as [`TRADE_STATE_FIELDS`]).
    pub const TRADE_STATE_WIRE;
    impl TradeState {
        /// The hash fields of `rts:{<id>}:<ticket>` (the ticket is a field too).
        fn to_fields;
        /// Decodes and validates hash fields; the ticket comes from the `ticket` field.
        fn from_fields;
    }
    fields {
        required seq: Int,
        required ticket: Text,
        required time_msc: Int,
        required time_update_msc: Int,
        required symbol: Text,
        required r#type as "type": Text,
        required volume: Number,
        required price_open: Number,
        required price_current: Number,
        required sl: Number,
        required tp: Number,
        required profit: Number,
        required swap: Number,
        required commission: Number,
        required magic: Int,
        optional comment: Text,
        required state: Text,
        optional time_close_msc: Int,
        optional price_close: Number,
    }
}

field_encoding! {
    /// Field names of a trade signal, in encoding order.
    pub const TRADE_SIGNAL_FIELDS;
    /// Trade signal fields (same order as [`TRADE_SIGNAL_FIELDS`]).
    pub const TRADE_SIGNAL_WIRE;
    impl TradeSignal {
        /// The fields of an `rtss:signals` stream entry.
        fn to_fields;
        /// Decodes and validates stream entry fields (e.g. a terminal's `XADD ... <fields>`).
        fn from_fields;
    }
    fields {
        required seq: Int,
        required signal_id: Text,
        required time_msc: Int,
        required strategy: Text,
        required symbol: Text,
        required action: Text,
        optional volume: Number,
        optional price: Number,
        optional sl: Number,
        optional tp: Number,
        optional magic: Int,
        optional comment: Text,
    }
}

field_encoding! {
    /// Field names of a positions snapshot, in encoding order.
    pub const POSITIONS_FIELDS;
    /// Positions snapshot fields (same order as [`POSITIONS_FIELDS`]); the MQL5 library's
    /// `TS_POSITIONS_FIELDS`.
    pub const POSITIONS_WIRE;
    impl PositionsSnapshot {
        /// The hash fields of `rts:{<id>}:positions`.
        fn to_fields;
        /// Decodes and validates hash fields (a terminal's `HSET rts:{<id>}:positions ...`).
        fn from_fields;
    }
    fields {
        required seq: Int,
        required time_msc: Int,
        required tickets: Text,
    }
}

/// A value type of the field encoding.
trait FieldValue: Sized {
    /// Stands in for a missing or bad value while the other fields are still being read; never
    /// returned to the caller, because any error makes `finish` fail.
    const PLACEHOLDER: Self;
    /// What the value should look like, for error messages.
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self>;
    /// The RESP field value; numbers go through `Display`, which for f64 is the shortest text
    /// that parses back to the same number.
    fn text(&self) -> String;
    /// The value as the wire (JSON and the MQL5 library's RESP) writes it.
    fn wire(&self) -> WireValue;
}

macro_rules! parsed_field_value {
    ($($type:ty => $placeholder:expr, $expected:literal, $wire:ident;)*) => {$(
        impl FieldValue for $type {
            const PLACEHOLDER: Self = $placeholder;
            const EXPECTED: &'static str = $expected;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn text(&self) -> String {
                self.to_string()
            }
            fn wire(&self) -> WireValue {
                WireValue::$wire((*self).into())
            }
        }
    )*};
}

parsed_field_value! {
    u32 => 0, "an unsigned 32-bit integer", Int;
    u64 => 0, "an unsigned 64-bit integer", Int;
    i64 => 0, "a signed 64-bit integer", Int;
    f64 => 0.0, "a decimal number", Number;
}

impl FieldValue for String {
    const PLACEHOLDER: Self = String::new();
    const EXPECTED: &'static str = "text";
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn text(&self) -> String {
        self.clone()
    }
    fn wire(&self) -> WireValue {
        WireValue::Text(self.clone())
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
    fn text(&self) -> String {
        if *self { "1" } else { "0" }.to_owned()
    }
    fn wire(&self) -> WireValue {
        WireValue::Bool(*self)
    }
}

/// Enums travel by their wire names (`as_str`), the same in JSON and RESP.
macro_rules! named_field_value {
    ($($type:ident => $placeholder:expr, $all:expr, $expected:expr;)*) => {$(
        impl FieldValue for $type {
            const PLACEHOLDER: Self = $placeholder;
            const EXPECTED: &'static str = $expected;
            fn parse(text: &str) -> Option<Self> {
                $all.into_iter().find(|value| value.as_str() == text)
            }
            fn text(&self) -> String {
                self.as_str().to_owned()
            }
            fn wire(&self) -> WireValue {
                WireValue::Text(self.as_str().to_owned())
            }
        }
    )*};
}

named_field_value! {
    PositionType => PositionType::Buy, PositionType::ALL,
        "buy or sell (a position), or buy_limit, sell_limit, buy_stop, sell_stop, buy_stop_limit or sell_stop_limit (an order)";
    TradeStatus => TradeStatus::Open, TradeStatus::ALL,
        "open or closed (a position), or pending, cancelled or filled (an order)";
    SignalAction => SignalAction::Buy, [SignalAction::Buy, SignalAction::Sell, SignalAction::Close],
        "buy, sell or close";
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
