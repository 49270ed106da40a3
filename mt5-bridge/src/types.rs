//! The message types a terminal sends, with MT5's own field names.
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

/// The trade's type: `buy` / `sell` for a position (POSITION_TYPE), one of the pending order
/// types for an order (ORDER_TYPE_*, lower case, prefix dropped; contract 1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PositionType {
    Buy,
    Sell,
    BuyLimit,
    SellLimit,
    BuyStop,
    SellStop,
    BuyStopLimit,
    SellStopLimit,
}

impl PositionType {
    /// Every type, positions first (for parsers and error messages).
    pub const ALL: [PositionType; 8] = [
        PositionType::Buy,
        PositionType::Sell,
        PositionType::BuyLimit,
        PositionType::SellLimit,
        PositionType::BuyStop,
        PositionType::SellStop,
        PositionType::BuyStopLimit,
        PositionType::SellStopLimit,
    ];

    /// The wire name (`"buy"`, `"sell_stop_limit"`, ...), the same in JSON and RESP.
    pub fn as_str(self) -> &'static str {
        match self {
            PositionType::Buy => "buy",
            PositionType::Sell => "sell",
            PositionType::BuyLimit => "buy_limit",
            PositionType::SellLimit => "sell_limit",
            PositionType::BuyStop => "buy_stop",
            PositionType::SellStop => "sell_stop",
            PositionType::BuyStopLimit => "buy_stop_limit",
            PositionType::SellStopLimit => "sell_stop_limit",
        }
    }

    /// Whether this is a pending order's type rather than a position's (`buy` / `sell`).
    pub fn is_order(self) -> bool {
        !matches!(self, PositionType::Buy | PositionType::Sell)
    }

    /// Whether it buys (a long position, or an order that opens one).
    pub fn is_buy(self) -> bool {
        matches!(
            self,
            PositionType::Buy
                | PositionType::BuyLimit
                | PositionType::BuyStop
                | PositionType::BuyStopLimit
        )
    }
}

/// Where a trade is in its life. Positions are `open` then `closed`; orders are `pending`, then
/// `cancelled` (cancelled, expired or rejected) or `filled` (into a position with another
/// ticket). A trade that is no longer live keeps its last state for 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TradeStatus {
    Open,
    Closed,
    Pending,
    Cancelled,
    Filled,
}

impl TradeStatus {
    /// Every state.
    pub const ALL: [TradeStatus; 5] = [
        TradeStatus::Open,
        TradeStatus::Closed,
        TradeStatus::Pending,
        TradeStatus::Cancelled,
        TradeStatus::Filled,
    ];

    /// The wire name (`"open"`, `"cancelled"`, ...), the same in JSON and RESP.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Open => "open",
            TradeStatus::Closed => "closed",
            TradeStatus::Pending => "pending",
            TradeStatus::Cancelled => "cancelled",
            TradeStatus::Filled => "filled",
        }
    }

    /// Whether the trade is still live on the terminal (an open position or a pending order):
    /// the gateway keeps live trades in the terminal's open set without expiry, and the others
    /// in its closed index with the closed-trade retention.
    pub fn is_live(self) -> bool {
        matches!(self, TradeStatus::Open | TradeStatus::Pending)
    }
}

/// One position or pending order (partition `rts`, one hash per ticket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeState {
    /// The terminal's sequence number, monotonic per terminal.
    pub seq: u64,
    /// POSITION_TICKET (ORDER_TICKET for an order) as decimal digits (a string because MT5
    /// tickets are 64-bit).
    #[schemars(regex(pattern = TICKET_PATTERN))]
    pub ticket: String,
    /// POSITION_TIME_MSC: when the position was opened (ORDER_TIME_SETUP_MSC: when the order was
    /// placed), UTC ms.
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_msc: i64,
    /// POSITION_TIME_UPDATE_MSC (for an order the newest of its setup and done times).
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_update_msc: i64,
    /// POSITION_SYMBOL.
    #[schemars(length(min = 1, max = MAX_STRING_LEN))]
    pub symbol: String,
    /// POSITION_TYPE, or the ORDER_TYPE of an order; JSON field `type`.
    #[serde(rename = "type")]
    pub r#type: PositionType,
    /// POSITION_VOLUME (ORDER_VOLUME_CURRENT for an order) in lots; greater than 0.
    #[schemars(range(max = MAX_ABS_AMOUNT), extend("exclusiveMinimum" = 0))]
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
    /// `open` / `closed` for a position (type buy or sell), `pending` / `cancelled` / `filled`
    /// for an order.
    pub state: TradeStatus,
    /// When the position was closed or the order done (UTC ms): required when closed,
    /// cancelled or filled, absent when open or pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_close_msc: Option<i64>,
    /// The closing price: required when closed, optional when cancelled or filled, absent when
    /// open or pending.
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
    #[schemars(range(max = MAX_ABS_AMOUNT), extend("exclusiveMinimum" = 0))]
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

/// Most tickets one positions snapshot may list.
pub const MAX_SNAPSHOT_TICKETS: usize = 5000;

/// JSON Schema pattern for a snapshot's `tickets`: canonical tickets separated by commas, or
/// empty (the code check, `PositionsSnapshot::validate`, also bounds each to u64, refuses
/// duplicates and counts them).
pub const SNAPSHOT_TICKETS_PATTERN: &str = "^([1-9][0-9]{0,19}(,[1-9][0-9]{0,19})*)?$";

/// The tickets of every position and pending order a terminal holds right now (partition
/// `rts`, hash `rts:{<id>}:positions`; contract 1.1). The gateway closes (or cancels) each live
/// trade of the terminal that the snapshot does not list and whose stored `seq` is below the
/// snapshot's, so a close the terminal never reported cannot stay open forever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionsSnapshot {
    /// The terminal's sequence number, monotonic per terminal.
    pub seq: u64,
    /// When the terminal took the snapshot (UTC ms); trades it closes get this as
    /// `time_close_msc`.
    #[schemars(range(min = MIN_TIME_MSC, max = MAX_TIME_MSC))]
    pub time_msc: i64,
    /// The tickets of every open position and pending order, comma-separated without spaces
    /// (`"123,456"`), `""` when there are none; at most 5,000, each once.
    #[schemars(regex(pattern = SNAPSHOT_TICKETS_PATTERN))]
    pub tickets: String,
}

impl PositionsSnapshot {
    /// The listed tickets as text, in the order sent (nothing for `""`). Unchecked: validation
    /// (`validate`) says whether each is a ticket.
    pub fn ticket_texts(&self) -> impl Iterator<Item = &str> {
        self.tickets.split(',').filter(|_| !self.tickets.is_empty())
    }
}

/// One update in a batch: JSON `{"kind": "instance" | "trade" | "signal" | "positions",
/// ...fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Update {
    Instance(InstanceState),
    Trade(TradeState),
    Signal(TradeSignal),
    Positions(PositionsSnapshot),
}

impl Update {
    /// Which kind of update this is (and so which partition stores it).
    pub fn kind(&self) -> crate::UpdateKind {
        match self {
            Update::Instance(_) => crate::UpdateKind::InstanceState,
            Update::Trade(_) => crate::UpdateKind::TradeState,
            Update::Signal(_) => crate::UpdateKind::TradeSignal,
            Update::Positions(_) => crate::UpdateKind::Positions,
        }
    }

    /// The terminal's sequence number carried by the update.
    pub fn seq(&self) -> u64 {
        match self {
            Update::Instance(state) => state.seq,
            Update::Trade(trade) => trade.seq,
            Update::Signal(signal) => signal.seq,
            Update::Positions(snapshot) => snapshot.seq,
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
