//! Hostile and unusual clients never take the engine down: oversized lengths, huge
//! multibulks, thousands of idle connections, half-sent commands, random garbage, byte-by-byte
//! senders, giant pipelines and query buffers over the limit. Each test drives a real engine
//! over real sockets and ends by checking that the engine still serves a fresh client.
//!
//! Runs in plain `cargo test` (no redis-server needed). Every loop is bounded and every read
//! has a timeout, so a misbehaving engine fails a test instead of hanging it.

// Unsafe code here: fork, pipes and raw sockets for the idle-connection holder, rlimit calls; each
// block says why it is sound.
#![allow(unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use common::{encode, info_value, show, start_engine, RawClient};

/// Connects with a read timeout, so no test can hang on a silent server.
fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until the server closes the connection; returns what it sent. A reset counts as a
/// close (the server may close while our unread data is still in its socket).
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "server did not close the connection"
        );
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("read failed before the server closed: {e}"),
        }
    }
}

/// Panics on engine threads. A panicking connection task does not stop the engine (tokio
/// catches it), so "still answers PING" alone would not notice one.
static ENGINE_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Starts an engine, first making sure panics on engine threads are counted.
fn engine(settings: &[(&str, &str)]) -> tradestate_engine::EngineHandle {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("engine-"))
            {
                ENGINE_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    start_engine(settings)
}

/// The engine answers PING on a brand-new connection, and nothing on an engine thread panicked.
fn assert_serving(port: u16) {
    assert_eq!(
        ENGINE_PANICS.load(Ordering::SeqCst),
        0,
        "an engine thread panicked"
    );
    let mut c = RawClient::connect(port).expect("engine still accepts connections");
    assert_eq!(show(&c.call(&[b"PING"])), "+PONG\\r\\n");
}

/// `connected_clients` from INFO clients (includes the asking connection).
fn connected_clients(c: &mut RawClient) -> usize {
    info_value(c, "clients", "connected_clients")
        .and_then(|v| v.parse().ok())
        .expect("connected_clients in INFO clients")
}

/// Polls until the engine reports `want` connected clients (connections are registered and
/// unregistered asynchronously to the test's connects and drops).
fn wait_for_clients(c: &mut RawClient, want: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = connected_clients(c);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "connected_clients stayed at {now}, expected {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Small deterministic generator so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn bulk_length_over_proto_max_bulk_len_is_rejected_and_closed() {
    let engine = engine(&[]);
    let mut s = connect(engine.port());
    s.write_all(b"*1\r\n$600000000\r\n").unwrap();
    let got = read_until_closed(&mut s);
    assert_eq!(show(&got), "-ERR Protocol error: invalid bulk length\\r\\n");

    // The same for a multibulk count over the limit and a negative bulk length.
    for request in [&b"*3000000000\r\n"[..], b"*1\r\n$-5\r\n"] {
        let mut s = connect(engine.port());
        s.write_all(request).unwrap();
        let got = read_until_closed(&mut s);
        assert!(
            got.starts_with(b"-ERR Protocol error: invalid "),
            "{}",
            show(&got)
        );
    }
    assert_serving(engine.port());
}

/// `<prefix>:0` to `<prefix>:<n-1>`.
fn numbered(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}:{i}").into_bytes())
        .collect()
}

/// `command` followed by `a[0] b[0] a[1] b[1] ...`.
fn interleaved<'a>(command: &'a [u8], a: &'a [Vec<u8>], b: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let mut args = vec![command];
    for (x, y) in a.iter().zip(b) {
        args.push(x);
        args.push(y);
    }
    args
}

#[test]
fn multibulk_with_100k_arguments_executes() {
    let engine = engine(&[]);
    let mut c = RawClient::connect(engine.port()).unwrap();
    const PAIRS: usize = 50_000;

    // MSET with 100,001 arguments.
    let keys = numbered("key", PAIRS);
    let values = numbered("value", PAIRS);
    let mset = interleaved(b"MSET", &keys, &values);
    let started = Instant::now();
    assert_eq!(c.call(&mset), b"+OK\r\n");
    assert_eq!(c.call(&[b"DBSIZE"]), format!(":{PAIRS}\r\n").into_bytes());
    assert_eq!(c.call(&[b"GET", b"key:49999"]), b"$11\r\nvalue:49999\r\n");

    // DEL with 100,001 keys, half of which exist.
    let absent = numbered("absent", PAIRS);
    let del = interleaved(b"DEL", &keys, &absent);
    assert_eq!(c.call(&del), format!(":{PAIRS}\r\n").into_bytes());
    assert_eq!(c.call(&[b"DBSIZE"]), b":0\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "100k-argument commands took {:?}",
        started.elapsed()
    );
    assert_serving(engine.port());
}

/// Raises this process's soft open-file limit towards `want` (up to the hard limit). Returns
/// the soft limit in effect afterwards.
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

const IDLE_CONNECTIONS: usize = 10_000;

/// A forked child process holding the client ends of the idle connections, so that they and
/// the engine's ends each get a whole open-file limit.
struct IdleHolder {
    pid: libc::pid_t,
    ready: libc::c_int,
    release: libc::c_int,
}

impl IdleHolder {
    /// Forks a child that opens `count` connections to `port` (a PING round trip on every
    /// 250th, which proves they work and lets the accept queue drain), reports, and holds them
    /// until released. After fork the child uses only async-signal-safe system calls on memory
    /// prepared before the fork, as POSIX requires in a multi-threaded process.
    fn spawn(port: u16, count: usize) -> IdleHolder {
        let mut ready = [0 as libc::c_int; 2];
        let mut release = [0 as libc::c_int; 2];
        // SAFETY: pipe() writes two descriptors into the arrays.
        unsafe {
            assert_eq!(libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(release.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        // SAFETY: `sockaddr_in` is plain integers, for which all-zero bytes are a valid value.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        // SAFETY: see the function comment; the child only calls socket/connect/read/write/
        // _exit and never returns into Rust code.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: this is the child right after fork, as `child` requires; the pipe ends
            // closed here are the child's copies, used by nothing else.
            unsafe {
                // The child keeps only its own ends: EOF on `release` needs every write end closed.
                libc::close(ready[0]);
                libc::close(release[1]);
                Self::child(&addr, count, ready[1], release[0])
            }
        }
        // SAFETY: closing the child's ends of the pipes in the parent.
        unsafe {
            libc::close(ready[1]);
            libc::close(release[0]);
        }
        IdleHolder {
            pid,
            ready: ready[0],
            release: release[1],
        }
    }

    /// # Safety
    /// Only to be called in the child right after fork.
    unsafe fn child(
        addr: &libc::sockaddr_in,
        count: usize,
        ready: libc::c_int,
        release: libc::c_int,
    ) -> ! {
        let fail = |code: u8| -> ! {
            libc::write(ready, [code].as_ptr() as *const libc::c_void, 1);
            libc::_exit(1)
        };
        for i in 0..count {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            if fd < 0 {
                fail(b'S');
            }
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::connect(
                fd,
                addr as *const libc::sockaddr_in as *const libc::sockaddr,
                len,
            ) != 0
            {
                fail(b'C');
            }
            if i % 250 == 249 {
                let ping = b"PING\r\n";
                if libc::write(fd, ping.as_ptr() as *const libc::c_void, ping.len())
                    != ping.len() as isize
                {
                    fail(b'W');
                }
                let mut got = 0usize;
                let mut buf = [0u8; 7];
                while got < buf.len() {
                    let n = libc::read(
                        fd,
                        buf.as_mut_ptr().add(got) as *mut libc::c_void,
                        buf.len() - got,
                    );
                    if n <= 0 {
                        fail(b'R');
                    }
                    got += n as usize;
                }
                if &buf != b"+PONG\r\n" {
                    fail(b'P');
                }
            }
        }
        libc::write(ready, b"K".as_ptr() as *const libc::c_void, 1);
        // Blocks until the parent closes its end; exiting closes every connection at once.
        let mut byte = 0u8;
        libc::read(release, &mut byte as *mut u8 as *mut libc::c_void, 1);
        libc::_exit(0)
    }

    /// Waits for the child's report: `K` when all connections are open.
    fn wait_ready(&self) -> u8 {
        let mut byte = 0u8;
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(self.ready, &mut byte as *mut u8 as *mut libc::c_void, 1) };
        if n == 1 {
            byte
        } else {
            b'?'
        }
    }

    /// Releases the connections and reaps the child; true if it exited cleanly.
    fn release(self) -> bool {
        let mut status = 0;
        // SAFETY: closing our pipe ends and waiting for our own child.
        unsafe {
            libc::close(self.release);
            libc::close(self.ready);
            libc::waitpid(self.pid, &mut status, 0);
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

#[test]
fn ten_thousand_idle_connections_do_not_slow_others() {
    // The engine's ends of the connections live in this process. A machine whose hard limit
    // is too low gets a smaller test rather than a spurious failure.
    let limit = raise_fd_limit(IDLE_CONNECTIONS as u64 + 1024) as usize;
    let idle = IDLE_CONNECTIONS.min(limit.saturating_sub(1024));
    if idle < IDLE_CONNECTIONS {
        eprintln!("open-file hard limit {limit}: testing {idle} idle connections");
    }
    let engine = engine(&[("maxclients", "20000")]);
    let port = engine.port();
    let mut control = RawClient::connect(port).unwrap();

    let started = Instant::now();
    let holder = IdleHolder::spawn(port, idle);
    let report = holder.wait_ready();
    if report != b'K' {
        holder.release();
        panic!(
            "the holder could not open its connections (step {})",
            report as char
        );
    }
    wait_for_clients(&mut control, idle + 1, Duration::from_secs(20));
    let opened_in = started.elapsed();

    let ping_started = Instant::now();
    assert_eq!(control.call(&[b"PING"]), b"+PONG\r\n");
    let ping_time = ping_started.elapsed();
    assert!(
        ping_time < Duration::from_millis(500),
        "PING took {ping_time:?}"
    );
    assert_serving(port);

    assert!(holder.release(), "the holder process failed");
    wait_for_clients(&mut control, 1, Duration::from_secs(20));
    assert_serving(port);
    eprintln!("{idle} connections opened in {opened_in:?}, PING meanwhile took {ping_time:?}");
}

#[test]
fn half_sent_commands_then_disconnect_leave_the_server_serving() {
    let engine = engine(&[]);
    let port = engine.port();
    let mut control = RawClient::connect(port).unwrap();
    let partials: [&[u8]; 6] = [
        b"*3\r\n$3\r\nSET\r\n$1\r\nk",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\nabc",
        b"*3\r\n$3\r\nSET\r\n",
        b"*2",
        b"*2\r\n$3\r\nGET\r\n$",
        b"SET k inline-without-newline",
    ];
    for round in 0..50 {
        let mut batch = Vec::new();
        for p in partials {
            let mut s = connect(port);
            s.write_all(p).unwrap();
            batch.push(s);
        }
        // Odd rounds half-close first (the server sees EOF mid-command while it could still
        // write), even rounds just close.
        if round % 2 == 1 {
            for s in &batch {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
        drop(batch);
    }
    wait_for_clients(&mut control, 1, Duration::from_secs(10));
    // None of the partial commands ran.
    assert_eq!(control.call(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(control.call(&[b"DBSIZE"]), b":0\r\n");
    assert_serving(port);
}

/// Valid requests used as seeds for mutated garbage.
fn seed_requests() -> Vec<Vec<u8>> {
    let cmds: [&[&[u8]]; 10] = [
        &[b"SET", b"k", b"v"],
        &[b"GET", b"k"],
        &[b"INCR", b"n"],
        &[b"MSET", b"a", b"1", b"b", b"2"],
        &[b"DEL", b"a", b"b"],
        &[b"EXPIRE", b"k", b"100"],
        &[b"APPEND", b"k", b"xyz"],
        &[b"GETRANGE", b"k", b"0", b"-1"],
        &[b"INCRBYFLOAT", b"f", b"1.5"],
        &[b"SCAN", b"0", b"COUNT", b"10"],
    ];
    let mut seeds: Vec<Vec<u8>> = cmds.iter().map(|c| encode(c)).collect();
    seeds.push(b"PING\r\n".to_vec());
    seeds.push(b"SET \"quoted k\" 'v'\r\n".to_vec());
    seeds
}

/// Random bytes, or valid requests with a few bytes overwritten.
fn garbage(rng: &mut XorShift) -> Vec<u8> {
    if rng.below(2) == 0 {
        let n = 1 + rng.below(8192);
        return rng.bytes(n);
    }
    let seeds = seed_requests();
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(20) {
        out.extend_from_slice(&seeds[rng.below(seeds.len())]);
    }
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len());
        out[at] = rng.next() as u8;
    }
    out
}

#[test]
fn random_garbage_from_100_clients_never_crashes_the_server() {
    let engine = engine(&[]);
    let port = engine.port();
    std::thread::scope(|scope| {
        for t in 0..100u64 {
            scope.spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (t + 1).wrapping_mul(0x2545_F491));
                let mut s = connect(port);
                for _ in 0..4 {
                    // The server may already have closed after a protocol error.
                    if s.write_all(&garbage(&mut rng)).is_err() {
                        break;
                    }
                }
                // EOF from our side: the server must close its end, whatever it was waiting for.
                let _ = s.shutdown(Shutdown::Write);
                read_until_closed(&mut s);
            });
        }
    });
    let mut control = RawClient::connect(port).unwrap();
    wait_for_clients(&mut control, 1, Duration::from_secs(10));
    assert_serving(port);
    assert_eq!(control.call(&[b"SET", b"after", b"garbage"]), b"+OK\r\n");
    assert_eq!(control.call(&[b"GET", b"after"]), b"$7\r\ngarbage\r\n");
}

#[test]
fn byte_by_byte_sender_gets_correct_replies() {
    let engine = engine(&[]);
    let mut s = connect(engine.port());
    let mut request = Vec::new();
    request.extend(encode(&[b"SET", b"key", b"hello\r\nworld"]));
    request.extend(encode(&[b"GET", b"key"]));
    request.extend(b"INCR counter\r\n");
    request.extend(encode(&[b"MSET", b"a", b"1", b"b", b""]));
    request.extend(encode(&[b"MGET", b"a", b"b", b"c"]));
    request.extend(b"PING\n");
    let expected: &[u8] =
        b"+OK\r\n$12\r\nhello\r\nworld\r\n:1\r\n+OK\r\n*3\r\n$1\r\n1\r\n$0\r\n\r\n$-1\r\n+PONG\r\n";
    for &b in &request {
        s.write_all(&[b]).unwrap();
        // Give the engine a chance to read each byte on its own.
        std::thread::sleep(Duration::from_micros(300));
    }
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(show(&got), show(expected));
    assert_serving(engine.port());
}

#[test]
fn pipeline_of_100k_pings_in_one_write() {
    const N: usize = 100_000;
    let engine = engine(&[]);
    let mut s = connect(engine.port());
    let request = encode(&[b"PING"]).repeat(N);
    let mut writer = s.try_clone().unwrap();
    // Write from another thread: the replies must be read while the request is still going
    // out, or both sides' socket buffers fill up.
    let sender = std::thread::spawn(move || writer.write_all(&request));
    let expected = b"+PONG\r\n".repeat(N);
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).unwrap();
    sender.join().unwrap().unwrap();
    assert!(got == expected, "replies differ from {N} PONGs");

    // And the inline form.
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&b"PING\r\n".repeat(N)));
    s.read_exact(&mut got).unwrap();
    sender.join().unwrap().unwrap();
    assert!(got == expected, "inline replies differ from {N} PONGs");
    assert_serving(engine.port());
}

#[test]
fn query_buffer_over_the_limit_closes_only_that_client() {
    let engine = engine(&[("client-query-buffer-limit", "1mb")]);
    let port = engine.port();
    let mut bystander = RawClient::connect(port).unwrap();
    assert_eq!(bystander.call(&[b"SET", b"k", b"v"]), b"+OK\r\n");

    // One 2 MB argument: its bytes pile up in the query buffer past the 1 MB limit. Whether
    // the bytes arrive all at once or in pieces, the client is closed without a reply and the
    // command does not run.
    for trickle in [false, true] {
        let mut big = connect(port);
        let mut writer = big.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let mut request = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2000000\r\n".to_vec();
            request.extend(vec![b'x'; 2_000_000]);
            request.extend(b"\r\n");
            if trickle {
                for piece in request.chunks(100_000) {
                    // Fails with a reset or broken pipe once the server has closed: expected.
                    if writer.write_all(piece).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            } else {
                let _ = writer.write_all(&request);
            }
        });
        let got = read_until_closed(&mut big);
        sender.join().unwrap();
        assert!(
            got.is_empty(),
            "no reply expected (trickle: {trickle}), got {}",
            show(&got)
        );
    }

    assert_eq!(bystander.call(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(bystander.call(&[b"EXISTS", b"big"]), b":0\r\n");
    wait_for_clients(&mut bystander, 1, Duration::from_secs(10));
    assert_serving(port);

    // A request just under the limit is fine.
    let value = vec![b'y'; 900_000];
    assert_eq!(bystander.call(&[b"SET", b"fits", &value]), b"+OK\r\n");
    assert_eq!(bystander.call(&[b"STRLEN", b"fits"]), b":900000\r\n");
}
