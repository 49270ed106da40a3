//! `/healthz` (the process answers), `/readyz` (every partition answers PING) and `/metrics`.

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
        ready &= status == "up";
        partitions.insert(
            partition.name().to_string(),
            json!({"backend": backend.url(), "status": status}),
        );
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({"ready": ready, "partitions": Value::Object(partitions)})),
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
