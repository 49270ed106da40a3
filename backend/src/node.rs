//! One Redis node: opening a connection to it and asking it something, each step bounded, so a
//! black-holed address costs one timeout and never a hang. Both the gateway's connections and
//! the Sentinel resolution go through here.

use std::future::Future;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionInfo, Value};

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

/// Connects to `info`, the attempt bounded by `timeouts.connect`; replies on the connection are
/// bounded by `timeouts.response`.
pub async fn open(
    info: ConnectionInfo,
    timeouts: Timeouts,
) -> Result<MultiplexedConnection, String> {
    let client = Client::open(info).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(timeouts.connect)
        .set_response_timeout(timeouts.response);
    within(
        timeouts.connect,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
}

/// Runs `cmd` on `conn`, bounded by `timeout`.
pub async fn query(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<Value, String> {
    within(timeout, cmd.query_async::<Value>(conn)).await
}
