//! Expiry over real sockets: lazy expiry on access, and the active cycle reclaiming keys that are
//! never touched again.

mod common;

use std::time::{Duration, Instant};

use common::start_engine_and_client;

fn int_reply(raw: &[u8]) -> i64 {
    std::str::from_utf8(&raw[1..raw.len() - 2])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {}", common::show(raw)))
}

#[test]
fn expired_keys_are_invisible_at_once() {
    let (_engine, mut c) = start_engine_and_client(&[]);
    assert_eq!(c.call(&[b"SET", b"k", b"v", b"PX", b"30"]), b"+OK\r\n");
    assert_eq!(c.call(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(c.call(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(c.call(&[b"EXISTS", b"k"]), b":0\r\n");
    assert_eq!(c.call(&[b"TTL", b"k"]), b":-2\r\n");
}

#[test]
fn active_cycle_reclaims_untouched_keys() {
    let (_engine, mut c) = start_engine_and_client(&[("hz", "50")]);
    // 20,000 volatile keys that nobody reads again, plus persistent ones that must survive.
    let mut pipeline = Vec::new();
    for i in 0..20_000 {
        let key = format!("ris:{{term-{i}}}");
        pipeline.extend(common::encode(&[
            b"SET",
            key.as_bytes(),
            b"v",
            b"PX",
            b"2000",
        ]));
    }
    for i in 0..100 {
        let key = format!("keep:{i}");
        pipeline.extend(common::encode(&[b"SET", key.as_bytes(), b"v"]));
    }
    c.send_raw(&pipeline);
    for _ in 0..20_100 {
        c.read_reply();
    }
    assert_eq!(int_reply(&c.call(&[b"DBSIZE"])), 20_100);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = i64::MAX;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        left = int_reply(&c.call(&[b"DBSIZE"]));
        if left == 100 {
            break;
        }
    }
    assert_eq!(
        left, 100,
        "the active cycle should reclaim all 20,000 expired keys"
    );
    let info = String::from_utf8_lossy(&c.call(&[b"INFO", b"stats"])).into_owned();
    assert!(info.contains("expired_keys:20000"), "INFO stats: {info}");
}
