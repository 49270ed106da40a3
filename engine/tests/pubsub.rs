//! Pub/sub over real sockets: messages reach subscribers on other connections, and a subscriber
//! that stops reading is disconnected at its `client-output-buffer-limit pubsub` while the
//! publisher and other clients keep their latency.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, start_engine, start_engine_and_client, RawClient};
use tradestate_engine::EngineHandle;

fn numsub(c: &mut RawClient, channel: &[u8]) -> Vec<u8> {
    c.call(&[b"PUBSUB", b"NUMSUB", channel])
}

/// An engine whose `client-output-buffer-limit` for pub/sub clients is set to `limit` (by
/// CONFIG SET), and the connection that set it.
fn engine_with_pubsub_limit(limit: &str) -> (EngineHandle, RawClient) {
    let (engine, mut admin) = start_engine_and_client(&[]);
    let reply = admin.call(&[
        b"CONFIG",
        b"SET",
        b"client-output-buffer-limit",
        limit.as_bytes(),
    ]);
    assert_eq!(reply, b"+OK\r\n");
    (engine, admin)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

#[test]
fn messages_reach_subscribers_on_other_connections() {
    let engine = start_engine(&[]);
    let (mut sub, mut psub, mut publisher) = (
        connect(engine.port()),
        connect(engine.port()),
        connect(engine.port()),
    );
    sub.call(&[b"SUBSCRIBE", b"ticks"]);
    psub.call(&[b"PSUBSCRIBE", b"ti*"]);
    for i in 0..100 {
        let payload = format!("tick-{i}");
        assert_eq!(
            publisher.call(&[b"PUBLISH", b"ticks", payload.as_bytes()]),
            b":2\r\n"
        );
    }
    for i in 0..100 {
        let payload = format!("tick-{i}");
        let expected = format!(
            "*3\r\n$7\r\nmessage\r\n$5\r\nticks\r\n${}\r\n{payload}\r\n",
            payload.len()
        );
        assert_eq!(sub.read_reply().raw(), expected.as_bytes());
        let expected = format!(
            "*4\r\n$8\r\npmessage\r\n$3\r\nti*\r\n$5\r\nticks\r\n${}\r\n{payload}\r\n",
            payload.len()
        );
        assert_eq!(psub.read_reply().raw(), expected.as_bytes());
    }
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_at_its_limit_and_others_keep_their_latency() {
    let (engine, mut admin) = engine_with_pubsub_limit("pubsub 1mb 256kb 5");
    let port = engine.port();
    // Subscribes, then never reads again.
    let mut stalled = connect(port);
    stalled.call(&[b"SUBSCRIBE", b"flood"]);
    // A healthy subscriber on another channel keeps receiving.
    let mut healthy = connect(port);
    healthy.call(&[b"SUBSCRIBE", b"calm"]);

    let flooding = Arc::new(AtomicBool::new(true));
    let pinger = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut c = connect(port);
            let mut samples = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                let t = Instant::now();
                assert_eq!(c.call(&[b"PING"]), b"+PONG\r\n");
                samples.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            samples
        })
    };

    let mut publisher = connect(port);
    let payload = vec![b'x'; 4096];
    let mut publish_times = Vec::new();
    let mut cut_after = None;
    let started = Instant::now();
    for i in 0..20_000usize {
        let t = Instant::now();
        let reply = publisher.call(&[b"PUBLISH", b"flood", &payload]);
        publish_times.push(t.elapsed());
        if reply == b":0\r\n" {
            cut_after = Some(i);
            break;
        }
        assert_eq!(reply, b":1\r\n");
        if i % 100 == 0 {
            assert_eq!(
                publisher.call(&[b"PUBLISH", b"calm", b"still here"]),
                b":1\r\n"
            );
        }
    }
    let flood_time = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let mut ping_times = pinger.join().expect("pinger");
    let cut_after = cut_after.expect("the stalled subscriber was never disconnected");

    // The subscriber is gone from the channel and from the clients.
    assert_eq!(
        numsub(&mut admin, b"flood"),
        b"*2\r\n$5\r\nflood\r\n:0\r\n".to_vec()
    );
    // Its socket ends after what the kernel had buffered.
    let mut drained = 0usize;
    while let Ok(r) = stalled.try_read_reply() {
        drained += r.raw().len();
    }
    // The healthy subscriber got every message.
    for _ in 0..=(cut_after - 1) / 100 {
        let m = healthy.read_reply().raw();
        assert!(m.ends_with(b"still here\r\n"));
    }
    let p99_publish = percentile(&mut publish_times, 0.99);
    let p50_publish = percentile(&mut publish_times, 0.50);
    let p99_ping = percentile(&mut ping_times, 0.99);
    println!(
        "stalled subscriber cut after {cut_after} PUBLISHes of 4 KiB ({} MiB sent, {} KiB reached its socket) in {:?}; PUBLISH p50 {:?} p99 {:?} ({} samples); other client's PING p99 {:?} ({} samples)",
        cut_after * 4096 / (1 << 20),
        drained / 1024,
        flood_time,
        p50_publish,
        p99_publish,
        publish_times.len(),
        p99_ping,
        ping_times.len()
    );
    // Debug build on a shared machine: generous bounds, the point is no stall.
    assert!(p99_publish < Duration::from_millis(50), "{p99_publish:?}");
    assert!(p99_ping < Duration::from_millis(50), "{p99_ping:?}");
}

#[test]
fn the_soft_limit_cuts_a_subscriber_that_stays_above_it() {
    let (engine, _admin) = engine_with_pubsub_limit("pubsub 0 256kb 1");
    let port = engine.port();
    let mut stalled = connect(port);
    stalled.call(&[b"SUBSCRIBE", b"slow"]);
    let mut publisher = connect(port);
    let payload = vec![b'y'; 16 * 1024];
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(20) {
        if publisher.call(&[b"PUBLISH", b"slow", &payload]) == b":0\r\n" {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(cut, "never cut by the soft limit");
    // Not before the soft limit's second passed.
    assert!(started.elapsed() > Duration::from_secs(1));
    drop(stalled);
}
