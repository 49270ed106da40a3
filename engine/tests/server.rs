//! Server and connection behaviour that a differential script cannot show: CLIENT KILL
//! closing another connection, SHUTDOWN stopping the engine and the standalone process,
//! DEBUG when enabled, the idle-client timeout, measured INFO rates, and (with a real
//! redis-server) INFO's sections and field names against Redis 7.0's.

mod common;

use std::time::{Duration, Instant};

use common::{assert_calls, connect, free_port, start_engine, start_engine_and_client, RawClient};
use tradestate_test_support::wait_until;

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

/// The value of `field=` in a CLIENT INFO / CLIENT LIST line.
fn client_field(line: &str, field: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn client_kill_closes_another_connection() {
    let (engine, mut a) = start_engine_and_client(&[]);
    let mut b = connect(engine.port());
    let b_info = text(b.call(&[b"CLIENT", b"INFO"]));
    let b_id = client_field(&b_info, "id");
    let a_list = text(a.call(&[b"CLIENT", b"LIST"]));
    assert!(a_list.contains(&format!("id={b_id} ")), "{a_list}");

    assert_eq!(
        a.call(&[b"CLIENT", b"KILL", b"ID", b_id.as_bytes()]),
        b":1\r\n"
    );
    // Gone at once from the registry, and its socket is closed.
    let a_list = text(a.call(&[b"CLIENT", b"LIST"]));
    assert!(!a_list.contains(&format!("id={b_id} ")), "{a_list}");
    b.send(&[b"PING"]);
    assert!(b.try_read_reply().is_err(), "killed client still answered");

    // Old form by address: +OK, and -ERR No such client once it is gone.
    let mut c = connect(engine.port());
    let c_addr = client_field(&text(c.call(&[b"CLIENT", b"INFO"])), "addr");
    assert_eq!(a.call(&[b"CLIENT", b"KILL", c_addr.as_bytes()]), b"+OK\r\n");
    c.send(&[b"PING"]);
    assert!(c.try_read_reply().is_err(), "killed client still answered");
    assert_eq!(
        a.call(&[b"CLIENT", b"KILL", c_addr.as_bytes()]),
        b"-ERR No such client\r\n"
    );

    // Filters: TYPE normal kills every other client; SKIPME NO includes the caller, which
    // gets its reply before the connection closes.
    let mut d = connect(engine.port());
    d.call(&[b"PING"]);
    assert_eq!(a.call(&[b"CLIENT", b"KILL", b"TYPE", b"normal"]), b":1\r\n");
    d.send(&[b"PING"]);
    assert!(d.try_read_reply().is_err());
    assert_eq!(
        a.call(&[b"CLIENT", b"KILL", b"TYPE", b"normal", b"SKIPME", b"no"]),
        b":1\r\n"
    );
    assert!(
        a.try_read_reply().is_err(),
        "caller must be closed after its reply"
    );

    let mut e = connect(engine.port());
    wait_until("connected_clients:1", || {
        text(e.call(&[b"INFO", b"clients"])).contains("connected_clients:1\r\n")
    });
}

#[test]
fn shutdown_stops_the_engine() {
    // A save that cannot be written (its directory is gone) stops the shutdown.
    let dir = common::fresh_dir();
    let engine = start_engine(&[("dir", &dir.display().to_string())]);
    std::fs::remove_dir_all(&dir).expect("remove dir");
    let mut c = connect(engine.port());
    assert_eq!(
        c.call(&[b"SHUTDOWN", b"SAVE"]),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.try_read_reply().is_err(), "SHUTDOWN must not reply");
    wait_until("the engine to stop", || engine.is_stopped());
    assert!(
        RawClient::connect(engine.port()).is_err(),
        "still accepting connections"
    );
}

#[test]
fn shutdown_save_force_stops_too() {
    let (engine, mut c) = start_engine_and_client(&[]);
    c.send(&[b"SHUTDOWN", b"SAVE", b"FORCE"]);
    assert!(c.try_read_reply().is_err());
    wait_until("the engine to stop", || engine.is_stopped());
}

#[test]
fn shutdown_ends_the_standalone_process_with_status_0() {
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tradestate-engine"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--loglevel",
            "warning",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tradestate-engine");
    let mut c = None;
    wait_until("tradestate-engine to listen", || {
        c = RawClient::connect(port).ok();
        c.is_some()
    });
    let mut c = c.expect("connected");
    assert_eq!(c.call(&[b"PING"]), b"+PONG\r\n");
    c.send(&[b"SHUTDOWN"]);
    assert!(c.try_read_reply().is_err());
    let mut status = None;
    wait_until("tradestate-engine to exit", || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn debug_is_refused_unless_enabled() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    let reply = text(c.call(&[b"DEBUG", b"SLEEP", b"0"]));
    assert!(
        reply.starts_with("-ERR DEBUG command not allowed."),
        "{reply}"
    );
    // "local" allows loopback clients, which the test client is.
    let (_engine, mut c) = start_engine_and_client(&[("enable-debug-command", "local")]);
    assert_eq!(c.call(&[b"DEBUG", b"SLEEP", b"0"]), b"+OK\r\n");
}

#[test]
fn debug_subcommands_when_enabled() {
    let (_engine, mut c) = start_engine_and_client(&[("enable-debug-command", "yes")]);
    let started = Instant::now();
    assert_eq!(c.call(&[b"DEBUG", b"SLEEP", b"0.2"]), b"+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_calls(
        &mut c,
        &[
            (&[b"DEBUG", b"SLEEP", b"abc"], b"+OK\r\n"),
            (
                &[b"DEBUG", b"ERROR", b"CUSTOM some text"],
                b"-CUSTOM some text\r\n",
            ),
            (
                &[b"DEBUG", b"PROTOCOL", b"map"],
                b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
            ),
            (&[b"DEBUG", b"PROTOCOL", b"double"], b"$5\r\n3.141\r\n"),
            (
                &[b"DEBUG", b"PROTOCOL", b"push"],
                b"-ERR RESP2 is not supported by this command\r\n",
            ),
            (
                &[b"DEBUG", b"SLEEP"],
                b"-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
            ),
        ],
    );
    let help = text(c.call(&[b"DEBUG", b"HELP"]));
    assert!(
        help.contains("+SLEEP <seconds>\r\n") && help.contains("+SET-ACTIVE-EXPIRE <0|1>\r\n"),
        "{help}"
    );
    c.call(&[b"HELLO", b"3"]);
    assert_calls(
        &mut c,
        &[
            (
                &[b"DEBUG", b"PROTOCOL", b"bignum"],
                b"(1234567999999999999999999999999999999\r\n",
            ),
            (&[b"DEBUG", b"PROTOCOL", b"true"], b"#t\r\n"),
        ],
    );

    // SET-ACTIVE-EXPIRE 0: expired keys stay until touched; 1: the cron removes them again.
    assert_eq!(c.call(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]), b"+OK\r\n");
    c.call(&[b"SET", b"k", b"v", b"PX", b"1"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.call(&[b"DBSIZE"]), b":1\r\n");
    assert_eq!(c.call(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"1"]), b"+OK\r\n");
    wait_until("active expiry", || c.call(&[b"DBSIZE"]) == b":0\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let (_engine, mut idle) = start_engine_and_client(&[("timeout", "1")]);
    assert_eq!(idle.call(&[b"PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    idle.send(&[b"PING"]);
    assert!(idle.try_read_reply().is_err(), "idle client was not closed");
}

#[test]
fn instantaneous_ops_per_sec_is_measured() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for _ in 0..50 {
            c.call(&[b"PING"]);
        }
        let info = text(c.call(&[b"INFO", b"stats"]));
        let ops: i64 = info
            .lines()
            .find_map(|l| l.strip_prefix("instantaneous_ops_per_sec:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("instantaneous_ops_per_sec");
        if ops > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "instantaneous_ops_per_sec stayed 0"
        );
    }
}

#[test]
fn info_counts_commands_errors_and_latency() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    c.call(&[b"SET", b"k", b"v"]);
    c.call(&[b"GET", b"k"]);
    c.call(&[b"GET", b"missing"]);
    c.call(&[b"GET"]);
    c.call(&[b"INCR", b"k"]);
    let info = text(c.call(&[b"INFO", b"all"]));
    assert!(info.contains("cmdstat_get:calls=2,"), "{info}");
    assert!(
        info.contains("rejected_calls=1,failed_calls=0\r\n"),
        "{info}"
    );
    assert!(
        info.contains("cmdstat_incr:calls=1,") && info.contains("failed_calls=1\r\n"),
        "{info}"
    );
    assert!(info.contains("errorstat_ERR:count=2\r\n"), "{info}");
    assert!(
        info.contains("keyspace_hits:1\r\n") && info.contains("keyspace_misses:1\r\n"),
        "{info}"
    );
    assert!(info.contains("latency_percentiles_usec_get:p50="), "{info}");
    assert!(info.contains("rdb_changes_since_last_save:1\r\n"), "{info}");
    assert_eq!(c.call(&[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
    let info = text(c.call(&[b"INFO", b"commandstats"]));
    assert_eq!(info.matches("cmdstat_").count(), 1, "{info}");
}

#[test]
fn authentication_flows() {
    let (engine, mut c) = start_engine_and_client(&[("requirepass", "secret")]);
    assert_eq!(c.call(&[b"PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        c.call(&[b"HELLO", b"3"]),
        &b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"[..]
    );
    assert_eq!(
        c.call(&[b"HELLO", b"3", b"AUTH", b"default", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    // Authenticated, then the name is refused: RESP2 stays, the login stays.
    assert_eq!(
        c.call(&[b"HELLO", b"3", b"AUTH", b"default", b"secret", b"SETNAME", b"a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(c.call(&[b"GET", b"missing"]), b"$-1\r\n");
    assert_eq!(
        c.call(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.call(&[b"RESET"]), b"+RESET\r\n");
    assert_eq!(
        c.call(&[b"GET", b"k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(c.call(&[b"AUTH", b"default", b"secret"]), b"+OK\r\n");
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"requirepass", b""]),
        b"+OK\r\n"
    );
    let mut d = connect(engine.port());
    assert_eq!(d.call(&[b"PING"]), b"+PONG\r\n");
}

/// A default engine and a redis-server (kept alive by the first element), and a client of each.
#[cfg(feature = "redis-server-tests")]
fn engine_and_redis() -> (
    (tradestate_engine::EngineHandle, common::RedisServer),
    RawClient,
    RawClient,
) {
    let redis = common::start_redis_server();
    let engine = start_engine(&[]);
    let ours = RawClient::connect(engine.port()).expect("connect engine");
    let theirs = RawClient::connect(redis.port).expect("connect redis");
    ((engine, redis), ours, theirs)
}

/// Every command and subcommand this engine has gets exactly Redis's COMMAND INFO reply
/// (flags, key positions, ACL categories, tips and key specs), in RESP2 and RESP3.
#[cfg(feature = "redis-server-tests")]
#[test]
fn command_info_matches_redis_for_every_command() {
    let (_servers, mut ours, mut theirs) = engine_and_redis();
    ours.send(&[b"COMMAND", b"LIST"]);
    let common::Reply::Aggregate(_, names) = ours.read_reply() else {
        panic!("COMMAND LIST is not an array");
    };
    let names: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            let raw = n.raw();
            let body = &raw[raw.iter().position(|&b| b == b'\n').unwrap_or(0) + 1..];
            body[..body.len().saturating_sub(2)].to_vec()
        })
        .collect();
    let containers: Vec<Vec<u8>> = names
        .iter()
        .filter_map(|n| {
            n.split(|&b| b == b'|')
                .next()
                .filter(|_| n.contains(&b'|'))
                .map(|p| p.to_vec())
        })
        .collect();
    let mut compared = 0;
    let mut wrong = Vec::new();
    for resp in [&b"2"[..], b"3"] {
        ours.call(&[b"HELLO", resp]);
        theirs.call(&[b"HELLO", resp]);
        for name in &names {
            if containers.contains(name) {
                continue; // Redis orders subcommands by hash and has more of them.
            }
            let a = ours.call(&[b"COMMAND", b"INFO", name]);
            let b = theirs.call(&[b"COMMAND", b"INFO", name]);
            if b == b"*1\r\n$-1\r\n" || b == b"*1\r\n_\r\n" {
                continue; // Not a Redis 7.0 command (CLIENT SETINFO is 7.2's).
            }
            compared += 1;
            if a != b {
                wrong.push(format!(
                    "{}\n ours:  {}\n redis: {}",
                    String::from_utf8_lossy(name),
                    common::show(&a),
                    common::show(&b)
                ));
            }
        }
    }
    assert!(compared > 50, "only {compared} compared");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// INFO's sections and field names, in order, for `INFO everything`.
#[cfg(feature = "redis-server-tests")]
fn info_layout(info: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in info.split("\r\n") {
        if let Some(section) = line.strip_prefix("# ") {
            out.push((section.to_string(), Vec::new()));
        } else if let Some((name, _)) = line.split_once(':') {
            if let Some(last) = out.last_mut() {
                last.1.push(name.to_string());
            }
        }
    }
    out
}

#[cfg(feature = "redis-server-tests")]
#[test]
fn info_fields_match_redis() {
    let (_servers, mut ours, mut theirs) = engine_and_redis();
    for c in [&mut ours, &mut theirs] {
        c.call(&[b"FLUSHALL"]);
        c.call(&[b"CONFIG", b"RESETSTAT"]);
        c.call(&[b"SET", b"k", b"v"]);
        c.call(&[b"GET", b"k"]);
        c.call(&[b"GET"]);
    }
    let body = |reply: Vec<u8>| {
        let s = text(reply);
        s.split_once("\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    };
    let ours_info = body(ours.call(&[b"INFO", b"everything"]));
    let theirs_info = body(theirs.call(&[b"INFO", b"everything"]));
    let ours_layout = info_layout(&ours_info);
    let theirs_layout = info_layout(&theirs_info);
    let names = |l: &[(String, Vec<String>)]| l.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours_layout), names(&theirs_layout));
    for ((section, ours_fields), (_, theirs_fields)) in ours_layout.iter().zip(&theirs_layout) {
        let ours_fields: Vec<&String> = ours_fields
            .iter()
            .filter(|f| !f.starts_with("tradestate_"))
            .collect();
        let theirs_fields: Vec<&String> = theirs_fields.iter().collect();
        if section == "Commandstats" || section == "Latencystats" {
            // Per-command lines, in each server's own table order.
            let mut a = ours_fields.clone();
            let mut b = theirs_fields.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "section {section}");
        } else {
            assert_eq!(ours_fields, theirs_fields, "section {section}");
        }
    }
    // Per-command value layouts match too.
    let line_shape = |info: &str, prefix: &str| -> Vec<String> {
        info.split("\r\n")
            .filter(|l| l.starts_with(prefix))
            .map(|l| {
                l.split(',')
                    .map(|kv| kv.split('=').next().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    for prefix in [
        "cmdstat_get:",
        "latency_percentiles_usec_get:",
        "errorstat_ERR:",
        "db0:",
    ] {
        assert_eq!(
            line_shape(&ours_info, prefix),
            line_shape(&theirs_info, prefix),
            "{prefix}\nours: {}\nredis: {}",
            common::show(ours_info.as_bytes()),
            common::show(theirs_info.as_bytes())
        );
    }
}
