//! The message types a terminal sends, with MT5's own field names (DESIGN 6).
//!
//! Every update is a full snapshot of its object and carries the terminal's sequence number `seq`.
//! Times are UTC milliseconds, like MT5's own `*_TIME_MSC` properties. The serde and schemars
//! attributes here define the JSON encoding and the JSON Schema; the checks serde cannot express
//! live in `validate`, the RESP field encoding in `fields`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::{MAX_ABS_AMOUNT, MAX_STRING_LEN, MAX_TIME_MSC, MIN_TIME_MSC, TICKET_PATTERN};

/// Health of one terminal (partition `ris`, one hash per terminal). Sent as a heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceState {
    /// The terminal's sequence number, monotonic per terminal.
    pub seq: u64,
    /// When this snapshot was taken (UTC ms).
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_msc: i64,
    /// ACCOUNT_LOGIN.
    pub login: u64,
    /// ACCOUNT_SERVER.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub server: String,
    /// ACCOUNT_COMPANY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_STRING_LEN))]
    pub company: Option<String>,
    /// ACCOUNT_CURRENCY.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub currency: String,
    /// ACCOUNT_LEVERAGE.
    pub leverage: u32,
    /// ACCOUNT_BALANCE.
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub balance: f64,
    /// ACCOUNT_CREDIT.
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub credit: f64,
    /// ACCOUNT_EQUITY.
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub equity: f64,
    /// ACCOUNT_PROFIT.
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub profit: f64,
    /// ACCOUNT_MARGIN.
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub margin: f64,
    /// ACCOUNT_MARGIN_FREE (negative when the account is under water).
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub margin_free: f64,
    /// ACCOUNT_MARGIN_LEVEL in percent (0 when there is no margin).
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub margin_level: f64,
    /// TERMINAL_CONNECTED.
    pub connected: bool,
    /// TERMINAL_TRADE_ALLOWED.
    pub trade_allowed: bool,
    /// TERMINAL_PING_LAST, in microseconds.
    pub ping_us: u64,
    /// TERMINAL_BUILD.
    pub build: u32,
    /// PositionsTotal().
    pub positions: u32,
    /// OrdersTotal().
    pub orders: u32,
    /// The version of the expert advisor sending the updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_STRING_LEN))]
    pub ea_version: Option<String>,
}

/// POSITION_TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PositionType {
    Buy,
    Sell,
}

impl PositionType {
    /// The wire name (`"buy"` / `"sell"`), the same in JSON and RESP.
    pub fn as_str(self) -> &'static str {
        match self {
            PositionType::Buy => "buy",
            PositionType::Sell => "sell",
        }
    }
}

/// Whether a position is still open. A closed position keeps its last state for 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TradeStatus {
    Open,
    Closed,
}

impl TradeStatus {
    /// The wire name (`"open"` / `"closed"`), the same in JSON and RESP.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Open => "open",
            TradeStatus::Closed => "closed",
        }
    }
}

/// One position (partition `rts`, one hash per ticket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeState {
    /// The terminal's sequence number, monotonic per terminal.
    pub seq: u64,
    /// POSITION_TICKET as decimal digits (a string because MT5 tickets are 64-bit).
    #[schemars(regex(pattern = TICKET_PATTERN))]
    pub ticket: String,
    /// POSITION_TIME_MSC: when the position was opened (UTC ms).
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_msc: i64,
    /// POSITION_TIME_UPDATE_MSC.
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_update_msc: i64,
    /// POSITION_SYMBOL.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub symbol: String,
    /// POSITION_TYPE; JSON field `type`.
    #[serde(rename = "type")]
    pub r#type: PositionType,
    /// POSITION_VOLUME in lots; greater than 0.
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub volume: f64,
    /// POSITION_PRICE_OPEN.
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub price_open: f64,
    /// POSITION_PRICE_CURRENT.
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub price_current: f64,
    /// POSITION_SL (0 when not set).
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub sl: f64,
    /// POSITION_TP (0 when not set).
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub tp: f64,
    /// POSITION_PROFIT.
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub profit: f64,
    /// POSITION_SWAP.
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub swap: f64,
    /// The commission charged so far (DEAL_COMMISSION summed over the position's deals).
    #[schemars(range(min = -MAX_ABS_AMOUNT, max = MAX_ABS_AMOUNT))]
    pub commission: f64,
    /// POSITION_MAGIC.
    pub magic: i64,
    /// POSITION_COMMENT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_STRING_LEN))]
    pub comment: Option<String>,
    /// Open or closed.
    pub state: TradeStatus,
    /// When the position was closed (UTC ms); required when closed, absent when open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_close_msc: Option<i64>,
    /// The closing price; required when closed, absent when open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub price_close: Option<f64>,
}

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignalAction {
    Buy,
    Sell,
    Close,
}

impl SignalAction {
    /// The wire name (`"buy"` / `"sell"` / `"close"`), the same in JSON and RESP.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalAction::Buy => "buy",
            SignalAction::Sell => "sell",
            SignalAction::Close => "close",
        }
    }
}

/// An event from a strategy (partition `rtss`, appended to a capped stream). Retrying with the
/// same `signal_id` stores it once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeSignal {
    /// The terminal's sequence number, monotonic per terminal.
    pub seq: u64,
    /// Idempotency key chosen by the sender: 1..=64 of `[A-Za-z0-9._:-]`.
    #[schemars(regex(pattern = crate::limits::SIGNAL_ID_PATTERN))]
    pub signal_id: String,
    /// When the strategy emitted the signal (UTC ms).
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_msc: i64,
    /// The strategy's name.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub strategy: String,
    /// The symbol the signal is about.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub symbol: String,
    /// Buy, sell or close.
    pub action: SignalAction,
    /// Lots; greater than 0 when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub volume: Option<f64>,
    /// Price the strategy saw or wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub price: Option<f64>,
    /// Stop loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub sl: Option<f64>,
    /// Take profit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_ABS_AMOUNT))]
    pub tp: Option<f64>,
    /// Magic number of the strategy's orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<i64>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_STRING_LEN))]
    pub comment: Option<String>,
}

/// One update in a batch: JSON `{"kind": "instance" | "trade" | "signal", ...fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Update {
    Instance(InstanceState),
    Trade(TradeState),
    Signal(TradeSignal),
}

impl Update {
    /// Which kind of update this is (and so which partition stores it).
    pub fn kind(&self) -> crate::UpdateKind {
        match self {
            Update::Instance(_) => crate::UpdateKind::InstanceState,
            Update::Trade(_) => crate::UpdateKind::TradeState,
            Update::Signal(_) => crate::UpdateKind::TradeSignal,
        }
    }

    /// The terminal's sequence number carried by the update.
    pub fn seq(&self) -> u64 {
        match self {
            Update::Instance(state) => state.seq,
            Update::Trade(trade) => trade.seq,
            Update::Signal(signal) => signal.seq,
        }
    }
}

/// The body of `POST /v1/ingest`: many updates from one terminal in one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The sending terminal; when present it must match the authenticated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::limits::INSTANCE_ID_PATTERN))]
    pub instance_id: Option<String>,
    /// 1..=MAX_BATCH_UPDATES updates, applied in order.
    #[schemars(length(min = 1, max = crate::limits::MAX_BATCH_UPDATES))]
    pub updates: Vec<Update>,
}
