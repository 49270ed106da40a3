//! Real client programs against the engine: redis-cli (one-shot, interactive over stdin,
//! RESP3, `-x`, `--pipe` mass insertion), redis-benchmark and redis-py. Where the output is
//! deterministic it is compared with the same program's output against a real redis-server.
//!
//! Needs redis-server, redis-cli, redis-benchmark and python3 with redis-py 5, so it is built
//! only with `--features redis-server-tests` (`.ci/run` installs them all).

#![cfg(feature = "redis-server-tests")]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, start_engine, start_redis_server};

/// What a finished program printed.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program args` with `stdin` as its input; fails the test if it takes over `limit`.
fn run_with_input(program: &str, args: &[&str], stdin: &[u8], limit: Duration) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (install it, see .ci/run)"));
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let collect = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = feeder.join();
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn redis_cli(port: u16, args: &[&str], stdin: &[u8]) -> Run {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    run_with_input("redis-cli", &all, stdin, Duration::from_secs(30))
}

/// Runs the same redis-cli invocations against the engine and redis-server (both flushed
/// first) and asserts identical output and exit codes.
fn assert_cli_matches_redis(invocations: &[(&[&str], &[u8])]) -> Vec<Run> {
    let engine = start_engine(&[]);
    let redis = start_redis_server();
    let mut ours = Vec::new();
    for port in [engine.port(), redis.port] {
        connect(port).call(&[b"FLUSHALL"]);
    }
    for (args, stdin) in invocations {
        let got = redis_cli(engine.port(), args, stdin);
        let want = redis_cli(redis.port, args, stdin);
        assert_eq!(
            got, want,
            "redis-cli {args:?} differs (left: engine, right: redis-server)"
        );
        ours.push(got);
    }
    ours
}

#[test]
fn redis_cli_one_shot_commands_match_redis() {
    let invocations: &[(&[&str], &[u8])] = &[
        (&["SET", "k", "v"], b""),
        (&["GET", "k"], b""),
        (&["--no-raw", "GET", "k"], b""),
        (&["--raw", "GET", "missing"], b""),
        (&["--no-raw", "GET", "missing"], b""),
        (&["INCR", "k"], b""),
        (&["--no-raw", "INCR", "k"], b""),
        (&["--no-raw", "INCR", "n"], b""),
        (&["--no-raw", "MGET", "k", "missing", "n"], b""),
        (&["--raw", "MGET", "k", "missing", "n"], b""),
        (&["--no-raw", "SET", "k", "v", "NX", "XX"], b""),
        (&["--no-raw", "NOSUCHCOMMAND", "x"], b""),
        (&["--no-raw", "GET"], b""),
        (&["-x", "SET", "from-stdin"], b"line one\nline two\n"),
        (&["--no-raw", "GET", "from-stdin"], b""),
        (&["--no-raw", "SET", "bin", "a\\x00b"], b""),
        (&["--no-raw", "STRLEN", "bin"], b""),
        (&["-n", "2", "SET", "in-db-2", "x"], b""),
        (&["--no-raw", "-n", "2", "DBSIZE"], b""),
        (&["--no-raw", "EXPIRE", "k", "100"], b""),
        (&["--no-raw", "TTL", "k"], b""),
        (&["--no-raw", "DEL", "k", "n", "missing"], b""),
        (&["--no-raw", "PING"], b""),
        (&["--no-raw", "ECHO", "hello world"], b""),
        // RESP3: redis-cli sends HELLO 3 first; maps, nulls and doubles print differently.
        (&["-3", "--no-raw", "CONFIG", "GET", "maxclients"], b""),
        (&["-3", "--no-raw", "GET", "missing"], b""),
        (&["-3", "--no-raw", "INCRBYFLOAT", "f", "1.5"], b""),
        (&["-3", "--no-raw", "MGET", "f", "missing"], b""),
        (&["-3", "--raw", "CONFIG", "GET", "maxclients"], b""),
        (&["--no-raw", "DBSIZE"], b""),
    ];
    let ours = assert_cli_matches_redis(invocations);
    // A few outputs spelled out, so a shared regression in both can't hide.
    assert_eq!(ours[0].stdout, "OK\n");
    assert_eq!(ours[2].stdout, "\"v\"\n");
    assert_eq!(ours[4].stdout, "(nil)\n");
    assert_eq!(
        ours[6].stdout,
        "(error) ERR value is not an integer or out of range\n"
    );
    assert_eq!(ours[14].stdout, "\"line one\\nline two\\n\"\n");
    assert_eq!(ours[24].stdout, "1# \"maxclients\" => \"10000\"\n");
}

#[test]
fn redis_cli_interactive_session_over_stdin_matches_redis() {
    // Without command arguments redis-cli runs its interactive loop (it first fetches
    // COMMAND DOCS for its hints), reading lines from stdin.
    let session: &[u8] = b"SET a 1\nINCR a\nGET nope\nMGET a nope\nSET q \"hello world\"\nGET q\n\
        SELECT 1\nSET b 2\nDBSIZE\nSELECT 0\nDBSIZE\nINCR q\nPING\n";
    let ours = assert_cli_matches_redis(&[
        (&[], session),
        (&["--no-raw"], session),
        (&["-3", "--no-raw"], session),
    ]);
    for run in &ours {
        assert_eq!(run.code, Some(0), "{run:?}");
    }
    assert!(
        ours[1].stdout.contains("\"hello world\"\n"),
        "{}",
        ours[1].stdout
    );
}

/// `count` SET commands in RESP, as a mass-insertion file would hold them.
fn mass_insert_payload(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let key = format!("key:{i}");
        let value = format!("value:{i}");
        out.extend(common::encode(&[b"SET", key.as_bytes(), value.as_bytes()]));
    }
    out
}

#[test]
fn redis_cli_pipe_mass_insertion() {
    let engine = start_engine(&[]);
    let port = engine.port();
    let run = redis_cli(port, &["--pipe"], &mass_insert_payload(10_000));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Last reply received from server."),
        "{run:?}"
    );
    assert!(run.stdout.contains("errors: 0, replies: 10000"), "{run:?}");
    let mut c = connect(port);
    assert_eq!(c.call(&[b"DBSIZE"]), b":10000\r\n");
    assert_eq!(c.call(&[b"GET", b"key:9999"]), b"$10\r\nvalue:9999\r\n");

    // Errors are counted too (and make redis-cli exit with 1, as against Redis).
    let mut payload = mass_insert_payload(100);
    for _ in 0..10 {
        payload.extend(common::encode(&[b"INCR", b"key:1"]));
    }
    let run = redis_cli(port, &["--pipe"], &payload);
    assert!(run.stdout.contains("errors: 10, replies: 110"), "{run:?}");
    assert_eq!(run.code, Some(1), "{run:?}");
}

/// `NAME: <rps> requests per second` lines of `redis-benchmark -q` output.
fn benchmark_results(output: &str) -> Vec<(String, f64)> {
    output
        .split(['\r', '\n'])
        .filter_map(|line| {
            // Progress lines (`SET: rps=...`) lack the final wording and are skipped.
            let (name, rest) = line.trim().split_once(": ")?;
            let (rps, _) = rest.split_once(" requests per second")?;
            Some((name.to_string(), rps.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn redis_benchmark_runs_against_the_engine() {
    let engine = start_engine(&[]);
    let port = engine.port().to_string();
    let tests = "set,get,incr,ping";
    for extra in [&[][..], &["-P", "16", "-c", "20"][..]] {
        let mut args = vec!["-p", port.as_str(), "-q", "-n", "2000", "-t", tests];
        args.extend_from_slice(extra);
        let run = run_with_input("redis-benchmark", &args, b"", Duration::from_secs(120));
        assert_eq!(run.code, Some(0), "{run:?}");
        // It warns when it cannot read the server's CONFIG, and reports errors replies.
        assert!(
            !run.stdout.contains("WARN") && !run.stderr.contains("WARN"),
            "{run:?}"
        );
        assert!(
            !run.stdout.contains("Error") && !run.stderr.contains("Error"),
            "{run:?}"
        );
        let results = benchmark_results(&run.stdout);
        let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"] {
            assert!(
                names.contains(&want),
                "no {want} result in {:?}",
                run.stdout
            );
        }
        for (name, rps) in &results {
            assert!(*rps > 0.0, "{name}: {rps} requests per second");
        }
    }
    // Every INCR ran: two runs of 2000 on the same counter key.
    let mut c = connect(engine.port());
    assert_eq!(
        c.call(&[b"GET", b"counter:__rand_int__"]),
        b"$4\r\n4000\r\n"
    );
    // SET writes a 3-byte value (`-d` default).
    assert_eq!(c.call(&[b"STRLEN", b"key:__rand_int__"]), b":3\r\n");
}

#[test]
fn redis_py_client() {
    let engine = start_engine(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/redis_py_client.py"
    );
    let port = engine.port().to_string();
    let run = run_with_input("python3", &[script, &port], b"", Duration::from_secs(60));
    assert!(
        run.code == Some(0) && run.stdout.contains("redis-py checks passed"),
        "redis-py script failed (needs `pip install 'redis>=5,<6'`):\n{}\n{}",
        run.stdout,
        run.stderr
    );
}
