//! What the transports hand to a partition writer, and what comes back.
//!
//! An [`Op`] is one validated update already encoded as hash/stream fields, so the queue and the
//! writer never look at JSON or RESP; an [`Outcome`] is how it ended, the `status` of its reply
//! (docs/ARCHITECTURE.md, Acknowledgements).

use std::sync::Arc;

/// Field/value pairs as stored in a hash or stream entry.
pub type Fields = Vec<(&'static str, String)>;

/// Which engine instance an update goes to (docs/ARCHITECTURE.md, Key layout and policies):
/// the contract's one list of partitions.
pub use tradestate_mt5_bridge::Partition;
use tradestate_mt5_bridge::UpdateKind;

/// The kind of an update, as metrics and replies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Trade,
    Signal,
    Positions,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Instance => "instance",
            Kind::Trade => "trade",
            Kind::Signal => "signal",
            Kind::Positions => "positions",
        }
    }

    /// The contract's kind of update, which names its partition.
    pub fn update_kind(self) -> UpdateKind {
        match self {
            Kind::Instance => UpdateKind::InstanceState,
            Kind::Trade => UpdateKind::TradeState,
            Kind::Signal => UpdateKind::TradeSignal,
            Kind::Positions => UpdateKind::Positions,
        }
    }

    pub fn partition(self) -> Partition {
        self.update_kind().partition()
    }
}

/// One validated update on its way to an engine.
#[derive(Debug, Clone)]
pub struct Op {
    pub instance_id: Arc<str>,
    pub seq: u64,
    pub fields: Fields,
    pub body: OpBody,
}

#[derive(Debug, Clone)]
pub enum OpBody {
    /// Full instance snapshot; `absent` names optional fields to remove from the stored hash.
    Instance { absent: Vec<&'static str> },
    /// Full snapshot of a position or pending order; `closed` when it is no longer live
    /// (closed, cancelled or filled), so it leaves the open set for the closed index.
    Trade {
        ticket: String,
        closed: bool,
        absent: Vec<&'static str>,
    },
    /// A signal event, stored once per `signal_id`.
    Signal { signal_id: String },
    /// The tickets a terminal holds (sorted, distinct): its live trades not listed, and older
    /// than the snapshot, are closed or cancelled by the writer.
    Positions { tickets: Vec<u64> },
}

impl Op {
    pub fn kind(&self) -> Kind {
        match self.body {
            OpBody::Instance { .. } => Kind::Instance,
            OpBody::Trade { .. } => Kind::Trade,
            OpBody::Signal { .. } => Kind::Signal,
            OpBody::Positions { .. } => Kind::Positions,
        }
    }

    /// The key a state update coalesces on; signals never coalesce.
    pub fn state_key(&self) -> Option<String> {
        match &self.body {
            OpBody::Instance { .. } => Some(crate::keys::instance(&self.instance_id)),
            OpBody::Trade { ticket, .. } => Some(crate::keys::trade(&self.instance_id, ticket)),
            OpBody::Positions { .. } => Some(crate::keys::positions(&self.instance_id)),
            OpBody::Signal { .. } => None,
        }
    }
}

/// How an update ended; every variant but `Unavailable` and `Refused` is an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written to the engine; signals carry their stream entry id.
    Stored { entry_id: Option<String> },
    /// Written to an engine that keeps it in memory only (no append-only file): a crash of
    /// that engine's process before its next snapshot loses it.
    Volatile { entry_id: Option<String> },
    /// Kept in the gateway's spill log on disk (the partition is down or slow); it is written
    /// to the partition when it can take it, through the same seq and signal-id checks.
    Spooled,
    /// Superseded in the queue by a newer update of the same key, which was stored.
    Coalesced,
    /// Not newer than the stored state (`seq` <= stored); nothing changed.
    Stale { stored_seq: u64 },
    /// Same `seq` as stored (a retry of a stored update), or a signal id already stored.
    Duplicate { entry_id: Option<String> },
    /// The partition could not be reached or timed out; the update may be retried.
    Unavailable { reason: String },
    /// The engine answered the write with an error (e.g. OOM); retry later.
    Refused { reason: String },
}

impl Outcome {
    pub fn is_ack(&self) -> bool {
        !matches!(self, Outcome::Unavailable { .. } | Outcome::Refused { .. })
    }

    /// The `status` string replies and metrics use.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Stored { .. } => "stored",
            Outcome::Volatile { .. } => "volatile",
            Outcome::Spooled => "spooled",
            Outcome::Coalesced => "coalesced",
            Outcome::Stale { .. } => "stale",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Unavailable { .. } => "unavailable",
            Outcome::Refused { .. } => "refused",
        }
    }
}
