//! In-process clients: commands run through `EngineHandle::local_client` see the same keyspace as
//! socket clients, replies come back as RESP2 in order, and a stopped engine says so.

mod common;

use common::{connect, start_engine};
use tradestate_engine::{EngineHandle, EngineStopped, LocalClient};

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// A default engine and an in-process client of it.
fn engine_and_local_client() -> (EngineHandle, LocalClient) {
    let engine = start_engine(&[]);
    let local = engine.local_client();
    (engine, local)
}

/// Runs `batch` on `local` as one call, which must reach the engine; the replies' bytes.
async fn run(local: &LocalClient, batch: &[&[&str]]) -> Vec<u8> {
    let commands = batch.iter().map(|parts| args(parts)).collect();
    local.execute(commands).await.expect("engine runs")
}

#[tokio::test]
async fn a_batch_runs_in_order_and_shares_the_keyspace() {
    let (engine, local) = engine_and_local_client();
    let replies = run(
        &local,
        &[
            &["SET", "k", "v"],
            &["HSET", "h", "a", "1", "b", "2"],
            &["GET", "k"],
            &["INCR", "k"],
            &["EXPIRE", "h", "100"],
        ],
    )
    .await;
    assert_eq!(
        replies,
        b"+OK\r\n:2\r\n$1\r\nv\r\n-ERR value is not an integer or out of range\r\n:1\r\n".to_vec()
    );
    let mut socket = connect(engine.port());
    assert_eq!(socket.call(&[b"HGET", b"h", b"b"]), b"$1\r\n2\r\n");
    assert_eq!(socket.call(&[b"TTL", b"h"]), b":100\r\n");
}

#[tokio::test]
async fn the_in_process_client_is_not_a_connection() {
    let (engine, local) = engine_and_local_client();
    run(&local, &[&["PING"]]).await;
    let mut socket = connect(engine.port());
    let info = socket.call(&[b"INFO", b"clients"]);
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("connected_clients:1\r\n"), "{info}");
    let killed = socket.call(&[b"CLIENT", b"KILL", b"TYPE", b"normal", b"SKIPME", b"yes"]);
    assert_eq!(killed, b":0\r\n");
    let replies = local
        .execute(vec![args(&["PING"])])
        .await
        .expect("still served");
    assert_eq!(replies, b"+PONG\r\n".to_vec());
}

#[tokio::test]
async fn a_stopped_engine_refuses_in_process_calls() {
    let (engine, local) = engine_and_local_client();
    engine.shutdown();
    assert!(local.is_closed());
    assert_eq!(
        local.execute(vec![args(&["PING"])]).await,
        Err(EngineStopped)
    );
}

#[tokio::test]
async fn a_multi_exec_pipeline_runs_as_one_transaction() {
    let (_engine, local) = engine_and_local_client();
    let replies = run(
        &local,
        &[
            &["MULTI"],
            &["SET", "rts:{t1}:1", "a"],
            &["HSET", "rts:{t1}:idx", "1", "a"],
            &["INCR", "rts:{t1}:1"],
            &["EXEC"],
        ],
    )
    .await;
    assert_eq!(
        replies,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:1\r\n-ERR value is not an integer or out of range\r\n"
            .to_vec()
    );
    // WATCH in the same batch: a write to the key before MULTI fails the EXEC.
    let replies = run(
        &local,
        &[
            &["WATCH", "rts:{t1}:1"],
            &["SET", "rts:{t1}:1", "b"],
            &["MULTI"],
            &["SET", "rts:{t1}:1", "c"],
            &["EXEC"],
            &["GET", "rts:{t1}:1"],
        ],
    )
    .await;
    assert_eq!(
        replies,
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n$1\r\nb\r\n".to_vec()
    );
}

#[tokio::test]
async fn a_transaction_left_open_does_not_capture_the_next_batch() {
    let (_engine, local) = engine_and_local_client();
    let first = run(&local, &[&["MULTI"], &["SET", "k", "1"]]).await;
    assert_eq!(first, b"+OK\r\n+QUEUED\r\n".to_vec());
    let second = run(&local, &[&["GET", "k"], &["EXEC"]]).await;
    assert_eq!(second, b"$-1\r\n-ERR EXEC without MULTI\r\n".to_vec());
}
