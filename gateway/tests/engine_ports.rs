//! The embedded engines' own ports: with terminal tokens configured they refuse anyone without
//! the password in `<data_dir>/engine-password`, while the gateway keeps writing through them;
//! in development mode they stay open on loopback as before.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use tradestate_gateway::engine_password;
use tradestate_gateway::ops::Partition;

/// The engine's reply to `command` sent without credentials, or its error code.
async fn anonymous(port: u16, command: &[&str]) -> Result<redis::Value, String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the port accepts the connection");
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<redis::Value>(&mut conn)
        .await
        .map_err(|e| e.code().unwrap_or("no code").to_string())
}

fn port(h: &Harness, partition: Partition) -> u16 {
    h.service.engine(partition).expect("embedded engine").port()
}

#[tokio::test]
async fn with_tokens_the_engine_ports_need_the_generated_password() {
    let data_dir = temp_data_dir();
    let h = start(&Target::Embedded, |c| c.data_dir = data_dir.clone()).await;
    let path = data_dir.join(engine_password::FILE_NAME);
    let on_disk = std::fs::read_to_string(&path).expect("password file");
    let password = h.service.engine_password.clone().expect("a password");
    assert_eq!(on_disk.trim(), password);
    let mode = std::fs::metadata(&path).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());

    for partition in Partition::ALL {
        let port = port(&h, partition);
        for command in [&["PING"][..], &["KEYS", "*"], &["HGETALL", "ris:{T1}"]] {
            assert_eq!(
                anonymous(port, command).await,
                Err("NOAUTH".to_string()),
                "{} {command:?} without credentials",
                partition.name()
            );
        }
        assert_eq!(
            anonymous(port, &["AUTH", "not-the-password"]).await,
            Err("WRONGPASS".to_string()),
            "{} AUTH with a wrong password",
            partition.name()
        );
    }

    // The gateway writes through the same engines, and the password opens them.
    ingest_expecting(&h, "T1", heartbeat("T1", 1), &["stored"], "with tokens").await;
    let mut ris = h.engine(Partition::Ris).await;
    assert_eq!(stored_seq(&mut ris, "ris:{T1}").await, "1");
    h.stop().await;
}

#[tokio::test]
async fn a_restart_reuses_the_password_and_a_partition_may_set_its_own() {
    let data_dir = temp_data_dir();
    let first = start(&Target::Embedded, |c| c.data_dir = data_dir.clone()).await;
    let password = first.service.engine_password.clone().expect("a password");
    first.stop().await;

    let again = start(&Target::Embedded, |c| {
        c.data_dir = data_dir.clone();
        let rts = c.partitions.get_mut("rts").expect("rts");
        rts.engine
            .insert("requirepass".into(), "rts own: p@ss".into());
    })
    .await;
    assert_eq!(again.service.engine_password.as_deref(), Some(&*password));
    let rts = port(&again, Partition::Rts);
    assert_eq!(anonymous(rts, &["PING"]).await, Err("NOAUTH".to_string()));
    let body = batch("T1", vec![trade(1, "77", false)]);
    ingest_expecting(&again, "T1", body, &["stored"], "own rts password").await;
    let url =
        tradestate_backend::with_password(&format!("redis://127.0.0.1:{rts}"), "rts own: p@ss");
    let mut conn = redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("the partition's own password opens it");
    assert_eq!(stored_seq(&mut conn, "rts:{T1}:77").await, "1");
    again.stop().await;
}

#[tokio::test]
async fn development_mode_leaves_loopback_engines_open() {
    let data_dir = temp_data_dir();
    let h = start(&Target::Embedded, |c| {
        dev_mode(c);
        c.data_dir = data_dir.clone();
    })
    .await;
    assert_eq!(h.service.engine_password, None);
    assert_eq!(
        anonymous(port(&h, Partition::Ris), &["PING"]).await,
        Ok(redis::Value::SimpleString("PONG".into()))
    );
    assert!(!data_dir.join(engine_password::FILE_NAME).exists());
    h.stop().await;
}
