//! Where a Tradestate partition lives and how to reach it, for every program that talks to
//! one: the gateway's writers, loadgen's verifier, the bench drivers and the test harnesses.
//!
//! - `url`: the backend URL grammar (one server, or a Sentinel-managed master), its checks and
//!   how a URL is shown without its password.
//! - `node`: opening a connection to one node and asking it something, every step bounded.
//! - `sentinel`: finding the current master through Sentinel, and following its failovers.
//!
//! The gateway's own connection handling (reconnects, backoff, up/down) is in
//! `gateway/src/backend.rs`; this crate only says where to connect and opens the connection.

pub mod node;
pub mod sentinel;
pub mod url;

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::IntoConnectionInfo;

pub use url::{parse, redact, with_password, Address, SentinelAddress};

/// A connection to the partition `url` names (for a Sentinel URL, its current master), each
/// step bounded by `timeout`. For tools and tests; the gateway keeps its own, re-resolved on
/// failure.
pub async fn connect(url: &str, timeout: Duration) -> Result<MultiplexedConnection, String> {
    let shown = redact(url);
    match parse(url)? {
        Address::Direct(url) => {
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| format!("{shown}: {e}"))?;
            node::open(info, node::Timeouts::both(timeout))
                .await
                .map_err(|e| format!("cannot reach {shown}: {e}"))
        }
        Address::Sentinel(address) => {
            sentinel::find_master(&address, 0, node::Timeouts::both(timeout))
                .await
                .map(|master| master.conn)
                .map_err(|e| format!("{shown}: {e}"))
        }
    }
}
