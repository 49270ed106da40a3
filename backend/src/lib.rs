//! Where a Tradestate partition lives and how to reach it, for every program that talks to
//! one: the gateway's writers, loadgen's verifier, the bench drivers and the test harnesses.
//!
//! - `url`: the backend URL grammar (one server, or a Sentinel-managed master), its checks and
//!   how a URL is shown without its password.
//! - `node`: opening a connection to one node and asking it something, every step bounded.
//! - `sentinel`: finding the current master through Sentinel, and following its failovers.
//! - `cluster`: a Redis Cluster as one connection (slot map, pipelines split per node,
//!   redirects followed).
//! - `tls`: the certificates of TLS connections (`rediss://`, `rediss+sentinel://`), read once.
//!
//! The gateway's own connection handling (reconnects, backoff, up/down) is in
//! `gateway/src/backend.rs`; this crate only says where to connect and opens the connection.

pub mod cluster;
pub mod node;
pub mod sentinel;
pub mod tls;
pub mod url;

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};

pub use cluster::Cluster;
pub use tls::{Tls, TlsFiles};
pub use url::{parse, redact, with_password, Address, ClusterAddress, SentinelAddress};

/// A connection to a partition: one node (a server, or the master Sentinel named), or a whole
/// Redis Cluster. Both run commands and pipelines the same way (`query_async`), each reply in
/// the caller's order.
#[derive(Clone)]
pub enum Connection {
    Node(MultiplexedConnection),
    Cluster(Cluster),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(conn) => conn.req_packed_commands(cmd, offset, count),
            Connection::Cluster(cluster) => cluster.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(conn) => conn.get_db(),
            Connection::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// A connection to the partition `url` names (for a Sentinel URL, its current master; for a
/// cluster, all of it), each step bounded by `timeout`. For tools and tests; the gateway keeps
/// its own, re-resolved on failure.
pub async fn connect(url: &str, timeout: Duration) -> Result<Connection, String> {
    connect_with(url, None, timeout).await
}

/// [`connect`] with `tls`'s certificates for a TLS URL (without them a `rediss://` server is
/// checked against the system's roots); certificates with a plain URL are refused, as the
/// service's config refuses them.
pub async fn connect_with(
    url: &str,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<Connection, String> {
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
                .map(Connection::Node)
                .map_err(|e| format!("cannot reach {shown}: {e}"))
        }
        Address::Sentinel(mut address) => {
            if let Some(tls) = tls {
                address = address.with_tls(tls).ok_or_else(plain)?;
            }
            sentinel::find_master(&address, 0, node::Timeouts::both(timeout))
                .await
                .map(|master| Connection::Node(master.conn))
                .map_err(|e| format!("{shown}: {e}"))
        }
        Address::Cluster(address) => {
            if tls.is_some() {
                return Err(plain());
            }
            Cluster::open(address, node::Timeouts::both(timeout))
                .await
                .map(Connection::Cluster)
                .map_err(|e| format!("{shown}: {e}"))
        }
    }
}
