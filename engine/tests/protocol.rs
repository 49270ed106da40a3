//! The wire protocol as raw bytes: inline commands (quoting, escapes, blank lines), pipelines
//! mixing inline and multibulk requests, protocol errors (answered with Redis's exact
//! `-ERR Protocol error: ...` and the connection closed), and RESP3 through HELLO 3.
//!
//! Differential scripts cannot cover this (they always send multibulk requests); every
//! expected reply here was taken from redis-server 7.0.15.

mod common;

use std::time::Duration;

use common::{connect, show, start_engine, start_engine_and_client, RawClient, Reply};

/// Sends raw bytes and reads `n` replies, returning their exact bytes.
fn replies(client: &mut RawClient, bytes: &[u8], n: usize) -> Vec<u8> {
    client.send_raw(bytes);
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend(client.read_reply().raw());
    }
    out
}

/// Asserts the next bytes are `expected` and that the server then closes the connection.
fn expect_error_and_close(client: &mut RawClient, expected: &[u8]) {
    let got = client.read_reply().raw();
    assert_eq!(got, expected, "got {}", show(&got));
    match client.try_read_reply() {
        Err(_) => {}
        Ok(r) => panic!("connection still open, sent {}", show(&r.raw())),
    }
}

fn assert_bytes(got: Vec<u8>, expected: &[u8]) {
    assert_eq!(
        got,
        expected,
        "\n got:      {}\n expected: {}",
        show(&got),
        show(expected)
    );
}

/// Sends each case's bytes in turn and checks that its `n` replies are exactly `expected`.
fn assert_exchanges(client: &mut RawClient, cases: &[(&[u8], usize, &[u8])]) {
    for &(wire, n, expected) in cases {
        let got = replies(client, wire, n);
        assert_eq!(
            got,
            expected,
            "\n sent:     {}\n got:      {}\n expected: {}",
            show(wire),
            show(&got),
            show(expected)
        );
    }
}

#[test]
fn inline_commands_with_quotes_and_escapes() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    assert_exchanges(
        &mut c,
        &[
            (b"SET k \"a b\"\r\nGET k\r\n", 2, b"+OK\r\n$3\r\na b\r\n"),
            (b"SET k 'it\\'s'\r\nGET k\r\n", 2, b"+OK\r\n$4\r\nit's\r\n"),
            (b"ECHO \"\\x41\\x00\\x42\\n\"\r\n", 1, b"$4\r\nA\x00B\n\r\n"),
            // An invalid \x escape is taken literally, as sdssplitargs does.
            (b"ECHO \"\\xzz\"\r\n", 1, b"$3\r\nxzz\r\n"),
            // Blank lines are skipped; spaces around words and a bare LF are fine.
            (b"\r\n\r\n  PING  \nPING\n", 2, b"+PONG\r\n+PONG\r\n"),
            (
                b"NOSUCH a \"b c\"\r\n",
                1,
                b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b c' \r\n",
            ),
        ],
    );
}

#[test]
fn pipeline_mixing_inline_and_multibulk() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    let wire = b"PING\r\n*1\r\n$4\r\nPING\r\nECHO inline\r\n*2\r\n$4\r\nECHO\r\n$2\r\nmb\r\n\
*0\r\n*-1\r\nSET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_bytes(
        replies(&mut c, wire, 6),
        b"+PONG\r\n+PONG\r\n$6\r\ninline\r\n$2\r\nmb\r\n+OK\r\n$1\r\nv\r\n",
    );
}

#[test]
fn a_request_split_across_writes_is_executed_once_complete() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    c.send_raw(b"*2\r\n$4\r\nECHO\r\n$10\r\n01234");
    std::thread::sleep(Duration::from_millis(50));
    c.send_raw(b"56789\r\nPI");
    std::thread::sleep(Duration::from_millis(50));
    assert_bytes(
        replies(&mut c, b"NG\r\n", 2),
        b"$10\r\n0123456789\r\n+PONG\r\n",
    );
}

#[test]
fn protocol_errors_reply_like_redis_and_close() {
    let engine = start_engine(&[]);
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*x\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$600000000\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"SET k \"abc\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET k 'abc\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"set k \"a\"b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"*1\r\n:1\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*2\r\n$4\r\nECHO\r\nxx\r\n",
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        // The byte is copied as is (%c), and CR/LF become spaces.
        (
            b"*1\r\n\x80\r\n",
            b"-ERR Protocol error: expected '$', got '\x80'\r\n",
        ),
        (
            b"*1\r\n\r\r\n",
            b"-ERR Protocol error: expected '$', got ' '\r\n",
        ),
    ];
    for (wire, expected) in cases {
        let mut c = connect(engine.port());
        c.send_raw(wire);
        expect_error_and_close(&mut c, expected);
    }
}

#[test]
fn commands_before_a_protocol_error_are_answered_and_later_ones_are_not() {
    let (engine, mut c) = start_engine_and_client(&[]);
    c.send_raw(b"PING\r\nSET k before\r\n*x\r\nSET k after\r\n");
    assert_bytes(c.read_reply().raw(), b"+PONG\r\n");
    assert_bytes(c.read_reply().raw(), b"+OK\r\n");
    expect_error_and_close(&mut c, b"-ERR Protocol error: invalid multibulk length\r\n");
    let mut d = connect(engine.port());
    assert_bytes(d.call(&[b"GET", b"k"]), b"$6\r\nbefore\r\n");
}

#[test]
fn unauthenticated_clients_get_small_request_limits() {
    let (engine, mut c) = start_engine_and_client(&[("requirepass", "secret")]);
    c.send_raw(b"*11\r\n");
    expect_error_and_close(
        &mut c,
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    let mut c = connect(engine.port());
    c.send_raw(b"*1\r\n$16385\r\n");
    expect_error_and_close(
        &mut c,
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    let mut c = connect(engine.port());
    assert_bytes(
        replies(&mut c, b"GET k\r\n", 1),
        b"-NOAUTH Authentication required.\r\n",
    );
    assert_bytes(replies(&mut c, b"AUTH secret\r\n", 1), b"+OK\r\n");
    c.send_raw(b"*11\r\n$4\r\nECHO\r\n$1\r\na\r\n");
    // Authenticated: the long request is accepted (ECHO then has too many arguments).
    c.send_raw(&b"$1\r\nb\r\n".repeat(9));
    assert_bytes(
        c.read_reply().raw(),
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
}

#[test]
fn resp3_through_hello() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    let hello = c.call(&[b"HELLO", b"3"]);
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{}",
        show(&hello)
    );
    assert!(
        hello.ends_with(b"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"),
        "{}",
        show(&hello)
    );
    assert_exchanges(
        &mut c,
        &[
            (b"GET missing\r\n", 1, b"_\r\n"),
            (
                b"CONFIG GET maxmemory\r\n",
                1,
                b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
            ),
            (b"INFO nosuch\r\n", 1, b"=4\r\ntxt:\r\n"),
            (
                b"HELLO 4\r\n",
                1,
                b"-NOPROTO unsupported protocol version\r\n",
            ),
        ],
    );
    let back = c.call(&[b"HELLO", b"2"]);
    assert!(back.starts_with(b"*14\r\n"), "{}", show(&back));
    assert_bytes(replies(&mut c, b"GET missing\r\n", 1), b"$-1\r\n");
    // RESET returns to RESP2 as well.
    c.call(&[b"HELLO", b"3"]);
    assert_bytes(
        replies(&mut c, b"RESET\r\nGET missing\r\n", 2),
        b"+RESET\r\n$-1\r\n",
    );
}

#[test]
fn quit_replies_then_closes() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    c.send_raw(b"QUIT\r\nPING\r\n");
    assert_eq!(c.read_reply(), Reply::Leaf(b"+OK\r\n".to_vec()));
    assert!(
        c.try_read_reply().is_err(),
        "connection must close after QUIT"
    );
}
