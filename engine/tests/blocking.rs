//! Blocking commands over real sockets: a client blocked in BLPOP, BLMOVE, XREAD BLOCK or
//! XREADGROUP BLOCK is woken by another connection's write, in the order clients blocked, or
//! times out with a null; idle blocked clients cost no CPU; a disconnected one leaves no waiter.

// Unsafe code here: the getrusage call; each block says why it is sound.
#![allow(unsafe_code)]

mod common;

use std::time::{Duration, Instant};

use common::{
    blocked_clients, connect, start_engine_and_client, start_engine_and_clients, wait_blocked,
    RawClient,
};

#[test]
fn blpop_is_woken_by_a_push_from_another_connection() {
    let (_engine, [mut waiter, mut writer]) = start_engine_and_clients(&[]);
    waiter.send(&[b"BLPOP", b"nope", b"list", b"0"]);
    // The pipelined PING must wait for the BLPOP's reply.
    waiter.send(&[b"PING"]);
    wait_blocked(&mut writer, 1);
    assert_eq!(writer.call(&[b"RPUSH", b"list", b"a", b"b"]), b":2\r\n");
    assert_eq!(
        waiter.read_reply().raw(),
        b"*2\r\n$4\r\nlist\r\n$1\r\na\r\n"
    );
    assert_eq!(waiter.read_reply().raw(), b"+PONG\r\n");
    assert_eq!(
        writer.call(&[b"LRANGE", b"list", b"0", b"-1"]),
        b"*1\r\n$1\r\nb\r\n"
    );
    assert_eq!(blocked_clients(&mut writer), 0);
}

#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let (_engine, [mut first, mut second, mut writer]) = start_engine_and_clients(&[]);
    first.send(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(&mut writer, 1);
    second.send(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(&mut writer, 2);
    writer.call(&[b"LPUSH", b"q", b"x"]);
    assert_eq!(first.read_reply().raw(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    wait_blocked(&mut writer, 1);
    writer.call(&[b"LPUSH", b"q", b"y"]);
    assert_eq!(second.read_reply().raw(), b"*2\r\n$1\r\nq\r\n$1\r\ny\r\n");
}

#[test]
fn timeouts_reply_null_on_time() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    for cmd in [
        &[&b"BLPOP"[..], b"k", b"0.1"][..],
        &[b"BLMOVE", b"k", b"d", b"LEFT", b"RIGHT", b"0.1"],
        &[b"BLMPOP", b"0.1", b"1", b"k", b"LEFT"],
        &[b"XREAD", b"BLOCK", b"100", b"STREAMS", b"s", b"$"],
    ] {
        let started = Instant::now();
        assert_eq!(c.call(cmd), b"*-1\r\n");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(250),
            "{took:?}"
        );
    }
    c.call(&[b"HELLO", b"3"]);
    assert_eq!(c.call(&[b"BRPOP", b"k", b"0.01"]), b"_\r\n");
}

#[test]
fn blmove_is_woken_and_moves() {
    let (_engine, [mut waiter, mut writer]) = start_engine_and_clients(&[]);
    waiter.send(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"5"]);
    wait_blocked(&mut writer, 1);
    writer.call(&[b"RPUSH", b"src", b"a", b"b"]);
    assert_eq!(waiter.read_reply().raw(), b"$1\r\nb\r\n");
    assert_eq!(
        writer.call(&[b"LRANGE", b"dst", b"0", b"-1"]),
        b"*1\r\n$1\r\nb\r\n"
    );
}

#[test]
fn xread_block_with_dollar_is_woken_by_xadd() {
    let (_engine, [mut waiter, mut writer]) = start_engine_and_clients(&[]);
    writer.call(&[b"XADD", b"s", b"1-1", b"f", b"old"]);
    waiter.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    wait_blocked(&mut writer, 1);
    writer.call(&[b"XADD", b"s", b"2-1", b"f", b"new"]);
    assert_eq!(
        waiter.read_reply().raw(),
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$3\r\nnew\r\n"
    );
}

#[test]
fn xreadgroup_block_is_woken_by_xadd_and_by_deletion() {
    let (_engine, [mut waiter, mut writer]) = start_engine_and_clients(&[]);
    writer.call(&[b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]);
    let read: &[&[u8]] = &[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ];
    waiter.send(read);
    wait_blocked(&mut writer, 1);
    writer.call(&[b"XADD", b"s", b"5-1", b"f", b"v"]);
    assert_eq!(
        waiter.read_reply().raw(),
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(writer.call(&[b"XPENDING", b"s", b"g"])[..4], b"*4\r\n"[..]);
    waiter.send(read);
    wait_blocked(&mut writer, 1);
    writer.call(&[b"DEL", b"s"]);
    assert_eq!(
        waiter.read_reply().raw(),
        b"-UNBLOCKED the stream key no longer exists\r\n"
    );
    assert_eq!(blocked_clients(&mut writer), 0);
    writer.call(&[b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]);
    waiter.send(read);
    wait_blocked(&mut writer, 1);
    writer.call(&[b"XGROUP", b"DESTROY", b"s", b"g"]);
    assert_eq!(
        waiter.read_reply().raw(),
        &b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"[..]
    );
}

fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[test]
fn a_thousand_idle_blocked_clients_cost_no_cpu_and_all_wake() {
    let (engine, mut writer) = start_engine_and_client(&[]);
    let mut clients: Vec<RawClient> = (0..1000).map(|_| connect(engine.port())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let key = format!("k{}", i % 10);
        c.send(&[b"BLPOP", key.as_bytes(), b"0"]);
    }
    wait_blocked(&mut writer, 1000);
    let before = process_cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let used = process_cpu_time() - before;
    assert!(
        used < Duration::from_millis(50),
        "idle blocked clients used {used:?}"
    );
    for k in 0..10 {
        let key = format!("k{k}");
        let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
        args.extend(std::iter::repeat_n(&b"v"[..], 100));
        writer.call(&args);
    }
    for c in &mut clients {
        assert_eq!(c.read_reply().raw()[..4], b"*2\r\n"[..]);
    }
    assert_eq!(blocked_clients(&mut writer), 0);
}

#[test]
fn a_blocked_client_that_disconnects_leaves_no_waiter() {
    let (engine, mut writer) = start_engine_and_client(&[]);
    {
        let mut gone = connect(engine.port());
        gone.send(&[b"BLPOP", b"k", b"0"]);
        wait_blocked(&mut writer, 1);
    }
    wait_blocked(&mut writer, 0);
    assert_eq!(writer.call(&[b"RPUSH", b"k", b"a"]), b":1\r\n");
    assert_eq!(writer.call(&[b"LLEN", b"k"]), b":1\r\n");
}
