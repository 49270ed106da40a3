//! The `redis` crate (redis-rs), a real client library, against the engine: its normal
//! connection handshake (HELLO 3 for RESP3, SELECT, CLIENT SETINFO), sync and async
//! (multiplexed) connections, pipelines, typed conversions, and server errors surfacing as
//! `RedisError`s of the right kind. Needs nothing installed, so it runs in plain `cargo test`.

mod common;

use std::collections::HashMap;

use common::start_engine;
use redis::{AsyncCommands, Commands, ErrorKind, RedisResult, Value};
use tradestate_engine::EngineHandle;

fn url(port: u16, path_and_query: &str) -> String {
    format!("redis://127.0.0.1:{port}/{path_and_query}")
}

fn sync_conn(port: u16, path_and_query: &str) -> redis::Connection {
    redis::Client::open(url(port, path_and_query))
        .expect("valid url")
        .get_connection()
        .expect("redis-rs connects and completes its handshake")
}

/// A default engine and a sync connection to it ([`sync_conn`]).
fn engine_and_conn(path_and_query: &str) -> (EngineHandle, redis::Connection) {
    let engine = start_engine(&[]);
    let con = sync_conn(engine.port(), path_and_query);
    (engine, con)
}

/// This connection's `CLIENT INFO` line as key=value pairs.
fn client_info(con: &mut redis::Connection) -> HashMap<String, String> {
    let line: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(con)
        .expect("CLIENT INFO");
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Checks `want`'s fields of a `CLIENT INFO` line; a failure names the field.
fn assert_fields(info: &HashMap<String, String>, want: &[(&str, &str)]) {
    for &(field, value) in want {
        assert_eq!(
            info.get(field).map(String::as_str),
            Some(value),
            "{field} in {info:?}"
        );
    }
}

#[test]
fn handshake_records_library_name_and_version() {
    let (_engine, mut con) = engine_and_conn("");
    let info = client_info(&mut con);
    assert_fields(
        &info,
        &[("lib-name", "redis-rs"), ("resp", "2"), ("db", "0")],
    );
    assert!(
        info.get("lib-ver").is_some_and(|v| v.starts_with("0.")),
        "lib-ver missing: {info:?}"
    );
}

#[test]
fn database_in_url_is_selected_during_handshake() {
    let (engine, mut db3) = engine_and_conn("3");
    let mut db0 = sync_conn(engine.port(), "");
    let () = db3.set("only-in-3", "x").unwrap();
    assert_fields(&client_info(&mut db3), &[("db", "3")]);
    let in0: Option<String> = db0.get("only-in-3").unwrap();
    assert_eq!(in0, None);
    let in3: String = db3.get("only-in-3").unwrap();
    assert_eq!(in3, "x");
}

#[test]
fn typed_values_round_trip() {
    let (_engine, mut con) = engine_and_conn("");

    let () = con.set("s", "hello").unwrap();
    let s: String = con.get("s").unwrap();
    assert_eq!(s, "hello");

    let () = con.set("n", 41).unwrap();
    let n: i64 = con.incr("n", 1).unwrap();
    assert_eq!(n, 42);
    let n: i64 = con.get("n").unwrap();
    assert_eq!(n, 42);
    let f: f64 = con.incr("n", 0.5).unwrap();
    assert_eq!(f, 42.5);

    let missing: Option<String> = con.get("nope").unwrap();
    assert_eq!(missing, None);

    let binary: Vec<u8> = vec![0, 0xff, b'\r', b'\n', 0x80, b'$'];
    let () = con.set(&binary[..], &binary[..]).unwrap();
    let back: Vec<u8> = con.get(&binary[..]).unwrap();
    assert_eq!(back, binary);

    let big = vec![b'x'; 1 << 20];
    let () = con.set("big", &big[..]).unwrap();
    let back: Vec<u8> = con.get("big").unwrap();
    assert_eq!(back.len(), big.len());
    let len: usize = con.strlen("big").unwrap();
    assert_eq!(len, 1 << 20);

    let () = con.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let got: Vec<Option<String>> = con.mget(&["a", "missing", "b"]).unwrap();
    assert_eq!(got, vec![Some("1".into()), None, Some("2".into())]);

    let existed: bool = con.exists("a").unwrap();
    assert!(existed);
    let removed: usize = con.del(&["a", "b", "missing"]).unwrap();
    assert_eq!(removed, 2);

    let () = con.set_ex("ttl", "v", 100).unwrap();
    let ttl: i64 = con.ttl("ttl").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
}

#[test]
fn pipelines_return_replies_in_order() {
    let (_engine, mut con) = engine_and_conn("");
    let (a, b, missing, counter): (String, i64, Option<String>, i64) = redis::pipe()
        .set("a", "x")
        .ignore()
        .set("b", 7)
        .ignore()
        .get("a")
        .incr("b", 3)
        .get("missing")
        .incr("counter", 1)
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b, missing, counter), ("x", 10, None, 1));

    // A long pipeline goes out in one write and comes back complete and in order.
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.set(format!("k{i}"), i).ignore();
    }
    for i in 0..5000 {
        pipe.get(format!("k{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..5000).collect::<Vec<i64>>());
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 5000 + 3, "k0..k4999 plus a, b and counter");
}

#[test]
fn pipeline_with_a_failing_command_reports_the_error() {
    let (_engine, mut con) = engine_and_conn("");
    let () = con.set("text", "abc").unwrap();
    let result: RedisResult<(i64, i64)> =
        redis::pipe().incr("n", 1).incr("text", 1).query(&mut con);
    let err = result.expect_err("INCR on text fails");
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    // The command before the failing one still ran, and the connection is still usable.
    let n: i64 = con.get("n").unwrap();
    assert_eq!(n, 1);
}

#[test]
fn server_errors_surface_with_the_right_kind() {
    let (_engine, mut con) = engine_and_conn("");
    let () = con.set("text", "abc").unwrap();

    let err = con.incr::<_, _, i64>("text", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );

    let err = redis::cmd("NOSUCHCOMMAND")
        .arg("x")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert!(
        err.detail()
            .is_some_and(|d| d.starts_with("unknown command 'NOSUCHCOMMAND'")),
        "{err}"
    );

    let err = redis::cmd("GET").query::<Value>(&mut con).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'get' command")
    );

    let err = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("NX")
        .arg("XX")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(err.detail(), Some("syntax error"));

    // A reply of the wrong shape for the requested Rust type is a client-side TypeError.
    let err = con.get::<_, i64>("text").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TypeError);

    assert_wrongtype_is_an_extension_error(&mut con);

    // After all of that the connection still works.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// WRONGTYPE needs a key of a non-string type; uses the first container type this build has.
fn assert_wrongtype_is_an_extension_error(con: &mut redis::Connection) {
    let creators: [&[&str]; 5] = [
        &["HSET", "container", "f", "v"],
        &["SADD", "container", "m"],
        &["ZADD", "container", "1", "m"],
        &["RPUSH", "container", "e"],
        &["XADD", "container", "*", "f", "v"],
    ];
    for creator in creators {
        let mut cmd = redis::cmd(creator[0]);
        for a in &creator[1..] {
            cmd.arg(*a);
        }
        match cmd.query::<Value>(con) {
            Ok(_) => {
                let err = con.get::<_, Option<String>>("container").unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ExtensionError, "{err}");
                assert_eq!(err.code(), Some("WRONGTYPE"));
                assert_eq!(
                    err.detail(),
                    Some("Operation against a key holding the wrong kind of value")
                );
                return;
            }
            Err(e) if e.detail().is_some_and(|d| d.starts_with("unknown command")) => continue,
            Err(e) => panic!("{}: {e}", creator[0]),
        }
    }
    eprintln!("no container type available yet: WRONGTYPE not exercised");
}

/// `CONFIG GET maxclients`, converted to `T`.
fn config_get_maxclients<T: redis::FromRedisValue>(con: &mut redis::Connection) -> T {
    redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(con)
        .unwrap()
}

#[test]
fn resp3_connection_via_hello() {
    let (engine, mut con) = engine_and_conn("?protocol=resp3");
    assert_fields(
        &client_info(&mut con),
        &[("resp", "3"), ("lib-name", "redis-rs")],
    );

    // CONFIG GET is a map in RESP3 (a flat array in RESP2); both convert to a HashMap.
    let raw: Value = config_get_maxclients(&mut con);
    assert!(
        matches!(raw, Value::Map(_)),
        "RESP3 map expected, got {raw:?}"
    );
    let map: HashMap<String, String> = config_get_maxclients(&mut con);
    assert_eq!(map.get("maxclients").map(String::as_str), Some("10000"));

    let missing: Value = con.get("nope").unwrap();
    assert_eq!(missing, Value::Nil);
    let () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
    let err = con.incr::<_, _, i64>("k", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);

    let mut resp2 = sync_conn(engine.port(), "");
    let raw: Value = config_get_maxclients(&mut resp2);
    assert!(
        matches!(raw, Value::Array(_)),
        "RESP2 array expected, got {raw:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_multiplexed_connection_with_concurrent_callers() {
    let engine = start_engine(&[]);
    let client = redis::Client::open(url(engine.port(), "")).unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();

    // Many tasks share one multiplexed connection; their commands interleave on the wire and
    // each must still get its own reply.
    let mut tasks = Vec::new();
    for t in 0..20 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let key = format!("t{t}:{i}");
                let () = con.set(&key, i * t).await.unwrap();
                let v: i64 = con.get(&key).await.unwrap();
                assert_eq!(v, i * t);
                let n: i64 = con.incr("shared", 1).await.unwrap();
                assert!(n >= 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut con = con;
    let total: i64 = con.get("shared").await.unwrap();
    assert_eq!(total, 2000);

    let (a, b): (i64, Option<String>) = redis::pipe()
        .incr("shared", 5)
        .get("missing")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((a, b), (2005, None));

    let () = con.set("text", "x").await.unwrap();
    let err = con.incr::<_, _, i64>("text", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_resp3_connection() {
    let engine = start_engine(&[]);
    let client = redis::Client::open(url(engine.port(), "2?protocol=resp3")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let line: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(line.contains(" resp=3 "), "{line}");
    assert!(line.contains(" db=2 "), "{line}");
    assert!(line.contains(" lib-name=redis-rs "), "{line}");
    let () = con.set("k", 1).await.unwrap();
    let n: i64 = con.incr("k", 1).await.unwrap();
    assert_eq!(n, 2);
    let raw: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(matches!(raw, Value::Map(_)), "{raw:?}");
}
