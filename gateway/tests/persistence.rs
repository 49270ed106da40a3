//! Embedded engines persist under `data_dir`: trades and signals written through the service
//! are there after the service is stopped and started again on the same directory.

mod common;

use common::*;
use serde_json::Value;

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_and_signals_survive_a_service_restart() {
    let data_dir = temp_data_dir();
    let dir = data_dir.clone();
    let h = start(&Target::Embedded, |c| c.data_dir = dir).await;
    let body = batch(
        "T1",
        vec![
            trade(1, "20", false),
            trade(2, "21", false),
            trade(3, "22", true),
            signal(4, "sig-1"),
        ],
    );
    let (status, reply) = json_of(h.post_as("T1", "/v1/ingest", body).await).await;
    assert_eq!(status, 200, "{reply}");
    h.stop().await;
    for partition in ["rts", "rtss"] {
        let manifest = data_dir
            .join(partition)
            .join("appendonlydir/appendonly.aof.manifest");
        assert!(manifest.is_file(), "{} missing", manifest.display());
    }

    let dir = data_dir.clone();
    let h = start(&Target::Embedded, |c| c.data_dir = dir).await;
    let (status, open) = json_of(h.get("/v1/instances/T1/trades").await).await;
    assert_eq!(status, 200, "{open}");
    let tickets: Vec<&str> = open["trades"]
        .as_array()
        .expect("trades")
        .iter()
        .filter_map(|t| t["ticket"].as_str())
        .collect();
    assert_eq!(tickets, ["20", "21"], "open trades after restart: {open}");
    let (_, closed) = json_of(h.get("/v1/instances/T1/trades?state=closed").await).await;
    assert_eq!(closed["total"], 1, "closed trades after restart: {closed}");
    let (_, signals) = json_of(h.get("/v1/signals").await).await;
    let text = signals.to_string();
    assert!(text.contains("sig-1"), "signal after restart: {text}");
    // A retried signal is still recognised as a duplicate after the restart.
    let again = batch("T1", vec![signal(5, "sig-1")]);
    let (status, _) = json_of(h.post_as("T1", "/v1/ingest", again).await).await;
    assert_eq!(status, 200);
    let (_, signals) = json_of(h.get("/v1/signals").await).await;
    assert_eq!(
        signals.to_string().matches("sig-1").count(),
        text.matches("sig-1").count()
    );
    h.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncreatable_data_dir_is_named_in_the_error() {
    let blocker = temp_data_dir();
    std::fs::write(&blocker, b"a file, not a directory").expect("write");
    let mut config = test_config(&Target::Embedded);
    config.data_dir = blocker.join("data");
    let err = tradestate_gateway::service::Service::start(config)
        .await
        .err()
        .expect("start refused");
    let text = err.to_string();
    // The first thing under data_dir is the engines' password (tokens are configured).
    assert!(
        text.contains("cannot create the data directory") && text.contains("check data_dir"),
        "{text}"
    );
    assert!(text.contains(&blocker.display().to_string()), "{text}");
    let _ = std::fs::remove_file(&blocker);
}
