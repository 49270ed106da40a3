//! `/healthz` (the process answers), `/readyz` (every partition answers PING, or its spill takes
//! its updates meanwhile; not while a spill left by a previous run is still being replayed) and
//! `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use super::AppState;
use crate::ops::Partition;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut partitions = Map::new();
    let mut ready = true;
    let mut spilling = false;
    for partition in Partition::ALL {
        let backend = state.gateway.backend(partition);
        let ping =
            tokio::time::timeout(Duration::from_secs(1), backend.exec_one(redis::cmd("PING")))
                .await;
        let status = match ping {
            Ok(Ok(redis::Value::SimpleString(s))) if s == "PONG" => "up".to_string(),
            Ok(Ok(other)) => format!("unexpected reply {other:?}"),
            Ok(Err(e)) => e.0,
            Err(_) => "no reply within 1 s".to_string(),
        };
        let mut entry = json!({"backend": backend.url(), "status": status});
        match state.gateway.spill(partition).map(|s| s.snapshot()) {
            Some(spill) => {
                // A partition that is down is covered by its spill; a spill a previous run
                // left must be written first, so reads are not behind what was acknowledged.
                ready &= !spill.replaying_startup;
                spilling |= spill.spilling || spill.records > 0;
                entry["spill"] = json!(spill);
            }
            None => ready &= status == "up",
        }
        partitions.insert(partition.name().to_string(), entry);
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(
            json!({"ready": ready, "spilling": spilling, "partitions": Value::Object(partitions)}),
        ),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
