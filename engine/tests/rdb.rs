//! RDB persistence end to end: SAVE/BGSAVE files load back identically, BGSAVE is a point in
//! time while clients keep writing, save rules and SHUTDOWN save, corrupt files refuse to
//! start, and redis-server 7's own dump files (committed under tests/data/rdb) load.
//! With `redis-server-tests`: redis-check-rdb accepts our file, redis-server loads it with
//! every key, value and TTL intact, and we load redis-server's file of the same data set.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{connect, fresh_dir, info_value, start_engine, RawClient, Reply};
use tradestate_test_support::wait_until;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rdb");

// ---------------------------------------------------------------------------------------------
// Helpers

/// A reply as text: leaves as their payload, aggregates as their children.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    S(String),
    A(Vec<V>),
}

fn value(r: &Reply) -> V {
    match r {
        Reply::Aggregate(_, items) => V::A(items.iter().map(value).collect()),
        leaf => V::S(leaf.leaf_line().expect("a leaf")),
    }
}

fn call(c: &mut RawClient, line: &str) -> V {
    let args: Vec<&[u8]> = line.split_whitespace().map(|a| a.as_bytes()).collect();
    c.send(&args);
    value(&c.read_reply())
}

fn items(v: V) -> Vec<V> {
    match v {
        V::A(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn text(v: &V) -> String {
    match v {
        V::S(s) => s.clone(),
        V::A(a) => format!("{a:?}"),
    }
}

/// Picks `names` from a flat field/value reply (XINFO).
fn fields(v: V, names: &[&str]) -> Vec<String> {
    let a = items(v);
    let mut out = Vec::new();
    for pair in a.chunks(2) {
        if let [k, val] = pair {
            if names.contains(&text(k).as_str()) {
                out.push(format!("{}={}", text(k), text(val)));
            }
        }
    }
    out
}

/// The whole keyspace as sorted lines: every key of every database with its type, absolute
/// expiry and content read with type-specific commands (times of day excluded).
fn dump(port: u16) -> Vec<String> {
    let mut c = connect(port);
    let mut out = Vec::new();
    for db in 0..16 {
        call(&mut c, &format!("SELECT {db}"));
        let mut keys: Vec<String> = items(call(&mut c, "KEYS *")).iter().map(text).collect();
        keys.sort();
        for k in keys {
            let kind = text(&call(&mut c, &format!("TYPE {k}")))
                .trim_start_matches('+')
                .to_string();
            let at = text(&call(&mut c, &format!("PEXPIRETIME {k}")));
            let content = match kind.as_str() {
                "string" => text(&call(&mut c, &format!("GET {k}"))),
                "list" => format!("{:?}", call(&mut c, &format!("LRANGE {k} 0 -1"))),
                "set" => {
                    let mut m = items(call(&mut c, &format!("SMEMBERS {k}")));
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!("{:?}", call(&mut c, &format!("ZRANGE {k} 0 -1 WITHSCORES"))),
                "hash" => {
                    let flat = items(call(&mut c, &format!("HGETALL {k}")));
                    let mut pairs: Vec<_> = flat.chunks(2).map(|p| format!("{p:?}")).collect();
                    pairs.sort();
                    format!("{pairs:?}")
                }
                "stream" => stream_dump(&mut c, &k),
                other => panic!("unexpected type {other}"),
            };
            out.push(format!("db{db} {k} {kind} expire={at} {content}"));
        }
    }
    out
}

fn stream_dump(c: &mut RawClient, k: &str) -> String {
    let mut parts = vec![format!("{:?}", call(c, &format!("XRANGE {k} - +")))];
    parts.extend(fields(
        call(c, &format!("XINFO STREAM {k}")),
        &[
            "length",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
        ],
    ));
    for g in items(call(c, &format!("XINFO GROUPS {k}"))) {
        let info = fields(
            g,
            &[
                "name",
                "consumers",
                "pending",
                "last-delivered-id",
                "entries-read",
                "lag",
            ],
        );
        let name = info[0].trim_start_matches("name=").to_string();
        parts.extend(info);
        for p in items(call(c, &format!("XPENDING {k} {name} - + 100000"))) {
            // id, consumer, idle (a time: excluded), delivery count
            let p = items(p);
            parts.push(format!(
                "pel {} {} {}",
                text(&p[0]),
                text(&p[1]),
                text(&p[3])
            ));
        }
        for cons in items(call(c, &format!("XINFO CONSUMERS {k} {name}"))) {
            parts.extend(fields(cons, &["name", "pending"]));
        }
    }
    parts.join(" ")
}

fn replay_dataset(port: u16) {
    let mut c = connect(port);
    let script = std::fs::read_to_string(Path::new(DATA).join("dataset.redis")).expect("dataset");
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        let r = call(&mut c, line);
        if let V::S(s) = &r {
            assert!(!s.starts_with('-'), "{line}: {s}");
        }
    }
}

fn info_field(c: &mut RawClient, name: &str) -> String {
    info_value(c, "persistence", name).unwrap_or_else(|| panic!("no {name} in INFO"))
}

fn wait_bgsave(c: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(c, "rdb_last_bgsave_status"), "ok");
}

fn start_in(dir: &Path, extra: &[(&str, &str)]) -> tradestate_engine::EngineHandle {
    let d = dir.display().to_string();
    let mut settings = vec![("dir", d.as_str())];
    settings.extend_from_slice(extra);
    start_engine(&settings)
}

/// Parses a file with the engine's own reader: (db, key) -> value bytes for strings.
fn read_file(path: &Path) -> Vec<tradestate_engine::rdb::LoadedKey> {
    let bytes = std::fs::read(path).expect("read rdb");
    let mut keys = Vec::new();
    tradestate_engine::rdb::load(&bytes, Default::default(), &mut |k| {
        keys.push(k);
        Ok(())
    })
    .expect("file parses");
    keys
}

fn str_value(v: &tradestate_engine::types::Value) -> Vec<u8> {
    match v {
        tradestate_engine::types::Value::Str(s) => s.to_vec(),
        _ => panic!("not a string"),
    }
}

// ---------------------------------------------------------------------------------------------
// Engine-only tests

#[test]
fn save_then_restart_restores_every_type_and_ttl() {
    let dir = fresh_dir();
    let a = start_in(&dir, &[]);
    replay_dataset(a.port());
    let before = dump(a.port());
    let mut c = connect(a.port());
    assert_eq!(call(&mut c, "SAVE"), V::S("+OK".into()));
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    drop(c);
    a.shutdown();
    let b = start_in(&dir, &[]);
    assert_eq!(dump(b.port()), before);
    let mut c = connect(b.port());
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "24");
}

#[test]
fn bgsave_then_restart_restores_the_data_set_uncompressed_too() {
    for compression in ["yes", "no"] {
        let dir = fresh_dir();
        let a = start_in(&dir, &[("rdbcompression", compression)]);
        replay_dataset(a.port());
        let before = dump(a.port());
        let mut c = connect(a.port());
        assert_eq!(
            call(&mut c, "BGSAVE"),
            V::S("+Background saving started".into())
        );
        wait_bgsave(&mut c);
        assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
        drop(c);
        a.shutdown();
        let b = start_in(&dir, &[]);
        assert_eq!(dump(b.port()), before, "rdbcompression {compression}");
    }
}

#[test]
fn loads_the_dump_files_redis_7_wrote() {
    let expected = {
        let e = start_engine(&[]);
        replay_dataset(e.port());
        dump(e.port())
    };
    for file in ["redis-7.0-compressed.rdb", "redis-7.0-plain.rdb"] {
        let dir = fresh_dir();
        std::fs::copy(Path::new(DATA).join(file), dir.join("dump.rdb")).expect("copy");
        let e = start_in(&dir, &[]);
        assert_eq!(dump(e.port()), expected, "{file}");
    }
}

/// BGSAVE is a point in time: writes that follow it (in the same pipeline, and one by one
/// while the snapshot is being serialised) never reach the file, and every key that existed
/// at the instant is in it with its value of that instant.
#[test]
fn bgsave_is_a_consistent_point_in_time_under_concurrent_writes() {
    const KEYS: usize = 30_000;
    let dir = fresh_dir();
    let e = start_in(&dir, &[]);
    let mut c = connect(e.port());
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend(common::encode(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            b"v0",
        ]));
    }
    batch.extend(common::encode(&[b"SET", b"counter", b"1000"]));
    batch.extend(common::encode(&[b"SET", b"doomed", b"old"]));
    c.send_raw(&batch);
    for _ in 0..KEYS + 2 {
        c.read_reply();
    }
    // One pipeline: the snapshot instant, then writes executed before the first slice.
    let mut p = common::encode(&[b"BGSAVE"]);
    for cmd in [
        &[&b"INCR"[..], b"counter"][..],
        &[b"SET", b"key:0", b"v1"],
        &[b"DEL", b"doomed"],
        &[b"SET", b"created-after", b"x"],
        &[b"EXPIRE", b"key:1", b"100"],
    ] {
        p.extend(common::encode(cmd));
    }
    c.send_raw(&p);
    assert_eq!(
        value(&c.read_reply()),
        V::S("+Background saving started".into())
    );
    for _ in 0..5 {
        c.read_reply();
    }
    // One by one while the snapshot runs: overwrite from the end of the key range, delete,
    // create, rename.
    let mut writes = 0;
    let mut i = KEYS - 1;
    while info_field(&mut c, "rdb_bgsave_in_progress") == "1" && i > 10 {
        for _ in 0..50 {
            call(&mut c, &format!("SET key:{i} v2"));
            call(&mut c, &format!("DEL key:{}", i - 1));
            call(&mut c, &format!("SET new:{i} n"));
            call(&mut c, &format!("RENAME key:{} moved:{i}", i - 2));
            call(&mut c, "INCR counter");
            writes += 1;
            i = i.saturating_sub(3);
        }
    }
    wait_bgsave(&mut c);
    let loaded = read_file(&dir.join("dump.rdb"));
    let mut names: Vec<String> = loaded
        .iter()
        .map(|k| String::from_utf8_lossy(&k.key).into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    expected.push("counter".into());
    expected.push("doomed".into());
    expected.sort();
    assert_eq!(names, expected, "after {writes} concurrent write rounds");
    for k in &loaded {
        let name = String::from_utf8_lossy(&k.key);
        let v = str_value(&k.value);
        match name.as_ref() {
            "counter" => assert_eq!(v, b"1000"),
            "doomed" => assert_eq!(v, b"old"),
            _ => assert_eq!(v, b"v0", "{name}"),
        }
        assert_eq!(k.expire_ms, None, "{name}");
    }
    assert!(
        writes > 0,
        "the snapshot finished before any concurrent write"
    );
}

#[test]
fn flushall_and_swapdb_during_bgsave_keep_the_snapshot() {
    let dir = fresh_dir();
    let e = start_in(&dir, &[]);
    let mut c = connect(e.port());
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend(common::encode(&[b"SET", format!("a:{i}").as_bytes(), b"x"]));
    }
    batch.extend(common::encode(&[b"SELECT", b"1"]));
    batch.extend(common::encode(&[b"SET", b"in-db1", b"y"]));
    batch.extend(common::encode(&[b"SELECT", b"0"]));
    c.send_raw(&batch);
    for _ in 0..20_003 {
        c.read_reply();
    }
    let mut p = common::encode(&[b"BGSAVE"]);
    p.extend(common::encode(&[b"SWAPDB", b"0", b"1"]));
    p.extend(common::encode(&[b"FLUSHALL"]));
    p.extend(common::encode(&[b"SET", b"after", b"z"]));
    c.send_raw(&p);
    for _ in 0..4 {
        c.read_reply();
    }
    wait_bgsave(&mut c);
    let loaded = read_file(&dir.join("dump.rdb"));
    assert_eq!(loaded.len(), 20_001);
    assert!(loaded
        .iter()
        .all(|k| (k.db == 0) == k.key.starts_with(b"a:")));
    assert!(loaded.iter().any(|k| k.db == 1 && k.key == b"in-db1"));
}

#[test]
fn save_rules_start_a_bgsave_and_lastsave_moves() {
    let dir = fresh_dir();
    let e = start_in(&dir, &[("save", "1 1")]);
    let mut c = connect(e.port());
    let first = text(&call(&mut c, "LASTSAVE"));
    call(&mut c, "SET k v");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "rdb_saves") == "0" {
        assert!(Instant::now() < deadline, "no automatic save");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_bgsave(&mut c);
    assert!(dir.join("dump.rdb").exists());
    assert_ne!(text(&call(&mut c, "LASTSAVE")), first);
}

#[test]
fn shutdown_saves_with_rules_and_nosave_does_not() {
    let dir = fresh_dir();
    let e = start_in(&dir, &[("save", "3600 1")]);
    let mut c = connect(e.port());
    call(&mut c, "SET kept 1");
    c.send(&[b"SHUTDOWN"]);
    assert!(c.try_read_reply().is_err());
    wait_until("stop", || e.is_stopped());
    let e = start_in(&dir, &[("save", "3600 1")]);
    let mut c = connect(e.port());
    assert_eq!(call(&mut c, "GET kept"), V::S("1".into()));
    call(&mut c, "SET lost 1");
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.try_read_reply().is_err());
    wait_until("stop", || e.is_stopped());
    let e = start_in(&dir, &[]);
    let mut c = connect(e.port());
    assert_eq!(call(&mut c, "EXISTS lost"), V::S(":0".into()));
    assert_eq!(call(&mut c, "EXISTS kept"), V::S(":1".into()));
}

#[test]
fn a_corrupt_file_refuses_to_start_naming_the_offset() {
    let dir = fresh_dir();
    let mut bytes = std::fs::read(Path::new(DATA).join("redis-7.0-plain.rdb")).expect("file");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(dir.join("dump.rdb"), &bytes).expect("write");
    let mut config = tradestate_engine::Config::default();
    config.set("port", "0", false).expect("port");
    config.set("bind", "127.0.0.1", false).expect("bind");
    config
        .set("dir", &dir.display().to_string(), false)
        .expect("dir");
    let err = tradestate_engine::start("corrupt", config)
        .err()
        .expect("start must fail");
    assert!(err.to_string().contains("at byte"), "{err}");
    // Truncated: also refused.
    std::fs::write(dir.join("dump.rdb"), &bytes[..at]).expect("write");
    let mut config = tradestate_engine::Config::default();
    config.set("port", "0", false).expect("port");
    config
        .set("dir", &dir.display().to_string(), false)
        .expect("dir");
    assert!(tradestate_engine::start("truncated", config).is_err());
}

#[test]
fn debug_reload_keeps_the_data() {
    let dir = fresh_dir();
    let e = start_in(&dir, &[("enable-debug-command", "yes")]);
    replay_dataset(e.port());
    let before = dump(e.port());
    let mut c = connect(e.port());
    assert_eq!(call(&mut c, "DEBUG RELOAD"), V::S("+OK".into()));
    assert_eq!(dump(e.port()), before);
}

// ---------------------------------------------------------------------------------------------
// Against redis-server and redis-check-rdb

#[cfg(feature = "redis-server-tests")]
mod against_redis {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn our_dump_file() -> (PathBuf, Vec<String>) {
        let dir = fresh_dir();
        let e = start_in(&dir, &[]);
        replay_dataset(e.port());
        let mut c = connect(e.port());
        call(&mut c, "SAVE");
        (dir.join("dump.rdb"), dump(e.port()))
    }

    #[test]
    fn redis_check_rdb_accepts_our_file() {
        let (file, _) = our_dump_file();
        let out = Command::new("redis-check-rdb")
            .arg(&file)
            .output()
            .expect("redis-check-rdb");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("RDB looks OK"),
            "{text}"
        );
        assert!(text.contains("24 keys read"), "{text}");
    }

    #[test]
    fn redis_server_loads_our_file_with_every_key_value_and_ttl() {
        let (file, ours) = our_dump_file();
        let dir = fresh_dir();
        std::fs::copy(&file, dir.join("dump.rdb")).expect("copy");
        let r = common::start_redis_server_in(&dir);
        assert_eq!(dump(r.port), ours);
    }

    #[test]
    fn we_load_redis_servers_file_of_the_same_data_set() {
        let dir = fresh_dir();
        let r = common::start_redis_server_in(&dir);
        replay_dataset(r.port);
        let theirs = dump(r.port);
        let mut c = connect(r.port);
        call(&mut c, "SAVE");
        let e = start_in(&dir, &[]);
        assert_eq!(dump(e.port()), theirs);
    }
}
