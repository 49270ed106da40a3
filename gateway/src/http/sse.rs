//! `GET /v1/signals/stream`: a live tail of the signal stream as Server-Sent Events.
//!
//! Each stored signal is one event (`id: <entry id>`, `event: signal`, `data: <json>`, the same
//! JSON as `GET /v1/signals`). A client that reconnects with `Last-Event-ID` (or `?after=`) first
//! gets what it missed, read from the stream, then the live broadcast, with no gap and no
//! duplicate: the broadcast is subscribed before the stream is read, and live events at or below
//! the last id sent are skipped. When this client falls behind the broadcast (lag), the gap is
//! read again from the stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::extract::Bearer;
use super::reads::{
    bad_entry_id, read_after, read_latest, require_operator, signal_json, unavailable, EntryId,
    QueryParams,
};
use super::{ApiError, AppState};
use crate::backend::Backend;
use crate::ops::Partition;
use crate::writer::SignalEvent;

/// Entries read per XRANGE while catching up.
const REPLAY_PAGE: usize = 500;
/// A comment line this often keeps proxies from closing an idle tail.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events queued for a slow client before the tail waits for it.
const CLIENT_BUFFER: usize = 256;

pub async fn stream(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_operator(&state, token.as_deref())?;
    let params = QueryParams::new(query, &["after"])?;
    let after_param = params.entry_id("after");
    params.finish()?;
    // A reconnecting EventSource sends Last-Event-ID and keeps its original URL, so the header
    // wins over `?after=`.
    let after = match headers.get("last-event-id") {
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            Some(
                EntryId::parse(text)
                    .ok_or_else(|| ApiError::invalid_field("Last-Event-ID", bad_entry_id(text)))?,
            )
        }
        None => after_param,
    };

    let backend = state.gateway.backend(Partition::Rtss).clone();
    let stream_key = state.gateway.policy.rtss_stream.clone();
    let live = state.gateway.subscribe_signals();
    let (last_sent, replay) = match after {
        Some(after) => (after, true),
        // Live from now: whatever is in the stream already counts as sent.
        None => {
            let latest = read_latest(&backend, &stream_key, 1)
                .await
                .map_err(|e| unavailable(&state, e))?;
            let last = latest.last().map_or(EntryId::ZERO, |(id, _)| *id);
            (last, false)
        }
    };

    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    tokio::spawn(
        Tail {
            backend,
            stream_key,
            last_sent,
            tx,
        }
        .run(live, replay),
    );
    let events = stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Stops nginx-style proxies from buffering the tail.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One client's tail: sends events to `tx` until the client goes away.
struct Tail {
    backend: Arc<Backend>,
    stream_key: String,
    last_sent: EntryId,
    tx: mpsc::Sender<Event>,
}

/// Why a tail ended.
enum Stop {
    ClientGone,
    Failed(String),
}

impl Tail {
    async fn run(mut self, mut live: broadcast::Receiver<Arc<SignalEvent>>, replay: bool) {
        let stop = self.follow(&mut live, replay).await;
        if let Stop::Failed(reason) = stop {
            // The client reconnects with Last-Event-ID and resumes where this tail stopped.
            let data = json!({"error": "unavailable", "message": reason}).to_string();
            let _ = self
                .tx
                .send(Event::default().event("error").data(data))
                .await;
        }
    }

    async fn follow(
        &mut self,
        live: &mut broadcast::Receiver<Arc<SignalEvent>>,
        replay: bool,
    ) -> Stop {
        if replay {
            if let Err(stop) = self.catch_up().await {
                return stop;
            }
        }
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                _ = self.tx.closed() => return Stop::ClientGone,
            };
            match received {
                Ok(signal) => {
                    let Some(id) = EntryId::parse(&signal.entry_id) else {
                        continue;
                    };
                    if id <= self.last_sent {
                        continue;
                    }
                    let data = signal_json(&signal.entry_id, &signal.instance_id, &signal.fields);
                    if let Err(stop) = self.send(id, &signal.entry_id, data).await {
                        return stop;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "signal tail lagged; re-reading the gap from the stream"
                    );
                    if let Err(stop) = self.catch_up().await {
                        return stop;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Stop::ClientGone,
            }
        }
    }

    /// Sends everything in the stream after `last_sent`, page by page.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let page = read_after(&self.backend, &self.stream_key, self.last_sent, REPLAY_PAGE)
                .await
                .map_err(|e| Stop::Failed(e.0))?;
            let full = page.len() == REPLAY_PAGE;
            for (id, entry) in page {
                let text = id.to_string();
                self.send(id, &text, serde_json::Value::Object(entry))
                    .await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn send(
        &mut self,
        id: EntryId,
        id_text: &str,
        data: serde_json::Value,
    ) -> Result<(), Stop> {
        let event = Event::default()
            .id(id_text)
            .event("signal")
            .data(data.to_string());
        self.tx.send(event).await.map_err(|_| Stop::ClientGone)?;
        self.last_sent = id;
        Ok(())
    }
}
