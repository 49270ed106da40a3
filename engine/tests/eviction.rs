//! maxmemory over real sockets: every policy evicts what it should and never what it must not,
//! `-OOM` when nothing may be evicted, reads and deletions keep working when full, and UNLINK
//! of a huge hash does not stall other clients.
//!
//! Used memory is counted for the whole process, so these tests run one at a time (a lock) and
//! set `maxmemory` relative to the memory in use when they start.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{connect, info_value, start_engine, start_engine_and_client, RawClient};
use tradestate_engine::EngineHandle;
use tradestate_test_support::wait_until;

static SERIAL: Mutex<()> = Mutex::new(());

const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn int_reply(raw: &[u8]) -> i64 {
    std::str::from_utf8(&raw[1..raw.len() - 2])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {}", common::show(raw)))
}

/// A numeric field of INFO.
fn info_field(c: &mut RawClient, section: &str, field: &str) -> u64 {
    info_value(c, section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

fn used(c: &mut RawClient) -> u64 {
    info_field(c, "memory", "used_memory")
}

fn config_set(c: &mut RawClient, name: &str, value: &str) {
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]),
        b"+OK\r\n",
        "CONFIG SET {name} {value}"
    );
}

/// Writes `n` keys `<prefix>:<i>` with 1 KB values (pipelined), with a TTL of `ttl_s` if given.
fn fill(c: &mut RawClient, prefix: &str, n: usize, ttl_s: Option<u64>) {
    let value = vec![b'x'; 1000];
    let mut pipeline = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}:{i}");
        match ttl_s {
            Some(t) => pipeline.extend(common::encode(&[
                b"SET",
                key.as_bytes(),
                &value,
                b"EX",
                t.to_string().as_bytes(),
            ])),
            None => pipeline.extend(common::encode(&[b"SET", key.as_bytes(), &value])),
        }
    }
    c.send_raw(&pipeline);
    for _ in 0..n {
        assert_eq!(c.read_reply().raw(), b"+OK\r\n");
    }
}

/// 1 if the key `squeeze` wrote is still there (under allkeys-* it may be evicted too).
fn trigger_left(c: &mut RawClient) -> usize {
    int_reply(&c.call(&[b"EXISTS", b"trigger"])) as usize
}

fn existing(c: &mut RawClient, prefix: &str, n: usize) -> usize {
    (0..n)
        .filter(|i| c.call(&[b"EXISTS", format!("{prefix}:{i}").as_bytes()]) == b":1\r\n")
        .count()
}

/// Lowers maxmemory to `below` bytes under the current use and runs one write, which evicts.
fn squeeze(c: &mut RawClient, below: u64) -> Vec<u8> {
    let limit = used(c) - below;
    config_set(c, "maxmemory", &limit.to_string());
    c.call(&[b"SET", b"trigger", b"1"])
}

/// Lifts the limit a squeeze set, so the checks that count what it evicted evict nothing
/// more: memory stays at the limit after a squeeze, and any allocation of the checks (the
/// first call of a command allocates its latency histogram, as in Redis) would evict again.
fn lift_limit(c: &mut RawClient) {
    config_set(c, "maxmemory", "0");
}

/// Squeezes memory below 100 kB and lifts the limit again; checks that the 200 `kept` keys
/// all survived and that at least 50 keys were evicted. Returns how many of the `victims`
/// keys (prefix, count) are left and how many keys were evicted; `what` names the case.
fn squeeze_sparing(
    c: &mut RawClient,
    kept: &str,
    (victims, n_victims): (&str, usize),
    what: &str,
) -> (usize, usize) {
    assert_eq!(squeeze(c, 100_000), b"+OK\r\n", "{what}");
    lift_limit(c);
    assert_eq!(existing(c, kept, 200), 200, "{what}");
    let left = existing(c, victims, n_victims);
    let evicted = info_field(c, "stats", "evicted_keys") as usize;
    assert!(evicted >= 50, "{what}: evicted {evicted}");
    (left, evicted)
}

/// An engine that evicts by `policy` with no time limit on a round (tenacity 100), with `more`
/// settings, and a client of it.
fn evicting_engine(policy: &str, more: &[(&str, &str)]) -> (EngineHandle, RawClient) {
    let mut settings = vec![
        ("maxmemory-policy", policy),
        ("maxmemory-eviction-tenacity", "100"),
    ];
    settings.extend_from_slice(more);
    start_engine_and_client(&settings)
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let _guard = serial();
    let (_engine, mut c) = start_engine_and_client(&[]);
    fill(&mut c, "k", 50, None);
    config_set(&mut c, "maxmemory", "1");
    assert_eq!(c.call(&[b"SET", b"new", b"v"]), OOM);
    assert_eq!(c.call(&[b"HSET", b"h", b"f", b"v"]), OOM);
    assert_eq!(c.call(&[b"RPUSH", b"l", b"v"]), OOM);
    // Reads, deletions and commands that do not grow memory still run.
    assert_eq!(c.call(&[b"STRLEN", b"k:1"]), b":1000\r\n");
    assert_eq!(c.call(&[b"GET", b"missing"]), b"$-1\r\n");
    assert_eq!(c.call(&[b"DEL", b"k:1"]), b":1\r\n");
    assert_eq!(c.call(&[b"EXPIRE", b"k:2", b"100"]), b":1\r\n");
    assert_eq!(c.call(&[b"DBSIZE"]), b":49\r\n");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
    let errors = String::from_utf8_lossy(&c.call(&[b"INFO", b"errorstats"])).into_owned();
    assert!(errors.contains("errorstat_OOM:count=3"), "{errors}");
    config_set(&mut c, "maxmemory", "0");
    assert_eq!(c.call(&[b"SET", b"new", b"v"]), b"+OK\r\n");
}

/// Every volatile policy evicts only keys with a TTL and answers OOM once none are left.
#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    let _guard = serial();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_engine, mut c) = evicting_engine(policy, &[]);
        fill(&mut c, "p", 200, None);
        fill(&mut c, "v", 200, Some(1000));
        let (left, evicted) = squeeze_sparing(&mut c, "p", ("v", 200), policy);
        assert_eq!(left, 200 - evicted, "{policy}");
        // Nothing volatile can cover the next squeeze: every volatile key goes, then OOM.
        config_set(&mut c, "maxmemory", "1");
        assert_eq!(c.call(&[b"SET", b"more", b"v"]), OOM, "{policy}");
        assert_eq!(existing(&mut c, "v", 200), 0, "{policy}");
        assert_eq!(existing(&mut c, "p", 200), 200, "{policy}");
        assert_eq!(c.call(&[b"STRLEN", b"p:7"]), b":1000\r\n");
    }
}

#[test]
fn allkeys_lru_evicts_the_idle_keys() {
    let _guard = serial();
    let (_engine, mut c) = evicting_engine("allkeys-lru", &[("maxmemory-samples", "10")]);
    // Over twice as many idle keys as a squeeze evicts: sampled LRU (10 keys a round into a
    // pool of 16) reaches for a recent key only once idle ones grow rare in the samples.
    fill(&mut c, "old", 300, None);
    // The LRU clock counts seconds.
    std::thread::sleep(Duration::from_millis(2100));
    fill(&mut c, "new", 200, None);
    let (left, evicted) = squeeze_sparing(&mut c, "new", ("old", 300), "allkeys-lru");
    assert_eq!(left + trigger_left(&mut c), 301 - evicted);
}

#[test]
fn allkeys_lfu_evicts_the_rarely_used_keys() {
    let _guard = serial();
    let (_engine, mut c) = evicting_engine(
        "allkeys-lfu",
        &[
            // Every access counts and counters never decay (a minute boundary would take one
            // off).
            ("lfu-log-factor", "0"),
            ("lfu-decay-time", "0"),
            ("maxmemory-samples", "10"),
        ],
    );
    // As in the LRU test: over twice as many rarely used keys as a squeeze evicts.
    fill(&mut c, "cold", 300, None);
    fill(&mut c, "hot", 200, None);
    for i in 0..200 {
        for _ in 0..10 {
            c.call(&[b"STRLEN", format!("hot:{i}").as_bytes()]);
        }
    }
    assert_eq!(c.call(&[b"OBJECT", b"FREQ", b"hot:3"]), b":15\r\n");
    assert_eq!(c.call(&[b"OBJECT", b"FREQ", b"cold:3"]), b":5\r\n");
    let (left, evicted) = squeeze_sparing(&mut c, "hot", ("cold", 300), "allkeys-lfu");
    assert_eq!(left + trigger_left(&mut c), 301 - evicted);
}

#[test]
fn volatile_ttl_evicts_the_soonest_to_expire() {
    let _guard = serial();
    let (_engine, mut c) = evicting_engine("volatile-ttl", &[("maxmemory-samples", "10")]);
    fill(&mut c, "late", 200, Some(1_000_000));
    fill(&mut c, "soon", 200, Some(1000));
    let (left, evicted) = squeeze_sparing(&mut c, "late", ("soon", 200), "volatile-ttl");
    assert_eq!(left, 200 - evicted);
}

#[test]
fn allkeys_random_evicts_until_under_the_limit() {
    let _guard = serial();
    let (_engine, mut c) = evicting_engine("allkeys-random", &[]);
    fill(&mut c, "a", 200, None);
    fill(&mut c, "b", 200, Some(1000));
    assert_eq!(squeeze(&mut c, 100_000), b"+OK\r\n");
    // A time-boxed eviction may leave the rest to the cron (a loaded machine): count once
    // memory is under the limit, when nothing evicts any more.
    let limit = info_field(&mut c, "memory", "maxmemory");
    wait_until("memory to get under the limit", || {
        used(&mut c) <= limit + 50_000
    });
    lift_limit(&mut c);
    let left = existing(&mut c, "a", 200) + existing(&mut c, "b", 200);
    let evicted = info_field(&mut c, "stats", "evicted_keys") as usize;
    assert!(evicted >= 50, "evicted {evicted}");
    assert_eq!(left + trigger_left(&mut c), 401 - evicted);
    // Everything may go under allkeys: a tiny limit empties the database, the write then fails.
    config_set(&mut c, "maxmemory", "1");
    assert_eq!(c.call(&[b"SET", b"more", b"v"]), OOM);
    assert_eq!(c.call(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(c.call(&[b"GET", b"a:1"]), b"$-1\r\n");
}

#[test]
fn eviction_works_in_bounded_steps() {
    let _guard = serial();
    // Tenacity 0: a time budget of zero, so each command evicts at most 16 keys and the cron
    // continues; memory still ends under the limit.
    let (_engine, mut c) = start_engine_and_client(&[
        ("maxmemory-policy", "allkeys-random"),
        ("maxmemory-eviction-tenacity", "0"),
        ("hz", "100"),
    ]);
    fill(&mut c, "k", 2000, None);
    squeeze(&mut c, 1_000_000);
    let after_one = info_field(&mut c, "stats", "evicted_keys");
    assert!(after_one <= 16 * 3, "one command evicted {after_one}");
    let limit = info_field(&mut c, "memory", "maxmemory");
    wait_until("the cron to finish the eviction", || used(&mut c) <= limit);
    assert!(info_field(&mut c, "stats", "evicted_keys") > after_one);
}

/// Latency percentile of `samples` (seconds), in microseconds.
fn percentile_us(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 * p / 100.0) as usize).min(samples.len() - 1);
    samples[i] * 1e6
}

/// Loads a hash of `fields` fields at `key`, 1000 fields per HSET.
fn load_big_hash(c: &mut RawClient, key: &[u8], fields: usize) {
    let mut sent = 0;
    for start in (0..fields).step_by(1000) {
        let names: Vec<Vec<u8>> = (start..(start + 1000).min(fields))
            .flat_map(|f| {
                [
                    format!("field:{f}").into_bytes(),
                    format!("v{f}").into_bytes(),
                ]
            })
            .collect();
        let mut args: Vec<&[u8]> = vec![b"HSET", key];
        args.extend(names.iter().map(|n| &n[..]));
        c.send(&args);
        sent += 1;
    }
    for _ in 0..sent {
        c.read_reply();
    }
}

/// Runs PINGs on a second connection while `command` deletes the 1M-field hash; returns
/// (command round trip ms, PING p99 us, PING max us, PINGs) over the PINGs that overlapped the
/// command or the 500 ms after it was sent (while a lazy free runs in the background).
fn pings_during_delete(port: u16, command: &[u8]) -> (f64, f64, f64, usize) {
    let mut c = connect(port);
    load_big_hash(&mut c, b"big", 1_000_000);
    assert_eq!(c.call(&[b"HLEN", b"big"]), b":1000000\r\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut p = connect(port);
            let mut lat = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                assert_eq!(p.call(&[b"PING"]), b"+PONG\r\n");
                lat.push((t, t.elapsed().as_secs_f64()));
            }
            lat
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(c.call(&[command, b"big"]), b":1\r\n");
    let took = started.elapsed();
    let window = took.max(Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let all = pinger.join().expect("pinger");
    // PINGs that overlapped the delete.
    let mut during: Vec<f64> = all
        .iter()
        .filter(|(t, l)| *t <= started + window && *t + Duration::from_secs_f64(*l) >= started)
        .map(|(_, l)| *l)
        .collect();
    if during.is_empty() {
        during.push(0.0);
    }
    let n = during.len();
    let p99 = percentile_us(&mut during, 99.0);
    let max = percentile_us(&mut during, 100.0);
    (took.as_secs_f64() * 1000.0, p99, max, n)
}

#[test]
fn unlink_of_a_million_field_hash_does_not_stall_other_clients() {
    let _guard = serial();
    let engine = start_engine(&[]);
    let (del_ms, del_p99, del_max, del_n) = pings_during_delete(engine.port(), b"DEL");
    let (unlink_ms, unlink_p99, unlink_max, unlink_n) =
        pings_during_delete(engine.port(), b"UNLINK");
    eprintln!(
        "1M-field hash: DEL {del_ms:.1} ms (PINGs meanwhile: {del_n}, p99 {del_p99:.0} us, max {del_max:.0} us); \
         UNLINK {unlink_ms:.1} ms (PINGs meanwhile: {unlink_n}, p99 {unlink_p99:.0} us, max {unlink_max:.0} us)"
    );
    // UNLINK only detaches the value: far below the synchronous free, and no PING waits long.
    assert!(
        unlink_ms * 5.0 < del_ms,
        "UNLINK {unlink_ms} ms vs DEL {del_ms} ms"
    );
    assert!(
        unlink_p99 < 50_000.0,
        "PING p99 {unlink_p99} us during UNLINK"
    );
    let mut c = connect(engine.port());
    assert_eq!(c.call(&[b"EXISTS", b"big"]), b":0\r\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "memory", "lazyfree_pending_objects") > 0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(info_field(&mut c, "memory", "lazyfreed_objects") >= 1);
}

#[test]
fn flushall_async_frees_in_the_background() {
    let _guard = serial();
    let (_engine, mut c) = start_engine_and_client(&[]);
    fill(&mut c, "k", 1000, None);
    let before = info_field(&mut c, "memory", "lazyfreed_objects");
    assert_eq!(c.call(&[b"FLUSHALL", b"ASYNC"]), b"+OK\r\n");
    assert_eq!(c.call(&[b"DBSIZE"]), b":0\r\n");
    wait_until("1000 lazily freed objects", || {
        info_field(&mut c, "memory", "lazyfreed_objects") >= before + 1000
    });
    let n = int_reply(&c.call(&[b"MEMORY", b"USAGE", b"nokey"]).replace_nil());
    assert_eq!(n, -1);
}

trait NilAsMinusOne {
    fn replace_nil(self) -> Vec<u8>;
}

impl NilAsMinusOne for Vec<u8> {
    /// `$-1\r\n` (a null bulk) as `:-1\r\n`, so a nil reads as -1.
    fn replace_nil(self) -> Vec<u8> {
        if self == b"$-1\r\n" {
            b":-1\r\n".to_vec()
        } else {
            self
        }
    }
}
