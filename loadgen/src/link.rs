//! A terminal's link to the service, as an EA has it: HTTP (`POST /v1/ingest`, one batch in
//! flight, as MQL5 `WebRequest` allows) or RESP (one connection, `HELLO 3 AUTH <id> <token>`, a
//! batch written as one pipeline of `HSET`/`XADD`, then its replies read in order). Either way a
//! send turns into one answer per update: acknowledged, to be resent (after `Retry-After`), or
//! refused. A `stale` acknowledgement carries the gateway's `stored_seq` when it says it (HTTP:
//! in the result; RESP3: the push `>3 "stale" <key> :<seq>` right before the `:0`), which the
//! terminal needs to recover from a reset numbering. A state answered `spooled` that the gateway
//! drops as stale when it writes it later is announced once, on the terminal's next reply: HTTP
//! `"renumber_above": <seq>` at the top of the reply, RESP3 the push `>2 "renumber" :<seq>` before
//! the replies of the read that delivers it (`Sent::renumber_above`).
//!
//! Shared with the reference client (`tradestate_mt5_bridge::client`): the request bytes
//! (`wire`), the RESP reply reader, the `HELLO 3 AUTH` handshake and the push classification
//! (`client::resp`). Its own on purpose: the answers it records (`Answer`, with entry ids and the
//! unavailable/throttled split the report counts) and, in `terminal.rs`, the open-loop timing,
//! batching and resends of a load test rather than the client's queue and backoff.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tradestate_mt5_bridge::client::resp::{self, HelloError, RespReader, RespValue};
use tradestate_mt5_bridge::client::{ingest_request, ingest_url};
use tradestate_mt5_bridge::{wire, Update};

use crate::stats::Transport;

/// How the service acknowledged an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    Stored,
    /// Superseded in the service's queue by a newer update of the same key, which was stored.
    Coalesced,
    /// Already stored (a resend after a lost answer).
    Duplicate,
    /// The service holds a newer state. Over RESP, `HSET` answers 0 for this and for duplicates;
    /// the RESP3 `stale` push before the `:0` tells them apart.
    Stale,
    /// Written to the service's spill log because its partition was down or slow; the service
    /// stores it later, so the read-back waits for the spill to drain (`spill`). A signal's
    /// entry id is not known yet.
    Spooled,
    /// Stored by a partition that keeps no append-only file (lost if that engine dies before its
    /// next snapshot, which a run does not do).
    Volatile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    Throttled,
    Unavailable,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Acked {
        status: AckStatus,
        /// The stream entry id of a stored signal.
        entry_id: Option<String>,
        /// `stale`: the `seq` the gateway holds for the key, when it said so.
        stored_seq: Option<u64>,
    },
    Retry(RetryReason),
    Refused(String),
}

/// The answers to one send, one per update, with the service's pacing hints.
#[derive(Debug, Default)]
pub struct Sent {
    pub answers: Vec<Answer>,
    /// Wait at least this long before resending what was not acknowledged.
    pub retry_after: Option<Duration>,
    /// The service asks the terminal to slow down by this much.
    pub throttle: Duration,
    /// Why the send failed as a whole, for the report.
    pub problem: Option<String>,
    /// The gateway dropped a state of this terminal it had answered `spooled`, its key holding
    /// this `seq` of another numbering: number past it and send the state again (CLIENT.md).
    pub renumber_above: Option<u64>,
}

impl Sent {
    fn all(n: usize, answer: Answer, problem: String) -> Sent {
        Sent {
            answers: vec![answer; n],
            retry_after: None,
            throttle: Duration::ZERO,
            problem: Some(problem),
            renumber_above: None,
        }
    }
}

/// Where the service listens and how terminals prove who they are.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub http_url: String,
    pub resp_addr: String,
    /// The stream `XADD` names over RESP (`policy.rtss_stream`).
    pub stream: String,
}

pub enum Link {
    Http(HttpLink),
    Resp(RespLink),
}

impl Link {
    pub fn new(
        transport: Transport,
        endpoint: &Endpoint,
        client: &reqwest::Client,
        id: &str,
        token: &str,
    ) -> Link {
        Link::over(
            transport,
            std::slice::from_ref(endpoint),
            0,
            client,
            id,
            token,
        )
    }

    /// A link to one of several gateways (behind one load balancer's split): it starts on
    /// `endpoints[first % len]` and moves to the next gateway when a connection fails or the
    /// terminal reconnects, as a terminal behind a round-robin balancer does.
    pub fn over(
        transport: Transport,
        endpoints: &[Endpoint],
        first: usize,
        client: &reqwest::Client,
        id: &str,
        token: &str,
    ) -> Link {
        let at = first % endpoints.len().max(1);
        match transport {
            Transport::Http => Link::Http(HttpLink {
                client: client.clone(),
                urls: endpoints.iter().map(|e| ingest_url(&e.http_url)).collect(),
                at,
                token: token.to_string(),
                instance_id: id.to_string(),
            }),
            Transport::Resp => Link::Resp(RespLink {
                addrs: endpoints.iter().map(|e| e.resp_addr.clone()).collect(),
                at,
                stream: endpoints
                    .first()
                    .map(|e| e.stream.clone())
                    .unwrap_or_default(),
                instance_id: id.to_string(),
                token: token.to_string(),
                conn: None,
                renumber_above: None,
            }),
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Link::Http(_) => Transport::Http,
            Link::Resp(_) => Transport::Resp,
        }
    }

    /// Sends `updates` and waits (at most `timeout`) for their answers.
    pub async fn send(&mut self, updates: &[&Update], timeout: Duration) -> Sent {
        let timeout = timeout.max(Duration::from_millis(1));
        match self {
            Link::Http(link) => link.send(updates, timeout).await,
            Link::Resp(link) => match tokio::time::timeout(timeout, link.send(updates)).await {
                Ok(sent) => sent,
                Err(_) => {
                    // Replies may still arrive on this connection: it cannot be reused.
                    link.conn = None;
                    let mut sent = Sent::all(
                        updates.len(),
                        Answer::Retry(RetryReason::Failed),
                        "RESP replies did not come in time".into(),
                    );
                    // A renumber push read before the time ran out is said once: keep it.
                    sent.renumber_above = link.renumber_above.take();
                    sent
                }
            },
        }
    }

    /// Drops the connection; the next send opens a new one (an EA restart or network blip),
    /// to the next gateway when there are several.
    pub fn reconnect(&mut self) {
        match self {
            // reqwest pools connections across terminals; a reconnect of one HTTP terminal is
            // the re-send of its full state, which the model does.
            Link::Http(link) => link.next_gateway(),
            Link::Resp(link) => {
                link.conn = None;
                link.next_gateway();
            }
        }
    }
}

pub struct HttpLink {
    client: reqwest::Client,
    /// The ingest URL of each gateway; `at` is the one in use.
    urls: Vec<String>,
    at: usize,
    token: String,
    instance_id: String,
}

#[derive(Deserialize)]
struct BatchReply {
    results: Vec<ItemResult>,
    #[serde(default)]
    throttle_ms: u64,
}

/// The top-level `renumber_above` of any JSON reply (it may come with a 429 or 503 too).
#[derive(Deserialize)]
struct RenumberHint {
    #[serde(default)]
    renumber_above: Option<u64>,
}

fn http_renumber_above(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<RenumberHint>(body)
        .ok()
        .and_then(|hint| hint.renumber_above)
}

#[derive(Deserialize)]
struct ItemResult {
    status: String,
    #[serde(default)]
    entry_id: Option<String>,
    #[serde(default)]
    stored_seq: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

impl HttpLink {
    fn next_gateway(&mut self) {
        self.at = (self.at + 1) % self.urls.len().max(1);
    }

    async fn send(&mut self, updates: &[&Update], timeout: Duration) -> Sent {
        let url = self.urls[self.at].clone();
        let response = ingest_request(
            &self.client,
            &url,
            &self.token,
            &self.instance_id,
            updates.iter().copied(),
        )
        .timeout(timeout)
        .send()
        .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                self.next_gateway();
                return Sent::all(
                    updates.len(),
                    Answer::Retry(RetryReason::Failed),
                    format!("POST {url}: {e}"),
                );
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                return Sent::all(
                    updates.len(),
                    Answer::Retry(RetryReason::Failed),
                    format!("reading the reply of POST {url}: {e}"),
                )
            }
        };
        let renumber_above = http_renumber_above(&bytes);
        let parsed = match status {
            StatusCode::OK | StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                serde_json::from_slice::<BatchReply>(&bytes).ok()
            }
            _ => None,
        };
        let Some(reply) = parsed.filter(|r| r.results.len() == updates.len()) else {
            let text = format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
            let answer = match status {
                StatusCode::TOO_MANY_REQUESTS => Answer::Retry(RetryReason::Throttled),
                s if s.is_server_error() => Answer::Retry(RetryReason::Unavailable),
                _ => Answer::Refused(text.clone()),
            };
            let mut sent = Sent::all(updates.len(), answer, text);
            sent.retry_after = retry_after;
            sent.renumber_above = renumber_above;
            return sent;
        };
        let mut problem = None;
        let answers = reply
            .results
            .into_iter()
            .map(|item| {
                let answer = http_answer(&item);
                if !matches!(answer, Answer::Acked { .. }) && problem.is_none() {
                    problem = Some(format!(
                        "HTTP {status}: {} {}",
                        item.status,
                        item.error.as_deref().unwrap_or("")
                    ));
                }
                answer
            })
            .collect();
        Sent {
            answers,
            retry_after,
            throttle: Duration::from_millis(reply.throttle_ms),
            problem,
            renumber_above,
        }
    }
}

fn http_answer(item: &ItemResult) -> Answer {
    let acked = |status| Answer::Acked {
        status,
        entry_id: item.entry_id.clone(),
        stored_seq: item.stored_seq,
    };
    match item.status.as_str() {
        "stored" => acked(AckStatus::Stored),
        "coalesced" => acked(AckStatus::Coalesced),
        "duplicate" => acked(AckStatus::Duplicate),
        "stale" => acked(AckStatus::Stale),
        "spooled" => acked(AckStatus::Spooled),
        "volatile" => acked(AckStatus::Volatile),
        "unavailable" | "refused" => Answer::Retry(RetryReason::Unavailable),
        // Every admission refusal (quota, queue full) is resent after Retry-After.
        _ => Answer::Retry(RetryReason::Throttled),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub struct RespLink {
    /// Each gateway's RESP address; `at` is the one in use.
    addrs: Vec<String>,
    at: usize,
    stream: String,
    instance_id: String,
    token: String,
    conn: Option<(RespReader<OwnedReadHalf>, OwnedWriteHalf)>,
    /// A `renumber` push read and not handed to the terminal yet (a send may time out after it).
    renumber_above: Option<u64>,
}

impl RespLink {
    fn next_gateway(&mut self) {
        self.at = (self.at + 1) % self.addrs.len().max(1);
    }

    fn addr(&self) -> &str {
        &self.addrs[self.at]
    }

    async fn connect(&mut self) -> Result<(), String> {
        let addr = self.addr().to_string();
        let stream = match TcpStream::connect(&addr).await {
            Ok(stream) => stream,
            Err(e) => {
                self.next_gateway();
                return Err(format!("connect {addr}: {e}"));
            }
        };
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut reader = RespReader::with_capacity(32 * 1024, read);
        // RESP3, as the EA library speaks it: only RESP3 clients hear the gateway's pushes
        // (the `stale` one with the stored seq, the `throttle` one).
        match resp::hello(&mut reader, &mut write, &self.instance_id, &self.token).await {
            Ok(renumber_above) => {
                self.renumber_above = self.renumber_above.max(renumber_above);
                self.conn = Some((reader, write));
                Ok(())
            }
            Err(HelloError::Refused(other)) => {
                Err(format!("HELLO 3 AUTH {} ...: {other:?}", self.instance_id))
            }
            Err(HelloError::Io(e)) => Err(format!("HELLO 3 AUTH on {}: {e}", self.addr())),
        }
    }

    async fn send(&mut self, updates: &[&Update]) -> Sent {
        if self.conn.is_none() {
            if let Err(e) = self.connect().await {
                let mut sent = Sent::all(updates.len(), Answer::Retry(RetryReason::Failed), e);
                sent.renumber_above = self.renumber_above.take();
                return sent;
            }
        }
        let out = wire::resp_commands(&self.instance_id, &self.stream, updates.iter().copied());
        let Some((reader, writer)) = self.conn.as_mut() else {
            let mut sent = Sent::all(
                updates.len(),
                Answer::Retry(RetryReason::Failed),
                "not connected".into(),
            );
            sent.renumber_above = self.renumber_above.take();
            return sent;
        };
        if let Err(e) = writer.write_all(&out).await {
            self.conn = None;
            let mut sent = Sent::all(
                updates.len(),
                Answer::Retry(RetryReason::Failed),
                format!("write to {}: {e}", self.addr()),
            );
            sent.renumber_above = self.renumber_above.take();
            return sent;
        }
        let mut sent = Sent::default();
        // A stale push belongs to the next reply (the `:0` of the stale HSET).
        let mut stale_seq = None;
        while sent.answers.len() < updates.len() {
            match reader.read_value().await {
                Ok(value @ RespValue::Push(_)) => match push(&value) {
                    Some(Push::Stale(seq)) => stale_seq = Some(seq),
                    Some(Push::Throttle(wait)) => sent.throttle = sent.throttle.max(wait),
                    // Kept on the link until the send returns: a timeout may cut it short.
                    Some(Push::Renumber(seq)) => {
                        self.renumber_above = self.renumber_above.max(Some(seq))
                    }
                    None => {}
                },
                Ok(reply) => {
                    let (mut answer, wait) = resp_answer(reply);
                    if let Answer::Acked {
                        status: status @ AckStatus::Stale,
                        stored_seq,
                        ..
                    } = &mut answer
                    {
                        // Over RESP3 the gateway pushes `stale` before every stale `:0`; a `:0`
                        // without it is a duplicate (the same `seq` stored already).
                        match stale_seq {
                            Some(seq) => *stored_seq = Some(seq),
                            None => *status = AckStatus::Duplicate,
                        }
                    }
                    stale_seq = None;
                    if let (Answer::Retry(_) | Answer::Refused(_), None) = (&answer, &sent.problem)
                    {
                        sent.problem = Some(format!("RESP: {answer:?}"));
                    }
                    if let Some(wait) = wait {
                        sent.retry_after = Some(sent.retry_after.unwrap_or_default().max(wait));
                    }
                    sent.answers.push(answer);
                }
                Err(e) => {
                    self.conn = None;
                    sent.problem = Some(format!("reading replies from {}: {e}", self.addr()));
                    sent.answers
                        .resize(updates.len(), Answer::Retry(RetryReason::Failed));
                    break;
                }
            }
        }
        sent.renumber_above = self.renumber_above.take();
        sent
    }
}

/// A push from the gateway that a terminal acts on.
#[derive(Debug, PartialEq, Eq)]
enum Push {
    /// `>3 "stale" "<key>" :<stored_seq>`.
    Stale(u64),
    /// `>2 "throttle" :<ms>`.
    Throttle(Duration),
    /// `>2 "renumber" :<seq>`: a spooled state was dropped against this `seq` (CLIENT.md).
    Renumber(u64),
}

/// The push's meaning, by the contract's classification (`client::resp`).
fn push(value: &RespValue) -> Option<Push> {
    if let Some(seq) = resp::stale_push(value) {
        Some(Push::Stale(seq))
    } else if let Some(ms) = resp::throttle_push(value) {
        Some(Push::Throttle(Duration::from_millis(ms)))
    } else {
        resp::renumber_push(value).map(Push::Renumber)
    }
}

fn resp_answer(reply: RespValue) -> (Answer, Option<Duration>) {
    let acked = |status, entry_id| Answer::Acked {
        status,
        entry_id,
        stored_seq: None,
    };
    match reply {
        RespValue::Int(n) if n > 0 => (acked(AckStatus::Stored, None), None),
        RespValue::Int(_) => (acked(AckStatus::Stale, None), None),
        // Also RESP3 booleans, doubles and big numbers.
        RespValue::Simple(_) | RespValue::Other(_) => (acked(AckStatus::Stored, None), None),
        RespValue::Bulk(Some(id)) => (
            acked(
                AckStatus::Stored,
                Some(String::from_utf8_lossy(&id).into_owned()),
            ),
            None,
        ),
        RespValue::Bulk(None) | RespValue::Null => (acked(AckStatus::Duplicate, None), None),
        RespValue::Error(e) if e.starts_with("TRYAGAIN") => {
            // "-TRYAGAIN <why>, retry in <ms> ms" or "-TRYAGAIN partition <p> unavailable: ..."
            let wait = e
                .rsplit_once("retry in ")
                .and_then(|(_, rest)| rest.trim_end_matches(" ms").trim().parse::<u64>().ok())
                .map(Duration::from_millis);
            let reason = if e.contains("unavailable") {
                RetryReason::Unavailable
            } else {
                RetryReason::Throttled
            };
            (Answer::Retry(reason), wait)
        }
        RespValue::Error(e) => (Answer::Refused(format!("-{e}")), None),
        RespValue::Array(_) | RespValue::Map(_) => {
            (Answer::Refused("unexpected array reply".into()), None)
        }
        RespValue::Push(_) => (Answer::Refused("unexpected push".into()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn replies_parse_into_answers() {
        let wire = b":21\r\n:0\r\n$15\r\n1763000000000-0\r\n$-1\r\n-TRYAGAIN rate limited, retry in 250 ms\r\n-TRYAGAIN partition ris unavailable: down\r\n-NOPERM no\r\n";
        let mut reader = RespReader::new(&wire[..]);
        let mut answers = Vec::new();
        for _ in 0..7 {
            answers.push(resp_answer(reader.read_value().await.unwrap()));
        }
        assert_eq!(
            answers[0].0,
            Answer::Acked {
                status: AckStatus::Stored,
                entry_id: None,
                stored_seq: None
            }
        );
        assert_eq!(
            answers[1].0,
            Answer::Acked {
                status: AckStatus::Stale,
                entry_id: None,
                stored_seq: None
            }
        );
        assert_eq!(
            answers[2].0,
            Answer::Acked {
                status: AckStatus::Stored,
                entry_id: Some("1763000000000-0".into()),
                stored_seq: None
            }
        );
        assert_eq!(
            answers[3].0,
            Answer::Acked {
                status: AckStatus::Duplicate,
                entry_id: None,
                stored_seq: None
            }
        );
        assert_eq!(
            answers[4],
            (
                Answer::Retry(RetryReason::Throttled),
                Some(Duration::from_millis(250))
            )
        );
        assert_eq!(answers[5], (Answer::Retry(RetryReason::Unavailable), None));
        assert!(matches!(answers[6].0, Answer::Refused(_)));
    }

    #[test]
    fn http_statuses_map_to_answers() {
        let item = |status: &str| ItemResult {
            status: status.into(),
            entry_id: None,
            stored_seq: None,
            error: None,
        };
        assert!(matches!(
            http_answer(&item("coalesced")),
            Answer::Acked {
                status: AckStatus::Coalesced,
                ..
            }
        ));
        for (status, ack) in [
            ("stored", AckStatus::Stored),
            ("coalesced", AckStatus::Coalesced),
            ("duplicate", AckStatus::Duplicate),
            ("stale", AckStatus::Stale),
            ("spooled", AckStatus::Spooled),
            ("volatile", AckStatus::Volatile),
        ] {
            assert_eq!(
                http_answer(&item(status)),
                Answer::Acked {
                    status: ack,
                    entry_id: None,
                    stored_seq: None
                },
                "{status}"
            );
        }
        // Every status the contract calls an acknowledgement is one here too.
        for status in tradestate_mt5_bridge::ACK_STATUSES {
            assert!(
                matches!(http_answer(&item(status)), Answer::Acked { .. }),
                "{status}"
            );
        }
        // A volatile signal carries its entry id like a stored one.
        let volatile_signal = ItemResult {
            status: "volatile".into(),
            entry_id: Some("1763000000000-0".into()),
            stored_seq: None,
            error: None,
        };
        assert_eq!(
            http_answer(&volatile_signal),
            Answer::Acked {
                status: AckStatus::Volatile,
                entry_id: Some("1763000000000-0".into()),
                stored_seq: None
            }
        );
        assert_eq!(
            http_answer(&item("queue_full")),
            Answer::Retry(RetryReason::Throttled)
        );
        assert_eq!(
            http_answer(&item("unavailable")),
            Answer::Retry(RetryReason::Unavailable)
        );
    }

    fn some_updates(n: usize) -> Vec<Update> {
        let profile = crate::model::Profile {
            attach_over: Duration::ZERO,
            ..crate::model::Profile::default()
        };
        let identity = crate::model::Identity {
            id_prefix: "T".into(),
            seed: 1,
            seq_base: 1_000,
            start_unix_ms: 1_763_000_000_000,
            run_tag: "r".into(),
        };
        let mut terminal = crate::model::Terminal::new(0, &identity, &profile);
        let mut updates = terminal.resync(Duration::ZERO);
        while updates.len() < n {
            updates.extend(terminal.resync(Duration::ZERO));
        }
        updates.truncate(n);
        updates
    }

    /// Reads from `socket` until `commands` commands of a pipeline have arrived.
    async fn read_commands(socket: &mut TcpStream, commands: usize, what: &str) -> String {
        let mut text = String::new();
        let mut buf = vec![0u8; 64 * 1024];
        while text.matches(what).count() < commands {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the link closed early: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    }

    /// A listener on an ephemeral port, for a fake gateway, and a `transport` link of terminal
    /// "T" to it (it connects on the first send).
    async fn listener_and_link(transport: Transport) -> (tokio::net::TcpListener, Link) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let endpoint = Endpoint {
            http_url: format!("http://{addr}"),
            resp_addr: addr.to_string(),
            stream: "rtss:signals".into(),
        };
        let link = Link::new(transport, &endpoint, &reqwest::Client::new(), "T", "tok");
        (listener, link)
    }

    /// A fake RESP gateway on `listener` for one connection: at each step it waits for `count`
    /// commands `name`, then writes `reply`. Returns what it read at each step.
    fn serve_resp(
        listener: tokio::net::TcpListener,
        steps: &'static [(usize, &'static str, &'static [u8])],
    ) -> tokio::task::JoinHandle<Vec<String>> {
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut read = Vec::new();
            for &(count, name, reply) in steps {
                read.push(read_commands(&mut socket, count, name).await);
                socket.write_all(reply).await.unwrap();
            }
            read
        })
    }

    /// Over RESP3 the gateway tells a stale HSET's stored seq in a push right before its `:0`,
    /// and a throttle hint in a push after the replies (read with the next batch's replies).
    #[tokio::test]
    async fn resp3_pushes_give_the_stale_reply_its_stored_seq() {
        let (listener, mut link) = listener_and_link(Transport::Resp).await;
        let server = serve_resp(
            listener,
            &[
                (
                    1,
                    "HELLO",
                    b"%2\r\n$6\r\nserver\r\n$10\r\ntradestate\r\n$5\r\nproto\r\n:3\r\n",
                ),
                (
                    3,
                    "HSET",
                    b":20\r\n>3\r\n$5\r\nstale\r\n$7\r\nris:{T}\r\n:77\r\n:0\r\n:0\r\n>2\r\n$8\r\nthrottle\r\n:250\r\n",
                ),
                (1, "HSET", b":20\r\n"),
            ],
        );
        let updates = some_updates(3);
        let refs: Vec<&Update> = updates.iter().collect();
        let sent = link.send(&refs, Duration::from_secs(5)).await;
        let statuses: Vec<(AckStatus, Option<u64>)> = sent
            .answers
            .iter()
            .map(|a| match a {
                Answer::Acked {
                    status, stored_seq, ..
                } => (*status, *stored_seq),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (AckStatus::Stored, None),
                (AckStatus::Stale, Some(77)),
                // No push before it: a duplicate (RESP3 pushes before every stale `:0`).
                (AckStatus::Duplicate, None),
            ]
        );
        let sent = link.send(&refs[..1], Duration::from_secs(5)).await;
        assert_eq!(sent.throttle, Duration::from_millis(250));
        assert!(matches!(
            sent.answers[..],
            [Answer::Acked {
                status: AckStatus::Stored,
                ..
            }]
        ));
        let read = server.await.unwrap();
        assert!(read[0].contains("AUTH"), "the HELLO: {}", read[0]);
    }

    /// The gateway's hint that a spooled state was dropped: a top-level field of any JSON reply
    /// over HTTP, a push before the replies over RESP3; said once, handed over once.
    #[test]
    fn http_replies_carry_renumber_above_at_the_top() {
        let ok = br#"{"results":[{"status":"stored"}],"renumber_above":5000000000123}"#;
        assert_eq!(http_renumber_above(ok), Some(5_000_000_000_123));
        let busy =
            br#"{"error":"unavailable","results":[{"status":"unavailable"}],"renumber_above":7}"#;
        assert_eq!(http_renumber_above(busy), Some(7));
        assert_eq!(
            http_renumber_above(br#"{"results":[{"status":"stored"}]}"#),
            None
        );
        assert_eq!(http_renumber_above(b"not json"), None);
    }

    #[tokio::test]
    async fn http_link_hands_over_renumber_above() {
        let (listener, mut link) = listener_and_link(Transport::Http).await;
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let body =
                r#"{"results":[{"status":"stored"},{"status":"spooled"}],"renumber_above":4242}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        let updates = some_updates(2);
        let refs: Vec<&Update> = updates.iter().collect();
        let sent = link.send(&refs, Duration::from_secs(5)).await;
        assert_eq!(sent.renumber_above, Some(4242));
        assert!(matches!(
            sent.answers[..],
            [
                Answer::Acked {
                    status: AckStatus::Stored,
                    ..
                },
                Answer::Acked {
                    status: AckStatus::Spooled,
                    ..
                }
            ]
        ));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn resp3_renumber_push_is_handed_over_once() {
        let (listener, mut link) = listener_and_link(Transport::Resp).await;
        let server = serve_resp(
            listener,
            &[
                (1, "HELLO", b"%1\r\n$5\r\nproto\r\n:3\r\n"),
                // As the gateway writes it: before the replies of the read that delivers it.
                (
                    2,
                    "HSET",
                    b">2\r\n$8\r\nrenumber\r\n:5000000000999\r\n:20\r\n:0\r\n",
                ),
                (1, "HSET", b":20\r\n"),
            ],
        );
        let updates = some_updates(2);
        let refs: Vec<&Update> = updates.iter().collect();
        let sent = link.send(&refs, Duration::from_secs(5)).await;
        assert_eq!(sent.renumber_above, Some(5_000_000_000_999));
        assert_eq!(sent.answers.len(), 2);
        // The push is not a reply: the two HSETs keep theirs.
        assert!(matches!(
            sent.answers[1],
            Answer::Acked {
                status: AckStatus::Duplicate,
                stored_seq: None,
                ..
            }
        ));
        let sent = link.send(&refs[..1], Duration::from_secs(5)).await;
        assert_eq!(sent.renumber_above, None);
        server.await.unwrap();
    }

    /// RESP3 types, read by the contract's reader, answer as their RESP2 counterparts would.
    #[tokio::test]
    async fn resp3_types_answer() {
        let wire = b"_\r\n#t\r\n,1.5\r\n!5\r\nERR x\r\n~1\r\n:1\r\n|1\r\n+a\r\n+b\r\n:7\r\n";
        let mut reader = RespReader::new(&wire[..]);
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(resp_answer(reader.read_value().await.unwrap()).0);
        }
        let acked = |status| Answer::Acked {
            status,
            entry_id: None,
            stored_seq: None,
        };
        assert_eq!(
            answers,
            [
                acked(AckStatus::Duplicate),
                acked(AckStatus::Stored),
                acked(AckStatus::Stored),
                Answer::Refused("-ERR x".into()),
                Answer::Refused("unexpected array reply".into()),
                // An attribute annotates the reply that follows it.
                acked(AckStatus::Stored),
            ]
        );
    }
}
