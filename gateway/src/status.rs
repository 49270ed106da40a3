//! Terminal status from the last-seen index (`ris:seen`): online while heartbeats are recent,
//! stale after `policy.instance_stale_after_s`, offline once its instance state has expired.

use std::time::Duration;

use redis::Value;

use crate::backend::{server_error, Unavailable};
use crate::gateway::Gateway;
use crate::ops::Partition;
use crate::writer::{unix_ms, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Online,
    Stale,
    Offline,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Stale => "stale",
            Status::Offline => "offline",
        }
    }
}

/// How long a terminal stays online, and how long until it is offline, under `policy`.
pub fn windows(policy: &Policy) -> (Duration, Duration) {
    (
        Duration::from_secs(policy.instance_stale_after_s),
        Duration::from_secs(policy.ris_ttl_s),
    )
}

pub fn classify(last_seen_ms: u64, now_ms: u64, stale_after: Duration, ttl: Duration) -> Status {
    let age = now_ms.saturating_sub(last_seen_ms);
    if age < stale_after.as_millis() as u64 {
        Status::Online
    } else if age < ttl.as_millis() as u64 {
        Status::Stale
    } else {
        Status::Offline
    }
}

/// Every terminal ever seen (until pruned) with its last heartbeat time, newest first.
pub async fn last_seen(gateway: &Gateway) -> Result<Vec<(String, u64)>, Unavailable> {
    let mut cmd = redis::cmd("ZREVRANGE");
    cmd.arg(&gateway.policy.ris_seen_key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES");
    let reply = gateway.backend(Partition::Ris).exec_one(cmd).await?;
    if let Some(e) = server_error(&reply) {
        return Err(Unavailable(e));
    }
    let Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        let [member, score] = pair else { continue };
        let (Some(id), Some(seen)) = (
            text(member),
            text(score).and_then(|s| s.parse::<f64>().ok()),
        ) else {
            continue;
        };
        out.push((id, seen as u64));
    }
    Ok(out)
}

/// Terminals silent this long leave the last-seen index (and so the listing).
pub const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Drops terminals not seen for [`FORGET_AFTER`] from the last-seen index.
pub async fn prune_seen(gateway: &Gateway) -> Result<(), Unavailable> {
    let horizon = unix_ms().saturating_sub(FORGET_AFTER.as_millis() as u64);
    let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
    cmd.arg(&gateway.policy.ris_seen_key)
        .arg("-inf")
        .arg(format!("({horizon}"));
    gateway
        .backend(Partition::Ris)
        .exec_one(cmd)
        .await
        .map(|_| ())
}

pub async fn count_terminals(gateway: &Gateway) -> Result<Vec<(&'static str, usize)>, Unavailable> {
    let now = unix_ms();
    let (stale_after, ttl) = windows(&gateway.policy);
    let mut counts = [
        (Status::Online, 0),
        (Status::Stale, 0),
        (Status::Offline, 0),
    ];
    for (_, seen) in last_seen(gateway).await? {
        let status = classify(seen, now, stale_after, ttl);
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
            slot.1 += 1;
        }
    }
    Ok(counts.iter().map(|(s, n)| (s.name(), *n)).collect())
}

pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_age_of_the_last_heartbeat() {
        let stale = Duration::from_secs(30);
        let ttl = Duration::from_secs(120);
        assert_eq!(classify(1_000_000, 1_010_000, stale, ttl), Status::Online);
        assert_eq!(classify(1_000_000, 1_060_000, stale, ttl), Status::Stale);
        assert_eq!(classify(1_000_000, 1_200_000, stale, ttl), Status::Offline);
    }
}
