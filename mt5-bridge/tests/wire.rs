//! The wire fixtures: `fixtures/wire/<name>.json` and `fixtures/resp/<name>.resp` are exactly
//! what the wire encoders produce for each valid fixture, and both decode back to the fixture's
//! updates. Run with `TRADESTATE_BLESS_FIXTURES=1` to (re)write them after a deliberate change.

use tradestate_mt5_bridge::wire::{batch_json, resp_args, resp_commands, SIGNAL_STREAM};
use tradestate_mt5_bridge::{
    parse_batch, valid_fixtures, InstanceState, PositionsSnapshot, TradeSignal, TradeState, Update,
};

fn bless() -> bool {
    std::env::var_os("TRADESTATE_BLESS_FIXTURES").is_some()
}

fn check_or_write(path: &std::path::Path, expected: &[u8], problems: &mut Vec<String>) {
    if bless() {
        std::fs::create_dir_all(path.parent().expect("fixture folder")).expect("mkdir");
        std::fs::write(path, expected).expect("write fixture");
        return;
    }
    match std::fs::read(path) {
        Ok(found) if found == expected => {}
        Ok(found) => problems.push(format!(
            "{} differs from the encoder:\n  file:    {}\n  encoder: {}",
            path.display(),
            String::from_utf8_lossy(&found).escape_debug(),
            String::from_utf8_lossy(expected).escape_debug()
        )),
        Err(e) => problems.push(format!(
            "{}: {e} (run with TRADESTATE_BLESS_FIXTURES=1 to write it)",
            path.display()
        )),
    }
}

#[test]
fn wire_fixtures_are_what_the_encoders_write() {
    let fixtures = valid_fixtures().expect("valid fixtures");
    let mut problems = Vec::new();
    for fixture in &fixtures {
        let (id, updates) = fixture.updates().expect("valid fixture");
        let json = batch_json(Some(&id), &updates);
        check_or_write(&fixture.wire_json_path(), json.as_bytes(), &mut problems);
        let resp = resp_commands(&id, SIGNAL_STREAM, &updates);
        check_or_write(&fixture.resp_path(), &resp, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn wire_json_decodes_to_the_fixture_updates() {
    for fixture in valid_fixtures().expect("valid fixtures") {
        let (id, updates) = fixture.updates().expect("valid fixture");
        let wire = std::fs::read(fixture.wire_json_path()).expect("wire fixture");
        let batch = parse_batch(&wire).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        assert_eq!(batch.instance_id.as_deref(), Some(id.as_str()));
        assert_eq!(batch.updates, updates, "{}", fixture.name);
    }
}

#[test]
fn resp_commands_decode_to_the_fixture_updates_with_the_stored_encoding() {
    for fixture in valid_fixtures().expect("valid fixtures") {
        let (id, updates) = fixture.updates().expect("valid fixture");
        for update in &updates {
            let args = resp_args(&id, SIGNAL_STREAM, update);
            let pairs_from = if args[0] == "XADD" { 3 } else { 2 };
            let pairs: Vec<(&[u8], &[u8])> = args[pairs_from..]
                .chunks_exact(2)
                .map(|p| (p[0].as_bytes(), p[1].as_bytes()))
                .collect();
            let owned: Vec<(String, String)> = args[pairs_from..]
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            let (decoded, stored) = match update {
                Update::Instance(s) => {
                    assert_eq!(args[1], format!("ris:{{{id}}}"));
                    (
                        Update::Instance(InstanceState::from_fields(&pairs).expect("decodes")),
                        s.to_fields(),
                    )
                }
                Update::Trade(t) => {
                    assert_eq!(args[1], format!("rts:{{{id}}}:{}", t.ticket));
                    (
                        Update::Trade(TradeState::from_fields(&pairs).expect("decodes")),
                        t.to_fields(),
                    )
                }
                Update::Signal(s) => {
                    assert_eq!(&args[1..3], [SIGNAL_STREAM, "*"]);
                    (
                        Update::Signal(TradeSignal::from_fields(&pairs).expect("decodes")),
                        s.to_fields(),
                    )
                }
                Update::Positions(p) => {
                    assert_eq!(args[1], format!("rts:{{{id}}}:positions"));
                    (
                        Update::Positions(PositionsSnapshot::from_fields(&pairs).expect("decodes")),
                        p.to_fields(),
                    )
                }
            };
            assert_eq!(&decoded, update, "{}", fixture.name);
            // For the fixtures' numbers the wire text is also the stored text.
            let stored: Vec<(String, String)> = stored
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            assert_eq!(owned, stored, "{}", fixture.name);
        }
    }
}

#[test]
fn the_fixtures_cover_orders_and_snapshots_on_both_wires() {
    let mut kinds = std::collections::BTreeSet::new();
    for fixture in valid_fixtures().expect("valid fixtures") {
        let (_, updates) = fixture.updates().expect("valid fixture");
        for update in &updates {
            match update {
                Update::Trade(t) if t.r#type.is_order() => {
                    kinds.insert(t.state.as_str());
                }
                Update::Positions(p) => {
                    kinds.insert(if p.tickets.is_empty() {
                        "empty snapshot"
                    } else {
                        "snapshot"
                    });
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "cancelled",
            "empty snapshot",
            "filled",
            "pending",
            "snapshot"
        ]
    );
}

#[test]
fn a_snapshot_is_one_hset_of_the_positions_key() {
    let snapshot = Update::Positions(PositionsSnapshot {
        seq: 9,
        time_msc: 1_718_020_800_000,
        tickets: "7,8".into(),
    });
    assert_eq!(
        tradestate_mt5_bridge::wire::update_json(&snapshot),
        r#"{"kind":"positions","seq":9,"time_msc":1718020800000,"tickets":"7,8"}"#
    );
    assert_eq!(
        resp_args("T1", SIGNAL_STREAM, &snapshot),
        [
            "HSET",
            "rts:{T1}:positions",
            "seq",
            "9",
            "time_msc",
            "1718020800000",
            "tickets",
            "7,8"
        ]
    );
}
