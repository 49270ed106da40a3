//! A reference terminal client (feature `client`): the behaviour of the MQL5 library
//! (`mql5/Include/Tradestate`) in Rust, for tests and tools. Both follow `mt5-bridge/CLIENT.md`,
//! which is the one description of their state machine and files.
//!
//! - [`Client::enqueue`] validates an update against the contract, numbers it with the lane's
//!   next `seq` (never reused, above the clock floor) and queues it on disk ([`queue`], [`lane`]).
//! - [`Client::flush`] sends the queue: the instance state first, then trade states, then
//!   signals, each kind with its own backoff so a partition that is down holds back only its own
//!   kind. What the gateway acknowledged ([`crate::ACK_STATUSES`]) leaves the queue; what it
//!   refuses for good goes to the dead-letter file; a `stale` answer from a numbering ahead of
//!   the lane's moves the numbering past it, queues the state again and asks the caller for a
//!   full snapshot ([`Client::take_resync`]).
//! - Backoff: after a failed attempt it waits the larger of the server's `Retry-After` and an
//!   exponential, jittered delay (`backoff_base * 2^(n-1)`, capped at `backoff_max`, then a
//!   random point in its upper half). A reply with `throttle_ms > 0` delays the next batch.
//!
//! The bytes it sends are [`crate::wire`]'s, the same the MQL5 library builds.

pub mod lane;
pub mod queue;
pub mod resp;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::types::Update;
use crate::wire::{batch_json, resp_args, resp_encode, SIGNAL_STREAM};
use crate::UpdateKind;
use lane::LaneError;
use queue::{kind_index, PushError, Queue};
use resp::{RespValue, WriteReply};

/// Where and how the client reaches the gateway: a [`crate::Transport`] with its address.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// `base_url` like `http://127.0.0.1:8080`; batches go to `POST {base_url}/v1/ingest`.
    Http { base_url: String },
    /// `host:port` of the gateway's RESP listener (plain TCP).
    Resp { addr: String },
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    pub instance_id: String,
    pub token: String,
    /// The program's lane (CLIENT.md): its files, its lock, its signal ids.
    pub lane: String,
    /// The account this instance id reports; a lane bound to another login refuses to open.
    pub login: Option<u64>,
    /// Most updates per request / pipelined write.
    pub batch_max: usize,
    /// Where the lane's files live; `None` keeps everything in memory only.
    pub queue_dir: Option<PathBuf>,
    /// First retry delay; doubles per failed attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Per request (HTTP) or per connect / batch round trip (RESP).
    pub request_timeout: Duration,
    /// `flush` gives up after this long without an acknowledgement; `None` retries forever.
    pub give_up_after: Option<Duration>,
    /// The lowest first `seq` (the clock floor applies too when `queue_dir` is set).
    pub first_seq: u64,
    /// The gateway's `policy.rtss_stream`.
    pub signal_stream: String,
}

impl ClientConfig {
    /// Defaults as the MQL5 library's: batches of 100, backoff 500 ms .. 30 s, 10 s timeout.
    pub fn new(endpoint: Endpoint, instance_id: &str, token: &str) -> ClientConfig {
        ClientConfig {
            endpoint,
            instance_id: instance_id.to_owned(),
            token: token.to_owned(),
            lane: "main".to_owned(),
            login: None,
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
    /// Not newer than the stored `seq`, which this lane sent itself.
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
    /// Stale against another numbering of this instance (`stored_seq` above the update's own):
    /// numbering is past it and the state was queued again as `new_seq` (`None` when a newer
    /// update of the same key was queued already).
    Renumbered {
        stored_seq: u64,
        new_seq: Option<u64>,
    },
    /// Refused for good; moved to the dead-letter file (the message names the field).
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
    /// The lane's files could not be read or written.
    Io(std::io::Error),
    /// 401: the token is not valid for this terminal. Fix the token; retrying will not help.
    Unauthorized(String),
    /// A refusal that retrying cannot fix (`-NOPERM`).
    Refused(String),
    /// The update breaks the contract and was not queued; the message names the field.
    Invalid(String),
    /// Another copy runs this instance id and lane.
    LaneInUse(String),
    /// The instance id is bound to another account.
    LoginMismatch(String),
    /// A lane file is damaged (the message names it and what to do).
    Corrupt(String),
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
            ClientError::Invalid(m) => write!(f, "not queued: {m}"),
            ClientError::LaneInUse(m) | ClientError::LoginMismatch(m) | ClientError::Corrupt(m) => {
                f.write_str(m)
            }
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

impl From<LaneError> for ClientError {
    fn from(e: LaneError) -> Self {
        match e {
            LaneError::Io(e) => ClientError::Io(e),
            LaneError::InUse(m) => ClientError::LaneInUse(m),
            LaneError::LoginMismatch { message, .. } => ClientError::LoginMismatch(message),
            LaneError::Corrupt(m) => ClientError::Corrupt(m),
        }
    }
}

/// The result of one attempt at one batch.
enum Attempt {
    /// Per update: `Some(outcome)` when it leaves the queue, `None` to retry it.
    Replied {
        outcomes: Vec<Option<Outcome>>,
        /// Per update: the `stored_seq` of a `stale` answer, when the gateway said it.
        stored_seqs: Vec<Option<u64>>,
        /// The gateway's `renumber_above` (a spooled update dropped as stale on replay).
        renumber_above: Option<u64>,
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
    /// A 400 that names no update: split the batch, down to the update that causes it.
    BadBatch(String),
}

/// The backoff of one kind of update (instance, trade, signal).
#[derive(Clone, Copy)]
struct KindBackoff {
    failures: u32,
    not_before: Instant,
}

pub struct Client {
    config: ClientConfig,
    queue: Queue,
    http: Option<reqwest::Client>,
    resp: Option<RespConnection>,
    /// Do not send before this (throttle).
    not_before: Instant,
    kinds: [KindBackoff; 3],
    batch_limit: usize,
    /// The gateway holds a newer numbering of this instance: the caller re-sends its state.
    resync: bool,
    rng: u64,
}

impl Client {
    /// Opens (or creates) the lane in `config.queue_dir`; nothing is sent yet.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let queue = match config.queue_dir.as_deref() {
            Some(dir) => Queue::open(
                dir,
                &config.instance_id,
                &config.lane,
                config.first_seq,
                config.login,
            )?,
            None => Queue::in_memory(config.first_seq),
        };
        let http = match config.endpoint {
            Endpoint::Http { .. } => Some(
                reqwest::Client::builder()
                    .timeout(config.request_timeout)
                    .build()
                    .map_err(|e| ClientError::Refused(format!("http client: {e}")))?,
            ),
            Endpoint::Resp { .. } => None,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let now = Instant::now();
        Ok(Client {
            batch_limit: config.batch_max.max(1),
            config,
            queue,
            http,
            resp: None,
            not_before: now,
            kinds: [KindBackoff {
                failures: 0,
                not_before: now,
            }; 3],
            resync: false,
            rng: seed | 1,
        })
    }

    /// Validates `update` against the contract, numbers it (its `seq` is replaced; a signal
    /// without `signal_id` gets `<lane>:<seq>`), queues it (persisted before this returns) and
    /// returns the `seq`.
    pub fn enqueue(&mut self, update: Update) -> Result<u64, ClientError> {
        let lane = self.config.lane.clone();
        self.queue
            .push(update, &lane, validate_update)
            .map_err(|e| match e {
                PushError::Io(e) => ClientError::Io(e),
                PushError::Invalid(m) => ClientError::Invalid(m),
            })
    }

    /// Updates waiting to be acknowledged.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The `seq` the next `enqueue` will use.
    pub fn next_seq(&self) -> u64 {
        self.queue.peek_seq()
    }

    /// Lines of the queue log that did not parse when the lane was opened (now in `.dead`).
    pub fn skipped_lines(&self) -> usize {
        self.queue.load.skipped_lines
    }

    /// Bytes written to the queue log since the lane opened (appends and compactions).
    pub fn log_bytes_written(&self) -> u64 {
        self.queue.bytes_written
    }

    /// True once after the gateway showed it holds a newer numbering of this instance: the
    /// caller re-sends its instance state and every open position (as the library does).
    pub fn take_resync(&mut self) -> bool {
        std::mem::take(&mut self.resync)
    }

    /// Tickets reported open (or pending) and not reported closed since, with position ids.
    pub fn open_tickets(&self) -> &BTreeMap<String, u64> {
        self.queue.open_tickets()
    }

    /// Tickets this lane reported open that are not in `open_now` (the terminal's positions and
    /// orders): their closes were missed and must be looked up in the history.
    pub fn missing_closes<'a>(&self, open_now: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let now: HashSet<&str> = open_now.into_iter().collect();
        self.queue
            .open_tickets()
            .keys()
            .filter(|ticket| !now.contains(ticket.as_str()))
            .cloned()
            .collect()
    }

    /// Sends until the queue is empty, retrying with backoff. Returns what happened to each
    /// update that left the queue.
    pub async fn flush(&mut self) -> Result<FlushReport, ClientError> {
        let mut report = FlushReport::default();
        let mut last_progress = Instant::now();
        let mut last_error = String::new();
        while !self.queue.is_empty() {
            let now = Instant::now();
            let ready = self.kinds.map(|k| k.not_before <= now);
            let batch = if self.not_before <= now {
                self.queue.batch(self.batch_limit, ready)
            } else {
                Vec::new()
            };
            if batch.is_empty() {
                self.check_give_up(last_progress, &last_error, &report)?;
                let queued = self.queue.kinds_queued();
                let next = (0..3)
                    .filter(|&k| queued[k])
                    .map(|k| self.kinds[k].not_before)
                    .min()
                    .unwrap_or(now)
                    .max(self.not_before);
                tokio::time::sleep(next.saturating_duration_since(now)).await;
                continue;
            }
            report.batches += 1;
            let attempt = match self.config.endpoint.clone() {
                Endpoint::Http { base_url } => self.send_http(&base_url, &batch).await?,
                Endpoint::Resp { addr } => self.send_resp(&addr, &batch).await?,
            };
            match attempt {
                Attempt::Replied {
                    outcomes,
                    stored_seqs,
                    renumber_above,
                    throttle_ms,
                    retry_after,
                    retry_reason,
                } => {
                    if let Some(seq) = renumber_above {
                        self.queue.jump_past(seq)?;
                        self.resync = true;
                    }
                    let mut failed = [false; 3];
                    let mut sent = [false; 3];
                    let mut done = Vec::new();
                    for ((update, outcome), stored) in batch.iter().zip(outcomes).zip(stored_seqs) {
                        let kind = kind_index(update);
                        sent[kind] = true;
                        let Some(outcome) = outcome else {
                            failed[kind] = true;
                            continue;
                        };
                        let outcome = self.settle(update, outcome, stored)?;
                        done.push(update.seq());
                        report.outcomes.push(UpdateOutcome {
                            seq: update.seq(),
                            kind: update.kind(),
                            outcome,
                        });
                    }
                    if !done.is_empty() {
                        last_progress = Instant::now();
                    }
                    self.queue.remove(&done)?;
                    if throttle_ms > 0 {
                        report.throttled += 1;
                        report.throttle_ms_total += throttle_ms;
                        self.not_before = Instant::now() + Duration::from_millis(throttle_ms);
                    }
                    for kind in 0..3 {
                        if failed[kind] {
                            self.back_off(kind, retry_after);
                        } else if sent[kind] {
                            self.kinds[kind].failures = 0;
                        }
                    }
                    if let Some(reason) = retry_reason {
                        report.retries += 1;
                        last_error = reason;
                        self.check_give_up(last_progress, &last_error, &report)?;
                    }
                }
                Attempt::Failed {
                    reason,
                    retry_after,
                } => {
                    report.retries += 1;
                    for kind in 0..3 {
                        self.back_off(kind, retry_after);
                    }
                    last_error = reason;
                    self.check_give_up(last_progress, &last_error, &report)?;
                }
                Attempt::TooLarge => {
                    self.batch_limit = (batch.len() / 2).max(1);
                }
                Attempt::BadBatch(reason) => {
                    if batch.len() > 1 {
                        self.batch_limit = (batch.len() / 2).max(1);
                    } else {
                        let update = &batch[0];
                        let outcome = self.settle(update, Outcome::Invalid(reason), None)?;
                        self.queue.remove(&[update.seq()])?;
                        // The split found the update at fault, not a size limit: full batches
                        // again (a limit is found again in a few halvings).
                        self.batch_limit = self.config.batch_max.max(1);
                        report.outcomes.push(UpdateOutcome {
                            seq: update.seq(),
                            kind: update.kind(),
                            outcome,
                        });
                        last_progress = Instant::now();
                    }
                }
            }
        }
        Ok(report)
    }

    /// What an answered update's outcome means for the lane: an invalid one goes to the
    /// dead-letter file; a stale one whose key holds a newer seq than it (another numbering's:
    /// this lane never sends a key's states out of order) moves numbering past that seq and is
    /// queued again.
    fn settle(
        &mut self,
        update: &Update,
        outcome: Outcome,
        stored_seq: Option<u64>,
    ) -> Result<Outcome, ClientError> {
        match (&outcome, stored_seq) {
            (Outcome::Invalid(reason), _) => {
                self.queue.dead_letter(update, reason)?;
                Ok(outcome)
            }
            (Outcome::Stale, Some(stored)) if stored > update.seq() => {
                self.queue.jump_past(stored)?;
                let lane = self.config.lane.clone();
                let new_seq = self.queue.requeue(update.clone(), &lane)?;
                self.resync = true;
                Ok(Outcome::Renumbered {
                    stored_seq: stored,
                    new_seq,
                })
            }
            _ => Ok(outcome),
        }
    }

    fn check_give_up(
        &self,
        last_progress: Instant,
        reason: &str,
        report: &FlushReport,
    ) -> Result<(), ClientError> {
        match self.config.give_up_after {
            Some(limit) if last_progress.elapsed() >= limit => Err(ClientError::GaveUp {
                last_error: reason.to_owned(),
                report: report.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The kind's next attempt waits max(server's retry-after, jittered exponential delay).
    fn back_off(&mut self, kind: usize, retry_after: Option<Duration>) {
        let failures = self.kinds[kind].failures.saturating_add(1);
        let delay = backoff_delay(
            self.config.backoff_base,
            self.config.backoff_max,
            failures,
            self.next_random(),
        );
        self.kinds[kind] = KindBackoff {
            failures,
            not_before: Instant::now() + delay.max(retry_after.unwrap_or_default()),
        };
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
        let url = ingest_url(base_url);
        let response = ingest_request(
            http,
            &url,
            &self.config.token,
            &self.config.instance_id,
            batch,
        )
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
                let stored_seqs = (0..batch.len())
                    .map(|i| results.get(i).and_then(|r| r["stored_seq"].as_u64()))
                    .collect();
                let retry = outcomes.iter().any(Option::is_none);
                Ok(Attempt::Replied {
                    outcomes,
                    stored_seqs,
                    renumber_above: json["renumber_above"].as_u64(),
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

    /// A 400 names fields like `updates[3].volume`: those updates are refused for good and the
    /// rest retried at once. A 400 that names no update is split down to the update causing it.
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
                None => return Ok(Attempt::BadBatch(format!("http 400: {text}"))),
            }
        }
        if outcomes.iter().all(Option::is_none) {
            return Ok(Attempt::BadBatch(format!("http 400: {text}")));
        }
        Ok(Attempt::Replied {
            stored_seqs: vec![None; batch.len()],
            renumber_above: None,
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
        let (replies, throttle_ms, renumber_above) = match replies {
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
        let mut stored_seqs = Vec::with_capacity(batch.len());
        let mut retry_after: Option<Duration> = None;
        let mut retry_reason = None;
        for (reply, stored_seq) in &replies {
            stored_seqs.push(*stored_seq);
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
            stored_seqs,
            renumber_above,
            throttle_ms,
            retry_after,
            retry_reason,
        })
    }
}

/// The contract's checks of one update, as the gateway runs them: what fails here would be
/// refused there, so it is never queued.
fn validate_update(update: &Update) -> Result<(), String> {
    let result = match update {
        Update::Instance(state) => state.validate(),
        Update::Trade(trade) => trade.validate(),
        Update::Positions(snapshot) => snapshot.validate(),
        Update::Signal(signal) => signal.validate(),
    };
    result.map_err(|errors| errors.to_string())
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

/// One batch's replies (each with the `stored_seq` of a stale push before it), the largest
/// throttle hint and the gateway's `renumber_above`.
type RoundTrip = (Vec<(RespValue, Option<u64>)>, u64, Option<u64>);

/// One authenticated RESP3 connection (`HELLO 3 AUTH <id> <token>`, [`resp::hello`]), so the
/// gateway's throttle pushes arrive.
struct RespConnection {
    reader: resp::RespReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RespConnection {
    async fn connect(addr: &str, instance_id: &str, token: &str) -> Result<Self, RespFailure> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| RespFailure::Io(format!("resp: connect {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        let mut connection = RespConnection {
            reader: resp::RespReader::new(read),
            writer,
        };
        match resp::hello(
            &mut connection.reader,
            &mut connection.writer,
            instance_id,
            token,
        )
        .await
        {
            Ok(_) => Ok(connection),
            Err(resp::HelloError::Io(e)) => Err(RespFailure::Io(read_error(e))),
            Err(resp::HelloError::Refused(RespValue::Error(message))) => {
                Err(RespFailure::Refused(format!("HELLO: {message}")))
            }
            Err(resp::HelloError::Refused(other)) => Err(RespFailure::Refused(format!(
                "HELLO: unexpected reply {other:?}"
            ))),
        }
    }

    /// Writes the pipelined commands and reads `count` replies, each with the `stored_seq` of a
    /// stale push that came right before it; throttle pushes in between are hints (their
    /// largest value is returned).
    async fn round_trip(&mut self, bytes: &[u8], count: usize) -> Result<RoundTrip, String> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| format!("resp: write: {e}"))?;
        let mut replies = Vec::with_capacity(count);
        let mut throttle_ms = 0;
        let mut stale = None;
        let mut renumber_above = None;
        while replies.len() < count {
            let value = self.reader.read_value().await.map_err(read_error)?;
            if let Some(ms) = resp::throttle_push(&value) {
                throttle_ms = throttle_ms.max(ms);
            } else if let Some(seq) = resp::renumber_push(&value) {
                renumber_above = renumber_above.max(Some(seq));
            } else if let Some(stored_seq) = resp::stale_push(&value) {
                stale = Some(stored_seq);
            } else if !matches!(value, RespValue::Push(_)) {
                replies.push((value, stale.take()));
            }
        }
        // A throttle push written right after the last reply is usually already buffered.
        let mut buffered_throttle = |value: &RespValue| match resp::throttle_push(value) {
            Some(ms) => {
                throttle_ms = throttle_ms.max(ms);
                true
            }
            None => false,
        };
        while self.reader.take_buffered_if(&mut buffered_throttle) {}
        Ok((replies, throttle_ms, renumber_above))
    }
}

/// Where the gateway at `base_url` (`http://host:port`, a trailing `/` allowed) takes batches:
/// `POST {base_url}/v1/ingest`.
pub fn ingest_url(base_url: &str) -> String {
    format!("{}/v1/ingest", base_url.trim_end_matches('/'))
}

/// One batch as a terminal posts it to `url` (see [`ingest_url`]): the wire's JSON body
/// ([`batch_json`], the bytes the MQL5 library sends) under the terminal's bearer token. Other
/// terminal programs (the load generator) send through this too, so that every client of the
/// contract puts the same request on the wire.
pub fn ingest_request<'a>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    instance_id: &str,
    updates: impl IntoIterator<Item = &'a Update>,
) -> reqwest::RequestBuilder {
    http.post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(batch_json(Some(instance_id), updates))
}

/// A read error as the client reports it.
fn read_error(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "resp: the gateway closed the connection".into(),
        std::io::ErrorKind::InvalidData => e.to_string(),
        _ => format!("resp: read: {e}"),
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
