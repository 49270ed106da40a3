//! Differential compatibility: every script under `tests/compat/*.redis` runs against the engine
//! and against a real redis-server 7, and every reply must match byte for byte.
//!
//! Needs redis-server, so it is built only with `--features redis-server-tests` (`.ci/run`
//! installs the server and enables it). Script format: see `tests/compat/README.md`.
//! `COMPAT_FILTER=hash` runs only scripts whose name contains `hash`.

#![cfg(feature = "redis-server-tests")]

mod common;

use common::{show, start_engine, start_redis_server, RawClient, Reply};

/// How the next command's replies are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compare {
    Exact,
    /// Top-level elements compared as a multiset (replies whose order Redis leaves undefined).
    Sorted,
    /// Only the reply type (TIME, random picks).
    TypeOnly,
    /// Run on both, not compared: a documented, deliberate difference.
    Differs,
}

struct Outcome {
    compared: usize,
    differs: usize,
    failures: Vec<String>,
}

fn run_script(name: &str, text: &str, ours: u16, theirs: u16, out: &mut Outcome) {
    let connect = || {
        (
            RawClient::connect(ours).expect("connect engine"),
            RawClient::connect(theirs).expect("connect redis"),
        )
    };
    let (mut a, mut b) = connect();
    a.call(&[b"FLUSHALL"]);
    b.call(&[b"FLUSHALL"]);
    let mut mode = Compare::Exact;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(directive) = line.strip_prefix('@') {
            let (word, rest) = directive.split_once(' ').unwrap_or((directive, ""));
            match word {
                "sort" => mode = Compare::Sorted,
                "type" => mode = Compare::TypeOnly,
                "differs" => {
                    assert!(
                        !rest.trim().is_empty(),
                        "{name}:{}: @differs needs a reason",
                        n + 1
                    );
                    mode = Compare::Differs;
                }
                "sleep" => {
                    let ms: u64 = rest.trim().parse().expect("@sleep <ms>");
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                "reconnect" => {
                    (a, b) = connect();
                }
                other => panic!("{name}:{}: unknown directive @{other}", n + 1),
            }
            continue;
        }
        let args = tradestate_engine::protocol::parser::split_args(line.as_bytes())
            .unwrap_or_else(|| panic!("{name}:{}: unbalanced quotes", n + 1));
        let argv: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
        a.send(&argv);
        b.send(&argv);
        let ra = a.try_read_reply();
        let rb = b.try_read_reply();
        let (ra, rb) = match (ra, rb) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(_), Err(_)) => {
                // Both closed the connection (QUIT, protocol error): that matches.
                (a, b) = connect();
                out.compared += 1;
                mode = Compare::Exact;
                continue;
            }
            (x, y) => {
                out.failures.push(format!(
                    "{name}:{}: {line}\n    engine: {:?}\n    redis:  {:?}",
                    n + 1,
                    x.map(|r| show(&r.raw())),
                    y.map(|r| show(&r.raw()))
                ));
                (a, b) = connect();
                mode = Compare::Exact;
                continue;
            }
        };
        let same = match mode {
            Compare::Exact => ra == rb,
            Compare::Sorted => ra.sorted() == rb.sorted(),
            Compare::TypeOnly => ra.type_byte() == rb.type_byte(),
            Compare::Differs => true,
        };
        if mode == Compare::Differs {
            out.differs += 1;
        } else {
            out.compared += 1;
        }
        if !same {
            out.failures.push(format!(
                "{name}:{}: {line}\n    engine: {}\n    redis:  {}",
                n + 1,
                show(&Reply::raw(&ra)),
                show(&Reply::raw(&rb))
            ));
        }
        mode = Compare::Exact;
    }
}

#[test]
fn replies_match_redis_server() {
    let redis = start_redis_server();
    let engine = start_engine(&[]);
    let filter = std::env::var("COMPAT_FILTER").unwrap_or_default();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/compat exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "redis"))
        // The file name only: the checkout's path may contain the filter word too.
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&filter))
        })
        .collect();
    files.sort();
    let mut out = Outcome {
        compared: 0,
        differs: 0,
        failures: Vec::new(),
    };
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read script");
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run_script(&name, &text, engine.port(), redis.port, &mut out);
    }
    println!(
        "differential: {} scripts, {} commands compared with redis-server, {} documented differences, {} mismatches",
        files.len(),
        out.compared,
        out.differs,
        out.failures.len()
    );
    assert!(
        out.failures.is_empty(),
        "{} replies differ from redis-server:\n{}",
        out.failures.len(),
        out.failures.join("\n")
    );
    if filter.is_empty() {
        assert!(
            out.compared >= 400,
            "only {} commands compared; the suite must hold 400+",
            out.compared
        );
    }
}
