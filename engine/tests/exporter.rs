//! redis_exporter (Debian's `prometheus-redis-exporter`, or `$REDIS_EXPORTER`) scrapes the
//! engine: `redis_up 1`, memory and per-command metrics, and nothing in its log about errors
//! or values it could not parse.
//!
//! Built only with `--features redis-server-tests`; `.ci/run` installs the exporter.

#![cfg(feature = "redis-server-tests")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, start_engine_and_client};

/// The exporter process, killed on drop; its log goes to a file read at the end.
struct Exporter {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn start_exporter(redis_port: u16, web_port: u16, extra: &[&str]) -> Exporter {
    let bin =
        std::env::var("REDIS_EXPORTER").unwrap_or_else(|_| "prometheus-redis-exporter".into());
    let log = std::env::temp_dir().join(format!("tradestate-exporter-{web_port}.log"));
    let log_file = std::fs::File::create(&log).expect("exporter log file");
    let child = Command::new(&bin)
        .args([
            "-redis.addr",
            &format!("redis://127.0.0.1:{redis_port}"),
            "-web.listen-address",
            &format!("127.0.0.1:{web_port}"),
            "-include-system-metrics",
            "-export-client-list",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin}: {e} (apt-get install prometheus-redis-exporter or set REDIS_EXPORTER)")
        });
    Exporter { child, log }
}

/// GET /metrics over plain HTTP/1.0 (the body ends when the exporter closes).
fn scrape(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text)
}

/// The value of a metric line `name value` or `name{labels} value`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{')))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes until the exporter answers.
fn first_scrape(web_port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match scrape(web_port) {
            Ok(t) if t.contains("redis_up") => return t,
            _ if Instant::now() > deadline => panic!("the exporter never answered"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn redis_exporter_authenticates_as_an_acl_user() {
    let (engine, mut admin) = start_engine_and_client(&[("requirepass", "pw")]);
    admin.call(&[b"AUTH", b"pw"]);
    // What the exporter needs: read-only introspection, no data commands.
    let monitor: &[&[u8]] = &[
        b"ACL",
        b"SETUSER",
        b"exporter",
        b"on",
        b">secret",
        b"-@all",
        b"+info",
        b"+ping",
        b"+config|get",
        b"+client|setname",
        b"+client|list",
        b"+slowlog",
        b"+latency",
        b"+select",
        b"+dbsize",
    ];
    assert_eq!(admin.call(monitor), b"+OK\r\n");
    let web_port = free_port();
    let exporter = start_exporter(
        engine.port(),
        web_port,
        &["-redis.user", "exporter", "-redis.password", "secret"],
    );
    let text = first_scrape(web_port);
    assert_eq!(metric(&text, "redis_up"), Some(1.0), "{text}");
    assert!(metric(&text, "redis_memory_used_bytes").is_some());
    assert!(
        text.contains("redis_commands_total{cmd=\"config|get\"}"),
        "{text}"
    );
    let log = std::fs::read_to_string(&exporter.log).unwrap_or_default();
    assert!(!log.contains("level=error"), "exporter complained:\n{log}");
    // A wrong password shows as redis_up 0.
    let web_port = free_port();
    let _bad = start_exporter(engine.port(), web_port, &["-redis.password", "wrong"]);
    let text = first_scrape(web_port);
    assert_eq!(metric(&text, "redis_up"), Some(0.0), "{text}");
}

#[test]
fn redis_exporter_scrapes_the_engine() {
    let (engine, mut c) = start_engine_and_client(&[]);
    for args in [
        &[&b"SET"[..], b"k", b"v"][..],
        &[b"HSET", b"h", b"f", b"v"],
        &[b"GET", b"nosuch"],
        &[b"INCR", b"h"],
        &[b"XADD", b"s", b"*", b"f", b"v"],
    ] {
        c.call(args);
    }
    let web_port = free_port();
    let exporter = start_exporter(engine.port(), web_port, &[]);
    let text = first_scrape(web_port);
    // A second scrape: both must be clean (the first one also sets the client name).
    let text2 = scrape(web_port).expect("second scrape");
    for t in [&text, &text2] {
        assert_eq!(metric(t, "redis_up"), Some(1.0), "{t}");
        assert!(metric(t, "redis_memory_used_bytes").is_some_and(|v| v > 0.0));
        assert!(t.contains("redis_commands_total{cmd=\"set\"}"), "{t}");
        assert!(t.contains("redis_commands_duration_seconds_total{cmd=\"hset\"}"));
        assert!(
            t.contains("redis_errors_total{err=\"WRONGTYPE\"}")
                || t.contains("redis_errors_total{err=\"ERR\"}")
        );
        assert!(metric(t, "redis_connected_clients").is_some_and(|v| v >= 1.0));
        assert_eq!(metric(t, "redis_exporter_last_scrape_error"), Some(0.0));
        assert!(metric(t, "redis_db_keys").is_some());
        assert!(metric(t, "redis_slowlog_length").is_some());
        assert!(t.contains("redis_keyspace_hits_total"));
    }
    let log = std::fs::read_to_string(&exporter.log).unwrap_or_default();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("level=error") || l.contains("level=warn") || l.contains("parse")
        })
        .collect();
    assert!(bad.is_empty(), "exporter complained:\n{}", bad.join("\n"));
}
