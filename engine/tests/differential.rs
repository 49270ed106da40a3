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

/// The connections of a script: a pair (engine, redis) per name; `main` is the first.
struct Connections {
    ours: u16,
    theirs: u16,
    pairs: Vec<(String, RawClient, RawClient)>,
    current: usize,
}

impl Connections {
    fn new(ours: u16, theirs: u16) -> Self {
        let mut c = Connections {
            ours,
            theirs,
            pairs: Vec::new(),
            current: 0,
        };
        c.switch("main");
        c
    }

    /// Makes `name` the current connection, opening it on both servers on first use.
    fn switch(&mut self, name: &str) {
        if let Some(i) = self.pairs.iter().position(|(n, _, _)| n == name) {
            self.current = i;
            return;
        }
        self.pairs.push((
            name.to_string(),
            RawClient::connect(self.ours).expect("connect engine"),
            RawClient::connect(self.theirs).expect("connect redis"),
        ));
        self.current = self.pairs.len() - 1;
    }

    /// Replaces the current connection by fresh ones.
    fn reconnect(&mut self) {
        let name = self.pairs[self.current].0.clone();
        self.pairs.remove(self.current);
        self.switch(&name);
    }

    /// Closes every connection but a fresh `main`.
    fn reset(&mut self) {
        self.pairs.clear();
        self.switch("main");
    }

    fn pair(&mut self) -> (&mut RawClient, &mut RawClient) {
        let (_, a, b) = &mut self.pairs[self.current];
        (a, b)
    }
}

fn run_script(name: &str, text: &str, ours: u16, theirs: u16, out: &mut Outcome) {
    let mut conns = Connections::new(ours, theirs);
    {
        let (a, b) = conns.pair();
        a.call(&[b"FLUSHALL"]);
        b.call(&[b"FLUSHALL"]);
    }
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
                "reconnect" => conns.reset(),
                "conn" => {
                    assert!(!rest.trim().is_empty(), "{name}:{}: @conn <name>", n + 1);
                    conns.switch(rest.trim());
                }
                "drain" => {
                    // Every pushed message that arrives within a quiet period, in order.
                    let (a, b) = conns.pair();
                    let quiet = std::time::Duration::from_millis(200);
                    let (ra, rb) = (a.read_pending(quiet), b.read_pending(quiet));
                    let shown = |v: &[Reply]| v.iter().map(|r| show(&r.raw())).collect::<Vec<_>>();
                    out.compared += 1;
                    if ra != rb {
                        // From the first message that differs.
                        let at = ra.iter().zip(&rb).take_while(|(x, y)| x == y).count();
                        out.failures.push(format!(
                            "{name}:{}: {line} (message {at} of {}/{})\n    engine: {:?}\n    redis:  {:?}",
                            n + 1,
                            ra.len(),
                            rb.len(),
                            shown(&ra[at..]),
                            shown(&rb[at..])
                        ));
                    }
                }
                "read" => {
                    // One more reply (a pushed message) on the current connection.
                    let (a, b) = conns.pair();
                    let (ra, rb) = (a.try_read_reply(), b.try_read_reply());
                    compare(name, n, line, mode, ra, rb, &mut conns, out);
                    mode = Compare::Exact;
                }
                other => panic!("{name}:{}: unknown directive @{other}", n + 1),
            }
            continue;
        }
        let args = tradestate_engine::protocol::parser::split_args(line.as_bytes())
            .unwrap_or_else(|| panic!("{name}:{}: unbalanced quotes", n + 1));
        let argv: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
        let (a, b) = conns.pair();
        a.send(&argv);
        b.send(&argv);
        let (ra, rb) = (a.try_read_reply(), b.try_read_reply());
        compare(name, n, line, mode, ra, rb, &mut conns, out);
        mode = Compare::Exact;
    }
}

/// Compares one reply of each server and records the outcome.
#[allow(clippy::too_many_arguments)]
fn compare(
    name: &str,
    n: usize,
    line: &str,
    mode: Compare,
    ra: std::io::Result<Reply>,
    rb: std::io::Result<Reply>,
    conns: &mut Connections,
    out: &mut Outcome,
) {
    {
        let (ra, rb) = match (ra, rb) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(_), Err(_)) => {
                // Both closed the connection (QUIT, protocol error): that matches.
                conns.reconnect();
                out.compared += 1;
                return;
            }
            (x, y) => {
                out.failures.push(format!(
                    "{name}:{}: {line}\n    engine: {:?}\n    redis:  {:?}",
                    n + 1,
                    x.map(|r| show(&r.raw())),
                    y.map(|r| show(&r.raw()))
                ));
                conns.reconnect();
                return;
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
