//! Terminal writes: `POST /v1/ingest` (a batch of mixed updates) and the single-object routes.
//! Each answers only when its updates are in the engine or the spill log, with one result per
//! update so an EA resends exactly what was not acknowledged (docs/ARCHITECTURE.md,
//! Acknowledgements).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tradestate_mt5_bridge::{
    parse_batch, parse_instance_state, parse_signal, parse_trade_state, validate_ticket,
    ValidationErrors,
};

use super::extract::{check_path_instance_id, Bearer, Body};
use super::{retry_after_header, ApiError, AppState};
use crate::convert;
use crate::gateway::{Submitted, Transport};
use crate::ops::{Kind, Op, Outcome};

/// Header naming the terminal of a batch whose body has no `instance_id`.
pub const INSTANCE_HEADER: &str = "x-tradestate-instance";

#[derive(Serialize)]
pub struct ItemResult {
    kind: &'static str,
    seq: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct BatchReply {
    instance_id: Arc<str>,
    results: Vec<ItemResult>,
    throttle_ms: u32,
    /// Number above this from now on (a spooled update was dropped as stale on replay).
    #[serde(skip_serializing_if = "Option::is_none")]
    renumber_above: Option<u64>,
}

#[derive(Serialize)]
struct SingleReply {
    instance_id: Arc<str>,
    #[serde(flatten)]
    result: ItemResult,
    throttle_ms: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    renumber_above: Option<u64>,
}

/// What one submission became, as the reply tells it.
struct Answered {
    status: StatusCode,
    results: Vec<ItemResult>,
    throttle_ms: u32,
    retry_after: Option<Duration>,
    renumber_above: Option<u64>,
}

impl Answered {
    /// `body` with this submission's status and its throttle and retry headers.
    fn respond(&self, body: impl IntoResponse) -> Response {
        with_headers(self.status, body, self.throttle_ms, self.retry_after)
    }
}

pub async fn batch(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let batch = parse_batch(&body).map_err(ApiError::Invalid)?;
    let from_header = headers.get(INSTANCE_HEADER).and_then(|v| v.to_str().ok());
    let instance_id = match (batch.instance_id.as_deref(), from_header) {
        (Some(body_id), Some(header_id)) if body_id != header_id => {
            return Err(ApiError::invalid_field(
                "instance_id",
                format!(
                    "body says {body_id:?} but the {INSTANCE_HEADER} header says {header_id:?}"
                ),
            ))
        }
        (Some(id), _) | (None, Some(id)) => id.to_string(),
        (None, None) => {
            return Err(ApiError::invalid_field(
                "instance_id",
                format!("required: set it in the body or send the {INSTANCE_HEADER} header"),
            ))
        }
    };
    let instance_id = authenticate(&state, &instance_id, &token)?;
    if batch.updates.len() > state.max_batch_updates {
        return Err(ApiError::invalid_field(
            "updates",
            format!(
                "{} updates; this gateway takes at most {} per batch (limits.max_batch_updates)",
                batch.updates.len(),
                state.max_batch_updates
            ),
        ));
    }
    let ops: Vec<Op> = batch
        .updates
        .into_iter()
        .map(|update| convert::op_from_update(&instance_id, update))
        .collect();
    let mut answered = submit(&state, &instance_id, ops).await?;
    let reply = BatchReply {
        instance_id,
        results: std::mem::take(&mut answered.results),
        throttle_ms: answered.throttle_ms,
        renumber_above: answered.renumber_above,
    };
    Ok(answered.respond(Json(reply)))
}

pub async fn instance_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Bearer(token): Bearer,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let instance_id = authenticate_path(&state, &id, token)?;
    let update = parse_instance_state(&body).map_err(ApiError::Invalid)?;
    let op = convert::instance_op(&instance_id, &update);
    single(&state, instance_id, op).await
}

pub async fn trade_state(
    State(state): State<AppState>,
    Path((id, ticket)): Path<(String, String)>,
    Bearer(token): Bearer,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate_ticket(&ticket).map_err(|e| ApiError::Invalid(ValidationErrors(vec![e])))?;
    let instance_id = authenticate_path(&state, &id, token)?;
    let update = parse_trade_state(&body).map_err(ApiError::Invalid)?;
    if update.ticket != ticket {
        return Err(ApiError::invalid_field(
            "ticket",
            format!(
                "body ticket {:?} differs from the URL's {ticket:?}",
                update.ticket
            ),
        ));
    }
    let op = convert::trade_op(&instance_id, &update);
    single(&state, instance_id, op).await
}

pub async fn signal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Bearer(token): Bearer,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let instance_id = authenticate_path(&state, &id, token)?;
    let update = parse_signal(&body).map_err(ApiError::Invalid)?;
    let op = convert::signal_op(&instance_id, &update);
    single(&state, instance_id, op).await
}

async fn single(state: &AppState, instance_id: Arc<str>, op: Op) -> Result<Response, ApiError> {
    let mut answered = submit(state, &instance_id, vec![op]).await?;
    let Some(result) = answered.results.pop() else {
        return Err(ApiError::BadRequest("nothing to store".into()));
    };
    let reply = SingleReply {
        instance_id,
        result,
        throttle_ms: answered.throttle_ms,
        renumber_above: answered.renumber_above,
    };
    Ok(answered.respond(Json(reply)))
}

/// Submits and turns the outcomes into results and the status of the whole reply: 200 when
/// every update is acknowledged, else 429 (backpressure) or 503 (a partition failed).
async fn submit(
    state: &AppState,
    instance_id: &Arc<str>,
    ops: Vec<Op>,
) -> Result<Answered, ApiError> {
    let described: Vec<(Kind, u64)> = ops.iter().map(|op| (op.kind(), op.seq)).collect();
    let submitted: Submitted = state
        .gateway
        .submit(instance_id, ops, Transport::Http)
        .await
        .map_err(ApiError::Rejected)?;
    let mut status = StatusCode::OK;
    let mut retry_after: Option<Duration> = None;
    let mut results = Vec::with_capacity(described.len());
    for ((kind, seq), result) in described.into_iter().zip(submitted.results) {
        let mut item = ItemResult {
            kind: kind.name(),
            seq,
            status: "",
            entry_id: None,
            stored_seq: None,
            error: None,
        };
        match result {
            Ok(outcome) => {
                item.status = outcome.name();
                match outcome {
                    Outcome::Stored { entry_id }
                    | Outcome::Volatile { entry_id }
                    | Outcome::Duplicate { entry_id } => item.entry_id = entry_id,
                    Outcome::Stale { stored_seq } => item.stored_seq = Some(stored_seq),
                    Outcome::Coalesced | Outcome::Spooled => {}
                    Outcome::Unavailable { reason } | Outcome::Refused { reason } => {
                        item.error = Some(reason);
                        status = StatusCode::SERVICE_UNAVAILABLE;
                        retry_after = Some(state.gateway.watermarks.retry_after);
                    }
                }
            }
            Err(rejection) => {
                item.status = rejection.reason();
                item.error = Some(rejection.message());
                if rejection.is_unavailable() {
                    status = StatusCode::SERVICE_UNAVAILABLE;
                } else if status != StatusCode::SERVICE_UNAVAILABLE {
                    status = StatusCode::TOO_MANY_REQUESTS;
                }
                retry_after = Some(retry_after.unwrap_or_default().max(rejection.retry_after()));
            }
        }
        results.push(item);
    }
    Ok(Answered {
        status,
        results,
        throttle_ms: submitted.throttle_ms,
        retry_after,
        renumber_above: submitted.renumber_above,
    })
}

fn with_headers(
    status: StatusCode,
    body: impl IntoResponse,
    throttle_ms: u32,
    retry_after: Option<Duration>,
) -> Response {
    let mut response = (status, body).into_response();
    if throttle_ms > 0 {
        response
            .headers_mut()
            .insert("x-tradestate-throttle-ms", HeaderValue::from(throttle_ms));
    }
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry_after_header(wait));
    }
    response
}

fn authenticate_path(
    state: &AppState,
    id: &str,
    token: Option<String>,
) -> Result<Arc<str>, ApiError> {
    check_path_instance_id(id)?;
    let token = token.ok_or(ApiError::Unauthorized("missing bearer token"))?;
    authenticate(state, id, &token)
}

fn authenticate(state: &AppState, instance_id: &str, token: &str) -> Result<Arc<str>, ApiError> {
    if state.gateway.auth.terminal(instance_id, token) {
        Ok(Arc::from(instance_id))
    } else {
        Err(ApiError::Unauthorized(
            "token is not valid for this terminal",
        ))
    }
}
