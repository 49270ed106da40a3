//! The RESP write path over real sockets: a terminal speaking Redis with the
//! `redis` crate (or raw bytes where the protocol itself is under test), against embedded
//! engines and real redis-server.

mod common;

use std::time::Duration;

use common::*;
use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tradestate_gateway::ops::Partition;

async fn connect_anonymous(h: &Harness) -> MultiplexedConnection {
    redis::Client::open(format!("redis://{}/", resp_addr(h)))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("resp connection")
}

fn xadd(stream: &str, options: &[&str], pairs: &[(String, String)]) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream);
    for option in options {
        cmd.arg(*option);
    }
    cmd.arg("*");
    for (name, value) in pairs {
        cmd.arg(name).arg(value);
    }
    cmd
}

async fn try_query(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
) -> Result<Value, RedisError> {
    cmd.query_async(conn).await
}

fn expect_error(result: Result<Value, RedisError>, code: &str, context: &str) -> String {
    match result {
        Err(e) => {
            assert_eq!(e.code(), Some(code), "{context}: {e}");
            e.to_string()
        }
        Ok(value) => panic!("{context}: expected -{code}, got {value:?}"),
    }
}

async fn ttl(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    query(conn, &["TTL", key]).await
}

/// Raw bytes over TCP, for what a client library would not send.
struct Raw(TcpStream);

impl Raw {
    async fn connect(h: &Harness) -> Raw {
        Raw(TcpStream::connect(resp_addr(h)).await.expect("tcp connect"))
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.expect("send");
    }

    async fn command(&mut self, args: &[&str]) -> String {
        let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            bytes.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        self.send(&bytes).await;
        self.read().await
    }

    /// What arrives until the connection is quiet (or closed); errors (a reset) end it too.
    async fn read(&mut self) -> String {
        let mut out = Vec::new();
        let mut wait = Duration::from_secs(5);
        let mut chunk = [0u8; 64 * 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(wait, self.0.read(&mut chunk)).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            wait = Duration::from_millis(50);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// True when the server closed the connection.
    async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.0.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_gates_everything_but_the_handshake() {
    on_each_target(defaults, async |h, name| {
        let state = fields(&instance_state(1));
        let mut conn = connect_anonymous(h).await;
        let pong: String = query(&mut conn, &["PING"]).await;
        assert_eq!(pong, "PONG");
        let text = expect_error(
            try_query(&mut conn, &hset("ris:{T1}", &state)).await,
            "NOAUTH",
            name,
        );
        assert!(text.contains("Authentication required"), "{text}");
        expect_error(
            try_query(&mut conn, redis::cmd("GET").arg("x")).await,
            "NOAUTH",
            name,
        );
        let text = expect_error(
            try_query(&mut conn, redis::cmd("AUTH").arg("T1").arg("wrong-token")).await,
            "WRONGPASS",
            name,
        );
        assert!(
            text.contains("invalid username-password pair or user is disabled."),
            "{text}"
        );
        let text = expect_error(
            try_query(&mut conn, redis::cmd("AUTH").arg(token("T1"))).await,
            "ERR",
            name,
        );
        assert!(text.contains("use AUTH <instance_id> <token>"), "{text}");
        // Another terminal's token does not open T1.
        expect_error(
            try_query(&mut conn, redis::cmd("AUTH").arg("T1").arg(token("T2"))).await,
            "WRONGPASS",
            name,
        );
        let ok: String = query(&mut conn, &["AUTH", "T1", token("T1")]).await;
        assert_eq!(ok, "OK");
        let stored: i64 = hset("ris:{T1}", &state)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, state.len() as i64, "{name}");

        // What client libraries send while connecting succeeds once authenticated.
        let mut conn = connect_as(h, "T2").await;
        for cmd in [
            redis::cmd("CLIENT")
                .arg("SETINFO")
                .arg("LIB-NAME")
                .arg("redis-py")
                .clone(),
            redis::cmd("CLIENT").arg("SETNAME").arg("ea-T2").clone(),
            redis::cmd("SELECT").arg(0).clone(),
        ] {
            let ok: String = cmd.query_async(&mut conn).await.unwrap();
            assert_eq!(ok, "OK");
        }
        let got: String = query(&mut conn, &["CLIENT", "GETNAME"]).await;
        assert_eq!(got, "ea-T2");
        let _: i64 = query(&mut conn, &["CLIENT", "ID"]).await;
        let echo: String = query(&mut conn, &["ECHO", "hi"]).await;
        assert_eq!(echo, "hi");
        let docs: Vec<Value> = query(&mut conn, &["COMMAND", "DOCS"]).await;
        assert!(docs.is_empty());
        expect_error(
            try_query(&mut conn, redis::cmd("SELECT").arg(1)).await,
            "ERR",
            name,
        );

        // HELLO 3 AUTH from the URL (RESP3).
        let url = format!(
            "redis://T3:{}@{}/?protocol=resp3",
            token("T3"),
            resp_addr(h)
        );
        let mut conn = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("resp3 connection");
        let stored: i64 = hset("ris:{T3}", &state)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, state.len() as i64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reset_and_quit() {
    on_each_target(defaults, async |h, _| {
        let mut raw = Raw::connect(h).await;
        assert!(raw.command(&["HELLO", "3"]).await.starts_with("-NOAUTH"));
        let hello = raw
            .command(&["HELLO", "3", "AUTH", "T1", token("T1"), "SETNAME", "ea"])
            .await;
        assert!(hello.starts_with("%7\r\n"), "{hello}");
        assert!(
            hello.contains("$6\r\nserver\r\n$10\r\ntradestate\r\n"),
            "{hello}"
        );
        assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
        assert!(hello.contains("$4\r\nmode\r\n$7\r\ngateway\r\n"), "{hello}");
        assert_eq!(raw.command(&["CLIENT", "GETNAME"]).await, "$2\r\nea\r\n");
        assert_eq!(raw.command(&["RESET"]).await, "+RESET\r\n");
        assert!(raw.command(&["GET", "x"]).await.starts_with("-NOAUTH"));
        assert_eq!(raw.command(&["PING"]).await, "+PONG\r\n");
        assert!(raw.command(&["HELLO", "4"]).await.starts_with("-NOPROTO"));
        assert_eq!(raw.command(&["QUIT"]).await, "+OK\r\n");
        assert!(raw.closed().await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_own_keys_and_writes_are_allowed() {
    on_each_target(defaults, async |h, name| {
        let mut conn = connect_as(h, "T1").await;
        let state = fields(&instance_state(1));
        let text = expect_error(
            try_query(&mut conn, &hset("ris:{T2}", &state)).await,
            "NOPERM",
            name,
        );
        assert!(text.contains("ris:{T2}"), "{text}");
        assert!(text.contains("ris:{T1}"), "{text}");
        let trade_pairs = fields(&trade(1, "77", false));
        let text = expect_error(
            try_query(&mut conn, &hset("rts:{T2}:77", &trade_pairs)).await,
            "NOPERM",
            name,
        );
        assert!(text.contains("rts:{T2}:77"), "{text}");
        expect_error(
            try_query(&mut conn, &hset("rts:{T1}:open", &trade_pairs)).await,
            "NOPERM",
            name,
        );
        let signal_pairs = fields(&signal(1, "s-1"));
        let text = expect_error(
            try_query(&mut conn, &xadd("other-stream", &[], &signal_pairs)).await,
            "NOPERM",
            name,
        );
        assert!(text.contains("other-stream"), "{text}");
        for cmd in [
            redis::cmd("GET").arg("ris:{T1}").clone(),
            redis::cmd("DEL").arg("ris:{T1}").clone(),
            redis::cmd("FLUSHALL").clone(),
            redis::cmd("KEYS").arg("*").clone(),
            redis::cmd("HGETALL").arg("ris:{T1}").clone(),
        ] {
            let command = String::from_utf8_lossy(&cmd.get_packed_command()).into_owned();
            let text = expect_error(try_query(&mut conn, &cmd).await, "NOPERM", name);
            let verb = command.split("\r\n").nth(2).unwrap_or_default().to_string();
            assert!(text.contains(&verb), "{text} should name {verb}");
        }
        // Nothing of that reached an engine.
        let mut ris = h.engine(Partition::Ris).await;
        let exists: i64 = query(&mut ris, &["EXISTS", "ris:{T2}"]).await;
        assert_eq!(exists, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_stored_with_the_gateway_policy() {
    on_each_target(defaults, async |h, name| {
        let mut conn = connect_as(h, "T1").await;
        let mut ris = h.engine(Partition::Ris).await;
        let mut rts = h.engine(Partition::Rts).await;
        let mut rtss = h.engine(Partition::Rtss).await;

        // Instance state: TTL 120 s.
        let state = fields(&instance_state(5));
        let n: i64 = hset("ris:{T1}", &state)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, state.len() as i64);
        let t = ttl(&mut ris, "ris:{T1}").await;
        assert!((110..=120).contains(&t), "{name}: ttl {t}");
        let stored: String = query(&mut ris, &["HGET", "ris:{T1}", "instance_id"]).await;
        assert_eq!(stored, "T1");

        // A stale seq answers :0 and changes nothing.
        let n: i64 = hset("ris:{T1}", &fields(&instance_state(4)))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "{name}");
        let seq: String = query(&mut ris, &["HGET", "ris:{T1}", "seq"]).await;
        assert_eq!(seq, "5");

        // HMSET answers +OK, as in Redis.
        let ok: String = hash_cmd("HMSET", "ris:{T1}", &fields(&instance_state(6)))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(ok, "OK");

        // An open trade, without a ticket field (taken from the key): persisted, in the open set.
        let mut open = fields(&trade(1, "77", false));
        open.retain(|(name, _)| name != "ticket");
        let n: i64 = hset("rts:{T1}:77", &open)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, open.len() as i64);
        assert_eq!(ttl(&mut rts, "rts:{T1}:77").await, -1, "{name}");
        let member: bool = query(&mut rts, &["SISMEMBER", "rts:{T1}:open", "77"]).await;
        assert!(member, "{name}: 77 in rts:{{T1}}:open");

        // Closed: expires after 30 days.
        let closed = fields(&trade(2, "77", true));
        let n: i64 = hset("rts:{T1}:77", &closed)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, closed.len() as i64);
        let t = ttl(&mut rts, "rts:{T1}:77").await;
        assert!((2_591_990..=2_592_000).contains(&t), "{name}: ttl {t}");

        // A ticket field that disagrees with the key is a validation error.
        let text = expect_error(
            try_query(
                &mut conn,
                &hset("rts:{T1}:78", &fields(&trade(1, "79", false))),
            )
            .await,
            "ERR",
            name,
        );
        assert!(text.contains("invalid update: ticket"), "{text}");

        // Signals: stored once per signal_id; the terminal's MAXLEN is ignored.
        let signal_pairs = fields(&signal(1, "sig-1"));
        let first = try_query(
            &mut conn,
            &xadd("rtss:signals", &["MAXLEN", "~", "1"], &signal_pairs),
        )
        .await
        .unwrap();
        let Value::BulkString(id) = first else {
            panic!("{name}: XADD should answer the entry id, got {first:?}")
        };
        assert!(String::from_utf8_lossy(&id).contains('-'));
        let again = try_query(&mut conn, &xadd("rtss:signals", &[], &signal_pairs))
            .await
            .unwrap();
        assert_eq!(again, Value::Nil, "{name}: duplicate signal");
        let second = try_query(
            &mut conn,
            &xadd(
                "rtss:signals",
                &["NOMKSTREAM"],
                &fields(&signal(2, "sig-2")),
            ),
        )
        .await
        .unwrap();
        assert!(matches!(second, Value::BulkString(_)), "{second:?}");
        let len: i64 = query(&mut rtss, &["XLEN", "rtss:signals"]).await;
        assert_eq!(len, 2, "{name}");
        let text = expect_error(
            try_query(
                &mut conn,
                redis::cmd("XADD")
                    .arg("rtss:signals")
                    .arg("1-1")
                    .arg("seq")
                    .arg("1"),
            )
            .await,
            "ERR",
            name,
        );
        assert!(text.contains("assigns stream ids"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_field() {
    on_each_target(defaults, async |h, name| {
        let mut conn = connect_as(h, "T1").await;
        let mut state = fields(&instance_state(1));
        for (name, value) in state.iter_mut() {
            if name == "leverage" {
                *value = "lots".into();
            }
        }
        state.push(("colour".into(), "blue".into()));
        let text = expect_error(
            try_query(&mut conn, &hset("ris:{T1}", &state)).await,
            "ERR",
            name,
        );
        assert!(text.contains("invalid update: "), "{text}");
        assert!(text.contains("leverage"), "{text}");
        assert!(text.contains("colour"), "{text}");
        let text = expect_error(
            try_query(&mut conn, redis::cmd("HSET").arg("ris:{T1}").arg("seq")).await,
            "ERR",
            name,
        );
        assert!(text.contains("wrong number of arguments"), "{text}");
        // The connection is still usable.
        let n: i64 = hset("ris:{T1}", &fields(&instance_state(1)))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(n > 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_of_1000_writes_gets_1000_ordered_replies() {
    on_each_target(terminal_rate(100_000, 100_000), async |h, name| {
        let mut conn = connect_as(h, "T1").await;
        let n: i64 = hset("ris:{T1}", &fields(&instance_state(1_000_000)))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(n > 0);
        // Even commands are stale heartbeats (:0); odd ones new trades, some with a comment.
        let mut pipe = redis::pipe();
        let mut expected = Vec::new();
        for i in 0..1000u64 {
            if i % 2 == 0 {
                pipe.add_command(hset("ris:{T1}", &fields(&instance_state(i + 1))));
                expected.push(0);
            } else {
                let ticket = (1000 + i).to_string();
                let mut pairs = fields(&trade(1, &ticket, false));
                if i % 4 == 1 {
                    pairs.push(("comment".into(), format!("c{i}")));
                }
                expected.push(pairs.len() as i64);
                pipe.add_command(hset(&format!("rts:{{T1}}:{ticket}"), &pairs));
            }
        }
        let replies: Vec<i64> = pipe.query_async(&mut conn).await.unwrap();
        assert_eq!(replies, expected, "{}", name);
        let mut rts = h.engine(Partition::Rts).await;
        let open: i64 = query(&mut rts, &["SCARD", "rts:{T1}:open"]).await;
        assert_eq!(open, 500);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_resp_closes_only_that_client() {
    on_each_target(defaults, async |h, _| {
        let mut raw = Raw::connect(h).await;
        raw.send(b"*2\r\n$4\r\nPING\r\n:1\r\n").await;
        let reply = raw.read().await;
        assert_eq!(reply, "-ERR Protocol error: expected '$', got ':'\r\n");
        assert!(raw.closed().await);

        let mut raw = Raw::connect(h).await;
        raw.send(b"*1\r\n$999999999999\r\n").await;
        assert_eq!(
            raw.read().await,
            "-ERR Protocol error: invalid bulk length\r\n"
        );

        // Unauthenticated clients get a small query buffer.
        let mut raw = Raw::connect(h).await;
        raw.send(b"*2\r\n$4\r\nAUTH\r\n$100000\r\n").await;
        assert_eq!(
            raw.read().await,
            "-ERR Protocol error: invalid bulk length\r\n"
        );

        // A command larger than the query buffer limit: error (or a reset) and close.
        let mut big = Raw::connect(h).await;
        assert_eq!(big.command(&["AUTH", "T1", token("T1")]).await, "+OK\r\n");
        let chunk = vec![b'x'; 900_000];
        let mut bytes = b"*4\r\n$4\r\nHSET\r\n$8\r\nris:{T1}\r\n$900000\r\n".to_vec();
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n$900000\r\n");
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n");
        let _ = big.0.write_all(&bytes).await;
        let reply = big.read().await;
        assert!(
            reply.is_empty() || reply.contains("query buffer limit"),
            "{reply}"
        );
        assert!(big.closed().await);

        // The listener still serves new clients.
        let mut conn = connect_as(h, "T1").await;
        let pong: String = query(&mut conn, &["PING"]).await;
        assert_eq!(pong, "PONG");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_terminal_gets_tryagain_while_others_are_served() {
    on_each_target(terminal_rate(2, 4), async |h, name| {
        let mut flood = connect_as(h, "T1").await;
        let mut retry = None;
        for seq in 1..=20 {
            match try_query(&mut flood, &hset("ris:{T1}", &fields(&instance_state(seq)))).await {
                Ok(_) => {}
                Err(e) => {
                    retry = Some(e);
                    break;
                }
            }
        }
        let e = retry.unwrap_or_else(|| panic!("{name}: 20 quick writes at 2/s were all taken"));
        assert_eq!(e.code(), Some("TRYAGAIN"), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("quota") && text.contains("retry in"),
            "{text}"
        );
        let mut calm = connect_as(h, "T2").await;
        let n: i64 = hset("ris:{T2}", &fields(&instance_state(1)))
            .query_async(&mut calm)
            .await
            .unwrap();
        assert!(n > 0, "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_clients_get_a_throttle_push_before_rejection() {
    on_each_target(terminal_rate(1, 20), async |h, name| {
        let mut raw = Raw::connect(h).await;
        let hello = raw
            .command(&["HELLO", "3", "AUTH", "T1", token("T1")])
            .await;
        assert!(hello.starts_with("%7"), "{hello}");
        let mut seen = String::new();
        for seq in 1..=18u64 {
            let pairs = fields(&instance_state(seq));
            let mut args = vec!["HSET".to_string(), "ris:{T1}".to_string()];
            for (name, value) in pairs {
                args.push(name);
                args.push(value);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            seen.push_str(&raw.command(&args).await);
            if seen.contains(">2\r\n$8\r\nthrottle\r\n:") {
                break;
            }
        }
        assert!(
            seen.contains(">2\r\n$8\r\nthrottle\r\n:"),
            "{}: no throttle push in {seen:?}",
            name
        );
        assert!(!seen.contains("-TRYAGAIN"), "{seen}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_limit_are_refused() {
    on_each_target(
        |config| config.limits.max_resp_clients = 2,
        async |h, name| {
            let mut first = Raw::connect(h).await;
            let mut second = Raw::connect(h).await;
            assert_eq!(first.command(&["PING"]).await, "+PONG\r\n");
            assert_eq!(second.command(&["PING"]).await, "+PONG\r\n");
            let mut third = Raw::connect(h).await;
            assert_eq!(third.read().await, "-ERR max number of clients reached\r\n");
            drop(first);
            // The slot frees once the server notices the close.
            let mut served = false;
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut again = Raw::connect(h).await;
                if again.command(&["PING"]).await == "+PONG\r\n" {
                    served = true;
                    break;
                }
            }
            assert!(served, "{}", name);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_service_closes_resp_connections() {
    for target in targets() {
        let h = start(&target, |_| {}).await;
        let mut idle = Raw::connect(&h).await;
        assert_eq!(idle.command(&["AUTH", "T1", token("T1")]).await, "+OK\r\n");
        let metrics = h.metrics().await;
        assert!(
            metrics.contains("tradestate_resp_connections"),
            "{}: gauge missing from /metrics",
            target.name()
        );
        h.stop().await;
        assert!(idle.closed().await, "{}", target.name());
    }
}
