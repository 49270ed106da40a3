//! Keyspace notifications (`notify-keyspace-events`), as Redis's `notify.c`: a command that
//! changed a key calls [`Ctx::notify`] with the event's class and name; if the class is enabled
//! the event is published on `__keyspace@<db>__:<key>` (message: the event name, with `K`) and
//! on `__keyevent@<db>__:<event>` (message: the key, with `E`) through the pub/sub registry.
//!
//! Expiry (`x`, `expired`) is reported for keys removed by lazy or active expiry
//! ([`keys_expired`], fed by `multi::drain_expired`), eviction (`e`, `evicted`) by
//! [`key_evicted`], which the eviction code calls for each key it removes.

use crate::commands::Ctx;
use crate::pubsub::{self, Publisher};
use crate::server::Server;

/// Event classes, with Redis's bit values (`NOTIFY_*`).
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The flags of a `notify-keyspace-events` value (Redis's `keyspaceEventsStringToFlags`).
pub fn parse_flags(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'A' => class::ALL,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// Publishes one event if its class is enabled (Redis's `notifyKeyspaceEvent`).
pub fn notify(
    server: &mut Server,
    publisher: Option<Publisher>,
    event_class: u32,
    event: &str,
    key: &[u8],
    db: usize,
) {
    let flags = server.config.notify_keyspace_events;
    if flags & event_class == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
        return;
    }
    let mut publisher = publisher;
    if flags & class::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        let p = publisher.as_mut().map(|p| Publisher {
            client_id: p.client_id,
            out: &mut *p.out,
        });
        pubsub::publish(server, p, &channel, event.as_bytes());
    }
    if flags & class::KEYEVENT != 0 {
        let channel = format!("__keyevent@{db}__:{event}");
        pubsub::publish(server, publisher, channel.as_bytes(), key);
    }
}

impl Ctx<'_> {
    /// A command changed `key` in the selected database: publishes the event `event` of
    /// class `event_class` (a `notify::class` constant) if enabled.
    pub fn notify(&mut self, event_class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.notify_db(event_class, event, key, db);
    }

    /// [`Ctx::notify`] for a key of another database (MOVE, COPY DB).
    pub fn notify_db(&mut self, event_class: u32, event: &str, key: &[u8], db: usize) {
        if self.server.config.notify_keyspace_events & event_class == 0 {
            return;
        }
        let publisher = Publisher {
            client_id: self.client.id,
            out: &mut *self.out,
        };
        notify(self.server, Some(publisher), event_class, event, key, db);
    }
}

/// `expired` events for keys removed by lazy or active expiry.
pub fn keys_expired(server: &mut Server, db: usize, keys: &[crate::db::Key]) {
    if server.config.notify_keyspace_events & class::EXPIRED == 0 {
        return;
    }
    for key in keys {
        notify(server, None, class::EXPIRED, "expired", key, db);
    }
}

/// The eviction code calls this for each key it evicts (`evicted` event, class `e`).
pub fn key_evicted(server: &mut Server, db: usize, key: &[u8]) {
    notify(server, None, class::EVICTED, "evicted", key, db);
}
