//! What a successful write logs: usually its own arguments, but a command whose effect depends
//! on the clock or on chance logs its effect instead, as Redis propagates it, so a replay at
//! any later time rebuilds the same state:
//! - relative expiry becomes absolute (EXPIRE/SETEX/SET EX/GETEX ... -> PEXPIREAT, SET PXAT);
//! - INCRBYFLOAT -> SET KEEPTTL, HINCRBYFLOAT -> HSET (no float formatting drift);
//! - SPOP -> SREM of the popped members; XADD * -> XADD with the chosen id;
//! - approximate stream trimming -> XTRIM MINID of the first entry kept;
//! - served blocking pops -> their non-blocking form;
//! - XREADGROUP/XCLAIM/XAUTOCLAIM -> XCLAIM ... TIME RETRYCOUNT FORCE JUSTID LASTID per
//!   delivered entry (XACK for PEL entries whose stream entry is gone), XGROUP SETID.
//!
//! The effect is read from the state after the command and from its reply.

use super::resp::{parse_reply, Reply};
use crate::commands::CommandSpec;
use crate::server::Server;
use crate::types::stream::StreamId;
use crate::types::Value;

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

fn value<'a>(server: &'a Server, db: usize, key: &[u8]) -> Option<&'a Value> {
    server.dbs[db].keys.get(key).map(|e| &e.value)
}

fn ttl(server: &Server, db: usize, key: &[u8]) -> Option<i64> {
    server.dbs[db].expire_at(key)
}

/// Logs the successful write `argv` (top-level spec `spec`) that ran in `db` and replied
/// `reply`.
pub fn after_write(
    server: &mut Server,
    db: usize,
    spec: &CommandSpec,
    argv: &[&[u8]],
    reply: &[u8],
) {
    let log = |server: &mut Server, args: &[&[u8]]| super::log(server, db, args);
    let key = argv.get(1).copied().unwrap_or_default();
    match spec.name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => log_expiry(server, db, key, false),
        "getex" if argv.len() > 2 => log_expiry(server, db, key, true),
        "getex" => {}
        "set" => log_set(server, db, argv),
        "setex" | "psetex" => {
            let at = ttl(server, db, key).map(|t| t.to_string());
            match &at {
                Some(t) => log(server, &[b"SET", key, argv[3], b"PXAT", t.as_bytes()]),
                None => log(server, &[b"SET", key, argv[3]]),
            }
        }
        "incrbyfloat" => {
            if let Some(Value::Str(s)) = value(server, db, key) {
                let v = s.to_vec();
                log(server, &[b"SET", key, &v, b"KEEPTTL"]);
            }
        }
        "hincrbyfloat" => {
            if let Some(Value::Hash(h)) = value(server, db, key) {
                if let Some(v) = h.get(argv[2]).map(|v| v.to_vec()) {
                    log(server, &[b"HSET", key, argv[2], &v]);
                }
            }
        }
        "spop" => {
            let popped = reply_items(reply);
            if !popped.is_empty() {
                let mut args: Vec<&[u8]> = vec![b"SREM", key];
                args.extend(popped.iter().map(Vec::as_slice));
                log(server, &args);
            }
        }
        "xadd" => log_xadd(server, db, argv, reply),
        "xtrim" => log_trim_effect(server, db, key),
        "blpop" | "brpop" => {
            if let Some((Reply::Array(kv), _)) = parse_reply(reply, 0) {
                if let Some(k) = kv.first().and_then(Reply::bulk) {
                    let pop: &[u8] = if spec.name == "blpop" {
                        b"LPOP"
                    } else {
                        b"RPOP"
                    };
                    log(server, &[pop, k]);
                }
            }
        }
        "brpoplpush" if served(reply) => log(server, &[b"RPOPLPUSH", argv[1], argv[2]]),
        "blmove" if served(reply) => log(server, &[b"LMOVE", argv[1], argv[2], argv[3], argv[4]]),
        "blmpop" if served(reply) => {
            let mut args: Vec<&[u8]> = vec![b"LMPOP"];
            args.extend_from_slice(&argv[2..]);
            log(server, &args);
        }
        "brpoplpush" | "blmove" | "blmpop" => {}
        "xreadgroup" => log_xreadgroup(server, db, argv, reply),
        "xclaim" => {
            let ids: Vec<Vec<u8>> = argv[5..]
                .iter()
                .take_while(|a| StreamId::parse_strict(a).is_ok())
                .map(|a| a.to_vec())
                .collect();
            let lastid = argv[5..].iter().any(|a| eq(a, "lastid"));
            log_claims(server, db, argv[1], argv[2], argv[3], &ids, lastid);
        }
        "xautoclaim" => {
            let Some((Reply::Array(parts), _)) = parse_reply(reply, 0) else {
                return;
            };
            let mut ids: Vec<Vec<u8>> = Vec::new();
            for part in parts.iter().skip(1).take(2) {
                for item in part.items() {
                    let id = match item {
                        Reply::Bulk(b) => Some(b.clone()),
                        Reply::Array(e) => e.first().and_then(Reply::bulk).map(<[u8]>::to_vec),
                        _ => None,
                    };
                    ids.extend(id);
                }
            }
            log_claims(server, db, argv[1], argv[2], argv[3], &ids, false);
        }
        _ => log(server, argv),
    }
}

/// The reply is not a null (a served blocking command).
fn served(reply: &[u8]) -> bool {
    !matches!(parse_reply(reply, 0), Some((Reply::Null, _)) | None)
}

/// The bulk strings of a bulk or array reply.
fn reply_items(reply: &[u8]) -> Vec<Vec<u8>> {
    match parse_reply(reply, 0) {
        Some((Reply::Bulk(b), _)) => vec![b],
        Some((Reply::Array(items), _)) => items
            .into_iter()
            .filter_map(|r| match r {
                Reply::Bulk(b) => Some(b),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The key's expiry after the command: PEXPIREAT when it has one, DEL when the command
/// deleted it (a time in the past), PERSIST for GETEX PERSIST.
fn log_expiry(server: &mut Server, db: usize, key: &[u8], getex: bool) {
    let exists = server.dbs[db].keys.get(key).is_some();
    match (exists, ttl(server, db, key)) {
        (true, Some(at)) => {
            let at = at.to_string();
            super::log(server, db, &[b"PEXPIREAT", key, at.as_bytes()]);
        }
        (true, None) if getex => super::log(server, db, &[b"PERSIST", key]),
        (true, None) => {}
        (false, _) => super::log(server, db, &[b"DEL", key]),
    }
}

/// SET with EX/PX/EXAT/PXAT logs `SET ... PXAT <absolute ms>`; NX/XX/GET/KEEPTTL are kept
/// (they decide the same way on replay, which runs on the same state).
fn log_set(server: &mut Server, db: usize, argv: &[&[u8]]) {
    let has_expiry = argv[3..]
        .iter()
        .any(|a| eq(a, "ex") || eq(a, "px") || eq(a, "exat") || eq(a, "pxat"));
    if !has_expiry {
        return super::log(server, db, argv);
    }
    let mut args: Vec<&[u8]> = argv[..3].to_vec();
    let mut i = 3;
    while i < argv.len() {
        let a = argv[i];
        if eq(a, "ex") || eq(a, "px") || eq(a, "exat") || eq(a, "pxat") {
            i += 2;
            continue;
        }
        args.push(a);
        i += 1;
    }
    let at = ttl(server, db, argv[1]).map(|t| t.to_string());
    if let Some(t) = &at {
        args.push(b"PXAT");
        args.push(t.as_bytes());
    }
    super::log(server, db, &args);
}

/// XADD with the id it chose, without trimming options; a trim is logged as its effect.
fn log_xadd(server: &mut Server, db: usize, argv: &[&[u8]], reply: &[u8]) {
    let Some((Reply::Bulk(id), _)) = parse_reply(reply, 0) else {
        return; // NOMKSTREAM on a missing key: nothing happened.
    };
    let mut i = 2;
    let mut trimmed = false;
    let mut nomkstream = false;
    while i < argv.len() {
        let a = argv[i];
        if eq(a, "nomkstream") {
            nomkstream = true;
            i += 1;
        } else if eq(a, "maxlen") || eq(a, "minid") {
            trimmed = true;
            i += 1;
            if argv.get(i).is_some_and(|a| *a == b"=" || *a == b"~") {
                i += 1;
            }
            i += 1;
        } else if eq(a, "limit") {
            i += 2;
        } else {
            break;
        }
    }
    // argv[i] is the id the caller gave; the fields follow.
    let mut args: Vec<&[u8]> = vec![b"XADD", argv[1]];
    if nomkstream {
        args.push(b"NOMKSTREAM");
    }
    args.push(&id);
    args.extend_from_slice(argv.get(i + 1..).unwrap_or_default());
    super::log(server, db, &args);
    if trimmed {
        log_trim_effect(server, db, argv[1]);
    }
}

/// A trim as its effect: XTRIM MINID of the first entry left (MAXLEN 0 when none is).
fn log_trim_effect(server: &mut Server, db: usize, key: &[u8]) {
    let Some(Value::Stream(s)) = value(server, db, key) else {
        return;
    };
    if s.is_empty() {
        super::log(server, db, &[b"XTRIM", key, b"MAXLEN", b"0"]);
    } else {
        let first = s.first_id().to_string();
        super::log(server, db, &[b"XTRIM", key, b"MINID", first.as_bytes()]);
    }
}

/// XREADGROUP: per stream that delivered, the claims and the group's new position.
fn log_xreadgroup(server: &mut Server, db: usize, argv: &[&[u8]], reply: &[u8]) {
    let Some(g) = argv.iter().position(|a| eq(a, "group")) else {
        return;
    };
    let (Some(group), Some(consumer)) = (argv.get(g + 1), argv.get(g + 2)) else {
        return;
    };
    let Some((Reply::Array(items), _)) = parse_reply(reply, 0) else {
        return;
    };
    // RESP2: [[key, entries], ...]; RESP3: a map, flattened to [key, entries, ...].
    let pairs: Vec<(&Reply, &Reply)> = if items
        .iter()
        .all(|i| matches!(i, Reply::Array(kv) if kv.len() == 2 && kv[0].bulk().is_some()))
    {
        items
            .iter()
            .map(|i| (&i.items()[0], &i.items()[1]))
            .collect()
    } else {
        items
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (&c[0], &c[1]))
            .collect()
    };
    for (key, entries) in pairs {
        let Some(key) = key.bulk() else { continue };
        let ids: Vec<Vec<u8>> = entries
            .items()
            .iter()
            .filter_map(|e| e.items().first().and_then(Reply::bulk).map(<[u8]>::to_vec))
            .collect();
        log_claims(server, db, key, group, consumer, &ids, true);
    }
}

/// For each id: `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID l`
/// when the consumer owns it now, XACK when it left the PEL; the consumer is created first,
/// and `XGROUP SETID ... ENTRIESREAD` follows when the group's position may have moved.
fn log_claims(
    server: &mut Server,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    ids: &[Vec<u8>],
    set_id: bool,
) {
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    {
        let Some(Value::Stream(s)) = value(server, db, key) else {
            return;
        };
        let Some(g) = s.groups().get(group) else {
            return;
        };
        let v = |b: &[u8]| b.to_vec();
        let last = g.last_id.to_string().into_bytes();
        if g.consumers.contains_key(consumer) {
            commands.push(vec![
                v(b"XGROUP"),
                v(b"CREATECONSUMER"),
                v(key),
                v(group),
                v(consumer),
            ]);
        }
        for id_text in ids {
            let Ok(id) = StreamId::parse_strict(id_text) else {
                continue;
            };
            match g.pel.get(&id) {
                Some(nack) if &*nack.consumer == consumer => commands.push(vec![
                    v(b"XCLAIM"),
                    v(key),
                    v(group),
                    v(consumer),
                    v(b"0"),
                    id.to_string().into_bytes(),
                    v(b"TIME"),
                    nack.delivery_time.to_string().into_bytes(),
                    v(b"RETRYCOUNT"),
                    nack.delivery_count.to_string().into_bytes(),
                    v(b"FORCE"),
                    v(b"JUSTID"),
                    v(b"LASTID"),
                    last.clone(),
                ]),
                Some(_) => {}
                None => commands.push(vec![
                    v(b"XACK"),
                    v(key),
                    v(group),
                    id.to_string().into_bytes(),
                ]),
            }
        }
        if set_id {
            commands.push(vec![
                v(b"XGROUP"),
                v(b"SETID"),
                v(key),
                v(group),
                last,
                v(b"ENTRIESREAD"),
                g.entries_read.to_string().into_bytes(),
            ]);
        }
    }
    for c in &commands {
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        super::log(server, db, &args);
    }
}
