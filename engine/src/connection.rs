//! One client connection: owns its input and output buffers, reads whatever the socket has,
//! executes every complete command in it and writes all the replies with one write. Runs as a
//! task on its engine's thread, so it borrows the engine state only between awaits.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::blocking::Waiter;
use crate::commands::{self, Ctx};
use crate::protocol::parser::{self, Arg, Limits, Parsed, BIG_ARG};
use crate::protocol::reply::Reply;
use crate::pubsub::Outbox;
use crate::server::{Client, Server};
use crate::util::refresh_cached_ms;

/// Read chunk size when nothing larger is known to be coming.
const READ_CHUNK: usize = 16 * 1024;

/// Replies larger than this are released after being written, so one big reply does not pin
/// memory for the life of the connection.
const KEEP_OUTPUT_CAPACITY: usize = 64 * 1024;

/// Unregisters a connection's client when the connection task ends, however it ends.
struct Registered {
    server: Rc<RefCell<Server>>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        // Unwinding has released any borrow the panicking frame held; `try_` keeps a second
        // panic (an abort) out of the way should that ever not hold.
        if let Ok(mut server) = self.server.try_borrow_mut() {
            server.unregister_client(self.id);
        }
    }
}

pub struct Connection<S> {
    stream: S,
    input: Vec<u8>,
    /// Bytes of `input` already consumed by executed commands.
    consumed: usize,
    /// Don't re-parse until the buffer holds at least this many bytes (a known-size bulk is
    /// still arriving).
    wait_for: usize,
    reply: Reply,
    args: Vec<Arg>,
    client: Rc<RefCell<Client>>,
    server: Rc<RefCell<Server>>,
    /// Set when the last command blocked (BLPOP & co): its waiter slot and timeout.
    blocked: Option<(Rc<Waiter>, Option<Duration>)>,
    /// Set when CLIENT PAUSE holds the next command.
    held: Option<crate::clientctl::Pause>,
    /// Pub/sub messages other commands produced for this client (pubsub.rs), and the buffer
    /// kept from the last write of them.
    outbox: Rc<Outbox>,
    outbox_spare: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S, client: Rc<RefCell<Client>>, server: Rc<RefCell<Server>>) -> Self {
        let outbox = client.borrow().outbox.clone();
        Connection {
            stream,
            input: Vec::new(),
            consumed: 0,
            wait_for: 0,
            reply: Reply::new(),
            args: Vec::with_capacity(8),
            client,
            server,
            blocked: None,
            held: None,
            outbox,
            outbox_spare: Vec::new(),
        }
    }

    /// Serves the client until it disconnects, quits, breaks the protocol or is killed.
    pub async fn run(mut self) {
        let id = self.client.borrow().id;
        // The client leaves the registry on every exit, a panic included, in the same drop
        // that closes its socket: CLIENT KILL or a pub/sub limit (which run on this thread)
        // can never shut down an fd number the system has since handed to someone else.
        let _registered = Registered {
            server: self.server.clone(),
            id,
        };
        if let Err(e) = self.serve().await {
            tracing::debug!(client = id, error = %e, "connection closed");
        }
        let _ = self.stream.shutdown().await;
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        loop {
            let close = if let Some((waiter, timeout)) = self.blocked.take() {
                if !self.wait_unblocked(&waiter, timeout).await? {
                    return Ok(());
                }
                // The blocked command's reply is in the buffer: go on with the pipeline.
                self.process(0)
            } else if let Some(pause) = self.held.take() {
                // CLIENT PAUSE: replies so far go out, then the held command
                // runs when the pause ends or is lifted.
                self.flush_replies().await?;
                self.wait_pause_end(pause).await;
                self.process(0)
            } else {
                let want = if self.wait_for > self.input.len() {
                    (self.wait_for - self.input.len()).max(READ_CHUNK)
                } else {
                    READ_CHUNK
                };
                self.input.reserve(want);
                // Pub/sub: messages for this client wake it as input does.
                let outbox = self.outbox.clone();
                tokio::select! {
                    n = self.stream.read_buf(&mut self.input) => {
                        let n = n?;
                        if n == 0 {
                            return Ok(());
                        }
                        self.process(n)
                    }
                    _ = outbox.wait() => false,
                }
            };
            if self.client.borrow().killed || self.outbox.is_closed() {
                // CLIENT KILL (or the idle timeout) from another client: like Redis's
                // freeClient, pending replies are dropped.
                return Ok(());
            }
            self.flush_replies().await?;
            if close {
                return Ok(());
            }
        }
    }

    /// Sleeps until the pause's deadline or CLIENT UNPAUSE.
    async fn wait_pause_end(&self, pause: crate::clientctl::Pause) {
        let changed = self.server.borrow().pause.changed.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(pause.until.into()) => {}
            _ = changed.notified() => {}
        }
    }

    /// Writes the pending replies, within `client-output-buffer-limit normal`:
    /// over the hard limit the client is closed unwritten; over the soft limit the write must
    /// finish within the soft seconds.
    async fn write_limited(&mut self) -> std::io::Result<()> {
        use crate::clientctl::{output_verdict, OutputVerdict};
        let limit = self.server.borrow().config.client_output_buffer_limits[0];
        let too_slow = || {
            let id = self.client.borrow().id;
            tracing::warn!(
                client = id,
                "client scheduled to be closed ASAP for overcoming of output buffer limits"
            );
            std::io::Error::other("output buffer limit reached")
        };
        match output_verdict(&limit, self.reply.buf.len()) {
            OutputVerdict::Write => self.stream.write_all(&self.reply.buf).await,
            OutputVerdict::Close => Err(too_slow()),
            OutputVerdict::WriteWithin(d) => {
                match tokio::time::timeout(d, self.stream.write_all(&self.reply.buf)).await {
                    Ok(done) => done,
                    Err(_) => Err(too_slow()),
                }
            }
        }
    }

    async fn flush_replies(&mut self) -> std::io::Result<()> {
        // Messages produced before this batch's replies go out first.
        self.flush_outbox().await?;
        if !self.reply.buf.is_empty() {
            // Persistence: the writes these replies acknowledge reach the append
            // only file (and the disk under `appendfsync always`) before the replies leave.
            crate::aof::flush(&mut self.server.borrow_mut());
            self.write_limited().await?;
            {
                let mut server = self.server.borrow_mut();
                server.stats.net_output_bytes += self.reply.buf.len() as u64;
                server.stats.writes_processed += 1;
            }
            self.reply.buf.clear();
            if self.reply.buf.capacity() > KEEP_OUTPUT_CAPACITY {
                self.reply.buf.shrink_to(KEEP_OUTPUT_CAPACITY);
            }
        }
        self.client.borrow_mut().reply_buffer_cap = self.reply.buf.capacity();
        Ok(())
    }

    /// Writes the waiting pub/sub messages. While a write is pending they count as in flight,
    /// so the output buffer limit sees them.
    async fn flush_outbox(&mut self) -> std::io::Result<()> {
        if !self.outbox.has_data() {
            return Ok(());
        }
        let mut chunk = self.outbox.take(std::mem::take(&mut self.outbox_spare));
        let mut written = 0;
        while written < chunk.len() {
            let n = self.stream.write(&chunk[written..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            written += n;
            self.outbox.written(chunk.len() - written);
        }
        {
            let mut server = self.server.borrow_mut();
            server.stats.net_output_bytes += chunk.len() as u64;
            server.stats.writes_processed += 1;
        }
        if chunk.capacity() <= KEEP_OUTPUT_CAPACITY {
            chunk.clear();
            self.outbox_spare = chunk;
        }
        Ok(())
    }

    /// Waits, without polling, until the blocked command is served (its reply is appended to
    /// the reply buffer) or times out (Redis's null array). Input that arrives meanwhile is
    /// buffered, not run. Returns false when the client disconnected.
    async fn wait_unblocked(
        &mut self,
        waiter: &Waiter,
        timeout: Option<Duration>,
    ) -> std::io::Result<bool> {
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let expired = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        loop {
            self.input.reserve(READ_CHUNK);
            tokio::select! {
                _ = waiter.notify.notified() => {
                    if let Some(reply) = waiter.reply.borrow_mut().take() {
                        self.reply.buf.extend_from_slice(&reply);
                        return Ok(true);
                    }
                }
                _ = &mut expired => {
                    self.server.borrow_mut().blocking.unblock(waiter.client_id);
                    // Served in the same tick as the timer fired: the reply wins.
                    match waiter.reply.borrow_mut().take() {
                        Some(reply) => self.reply.buf.extend_from_slice(&reply),
                        None => self.reply.null_array(),
                    }
                    return Ok(true);
                }
                read = self.stream.read_buf(&mut self.input) => {
                    if read? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Executes every complete command in the input. Returns true when the connection must be
    /// closed after the replies are written.
    fn process(&mut self, just_read: usize) -> bool {
        let mut server = self.server.borrow_mut();
        let mut client = self.client.borrow_mut();
        server.stats.net_input_bytes += just_read as u64;
        server.stats.reads_processed += 1;
        client.last_interaction = Instant::now();
        // Checked right after the read and before anything runs, as Redis does: otherwise an
        // oversized request that arrives in one read would execute, and whether the limit
        // applies would depend on how the bytes were split.
        if self.query_buffer_over_limit(&server, client.id) {
            return true;
        }
        // While the batch runs, its bytes are the query buffer (as Redis's `qbuf` shows).
        client.query_buffer_len = self.input.len() - self.consumed;
        client.query_buffer_cap = self.input.capacity();
        client.reply_buffer_cap = self.reply.buf.capacity();
        if client.killed {
            return true;
        }
        if self.input.len() < self.wait_for {
            return false;
        }
        self.wait_for = 0;
        let mut close = false;
        // One clock read per batch: commands of one pipeline see the same time, as they would
        // if they had arrived together.
        let batch_ms = refresh_cached_ms();
        // One argument vector reused for every command of the batch.
        let mut argv: Vec<&[u8]> = Vec::with_capacity(8);
        let input = &self.input;
        loop {
            if self.consumed >= input.len() || client.close_after_reply || server.shutdown_requested
            {
                break;
            }
            let limits = Limits {
                max_bulk_len: server.config.proto_max_bulk_len,
                authenticated: client.authenticated,
            };
            self.args.clear();
            let unparsed = &input[self.consumed..];
            match parser::parse_command(unparsed, limits, &mut self.args) {
                Parsed::Command { consumed, .. } => {
                    if !self.args.is_empty() {
                        let base = self.consumed;
                        // CLIENT PAUSE: a held command stays unparsed until the
                        // pause ends.
                        let name = match &self.args[0] {
                            Arg::Range(s, e) => &input[base + s..base + e],
                            Arg::Owned(v) => v.as_slice(),
                        };
                        if let Some(pause) = server.pause.holding(name) {
                            self.held = Some(pause);
                            break;
                        }
                        let reply_mark = self.reply.buf.len();
                        let mut ctx = Ctx {
                            server: &mut server,
                            client: &mut client,
                            out: &mut self.reply,
                            now_ms: batch_ms,
                        };
                        if self.args.iter().all(|a| matches!(a, Arg::Range(..))) {
                            argv.clear();
                            argv.extend(self.args.iter().filter_map(|a| match a {
                                Arg::Range(s, e) => Some(&input[base + s..base + e]),
                                Arg::Owned(_) => None,
                            }));
                            commands::execute(&mut ctx, &argv);
                        } else {
                            // Inline commands (unquoted copies) are rare: a vector of their own.
                            let inline: Vec<&[u8]> = self
                                .args
                                .iter()
                                .map(|a| match a {
                                    Arg::Range(s, e) => &input[base + s..base + e],
                                    Arg::Owned(v) => v.as_slice(),
                                })
                                .collect();
                            commands::execute(&mut ctx, &inline);
                        }
                        // CLIENT REPLY OFF / SKIP.
                        if crate::clientctl::replies_dropped(&mut client) {
                            self.reply.buf.truncate(reply_mark);
                        }
                    }
                    self.consumed += consumed;
                    if let Some(request) = client.block_request.take() {
                        let mut saved: Vec<Vec<u8>> = self
                            .args
                            .iter()
                            .map(|a| match a {
                                Arg::Range(s, e) => input[base_of(consumed, self.consumed) + s
                                    ..base_of(consumed, self.consumed) + e]
                                    .to_vec(),
                                Arg::Owned(v) => v.clone(),
                            })
                            .collect();
                        for (i, text) in &request.rewrites {
                            if let Some(arg) = saved.get_mut(*i) {
                                arg.clone_from(text);
                            }
                        }
                        let timeout = request.timeout;
                        let db = client.db;
                        let waiter = server.blocking.block(client.id, db, request, saved);
                        self.blocked = Some((waiter, timeout));
                        // Like Redis, a blocked client runs nothing more until unblocked.
                        break;
                    }
                }
                Parsed::Incomplete { at_least } => {
                    self.wait_for = if at_least > 0 {
                        self.consumed + at_least
                    } else {
                        0
                    };
                    break;
                }
                Parsed::Error(msg) => {
                    // Redis counts it as an ERR reply, sends it and closes the connection.
                    server.stats.record_error("ERR Protocol");
                    self.reply
                        .error_bytes(&[&b"ERR "[..], &msg.as_bytes()].concat());
                    tracing::debug!(client = client.id, "{}", msg.text());
                    close = true;
                    break;
                }
            }
        }
        if client.close_after_reply {
            close = true;
        }
        // Drop what was executed; keep the partial command at the front of the buffer.
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            if self.wait_for > 0 {
                self.wait_for -= self.consumed;
            }
            self.consumed = 0;
        }
        if self.input.is_empty() && self.input.capacity() > READ_CHUNK * 4 {
            self.input = Vec::new();
        }
        if self.wait_for >= BIG_ARG && self.input.capacity() < self.wait_for {
            self.input.reserve_exact(self.wait_for - self.input.len());
        }
        client.query_buffer_len = self.input.len();
        close
    }

    fn query_buffer_over_limit(&self, server: &Server, client_id: u64) -> bool {
        let over = self.input.len() > server.config.query_buffer_limit;
        if over {
            tracing::warn!(
                client = client_id,
                bytes = self.input.len(),
                "closing client that reached max query buffer length (client-query-buffer-limit)"
            );
        }
        over
    }
}

/// Start of the command just consumed, from its length and the new consumed offset.
fn base_of(len: usize, consumed_after: usize) -> usize {
    consumed_after - len
}
