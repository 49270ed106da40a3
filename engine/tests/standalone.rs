//! The `tradestate-engine` binary as operators run it (config file, `--name value` flags, unix
//! socket, SIGTERM), and the library embedding several engines in one process.

// Unsafe code here: kill(2) on the child engine; each block says why it is sound.
#![allow(unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_calls, connect, free_port, start_engine, start_engine_and_client, RawClient};

fn wait_for_port(port: u16) -> RawClient {
    let connect = || RawClient::connect(port).ok();
    tradestate_test_support::poll(Duration::from_secs(10), Duration::from_millis(50), connect)
        .unwrap_or_else(|| panic!("engine did not listen on {port}"))
}

#[test]
fn config_file_flags_unix_socket_and_sigterm() {
    let dir = std::env::temp_dir().join(format!("tradestate-standalone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("engine.conf");
    let sock = dir.join("engine.sock");
    let port = free_port();
    std::fs::write(
        &conf,
        format!("# test config\nport 1\nbind 127.0.0.1\ndatabases 4\nhash-max-ziplist-entries 7\nunixsocket {}\n", sock.display()),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--hz", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tradestate-engine");
    let mut c = wait_for_port(port);
    // The flag overrides the file; the file's other settings hold.
    assert_eq!(
        c.call(&[b"CONFIG", b"GET", b"port"]),
        format!(
            "*2\r\n$4\r\nport\r\n${}\r\n{port}\r\n",
            port.to_string().len()
        )
        .into_bytes()
    );
    assert_calls(
        &mut c,
        &[
            (
                &[b"CONFIG", b"GET", b"databases"],
                b"*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
            ),
            (
                &[b"CONFIG", b"GET", b"hz"],
                b"*2\r\n$2\r\nhz\r\n$2\r\n20\r\n",
            ),
            (&[b"SELECT", b"4"], b"-ERR DB index is out of range\r\n"),
        ],
    );
    // The unix socket serves the same keyspace.
    assert_eq!(c.call(&[b"SET", b"k", b"tcp"]), b"+OK\r\n");
    let mut unix = std::os::unix::net::UnixStream::connect(&sock).expect("unix socket");
    unix.write_all(b"GET k\r\n").expect("write");
    let mut buf = [0u8; 64];
    let n = unix.read(&mut buf).expect("read");
    assert_eq!(&buf[..n], b"$3\r\ntcp\r\n");
    // SIGTERM: clean exit, socket file removed.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "engine did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    let mut log = String::new();
    child.stdout.take().map(|mut s| s.read_to_string(&mut log));
    assert!(log.contains("SIGTERM"), "log: {log}");
    assert!(!sock.exists(), "unix socket file left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_config_is_refused_with_the_line_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"))
        .args(["--port", "70000"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("port") && err.contains("between 0 and 65535"),
        "stderr: {err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"))
        .args(["--no-such-option", "1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad directive"));
}

#[test]
fn embedded_engines_are_independent() {
    let engines: Vec<_> = (0..3)
        .map(|_| start_engine(&[("enable-debug-command", "yes")]))
        .collect();
    let mut clients: Vec<_> = engines.iter().map(|e| connect(e.port())).collect();
    assert_eq!(clients[0].call(&[b"SET", b"only-in-0", b"v"]), b"+OK\r\n");
    assert_eq!(clients[1].call(&[b"EXISTS", b"only-in-0"]), b":0\r\n");
    assert_eq!(clients[2].call(&[b"DBSIZE"]), b":0\r\n");
    // A slow command on one engine does not stall the others: each has its own thread.
    clients[0].send(&[b"DEBUG", b"SLEEP", b"0.5"]);
    let started = Instant::now();
    assert_eq!(clients[1].call(&[b"PING"]), b"+PONG\r\n");
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(clients[0].read_reply().raw(), b"+OK\r\n");
    for e in engines {
        e.shutdown();
    }
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let (engine, mut idle) = start_engine_and_client(&[("timeout", "1"), ("hz", "50")]);
    assert_eq!(idle.call(&[b"PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(1600));
    assert!(
        idle.try_read_reply().is_err(),
        "idle client should have been closed"
    );
    let mut fresh = connect(engine.port());
    assert_eq!(fresh.call(&[b"PING"]), b"+PONG\r\n");
}
