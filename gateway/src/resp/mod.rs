//! The RESP listener, for terminals that speak Redis.
//!
//! A terminal connects with any Redis client, authenticates with `AUTH <instance_id> <token>`
//! (or `HELLO 3 AUTH <instance_id> <token>`) and sends plain writes on its own keys; the gateway
//! validates them with mt5-bridge and applies the TTL/MAXLEN policy itself. Parsing and reply
//! encoding are the engine's (`tradestate_engine::protocol`), so protocol errors read as Redis's.
//!
//! Reply contract (what an EA can rely on):
//! - `HSET ris:{<id>} f v ...` / `HSET rts:{<id>}:<ticket> f v ...` /
//!   `HSET rts:{<id>}:positions f v ...`: `:<pairs sent>` when stored (or superseded in the
//!   queue by a newer snapshot that was stored), `:0` when not newer than the stored `seq` (stale
//!   or a retry). `HMSET` answers `+OK` for any acknowledgement.
//! - RESP3 clients get a push `>3 "stale" "<key>" :<stored_seq>` immediately before the `:0` of
//!   an HSET that was stale, so they learn the seq the gateway holds; RESP2 clients only `:0`.
//! - `XADD <policy.rtss_stream> [NOMKSTREAM] [MAXLEN|MINID ...] * f v ...`: the entry id (bulk)
//!   when stored, a nil bulk when that `signal_id` was already stored. Retention options the
//!   terminal sends are ignored; only `*` ids are accepted.
//! - `-ERR invalid update: <field>: <message>; ...` when the fields fail validation.
//! - `-NOPERM ...` for another terminal's key, another stream or any other command.
//! - `-TRYAGAIN <why>, retry in <ms> ms` over a quota or a queue watermark;
//!   `-TRYAGAIN partition <p> unavailable: <why>` when a partition cannot take the write.
//! - RESP3 clients get a push `>2 "throttle" :<ms>` after the replies of a read whose writes
//!   came back with a throttle hint (before the reject watermark); RESP2 clients only see
//!   `-TRYAGAIN` at the watermark.
//! - Before AUTH only AUTH, HELLO, PING, QUIT and RESET run; the rest get `-NOAUTH`.
//!
//! Layout: `connection` (buffers, reads, one submission per read), `commands` (handshake
//! commands and dispatch), `writes` (HSET/XADD into ops, outcomes into replies).

mod commands;
mod connection;
mod writes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::gateway::Gateway;
use crate::service::StartError;

pub use connection::QUERY_BUFFER_LIMIT;

/// Binds `addr` and serves RESP clients until `shutdown` turns true. Returns the bound address
/// (useful with port 0) and the listener task.
pub async fn start(
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    max_clients: usize,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        StartError(format!(
            "config: listen.resp: cannot listen on {addr}: {e} (pick a free port, e.g. TRADESTATE_LISTEN_RESP=127.0.0.1:6391, or \"off\")"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| StartError(format!("listen.resp: {e}")))?;
    metrics::describe_gauge!(
        "tradestate_resp_connections",
        "Open RESP client connections"
    );
    tracing::info!(resp_addr = %bound, "resp listening");
    let task = tokio::spawn(accept_loop(listener, gateway, max_clients, shutdown));
    Ok((bound, task))
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    max_clients: usize,
    shutdown: watch::Receiver<bool>,
) {
    let mut stopping = shutdown.clone();
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let open = Arc::new(AtomicUsize::new(0));
    // Owned here so that stopping (or aborting) the listener ends its connections too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("resp accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if open.load(Ordering::Relaxed) >= max_clients {
                    tracing::warn!(%peer, max_clients, "refusing resp client: limits.max_resp_clients reached");
                    // A fresh socket's send buffer is empty, so this cannot block.
                    let _ = stream.try_write(b"-ERR max number of clients reached\r\n");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let guard = OpenConnection::new(open.clone());
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                let connection = connection::Connection::new(stream, id, gateway.clone());
                let stop = shutdown.clone();
                connections.spawn(async move {
                    connection.run(stop).await;
                    drop(guard);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped(&mut stopping) => break,
        }
    }
    drop(listener);
    // Connections see the same signal and close after their current replies.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("resp connections still busy at shutdown; closing them");
    }
}

/// Resolves when the service stops (or is gone). The guard `wait_for` returns is dropped here,
/// so callers' futures stay `Send`.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Counts one open connection for `limits.max_resp_clients` and the gauge.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: Arc<AtomicUsize>) -> OpenConnection {
        open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("tradestate_resp_connections").increment(1.0);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("tradestate_resp_connections").decrement(1.0);
    }
}
