//! The HTTP API of DESIGN 5.1: terminal writes under `/v1`, reads for dashboards and workers,
//! health, readiness and metrics. Handlers are small; the work happens in [`Gateway`].

mod error;
mod extract;
mod health;
mod ingest;
pub mod openapi;
mod reads;
mod sse;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::gateway::Gateway;

pub use error::{retry_after_header, ApiError};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub metrics: PrometheusHandle,
    pub max_body_bytes: usize,
    pub max_batch_updates: usize,
}

pub fn router(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    Router::new()
        .route("/v1/ingest", post(ingest::batch))
        .route("/v1/instances/{id}/state", put(ingest::instance_state))
        .route(
            "/v1/instances/{id}/trades/{ticket}",
            put(ingest::trade_state),
        )
        .route("/v1/instances/{id}/signals", post(ingest::signal))
        .route("/v1/instances", get(reads::instances))
        .route("/v1/instances/{id}", get(reads::instance))
        .route("/v1/instances/{id}/trades", get(reads::trades))
        .route("/v1/signals", get(reads::signals))
        .route("/v1/signals/stream", get(sse::stream))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}
