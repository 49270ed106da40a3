//! One terminal's RESP connection: owns its input and output buffers, reads whatever the socket
//! has, runs every complete command of that read, submits all the writes among them to the
//! gateway in ONE call (in order), and writes every reply, in order, with one write.
//!
//! Submitting a read's writes together is what makes pipelining pay: a terminal that sends 500
//! HSETs back to back waits for one round through the partition writers, not 500.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tradestate_engine::protocol::parser::{self, Arg, Limits, Parsed, BIG_ARG};
use tradestate_engine::protocol::reply::Reply;

use super::commands::{self, Session, Step};
use super::writes::{self, ReplyShape};
use crate::admission::Rejection;
use crate::gateway::{Gateway, Transport};
use crate::keys;
use crate::ops::{Op, OpBody, Outcome, Partition};

/// Read chunk size when nothing larger is known to be coming.
const READ_CHUNK: usize = 16 * 1024;

/// The most unprocessed input one connection may hold (a single command larger than this, or a
/// bulk announced larger than this): the client gets an error and is closed, nobody else is
/// affected.
pub const QUERY_BUFFER_LIMIT: usize = 1024 * 1024;

/// The query buffer limit before AUTH: enough for any handshake, too little to hurt. (Redis
/// instead limits unauthenticated commands to 10 arguments, which would turn a forgotten AUTH
/// before an HSET into a protocol error instead of `-NOAUTH`.)
pub const UNAUTHENTICATED_QUERY_BUFFER_LIMIT: usize = 64 * 1024;

/// Output buffers larger than this are released after being written.
const KEEP_OUTPUT_CAPACITY: usize = 64 * 1024;

/// A write waiting for its outcome: where its reply goes in the output, and how it looks.
struct PendingWrite {
    at: usize,
    shape: ReplyShape,
    partition: Partition,
    resp3: bool,
    /// The key of an HSET from a RESP3 client, named by the push that announces it stale.
    stale_key: Option<StaleKey>,
}

/// What names the key of an HSET in a stale push, kept without building the key: that costs an
/// allocation per write, and a write is rarely stale.
enum StaleKey {
    Instance(Arc<str>),
    /// Tickets are validated as u64 decimals without leading zeros, so the number is the text.
    Trade(Arc<str>, u64),
    Positions(Arc<str>),
}

impl StaleKey {
    fn of(op: &Op) -> Option<StaleKey> {
        let id = op.instance_id.clone();
        match &op.body {
            OpBody::Instance { .. } => Some(StaleKey::Instance(id)),
            OpBody::Trade { ticket, .. } => ticket.parse().ok().map(|t| StaleKey::Trade(id, t)),
            OpBody::Positions { .. } => Some(StaleKey::Positions(id)),
            OpBody::Signal { .. } => None,
        }
    }

    fn key(&self) -> String {
        match self {
            StaleKey::Instance(id) => keys::instance(id),
            StaleKey::Trade(id, ticket) => keys::trade(id, &ticket.to_string()),
            StaleKey::Positions(id) => keys::positions(id),
        }
    }
}

pub struct Connection {
    stream: TcpStream,
    input: Vec<u8>,
    /// Don't re-parse until the buffer holds at least this many bytes (a known-size bulk is
    /// still arriving).
    wait_for: usize,
    reply: Reply,
    args: Vec<Arg>,
    session: Session,
    gateway: Arc<Gateway>,
    ops: Vec<Op>,
    pending: Vec<PendingWrite>,
}

impl Connection {
    pub fn new(stream: TcpStream, connection_id: u64, gateway: Arc<Gateway>) -> Connection {
        Connection {
            stream,
            input: Vec::new(),
            wait_for: 0,
            reply: Reply::new(),
            args: Vec::with_capacity(8),
            session: Session::new(connection_id),
            gateway,
            ops: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Serves the client until it disconnects, quits, breaks the protocol or the service stops.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let id = self.session.connection_id;
        if let Err(e) = self.serve(&mut shutdown).await {
            tracing::debug!(connection = id, error = %e, "resp connection closed");
        }
        let _ = self.stream.shutdown().await;
    }

    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> std::io::Result<()> {
        loop {
            match self.read(shutdown).await? {
                Some(0) | None => return Ok(()),
                Some(_) => {}
            }
            let close = self.process().await;
            if !self.reply.buf.is_empty() {
                self.stream.write_all(&self.reply.buf).await?;
                self.reply.buf.clear();
                if self.reply.buf.capacity() > KEEP_OUTPUT_CAPACITY {
                    self.reply.buf.shrink_to(KEEP_OUTPUT_CAPACITY);
                }
            }
            if close {
                return Ok(());
            }
        }
    }

    /// Reads what the socket has; `None` when the service is stopping. An idle connection holds
    /// no buffers while it waits, so thousands of quiet terminals cost little.
    async fn read(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> std::io::Result<Option<usize>> {
        loop {
            if self.input.is_empty() && self.input.capacity() > 0 {
                self.input = Vec::new();
            }
            if self.reply.buf.capacity() > 1024 {
                self.reply.buf = Vec::new();
            }
            tokio::select! {
                ready = self.stream.readable() => ready?,
                _ = super::stopped(shutdown) => return Ok(None),
            }
            let want = if self.wait_for > self.input.len() {
                (self.wait_for - self.input.len()).max(READ_CHUNK)
            } else {
                READ_CHUNK
            };
            self.input.reserve(want);
            match self.stream.try_read_buf(&mut self.input) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs every complete command in the input, then submits the writes among them. Returns
    /// true when the connection must be closed after the replies are written.
    async fn process(&mut self) -> bool {
        // Checked before anything runs, as Redis does, so whether the limit applies does not
        // depend on how the bytes were split into reads.
        let limit = self.query_buffer_limit();
        if self.input.len() > limit {
            tracing::warn!(
                connection = self.session.connection_id,
                bytes = self.input.len(),
                "closing resp client over the query buffer limit"
            );
            self.reply.error(&format!(
                "ERR query buffer limit reached ({limit} bytes): send smaller commands"
            ));
            self.flush_writes().await;
            return true;
        }
        if self.input.len() < self.wait_for {
            return false;
        }
        self.wait_for = 0;
        let mut consumed = 0;
        let mut close = false;
        while consumed < self.input.len() && !close {
            let limits = Limits {
                max_bulk_len: self.query_buffer_limit() as i64,
                authenticated: true,
            };
            self.args.clear();
            match parser::parse_command(&self.input[consumed..], limits, &mut self.args) {
                Parsed::Command { consumed: used, .. } => {
                    if !self.args.is_empty() {
                        let input = &self.input[consumed..];
                        let argv: Vec<&[u8]> = self
                            .args
                            .iter()
                            .map(|arg| match arg {
                                Arg::Range(start, end) => &input[*start..*end],
                                Arg::Owned(bytes) => bytes.as_slice(),
                            })
                            .collect();
                        let step = commands::execute(
                            &mut self.session,
                            &self.gateway,
                            &argv,
                            &mut self.reply,
                        );
                        match step {
                            Step::Replied => {}
                            Step::Close => close = true,
                            Step::Write(op, shape) => {
                                let resp3 = self.reply.resp3;
                                let stale_key = if resp3 && matches!(shape, ReplyShape::Hset { .. })
                                {
                                    StaleKey::of(&op)
                                } else {
                                    None
                                };
                                self.pending.push(PendingWrite {
                                    at: self.reply.buf.len(),
                                    shape,
                                    partition: op.kind().partition(),
                                    resp3,
                                    stale_key,
                                });
                                self.ops.push(op);
                            }
                        }
                    }
                    consumed += used;
                }
                Parsed::Incomplete { at_least } => {
                    self.wait_for = if at_least > 0 { consumed + at_least } else { 0 };
                    break;
                }
                Parsed::Error(error) => {
                    // Redis's answer to a broken request: the error, then the connection closes.
                    tracing::debug!(connection = self.session.connection_id, "{}", error.text());
                    self.reply
                        .error_bytes(&[&b"ERR "[..], &error.as_bytes()].concat());
                    close = true;
                }
            }
        }
        // Drop what ran; keep a partial command at the front of the buffer.
        if consumed > 0 {
            self.input.drain(..consumed);
            self.wait_for = self.wait_for.saturating_sub(consumed);
        }
        if self.wait_for >= BIG_ARG && self.input.capacity() < self.wait_for {
            self.input.reserve_exact(self.wait_for - self.input.len());
        }
        self.flush_writes().await;
        close
    }

    fn query_buffer_limit(&self) -> usize {
        if self.session.instance_id.is_some() {
            QUERY_BUFFER_LIMIT
        } else {
            UNAUTHENTICATED_QUERY_BUFFER_LIMIT
        }
    }

    /// Submits the writes of this read and puts each reply where its command stood.
    async fn flush_writes(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        let pending = std::mem::take(&mut self.pending);
        let expected = ops.len();
        let mut results: Vec<Result<Outcome, Rejection>> = Vec::with_capacity(expected);
        let mut throttle_ms = 0;
        let mut renumber_above: Option<u64> = None;
        // A read holds one terminal's writes unless it re-authenticated midway: one submission
        // per run of the same terminal, in order.
        let mut ops = ops.into_iter().peekable();
        while let Some(first) = ops.next() {
            let instance_id = first.instance_id.clone();
            let mut run = vec![first];
            while let Some(op) = ops.next_if(|op| op.instance_id == instance_id) {
                run.push(op);
            }
            let count = run.len();
            match self
                .gateway
                .submit(&instance_id, run, Transport::Resp)
                .await
            {
                Ok(submitted) => {
                    throttle_ms = throttle_ms.max(submitted.throttle_ms);
                    match (submitted.renumber_above, self.session.protocol) {
                        (Some(seq), 3) => renumber_above = renumber_above.max(Some(seq)),
                        // RESP2 has no pushes: keep it for a reply that can carry it.
                        (Some(seq), _) => self.gateway.renumber.note(&instance_id, seq),
                        (None, _) => {}
                    }
                    let mut outcomes = submitted.results;
                    // One reply per command, whatever happens: a missing one would shift every
                    // later reply onto the wrong command.
                    outcomes.resize_with(count, || {
                        Ok(Outcome::Unavailable {
                            reason: "no outcome for this update".into(),
                        })
                    });
                    results.extend(outcomes);
                }
                Err(rejection) => {
                    results.extend(std::iter::repeat_n(Err(rejection), count));
                }
            }
        }
        let mut out = Reply {
            buf: Vec::with_capacity(self.reply.buf.len() + 16 * expected),
            resp3: false,
        };
        if let (Some(seq), 3) = (renumber_above, self.session.protocol) {
            // Before this read's replies, so the client has it when it settles its batch.
            out.resp3 = true;
            out.push(2);
            out.bulk(b"renumber");
            out.int(i64::try_from(seq).unwrap_or(i64::MAX));
            out.resp3 = false;
        }
        let mut from = 0;
        for (write, result) in pending.iter().zip(&results) {
            out.buf.extend_from_slice(&self.reply.buf[from..write.at]);
            from = write.at;
            out.resp3 = write.resp3;
            let stale_key = match (result, &write.stale_key) {
                (Ok(Outcome::Stale { .. }), Some(key)) => Some(key.key()),
                _ => None,
            };
            writes::outcome_reply(
                &mut out,
                write.shape,
                write.partition,
                result,
                stale_key.as_deref(),
            );
        }
        out.buf.extend_from_slice(&self.reply.buf[from..]);
        out.resp3 = self.reply.resp3;
        if throttle_ms > 0 && self.session.protocol == 3 {
            // RESP3 clients hear "slow down" before the reject watermark; RESP2 clients only
            // get -TRYAGAIN once it is reached.
            out.push(2);
            out.bulk(b"throttle");
            out.int(i64::from(throttle_ms));
        }
        self.reply = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(body: OpBody) -> Op {
        Op {
            instance_id: Arc::from("T1"),
            seq: 1,
            fields: Vec::new(),
            body,
        }
    }

    #[test]
    fn a_stale_key_names_the_key_the_write_had() {
        for body in [
            OpBody::Instance { absent: vec![] },
            OpBody::Trade {
                ticket: "18446744073709551615".into(),
                closed: false,
                absent: vec![],
            },
            OpBody::Positions { tickets: vec![] },
        ] {
            let op = op(body);
            let key = StaleKey::of(&op).map(|key| key.key());
            assert_eq!(key, op.state_key());
            assert!(key.is_some());
        }
        let signal = op(OpBody::Signal {
            signal_id: "s-1".into(),
        });
        assert!(StaleKey::of(&signal).is_none());
    }
}
