//! Introspection over real sockets: SLOWLOG entries, CLIENT KILL, CLIENT PAUSE, CLIENT REPLY,
//! and a normal client closed when its replies exceed `client-output-buffer-limit`.

mod common;

use std::time::{Duration, Instant};

use common::{connect, start_engine_and_client, RawClient, Reply};

fn call(c: &mut RawClient, args: &[&str]) -> Vec<u8> {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call(&argv)
}

fn items(r: &Reply) -> &[Reply] {
    match r {
        Reply::Aggregate(_, v) => v,
        other => panic!("not an array: {:?}", String::from_utf8_lossy(&other.raw())),
    }
}

/// The payload of a bulk string leaf (`$n\r\n<payload>\r\n`).
fn bulk(r: &Reply) -> Vec<u8> {
    let raw = r.raw();
    let start = raw.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    assert_eq!(
        raw[0],
        b'$',
        "not a bulk string: {:?}",
        String::from_utf8_lossy(&raw)
    );
    raw[start..raw.len() - 2].to_vec()
}

fn int(r: &Reply) -> i64 {
    let raw = r.raw();
    assert_eq!(
        raw[0],
        b':',
        "not an integer: {:?}",
        String::from_utf8_lossy(&raw)
    );
    String::from_utf8_lossy(&raw[1..raw.len() - 2])
        .parse()
        .unwrap()
}

#[test]
fn slowlog_records_entries_like_redis() {
    let (_engine, mut c) =
        start_engine_and_client(&[("slowlog-log-slower-than", "0"), ("slowlog-max-len", "4")]);
    call(&mut c, &["CLIENT", "SETNAME", "probe"]);
    call(&mut c, &["SLOWLOG", "RESET"]);
    let big = "x".repeat(200);
    let mut rpush: Vec<String> = vec!["RPUSH".into(), "list".into(), big];
    rpush.extend((0..40).map(|i| i.to_string()));
    let argv: Vec<&str> = rpush.iter().map(String::as_str).collect();
    call(&mut c, &argv);
    call(&mut c, &["AUTH", "default", "secret-password"]);
    c.send(&[b"SLOWLOG", b"GET", b"-1"]);
    let log = c.read_reply();
    let entries = items(&log);
    // Newest first: AUTH, RPUSH, SLOWLOG RESET.
    assert_eq!(entries.len(), 3);
    let auth = items(&entries[0]);
    assert_eq!(auth.len(), 6);
    let ids: Vec<i64> = entries.iter().map(|e| int(&items(e)[0])).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((int(&auth[1]) - now).abs() <= 2);
    assert!(int(&auth[2]) >= 0);
    let auth_args: Vec<Vec<u8>> = items(&auth[3]).iter().map(bulk).collect();
    assert_eq!(
        auth_args,
        vec![
            b"AUTH".to_vec(),
            b"(redacted)".to_vec(),
            b"(redacted)".to_vec()
        ]
    );
    assert!(String::from_utf8(bulk(&auth[4]))
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(bulk(&auth[5]), b"probe");
    let push = items(&entries[1]);
    let push_args: Vec<Vec<u8>> = items(&push[3]).iter().map(bulk).collect();
    assert_eq!(push_args.len(), 32);
    assert_eq!(
        push_args[2],
        format!("{}... (72 more bytes)", "x".repeat(128)).into_bytes()
    );
    assert_eq!(push_args[31], b"... (12 more arguments)");
    // The log keeps slowlog-max-len entries.
    for _ in 0..6 {
        call(&mut c, &["PING"]);
    }
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]), b":4\r\n");
    // A negative threshold turns it off.
    call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    call(&mut c, &["SLOWLOG", "RESET"]);
    call(&mut c, &["PING"]);
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]), b":0\r\n");
}

/// `addr=` of the calling connection's CLIENT INFO.
fn own_field(c: &mut RawClient, field: &str) -> String {
    let info = String::from_utf8(bulk_or_verbatim(&c.call(&[b"CLIENT", b"INFO"]))).unwrap();
    info.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn bulk_or_verbatim(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    raw[start..raw.len() - 2].to_vec()
}

fn is_closed(c: &mut RawClient) -> bool {
    c.try_read_reply().is_err()
}

/// Connects a new client and has `admin` send `CLIENT KILL <filter..> <the client's field>
/// <rest..>`; checks the reply is `want` and the client's connection is closed. Returns the
/// field's value.
fn kill_new_client(
    port: u16,
    admin: &mut RawClient,
    filter: &[&str],
    field: &str,
    rest: &[&str],
    want: &[u8],
) -> String {
    let mut victim = connect(port);
    let value = own_field(&mut victim, field);
    let mut args = vec!["CLIENT", "KILL"];
    args.extend(filter);
    args.push(&value);
    args.extend(rest);
    assert_eq!(call(admin, &args), want, "{args:?}");
    assert!(is_closed(&mut victim), "{args:?} left the client connected");
    value
}

#[test]
fn client_kill_by_address_and_filters() {
    let (engine, mut admin) = start_engine_and_client(&[]);
    let port = engine.port();
    // Old form: the exact address.
    let a_addr = kill_new_client(port, &mut admin, &[], "addr", &[], b"+OK\r\n");
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", &a_addr]),
        b"-ERR No such client\r\n"
    );
    kill_new_client(port, &mut admin, &["ID"], "id", &[], b":1\r\n");
    // ADDR and LADDR filters.
    let skipme: &[&str] = &["SKIPME", "yes"];
    kill_new_client(port, &mut admin, &["ADDR"], "addr", skipme, b":1\r\n");
    kill_new_client(port, &mut admin, &["LADDR"], "laddr", &[], b":1\r\n");
    // USER: only that user's connections; unknown users are an error.
    call(
        &mut admin,
        &["ACL", "SETUSER", "w", "on", ">p", "+@all", "~*"],
    );
    let mut e = connect(engine.port());
    let mut f = connect(engine.port());
    assert_eq!(call(&mut e, &["AUTH", "w", "p"]), b"+OK\r\n");
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", "USER", "w"]),
        b":1\r\n"
    );
    assert!(is_closed(&mut e));
    assert_eq!(call(&mut f, &["PING"]), b"+PONG\r\n");
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", "USER", "nosuch"]),
        b"-ERR No such user 'nosuch'\r\n"
    );
    // TYPE normal skips the caller by default; SKIPME no includes it.
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", "TYPE", "normal"]),
        b":1\r\n"
    );
    assert!(is_closed(&mut f));
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]),
        b":0\r\n"
    );
    assert_eq!(
        call(
            &mut admin,
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"]
        ),
        b":1\r\n"
    );
    assert!(is_closed(&mut admin));
}

#[test]
fn client_pause_write_delays_writes_not_reads() {
    let (engine, mut admin) = start_engine_and_client(&[]);
    let mut reader = connect(engine.port());
    let mut writer = connect(engine.port());
    call(&mut admin, &["SET", "k", "before"]);
    assert_eq!(
        call(&mut admin, &["CLIENT", "PAUSE", "400", "WRITE"]),
        b"+OK\r\n"
    );
    let started = Instant::now();
    assert_eq!(call(&mut reader, &["GET", "k"]), b"$6\r\nbefore\r\n");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "a read waited"
    );
    assert_eq!(call(&mut writer, &["SET", "k", "after"]), b"+OK\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "the write ran during the pause: {waited:?}"
    );
    // UNPAUSE releases held writes at once.
    assert_eq!(
        call(&mut admin, &["CLIENT", "PAUSE", "10000", "WRITE"]),
        b"+OK\r\n"
    );
    writer.send(&[b"SET", b"k", b"late"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(call(&mut reader, &["GET", "k"]), b"$5\r\nafter\r\n");
    let released = Instant::now();
    assert_eq!(call(&mut admin, &["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply().raw(), b"+OK\r\n");
    assert!(released.elapsed() < Duration::from_secs(2));
    assert_eq!(call(&mut reader, &["GET", "k"]), b"$4\r\nlate\r\n");
    // ALL holds reads too.
    assert_eq!(call(&mut admin, &["CLIENT", "PAUSE", "300"]), b"+OK\r\n");
    let started = Instant::now();
    assert_eq!(call(&mut reader, &["GET", "k"]), b"$4\r\nlate\r\n");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn client_reply_off_and_skip() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.send(&[b"SET", b"a", b"1"]);
    c.send(&[b"NOSUCHCOMMAND"]);
    assert_eq!(call(&mut c, &["CLIENT", "REPLY", "ON"]), b"+OK\r\n");
    c.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.send(&[b"SET", b"b", b"2"]);
    assert_eq!(
        call(&mut c, &["MGET", "a", "b"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
}

#[test]
fn output_buffer_limit_closes_a_normal_client() {
    let (engine, mut c) =
        start_engine_and_client(&[("client-output-buffer-limit", "normal 1mb 0 0")]);
    let big = "x".repeat(2 << 20);
    assert_eq!(call(&mut c, &["SET", "big", &big]), b"+OK\r\n");
    assert_eq!(
        call(&mut c, &["STRLEN", "big"]),
        format!(":{}\r\n", 2 << 20).into_bytes()
    );
    c.send(&[b"GET", b"big"]);
    assert!(
        is_closed(&mut c),
        "a 2 MB reply went out past a 1 MB hard limit"
    );
    let mut small = connect(engine.port());
    assert_eq!(call(&mut small, &["GET", "nosuch"]), b"$-1\r\n");
}
