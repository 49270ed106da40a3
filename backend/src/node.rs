//! One Redis node: opening a connection to it and asking it something, each step bounded, so a
//! black-holed address costs one timeout and never a hang. Both the gateway's connections and
//! the Sentinel resolution go through here.

use std::future::Future;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, Value};

/// How long each step may take: opening a connection (and each question asked while finding a
/// node), and each reply on the connection handed back.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Timeouts {
    /// The same bound for both.
    pub fn both(timeout: Duration) -> Timeouts {
        Timeouts {
            connect: timeout,
            response: timeout,
        }
    }
}

/// `step`, or "no answer within N ms" once `timeout` has passed; its own error as text.
pub async fn within<T, E: std::fmt::Display>(
    timeout: Duration,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Connects to `info`, the attempt (with a TLS address, the handshake too) bounded by
/// `timeouts.connect`; replies on the connection are bounded by `timeouts.response`. A TLS
/// failure says which certificate setting to look at.
pub async fn open(
    info: ConnectionInfo,
    timeouts: Timeouts,
) -> Result<MultiplexedConnection, String> {
    let tls = matches!(info.addr, ConnectionAddr::TcpTls { .. });
    let client = Client::open(info).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(timeouts.connect)
        .set_response_timeout(timeouts.response);
    let started = tokio::time::Instant::now();
    let opened = within(
        timeouts.connect,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await;
    let e = match opened {
        Ok(conn) => return Ok(conn),
        Err(e) if !tls => return Err(e),
        Err(e) => e,
    };
    let e = match e.contains(DRIVER_STOPPED) {
        true => {
            let left = timeouts.connect.saturating_sub(started.elapsed());
            tls_reason(&client, left).await.unwrap_or(e)
        }
        false => e,
    };
    Err(crate::tls::explain(&e).unwrap_or(e))
}

/// What a multiplexed connection says when its reader stopped before the first reply, the
/// reader's own error dropped.
const DRIVER_STOPPED: &str = "driver unexpectedly terminated";

/// Why a TLS connection stopped before its first reply, asked of a single (not multiplexed)
/// connection, which reports the read error itself: with TLS 1.3 a server refuses a missing or
/// untrusted client certificate only after the handshake, with an alert the client reads
/// then. Bounded by `left`, what remains of the connect timeout.
async fn tls_reason(client: &Client, left: Duration) -> Option<String> {
    if left.is_zero() {
        return None;
    }
    // The single connection is deprecated in favour of the multiplexed one, which cannot say
    // this; it is used for nothing else.
    #[allow(deprecated)]
    let single = client.get_async_connection();
    within(left, single).await.err()
}

/// Runs `cmd` on `conn`, bounded by `timeout`.
pub async fn query(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<Value, String> {
    within(timeout, cmd.query_async::<Value>(conn)).await
}
