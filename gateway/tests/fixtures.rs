//! Replays every mt5-bridge golden fixture over HTTP, against embedded engines and real
//! redis-server: valid bodies are acknowledged and stored exactly as the bridge encodes them
//! (`to_fields`); invalid ones get 400 naming exactly the fields the fixture's `.expect` lists.
//!
//! The gateway runs in development mode (no terminal tokens), so fixtures naming any instance id
//! are accepted with the dev token.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use reqwest::Method;
use serde_json::Value;
use tradestate_config::DEV_TOKEN;
use tradestate_gateway::ops::Partition;
use tradestate_mt5_bridge::{
    invalid_fixtures, parse_batch, parse_instance_state, parse_signal, parse_trade_state,
    valid_fixtures, Fixture, FixtureBody, InstanceState, PositionsSnapshot, TradeSignal,
    TradeState, Update,
};

/// The route, instance id and ticket a fixture is sent with. Bodies without an `instance_id`
/// get one of their own, so fixtures do not see each other's `seq` or signal ids.
fn route(fixture: &Fixture, own_id: &str) -> (Method, String, Option<String>) {
    let json: Value = serde_json::from_slice(&fixture.body).unwrap_or(Value::Null);
    match fixture.body_kind {
        FixtureBody::Batch => {
            let header = match json.get("instance_id") {
                Some(_) => None,
                None => Some(own_id.to_string()),
            };
            (Method::POST, "/v1/ingest".into(), header)
        }
        FixtureBody::InstanceState => (Method::PUT, format!("/v1/instances/{own_id}/state"), None),
        FixtureBody::TradeState => {
            let ticket = json
                .get("ticket")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("1");
            (
                Method::PUT,
                format!("/v1/instances/{own_id}/trades/{ticket}"),
                None,
            )
        }
        FixtureBody::Signal => (
            Method::POST,
            format!("/v1/instances/{own_id}/signals"),
            None,
        ),
    }
}

async fn send_fixture(h: &Harness, fixture: &Fixture, own_id: &str) -> (u16, Value) {
    let (method, path, header) = route(fixture, own_id);
    let response = send(
        h,
        method,
        &path,
        Some(DEV_TOKEN),
        header.as_deref(),
        fixture.body.clone(),
    )
    .await;
    status_and_json(response).await
}

struct Engines {
    ris: tradestate_backend::Connection,
    rts: tradestate_backend::Connection,
    rtss: tradestate_backend::Connection,
}

async fn check_instance(e: &mut Engines, what: &str, id: &str, update: &InstanceState) {
    let stored = hash(&mut e.ris, &format!("ris:{{{id}}}")).await;
    assert_fields(what, update.to_fields(), &stored);
    assert_eq!(
        stored.get("instance_id").map(String::as_str),
        Some(id),
        "{what}"
    );
}

async fn check_trade(e: &mut Engines, what: &str, id: &str, update: &TradeState) {
    let stored = hash(&mut e.rts, &format!("rts:{{{id}}}:{}", update.ticket)).await;
    assert_fields(what, update.to_fields(), &stored);
}

async fn check_positions(e: &mut Engines, what: &str, id: &str, update: &PositionsSnapshot) {
    let stored = hash(&mut e.rts, &format!("rts:{{{id}}}:positions")).await;
    assert_fields(what, update.to_fields(), &stored);
}

async fn check_signal(e: &mut Engines, what: &str, id: &str, update: &TradeSignal, entry_id: &str) {
    let entries: Vec<(String, HashMap<String, String>)> =
        query(&mut e.rtss, &["XRANGE", "rtss:signals", entry_id, entry_id]).await;
    let Some((_, stored)) = entries.first() else {
        panic!("{what}: entry {entry_id} not in rtss:signals");
    };
    assert_fields(what, update.to_fields(), stored);
    assert_eq!(
        stored.get("instance_id").map(String::as_str),
        Some(id),
        "{what}"
    );
}

/// Whether a state update is followed by another of the same key (signals are events).
fn superseded(update: &Update, later: &[Update]) -> bool {
    later.iter().any(|next| match (update, next) {
        (Update::Instance(_), Update::Instance(_)) => true,
        (Update::Trade(a), Update::Trade(b)) => a.ticket == b.ticket,
        (Update::Positions(_), Update::Positions(_)) => true,
        _ => false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_fixtures_are_acknowledged_and_stored_as_encoded() {
    let fixtures = valid_fixtures().expect("mt5-bridge fixtures load");
    assert!(fixtures.len() >= 5, "fixtures missing: {}", fixtures.len());
    on_each_target(dev_mode, async |h, name| {
        let mut engines = Engines {
            ris: h.engine(Partition::Ris).await,
            rts: h.engine(Partition::Rts).await,
            rtss: h.engine(Partition::Rtss).await,
        };
        let mut stored_total = 0;
        for (index, fixture) in fixtures.iter().enumerate() {
            let own_id = format!("F{index}");
            let what = format!("{name}: {}", fixture.name);
            let (status, reply) = send_fixture(h, fixture, &own_id).await;
            assert_eq!(status, 200, "{what}: {reply}");
            match fixture.body_kind {
                FixtureBody::Batch => {
                    let batch = parse_batch(&fixture.body).expect("valid fixture parses");
                    let id = batch.instance_id.clone().unwrap_or(own_id.clone());
                    assert_eq!(reply["instance_id"], id.as_str(), "{what}: {reply}");
                    let results = reply["results"].as_array().expect("results");
                    assert_eq!(results.len(), batch.updates.len(), "{what}: {reply}");
                    for (position, (update, result)) in
                        batch.updates.iter().zip(results).enumerate()
                    {
                        let status = result["status"].as_str().unwrap_or("");
                        assert!(
                            ["stored", "coalesced", "stale", "duplicate"].contains(&status),
                            "{what}: not acknowledged: {result}"
                        );
                        // Only a stored update is the engine's current state; the others
                        // (an earlier fixture's newer seq or signal id) are acks without a write.
                        if status != "stored" {
                            continue;
                        }
                        // A later update of the same key in this batch may have replaced it.
                        if superseded(update, &batch.updates[position + 1..]) {
                            continue;
                        }
                        stored_total += 1;
                        match update {
                            Update::Instance(u) => {
                                check_instance(&mut engines, &what, &id, u).await
                            }
                            Update::Trade(u) => check_trade(&mut engines, &what, &id, u).await,
                            Update::Signal(u) => {
                                let entry_id = result["entry_id"].as_str().expect("entry_id");
                                check_signal(&mut engines, &what, &id, u, entry_id).await
                            }
                            Update::Positions(u) => {
                                check_positions(&mut engines, &what, &id, u).await
                            }
                        }
                    }
                }
                FixtureBody::InstanceState => {
                    let update = parse_instance_state(&fixture.body).expect("parses");
                    assert_eq!(reply["status"], "stored", "{what}: {reply}");
                    check_instance(&mut engines, &what, &own_id, &update).await;
                    stored_total += 1;
                }
                FixtureBody::TradeState => {
                    let update = parse_trade_state(&fixture.body).expect("parses");
                    assert_eq!(reply["status"], "stored", "{what}: {reply}");
                    check_trade(&mut engines, &what, &own_id, &update).await;
                    stored_total += 1;
                }
                FixtureBody::Signal => {
                    let update = parse_signal(&fixture.body).expect("parses");
                    assert_eq!(reply["status"], "stored", "{what}: {reply}");
                    let entry_id = reply["entry_id"].as_str().expect("entry_id");
                    check_signal(&mut engines, &what, &own_id, &update, entry_id).await;
                    stored_total += 1;
                }
            }
        }
        assert!(
            stored_total >= fixtures.len(),
            "{name}: only {stored_total} updates stored"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fixtures_get_400_naming_exactly_their_fields() {
    let fixtures = invalid_fixtures().expect("mt5-bridge fixtures load");
    assert!(fixtures.len() >= 5, "fixtures missing: {}", fixtures.len());
    on_each_target(dev_mode, async |h, name| {
        // Default limits: the 1001-update fixture (~120 KiB) is under max_body_bytes (1 MiB),
        // so it must be refused for its update count (400), not its size (413).
        for (index, fixture) in fixtures.iter().enumerate() {
            let what = format!("{name}: {}", fixture.name);
            let (status, reply) = send_fixture(h, fixture, &format!("F{index}")).await;
            assert_eq!(status, 400, "{what}: {reply}");
            assert_eq!(reply["error"], "invalid", "{what}: {reply}");
            let fields: BTreeSet<String> = reply["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no errors[] in {reply}"))
                .iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect();
            assert_eq!(fields, fixture.expected_fields, "{what}: {reply}");
        }
        // Nothing of an invalid body reached an engine.
        for partition in [Partition::Ris, Partition::Rts, Partition::Rtss] {
            let mut conn = h.engine(partition).await;
            let keys: u64 = query(&mut conn, &["DBSIZE"]).await;
            assert_eq!(keys, 0, "{name}: {} holds {keys} keys", partition.name());
        }
    })
    .await;
}
