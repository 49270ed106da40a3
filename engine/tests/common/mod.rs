//! Shared helpers for the integration tests: starting an engine on a free port, starting a real
//! redis-server, and a raw RESP client that returns each reply's exact bytes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

use tradestate_engine::{Config, EngineHandle};

/// Starts an engine on 127.0.0.1 with an ephemeral port and the given extra settings.
pub fn start_engine(settings: &[(&str, &str)]) -> EngineHandle {
    let mut config = Config::default();
    config.set("bind", "127.0.0.1", false).expect("bind");
    config.set("port", "0", false).expect("port");
    // Each engine gets its own empty directory, so no test loads or overwrites another's
    // dump.rdb (engines load `dir/dbfilename` at start).
    config
        .set("dir", &fresh_dir().display().to_string(), false)
        .expect("dir");
    for (k, v) in settings {
        config.set(k, v, false).expect("setting");
    }
    tradestate_engine::start("test", config).expect("engine starts")
}

/// A client connected to the server on `port`; panics if it cannot connect.
pub fn connect(port: u16) -> RawClient {
    RawClient::connect(port).expect("connect")
}

/// [`start_engine`] and one client connected to it; the handle must outlive the client's use,
/// since dropping it stops the engine.
pub fn start_engine_and_client(settings: &[(&str, &str)]) -> (EngineHandle, RawClient) {
    let engine = start_engine(settings);
    let client = connect(engine.port());
    (engine, client)
}

/// [`start_engine`] and `N` clients connected to it.
pub fn start_engine_and_clients<const N: usize>(
    settings: &[(&str, &str)],
) -> (EngineHandle, [RawClient; N]) {
    let engine = start_engine(settings);
    let clients = std::array::from_fn(|_| connect(engine.port()));
    (engine, clients)
}

/// A new empty directory under the system temp dir (`tradestate-test-<pid>-<n>`).
pub fn fresh_dir() -> std::path::PathBuf {
    tradestate_test_support::fresh_dir("tradestate-test")
}

/// A redis-server child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use tradestate_test_support::free_port;

/// Starts the redis-server named by `$REDIS_SERVER` (default: `redis-server` on PATH) with
/// persistence off, and waits until it answers.
pub fn start_redis_server() -> RedisServer {
    // Anything a script makes it write lands outside the checkout.
    start_redis_server_in(&std::env::temp_dir())
}

/// [`start_redis_server`] with `dir` as its working directory (where it loads and saves
/// `dump.rdb`).
pub fn start_redis_server_in(dir: &std::path::Path) -> RedisServer {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = free_port();
    let child = tradestate_test_support::redis_server_command(&bin, port)
        .args(["--daemonize", "no", "--dir", &dir.display().to_string()])
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin}: {e} (install redis-server or set REDIS_SERVER)")
        });
    // Owned by the guard from here on, so it is killed and reaped on every path.
    let server = RedisServer { port, child };
    if answers_pong(port, Duration::from_secs(10)) {
        return server;
    }
    drop(server);
    panic!("redis-server on port {port} did not answer");
}

/// Waits until the server on `port` answers PING (20 s at most); `what` names it in the panic.
pub fn wait_for_pong(port: u16, what: &str) {
    assert!(
        answers_pong(port, Duration::from_secs(20)),
        "{what} did not start on {port}"
    );
}

/// The value of `field` in the reply to `INFO <section>` (trimmed); `None` if it is not there.
pub fn info_value(c: &mut RawClient, section: &str, field: &str) -> Option<String> {
    let raw = c.call(&[b"INFO", section.as_bytes()]);
    let text = String::from_utf8_lossy(&raw);
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
}

/// `blocked_clients` from INFO clients.
pub fn blocked_clients(c: &mut RawClient) -> usize {
    info_value(c, "clients", "blocked_clients")
        .and_then(|v| v.parse().ok())
        .expect("blocked_clients")
}

/// Waits until the engine reports `n` blocked clients (10 s at most).
pub fn wait_blocked(c: &mut RawClient, n: usize) {
    let start = std::time::Instant::now();
    while blocked_clients(c) != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never reached {n} blocked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether the server on `port` answers PING within `within` (tried every 50 ms).
fn answers_pong(port: u16, within: Duration) -> bool {
    let pong = || {
        let mut c = RawClient::connect(port).ok()?;
        c.call(&[b"PING"]).starts_with(b"+PONG").then_some(())
    };
    tradestate_test_support::poll(within, Duration::from_millis(50), pong).is_some()
}

/// A blocking RESP client that returns raw reply bytes.
///
/// Its reader (`read_value`) is deliberately not the workspace's client reply reader
/// (`tradestate_mt5_bridge::client::resp`): these tests compare reply bytes with redis-server's,
/// so a reply keeps its exact bytes (`Reply::Leaf` / `Reply::Aggregate`), where the client reader
/// decodes values; and the engine's tests do not depend on the terminal contract.
pub struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    pub fn connect(port: u16) -> std::io::Result<Self> {
        Self::connect_addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn connect_addr(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_nodelay(true)?;
        Ok(RawClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.try_send(args).expect("write");
    }

    /// `send` for a server that may be killed mid-stream: the error is the caller's.
    pub fn try_send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.writer.write_all(&encode(args))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply().raw()
    }

    pub fn read_reply(&mut self) -> Reply {
        read_value(&mut self.reader).expect("reply")
    }

    pub fn try_read_reply(&mut self) -> std::io::Result<Reply> {
        read_value(&mut self.reader)
    }

    /// Every reply that arrives until `quiet` passes without one (pushed pub/sub messages).
    pub fn read_pending(&mut self, quiet: Duration) -> Vec<Reply> {
        let mut out = Vec::new();
        let _ = self.writer.set_read_timeout(Some(quiet));
        while let Ok(r) = read_value(&mut self.reader) {
            out.push(r);
        }
        let _ = self.writer.set_read_timeout(Some(Duration::from_secs(20)));
        out
    }
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// One reply: a leaf (its exact bytes) or an aggregate (header line plus children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Leaf(Vec<u8>),
    Aggregate(Vec<u8>, Vec<Reply>),
}

impl Reply {
    pub fn raw(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Leaf(b) => out.extend_from_slice(b),
            Reply::Aggregate(h, items) => {
                out.extend_from_slice(h);
                for i in items {
                    i.write_to(out);
                }
            }
        }
    }

    /// The same reply with the top-level elements sorted (pairs kept together for maps).
    pub fn sorted(&self) -> Reply {
        match self {
            Reply::Aggregate(h, items) if h.first() == Some(&b'%') => {
                let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(|c| c.to_vec()).collect();
                pairs.sort_by_key(|p| p.iter().flat_map(|r| r.raw()).collect::<Vec<u8>>());
                Reply::Aggregate(h.clone(), pairs.concat())
            }
            Reply::Aggregate(h, items) => {
                let mut items = items.clone();
                items.sort_by_key(|r| r.raw());
                Reply::Aggregate(h.clone(), items)
            }
            leaf => leaf.clone(),
        }
    }

    /// A leaf as text: a bulk string's body (empty for a null bulk), any other leaf's line with
    /// its type byte kept (`+OK`, `:1`); `None` for an aggregate.
    pub fn leaf_line(&self) -> Option<String> {
        let Reply::Leaf(b) = self else {
            return None;
        };
        let text = String::from_utf8_lossy(b).into_owned();
        Some(match text.split_once("\r\n") {
            // A bulk string: its body is on the second line.
            Some((head, rest)) if head.starts_with('$') => {
                rest.strip_suffix("\r\n").unwrap_or(rest).to_string()
            }
            Some((head, _)) => head.to_string(),
            None => text,
        })
    }

    pub fn type_byte(&self) -> u8 {
        match self {
            Reply::Leaf(b) | Reply::Aggregate(b, _) => b.first().copied().unwrap_or(b'?'),
        }
    }
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(line)
}

fn read_value(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let line = read_line(r)?;
    let n = || -> i64 {
        std::str::from_utf8(&line[1..line.len() - 2])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    };
    match line[0] {
        b'$' | b'=' | b'!' => {
            let len = n();
            if len < 0 {
                return Ok(Reply::Leaf(line));
            }
            let mut body = vec![0u8; len as usize + 2];
            r.read_exact(&mut body)?;
            let mut all = line.clone();
            all.extend(body);
            Ok(Reply::Leaf(all))
        }
        b'*' | b'~' | b'>' => {
            let len = n();
            let mut items = Vec::new();
            for _ in 0..len.max(0) {
                items.push(read_value(r)?);
            }
            Ok(Reply::Aggregate(line, items))
        }
        b'%' | b'|' => {
            let len = n();
            let mut items = Vec::new();
            for _ in 0..(len.max(0) * 2) {
                items.push(read_value(r)?);
            }
            Ok(Reply::Aggregate(line, items))
        }
        _ => Ok(Reply::Leaf(line)),
    }
}

/// Sends each case's command in turn and checks that its reply is exactly the expected bytes;
/// a failure names the command.
pub fn assert_calls(c: &mut RawClient, cases: &[(&[&[u8]], &[u8])]) {
    for &(args, expected) in cases {
        let got = c.call(args);
        let command: Vec<String> = args.iter().map(|a| show(a)).collect();
        assert_eq!(
            got,
            expected,
            "{}: got {}, expected {}",
            command.join(" "),
            show(&got),
            show(expected)
        );
    }
}

/// Shows bytes with escapes, for failure messages.
pub fn show(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}
