//! Transactions over real sockets: EXEC is atomic with respect to other clients (a client
//! blocked on a key the transaction writes is served after the whole EXEC), and WATCH gives
//! optimistic locking under concurrent increments (no lost update).

mod common;

use common::{connect, start_engine, start_engine_and_clients, wait_blocked};

#[test]
fn a_blocked_client_is_served_after_the_whole_exec() {
    let (_engine, [mut waiter, mut tx]) = start_engine_and_clients(&[]);
    waiter.send(&[b"BLPOP", b"l", b"0"]);
    wait_blocked(&mut tx, 1);
    assert_eq!(tx.call(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(tx.call(&[b"RPUSH", b"l", b"a"]), b"+QUEUED\r\n");
    assert_eq!(tx.call(&[b"LLEN", b"l"]), b"+QUEUED\r\n");
    assert_eq!(tx.call(&[b"LRANGE", b"l", b"0", b"-1"]), b"+QUEUED\r\n");
    // Inside EXEC the element is still there; the blocked client gets it afterwards.
    assert_eq!(
        tx.call(&[b"EXEC"]),
        b"*3\r\n:1\r\n:1\r\n*1\r\n$1\r\na\r\n".to_vec()
    );
    assert_eq!(
        waiter.read_reply().raw(),
        b"*2\r\n$1\r\nl\r\n$1\r\na\r\n".to_vec()
    );
    assert_eq!(tx.call(&[b"LLEN", b"l"]), b":0\r\n");
}

/// Increments a counter with WATCH/GET/MULTI/SET/EXEC, retrying when EXEC fails.
fn cas_increments(port: u16, times: usize) -> usize {
    let mut c = connect(port);
    let mut retries = 0;
    for _ in 0..times {
        loop {
            assert_eq!(c.call(&[b"WATCH", b"counter"]), b"+OK\r\n");
            let raw = c.call(&[b"GET", b"counter"]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let current: i64 = text
                .lines()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let next = (current + 1).to_string();
            assert_eq!(c.call(&[b"MULTI"]), b"+OK\r\n");
            assert_eq!(
                c.call(&[b"SET", b"counter", next.as_bytes()]),
                b"+QUEUED\r\n"
            );
            let done = c.call(&[b"EXEC"]);
            if done == b"*1\r\n+OK\r\n" {
                break;
            }
            assert_eq!(done, b"*-1\r\n");
            retries += 1;
        }
    }
    retries
}

#[test]
fn watch_prevents_lost_updates_between_clients() {
    let engine = start_engine(&[]);
    let port = engine.port();
    let workers: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || cas_increments(port, 200)))
        .collect();
    let retries: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let mut c = connect(port);
    assert_eq!(c.call(&[b"GET", b"counter"]), b"$3\r\n800\r\n".to_vec());
    println!("4 clients x 200 CAS increments: 800 applied, {retries} EXECs failed and retried");
}
