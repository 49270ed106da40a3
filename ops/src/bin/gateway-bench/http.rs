//! The HTTP terminal: `POST /v1/ingest` batches on its own keep-alive connection, one request at
//! a time as an EA's `WebRequest` does. A request whose intended time has passed is sent at
//! once, and its latency still counts from the intended time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::payload::Terminal;
use crate::run::{Plan, Schedule, Window};
use crate::stats::{Answer, SharedTally};

/// Header naming the terminal of a batch (the gateway's `x-tradestate-instance`).
const INSTANCE_HEADER: &str = "x-tradestate-instance";

pub fn client(terminals: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(terminals)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

pub async fn terminal(
    plan: Arc<Plan>,
    client: reqwest::Client,
    mut terminal: Terminal,
    schedule: Schedule,
    window: Window,
    tally: SharedTally,
) {
    let url = format!("{}/v1/ingest", plan.url.trim_end_matches('/'));
    let bearer = format!("Bearer {}", plan.token);
    let instance = HeaderValue::from_str(&terminal.id).unwrap_or(HeaderValue::from_static("bad"));
    let mut due = schedule.first_due;
    while due < window.send_until {
        let now = Instant::now();
        if now >= window.send_until {
            // Still busy with earlier batches when the run ended: these were never sent.
            tally.unsent(window.remaining(due, schedule.interval));
            break;
        }
        if due > now {
            tokio::time::sleep_until(due.into()).await;
        }
        let body = terminal.batch_json(plan.batch);
        let left = window.deadline.saturating_duration_since(Instant::now());
        let sent = client
            .post(&url)
            .header(INSTANCE_HEADER, instance.clone())
            .header(reqwest::header::AUTHORIZATION, &bearer)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(left.max(Duration::from_millis(1)))
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status == StatusCode::OK => Answer::Ok,
                    Ok(body) => {
                        tally.problem(|| {
                            format!("HTTP {status}: {}", String::from_utf8_lossy(&body))
                        });
                        match status {
                            StatusCode::TOO_MANY_REQUESTS => Answer::Throttled,
                            StatusCode::SERVICE_UNAVAILABLE => Answer::Unavailable,
                            _ => Answer::Other,
                        }
                    }
                    Err(e) => {
                        tally.problem(|| format!("reading the reply: {e}"));
                        Answer::Failed
                    }
                }
            }
            Err(e) => {
                tally.problem(|| format!("POST {url}: {e}"));
                Answer::Failed
            }
        };
        tally.record(
            answer,
            due.elapsed(),
            plan.batch as u64,
            window.measured(due),
        );
        due += schedule.interval;
    }
}
