//! The read-back at the end of a run: every partition is read directly (not through the
//! service) and checked against what the terminals' ledgers say was acknowledged.
//!
//! - A state key (instance hash, trade hash) must hold a snapshot this run sent, field for field,
//!   at least as new as every acknowledged update of the key, newer meaning the higher
//!   `(epoch, seq)` of the terminal's numbering (ledger): after a reset the numbers alone do not
//!   order what the terminal made. A missing key loses its acknowledged updates; an older
//!   snapshot than acknowledged means a stale update overwrote a newer one, or the newer one was
//!   dropped (an acknowledged `stale` that was in fact newer than what is stored): `stale`.
//! - A trade whose close was acknowledged must not be stored open (`open_but_closed`, also
//!   counted in `stale`): the position would stay open in every reader's view for good.
//! - A closed trade must carry the 30-day TTL (less the time since its close was acknowledged),
//!   an open one none, an instance hash its heartbeat TTL.
//! - Every acknowledged signal must be in the stream exactly once, unless MAXLEN trimmed it: the
//!   stream is at its cap and the signal is older than its first entry.

use std::collections::HashMap;

use serde::Serialize;
use tradestate_backend::Connection;
use tradestate_mt5_bridge::{keys, Partition};

use crate::ledger::{fingerprint, unix_ms, KeyRecord, Ledger, Numbered, StateKey};

/// Where the partitions are and what the service's policy is.
#[derive(Debug, Clone)]
pub struct Targets {
    pub ris_url: String,
    pub rts_url: String,
    pub rtss_url: String,
    /// The password of the partitions' default user where their URLs carry none (the
    /// service's `<data_dir>/engine-password` for embedded engines outside development mode).
    pub password: Option<String>,
    /// Certificates for the partitions whose URLs use TLS (`--tls-ca-file`, ...).
    pub tls: Option<tradestate_backend::Tls>,
    pub stream: String,
    pub maxlen: u64,
    pub closed_ttl_s: u64,
    pub ris_ttl_s: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub acked: u64,
    pub verified: u64,
    pub lost: u64,
    /// Of `lost`, how many were signals.
    pub lost_signals: u64,
    pub duplicates: u64,
    pub stale: u64,
    /// Trades stored open although the terminal's close of them was acknowledged.
    pub open_but_closed: u64,
    /// Acknowledged signals trimmed from the stream by MAXLEN (accounted, not lost).
    pub trimmed: u64,
    /// Keys whose TTL is not what the policy says.
    pub ttl_wrong: u64,
    /// Keys holding fields no snapshot of this run had with that `seq`.
    pub corrupt: u64,
    pub keys_checked: u64,
    pub stream_entries_read: u64,
    /// The first problems found, to show where to look.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.stale == 0
            && self.open_but_closed == 0
            && self.ttl_wrong == 0
            && self.corrupt == 0
            && self.verified + self.trimmed == self.acked
    }

    pub fn line(&self) -> String {
        format!(
            "acked={} verified={} lost={} duplicates={} stale={} open_but_closed={} (trimmed by MAXLEN={}, wrong TTL={}, corrupt={})",
            self.acked,
            self.verified,
            self.lost,
            self.duplicates,
            self.stale,
            self.open_but_closed,
            self.trimmed,
            self.ttl_wrong,
            self.corrupt
        )
    }

    fn problem(&mut self, text: impl FnOnce() -> String) {
        if self.problems.len() < 20 {
            self.problems.push(text());
        }
    }
}

/// The partition at `url` (any backend URL the service takes: Sentinel, Cluster and TLS included),
/// with `password` where the URL carries none and `tls`'s certificates if the URL uses TLS.
async fn connect(url: &str, targets: &Targets, what: &str) -> Result<Connection, String> {
    let url = match &targets.password {
        Some(password) => tradestate_backend::with_password(url, password),
        None => url.to_string(),
    };
    let uses_tls = tradestate_backend::parse(&url).is_ok_and(|a| a.uses_tls());
    let tls = targets.tls.as_ref().filter(|_| uses_tls);
    tradestate_backend::connect_with(&url, tls, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("verify: the {what} partition: {e}"))
}

/// Per step of reaching a partition (connect, each sentinel, ROLE).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Terminals read per pipeline.
const CHUNK: usize = 200;

pub async fn verify(
    terminals: &[(&str, &Ledger)],
    targets: &Targets,
) -> Result<Verification, String> {
    let mut ris = connect(&targets.ris_url, targets, Partition::Ris.name()).await?;
    let mut rts = connect(&targets.rts_url, targets, Partition::Rts.name()).await?;
    let mut rtss = connect(&targets.rtss_url, targets, Partition::Rtss.name()).await?;
    let mut v = Verification::default();
    for chunk in terminals.chunks(CHUNK) {
        verify_states(chunk, targets, &mut ris, &mut rts, &mut v).await?;
    }
    verify_signals(terminals, targets, &mut rtss, &mut v).await?;
    Ok(v)
}

/// The key the gateway stores a state under: the contract's key functions, the same the
/// gateway writes with, so the read-back cannot look at other keys than the writes went to.
fn redis_key(instance_id: &str, key: &StateKey) -> String {
    match key {
        StateKey::Instance => keys::instance(instance_id),
        StateKey::Trade(ticket) => keys::trade(instance_id, ticket),
    }
}

type Stored = (HashMap<Vec<u8>, Vec<u8>>, i64);

/// Runs a pipeline of `HGETALL k, PTTL k` pairs and returns one (fields, pttl) per key.
async fn read_pairs(
    pipe: redis::Pipeline,
    conn: &mut Connection,
    what: &str,
) -> Result<Vec<Stored>, String> {
    let values: Vec<redis::Value> = pipe
        .query_async(conn)
        .await
        .map_err(|e| format!("verify: reading {what}: {e}"))?;
    values
        .chunks(2)
        .map(|pair| match pair {
            [fields, pttl] => Ok((
                redis::from_redis_value(fields).map_err(|e| format!("verify: {what}: {e}"))?,
                redis::from_redis_value(pttl).map_err(|e| format!("verify: {what}: {e}"))?,
            )),
            _ => Err(format!("verify: {what}: odd number of replies")),
        })
        .collect()
}

async fn verify_states(
    terminals: &[(&str, &Ledger)],
    targets: &Targets,
    ris: &mut Connection,
    rts: &mut Connection,
    v: &mut Verification,
) -> Result<(), String> {
    let mut wanted: Vec<(&str, &StateKey, &KeyRecord)> = Vec::new();
    for (id, ledger) in terminals {
        let mut keys: Vec<_> = ledger.keys.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        wanted.extend(keys.into_iter().map(|(key, record)| (*id, key, record)));
    }
    let mut ris_pipe = redis::pipe();
    let mut rts_pipe = redis::pipe();
    for (id, key, _) in &wanted {
        let pipe = match key {
            StateKey::Instance => &mut ris_pipe,
            StateKey::Trade(_) => &mut rts_pipe,
        };
        let name = redis_key(id, key);
        pipe.cmd("HGETALL").arg(&name).cmd("PTTL").arg(&name);
    }
    let ris_stored = read_pairs(ris_pipe, ris, "instance hashes").await?;
    let rts_stored = read_pairs(rts_pipe, rts, "trade hashes").await?;
    let (mut ris_stored, mut rts_stored) = (ris_stored.into_iter(), rts_stored.into_iter());
    let now = unix_ms();
    for (id, key, record) in wanted {
        let stored = match key {
            StateKey::Instance => ris_stored.next(),
            StateKey::Trade(_) => rts_stored.next(),
        };
        let Some((fields, pttl)) = stored else {
            return Err("verify: the engine answered fewer replies than asked".into());
        };
        v.keys_checked += 1;
        check_key(id, key, record, &fields, pttl, targets, now, v);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn check_key(
    id: &str,
    key: &StateKey,
    record: &KeyRecord,
    fields: &HashMap<Vec<u8>, Vec<u8>>,
    pttl: i64,
    targets: &Targets,
    now_ms: i64,
    v: &mut Verification,
) {
    let acked = record.acked.len() as u64;
    v.acked += acked;
    let name = redis_key(id, key);
    if fields.is_empty() {
        if acked > 0 {
            v.lost += acked;
            v.problem(|| format!("{name}: missing, {acked} acknowledged updates lost"));
        }
        return;
    }
    let stored_seq = fields
        .get(&b"seq"[..])
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u64>().ok());
    // The service adds who sent it and when it arrived; the rest is the terminal's snapshot.
    let own = fingerprint(
        fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_slice(), b"instance_id" | b"received_msc"))
            .map(|(k, v)| (k.as_slice(), v.as_slice())),
    );
    let Some(stored_seq) = stored_seq.filter(|&seq| record.sent_seq(seq)) else {
        v.corrupt += 1;
        v.lost += acked;
        v.problem(|| format!("{name}: holds seq {stored_seq:?}, which this run never sent"));
        return;
    };
    let Some(snapshot) = record.snapshot(stored_seq, own) else {
        v.corrupt += 1;
        v.lost += acked;
        v.problem(|| format!("{name}: seq {stored_seq} stored with fields other than were sent"));
        return;
    };
    let stored_at = Numbered {
        epoch: snapshot.epoch,
        seq: stored_seq,
    };
    let newer = record.acked.iter().filter(|&&a| a > stored_at).count() as u64;
    v.stale += newer;
    v.verified += acked - newer;
    if newer > 0 {
        v.problem(|| {
            let newest = record.max_acked().unwrap_or(stored_at);
            format!(
                "{name}: holds seq {stored_seq} (epoch {}) but seq {} (epoch {}) was acknowledged",
                stored_at.epoch, newest.seq, newest.epoch
            )
        });
    }
    if matches!(key, StateKey::Trade(_)) && record.close_acked && !snapshot.closed {
        v.open_but_closed += 1;
        v.problem(|| format!("{name}: stored open (seq {stored_seq}), its close was acknowledged"));
    }
    let ttl_ok = match key {
        StateKey::Instance => pttl > 0 && pttl <= targets.ris_ttl_s as i64 * 1000,
        StateKey::Trade(_) if snapshot.closed => {
            let full = targets.closed_ttl_s as i64 * 1000;
            // The TTL was set when the close was written, after it was first sent.
            let since_sent = (now_ms - snapshot.sent_unix_ms).max(0);
            pttl <= full && pttl >= full - since_sent - 1_000
        }
        StateKey::Trade(_) => pttl == -1,
    };
    if !ttl_ok {
        v.ttl_wrong += 1;
        v.problem(|| format!("{name}: TTL {pttl} ms does not match the policy"));
    }
}

/// An entry id `ms-seq` as a pair, for comparing.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

type Entry = (String, HashMap<String, String>);

async fn verify_signals(
    terminals: &[(&str, &Ledger)],
    targets: &Targets,
    rtss: &mut Connection,
    v: &mut Verification,
) -> Result<(), String> {
    let ours: HashMap<&str, ()> = terminals.iter().map(|(id, _)| (*id, ())).collect();
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    let mut first_id: Option<(u64, u64)> = None;
    let mut start = "-".to_string();
    loop {
        let page: Vec<Entry> = redis::cmd("XRANGE")
            .arg(&targets.stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query_async(rtss)
            .await
            .map_err(|e| format!("verify: reading stream {}: {e}", targets.stream))?;
        let Some((last, _)) = page.last() else { break };
        start = format!("({last}");
        for (id, fields) in &page {
            first_id = first_id.or_else(|| parse_id(id));
            v.stream_entries_read += 1;
            let (Some(instance), Some(signal_id)) =
                (fields.get("instance_id"), fields.get("signal_id"))
            else {
                continue;
            };
            if ours.contains_key(instance.as_str()) {
                *seen
                    .entry((instance.clone(), signal_id.clone()))
                    .or_default() += 1;
            }
        }
    }
    let length: u64 = redis::cmd("XLEN")
        .arg(&targets.stream)
        .query_async(rtss)
        .await
        .map_err(|e| format!("verify: XLEN {}: {e}", targets.stream))?;
    // MAXLEN ~ only trims whole nodes once the stream is past its cap, so a stream shorter than
    // the cap has never been trimmed.
    let may_be_trimmed = length >= targets.maxlen;
    for (id, ledger) in terminals {
        for signal in &ledger.signals {
            let count = seen
                .get(&(id.to_string(), signal.signal_id.clone()))
                .copied()
                .unwrap_or(0);
            if count > 1 {
                v.duplicates += count - 1;
                v.problem(|| {
                    format!(
                        "signal {} of {id}: {count} times in the stream",
                        signal.signal_id
                    )
                });
            }
            if !signal.acked {
                continue;
            }
            v.acked += 1;
            if count > 0 {
                v.verified += 1;
                continue;
            }
            let older_than_stream = match (first_id, signal.entry_id.as_deref().and_then(parse_id))
            {
                (Some(first), Some(entry)) => entry < first,
                (Some((first_ms, _)), None) => (signal.acked_unix_ms as u64) < first_ms,
                (None, _) => false,
            };
            if may_be_trimmed && older_than_stream {
                v.trimmed += 1;
            } else {
                v.lost += 1;
                v.lost_signals += 1;
                v.problem(|| {
                    format!(
                        "signal {} of {id}: acknowledged but not in {}",
                        signal.signal_id, targets.stream
                    )
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::SentSnapshot;

    fn targets() -> Targets {
        Targets {
            ris_url: String::new(),
            rts_url: String::new(),
            rtss_url: String::new(),
            password: None,
            tls: None,
            stream: keys::SIGNAL_STREAM.into(),
            maxlen: 10_000,
            closed_ttl_s: 2_592_000,
            ris_ttl_s: 120,
        }
    }

    fn stored(pairs: &[(&str, &str)]) -> HashMap<Vec<u8>, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn record(sent: &[(u64, &[(&str, &str)])], acked: &[u64]) -> KeyRecord {
        let sent: Vec<Snapshot> = sent.iter().map(|&(seq, pairs)| (0, seq, pairs)).collect();
        let acked: Vec<(u32, u64)> = acked.iter().map(|&seq| (0, seq)).collect();
        record_in_epochs(&sent, &acked)
    }

    /// A snapshot sent: `(epoch, seq, fields)`.
    type Snapshot<'a> = (u32, u64, &'a [(&'a str, &'a str)]);

    /// Snapshots as `(epoch, seq, fields)`, acknowledged ones as `(epoch, seq)`; a snapshot
    /// with `state` `closed` is a close.
    fn record_in_epochs(sent: &[Snapshot], acked: &[(u32, u64)]) -> KeyRecord {
        let closed = |pairs: &[(&str, &str)]| pairs.contains(&("state", "closed"));
        KeyRecord {
            sent: sent
                .iter()
                .map(|&(epoch, seq, pairs)| SentSnapshot {
                    epoch,
                    seq,
                    fingerprint: fingerprint(
                        pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
                    ),
                    closed: closed(pairs),
                    sent_unix_ms: 0,
                })
                .collect(),
            acked: acked
                .iter()
                .map(|&(epoch, seq)| Numbered { epoch, seq })
                .collect(),
            close_acked: acked.iter().any(|&(epoch, seq)| {
                sent.iter()
                    .any(|&(e, s, pairs)| (e, s) == (epoch, seq) && closed(pairs))
            }),
        }
    }

    /// Terminal T1's `key`, holding `fields` with `pttl`, checked against `record` on its own.
    fn check_as(
        key: &StateKey,
        record: &KeyRecord,
        fields: &HashMap<Vec<u8>, Vec<u8>>,
        pttl: i64,
    ) -> Verification {
        let mut v = Verification::default();
        check_key("T1", key, record, fields, pttl, &targets(), 0, &mut v);
        v
    }

    /// Trade 7 holding `stored_pairs`.
    fn check(record: &KeyRecord, stored_pairs: &[(&str, &str)], pttl: i64) -> Verification {
        check_as(
            &StateKey::Trade("7".into()),
            record,
            &stored(stored_pairs),
            pttl,
        )
    }

    /// Epoch 0 stores seq 1000; a restart numbers from 10 (epoch 1), the gateway answers
    /// `stale` (stored 1000), the terminal jumps to 1001 (epoch 2) and re-sends: an acknowledged
    /// stale whose stored seq came from the run's own earlier numbering is fine.
    #[test]
    fn a_reset_recovered_by_a_jump_verifies() {
        let open_1000: &[(&str, &str)] = &[("seq", "1000"), ("state", "open"), ("sl", "1.1")];
        let open_10: &[(&str, &str)] = &[("seq", "10"), ("state", "open"), ("sl", "1.2")];
        let open_1001: &[(&str, &str)] = &[("seq", "1001"), ("state", "open"), ("sl", "1.2")];
        let r = record_in_epochs(
            &[(0, 1000, open_1000), (1, 10, open_10), (2, 1001, open_1001)],
            &[(0, 1000), (1, 10), (2, 1001)],
        );
        let v = check(&r, open_1001, -1);
        assert_eq!((v.acked, v.verified, v.stale), (3, 3, 0), "{v:?}");
        assert!(v.passed(), "{v:?}");
        // Without the re-send the key still holds 1000, higher than the acknowledged 10 (which
        // comparing bare seqs would accept), but older than it: the newer state was dropped.
        let r = record_in_epochs(
            &[(0, 1000, open_1000), (1, 10, open_10)],
            &[(0, 1000), (1, 10)],
        );
        let v = check(&r, open_1000, -1);
        assert_eq!((v.verified, v.stale), (1, 1), "{v:?}");
        assert!(!v.passed());
    }

    /// The close numbered after a reset, acknowledged `stale` and never re-sent: the trade
    /// stays open in the partition. Counted on its own and fails the run.
    #[test]
    fn a_close_acknowledged_but_stored_open_fails() {
        let open: &[(&str, &str)] = &[("seq", "1000"), ("state", "open")];
        let close: &[(&str, &str)] = &[("seq", "12"), ("state", "closed")];
        let r = record_in_epochs(&[(0, 1000, open), (1, 12, close)], &[(0, 1000), (1, 12)]);
        assert!(r.close_acked);
        let v = check(&r, open, -1);
        assert_eq!((v.stale, v.open_but_closed), (1, 1), "{v:?}");
        assert!(!v.passed());
        assert!(v.line().contains("open_but_closed=1"), "{}", v.line());
        assert!(v
            .problems
            .iter()
            .any(|p| p.contains("close was acknowledged")));
        // Re-sent with a seq past the stored one and stored: closed, nothing wrong.
        let close_again: &[(&str, &str)] = &[("seq", "1001"), ("state", "closed")];
        let r = record_in_epochs(
            &[(0, 1000, open), (1, 12, close), (2, 1001, close_again)],
            &[(0, 1000), (1, 12), (2, 1001)],
        );
        let v = check(&r, close_again, 2_592_000_000);
        assert_eq!((v.stale, v.open_but_closed, v.verified), (0, 0, 3), "{v:?}");
        assert!(v.passed(), "{v:?}");
    }

    /// A second reset numbers from the same value again: one seq, two states. The stored one is
    /// told apart by its fields, and an acknowledged later state under the same seq (answered
    /// `duplicate`) that is not what is stored is caught.
    #[test]
    fn one_seq_in_two_epochs_is_told_apart_by_its_fields() {
        let first: &[(&str, &str)] = &[("seq", "11"), ("state", "open"), ("sl", "1.1")];
        let second: &[(&str, &str)] = &[("seq", "11"), ("state", "open"), ("sl", "1.3")];
        let r = record_in_epochs(&[(1, 11, first), (3, 11, second)], &[(1, 11), (3, 11)]);
        let v = check(&r, second, -1);
        assert_eq!((v.verified, v.stale, v.corrupt), (2, 0, 0), "{v:?}");
        let v = check(&r, first, -1);
        assert_eq!((v.verified, v.stale, v.corrupt), (1, 1, 0), "{v:?}");
        let other: &[(&str, &str)] = &[("seq", "11"), ("state", "open"), ("sl", "9")];
        let v = check(&r, other, -1);
        assert_eq!((v.corrupt, v.lost), (1, 2), "{v:?}");
    }

    #[test]
    fn a_key_with_the_newest_acknowledged_snapshot_verifies() {
        let s5: &[(&str, &str)] = &[("seq", "5"), ("ticket", "7")];
        let s6: &[(&str, &str)] = &[("seq", "6"), ("ticket", "7")];
        let r = record(&[(5, s5), (6, s6)], &[5, 6]);
        let mut fields = stored(s6);
        fields.insert(b"instance_id".to_vec(), b"T1".to_vec());
        let v = check_as(&StateKey::Trade("7".into()), &r, &fields, -1);
        assert_eq!(
            (v.acked, v.verified, v.stale, v.lost, v.ttl_wrong),
            (2, 2, 0, 0, 0)
        );
    }

    #[test]
    fn an_older_snapshot_over_a_newer_acknowledged_one_is_stale() {
        let s5: &[(&str, &str)] = &[("seq", "5")];
        let s6: &[(&str, &str)] = &[("seq", "6")];
        let r = record(&[(5, s5), (6, s6)], &[5, 6]);
        let v = check(&r, s5, -1);
        assert_eq!((v.verified, v.stale), (1, 1));
        assert!(!v.passed());
    }

    #[test]
    fn missing_keys_wrong_fields_and_wrong_ttls_fail() {
        let s5: &[(&str, &str)] = &[("seq", "5"), ("symbol", "EURUSD")];
        let r = record(&[(5, s5)], &[5]);
        let v = check_as(&StateKey::Instance, &r, &HashMap::new(), -2);
        assert_eq!(v.lost, 1);
        let tampered: &[(&str, &str)] = &[("seq", "5"), ("symbol", "GBPUSD")];
        let v = check_as(&StateKey::Instance, &r, &stored(tampered), 1000);
        assert_eq!((v.corrupt, v.lost), (1, 1));
        let v = check_as(&StateKey::Instance, &r, &stored(s5), -1);
        assert_eq!((v.verified, v.ttl_wrong), (1, 1));
        assert!(!v.passed());
    }
}
