//! Conformance of the terminal wire formats: every valid mt5-bridge fixture, as the exact bytes a
//! terminal sends (`fixtures/wire/<name>.json` over `POST /v1/ingest`, `fixtures/resp/<name>.resp`
//! over the RESP listener after `AUTH`), is acknowledged and stored as the bridge encodes it.
//! These are the bytes the MQL5 library builds (mt5-bridge `tests/mql5_source.rs` ties the two).
//!
//! Each fixture runs against a fresh service per transport, so fixtures sharing a terminal id
//! and `seq`s do not see each other. (The pretty-printed `fixtures/valid/*.json` bodies are
//! replayed by `tests/fixtures.rs`.)

mod common;

use std::collections::HashMap;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tradestate_config::DEV_TOKEN;
use tradestate_gateway::ops::Partition;
use tradestate_mt5_bridge::client::resp::{self, RespValue, WriteReply};
use tradestate_mt5_bridge::wire::resp_encode;
use tradestate_mt5_bridge::{valid_fixtures, Fixture, Update};

/// Reads `count` replies from a RESP connection.
async fn read_replies(stream: &mut TcpStream, count: usize) -> Vec<RespValue> {
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < count {
        while let Some((value, used)) = resp::parse(&buffer).expect("valid RESP") {
            buffer.drain(..used);
            replies.push(value);
        }
        if replies.len() >= count {
            break;
        }
        let mut chunk = [0u8; 8192];
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("replies in time")
                .expect("read");
        assert!(read > 0, "the gateway closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
    }
    replies
}

/// The updates of a fixture that are their key's final state (signals are all final).
fn finals(updates: &[Update]) -> Vec<&Update> {
    updates
        .iter()
        .enumerate()
        .filter(|(i, update)| {
            !updates[i + 1..].iter().any(|later| match (update, later) {
                (Update::Instance(_), Update::Instance(_)) => true,
                (Update::Trade(a), Update::Trade(b)) => a.ticket == b.ticket,
                (Update::Positions(_), Update::Positions(_)) => true,
                _ => false,
            })
        })
        .map(|(_, update)| update)
        .collect()
}

/// Checks the engines hold exactly the fixture's final states and each of its signals once.
async fn check_stored(h: &Harness, what: &str, id: &str, updates: &[Update]) {
    let mut ris = h.engine(Partition::Ris).await;
    let mut rts = h.engine(Partition::Rts).await;
    let mut rtss = h.engine(Partition::Rtss).await;
    for update in finals(updates) {
        match update {
            Update::Instance(state) => {
                let stored = hash(&mut ris, &format!("ris:{{{id}}}")).await;
                assert_fields(what, state.to_fields(), &stored);
                assert_eq!(
                    stored.get("instance_id").map(String::as_str),
                    Some(id),
                    "{what}"
                );
            }
            Update::Trade(trade) => {
                let key = format!("rts:{{{id}}}:{}", trade.ticket);
                let stored = hash(&mut rts, &key).await;
                assert_fields(what, trade.to_fields(), &stored);
                let open: bool = query(
                    &mut rts,
                    &["SISMEMBER", &format!("rts:{{{id}}}:open"), &trade.ticket],
                )
                .await;
                let closed: Option<f64> = query(
                    &mut rts,
                    &["ZSCORE", &format!("rts:{{{id}}}:closed"), &trade.ticket],
                )
                .await;
                // Pending orders are live like open positions, cancelled and filled ones not.
                let is_closed = !trade.state.is_live();
                assert_eq!(
                    (open, closed.is_some()),
                    (!is_closed, is_closed),
                    "{what}: {key}"
                );
            }
            Update::Positions(snapshot) => {
                let stored = hash(&mut rts, &format!("rts:{{{id}}}:positions")).await;
                assert_fields(what, snapshot.to_fields(), &stored);
            }
            Update::Signal(_) => {}
        }
    }
    let entries: Vec<(String, HashMap<String, String>)> =
        query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
    let signals: Vec<_> = updates
        .iter()
        .filter_map(|u| match u {
            Update::Signal(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        entries.len(),
        signals.len(),
        "{what}: stream entries {entries:?}"
    );
    for signal in signals {
        let matching: Vec<_> = entries
            .iter()
            .filter(|(_, fields)| fields.get("signal_id") == Some(&signal.signal_id))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{what}: signal {} stored once",
            signal.signal_id
        );
        assert_fields(what, signal.to_fields(), &matching[0].1);
        assert_eq!(
            matching[0].1.get("instance_id").map(String::as_str),
            Some(id),
            "{what}"
        );
    }
}

async fn over_http(target: &Target, fixture: &Fixture, id: &str, updates: &[Update]) {
    let what = format!("{} http {}", target.name(), fixture.name);
    let h = start_dev(target).await;
    let body = std::fs::read(fixture.wire_json_path())
        .expect("wire fixture (run the mt5-bridge wire test)");
    let response = send(
        &h,
        reqwest::Method::POST,
        "/v1/ingest",
        Some(DEV_TOKEN),
        None,
        body,
    )
    .await;
    let (status, reply) = status_and_json(response).await;
    assert_eq!(status, 200, "{what}: {reply}");
    assert_eq!(reply["instance_id"], id, "{what}: {reply}");
    let got = statuses(&reply);
    assert_eq!(got.len(), updates.len(), "{what}: {reply}");
    for status in &got {
        assert!(
            ["stored", "coalesced"].contains(&status.as_str()),
            "{what}: {reply}"
        );
    }
    check_stored(&h, &what, id, updates).await;
    h.stop().await;
}

async fn over_resp(target: &Target, fixture: &Fixture, id: &str, updates: &[Update]) {
    let what = format!("{} resp {}", target.name(), fixture.name);
    let h = start_dev(target).await;
    let addr = h.service.resp_addr.expect("resp listener on");
    let mut stream = TcpStream::connect(addr).await.expect("connect resp");
    stream
        .write_all(&resp_encode(&["AUTH", id, DEV_TOKEN]))
        .await
        .expect("auth sent");
    let auth = read_replies(&mut stream, 1).await;
    assert_eq!(auth[0], RespValue::Simple("OK".into()), "{what}");
    let bytes =
        std::fs::read(fixture.resp_path()).expect("resp fixture (run the mt5-bridge wire test)");
    stream.write_all(&bytes).await.expect("commands sent");
    let replies = read_replies(&mut stream, updates.len()).await;
    for (update, reply) in updates.iter().zip(&replies) {
        assert_eq!(
            resp::write_reply(reply),
            WriteReply::Stored,
            "{what}: seq {} got {reply:?}",
            update.seq()
        );
    }
    check_stored(&h, &what, id, updates).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wire_fixture_is_stored_over_http_and_resp() {
    let fixtures = valid_fixtures().expect("mt5-bridge fixtures load");
    assert!(fixtures.len() >= 10, "fixtures missing: {}", fixtures.len());
    for target in targets() {
        for fixture in &fixtures {
            let (id, updates) = fixture.updates().expect("valid fixture");
            over_http(&target, fixture, &id, &updates).await;
            over_resp(&target, fixture, &id, &updates).await;
        }
    }
}
