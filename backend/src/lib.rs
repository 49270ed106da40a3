//! Where a Tradestate partition lives and how to reach it, for every program that talks to
//! one: the gateway's writers, loadgen's verifier, the bench drivers and the test harnesses.
//!
//! - `url`: the backend URL grammar (one server, or a Sentinel-managed master), its checks and
//!   how a URL is shown without its password.
//! - `node`: opening a connection to one node and asking it something, every step bounded.
//! - `sentinel`: finding the current master through Sentinel, and following its failovers.
//! - `tls`: the certificates of TLS connections (`rediss://`, `rediss+sentinel://`), read once.
//!
//! The gateway's own connection handling (reconnects, backoff, up/down) is in
//! `gateway/src/backend.rs`; this crate only says where to connect and opens the connection.

pub mod node;
pub mod sentinel;
pub mod tls;
pub mod url;

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::IntoConnectionInfo;

pub use tls::{Tls, TlsFiles};
pub use url::{parse, redact, with_password, Address, SentinelAddress};

/// A connection to the partition `url` names (for a Sentinel URL, its current master), each
/// step bounded by `timeout`. For tools and tests; the gateway keeps its own, re-resolved on
/// failure.
pub async fn connect(url: &str, timeout: Duration) -> Result<MultiplexedConnection, String> {
    connect_with(url, None, timeout).await
}

/// [`connect`] with `tls`'s certificates for a TLS URL (without them a `rediss://` server is
/// checked against the system's roots); certificates with a plain URL are refused, as the
/// service's config refuses them.
pub async fn connect_with(
    url: &str,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<MultiplexedConnection, String> {
    let shown = redact(url);
    let plain = || {
        format!(
            "{shown}: TLS certificates were given for a URL without TLS; write rediss:// (or \
             rediss+sentinel://), or leave the TLS files out"
        )
    };
    match parse(url)? {
        Address::Direct(url) => {
            let mut info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| format!("{shown}: {e}"))?;
            if let Some(tls) = tls {
                info = tls.apply(info).ok_or_else(plain)?;
            }
            node::open(info, node::Timeouts::both(timeout))
                .await
                .map_err(|e| format!("cannot reach {shown}: {e}"))
        }
        Address::Sentinel(mut address) => {
            if let Some(tls) = tls {
                address = address.with_tls(tls).ok_or_else(plain)?;
            }
            sentinel::find_master(&address, 0, node::Timeouts::both(timeout))
                .await
                .map(|master| master.conn)
                .map_err(|e| format!("{shown}: {e}"))
        }
    }
}
