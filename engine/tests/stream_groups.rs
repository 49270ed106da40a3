//! Consumer groups over real sockets: three consumers share 300 entries with XREADGROUP COUNT 10,
//! one of them stops acknowledging half-way (a crash), another takes its pending entries over
//! with XAUTOCLAIM, and in the end every entry was acknowledged exactly once.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{connect, start_engine, RawClient, Reply};

const ENTRIES: usize = 300;

/// A leaf's payload: a bulk string's body, or another leaf's line without its type byte.
fn leaf_text(r: &Reply) -> String {
    let line = r
        .leaf_line()
        .unwrap_or_else(|| panic!("not a leaf: {}", common::show(&r.raw())));
    match r.type_byte() {
        b'$' => line,
        _ => line[1..].to_string(),
    }
}

fn items(r: &Reply) -> &[Reply] {
    match r {
        Reply::Aggregate(_, items) => items,
        Reply::Leaf(_) => &[],
    }
}

fn int(r: &Reply) -> i64 {
    leaf_text(r).parse().expect("integer reply")
}

fn call(c: &mut RawClient, args: &[&str]) -> Reply {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&args);
    c.read_reply()
}

/// IDs of the entries in an XREADGROUP reply for one stream (empty for a null reply).
fn read_ids(reply: &Reply) -> Vec<String> {
    let Some(stream) = items(reply).first() else {
        return Vec::new();
    };
    items(&items(stream)[1])
        .iter()
        .map(|entry| leaf_text(&items(entry)[0]))
        .collect()
}

#[test]
fn three_consumers_and_a_crash_ack_every_entry_once() {
    let engine = start_engine(&[]);
    let port = engine.port();
    let mut admin = connect(port);
    for i in 1..=ENTRIES {
        let id = format!("{i}-0");
        call(&mut admin, &["XADD", "jobs", &id, "n", &i.to_string()]);
    }
    assert_eq!(
        call(&mut admin, &["XGROUP", "CREATE", "jobs", "workers", "0"]).raw(),
        b"+OK\r\n"
    );

    let names = ["w1", "w2", "w3"];
    let mut clients: Vec<RawClient> = names.iter().map(|_| connect(port)).collect();
    let mut acks: BTreeMap<String, i64> = BTreeMap::new();
    let mut delivered = 0;
    let mut crashed = false;
    let mut round = 0;
    // Round-robin reads of 10 until the group has delivered everything; w3 "crashes" once it
    // has read half of the entries: it keeps what it read but never acknowledges again.
    loop {
        let i = round % names.len();
        round += 1;
        if crashed && i == 2 {
            continue;
        }
        let reply = call(
            &mut clients[i],
            &[
                "XREADGROUP",
                "GROUP",
                "workers",
                names[i],
                "COUNT",
                "10",
                "STREAMS",
                "jobs",
                ">",
            ],
        );
        let ids = read_ids(&reply);
        if ids.is_empty() {
            break;
        }
        delivered += ids.len();
        if i == 2 && delivered >= ENTRIES / 2 {
            crashed = true;
            continue;
        }
        for id in ids {
            let n = int(&call(&mut clients[i], &["XACK", "jobs", "workers", &id]));
            *acks.entry(id).or_default() += n;
        }
    }
    assert_eq!(delivered, ENTRIES);

    // w3's unacknowledged entries are still pending, owned by it.
    let summary = call(&mut admin, &["XPENDING", "jobs", "workers"]);
    let pending = int(&items(&summary)[0]);
    assert!(pending > 0, "the crashed consumer left entries pending");
    let owners = items(&items(&summary)[3]);
    assert_eq!(owners.len(), 1);
    assert_eq!(leaf_text(&items(&owners[0])[0]), "w3");

    // w1 takes them over, 10 at a time, once they have been idle for a moment.
    std::thread::sleep(Duration::from_millis(20));
    let mut cursor = "0-0".to_string();
    let mut recovered = 0;
    loop {
        let reply = call(
            &mut clients[0],
            &[
                "XAUTOCLAIM",
                "jobs",
                "workers",
                "w1",
                "10",
                &cursor,
                "COUNT",
                "10",
            ],
        );
        let parts = items(&reply);
        assert_eq!(parts.len(), 3);
        assert!(items(&parts[2]).is_empty(), "no entry was deleted");
        for entry in items(&parts[1]) {
            let id = leaf_text(&items(entry)[0]);
            let n = int(&call(&mut clients[0], &["XACK", "jobs", "workers", &id]));
            *acks.entry(id).or_default() += n;
            recovered += 1;
        }
        cursor = leaf_text(&parts[0]);
        if cursor == "0-0" {
            break;
        }
    }
    assert_eq!(recovered as i64, pending);

    let summary = call(&mut admin, &["XPENDING", "jobs", "workers"]);
    assert_eq!(
        summary.raw(),
        b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n",
        "nothing left pending"
    );
    assert_eq!(acks.len(), ENTRIES, "every entry was acknowledged");
    assert!(
        acks.values().all(|&n| n == 1),
        "each entry was acknowledged exactly once"
    );
    // A second XACK of anything acknowledges nothing.
    assert_eq!(
        int(&call(
            &mut admin,
            &["XACK", "jobs", "workers", "1-0", "300-0"]
        )),
        0
    );
    let groups = call(&mut admin, &["XINFO", "GROUPS", "jobs"]);
    let group = items(&items(&groups)[0]);
    assert_eq!(leaf_text(&group[7]), "300-0");
    assert_eq!(int(&group[11]), 0, "lag");
}
