//! The append only file with the `tradestate-engine` binary as operators run it: every
//! acknowledged write survives kill -9 (appendfsync everysec and always), a truncated tail is
//! cut and the engine starts, a transaction cut by a crash is reverted whole, a corrupt middle
//! refuses the start naming the offset, BGREWRITEAOF under write load keeps every write and
//! shrinks the files, every type survives a restart, a one-file AOF of the older layout is
//! moved into Redis 7's directory layout. With `redis-server-tests`: redis-server 7 loads our
//! AOF directory and we load its.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect, free_port, info_value, wait_for_pong, RawClient, Reply};

struct Engine {
    child: Child,
    port: u16,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Engine {
    fn client(&self) -> RawClient {
        connect(self.port)
    }

    /// SIGKILL: no chance to flush or sync anything.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    tradestate_test_support::fresh_dir(&format!("tradestate-aof-{name}"))
}

fn command(dir: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"));
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &dir.display().to_string(), "--appendonly", "yes"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd`, a server listening on `port`, and waits until it answers; `what` names it.
fn spawn(mut cmd: Command, port: u16, what: &str) -> Engine {
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {what}: {e}"));
    // Owned by the guard from here on, so it is killed on every path.
    let engine = Engine { child, port };
    wait_for_pong(port, what);
    engine
}

fn start(dir: &Path, extra: &[&str]) -> Engine {
    let port = free_port();
    spawn(command(dir, port, extra), port, "tradestate-engine")
}

/// [`start`] and a client of the engine.
fn start_with_client(dir: &Path, extra: &[&str]) -> (Engine, RawClient) {
    let engine = start(dir, extra);
    let client = engine.client();
    (engine, client)
}

/// Starts the engine expecting it to refuse; returns its output.
fn refused_start(dir: &Path, extra: &[&str]) -> String {
    let out = command(dir, free_port(), extra)
        .output()
        .expect("run tradestate-engine");
    assert!(!out.status.success(), "the engine started");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The incremental file the engine logs to: the manifest's last `type i` line.
fn aof_path(dir: &Path) -> PathBuf {
    let aof_dir = dir.join("appendonlydir");
    let manifest =
        std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).expect("manifest");
    let name = manifest
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split(' ').nth(1))
        .expect("an incr file in the manifest")
        .to_string();
    aof_dir.join(name)
}

/// Bytes of every file in the AOF directory.
fn aof_set_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn bulk(r: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(r);
    if text.starts_with("$-1") {
        return None;
    }
    text.split("\r\n").nth(1).map(str::to_string)
}

/// Writers on their own connections; each records the writes it saw acknowledged.
/// Writer `w` does `SET k:w:i i`, `RPUSH l:w i`, `INCR c:w` for i = 0, 1, ...
fn run_writers(
    port: u16,
    writers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..writers)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let Ok(mut c) = RawClient::connect(port) else {
                    return 0;
                };
                let mut acked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = acked.to_string();
                    let k = format!("k:{w}:{i}");
                    let l = format!("l:{w}");
                    let n = format!("c:{w}");
                    // A write or read cut by the kill ends this writer; what it had
                    // acknowledged before is what the restarted engine must hold.
                    let sent = c
                        .try_send(&[b"SET", k.as_bytes(), i.as_bytes()])
                        .and_then(|()| c.try_send(&[b"RPUSH", l.as_bytes(), i.as_bytes()]))
                        .and_then(|()| c.try_send(&[b"INCR", n.as_bytes()]));
                    let ok = sent.is_ok() && (0..3).all(|_| c.try_read_reply().is_ok());
                    if !ok {
                        break;
                    }
                    acked += 1;
                }
                acked
            })
        })
        .collect()
}

/// Every acknowledged write is there, and nothing contradicts the order they were sent in.
fn check_writes(c: &mut RawClient, acked: &[u64]) {
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} got no acknowledgement");
        for i in [0, n / 2, n - 1] {
            let k = format!("k:{w}:{i}");
            assert_eq!(
                bulk(&c.call(&[b"GET", k.as_bytes()])).as_deref(),
                Some(i.to_string().as_str()),
                "acknowledged SET {k} lost"
            );
        }
        let l = format!("l:{w}");
        let len: u64 = String::from_utf8_lossy(&c.call(&[b"LLEN", l.as_bytes()]))[1..]
            .trim()
            .parse()
            .expect("llen");
        // The write in flight at the kill may or may not have been logged.
        assert!(
            len == n || len == n + 1,
            "list {l}: {len} elements, {n} acknowledged"
        );
        let last = (len - 1).to_string();
        let tail = c.call(&[b"LINDEX", l.as_bytes(), b"-1"]);
        assert_eq!(
            bulk(&tail).as_deref(),
            Some(last.as_str()),
            "list {l} out of order"
        );
        let counter = c.call(&[b"GET", format!("c:{w}").as_bytes()]);
        let counter: u64 = bulk(&counter).expect("counter").parse().expect("int");
        assert!(
            counter == n || counter == n + 1,
            "counter {w}: {counter} vs {n}"
        );
    }
}

fn kill9_under_load(fsync: &str) {
    let dir = temp_dir(&format!("kill9-{fsync}"));
    let engine = start(&dir, &["--appendfsync", fsync]);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = run_writers(engine.port, 4, stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL while the writers are mid-stream.
    engine.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let engine = start(&dir, &["--appendfsync", fsync]);
    check_writes(&mut engine.client(), &acked);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill9_keeps_every_acknowledged_write_everysec() {
    kill9_under_load("everysec");
}

#[test]
fn kill9_keeps_every_acknowledged_write_always() {
    kill9_under_load("always");
}

#[test]
fn truncated_tail_is_cut_or_refused_as_configured() {
    let dir = temp_dir("truncated");
    let (engine, mut c) = start_with_client(&dir, &[]);
    c.call(&[b"SET", b"a", b"1"]);
    c.call(&[b"SET", b"b", b"2"]);
    c.call(&[b"SET", b"c", b"3"]);
    engine.kill9();
    let path = aof_path(&dir);
    let full = std::fs::read(&path).expect("aof");
    // Cut in the middle of the last command.
    std::fs::write(&path, &full[..full.len() - 5]).expect("cut");
    let out = refused_start(&dir, &["--aof-load-truncated", "no"]);
    assert!(out.contains("Unexpected end of file"), "{out}");
    let (engine, mut c) = start_with_client(&dir, &[]);
    assert_eq!(bulk(&c.call(&[b"GET", b"b"])).as_deref(), Some("2"));
    assert_eq!(bulk(&c.call(&[b"GET", b"c"])), None);
    // The file was repaired: writes after the cut follow whole commands.
    c.call(&[b"SET", b"d", b"4"]);
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &["--aof-load-truncated", "no"]);
    assert_eq!(bulk(&c.call(&[b"GET", b"d"])).as_deref(), Some("4"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_transaction_cut_by_a_crash_is_reverted_whole() {
    let dir = temp_dir("multi");
    let (engine, mut c) = start_with_client(&dir, &[]);
    c.call(&[b"SET", b"before", b"1"]);
    c.call(&[b"MULTI"]);
    c.call(&[b"SET", b"x", b"1"]);
    c.call(&[b"INCR", b"n"]);
    c.call(&[b"SET", b"y", b"1"]);
    let replies = c.call(&[b"EXEC"]);
    assert!(replies.starts_with(b"*3\r\n"), "{replies:?}");
    engine.kill9();
    let path = aof_path(&dir);
    let full = std::fs::read(&path).expect("aof");
    let text = String::from_utf8_lossy(&full);
    assert!(text.contains("*1\r\n$5\r\nMULTI\r\n"), "{text}");
    // The crash wrote the transaction up to its last command but not its EXEC.
    let exec = text.rfind("*1\r\n$4\r\nEXEC\r\n").expect("EXEC logged");
    std::fs::write(&path, &full[..exec]).expect("cut");
    let out = refused_start(&dir, &["--aof-load-truncated", "no"]);
    assert!(out.contains("Unexpected end of file"), "{out}");
    let (engine, mut c) = start_with_client(&dir, &[]);
    assert_eq!(bulk(&c.call(&[b"GET", b"before"])).as_deref(), Some("1"));
    for k in [&b"x"[..], b"n", b"y"] {
        assert_eq!(
            bulk(&c.call(&[b"GET", k])),
            None,
            "half a transaction applied"
        );
    }
    // The file was cut before the MULTI: later writes load.
    c.call(&[b"SET", b"after", b"2"]);
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &["--aof-load-truncated", "no"]);
    assert_eq!(bulk(&c.call(&[b"GET", b"after"])).as_deref(), Some("2"));
    assert_eq!(bulk(&c.call(&[b"GET", b"x"])), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_one_file_aof_is_moved_into_the_directory_layout() {
    let dir = temp_dir("upgrade");
    let mut old = Vec::new();
    for (k, v) in [("a", "1"), ("b", "2")] {
        old.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$1\r\n{k}\r\n$1\r\n{v}\r\n").as_bytes());
    }
    std::fs::write(dir.join("appendonly.aof"), &old).expect("write");
    let (engine, mut c) = start_with_client(&dir, &[]);
    assert_eq!(bulk(&c.call(&[b"GET", b"b"])).as_deref(), Some("2"));
    c.call(&[b"SET", b"c", b"3"]);
    assert!(!dir.join("appendonly.aof").exists());
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("manifest");
    assert_eq!(
        manifest,
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &[]);
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(bulk(&c.call(&[b"GET", k.as_bytes()])).as_deref(), Some(v));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_middle_refuses_to_start_naming_the_offset() {
    let dir = temp_dir("corrupt");
    let (engine, mut c) = start_with_client(&dir, &[]);
    c.call(&[b"SET", b"a", b"1"]);
    let before = std::fs::metadata(aof_path(&dir)).expect("aof").len();
    c.call(&[b"SET", b"b", b"2"]);
    c.call(&[b"SET", b"c", b"3"]);
    engine.kill9();
    let path = aof_path(&dir);
    let mut data = std::fs::read(&path).expect("aof");
    data[before as usize] = b'X';
    std::fs::write(&path, &data).expect("corrupt");
    let out = refused_start(&dir, &[]);
    let expected = format!("at offset {before}");
    assert!(
        out.contains("Bad file format reading the append only file"),
        "{out}"
    );
    assert!(out.contains(&expected), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn info_field(c: &mut RawClient, name: &str) -> String {
    info_value(c, "persistence", name).unwrap_or_default()
}

/// Checks `done` every 20 ms until it holds; panics naming `what` once `within` has passed.
fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let every = Duration::from_millis(20);
    let held = tradestate_test_support::poll(within, every, || done().then_some(()));
    assert!(held.is_some(), "timed out waiting for {what}");
}

/// Waits until the engine has finished its first AOF rewrite.
fn wait_for_first_rewrite(c: &mut RawClient, within: Duration) {
    wait_for("the first rewrite", within, || {
        info_field(c, "aof_rewrites") == "1"
    });
}

#[test]
fn bgrewriteaof_under_write_load_keeps_every_write_and_shrinks_the_file() {
    let dir = temp_dir("rewrite");
    let (engine, mut c) =
        start_with_client(&dir, &["--hz", "50", "--auto-aof-rewrite-percentage", "0"]);
    // A keyspace large enough that the rewrite takes many slices, with many overwrites so
    // the log is much larger than the state.
    for round in 0..5 {
        for chunk in 0..20 {
            let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
            for i in 0..1000 {
                args.push(format!("pre:{}", chunk * 1000 + i).into_bytes());
                args.push(format!("{round}").into_bytes());
            }
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            c.call(&refs);
        }
    }
    let before = aof_set_size(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = run_writers(engine.port, 3, stop.clone());
    // Writers also change keys the rewrite has not reached yet.
    let toucher = {
        let stop = stop.clone();
        let port = engine.port;
        std::thread::spawn(move || {
            let mut c = connect(port);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("pre:{}", (n * 7919) % 20_000);
                c.call(&[b"APPEND", k.as_bytes(), b"+"]);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        c.call(&[b"BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    wait_for_first_rewrite(&mut c, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let touches = toucher.join().expect("toucher");
    assert!(touches > 0);
    let state = dump(&mut c);
    let after = aof_set_size(&dir);
    assert!(
        after < before,
        "files {before} -> {after} bytes: not smaller"
    );
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("manifest");
    assert!(
        manifest == "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
        "{manifest}"
    );
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &[]);
    check_writes(&mut c, &acked);
    assert!(
        dump(&mut c) == state,
        "keyspace differs after rewrite + restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every key of every database with its type, content and expiry, in a comparable form.
fn dump(c: &mut RawClient) -> Dump {
    let mut out = Vec::new();
    for db in 0..4usize {
        c.call(&[b"SELECT", db.to_string().as_bytes()]);
        let keys = c.call(&[b"KEYS", b"*"]);
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut lines = keys.split(|&b| b == b'\n').skip(1);
        while let (Some(_len), Some(name)) = (lines.next(), lines.next()) {
            names.push(name.strip_suffix(b"\r").unwrap_or(name).to_vec());
        }
        names.sort();
        for k in names {
            let mut v = c.call(&[b"TYPE", &k]);
            let ty = String::from_utf8_lossy(&v).trim().to_string();
            let content: Vec<u8> = match ty.as_str() {
                "+string" => c.call(&[b"GET", &k]),
                "+list" => c.call(&[b"LRANGE", &k, b"0", b"-1"]),
                "+set" => {
                    c.send(&[b"SMEMBERS", &k]);
                    c.read_reply().sorted().raw()
                }
                "+hash" => {
                    c.send(&[b"HGETALL", &k]);
                    sorted_pairs(c.read_reply())
                }
                "+zset" => c.call(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"]),
                "+stream" => stream_dump(c, &k),
                other => panic!("unexpected type {other}"),
            };
            v.extend(content);
            v.extend(c.call(&[b"PEXPIRETIME", &k]));
            out.push((db, k, v));
        }
    }
    c.call(&[b"SELECT", b"0"]);
    out
}

fn sorted_pairs(r: Reply) -> Vec<u8> {
    match r {
        Reply::Aggregate(_, items) => {
            let mut pairs: Vec<Vec<u8>> = items
                .chunks(2)
                .map(|p| p.iter().flat_map(|r| r.raw()).collect())
                .collect();
            pairs.sort();
            pairs.concat()
        }
        leaf => leaf.raw(),
    }
}

/// Entries, stream metadata, groups and their PELs (without idle times, which move).
fn stream_dump(c: &mut RawClient, k: &[u8]) -> Vec<u8> {
    let mut v = c.call(&[b"XRANGE", k, b"-", b"+"]);
    c.send(&[b"XINFO", b"STREAM", k]);
    if let Reply::Aggregate(_, items) = c.read_reply() {
        for pair in items.chunks(2) {
            let name = pair[0].raw();
            let keep = [
                &b"last-generated-id"[..],
                b"max-deleted-entry-id",
                b"entries-added",
                b"groups",
                b"length",
            ];
            if keep.iter().any(|n| name.windows(n.len()).any(|w| w == *n)) {
                v.extend(pair[0].raw());
                v.extend(pair[1].raw());
            }
        }
    }
    c.send(&[b"XINFO", b"GROUPS", k]);
    let groups = c.read_reply();
    v.extend(groups.raw());
    if let Reply::Aggregate(_, groups) = groups {
        for g in groups {
            let Reply::Aggregate(_, fields) = g else {
                continue;
            };
            let name = match &fields[1] {
                Reply::Leaf(b) => bulk(b).unwrap_or_default(),
                _ => continue,
            };
            v.extend(c.call(&[b"XPENDING", k, name.as_bytes()]));
            c.send(&[b"XPENDING", k, name.as_bytes(), b"-", b"+", b"1000"]);
            if let Reply::Aggregate(_, pel) = c.read_reply() {
                for p in pel {
                    if let Reply::Aggregate(_, f) = p {
                        // id, consumer, (idle skipped), delivery count
                        v.extend(f[0].raw());
                        v.extend(f[1].raw());
                        v.extend(f[3].raw());
                    }
                }
            }
            c.send(&[b"XINFO", b"CONSUMERS", k, name.as_bytes()]);
            if let Reply::Aggregate(_, consumers) = c.read_reply() {
                for cons in consumers {
                    if let Reply::Aggregate(_, f) = cons {
                        v.extend(f[1].raw()); // name
                        v.extend(f[3].raw()); // pending
                    }
                }
            }
        }
    }
    v
}

fn fill_every_type(c: &mut RawClient) {
    let calls: &[&[&[u8]]] = &[
        &[b"SET", b"str", b"hello \x00\xff"],
        &[b"SET", b"int", b"12345"],
        &[b"SET", b"ttl", b"v", b"EX", b"1000"],
        &[b"INCRBYFLOAT", b"float", b"1.1"],
        &[b"INCRBYFLOAT", b"float", b"2.2"],
        &[b"RPUSH", b"list", b"a", b"b", b"c", b"d"],
        &[b"LPOP", b"list"],
        &[b"SADD", b"intset", b"1", b"2", b"3"],
        &[b"SADD", b"set", b"x", b"y", b"z", b"w"],
        &[b"SPOP", b"set"],
        &[b"HSET", b"hash", b"f1", b"v1", b"f2", b"v2"],
        &[b"HINCRBYFLOAT", b"hash", b"f3", b"0.5"],
        &[
            b"ZADD", b"zset", b"1.5", b"a", b"-inf", b"b", b"+inf", b"c", b"0.1", b"d",
        ],
        &[b"XADD", b"stream", b"*", b"f", b"v"],
        &[b"XADD", b"stream", b"*", b"f", b"w"],
        &[
            b"XADD", b"stream", b"MAXLEN", b"~", b"100", b"*", b"g", b"x",
        ],
        &[b"XADD", b"stream", b"*", b"h", b"y"],
        &[b"XGROUP", b"CREATE", b"stream", b"g1", b"0"],
        &[b"XGROUP", b"CREATE", b"stream", b"g2", b"$"],
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"alice",
            b"COUNT",
            b"2",
            b"STREAMS",
            b"stream",
            b">",
        ],
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"bob",
            b"COUNT",
            b"1",
            b"STREAMS",
            b"stream",
            b">",
        ],
        &[b"XGROUP", b"CREATECONSUMER", b"stream", b"g2", b"carol"],
        &[b"XCLAIM", b"stream", b"g1", b"carol", b"0", b"0-1"],
        &[b"XDEL", b"stream", b"0-1"],
        &[b"XGROUP", b"CREATE", b"empty", b"g", b"$", b"MKSTREAM"],
        &[b"XADD", b"trimmed", b"1-1", b"a", b"b"],
        &[b"XTRIM", b"trimmed", b"MAXLEN", b"0"],
        &[b"SELECT", b"2"],
        &[b"SET", b"db2", b"two"],
        &[b"PEXPIRE", b"db2", b"5000000"],
        &[b"SELECT", b"0"],
    ];
    for args in calls {
        let r = c.call(args);
        assert!(
            !r.starts_with(b"-"),
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&r)
        );
    }
}

/// Like redis-server, a restart takes the base file alone as the size of the last rewrite
/// (that size is stored nowhere): a set that grew far past its base since is rewritten by
/// the automatic rule soon after the start.
#[test]
fn a_restart_measures_growth_from_the_base_file() {
    let dir = temp_dir("base-size");
    let (engine, mut c) = start_with_client(&dir, &["--auto-aof-rewrite-percentage", "0"]);
    c.call(&[b"SET", b"seed", b"1"]);
    assert_eq!(
        c.call(&[b"BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    wait_for_first_rewrite(&mut c, Duration::from_secs(30));
    // The incremental file grows to many times the base.
    let value = vec![b'v'; 1000];
    for i in 0..2000 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), &value]);
    }
    let base_file = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".base.rdb"))
        .expect("a base file")
        .metadata()
        .expect("base metadata")
        .len();
    engine.kill9();

    let (_engine, mut c) = start_with_client(
        &dir,
        &[
            "--auto-aof-rewrite-percentage",
            "100",
            "--auto-aof-rewrite-min-size",
            "1mb",
        ],
    );
    let current: u64 = info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    assert!(current > 10 * base_file, "{current} vs base {base_file}");
    // Either still the base file's size, or already rewritten by the cron (then base and
    // current are the new set's size).
    wait_for(
        "an automatic rewrite after the start",
        Duration::from_secs(30),
        || {
            if info_field(&mut c, "aof_rewrites") == "1" {
                return true;
            }
            assert_eq!(
                info_field(&mut c, "aof_base_size"),
                base_file.to_string(),
                "before the automatic rewrite"
            );
            false
        },
    );
    assert_eq!(
        bulk(&c.call(&[b"GET", b"k1999"])).map(|v| v.len()),
        Some(1000)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_type_survives_restart_and_rewrite() {
    let dir = temp_dir("types");
    let (engine, mut c) = start_with_client(&dir, &[]);
    fill_every_type(&mut c);
    let state = dump(&mut c);
    assert!(state.len() >= 13, "{} keys", state.len());
    engine.kill9();
    let (engine, mut c) = start_with_client(&dir, &[]);
    assert_same(&dump(&mut c), &state, "after restart");
    c.call(&[b"BGREWRITEAOF"]);
    wait_for_first_rewrite(&mut c, Duration::from_secs(20));
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &[]);
    assert_same(&dump(&mut c), &state, "after rewrite + restart");
    let _ = std::fs::remove_dir_all(&dir);
}

type Dump = Vec<(usize, Vec<u8>, Vec<u8>)>;

fn assert_same(now: &Dump, before: &Dump, when: &str) {
    for (a, b) in now.iter().zip(before) {
        assert!(
            a == b,
            "{when}: db {} key {} is\n{}\nwas\n{}",
            a.0,
            String::from_utf8_lossy(&a.1),
            String::from_utf8_lossy(&a.2),
            String::from_utf8_lossy(&b.2)
        );
    }
    assert_eq!(now.len(), before.len(), "{when}: key count");
}

#[test]
fn appendonly_turned_on_at_runtime_writes_the_keyspace_first() {
    let dir = temp_dir("runtime");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"));
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &dir.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let engine = spawn(cmd, port, "tradestate-engine");
    let mut c = engine.client();
    c.call(&[b"SET", b"before", b"1"]);
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"appendonly", b"yes"]),
        b"+OK\r\n"
    );
    c.call(&[b"SET", b"after", b"2"]);
    wait_for(
        "the rewrite that appendonly yes starts to finish",
        Duration::from_secs(20),
        || info_field(&mut c, "aof_rewrite_in_progress") == "0",
    );
    c.call(&[b"SET", b"later", b"3"]);
    engine.kill9();
    let (_engine, mut c) = start_with_client(&dir, &[]);
    for (k, v) in [("before", "1"), ("after", "2"), ("later", "3")] {
        assert_eq!(
            bulk(&c.call(&[b"GET", k.as_bytes()])).as_deref(),
            Some(v),
            "{k}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Against redis-server 7: the same directory layout both ways.

#[cfg(feature = "redis-server-tests")]
mod against_redis {
    use super::*;

    fn redis_in(dir: &Path) -> Engine {
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &dir.display().to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--aof-timestamp-enabled", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        spawn(cmd, port, "redis-server")
    }

    /// Every type, a rewrite (the base), then writes after it (the incremental file),
    /// including a transaction.
    fn write_base_and_incr(c: &mut RawClient) -> Dump {
        fill_every_type(c);
        c.call(&[b"BGREWRITEAOF"]);
        wait_for("the rewrite", Duration::from_secs(20), || {
            info_field(c, "aof_rewrite_in_progress") == "0" && info_field(c, "aof_rewrites") != "0"
        });
        c.call(&[b"SET", b"after:rewrite", b"1"]);
        c.call(&[b"MULTI"]);
        c.call(&[b"INCR", b"after:counter"]);
        c.call(&[b"RPUSH", b"after:list", b"a", b"b"]);
        c.call(&[b"EXEC"]);
        c.call(&[b"PEXPIRE", b"after:rewrite", b"100000000"]);
        dump(c)
    }

    /// The server `writer` starts in a fresh directory writes a base and an incremental file
    /// and is killed; `check_files` looks at the directory; then the server `reader` starts
    /// on it must hold the same keyspace. `what` names the case.
    fn hand_over(
        name: &str,
        writer: fn(&Path) -> Engine,
        check_files: fn(&Path),
        reader: fn(&Path) -> Engine,
        what: &str,
    ) {
        let dir = temp_dir(name);
        let first = writer(&dir);
        let written = write_base_and_incr(&mut first.client());
        first.kill9();
        check_files(&dir);
        let second = reader(&dir);
        assert_same(&dump(&mut second.client()), &written, what);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn start_default(dir: &Path) -> Engine {
        start(dir, &[])
    }

    #[test]
    fn redis_server_loads_our_aof_directory() {
        let manifest_has_a_base = |dir: &Path| {
            let manifest =
                std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
                    .expect("manifest");
            assert!(manifest.contains(".base.rdb seq 1 type b"), "{manifest}");
        };
        hand_over(
            "to-redis",
            start_default,
            manifest_has_a_base,
            redis_in,
            "redis-server on our files",
        );
    }

    #[test]
    fn we_load_redis_servers_aof_directory() {
        hand_over(
            "from-redis",
            redis_in,
            |_| {},
            start_default,
            "we on redis-server's files",
        );
    }
}

#[test]
fn a_rewrite_asked_for_during_a_bgsave_runs_after_it() {
    let dir = temp_dir("scheduled");
    let (engine, mut c) = start_with_client(&dir, &[]);
    c.call(&[b"SET", b"k", b"v"]);
    // One pipeline: the second command runs before the save's first slice.
    c.send_raw(b"BGSAVE\r\nBGREWRITEAOF\r\nBGSAVE\r\n");
    assert_eq!(c.read_reply().raw(), b"+Background saving started\r\n");
    assert_eq!(
        c.read_reply().raw(),
        b"+Background append only file rewriting scheduled\r\n"
    );
    assert_eq!(
        c.read_reply().raw(),
        b"-ERR Background save already in progress\r\n"
    );
    wait_for("the scheduled rewrite", Duration::from_secs(20), || {
        info_field(&mut c, "aof_rewrites") == "1"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    // During a rewrite a BGSAVE can only be scheduled, as behind Redis's AOF child.
    c.send_raw(b"BGREWRITEAOF\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\n");
    assert_eq!(
        c.read_reply().raw(),
        b"+Background append only file rewriting started\r\n"
    );
    let refused = c.read_reply().raw();
    assert!(
        refused.starts_with(b"-ERR Another child process is active (AOF?)"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert_eq!(c.read_reply().raw(), b"+Background saving scheduled\r\n");
    engine.kill9();
    let engine = start(&dir, &[]);
    assert_eq!(
        bulk(&engine.client().call(&[b"GET", b"k"])).as_deref(),
        Some("v")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redis_6_aof_with_an_rdb_preamble_loads() {
    // Redis 6 wrote its rewritten AOF as an RDB file followed by the commands since.
    let dir = temp_dir("preamble");
    let port = free_port();
    let mut saver = Command::new(env!("CARGO_BIN_EXE_tradestate-engine"));
    saver
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &dir.display().to_string(), "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let engine = spawn(saver, port, "tradestate-engine");
    let mut c = engine.client();
    c.call(&[b"SET", b"from:rdb", b"1"]);
    c.call(&[b"RPUSH", b"list", b"a", b"b"]);
    assert_eq!(c.call(&[b"SAVE"]), b"+OK\r\n");
    engine.kill9();
    let mut aof = std::fs::read(dir.join("dump.rdb")).expect("dump");
    std::fs::remove_file(dir.join("dump.rdb")).expect("rm");
    aof.extend_from_slice(b"*3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$1\r\nc\r\n");
    aof.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$8\r\nfrom:aof\r\n$1\r\n2\r\n");
    std::fs::write(dir.join("appendonly.aof"), &aof).expect("write");
    let (_engine, mut c) = start_with_client(&dir, &[]);
    assert_eq!(bulk(&c.call(&[b"GET", b"from:rdb"])).as_deref(), Some("1"));
    assert_eq!(bulk(&c.call(&[b"GET", b"from:aof"])).as_deref(), Some("2"));
    assert_eq!(
        c.call(&[b"LRANGE", b"list", b"0", b"-1"]),
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
