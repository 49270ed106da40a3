//! Finding a Sentinel-managed master: ask the sentinels in turn for the master's address, then
//! confirm with ROLE on the node itself, since a sentinel cut off from its peers can still name
//! a demoted master. Every step is bounded by the caller's timeout per node, so one dead or
//! black-holed sentinel costs one timeout and the next is asked; no step can hang.
//!
//! Also watches what the sentinels announce: a failover starting (writes then wait, so none
//! lands on a master about to be demoted) and the switch to the new master, followed at once
//! instead of at the next failed write.

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{Client, Value};

use crate::node::{open, query, within, Timeouts};
use crate::url::SentinelAddress;

/// A connection to the master, and where it is.
pub struct Master {
    pub conn: MultiplexedConnection,
    /// `ip:port`, for logs.
    pub addr: String,
    /// Which sentinel named it, to ask first next time.
    pub sentinel: usize,
}

/// Asks the sentinels, starting with `first`, for the master and connects to it once ROLE
/// says `master`. The error lists what each sentinel said, so a wrong master name, an
/// unreachable seed list and a failover in progress read differently.
pub async fn find_master(
    address: &SentinelAddress,
    first: usize,
    timeouts: Timeouts,
) -> Result<Master, String> {
    let n = address.sentinels.len();
    let mut said = Vec::with_capacity(n);
    for k in 0..n {
        let i = (first + k) % n;
        let (host, port) = &address.sentinels[i];
        match ask(address, i, timeouts).await {
            Ok(master) => return Ok(master),
            Err(why) => said.push(format!("{host}:{port}: {why}")),
        }
    }
    Err(format!(
        "no sentinel gave a master named {:?}: {}",
        address.master,
        said.join("; ")
    ))
}

async fn ask(address: &SentinelAddress, i: usize, timeouts: Timeouts) -> Result<Master, String> {
    let timeout = timeouts.connect;
    let mut sentinel = open(address.sentinel(i), Timeouts::both(timeout)).await?;
    let mut cmd = redis::cmd("SENTINEL");
    cmd.arg("GET-MASTER-ADDR-BY-NAME").arg(&address.master);
    let (ip, port) = match query(&mut sentinel, &cmd, timeout).await? {
        Value::Nil => return Err(format!("monitors no master named {:?}", address.master)),
        Value::Array(parts) if parts.len() == 2 => {
            let ip = text(&parts[0]).ok_or("an unreadable address")?;
            let port = text(&parts[1])
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or("an unreadable port")?;
            (ip, port)
        }
        Value::ServerError(e) => {
            return Err(format!("{}: {}", e.code(), e.details().unwrap_or("")))
        }
        other => return Err(format!("an unexpected reply {other:?}")),
    };
    let addr = format!("{ip}:{port}");
    let mut conn = open(address.data_node(&ip, port), timeouts)
        .await
        .map_err(|e| format!("names {addr}, which cannot be reached: {e}"))?;
    let role = match query(&mut conn, &redis::cmd("ROLE"), timeout).await {
        Ok(Value::Array(parts)) => parts.first().and_then(text).unwrap_or_default(),
        Ok(other) => return Err(format!("names {addr}, whose ROLE reply is {other:?}")),
        Err(e) => return Err(format!("names {addr}, whose ROLE failed: {e}")),
    };
    if role != "master" {
        return Err(format!(
            "names {addr}, which says it is a {role} (a failover in progress?)"
        ));
    }
    Ok(Master {
        conn,
        addr,
        sentinel: i,
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// What the sentinels announce about the watched master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// A sentinel starts failing the master over (`+try-failover`): writes sent to it from now
    /// on may be lost with it, since the replica being promoted stops copying them.
    FailoverStarted,
    /// The failover is over and the master is now at `ip:port` (`+switch-master`).
    Switched(String),
    /// The failover ended without a switch (`+failover-end-for-timeout`, an abort).
    FailoverEnded,
}

/// The channels the watch subscribes to.
const CHANNELS: [&str; 5] = [
    "+try-failover",
    "+switch-master",
    "+failover-end-for-timeout",
    "-failover-abort-no-good-slave",
    "-failover-abort-not-elected",
];

/// Listens to every sentinel at once (the one that leads a failover is the only one to say it
/// starts) and calls `heard` with each announcement about `address.master`. A sentinel whose
/// connection drops is subscribed to again, `retry` later. Runs until the task is dropped.
pub async fn watch(
    address: SentinelAddress,
    timeout: Duration,
    retry: Duration,
    heard: impl Fn(Announcement),
) {
    let heard = &heard;
    let address = &address;
    let listeners = (0..address.sentinels.len()).map(|i| async move {
        loop {
            if let Err(e) = listen(address, i, timeout, heard).await {
                let (host, port) = &address.sentinels[i];
                tracing::debug!(sentinel = %format!("{host}:{port}"), error = %e, "sentinel watch lost; subscribing again");
            }
            tokio::time::sleep(retry).await;
        }
    });
    futures_util::future::join_all(listeners).await;
}

async fn listen(
    address: &SentinelAddress,
    i: usize,
    timeout: Duration,
    heard: &impl Fn(Announcement),
) -> Result<(), String> {
    let client = Client::open(address.sentinel(i)).map_err(|e| e.to_string())?;
    let mut pubsub = within(timeout, client.get_async_pubsub()).await?;
    within(timeout, pubsub.subscribe(&CHANNELS[..])).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload().map_err(|e| e.to_string())?;
        if let Some(announcement) = announcement(message.get_channel_name(), &payload, address) {
            heard(announcement);
        }
    }
    Err("the subscription ended".into())
}

/// The announcement a sentinel event is, if it is about `address.master`.
fn announcement(channel: &str, payload: &str, address: &SentinelAddress) -> Option<Announcement> {
    let words: Vec<&str> = payload.split(' ').collect();
    match (channel, &words[..]) {
        // "<master name> <old ip> <old port> <new ip> <new port>"
        ("+switch-master", [name, _, _, ip, port]) if *name == address.master => {
            Some(Announcement::Switched(format!("{ip}:{port}")))
        }
        // "master <master name> <ip> <port>"
        ("+try-failover", ["master", name, ..]) if *name == address.master => {
            Some(Announcement::FailoverStarted)
        }
        (_, ["master", name, ..]) if *name == address.master && channel != "+try-failover" => {
            Some(Announcement::FailoverEnded)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_announcements_of_its_master_only() {
        let Ok(crate::Address::Sentinel(ris)) = crate::parse("redis+sentinel://s1/ris") else {
            panic!("a sentinel address");
        };
        let heard = |channel, payload| announcement(channel, payload, &ris);
        assert_eq!(
            heard("+switch-master", "ris 10.0.0.1 6379 10.0.0.2 6380"),
            Some(Announcement::Switched("10.0.0.2:6380".into()))
        );
        assert_eq!(
            heard("+switch-master", "rts 10.0.0.1 6379 10.0.0.2 6380"),
            None
        );
        assert_eq!(
            heard("+try-failover", "master ris 10.0.0.1 6379"),
            Some(Announcement::FailoverStarted)
        );
        assert_eq!(heard("+try-failover", "master rts 10.0.0.1 6379"), None);
        assert_eq!(
            heard("-failover-abort-no-good-slave", "master ris 10.0.0.1 6379"),
            Some(Announcement::FailoverEnded)
        );
        assert_eq!(heard("+switch-master", "garbled"), None);
    }
}
