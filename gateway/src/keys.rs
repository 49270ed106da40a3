//! The key layout: where each kind of update lives in its partition. The formats are the terminal
//! contract's (`tradestate_mt5_bridge::keys`), re-exported here so the gateway's writer, reads
//! and RESP listener keep naming them `keys::...`; the load generator and the bench drivers use
//! the same functions, so none of them can drift from what the gateway writes.
//! docs/ARCHITECTURE.md, Key layout and policies, lists each key with its writer, expiry and
//! settings.

pub use tradestate_mt5_bridge::keys::{
    closed_trades, instance, open_trades, parse_terminal_key, positions, signal_marker, trade,
    TerminalKey,
};
