//! The terminal contract (DESIGN 6): what an MT5 expert advisor sends to Tradestate.
//!
//! Three kinds of update — instance state (RIS), trade state (RTS) and trade signals (RTSS) —
//! in a batch envelope, with MT5's own field names, field-level validation, JSON and RESP
//! encodings, a JSON Schema and golden fixtures. `mql5/` will hold the EA library. The types
//! arrive with the service issue; this crate states the kinds they will cover.

/// The kinds of update a terminal sends, and the partition each one lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// Health of one terminal; expires 120 s after the last heartbeat.
    InstanceState,
    /// One position; kept while open, expires 30 days after close.
    TradeState,
    /// An event from a strategy; appended to a capped stream.
    TradeSignal,
}

impl UpdateKind {
    /// The partition (engine instance) that stores this kind.
    pub fn partition(self) -> &'static str {
        match self {
            UpdateKind::InstanceState => "ris",
            UpdateKind::TradeState => "rts",
            UpdateKind::TradeSignal => "rtss",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_partitions() {
        assert_eq!(UpdateKind::InstanceState.partition(), "ris");
        assert_eq!(UpdateKind::TradeState.partition(), "rts");
        assert_eq!(UpdateKind::TradeSignal.partition(), "rtss");
    }
}
