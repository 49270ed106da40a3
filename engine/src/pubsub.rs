//! Pub/sub: the server-wide channel and pattern registry, message delivery to other
//! connections, and the `client-output-buffer-limit pubsub` guard.
//!
//! Delivery. A message is produced by some command (PUBLISH, a keyspace notification) on the
//! engine thread while the subscriber's connection task is parked. Each client owns an
//! [`Outbox`]: the engine appends encoded messages to it and wakes the client's task, which
//! writes the outbox before its own replies (messages produced earlier go out first). When the
//! subscriber is the client running the command, the message goes straight into its reply
//! buffer, before the command's own reply, as in Redis.
//!
//! Slow subscribers. The bytes waiting in an outbox (plus those being written) are the client's
//! output buffer. Past the hard limit, or past the soft limit for longer than its seconds, the
//! client is dropped from every channel and its connection closed — memory never grows
//! without bound and the publisher is not slowed down (Redis's `checkClientOutputBufferLimits`
//! + `freeClientAsync`).

// Unsafe code here: shutdown(2) on a subscriber over its output limit; each block says why it is
// sound.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::config::BufferLimit;
use crate::protocol::reply::Reply;
use crate::server::Server;
use crate::util::glob_match;

/// Index of the pubsub class in `Config::client_output_buffer_limits` (normal, replica, pubsub).
const PUBSUB_CLASS: usize = 2;

/// Messages waiting to be written to one client.
pub struct Outbox {
    buf: RefCell<Vec<u8>>,
    /// Bytes taken from `buf` by the connection and not yet written to the socket.
    in_flight: Cell<usize>,
    notify: Notify,
    /// Closed for going over the output buffer limit: the connection must end.
    closed: Cell<bool>,
    /// Since when the buffer is over the soft limit.
    soft_since: Cell<Option<Instant>>,
    /// The RESP version messages are encoded in (the client's, updated after each command).
    resp3: Cell<bool>,
    /// The client's socket, shut down to break a write stuck on a subscriber that stopped
    /// reading.
    fd: i32,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("pending", &self.pending())
            .field("closed", &self.closed.get())
            .finish()
    }
}

impl Outbox {
    pub fn new(fd: i32) -> Self {
        Outbox {
            buf: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
            notify: Notify::new(),
            closed: Cell::new(false),
            soft_since: Cell::new(None),
            resp3: Cell::new(false),
            fd,
        }
    }

    /// Output buffer bytes as the limit counts them.
    pub fn pending(&self) -> usize {
        self.buf.borrow().len() + self.in_flight.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub fn has_data(&self) -> bool {
        !self.buf.borrow().is_empty()
    }

    /// Resolves when a message was appended (or the outbox was closed).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Takes the waiting bytes for writing; they count as in flight until [`Outbox::written`].
    pub fn take(&self, spare: Vec<u8>) -> Vec<u8> {
        let out = std::mem::replace(&mut *self.buf.borrow_mut(), spare);
        self.in_flight.set(out.len());
        out
    }

    /// `remaining` bytes of the taken chunk are still to be written.
    pub fn written(&self, remaining: usize) {
        self.in_flight.set(remaining);
    }

    pub fn set_resp3(&self, resp3: bool) {
        self.resp3.set(resp3);
    }

    /// Appends one encoded message and checks the limit. Returns false when the client is
    /// (now) closed.
    fn append(&self, message: &[u8], limit: BufferLimit, client_id: u64) -> bool {
        if self.closed.get() {
            return false;
        }
        self.buf.borrow_mut().extend_from_slice(message);
        if over_limit(self, limit) {
            self.close(client_id);
            return false;
        }
        self.notify.notify_one();
        true
    }

    fn close(&self, client_id: u64) {
        tracing::warn!(
            client = client_id,
            pending = self.pending(),
            "client closed for overcoming of output buffer limits (client-output-buffer-limit pubsub)"
        );
        self.closed.set(true);
        // The waiting messages are dropped, as Redis frees the client's reply list.
        *self.buf.borrow_mut() = Vec::new();
        if self.fd >= 0 {
            // SAFETY: the fd is the client's live socket, owned by its connection task on this
            // thread; shutdown does not close it, so it cannot be reused meanwhile. It wakes a
            // write stuck on a full socket buffer.
            unsafe {
                libc::shutdown(self.fd, libc::SHUT_RDWR);
            }
        }
        self.notify.notify_one();
    }
}

/// Redis's `checkClientOutputBufferLimits`: over the hard limit, or over the soft limit for
/// more than `soft_seconds`.
fn over_limit(outbox: &Outbox, limit: BufferLimit) -> bool {
    let used = outbox.pending() as u64;
    if limit.hard > 0 && used >= limit.hard {
        return true;
    }
    if limit.soft > 0 && used >= limit.soft {
        let now = Instant::now();
        match outbox.soft_since.get() {
            None => outbox.soft_since.set(Some(now)),
            Some(since) => {
                if now.duration_since(since).as_secs_f64() > limit.soft_seconds as f64 {
                    return true;
                }
            }
        }
    } else {
        outbox.soft_since.set(None);
    }
    false
}

/// One subscribed client.
#[derive(Debug)]
struct Subscriber {
    outbox: Rc<Outbox>,
    /// In subscription order (UNSUBSCRIBE without arguments answers in this order).
    channels: Vec<Box<[u8]>>,
    patterns: Vec<Box<[u8]>>,
}

impl Subscriber {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// The server-wide registry.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: HashMap<Box<[u8]>, Vec<u64>>,
    /// Patterns in the order they were first subscribed, with their clients.
    patterns: Vec<(Box<[u8]>, Vec<u64>)>,
    subscribers: HashMap<u64, Subscriber>,
}

impl PubSub {
    /// The client has at least one subscription (RESP2 subscribed mode).
    #[inline]
    pub fn is_subscribed(&self, client_id: u64) -> bool {
        !self.subscribers.is_empty() && self.subscribers.contains_key(&client_id)
    }

    /// Channels plus patterns of a client (the count in (un)subscribe replies).
    pub fn count(&self, client_id: u64) -> usize {
        self.subscribers
            .get(&client_id)
            .map_or(0, Subscriber::count)
    }

    pub fn num_patterns(&self) -> usize {
        self.patterns.len()
    }

    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Subscribers of one channel (PUBSUB NUMSUB).
    pub fn channel_subscribers(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, Vec::len)
    }

    /// Active channels matching a pattern (PUBSUB CHANNELS).
    pub fn channels_matching(&self, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        self.channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .map(|c| &c[..])
            .collect()
    }

    fn subscriber(&mut self, client_id: u64, outbox: &Rc<Outbox>) -> &mut Subscriber {
        self.subscribers
            .entry(client_id)
            .or_insert_with(|| Subscriber {
                outbox: outbox.clone(),
                channels: Vec::new(),
                patterns: Vec::new(),
            })
    }

    /// Returns true if the client was not yet subscribed to the channel.
    pub fn subscribe(&mut self, client_id: u64, outbox: &Rc<Outbox>, channel: &[u8]) -> bool {
        let sub = self.subscriber(client_id, outbox);
        if sub.channels.iter().any(|c| &c[..] == channel) {
            return false;
        }
        sub.channels.push(channel.into());
        self.channels
            .entry(channel.into())
            .or_default()
            .push(client_id);
        true
    }

    pub fn psubscribe(&mut self, client_id: u64, outbox: &Rc<Outbox>, pattern: &[u8]) -> bool {
        let sub = self.subscriber(client_id, outbox);
        if sub.patterns.iter().any(|p| &p[..] == pattern) {
            return false;
        }
        sub.patterns.push(pattern.into());
        match self.patterns.iter_mut().find(|(p, _)| &p[..] == pattern) {
            Some((_, ids)) => ids.push(client_id),
            None => self.patterns.push((pattern.into(), vec![client_id])),
        }
        true
    }

    /// Returns true if the client was subscribed to the channel.
    pub fn unsubscribe(&mut self, client_id: u64, channel: &[u8]) -> bool {
        if !self.drop_own(client_id, channel, |s| &mut s.channels) {
            return false;
        }
        if let Some(ids) = self.channels.get_mut(channel) {
            ids.retain(|&id| id != client_id);
            if ids.is_empty() {
                self.channels.remove(channel);
            }
        }
        self.forget_if_idle(client_id);
        true
    }

    pub fn punsubscribe(&mut self, client_id: u64, pattern: &[u8]) -> bool {
        if !self.drop_own(client_id, pattern, |s| &mut s.patterns) {
            return false;
        }
        if let Some(j) = self.patterns.iter().position(|(p, _)| &p[..] == pattern) {
            let ids = &mut self.patterns[j].1;
            ids.retain(|&id| id != client_id);
            if ids.is_empty() {
                self.patterns.remove(j);
            }
        }
        self.forget_if_idle(client_id);
        true
    }

    /// Takes `name` off the client's own list of channels or patterns (`list` picks which);
    /// false if it was not on it.
    fn drop_own(
        &mut self,
        client_id: u64,
        name: &[u8],
        list: fn(&mut Subscriber) -> &mut Vec<Box<[u8]>>,
    ) -> bool {
        let Some(sub) = self.subscribers.get_mut(&client_id) else {
            return false;
        };
        let names = list(sub);
        let Some(i) = names.iter().position(|n| &n[..] == name) else {
            return false;
        };
        names.remove(i);
        true
    }

    fn forget_if_idle(&mut self, client_id: u64) {
        if self
            .subscribers
            .get(&client_id)
            .is_some_and(|s| s.count() == 0)
        {
            self.subscribers.remove(&client_id);
        }
    }

    /// The client's channels, in subscription order.
    pub fn channels_of(&self, client_id: u64) -> Vec<Box<[u8]>> {
        self.subscribers
            .get(&client_id)
            .map_or_else(Vec::new, |s| s.channels.clone())
    }

    pub fn patterns_of(&self, client_id: u64) -> Vec<Box<[u8]>> {
        self.subscribers
            .get(&client_id)
            .map_or_else(Vec::new, |s| s.patterns.clone())
    }

    /// Drops every subscription of a client, without telling it (disconnect, RESET, limit).
    pub fn remove_client(&mut self, client_id: u64) {
        for c in self.channels_of(client_id) {
            self.unsubscribe(client_id, &c);
        }
        for p in self.patterns_of(client_id) {
            self.punsubscribe(client_id, &p);
        }
        self.subscribers.remove(&client_id);
    }

    /// Keeps the encoding of a subscriber's messages in step with its protocol (HELLO).
    pub fn set_resp3(&self, client_id: u64, resp3: bool) {
        if let Some(s) = self.subscribers.get(&client_id) {
            s.outbox.set_resp3(resp3);
        }
    }
}

/// Who is running the command that publishes: its messages go to its own reply buffer.
pub struct Publisher<'a> {
    pub client_id: u64,
    pub out: &'a mut Reply,
}

/// Delivers `message` on `channel` to every subscriber of the channel and of each matching
/// pattern; returns the number of deliveries (PUBLISH's reply).
pub fn publish(
    server: &mut Server,
    mut publisher: Option<Publisher>,
    channel: &[u8],
    message: &[u8],
) -> usize {
    let registry = &server.pubsub;
    if registry.subscribers.is_empty() {
        return 0;
    }
    let limit = server.config.client_output_buffer_limits[PUBSUB_CLASS];
    let mut receivers = 0;
    let mut dropped = Vec::new();
    let mut deliver = |id: u64, pattern: Option<&[u8]>| {
        receivers += 1;
        if let Some(p) = publisher.as_mut().filter(|p| p.client_id == id) {
            encode_message(p.out, pattern, channel, message);
            return;
        }
        let Some(sub) = registry.subscribers.get(&id) else {
            return;
        };
        let mut encoded = Reply::new();
        encoded.resp3 = sub.outbox.resp3.get();
        encode_message(&mut encoded, pattern, channel, message);
        if !sub.outbox.append(&encoded.buf, limit, id) {
            dropped.push(id);
        }
    };
    if let Some(ids) = registry.channels.get(channel) {
        for &id in ids {
            deliver(id, None);
        }
    }
    for (pattern, ids) in &registry.patterns {
        if glob_match(pattern, channel, false) {
            for &id in ids {
                deliver(id, Some(pattern));
            }
        }
    }
    for id in dropped {
        server.pubsub.remove_client(id);
        if let Some(c) = server.clients.get(&id) {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.killed = true;
            }
        }
    }
    receivers
}

/// `message <channel> <payload>` or `pmessage <pattern> <channel> <payload>`, as a push.
fn encode_message(out: &mut Reply, pattern: Option<&[u8]>, channel: &[u8], message: &[u8]) {
    match pattern {
        None => {
            out.push(3);
            out.bulk(b"message");
        }
        Some(p) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(p);
        }
    }
    out.bulk(channel);
    out.bulk(message);
}

/// RESP2 subscribed mode allows only these commands (Redis's processCommand check).
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}
