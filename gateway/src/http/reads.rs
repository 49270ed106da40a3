//! The read side of the HTTP API, for operators, dashboards and workers: terminals
//! with their status and state, a terminal's trades, and pages of the signal stream.
//!
//! Every route needs an operator token. Stored objects come back in the contract's own JSON shape
//! (numbers as numbers, bools as bools): the stored fields are decoded with the mt5-bridge
//! `from_fields`, and the gateway's `instance_id` / `received_msc` are added, and for a trade
//! the gateway closed or cancelled from a positions snapshot, `closed_by: "snapshot"`. Trades
//! are positions and pending orders alike (`state=open` lists the live ones: open and pending;
//! `state=closed` the others: closed, cancelled and filled). An object that no longer decodes
//! (written by something else) comes back with its fields as stored text plus `decode_errors`,
//! rather than failing the whole reply.

use std::collections::HashMap;
use std::fmt;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use redis::Value;
use serde::Serialize;
use serde_json::{json, Map, Value as JsonValue};
use tradestate_mt5_bridge::{
    FieldError, InstanceState, TradeSignal, TradeState, ValidationErrors, INSTANCE_STATE_FIELDS,
    TRADE_SIGNAL_FIELDS, TRADE_STATE_FIELDS,
};

use super::extract::{check_path_instance_id, Bearer};
use super::{ApiError, AppState};
use crate::backend::{server_error, Backend, Commands, Unavailable};
use crate::keys;
use crate::ops::Partition;
use crate::status::{self, Status};
use crate::writer::unix_ms;

/// Page sizes of `/v1/instances/{id}/trades` and `/v1/signals`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// Allows the request when its bearer token is an operator token (or reads are open).
pub(super) fn require_operator(state: &AppState, token: Option<&str>) -> Result<(), ApiError> {
    if state.gateway.auth.operator(token) {
        Ok(())
    } else if token.is_none() {
        Err(ApiError::Unauthorized("reads need an operator token"))
    } else {
        Err(ApiError::Unauthorized(
            "token is not an operator token (auth.operator_tokens)",
        ))
    }
}

pub(super) fn unavailable(state: &AppState, e: Unavailable) -> ApiError {
    ApiError::Unavailable {
        reason: e.0,
        retry_after: state.gateway.watermarks.retry_after,
    }
}

/// Runs a pipeline on `partition`; an engine error in any reply fails the read with 503.
async fn read(
    state: &AppState,
    partition: Partition,
    commands: &Commands,
) -> Result<Vec<Value>, ApiError> {
    let values = state
        .gateway
        .backend(partition)
        .exec(commands)
        .await
        .map_err(|e| unavailable(state, e))?;
    if let Some(e) = values.iter().find_map(server_error) {
        return Err(ApiError::Unavailable {
            reason: format!("partition {} answered a read with: {e}", partition.name()),
            retry_after: state.gateway.watermarks.retry_after,
        });
    }
    Ok(values)
}

// ---------------------------------------------------------------------------------------------
// GET /v1/instances

#[derive(Serialize)]
struct InstanceList {
    now_msc: u64,
    stale_after_ms: u64,
    offline_after_ms: u64,
    /// Instance states are behind what was acknowledged: some are still in the spill.
    spilling: bool,
    /// Age of the oldest instance state still in the spill.
    spill_age_ms: Option<u64>,
    totals: Totals,
    instances: Vec<InstanceSummary>,
}

#[derive(Serialize, Default)]
struct Totals {
    online: usize,
    stale: usize,
    offline: usize,
    all: usize,
}

#[derive(Serialize)]
struct InstanceSummary {
    instance_id: String,
    status: &'static str,
    last_seen_msc: u64,
    state: Option<Map<String, JsonValue>>,
}

pub async fn instances(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    require_operator(&state, token.as_deref())?;
    let params = QueryParams::new(query, &["status"])?;
    let wanted = params.one_of("status", &["online", "stale", "offline"]);
    params.finish()?;

    let seen = status::last_seen(&state.gateway)
        .await
        .map_err(|e| unavailable(&state, e))?;
    let now = unix_ms();
    let (stale_after, ttl) = status::windows(&state.gateway.policy);
    let mut totals = Totals::default();
    let mut listed = Vec::new();
    for (instance_id, last_seen_msc) in seen {
        let status = status::classify(last_seen_msc, now, stale_after, ttl);
        match status {
            Status::Online => totals.online += 1,
            Status::Stale => totals.stale += 1,
            Status::Offline => totals.offline += 1,
        }
        totals.all += 1;
        if wanted.is_none_or(|w| w == status.name()) {
            listed.push((instance_id, last_seen_msc, status));
        }
    }
    // One round trip for the states of every listed terminal that can still have one.
    let mut commands = Commands::new();
    for (instance_id, _, status) in &listed {
        if *status != Status::Offline {
            commands.cmd("HGETALL").arg(keys::instance(instance_id));
        }
    }
    let mut states = read(&state, Partition::Ris, &commands).await?.into_iter();
    let instances = listed
        .into_iter()
        .map(|(instance_id, last_seen_msc, status)| {
            let stored = if status == Status::Offline {
                None
            } else {
                states
                    .next()
                    .and_then(|v| stored_object(Kind::Instance, &v))
            };
            InstanceSummary {
                instance_id,
                status: status.name(),
                last_seen_msc,
                state: stored,
            }
        })
        .collect();
    let spill = state
        .gateway
        .spill(Partition::Ris)
        .map(|s| s.snapshot())
        .unwrap_or_default();
    Ok(Json(InstanceList {
        now_msc: now,
        stale_after_ms: stale_after.as_millis() as u64,
        offline_after_ms: ttl.as_millis() as u64,
        spilling: spill.spilling || spill.records > 0,
        spill_age_ms: spill.oldest_age_ms,
        totals,
        instances,
    }))
}

// ---------------------------------------------------------------------------------------------
// GET /v1/instances/{id}

#[derive(Serialize)]
struct InstanceDetail {
    instance_id: String,
    status: &'static str,
    last_seen_msc: u64,
    state: Option<Map<String, JsonValue>>,
    trades: TradeCounts,
}

#[derive(Serialize)]
struct TradeCounts {
    open: u64,
    closed: u64,
}

pub async fn instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Bearer(token): Bearer,
) -> Result<Json<impl Serialize>, ApiError> {
    require_operator(&state, token.as_deref())?;
    check_path_instance_id(&id)?;
    let mut ris = Commands::new();
    ris.cmd("ZSCORE")
        .arg(&state.gateway.policy.ris_seen_key)
        .arg(&id);
    ris.cmd("HGETALL").arg(keys::instance(&id));
    let mut rts = Commands::new();
    rts.cmd("SCARD").arg(keys::open_trades(&id));
    rts.cmd("ZCARD").arg(keys::closed_trades(&id));
    let (ris, rts) = tokio::join!(
        read(&state, Partition::Ris, &ris),
        read(&state, Partition::Rts, &rts)
    );
    let (ris, rts) = (ris?, rts?);
    let last_seen_msc = ris
        .first()
        .and_then(status::text)
        .and_then(|s| s.parse::<f64>().ok())
        .map(|ms| ms as u64)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "instance {id:?} has never sent a heartbeat (or was pruned from {}); check the id, or GET /v1/instances for the known ones",
                state.gateway.policy.ris_seen_key
            ))
        })?;
    let (stale_after, ttl) = status::windows(&state.gateway.policy);
    let status = status::classify(last_seen_msc, unix_ms(), stale_after, ttl);
    let stored = ris.get(1).and_then(|v| stored_object(Kind::Instance, v));
    Ok(Json(InstanceDetail {
        instance_id: id,
        status: status.name(),
        last_seen_msc,
        state: stored,
        trades: TradeCounts {
            open: rts.first().and_then(int).unwrap_or(0),
            closed: rts.get(1).and_then(int).unwrap_or(0),
        },
    }))
}

// ---------------------------------------------------------------------------------------------
// GET /v1/instances/{id}/trades

#[derive(Serialize)]
struct TradeList {
    instance_id: String,
    state: &'static str,
    limit: usize,
    /// Tickets in the index (open set / closed zset); more than `trades.len()` when truncated.
    total: u64,
    trades: Vec<Map<String, JsonValue>>,
}

pub async fn trades(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Bearer(token): Bearer,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    require_operator(&state, token.as_deref())?;
    check_path_instance_id(&id)?;
    let params = QueryParams::new(query, &["state", "limit"])?;
    let which = params
        .one_of("state", &["open", "closed"])
        .unwrap_or("open");
    let limit = params.limit("limit");
    params.finish()?;

    let mut index = Commands::new();
    let (tickets, total) = if which == "open" {
        index.cmd("SMEMBERS").arg(keys::open_trades(&id));
        let replies = read(&state, Partition::Rts, &index).await?;
        let mut tickets = replies.first().map(texts).unwrap_or_default();
        // A set has no order; lowest (oldest) ticket first keeps pages stable.
        tickets.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        let total = tickets.len() as u64;
        tickets.truncate(limit);
        (tickets, total)
    } else {
        let closed = keys::closed_trades(&id);
        index
            .cmd("ZREVRANGE")
            .arg(&closed)
            .arg(0)
            .arg(limit as i64 - 1);
        index.cmd("ZCARD").arg(&closed);
        let replies = read(&state, Partition::Rts, &index).await?;
        let tickets = replies.first().map(texts).unwrap_or_default();
        let total = replies.get(1).and_then(int).unwrap_or(0);
        (tickets, total)
    };
    let mut hashes = Commands::new();
    for ticket in &tickets {
        hashes.cmd("HGETALL").arg(keys::trade(&id, ticket));
    }
    let trades = read(&state, Partition::Rts, &hashes)
        .await?
        .iter()
        // A closed trade whose hash expired before its index entry was pruned is skipped.
        .filter_map(|v| stored_object(Kind::Trade, v))
        .collect();
    Ok(Json(TradeList {
        instance_id: id,
        state: which,
        limit,
        total,
        trades,
    }))
}

// ---------------------------------------------------------------------------------------------
// GET /v1/signals

#[derive(Serialize)]
struct SignalPage {
    stream: String,
    count: usize,
    /// What to pass as `after` for the next page: the last returned id, else the `after` given.
    next_after: Option<String>,
    signals: Vec<Map<String, JsonValue>>,
}

pub async fn signals(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    require_operator(&state, token.as_deref())?;
    let params = QueryParams::new(query, &["after", "count"])?;
    let after = params.entry_id("after");
    let count = params.limit("count");
    params.finish()?;

    let backend = state.gateway.backend(Partition::Rtss);
    let stream = &state.gateway.policy.rtss_stream;
    let signals = match after {
        Some(after) => read_after(backend, stream, after, count).await,
        None => read_latest(backend, stream, count).await,
    }
    .map_err(|e| unavailable(&state, e))?;
    let next_after = signals
        .last()
        .map(|(id, _)| id.to_string())
        .or_else(|| after.map(|a| a.to_string()));
    Ok(Json(SignalPage {
        stream: stream.clone(),
        count: signals.len(),
        next_after,
        signals: signals.into_iter().map(|(_, entry)| entry).collect(),
    }))
}

/// A stream entry id `<ms>-<seq>`, ordered as the engine orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    pub ms: u64,
    pub seq: u64,
}

impl EntryId {
    pub const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    /// Parses `<ms>-<seq>`, or `<ms>` meaning `<ms>-0`.
    pub fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (text, "0"),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one (an inclusive XRANGE start that excludes `self`, which
    /// works on engines without the `(` exclusive-range syntax), `None` after the last id.
    pub fn successor(self) -> Option<EntryId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(EntryId { ms: self.ms, seq }),
            None => Some(EntryId {
                ms: self.ms.checked_add(1)?,
                seq: 0,
            }),
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One signal as the API returns it, with its parsed id.
pub type SignalEntry = (EntryId, Map<String, JsonValue>);

/// Up to `count` entries after `after`, oldest first.
pub async fn read_after(
    backend: &Backend,
    stream: &str,
    after: EntryId,
    count: usize,
) -> Result<Vec<SignalEntry>, Unavailable> {
    let Some(start) = after.successor() else {
        return Ok(Vec::new());
    };
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(stream)
        .arg(start.to_string())
        .arg("+")
        .arg("COUNT")
        .arg(count);
    stream_entries(backend.exec_one(cmd).await?)
}

/// The latest `count` entries, oldest first.
pub async fn read_latest(
    backend: &Backend,
    stream: &str,
    count: usize,
) -> Result<Vec<SignalEntry>, Unavailable> {
    let mut cmd = redis::cmd("XREVRANGE");
    cmd.arg(stream).arg("+").arg("-").arg("COUNT").arg(count);
    let mut entries = stream_entries(backend.exec_one(cmd).await?)?;
    entries.reverse();
    Ok(entries)
}

fn stream_entries(reply: Value) -> Result<Vec<SignalEntry>, Unavailable> {
    if let Some(e) = server_error(&reply) {
        return Err(Unavailable(format!(
            "partition rtss answered a stream read with: {e}"
        )));
    }
    let Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(parts) = item else { continue };
        let [id, fields] = parts.as_slice() else {
            continue;
        };
        let Some(id_text) = status::text(id) else {
            continue;
        };
        let Some(id) = EntryId::parse(&id_text) else {
            continue;
        };
        let pairs = pairs(fields);
        let mut entry = decode(Kind::Signal, &pairs);
        entry.insert("id".into(), JsonValue::String(id_text));
        out.push((id, entry));
    }
    Ok(out)
}

/// A live signal (as the writer broadcasts it) in the same shape as a stream read returns it.
pub fn signal_json(entry_id: &str, instance_id: &str, fields: &[(&str, String)]) -> JsonValue {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(fields.len() + 1);
    pairs.push((b"instance_id".to_vec(), instance_id.as_bytes().to_vec()));
    pairs.extend(
        fields
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    let mut entry = decode(Kind::Signal, &pairs);
    entry.insert("id".into(), JsonValue::String(entry_id.to_string()));
    JsonValue::Object(entry)
}

// ---------------------------------------------------------------------------------------------
// Decoding stored objects

#[derive(Clone, Copy)]
enum Kind {
    Instance,
    Trade,
    Signal,
}

/// A stored hash as JSON, `None` when the key does not exist (an empty HGETALL).
fn stored_object(kind: Kind, reply: &Value) -> Option<Map<String, JsonValue>> {
    let pairs = pairs(reply);
    (!pairs.is_empty()).then(|| decode(kind, &pairs))
}

/// Contract fields through the bridge's `from_fields`; the gateway's own fields added after.
fn decode(kind: Kind, pairs: &[(Vec<u8>, Vec<u8>)]) -> Map<String, JsonValue> {
    let known = match kind {
        Kind::Instance => INSTANCE_STATE_FIELDS,
        Kind::Trade => TRADE_STATE_FIELDS,
        Kind::Signal => TRADE_SIGNAL_FIELDS,
    };
    let (contract, extra): (Vec<_>, Vec<_>) = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .partition(|(k, _)| known.iter().any(|name| name.as_bytes() == *k));
    let decoded = match kind {
        Kind::Instance => InstanceState::from_fields(&contract).map(serde_json::to_value),
        Kind::Trade => decode_trade(&contract, &extra),
        Kind::Signal => TradeSignal::from_fields(&contract).map(serde_json::to_value),
    };
    let mut out = match decoded {
        Ok(Ok(JsonValue::Object(map))) => map,
        Ok(_) => as_text(&contract),
        Err(errors) => {
            let mut raw = as_text(&contract);
            raw.insert("decode_errors".into(), json!(errors.0));
            raw
        }
    };
    for (name, value) in extra {
        let name = String::from_utf8_lossy(name).into_owned();
        let text = String::from_utf8_lossy(value).into_owned();
        let value = match name.as_str() {
            "received_msc" => text
                .parse::<u64>()
                .map_or(JsonValue::String(text), JsonValue::from),
            _ => JsonValue::String(text),
        };
        out.insert(name, value);
    }
    out
}

/// A stored trade through the contract. A position the gateway closed from a snapshot
/// (`closed_by` set) has no closing price, which the contract requires of a closed position:
/// it is decoded with its last `price_current` standing in, and shown without `price_close`.
fn decode_trade(
    contract: &[(&[u8], &[u8])],
    extra: &[(&[u8], &[u8])],
) -> Result<serde_json::Result<JsonValue>, ValidationErrors> {
    let closed_by_gateway = extra.iter().any(|(name, _)| *name == b"closed_by");
    let has = |field: &[u8]| contract.iter().any(|(name, _)| *name == field);
    let stand_in = contract
        .iter()
        .find(|(name, _)| *name == b"price_current")
        .map(|(_, value)| *value);
    let (Some(price), true, false) = (stand_in, closed_by_gateway, has(b"price_close")) else {
        return TradeState::from_fields(contract).map(serde_json::to_value);
    };
    let mut with_price = contract.to_vec();
    with_price.push((b"price_close", price));
    let mut decoded = TradeState::from_fields(&with_price).map(serde_json::to_value)?;
    if let Ok(JsonValue::Object(map)) = &mut decoded {
        map.remove("price_close");
    }
    Ok(decoded)
}

fn as_text(pairs: &[(&[u8], &[u8])]) -> Map<String, JsonValue> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                JsonValue::String(String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect()
}

/// Field/value pairs of a hash (HGETALL: flat array in RESP2, map in RESP3) or stream entry.
fn pairs(reply: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    let bytes = |v: &Value| match v {
        Value::BulkString(b) => Some(b.clone()),
        other => status::text(other).map(String::into_bytes),
    };
    match reply {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((bytes(k)?, bytes(v)?)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

fn texts(reply: &Value) -> Vec<String> {
    match reply {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(status::text).collect(),
        _ => Vec::new(),
    }
}

fn int(reply: &Value) -> Option<u64> {
    match reply {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => status::text(other)?.parse().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// Query parameters with field errors

/// The query string of a read route, checked parameter by parameter so one 400 lists every
/// problem.
pub(super) struct QueryParams {
    values: HashMap<String, String>,
    errors: std::cell::RefCell<Vec<FieldError>>,
}

impl QueryParams {
    pub(super) fn new(
        query: Result<Query<HashMap<String, String>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<QueryParams, ApiError> {
        let Query(values) = query.map_err(|e| {
            ApiError::BadRequest(format!("cannot read the query string: {}", e.body_text()))
        })?;
        let mut errors = Vec::new();
        let mut unknown: Vec<&String> = values
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for name in unknown {
            errors.push(FieldError::new(
                name.as_str(),
                format!(
                    "unknown query parameter; this route takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(QueryParams {
            values,
            errors: std::cell::RefCell::new(errors),
        })
    }

    fn error(&self, field: &str, message: String) {
        self.errors
            .borrow_mut()
            .push(FieldError::new(field, message));
    }

    pub(super) fn one_of(&self, name: &str, choices: &[&'static str]) -> Option<&'static str> {
        let value = self.values.get(name)?;
        let choice = choices.iter().find(|c| **c == value.as_str()).copied();
        if choice.is_none() {
            self.error(
                name,
                format!("{value:?} is not one of {}", choices.join(", ")),
            );
        }
        choice
    }

    /// A page size: 1..=MAX_LIMIT, DEFAULT_LIMIT when absent.
    pub(super) fn limit(&self, name: &str) -> usize {
        let Some(value) = self.values.get(name) else {
            return DEFAULT_LIMIT;
        };
        match value.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                self.error(
                    name,
                    format!("{value:?} is not a whole number from 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        }
    }

    pub(super) fn entry_id(&self, name: &str) -> Option<EntryId> {
        let value = self.values.get(name)?;
        let id = EntryId::parse(value);
        if id.is_none() {
            self.error(name, bad_entry_id(value));
        }
        id
    }

    pub(super) fn finish(self) -> Result<(), ApiError> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(ValidationErrors(errors)))
        }
    }
}

pub(super) fn bad_entry_id(value: &str) -> String {
    format!(
        "{value:?} is not a stream entry id; pass an `id` this API returned, like 1763000000000-0 (<ms>-<seq>)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_order_and_step() {
        assert_eq!(
            EntryId::parse("1763000000000-7"),
            Some(EntryId {
                ms: 1_763_000_000_000,
                seq: 7
            })
        );
        assert_eq!(EntryId::parse("5"), Some(EntryId { ms: 5, seq: 0 }));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+",
            "99999999999999999999-0",
        ] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
        assert!(EntryId { ms: 1, seq: 9 } < EntryId { ms: 2, seq: 0 });
        assert_eq!(
            EntryId {
                ms: 1,
                seq: u64::MAX
            }
            .successor(),
            Some(EntryId { ms: 2, seq: 0 })
        );
        assert_eq!(
            EntryId {
                ms: u64::MAX,
                seq: u64::MAX
            }
            .successor(),
            None
        );
    }

    #[test]
    fn stored_hashes_decode_to_contract_json_with_gateway_fields() {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = [
            ("instance_id", "T1"),
            ("seq", "3"),
            ("signal_id", "s-1"),
            ("time_msc", "1763000000000"),
            ("strategy", "trend"),
            ("symbol", "EURUSD"),
            ("action", "buy"),
            ("volume", "0.1"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        let json = JsonValue::Object(decode(Kind::Signal, &pairs));
        assert_eq!(json["seq"], 3);
        assert_eq!(json["volume"], 0.1);
        assert_eq!(json["instance_id"], "T1");
        assert!(json.get("decode_errors").is_none());

        let broken = vec![(b"seq".to_vec(), b"x".to_vec())];
        let json = JsonValue::Object(decode(Kind::Signal, &broken));
        assert_eq!(json["seq"], "x");
        assert!(json["decode_errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()));
    }

    fn trade_pairs(state: &str, ty: &str, extra: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        [
            ("instance_id", "T1"),
            ("received_msc", "1763000000500"),
            ("seq", "4"),
            ("ticket", "77"),
            ("time_msc", "1763000000000"),
            ("time_update_msc", "1763000000000"),
            ("symbol", "EURUSD"),
            ("type", ty),
            ("volume", "0.1"),
            ("price_open", "1.1"),
            ("price_current", "1.2"),
            ("sl", "0"),
            ("tp", "0"),
            ("profit", "0"),
            ("swap", "0"),
            ("commission", "0"),
            ("magic", "0"),
            ("state", state),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn orders_and_snapshot_closes_decode_as_trades() {
        let json = JsonValue::Object(decode(
            Kind::Trade,
            &trade_pairs("pending", "buy_limit", &[]),
        ));
        assert!(json.get("decode_errors").is_none(), "{json}");
        assert_eq!(json["type"], "buy_limit");
        assert_eq!(json["state"], "pending");

        let closed_by = [
            ("closed_by", "snapshot"),
            ("time_close_msc", "1763000001000"),
        ];
        let json = JsonValue::Object(decode(
            Kind::Trade,
            &trade_pairs("closed", "buy", &closed_by),
        ));
        assert!(json.get("decode_errors").is_none(), "{json}");
        assert_eq!(json["state"], "closed");
        assert_eq!(json["closed_by"], "snapshot");
        assert_eq!(json["time_close_msc"], 1_763_000_001_000i64);
        assert!(json.get("price_close").is_none(), "{json}");

        let json = JsonValue::Object(decode(
            Kind::Trade,
            &trade_pairs("cancelled", "sell_stop", &closed_by),
        ));
        assert!(json.get("decode_errors").is_none(), "{json}");
        assert_eq!(json["closed_by"], "snapshot");

        // A closed position without a price that the gateway did not close is still refused.
        let json = JsonValue::Object(decode(
            Kind::Trade,
            &trade_pairs("closed", "buy", &[("time_close_msc", "1763000001000")]),
        ));
        assert!(json.get("decode_errors").is_some(), "{json}");
    }
}
