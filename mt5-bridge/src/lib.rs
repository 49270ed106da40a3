//! The terminal contract: what an MT5 expert advisor sends to Tradestate.
//!
//! This crate owns:
//! - the message types ([`InstanceState`], [`TradeState`] (positions and, since contract 1.1,
//!   pending orders), [`TradeSignal`], [`PositionsSnapshot`], the [`Update`] enum and the
//!   [`Batch`] envelope) with MT5's own field names (`types`);
//! - decoding with field-level errors ([`parse_batch`] and the single-object parsers) and the
//!   semantic rules of each field ([`ValidationErrors`], [`FieldError`], `validate_*`);
//! - the RESP encoding of each object as hash / stream fields (`to_fields` / `from_fields`);
//! - the JSON Schema ([`json_schema`], committed as `schema/tradestate-v1.schema.json`);
//! - golden fixtures, valid and invalid, that the gateway's tests replay ([`fixtures_dir`]);
//! - the exact wire bytes a terminal sends, JSON and RESP ([`wire`]), which the MQL5 library in
//!   `mql5/` reproduces (checked by `tests/mql5_source.rs`);
//! - the reply statuses that acknowledge an update ([`ACK_STATUSES`]), the same in the MQL5
//!   library (also checked there);
//! - with feature `client`, a reference client ([`client`]) that batches, numbers, queues on
//!   disk and backs off the way the MQL5 library does.
//!
//! It knows the bytes a terminal sends and where they are stored: the partition names and the
//! key layout ([`keys`]), the one definition the gateway, the config, the load generator and the
//! bench drivers use. What the service does with them (engines, TTLs, auth) is the gateway's.
//! `mql5/` holds the MQL5 library (`Include/Tradestate/*.mqh`), the programs that use it
//! (`Experts/TradestateReporter.mq5`, `Experts/TradestateSignalsExample.mq5`,
//! `Services/TradestateService.mq5`) and its generators (`tools/`).
//!
//! Modules:
//! - `types`: the message types, with MT5's own field names (serde + schemars).
//! - `decode`: JSON decoding with field-level errors ([`parse_batch`], single-object parsers).
//! - `validate`: the semantic rules serde's types cannot state.
//! - `errors`: field-level errors ([`FieldError`], [`ValidationErrors`]).
//! - `limits`: the contract's limits, shared by validation, the schema and the gateway.
//! - `fields`: each object as hash / stream fields (`to_fields` / `from_fields`).
//! - [`wire`]: the exact JSON and RESP bytes a terminal sends.
//! - [`keys`]: the partitions ([`Partition`], [`PARTITIONS`]) and the key of each update.
//! - `schema`: the JSON Schema, generated from the types.
//! - `fixtures`: the golden fixtures under `fixtures/`.
//! - [`history`]: a closed position from its deals; the trade server's UTC offset at a past time.
//! - `client` (feature `client`): the reference client.

#[cfg(feature = "client")]
pub mod client;
mod decode;
mod errors;
mod fields;
mod fixtures;
pub mod history;
pub mod keys;
mod limits;
mod schema;
mod types;
mod validate;
pub mod wire;

pub use decode::{parse_batch, parse_instance_state, parse_signal, parse_trade_state};
pub use errors::{FieldError, ValidationErrors, ROOT_FIELD};
pub use fields::{
    INSTANCE_STATE_FIELDS, POSITIONS_FIELDS, TRADE_SIGNAL_FIELDS, TRADE_STATE_FIELDS,
};
pub use fixtures::{
    fixtures_dir, invalid_fixtures, valid_fixtures, Fixture, FixtureBody, FIXTURE_DEFAULT_INSTANCE,
};
pub use keys::{Partition, PARTITIONS};
pub use limits::*;
pub use schema::{json_schema, json_schema_text, schema_path};
pub use types::{
    Batch, InstanceState, PositionType, PositionsSnapshot, SignalAction, TradeSignal, TradeState,
    TradeStatus, Update, MAX_SNAPSHOT_TICKETS, SNAPSHOT_TICKETS_PATTERN,
};
pub use validate::{validate_instance_id, validate_signal_id, validate_ticket};
pub use wire::Transport;

/// The per-update `status`es of an ingest reply that acknowledge the update: the terminal drops
/// it from its queue and never resends it. Any other status (`unavailable`, `refused`,
/// `terminal_rate`, `global_rate`, `queue_full`, `spill_full`, or one this list does not know
/// yet) is resent with the same `seq`, which is always safe.
///
/// `spooled` (held in the gateway's on-disk spill log while its partition is down or slow, and
/// written there later) and `volatile` (held by a partition that keeps no append-only file) are
/// acknowledgements too: the gateway has taken the update, so a resend could add nothing (for a
/// spooled one, only more backlog for a partition that is already behind). The MQL5 library's
/// `TS_ACK_STATUSES` lists the same words.
pub const ACK_STATUSES: [&str; 6] = [
    "stored",
    "coalesced",
    "stale",
    "duplicate",
    "spooled",
    "volatile",
];

/// How far past a `stored_seq` from another numbering a terminal jumps (mt5-bridge/CLIENT.md,
/// "Sequence numbers"): 10^9, 1,000 s of the microsecond clock. An earlier incarnation of the
/// lane, whose files are gone, may have numbered on past that seq already, and an equal seq with
/// other content would be taken for a duplicate and dropped.
pub const SEQ_JUMP_MARGIN: u64 = 1_000_000_000;

/// The kinds of update a terminal sends, and the partition each one lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// Health of one terminal; expires 120 s after the last heartbeat.
    InstanceState,
    /// One position or pending order; kept while open or pending, expires 30 days after it
    /// is closed, cancelled or filled.
    TradeState,
    /// An event from a strategy; appended to a capped stream.
    TradeSignal,
    /// The tickets a terminal holds; closes on the gateway the live trades it does not list.
    Positions,
}

impl UpdateKind {
    /// The partition (engine instance) that stores this kind.
    pub fn partition(self) -> Partition {
        match self {
            UpdateKind::InstanceState => Partition::Ris,
            UpdateKind::TradeState => Partition::Rts,
            UpdateKind::TradeSignal => Partition::Rtss,
            UpdateKind::Positions => Partition::Rts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_partitions() {
        assert_eq!(UpdateKind::InstanceState.partition().name(), "ris");
        assert_eq!(UpdateKind::TradeState.partition().name(), "rts");
        assert_eq!(UpdateKind::TradeSignal.partition().name(), "rtss");
        assert_eq!(UpdateKind::Positions.partition().name(), "rts");
    }
}
