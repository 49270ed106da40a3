//! Turns validated mt5-bridge updates into writer [`Op`]s: the stored fields, and which optional
//! fields a full snapshot leaves out (so the stored hash forgets them too).

use std::sync::Arc;

use tradestate_mt5_bridge::{
    InstanceState, PositionsSnapshot, TradeSignal, TradeState, Update, INSTANCE_STATE_FIELDS,
    TRADE_STATE_FIELDS,
};

use crate::ops::{Fields, Op, OpBody};

pub fn op_from_update(instance_id: &Arc<str>, update: Update) -> Op {
    match update {
        Update::Instance(state) => instance_op(instance_id, &state),
        Update::Trade(trade) => trade_op(instance_id, &trade),
        Update::Signal(signal) => signal_op(instance_id, &signal),
        Update::Positions(snapshot) => positions_op(instance_id, &snapshot),
    }
}

pub fn instance_op(instance_id: &Arc<str>, state: &InstanceState) -> Op {
    let fields = state.to_fields();
    Op {
        instance_id: instance_id.clone(),
        seq: state.seq,
        body: OpBody::Instance {
            absent: absent(INSTANCE_STATE_FIELDS, &fields),
        },
        fields,
    }
}

pub fn trade_op(instance_id: &Arc<str>, trade: &TradeState) -> Op {
    let fields = trade.to_fields();
    Op {
        instance_id: instance_id.clone(),
        seq: trade.seq,
        body: OpBody::Trade {
            ticket: trade.ticket.clone(),
            // Pending orders are live like open positions; cancelled and filled ones are done
            // like closed positions.
            closed: !trade.state.is_live(),
            absent: absent(TRADE_STATE_FIELDS, &fields),
        },
        fields,
    }
}

pub fn signal_op(instance_id: &Arc<str>, signal: &TradeSignal) -> Op {
    Op {
        instance_id: instance_id.clone(),
        seq: signal.seq,
        fields: signal.to_fields(),
        body: OpBody::Signal {
            signal_id: signal.signal_id.clone(),
        },
    }
}

/// Fields of `all` that `present` does not carry (the snapshot's `None`s).
fn absent(all: &'static [&'static str], present: &Fields) -> Vec<&'static str> {
    all.iter()
        .copied()
        .filter(|name| !present.iter().any(|(field, _)| field == name))
        .collect()
}

/// A validated snapshot: its hash fields, and its tickets sorted for the writer's lookups.
pub fn positions_op(instance_id: &Arc<str>, snapshot: &PositionsSnapshot) -> Op {
    let mut tickets = snapshot.ticket_values();
    tickets.sort_unstable();
    tickets.dedup();
    Op {
        instance_id: instance_id.clone(),
        seq: snapshot.seq,
        fields: snapshot.to_fields(),
        body: OpBody::Positions { tickets },
    }
}
