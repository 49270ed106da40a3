//! Semantic validation: the rules serde's types cannot state (finite and plausible numbers,
//! id charsets, string lengths, which states go with which trade types and close fields, the
//! tickets of a positions snapshot). Every check runs, so one reply lists
//! every problem of a body, each under its field path.

use crate::errors::{join_path, FieldError, ValidationErrors};
use crate::limits::{
    MAX_ABS_AMOUNT, MAX_BATCH_UPDATES, MAX_ID_LEN, MAX_STRING_LEN, MAX_TICKET_LEN, MAX_TIME_MSC,
    MIN_TIME_MSC,
};
use crate::types::{
    Batch, InstanceState, PositionsSnapshot, TradeSignal, TradeState, TradeStatus, Update,
    MAX_SNAPSHOT_TICKETS,
};

/// Checks a terminal id: 1..=64 of `[A-Za-z0-9._-]`. Ids become part of engine keys
/// (`ris:{<id>}`), so `{`, `}` and `:` would break the key layout and are refused.
pub fn validate_instance_id(id: &str) -> Result<(), FieldError> {
    check_id(
        "instance_id",
        id,
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        "letters, digits, '.', '_' and '-'",
    )
}

/// Checks a signal id: 1..=64 of `[A-Za-z0-9._:-]`.
pub fn validate_signal_id(id: &str) -> Result<(), FieldError> {
    check_id(
        "signal_id",
        id,
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'),
        "letters, digits, '.', '_', ':' and '-'",
    )
}

/// Checks a position ticket and returns its value: decimal digits of a u64 greater than 0, with
/// no leading zero so that one position always maps to one key (`7` and `007` would not).
pub fn validate_ticket(ticket: &str) -> Result<u64, FieldError> {
    let error = |message: String| FieldError::new("ticket", message);
    if ticket.is_empty() {
        return Err(error(
            "ticket is empty; send POSITION_TICKET as decimal digits".into(),
        ));
    }
    if ticket.len() > MAX_TICKET_LEN || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(format!(
            "ticket {:?} is not a 64-bit unsigned decimal; send POSITION_TICKET as digits, e.g. \"123456789\"",
            truncate_for_message(ticket)
        )));
    }
    if ticket.starts_with('0') {
        return Err(error(format!(
            "ticket {ticket:?} must be a positive number without leading zeros"
        )));
    }
    ticket.parse::<u64>().map_err(|_| {
        error(format!(
            "ticket {ticket:?} does not fit in 64 bits (largest is {})",
            u64::MAX
        ))
    })
}

impl InstanceState {
    pub(crate) fn validate_into(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        let mut check = Checker { prefix, errors };
        check.time("time_msc", self.time_msc);
        check.text("server", &self.server, Required::NonEmpty);
        check.optional_text("company", self.company.as_deref());
        check.text("currency", &self.currency, Required::NonEmpty);
        check.amount("balance", self.balance);
        check.non_negative("credit", self.credit);
        check.amount("equity", self.equity);
        check.amount("profit", self.profit);
        check.non_negative("margin", self.margin);
        check.amount("margin_free", self.margin_free);
        check.non_negative("margin_level", self.margin_level);
        check.optional_text("ea_version", self.ea_version.as_deref());
    }
}

impl TradeState {
    pub(crate) fn validate_into(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        let mut check = Checker { prefix, errors };
        if let Err(error) = validate_ticket(&self.ticket) {
            check.push("ticket", error.message);
        }
        check.time("time_msc", self.time_msc);
        if check.time("time_update_msc", self.time_update_msc)
            && self.time_update_msc < self.time_msc
        {
            check.push(
                "time_update_msc",
                format!(
                    "time_update_msc ({}) is before the open time time_msc ({})",
                    self.time_update_msc, self.time_msc
                ),
            );
        }
        check.text("symbol", &self.symbol, Required::NonEmpty);
        check.positive("volume", self.volume);
        check.non_negative("price_open", self.price_open);
        check.non_negative("price_current", self.price_current);
        check.non_negative("sl", self.sl);
        check.non_negative("tp", self.tp);
        check.amount("profit", self.profit);
        check.amount("swap", self.swap);
        check.amount("commission", self.commission);
        check.optional_text("comment", self.comment.as_deref());
        check.trade_state(self);
    }
}

impl Checker<'_> {
    /// Which states go with which types, and which states carry the close fields.
    fn trade_state(&mut self, trade: &TradeState) {
        let state = trade.state.as_str();
        let ty = trade.r#type.as_str();
        match (trade.state, trade.r#type.is_order()) {
            (TradeStatus::Open | TradeStatus::Closed, true) => self.push(
                "state",
                format!(
                    "state {state:?} is for positions (type \"buy\" or \"sell\"); an order of type {ty:?} is \"pending\", \"cancelled\" or \"filled\""
                ),
            ),
            (TradeStatus::Pending | TradeStatus::Cancelled | TradeStatus::Filled, false) => self
                .push(
                    "state",
                    format!(
                        "state {state:?} is for pending orders (type \"buy_limit\", \"sell_stop\", ...); a position of type {ty:?} is \"open\" or \"closed\""
                    ),
                ),
            _ => {}
        }
        if trade.state.is_live() {
            let done = if trade.state == TradeStatus::Open {
                "send state \"closed\""
            } else {
                "send state \"cancelled\" or \"filled\""
            };
            if trade.time_close_msc.is_some() {
                self.push(
                    "time_close_msc",
                    format!("a trade in state {state:?} has no time_close_msc; omit it or {done}"),
                );
            }
            if trade.price_close.is_some() {
                self.push(
                    "price_close",
                    format!("a trade in state {state:?} has no price_close; omit it or {done}"),
                );
            }
            return;
        }
        match trade.time_close_msc {
            None if trade.state == TradeStatus::Closed => self.push(
                "time_close_msc",
                "a closed trade needs time_close_msc (when it was closed, UTC ms)",
            ),
            None => self.push(
                "time_close_msc",
                format!(
                    "a {state} order needs time_close_msc (when it was done: ORDER_TIME_DONE_MSC, UTC ms)"
                ),
            ),
            Some(time_close) => {
                if self.time("time_close_msc", time_close) && time_close < trade.time_msc {
                    self.push(
                        "time_close_msc",
                        format!(
                            "time_close_msc ({time_close}) is before the open time time_msc ({})",
                            trade.time_msc
                        ),
                    );
                }
            }
        }
        match trade.price_close {
            None if trade.state == TradeStatus::Closed => self.push(
                "price_close",
                "a closed trade needs price_close (the closing price)",
            ),
            None => {}
            Some(price) => self.non_negative("price_close", price),
        }
    }
}

impl PositionsSnapshot {
    /// The listed tickets as numbers, in the order sent, once `validate` accepts the snapshot
    /// (a ticket that is not one is left out here; validation names it).
    pub fn ticket_values(&self) -> Vec<u64> {
        self.ticket_texts()
            .filter_map(|ticket| validate_ticket(ticket).ok())
            .collect()
    }

    pub(crate) fn validate_into(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        let mut check = Checker { prefix, errors };
        check.time("time_msc", self.time_msc);
        let count = self.ticket_texts().count();
        if count > MAX_SNAPSHOT_TICKETS {
            check.push(
                "tickets",
                format!(
                    "tickets lists {count} tickets, at most {MAX_SNAPSHOT_TICKETS} are allowed; a terminal with more open positions and orders cannot send a snapshot"
                ),
            );
            return;
        }
        let mut seen = std::collections::HashSet::with_capacity(count);
        for (index, ticket) in self.ticket_texts().enumerate() {
            match validate_ticket(ticket) {
                Err(error) => {
                    check.push(
                        "tickets",
                        format!(
                            "entry {index} of tickets: {}; send the tickets comma-separated without spaces, e.g. \"123,456\", or \"\" for none",
                            error.message
                        ),
                    );
                    // One bad entry usually means a bad separator: the rest says no more.
                    return;
                }
                Ok(value) => {
                    if !seen.insert(value) {
                        check.push(
                            "tickets",
                            format!("ticket {value} is listed twice in tickets; list each open position and pending order once"),
                        );
                        return;
                    }
                }
            }
        }
    }
}

impl TradeSignal {
    pub(crate) fn validate_into(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        let mut check = Checker { prefix, errors };
        if let Err(error) = validate_signal_id(&self.signal_id) {
            check.push("signal_id", error.message);
        }
        check.time("time_msc", self.time_msc);
        check.text("strategy", &self.strategy, Required::NonEmpty);
        check.text("symbol", &self.symbol, Required::NonEmpty);
        if let Some(volume) = self.volume {
            check.positive("volume", volume);
        }
        for (name, value) in [("price", self.price), ("sl", self.sl), ("tp", self.tp)] {
            if let Some(value) = value {
                check.non_negative(name, value);
            }
        }
        check.optional_text("comment", self.comment.as_deref());
    }
}

impl Update {
    pub(crate) fn validate_into(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        match self {
            Update::Instance(state) => state.validate_into(prefix, errors),
            Update::Trade(trade) => trade.validate_into(prefix, errors),
            Update::Signal(signal) => signal.validate_into(prefix, errors),
            Update::Positions(snapshot) => snapshot.validate_into(prefix, errors),
        }
    }
}

impl Batch {
    /// Runs every semantic check on the envelope and on each update (paths `updates[i].field`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if check_envelope(self.instance_id.as_deref(), self.updates.len(), &mut errors) {
            for (index, update) in self.updates.iter().enumerate() {
                update.validate_into(&format!("updates[{index}]"), &mut errors);
            }
        }
        ValidationErrors::into_result(errors)
    }
}

/// `validate` for each object type: all of its checks, with field paths relative to the object.
macro_rules! validate_whole_object {
    ($($type:ident),*) => {$(
        impl $type {
            /// Runs every semantic check; field paths are relative to this object.
            pub fn validate(&self) -> Result<(), ValidationErrors> {
                let mut errors = Vec::new();
                self.validate_into("", &mut errors);
                ValidationErrors::into_result(errors)
            }
        }
    )*};
}

validate_whole_object!(InstanceState, TradeState, PositionsSnapshot, TradeSignal);

/// A batch envelope's rules, shared by `Batch::validate` and the decoder (which checks them
/// before decoding the updates one by one): `instance_id`, when present, is a valid id, and the
/// batch carries `updates` updates within the size rule. Pushes what is wrong to `errors`;
/// `false` when the size is wrong, and then the updates are not looked at.
pub(crate) fn check_envelope(
    instance_id: Option<&str>,
    updates: usize,
    errors: &mut Vec<FieldError>,
) -> bool {
    if let Some(error) = instance_id.and_then(|id| validate_instance_id(id).err()) {
        errors.push(error);
    }
    match check_update_count(updates) {
        Some(error) => {
            errors.push(error);
            false
        }
        None => true,
    }
}

/// The batch size rule.
fn check_update_count(count: usize) -> Option<FieldError> {
    if count == 0 {
        Some(FieldError::new(
            "updates",
            "a batch needs at least one update; send nothing instead of an empty batch",
        ))
    } else if count > MAX_BATCH_UPDATES {
        Some(FieldError::new(
            "updates",
            format!(
                "a batch carries at most {MAX_BATCH_UPDATES} updates, this one has {count}; split it over several requests"
            ),
        ))
    } else {
        None
    }
}

fn check_id(
    field: &str,
    id: &str,
    allowed: impl Fn(char) -> bool,
    allowed_text: &str,
) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::new(field, format!("{field} is empty")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            field,
            format!(
                "{field} is {} bytes long, at most {MAX_ID_LEN} are allowed",
                id.len()
            ),
        ));
    }
    if let Some(bad) = id.chars().find(|&c| !allowed(c)) {
        return Err(FieldError::new(
            field,
            format!("{field} {id:?} contains {bad:?}; only {allowed_text} are allowed"),
        ));
    }
    Ok(())
}

/// Keeps error messages short when the offending value is huge.
fn truncate_for_message(value: &str) -> String {
    const SHOWN: usize = 40;
    if value.chars().count() <= SHOWN {
        value.to_owned()
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head}...")
    }
}

enum Required {
    NonEmpty,
    MayBeEmpty,
}

/// Collects errors for one object under a path prefix.
struct Checker<'a> {
    prefix: &'a str,
    errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn push(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(join_path(self.prefix, name), message));
    }

    /// Returns whether the time is plausible, so callers can compare it with other times.
    fn time(&mut self, name: &str, value: i64) -> bool {
        if (MIN_TIME_MSC..=MAX_TIME_MSC).contains(&value) {
            true
        } else {
            self.push(
                name,
                format!(
                    "{value} is not a plausible UTC time in milliseconds (expected {MIN_TIME_MSC}..={MAX_TIME_MSC}, years 2000..2100); MT5's *_TIME_MSC values are milliseconds"
                ),
            );
            false
        }
    }

    /// Any sign, bounded magnitude (money that can go negative: balance, profit, swap, ...).
    /// Returns whether the value passed, so that the signed rules below add their bound only to
    /// a number that is in range: one error per field.
    fn amount(&mut self, name: &str, value: f64) -> bool {
        if !value.is_finite() {
            self.push(name, format!("{value} is not a finite number"));
            false
        } else if value.abs() > MAX_ABS_AMOUNT {
            self.push(
                name,
                format!("{value:e} is out of range; |{name}| must be at most {MAX_ABS_AMOUNT:e}"),
            );
            false
        } else {
            true
        }
    }

    /// Zero or more (prices, margin; MT5 reports 0 for "not set").
    fn non_negative(&mut self, name: &str, value: f64) {
        if self.amount(name, value) && value < 0.0 {
            self.push(
                name,
                format!("{value} is negative; {name} must be 0 or more"),
            );
        }
    }

    /// Strictly more than zero (volumes).
    fn positive(&mut self, name: &str, value: f64) {
        if self.amount(name, value) && value <= 0.0 {
            self.push(
                name,
                format!("{value} is not positive; {name} must be greater than 0 lots"),
            );
        }
    }

    fn optional_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value, Required::MayBeEmpty);
        }
    }

    fn text(&mut self, name: &str, value: &str, required: Required) {
        if matches!(required, Required::NonEmpty) && value.is_empty() {
            self.push(name, format!("{name} is empty"));
            return;
        }
        let length = value.chars().count();
        if length > MAX_STRING_LEN {
            self.push(
                name,
                format!("{name} is {length} characters long, at most {MAX_STRING_LEN} are allowed"),
            );
        }
        if let Some(bad) = value.chars().find(|c| c.is_control()) {
            self.push(
                name,
                format!("{name} contains the control character {bad:?}; send plain text"),
            );
        }
    }
}
