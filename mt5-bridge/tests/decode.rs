//! JSON decoding and validation: field paths, messages, and the id/ticket rules.

use tradestate_mt5_bridge::{
    fixtures_dir, parse_batch, parse_signal, validate_instance_id, validate_signal_id,
    validate_ticket, FieldError, ValidationErrors, ROOT_FIELD,
};

fn errors_of(json: &str) -> Vec<FieldError> {
    parse_batch(json.as_bytes())
        .expect_err("should be refused")
        .0
}

fn signal(seq: u64, extra: &str) -> String {
    format!(
        r#"{{"kind":"signal","seq":{seq},"signal_id":"s-{seq}","time_msc":1718020800000,"strategy":"s","symbol":"EURUSD","action":"buy"{extra}}}"#
    )
}

#[test]
fn a_wrong_type_names_its_path_and_serdes_message() {
    let body = std::fs::read(fixtures_dir().join("invalid/batch_wrong_type.json")).unwrap();
    let errors = parse_batch(&body).unwrap_err().0;
    assert_eq!(
        errors,
        [FieldError::new(
            "updates[3].balance",
            "invalid type: string \"x\", expected f64"
        )]
    );
}

#[test]
fn every_bad_update_is_reported_not_just_the_first() {
    let json = format!(
        r#"{{"updates":[{},{},{},{}]}}"#,
        signal(1, r#","volume":"x""#),
        signal(2, ""),
        signal(3, r#","volume":-1"#),
        signal(4, r#","typo":1"#),
    );
    let fields: Vec<String> = errors_of(&json).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        ["updates[0].volume", "updates[2].volume", "updates[3].typo"]
    );
}

#[test]
fn a_duplicate_field_is_reported_at_that_field() {
    let json = format!(r#"{{"updates":[{}]}}"#, signal(1, r#","seq":2"#));
    let errors = errors_of(&json);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "updates[0].seq");
    assert!(errors[0].message.contains("duplicate field"), "{errors:?}");
}

#[test]
fn malformed_json_is_one_error_about_the_whole_body_with_its_position() {
    let errors = errors_of(r#"{"updates": [ {"kind": "signal", "#);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, ROOT_FIELD);
    assert!(errors[0].message.contains("line 1 column"), "{errors:?}");
}

#[test]
fn a_body_of_the_wrong_shape_is_reported_at_the_root() {
    let errors = errors_of("[1, 2]");
    assert_eq!(errors[0].field, ROOT_FIELD);
    let errors = errors_of(r#"{"updates": [5]}"#);
    assert_eq!(errors[0].field, "updates[0]");
}

#[test]
fn batches_round_trip_through_serde() {
    for name in ["batch_mixed.json", "batch_heartbeat.json"] {
        let body = std::fs::read(fixtures_dir().join("valid").join(name)).unwrap();
        let batch = parse_batch(&body).unwrap();
        let again = parse_batch(&serde_json::to_vec(&batch).unwrap()).unwrap();
        assert_eq!(again, batch);
        // The derived Deserialize (internally tagged) agrees with parse_batch.
        let derived: tradestate_mt5_bridge::Batch = serde_json::from_slice(&body).unwrap();
        assert_eq!(derived, batch);
    }
}

#[test]
fn a_single_signal_body_has_no_kind() {
    let json = r#"{"seq":1,"signal_id":"a","time_msc":1718020800000,"strategy":"s","symbol":"X","action":"close"}"#;
    assert!(parse_signal(json.as_bytes()).is_ok());
}

#[test]
fn errors_display_and_serialize_with_their_fields() {
    let errors = ValidationErrors(vec![
        FieldError::new("updates[0].volume", "must be > 0"),
        FieldError::new("$", "bad"),
    ]);
    assert_eq!(errors.to_string(), "updates[0].volume: must be > 0; $: bad");
    assert_eq!(
        serde_json::to_value(&errors).unwrap(),
        serde_json::json!([
            {"field": "updates[0].volume", "message": "must be > 0"},
            {"field": "$", "message": "bad"}
        ])
    );
}

#[test]
fn tickets_are_canonical_positive_u64_decimals() {
    assert_eq!(validate_ticket("1"), Ok(1));
    assert_eq!(validate_ticket("18446744073709551615"), Ok(u64::MAX));
    for bad in [
        "",
        "0",
        "007",
        "-1",
        "+1",
        "1.0",
        "12a4",
        " 1",
        "18446744073709551616",
        "123456789012345678901",
    ] {
        let error = validate_ticket(bad).expect_err(bad);
        assert_eq!(error.field, "ticket");
    }
}

#[test]
fn instance_ids_keep_the_key_layout_safe() {
    for good in ["T1", "desk-a.terminal_07", &"x".repeat(64)] {
        assert!(validate_instance_id(good).is_ok(), "{good}");
    }
    for bad in ["", "T{1}", "a:b", "a b", "ü", &"x".repeat(65)] {
        assert!(validate_instance_id(bad).is_err(), "{bad}");
    }
    assert!(validate_signal_id("trend:2024-06-10:1").is_ok());
    assert!(validate_signal_id("a/b").is_err());
}

#[test]
fn single_object_bodies_report_duplicate_and_unknown_fields_at_the_field() {
    let json = r#"{"seq":1,"seq":2,"signal_id":"a","time_msc":1718020800000,"strategy":"s","symbol":"X","action":"close"}"#;
    let errors = parse_signal(json.as_bytes()).unwrap_err().0;
    assert_eq!(errors[0].field, "seq", "{errors:?}");
    let json = r#"{"seq":1,"signal_id":"a","time_msc":1718020800000,"strategy":"s","symbol":"X","action":"close","sl ":1}"#;
    let errors = parse_signal(json.as_bytes()).unwrap_err().0;
    assert_eq!(errors[0].field, "sl ", "{errors:?}");
}

fn order(state: &str, ty: &str, extra: &str) -> String {
    format!(
        r#"{{"kind":"trade","seq":1,"ticket":"77","time_msc":1718020800000,"time_update_msc":1718020800000,"symbol":"EURUSD","type":"{ty}","volume":0.1,"price_open":1.1,"price_current":1.1,"sl":0,"tp":0,"profit":0,"swap":0,"commission":0,"magic":0,"state":"{state}"{extra}}}"#
    )
}

fn fields_of(update: &str) -> Vec<(String, String)> {
    match parse_batch(format!(r#"{{"updates":[{update}]}}"#).as_bytes()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

#[test]
fn states_go_with_their_types() {
    const CLOSE: &str = r#","time_close_msc":1718020801000"#;
    const CLOSE_PRICE: &str = r#","time_close_msc":1718020801000,"price_close":1.1"#;
    // Accepted: every state with its own kind of type, close fields where they belong.
    for (state, ty, extra) in [
        ("open", "buy", ""),
        ("closed", "sell", CLOSE_PRICE),
        ("pending", "buy_limit", ""),
        ("pending", "sell_stop_limit", ""),
        ("cancelled", "sell_stop", CLOSE),
        ("cancelled", "buy_stop", CLOSE_PRICE),
        ("filled", "sell_limit", CLOSE),
        ("filled", "buy_stop_limit", CLOSE_PRICE),
    ] {
        assert_eq!(fields_of(&order(state, ty, extra)), [], "{state} {ty}");
    }
    // A position's state on an order, and an order's on a position.
    for (state, ty, extra) in [
        ("open", "buy_limit", ""),
        ("closed", "sell_stop", CLOSE_PRICE),
        ("pending", "buy", ""),
        ("cancelled", "sell", CLOSE),
        ("filled", "buy", CLOSE),
    ] {
        let errors = fields_of(&order(state, ty, extra));
        assert_eq!(errors.len(), 1, "{state} {ty}: {errors:?}");
        assert_eq!(errors[0].0, "updates[0].state");
        assert!(errors[0].1.contains(ty), "{errors:?}");
    }
    // Done orders need their done time; pending ones carry no close fields.
    let errors = fields_of(&order("cancelled", "buy_limit", ""));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "updates[0].time_close_msc");
    assert!(errors[0].1.contains("ORDER_TIME_DONE_MSC"), "{errors:?}");
    let errors = fields_of(&order("pending", "buy_limit", CLOSE_PRICE));
    let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        fields,
        ["updates[0].time_close_msc", "updates[0].price_close"]
    );
    assert!(
        errors[0].1.contains("\"cancelled\" or \"filled\""),
        "{errors:?}"
    );
}

#[test]
fn a_positions_snapshot_is_a_batch_kind() {
    let batch = parse_batch(
        br#"{"updates":[{"kind":"positions","seq":3,"time_msc":1718020800000,"tickets":"5,6"}]}"#,
    )
    .expect("valid snapshot");
    match &batch.updates[0] {
        tradestate_mt5_bridge::Update::Positions(snapshot) => {
            assert_eq!(snapshot.ticket_values(), [5, 6]);
            assert_eq!(batch.updates[0].seq(), 3);
            assert_eq!(
                batch.updates[0].kind(),
                tradestate_mt5_bridge::UpdateKind::Positions
            );
        }
        other => panic!("{other:?}"),
    }
    let errors = errors_of(
        r#"{"updates":[{"kind":"positions","seq":3,"time_msc":1718020800000,"tickets":"5,6","extra":1}]}"#,
    );
    assert_eq!(errors[0].field, "updates[0].extra");
    let errors = errors_of(r#"{"updates":[{"kind":"position","seq":3}]}"#);
    assert!(errors[0].message.contains("`positions`"), "{errors:?}");
}
