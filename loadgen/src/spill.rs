//! The wait between the end of the sends and the read-back: an update answered `spooled` is in
//! the service's spill log, not yet in its partition, so the partitions are read only once
//! `GET /readyz` says the spill is empty (or the bound passes, and what is still spilled shows
//! up as lost). Services older than the spill log carry no `spill` in `/readyz` and pass at once.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// How often `/readyz` is asked while the spill drains.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// One `/readyz` answer takes up to a second per partition (its PING bound).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the wait found.
#[derive(Debug, Clone, Serialize)]
pub struct SpillDrain {
    /// `/readyz` reported an empty spill before the bound.
    pub drained: bool,
    pub waited_s: f64,
    /// The bound (`--drain-timeout`).
    pub timeout_s: f64,
    /// When not drained, what the last poll saw; when drained without a spill report, why.
    pub note: Option<String>,
}

impl SpillDrain {
    pub fn line(&self) -> String {
        match (self.drained, &self.note) {
            (true, None) => format!("spill log: drained in {:.1} s", self.waited_s),
            (true, Some(note)) => format!("spill log: not waited for ({note})"),
            (false, note) => format!(
                "spill log: not drained after {:.1} s (--drain-timeout {:.0}s; last seen: {}); verified anyway, so updates still spilled count as lost",
                self.waited_s,
                self.timeout_s,
                note.as_deref().unwrap_or("nothing")
            ),
        }
    }
}

/// What keeps a `/readyz` body from saying the spill is drained, one item per reason; empty when
/// drained. Drained means top-level `spilling` false or absent and `spill.records` 0 for every
/// partition; a partition without a `spill` object (a service older than the spill log) counts
/// as drained, one whose `spill` has no record count does not (it cannot be trusted to be empty).
pub fn spill_pending(readyz: &Value) -> Vec<String> {
    let mut pending = Vec::new();
    if readyz.get("spilling").and_then(Value::as_bool) == Some(true) {
        pending.push("spilling".to_string());
    }
    let partitions = readyz.get("partitions").and_then(Value::as_object);
    for (name, partition) in partitions.into_iter().flatten() {
        let Some(spill) = partition.get("spill") else {
            continue;
        };
        match spill.get("records").and_then(Value::as_u64) {
            Some(0) => {}
            Some(records) => {
                let oldest = spill
                    .get("oldest_age_ms")
                    .and_then(Value::as_u64)
                    .map(|ms| format!(", oldest {ms} ms"))
                    .unwrap_or_default();
                pending.push(format!("{name}: {records} records{oldest}"));
            }
            None => pending.push(format!("{name}: spill.records is not a count: {spill}")),
        }
    }
    pending
}

/// Whether a `/readyz` body says the service holds nothing in its spill log.
pub fn spill_drained(readyz: &Value) -> bool {
    spill_pending(readyz).is_empty()
}

/// Polls `GET <http_url>/readyz` until the spill is drained or `timeout` passes. An unreachable
/// service (restarting, or replaying a spill at start-up) is polled again until the bound.
/// `announce` prints one line when the spill is not empty at the first look.
pub async fn wait_for_spill(http_url: &str, timeout: Duration, announce: bool) -> SpillDrain {
    let url = format!("{}/readyz", http_url.trim_end_matches('/'));
    let started = Instant::now();
    let deadline = started + timeout;
    let result = |drained: bool, note: Option<String>| SpillDrain {
        drained,
        waited_s: started.elapsed().as_secs_f64(),
        timeout_s: timeout.as_secs_f64(),
        note,
    };
    let client = match reqwest::Client::builder().build() {
        Ok(client) => client,
        Err(e) => {
            return result(
                false,
                Some(format!("cannot build an HTTP client for {url}: {e}")),
            )
        }
    };
    let mut announced = !announce;
    loop {
        let last = match poll(&client, &url, deadline).await {
            Poll::Body(body) => {
                let pending = spill_pending(&body);
                if pending.is_empty() {
                    return result(true, None);
                }
                pending.join(", ")
            }
            Poll::NoReadyz => {
                return result(
                    true,
                    Some(format!(
                        "{url} answers 404: the service has no readiness report"
                    )),
                )
            }
            Poll::Failed(why) => why,
        };
        let now = Instant::now();
        if now >= deadline {
            return result(false, Some(last));
        }
        if !announced {
            eprintln!(
                "waiting up to {:.0} s for the service to write its spill log to the partitions ({last})",
                timeout.as_secs_f64()
            );
            announced = true;
        }
        tokio::time::sleep(POLL_EVERY.min(deadline - now)).await;
    }
}

enum Poll {
    Body(Value),
    /// A service without `/readyz` cannot report a spill; there is nothing to wait for.
    NoReadyz,
    Failed(String),
}

async fn poll(client: &reqwest::Client, url: &str, deadline: Instant) -> Poll {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = left.clamp(Duration::from_millis(500), REQUEST_TIMEOUT);
    let response = match client.get(url).timeout(timeout).send().await {
        Ok(response) => response,
        Err(e) => return Poll::Failed(format!("GET {url}: {e}")),
    };
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Poll::NoReadyz;
    }
    // 503 is answered with the same body (a partition down, or a spill replayed at start-up):
    // the body decides, not the status.
    match response.bytes().await {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) => Poll::Body(body),
            Err(_) => Poll::Failed(format!(
                "GET {url}: HTTP {status} with a body that is not JSON: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )),
        },
        Err(e) => Poll::Failed(format!("GET {url}: HTTP {status}, reading the body: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn partition(spill: Option<Value>) -> Value {
        let mut p = json!({"backend": "redis://127.0.0.1:6380", "status": "up"});
        if let Some(spill) = spill {
            p["spill"] = spill;
        }
        p
    }

    fn spill(records: u64) -> Value {
        json!({"records": records, "bytes": records * 100, "oldest_age_ms": (records > 0).then_some(1500), "spilling": records > 0})
    }

    #[test]
    fn an_empty_spill_is_drained() {
        let ready = json!({
            "ready": true, "spilling": false,
            "partitions": {"ris": partition(Some(spill(0))), "rts": partition(Some(spill(0))), "rtss": partition(Some(spill(0)))}
        });
        assert!(spill_drained(&ready));
        assert!(spill_pending(&ready).is_empty());
    }

    #[test]
    fn a_service_without_spill_reports_is_drained() {
        // Today's /readyz: no `spilling`, no `spill` per partition.
        let old =
            json!({"ready": true, "partitions": {"ris": partition(None), "rts": partition(None)}});
        assert!(spill_drained(&old));
        // Nor does a partition down make a spill appear.
        let down = json!({"ready": false, "partitions": {"ris": {"backend": "x", "status": "no reply within 1 s"}}});
        assert!(spill_drained(&down));
        assert!(spill_drained(&json!({})));
    }

    #[test]
    fn records_left_or_spilling_are_not_drained() {
        let left = json!({
            "ready": true, "spilling": false,
            "partitions": {"ris": partition(Some(spill(0))), "rts": partition(Some(spill(42)))}
        });
        assert!(!spill_drained(&left));
        assert_eq!(spill_pending(&left), ["rts: 42 records, oldest 1500 ms"]);

        let spilling = json!({"ready": false, "spilling": true, "partitions": {"ris": partition(Some(spill(0)))}});
        assert!(!spill_drained(&spilling));
        assert_eq!(spill_pending(&spilling), ["spilling"]);

        // Only `true` means spilling; a record count that is not one cannot be trusted.
        let odd = json!({"spilling": null, "partitions": {"rtss": partition(Some(json!({"records": "3"})))}});
        assert!(!spill_drained(&odd));
        assert_eq!(spill_pending(&odd).len(), 1);
        assert!(spill_drained(
            &json!({"spilling": null, "partitions": {"rtss": partition(Some(spill(0)))}})
        ));
    }

    /// Answers each connection with the next body (as `200 OK` JSON), repeating the last one.
    async fn serve(bodies: Vec<Value>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let body = bodies[next.min(bodies.len() - 1)].to_string();
                next += 1;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn waits_until_the_spill_is_written() {
        let busy = json!({"spilling": true, "partitions": {"rts": partition(Some(spill(7)))}});
        let done = json!({"spilling": false, "partitions": {"rts": partition(Some(spill(0)))}});
        let url = serve(vec![busy.clone(), busy, done]).await;
        let drain = wait_for_spill(&url, Duration::from_secs(10), false).await;
        assert!(drain.drained, "{drain:?}");
        // Two busy answers, so at least two pauses between polls.
        assert!(drain.waited_s >= 0.35 && drain.waited_s < 5.0, "{drain:?}");
        assert!(
            drain.line().starts_with("spill log: drained in"),
            "{}",
            drain.line()
        );
    }

    #[tokio::test]
    async fn an_unreachable_service_is_polled_until_the_bound() {
        // A port that was just free: connections are refused.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let drain =
            wait_for_spill(&format!("http://{addr}"), Duration::from_millis(600), false).await;
        assert!(!drain.drained);
        assert!(drain.waited_s >= 0.6 && drain.waited_s < 5.0, "{drain:?}");
        assert!(drain.line().contains("not drained"), "{}", drain.line());
    }
}
