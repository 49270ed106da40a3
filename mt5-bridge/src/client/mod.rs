//! A reference terminal client (feature `client`): the behaviour of the MQL5 library
//! (`mql5/Include/Tradestate`) in Rust, for tests and the load generator.
//!
//! - [`Client::enqueue`] numbers an update with the next `seq` (monotonic, kept across restarts
//!   when `queue_dir` is set), replaces a queued state update of the same key, and appends it to
//!   the on-disk queue ([`queue`]).
//! - [`Client::flush`] sends the queue oldest first in batches of at most `batch_max` (one
//!   `POST /v1/ingest`, or one pipelined write of HSET/XADD commands), removes what the gateway
//!   acknowledged ([`crate::ACK_STATUSES`]: stored, coalesced, stale, duplicate, spooled,
//!   volatile) or refused for good (invalid), and keeps the rest for the next attempt.
//! - Backoff: after a failed attempt (connection error, 429, 503, `-TRYAGAIN`) it waits the
//!   larger of the server's `Retry-After` and an exponential, jittered delay
//!   (`backoff_base * 2^(n-1)`, capped at `backoff_max`, then a random point in its upper half).
//!   A successful reply with `throttle_ms > 0` delays the next batch by that much.
//!
//! The bytes it sends are [`crate::wire`]'s, the same the MQL5 library builds.

pub mod queue;
pub mod resp;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::types::Update;
use crate::wire::{batch_json, resp_args, resp_encode, SIGNAL_STREAM};
use crate::UpdateKind;
use queue::Queue;
use resp::{RespValue, WriteReply};

/// How the client reaches the gateway.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `base_url` like `http://127.0.0.1:8080`; batches go to `POST {base_url}/v1/ingest`.
    Http { base_url: String },
    /// `host:port` of the gateway's RESP listener (plain TCP).
    Resp { addr: String },
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub transport: Transport,
    pub instance_id: String,
    pub token: String,
    /// Most updates per request / pipelined write.
    pub batch_max: usize,
    /// Where the queue and the seq counter live; `None` keeps them in memory only.
    pub queue_dir: Option<PathBuf>,
    /// First retry delay; doubles per failed attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Per request (HTTP) or per connect / batch round trip (RESP).
    pub request_timeout: Duration,
    /// `flush` gives up after this long without an acknowledgement; `None` retries forever.
    pub give_up_after: Option<Duration>,
    /// The first `seq` when nothing is persisted yet.
    pub first_seq: u64,
    /// The gateway's `policy.rtss_stream`.
    pub signal_stream: String,
}

impl ClientConfig {
    /// Defaults as the MQL5 library's: batches of 100, backoff 500 ms .. 30 s, 10 s timeout.
    pub fn new(transport: Transport, instance_id: &str, token: &str) -> ClientConfig {
        ClientConfig {
            transport,
            instance_id: instance_id.to_owned(),
            token: token.to_owned(),
            batch_max: 100,
            queue_dir: None,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            give_up_after: None,
            first_seq: 1,
            signal_stream: SIGNAL_STREAM.to_owned(),
        }
    }
}

/// What became of one sent update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// Superseded in the gateway's queue by a newer snapshot that was stored.
    Coalesced,
    /// Not newer than the stored `seq` (over RESP also a retried state update).
    Stale,
    /// A signal whose `signal_id` was already stored.
    Duplicate,
    /// In the gateway's spill log (its partition was down or slow); the gateway writes it to the
    /// partition later, through the same stale and duplicate checks. Done: resending would only
    /// queue it twice.
    Spooled,
    /// Stored by a partition without an append-only file: done, though that engine loses it if it
    /// stops before its next snapshot. Only an operator can change that; the terminal cannot.
    Volatile,
    /// Refused as invalid; dropped from the queue (the message names the field).
    Invalid(String),
}

impl Outcome {
    fn from_status(status: &str) -> Option<Outcome> {
        Some(match status {
            "stored" => Outcome::Stored,
            "coalesced" => Outcome::Coalesced,
            "stale" => Outcome::Stale,
            "duplicate" => Outcome::Duplicate,
            "spooled" => Outcome::Spooled,
            "volatile" => Outcome::Volatile,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub seq: u64,
    pub kind: UpdateKind,
    pub outcome: Outcome,
}

/// What one `flush` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// One entry per update that left the queue, in the order the replies came.
    pub outcomes: Vec<UpdateOutcome>,
    /// Requests (HTTP) or pipelined writes (RESP) sent.
    pub batches: u32,
    /// Failed attempts that were retried (connection errors, 429, 503, `-TRYAGAIN`).
    pub retries: u32,
    /// Replies that carried a throttle hint, and the total delay they asked for.
    pub throttled: u32,
    pub throttle_ms_total: u64,
}

#[derive(Debug)]
pub enum ClientError {
    /// The queue or seq file could not be read or written.
    Io(std::io::Error),
    /// 401: the token is not valid for this terminal. Fix the token; retrying will not help.
    Unauthorized(String),
    /// A refusal that retrying cannot fix (`-NOPERM`, a 400 about the envelope).
    Refused(String),
    /// `give_up_after` passed without an acknowledgement; the updates stay queued.
    GaveUp {
        last_error: String,
        report: FlushReport,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "queue file: {e}"),
            ClientError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            ClientError::Refused(m) => write!(f, "refused: {m}"),
            ClientError::GaveUp { last_error, .. } => {
                write!(f, "gave up without an acknowledgement: {last_error}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// The result of one attempt at one batch.
enum Attempt {
    /// Per update: `Some(outcome)` when it leaves the queue, `None` to retry it.
    Replied {
        outcomes: Vec<Option<Outcome>>,
        throttle_ms: u64,
        /// Set when some updates must be retried (429/503/TRYAGAIN).
        retry_after: Option<Duration>,
        retry_reason: Option<String>,
    },
    /// Nothing was acknowledged; retry the whole batch later.
    Failed {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The body was too large: retry with smaller batches.
    TooLarge,
}

pub struct Client {
    config: ClientConfig,
    queue: Queue,
    http: Option<reqwest::Client>,
    resp: Option<RespConnection>,
    /// Do not send before this (backoff or throttle).
    not_before: Instant,
    failures: u32,
    batch_limit: usize,
    rng: u64,
}

impl Client {
    /// Opens (or creates) the queue in `config.queue_dir`; nothing is sent yet.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let queue = Queue::open(
            config.queue_dir.as_deref(),
            &config.instance_id,
            config.first_seq,
        )?;
        let http = match config.transport {
            Transport::Http { .. } => Some(
                reqwest::Client::builder()
                    .timeout(config.request_timeout)
                    .build()
                    .map_err(|e| ClientError::Refused(format!("http client: {e}")))?,
            ),
            Transport::Resp { .. } => None,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        Ok(Client {
            batch_limit: config.batch_max.max(1),
            config,
            queue,
            http,
            resp: None,
            not_before: Instant::now(),
            failures: 0,
            rng: seed | 1,
        })
    }

    /// Numbers `update` (its `seq` is replaced), queues it (persisted before this returns) and
    /// returns the `seq`.
    pub fn enqueue(&mut self, update: Update) -> Result<u64, ClientError> {
        Ok(self.queue.push(update)?)
    }

    /// Updates waiting to be acknowledged.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The `seq` the next `enqueue` will use.
    pub fn next_seq(&self) -> u64 {
        self.queue.peek_seq()
    }

    /// Sends until the queue is empty, retrying with backoff. Returns what happened to each
    /// update that left the queue.
    pub async fn flush(&mut self) -> Result<FlushReport, ClientError> {
        let mut report = FlushReport::default();
        let mut last_progress = Instant::now();
        while !self.queue.is_empty() {
            let wait = self.not_before.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let batch = self.queue.oldest(self.batch_limit);
            report.batches += 1;
            let attempt = match self.config.transport.clone() {
                Transport::Http { base_url } => self.send_http(&base_url, &batch).await?,
                Transport::Resp { addr } => self.send_resp(&addr, &batch).await?,
            };
            match attempt {
                Attempt::Replied {
                    outcomes,
                    throttle_ms,
                    retry_after,
                    retry_reason,
                } => {
                    let mut done = Vec::new();
                    for (update, outcome) in batch.iter().zip(outcomes) {
                        if let Some(outcome) = outcome {
                            done.push(update.seq());
                            report.outcomes.push(UpdateOutcome {
                                seq: update.seq(),
                                kind: update.kind(),
                                outcome,
                            });
                        }
                    }
                    if !done.is_empty() {
                        last_progress = Instant::now();
                    }
                    self.queue.remove(&done)?;
                    if throttle_ms > 0 {
                        report.throttled += 1;
                        report.throttle_ms_total += throttle_ms;
                    }
                    match retry_reason {
                        Some(reason) => {
                            report.retries += 1;
                            self.back_off(retry_after);
                            self.check_give_up(last_progress, reason, &report)?;
                        }
                        None => {
                            self.failures = 0;
                            self.not_before = Instant::now() + Duration::from_millis(throttle_ms);
                        }
                    }
                }
                Attempt::Failed {
                    reason,
                    retry_after,
                } => {
                    report.retries += 1;
                    self.back_off(retry_after);
                    self.check_give_up(last_progress, reason, &report)?;
                }
                Attempt::TooLarge => {
                    self.batch_limit = (batch.len() / 2).max(1);
                }
            }
        }
        Ok(report)
    }

    fn check_give_up(
        &self,
        last_progress: Instant,
        reason: String,
        report: &FlushReport,
    ) -> Result<(), ClientError> {
        match self.config.give_up_after {
            Some(limit) if last_progress.elapsed() >= limit => Err(ClientError::GaveUp {
                last_error: reason,
                report: report.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The next attempt waits max(server's retry-after, jittered exponential delay).
    fn back_off(&mut self, retry_after: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff_delay(
            self.config.backoff_base,
            self.config.backoff_max,
            self.failures,
            self.next_random(),
        );
        self.not_before = Instant::now() + delay.max(retry_after.unwrap_or_default());
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: jitter only needs to differ between terminals, not to be secure.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    async fn send_http(
        &mut self,
        base_url: &str,
        batch: &[Update],
    ) -> Result<Attempt, ClientError> {
        let Some(http) = &self.http else {
            return Err(ClientError::Refused("no http client".into()));
        };
        let body = batch_json(Some(&self.config.instance_id), batch);
        let response = http
            .post(format!("{}/v1/ingest", base_url.trim_end_matches('/')))
            .bearer_auth(&self.config.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                return Ok(Attempt::Failed {
                    reason: format!("http: {e}"),
                    retry_after: None,
                })
            }
        };
        let status = response.status().as_u16();
        let retry_after_header = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => {
                return Ok(Attempt::Failed {
                    reason: format!("http body: {e}"),
                    retry_after: None,
                })
            }
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let retry_after = json["retry_after_ms"]
            .as_u64()
            .map(Duration::from_millis)
            .or(retry_after_header);
        match status {
            200 | 429 | 503 if json["results"].is_array() => {
                let results = json["results"].as_array().cloned().unwrap_or_default();
                let outcomes: Vec<Option<Outcome>> = (0..batch.len())
                    .map(|i| {
                        results
                            .get(i)
                            .and_then(|r| r["status"].as_str())
                            .and_then(Outcome::from_status)
                    })
                    .collect();
                let retry = outcomes.iter().any(Option::is_none);
                Ok(Attempt::Replied {
                    outcomes,
                    throttle_ms: json["throttle_ms"].as_u64().unwrap_or(0),
                    retry_after: retry.then_some(retry_after).flatten(),
                    retry_reason: retry.then(|| format!("http {status}: {text}")),
                })
            }
            400 => self.invalid_batch(batch, &json, &text),
            401 | 403 => Err(ClientError::Unauthorized(text)),
            413 => Ok(Attempt::TooLarge),
            _ => Ok(Attempt::Failed {
                reason: format!("http {status}: {text}"),
                retry_after,
            }),
        }
    }

    /// A 400 names fields like `updates[3].volume`: those updates are dropped as invalid and
    /// the rest retried at once. A 400 about the envelope is the caller's to fix.
    fn invalid_batch(
        &self,
        batch: &[Update],
        json: &serde_json::Value,
        text: &str,
    ) -> Result<Attempt, ClientError> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        for error in json["errors"].as_array().into_iter().flatten() {
            let field = error["field"].as_str().unwrap_or("");
            let index = field
                .strip_prefix("updates[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
            match index.and_then(|i| outcomes.get_mut(i)) {
                Some(slot) => {
                    let message = format!("{field}: {}", error["message"].as_str().unwrap_or(""));
                    *slot = Some(match slot.take() {
                        Some(Outcome::Invalid(previous)) => {
                            Outcome::Invalid(format!("{previous}; {message}"))
                        }
                        _ => Outcome::Invalid(message),
                    });
                }
                None => return Err(ClientError::Refused(format!("http 400: {text}"))),
            }
        }
        if outcomes.iter().all(Option::is_none) {
            return Err(ClientError::Refused(format!("http 400: {text}")));
        }
        Ok(Attempt::Replied {
            outcomes,
            throttle_ms: 0,
            retry_after: None,
            retry_reason: None,
        })
    }

    async fn send_resp(&mut self, addr: &str, batch: &[Update]) -> Result<Attempt, ClientError> {
        let timeout = self.config.request_timeout;
        if self.resp.is_none() {
            let connected = tokio::time::timeout(
                timeout,
                RespConnection::connect(addr, &self.config.instance_id, &self.config.token),
            )
            .await;
            match connected {
                Ok(Ok(connection)) => self.resp = Some(connection),
                Ok(Err(RespFailure::Refused(message))) => {
                    return Err(ClientError::Unauthorized(message))
                }
                Ok(Err(RespFailure::Io(reason))) => {
                    return Ok(Attempt::Failed {
                        reason,
                        retry_after: None,
                    })
                }
                Err(_) => {
                    return Ok(Attempt::Failed {
                        reason: format!("resp: connect to {addr} timed out"),
                        retry_after: None,
                    })
                }
            }
        }
        let Some(connection) = self.resp.as_mut() else {
            return Ok(Attempt::Failed {
                reason: "resp: not connected".into(),
                retry_after: None,
            });
        };
        let mut bytes = Vec::new();
        for update in batch {
            bytes.extend(resp_encode(&resp_args(
                &self.config.instance_id,
                &self.config.signal_stream,
                update,
            )));
        }
        let replies =
            tokio::time::timeout(timeout, connection.round_trip(&bytes, batch.len())).await;
        let (replies, throttle_ms) = match replies {
            Ok(Ok(replies)) => replies,
            Ok(Err(reason)) => {
                self.resp = None;
                return Ok(Attempt::Failed {
                    reason,
                    retry_after: None,
                });
            }
            Err(_) => {
                // The replies may still come; a new connection keeps them apart from the next
                // batch's. Retried writes are harmless: stale for states, duplicate for signals.
                self.resp = None;
                return Ok(Attempt::Failed {
                    reason: "resp: no reply in time".into(),
                    retry_after: None,
                });
            }
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut retry_after: Option<Duration> = None;
        let mut retry_reason = None;
        for reply in &replies {
            outcomes.push(match resp::write_reply(reply) {
                WriteReply::Stored => Some(Outcome::Stored),
                WriteReply::Stale => Some(Outcome::Stale),
                WriteReply::Duplicate => Some(Outcome::Duplicate),
                WriteReply::Invalid(message) => Some(Outcome::Invalid(message)),
                WriteReply::TryAgain {
                    retry_after_ms,
                    message,
                } => {
                    let wait = Duration::from_millis(retry_after_ms.unwrap_or(0));
                    retry_after = Some(retry_after.unwrap_or_default().max(wait));
                    retry_reason = Some(message);
                    None
                }
                WriteReply::Refused(message) => {
                    self.resp = None;
                    return Err(ClientError::Refused(message));
                }
            });
        }
        Ok(Attempt::Replied {
            outcomes,
            throttle_ms,
            retry_after,
            retry_reason,
        })
    }
}

/// `base * 2^(failures-1)` capped at `max`, then a random point in its upper half.
pub fn backoff_delay(base: Duration, max: Duration, failures: u32, random: u64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exponent).min(max);
    let half = full / 2;
    let span = (full - half).as_millis() as u64;
    half + Duration::from_millis(if span == 0 { 0 } else { random % (span + 1) })
}

enum RespFailure {
    Io(String),
    Refused(String),
}

/// One authenticated RESP3 connection (`HELLO 3 AUTH <id> <token>`), so the gateway's throttle
/// pushes arrive.
struct RespConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RespConnection {
    async fn connect(addr: &str, instance_id: &str, token: &str) -> Result<Self, RespFailure> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| RespFailure::Io(format!("resp: connect {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut connection = RespConnection {
            stream,
            buffer: Vec::new(),
        };
        let hello = resp_encode(&["HELLO", "3", "AUTH", instance_id, token]);
        connection
            .stream
            .write_all(&hello)
            .await
            .map_err(|e| RespFailure::Io(format!("resp: {e}")))?;
        match connection.read_value().await.map_err(RespFailure::Io)? {
            RespValue::Error(message) => Err(RespFailure::Refused(format!("HELLO: {message}"))),
            _ => Ok(connection),
        }
    }

    /// Writes the pipelined commands and reads `count` replies; pushes in between are throttle
    /// hints (their largest value is returned).
    async fn round_trip(
        &mut self,
        bytes: &[u8],
        count: usize,
    ) -> Result<(Vec<RespValue>, u64), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("resp: write: {e}"))?;
        let mut replies = Vec::with_capacity(count);
        let mut throttle_ms = 0;
        while replies.len() < count {
            let value = self.read_value().await?;
            match resp::throttle_push(&value) {
                Some(ms) => throttle_ms = throttle_ms.max(ms),
                None if matches!(value, RespValue::Push(_)) => {}
                None => replies.push(value),
            }
        }
        // A throttle push written right after the last reply is usually already buffered.
        while let Ok(Some((value, used))) = resp::parse(&self.buffer) {
            match resp::throttle_push(&value) {
                Some(ms) => {
                    throttle_ms = throttle_ms.max(ms);
                    self.buffer.drain(..used);
                }
                None => break,
            }
        }
        Ok((replies, throttle_ms))
    }

    async fn read_value(&mut self) -> Result<RespValue, String> {
        loop {
            if let Some((value, used)) = resp::parse(&self.buffer).map_err(|e| e.to_string())? {
                self.buffer.drain(..used);
                return Ok(value);
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("resp: read: {e}"))?;
            if read == 0 {
                return Err("resp: the gateway closed the connection".into());
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_stays_in_the_upper_half() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(30);
        for failures in 1..12 {
            let full = (base * (1 << (failures - 1))).min(max);
            for random in [0, 1, 7, 999_999, u64::MAX] {
                let delay = backoff_delay(base, max, failures, random);
                assert!(delay >= full / 2 && delay <= full, "{failures}: {delay:?}");
            }
        }
        assert_eq!(backoff_delay(base, max, 100, 0), max / 2);
    }

    #[test]
    fn acknowledging_statuses_leave_the_queue_and_the_rest_are_resent() {
        // The MQL5 library acknowledges exactly crate::ACK_STATUSES (tests/mql5_source.rs).
        for status in crate::ACK_STATUSES {
            assert!(Outcome::from_status(status).is_some(), "{status}");
        }
        assert_eq!(Outcome::from_status("spooled"), Some(Outcome::Spooled));
        assert_eq!(Outcome::from_status("volatile"), Some(Outcome::Volatile));
        for status in [
            "unavailable",
            "refused",
            "terminal_rate",
            "global_rate",
            "queue_full",
            "",
            "Stored",
            "some_future_status",
        ] {
            assert_eq!(Outcome::from_status(status), None, "{status}");
        }
    }
}
