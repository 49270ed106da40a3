//! The golden fixtures: every valid one parses, every invalid one fails with exactly the field
//! set its `.expect` file lists.

use tradestate_mt5_bridge::{
    invalid_fixtures, parse_batch, valid_fixtures, FixtureBody, MAX_BATCH_UPDATES,
};

#[test]
fn every_valid_fixture_parses() {
    let fixtures = valid_fixtures().expect("read fixtures/valid");
    assert!(
        fixtures.len() >= 6,
        "expected the valid fixtures, found {}",
        fixtures.len()
    );
    for fixture in fixtures {
        if let Err(errors) = fixture.body_kind.parse(&fixture.body) {
            panic!("{} should be valid: {errors}", fixture.path.display());
        }
    }
}

#[test]
fn every_invalid_fixture_fails_with_exactly_its_expected_fields() {
    let fixtures = invalid_fixtures().expect("read fixtures/invalid");
    assert!(
        fixtures.len() >= 12,
        "expected at least 12 invalid fixtures"
    );
    let mut failures = Vec::new();
    for fixture in fixtures {
        assert!(
            !fixture.expected_fields.is_empty(),
            "{}: the .expect file lists no fields",
            fixture.name
        );
        match fixture.body_kind.parse(&fixture.body) {
            Ok(()) => failures.push(format!("{}: parsed but should fail", fixture.name)),
            Err(errors) if errors.fields() != fixture.expected_fields => failures.push(format!(
                "{}: expected fields {:?}, got {:?} ({errors})",
                fixture.name,
                fixture.expected_fields,
                errors.fields()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_mixed_batch_has_ten_updates_of_every_kind() {
    let body = std::fs::read(tradestate_mt5_bridge::fixtures_dir().join("valid/batch_mixed.json"))
        .expect("read batch_mixed.json");
    let batch = parse_batch(&body).expect("batch_mixed.json is valid");
    assert_eq!(batch.updates.len(), 10);
    let kinds: std::collections::HashSet<_> = batch.updates.iter().map(|u| u.kind()).collect();
    assert_eq!(kinds.len(), 3);
}

#[test]
fn the_too_many_updates_fixture_is_one_over_the_limit() {
    let fixture = invalid_fixtures()
        .expect("read fixtures/invalid")
        .into_iter()
        .find(|fixture| fixture.name == "batch_too_many_updates")
        .expect("batch_too_many_updates.json exists");
    let value: serde_json::Value = serde_json::from_slice(&fixture.body).expect("valid JSON");
    assert_eq!(
        value["updates"].as_array().map(Vec::len),
        Some(MAX_BATCH_UPDATES + 1)
    );
    // One fewer is accepted.
    let mut value = value;
    if let Some(updates) = value["updates"].as_array_mut() {
        updates.pop();
    }
    let body = serde_json::to_vec(&value).expect("serialize");
    assert!(parse_batch(&body).is_ok());
}

#[test]
fn fixture_names_tell_their_body() {
    assert_eq!(
        FixtureBody::for_name("batch_mixed"),
        Some(FixtureBody::Batch)
    );
    assert_eq!(
        FixtureBody::for_name("instance_state.json"),
        Some(FixtureBody::InstanceState)
    );
    assert_eq!(
        FixtureBody::for_name("trade_open"),
        Some(FixtureBody::TradeState)
    );
    assert_eq!(FixtureBody::for_name("signal"), Some(FixtureBody::Signal));
    assert_eq!(FixtureBody::for_name("other"), None);
}
