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
    QueryParams, SignalEntry,
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
    // An empty Last-Event-ID means "no event received yet" (the EventSource spec).
    let after = match headers
        .get("last-event-id")
        .map(|v| v.to_str().map(str::trim))
    {
        Some(Ok("")) | None => after_param,
        Some(Ok(text)) => Some(
            EntryId::parse(text)
                .ok_or_else(|| ApiError::invalid_field("Last-Event-ID", bad_entry_id(text)))?,
        ),
        Some(Err(_)) => {
            return Err(ApiError::invalid_field(
                "Last-Event-ID",
                bad_entry_id("<not ASCII>"),
            ))
        }
    };

    let backend = state.gateway.backend(Partition::Rtss).clone();
    let stream_key = state.gateway.policy.rtss_stream.clone();
    let live = state.gateway.subscribe_signals();
    // The first read happens before answering, so a partition that is down gets a 503 rather
    // than an event stream that ends at once.
    let (last_sent, first_page) = match after {
        Some(after) => {
            let page = read_after(&backend, &stream_key, after, REPLAY_PAGE)
                .await
                .map_err(|e| unavailable(&state, e))?;
            (after, Some(page))
        }
        // Live from now: whatever is in the stream already counts as sent.
        None => {
            let latest = read_latest(&backend, &stream_key, 1)
                .await
                .map_err(|e| unavailable(&state, e))?;
            let last = latest.last().map_or(EntryId::ZERO, |(id, _)| *id);
            (last, None)
        }
    };

    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let mut stopping = state.gateway.stopping.clone();
    let tail = Tail {
        backend,
        stream_key,
        last_sent,
        tx,
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = tail.run(live, first_page) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    });
    let events = stream::unfold(rx, |mut rx| async move {
        let message: Message = rx.recv().await?;
        Some((Ok::<_, Infallible>(message.into_event()), rx))
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
    tx: mpsc::Sender<Message>,
}

/// One event on its way to the client.
#[derive(Debug, Clone, PartialEq)]
enum Message {
    Signal { id: String, data: String },
    Error { data: String },
}

impl Message {
    fn into_event(self) -> Event {
        match self {
            Message::Signal { id, data } => Event::default().id(id).event("signal").data(data),
            Message::Error { data } => Event::default().event("error").data(data),
        }
    }
}

/// Why a tail ended.
enum Stop {
    ClientGone,
    Failed(String),
}

impl Tail {
    async fn run(
        mut self,
        mut live: broadcast::Receiver<Arc<SignalEvent>>,
        first_page: Option<Vec<SignalEntry>>,
    ) {
        let stop = self.follow(&mut live, first_page).await;
        if let Stop::Failed(reason) = stop {
            // The client reconnects with Last-Event-ID and resumes where this tail stopped.
            let data = json!({"error": "unavailable", "message": reason}).to_string();
            let _ = self.tx.send(Message::Error { data }).await;
        }
    }

    async fn follow(
        &mut self,
        live: &mut broadcast::Receiver<Arc<SignalEvent>>,
        first_page: Option<Vec<SignalEntry>>,
    ) -> Stop {
        if let Some(page) = first_page {
            let full = page.len() == REPLAY_PAGE;
            if let Err(stop) = self.send_page(page).await {
                return stop;
            }
            if full {
                if let Err(stop) = self.catch_up().await {
                    return stop;
                }
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
                    metrics::counter!("tradestate_signal_tail_lagged_total").increment(1);
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
            self.send_page(page).await?;
            if !full {
                return Ok(());
            }
        }
    }

    async fn send_page(&mut self, page: Vec<SignalEntry>) -> Result<(), Stop> {
        for (id, entry) in page {
            let text = id.to_string();
            self.send(id, &text, serde_json::Value::Object(entry))
                .await?;
        }
        Ok(())
    }

    async fn send(
        &mut self,
        id: EntryId,
        id_text: &str,
        data: serde_json::Value,
    ) -> Result<(), Stop> {
        let event = Message::Signal {
            id: id_text.to_string(),
            data: data.to_string(),
        };
        self.tx.send(event).await.map_err(|_| Stop::ClientGone)?;
        self.last_sent = id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn xadd(backend: &Backend, stream: &str, n: u64) -> SignalEvent {
        let fields: Vec<(&'static str, String)> = vec![
            ("seq", n.to_string()),
            ("signal_id", format!("s-{n}")),
            ("time_msc", "1763000000000".into()),
            ("strategy", "trend".into()),
            ("symbol", "EURUSD".into()),
            ("action", "buy".into()),
        ];
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream).arg("*").arg("instance_id").arg("T1");
        for (k, v) in &fields {
            cmd.arg(*k).arg(v);
        }
        let id = crate::status::text(&backend.exec_one(cmd).await.expect("xadd")).expect("id");
        SignalEvent {
            entry_id: id,
            instance_id: Arc::from("T1"),
            fields,
        }
    }

    /// A tail that missed live events (broadcast lag) re-reads them from the stream: every
    /// entry once, in order, and live ones after.
    #[tokio::test]
    async fn a_lagging_tail_rereads_the_gap() {
        let (engine, backend) = crate::backend::test_engine(Partition::Rtss);
        let before = xadd(&backend, "s", 0).await;
        let (live_tx, live_rx) = broadcast::channel(4);
        let mut stored = Vec::new();
        for n in 1..=20 {
            let event = xadd(&backend, "s", n).await;
            stored.push(event.entry_id.clone());
            let _ = live_tx.send(Arc::new(event));
        }
        let (tx, mut rx) = mpsc::channel(64);
        let tail = Tail {
            backend: backend.clone(),
            stream_key: "s".into(),
            last_sent: EntryId::parse(&before.entry_id).expect("id"),
            tx,
        };
        let task = tokio::spawn(tail.run(live_rx, None));
        let later = xadd(&backend, "s", 21).await;
        stored.push(later.entry_id.clone());
        let _ = live_tx.send(Arc::new(later));

        let mut seen = Vec::new();
        while seen.len() < stored.len() {
            let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("an event within 5 s")
                .expect("tail running");
            let Message::Signal { id, data } = event else {
                panic!("unexpected {event:?}");
            };
            assert!(data.contains(&format!("\"id\":\"{id}\"")), "{data}");
            seen.push(id);
        }
        assert_eq!(seen, stored);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), rx.recv())
                .await
                .is_err(),
            "nothing sent twice"
        );
        drop(rx);
        drop(live_tx);
        let _ = task.await;
        engine.shutdown();
    }
}
