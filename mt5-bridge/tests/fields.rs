//! The RESP field encoding: `from_fields(to_fields(x)) == x` for any valid object, and
//! field-level errors for bad input.

use proptest::option;
use proptest::prelude::*;
use tradestate_mt5_bridge::{
    InstanceState, PositionType, PositionsSnapshot, SignalAction, TradeSignal, TradeState,
    TradeStatus, INSTANCE_STATE_FIELDS, MAX_SNAPSHOT_TICKETS, MAX_TIME_MSC, MIN_TIME_MSC,
    POSITIONS_FIELDS, TRADE_SIGNAL_FIELDS, TRADE_STATE_FIELDS,
};

fn as_pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'a [u8], &'a [u8])> {
    fields
        .iter()
        .map(|(name, value)| (name.as_bytes(), value.as_bytes()))
        .collect()
}

fn time() -> impl Strategy<Value = i64> {
    MIN_TIME_MSC..=MAX_TIME_MSC
}

fn amount() -> impl Strategy<Value = f64> {
    prop_oneof![-1e15..=1e15f64, -1e6..=1e6f64, Just(0.0), Just(-0.0)]
}

fn price() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..=1e15f64, 0.0..=10.0f64, Just(0.0)]
}

fn volume() -> impl Strategy<Value = f64> {
    prop_oneof![1e-8..=1e15f64, 0.01..=100.0f64]
}

/// Plain text without control characters, up to a few dozen characters (any Unicode).
fn text() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,40}"
}

fn instance_state() -> impl Strategy<Value = InstanceState> {
    let head = (
        any::<u64>(),
        time(),
        any::<u64>(),
        text(),
        option::of(text()),
        text(),
        any::<u32>(),
    );
    let money = (
        amount(),
        price(),
        amount(),
        amount(),
        price(),
        amount(),
        price(),
    );
    let terminal = (
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        option::of(text()),
    );
    (head, money, terminal).prop_map(
        |(
            (seq, time_msc, login, server, company, currency, leverage),
            (balance, credit, equity, profit, margin, margin_free, margin_level),
            (connected, trade_allowed, ping_us, build, positions, orders, ea_version),
        )| InstanceState {
            seq,
            time_msc,
            login,
            server,
            company,
            currency,
            leverage,
            balance,
            credit,
            equity,
            profit,
            margin,
            margin_free,
            margin_level,
            connected,
            trade_allowed,
            ping_us,
            build,
            positions,
            orders,
            ea_version,
        },
    )
}

fn trade_state() -> impl Strategy<Value = TradeState> {
    let head = (
        any::<u64>(),
        1..=u64::MAX,
        time(),
        0..=1_000_000_000i64,
        text(),
        proptest::sample::select(PositionType::ALL.to_vec()),
    );
    let numbers = (
        volume(),
        price(),
        price(),
        price(),
        price(),
        amount(),
        amount(),
        amount(),
        any::<i64>(),
    );
    let tail = (
        option::of(prop_oneof![text(), Just(String::new())]),
        any::<bool>(),
        any::<bool>(),
        0..=1_000_000_000i64,
        price(),
    );
    (head, numbers, tail).prop_map(
        |(
            (seq, ticket, time_msc, update_after, symbol, r#type),
            (volume, price_open, price_current, sl, tp, profit, swap, commission, magic),
            (comment, closed, filled, close_after, close_price),
        )| {
            let time_update_msc = (time_msc + update_after).min(MAX_TIME_MSC);
            // The state that goes with the type; an order's close price is optional.
            let state = match (r#type.is_order(), closed, filled) {
                (false, false, _) => TradeStatus::Open,
                (false, true, _) => TradeStatus::Closed,
                (true, false, _) => TradeStatus::Pending,
                (true, true, false) => TradeStatus::Cancelled,
                (true, true, true) => TradeStatus::Filled,
            };
            let price_close = match state {
                TradeStatus::Closed => Some(close_price),
                TradeStatus::Filled => Some(close_price),
                _ => None,
            };
            TradeState {
                seq,
                ticket: ticket.to_string(),
                time_msc,
                time_update_msc,
                symbol,
                r#type,
                volume,
                price_open,
                price_current,
                sl,
                tp,
                profit,
                swap,
                commission,
                magic,
                comment,
                state,
                time_close_msc: closed.then(|| (time_msc + close_after).min(MAX_TIME_MSC)),
                price_close,
            }
        },
    )
}

fn trade_signal() -> impl Strategy<Value = TradeSignal> {
    let head = (
        any::<u64>(),
        "[A-Za-z0-9._:-]{1,64}",
        time(),
        text(),
        text(),
        prop_oneof![
            Just(SignalAction::Buy),
            Just(SignalAction::Sell),
            Just(SignalAction::Close)
        ],
    );
    let tail = (
        option::of(volume()),
        option::of(price()),
        option::of(price()),
        option::of(price()),
        option::of(any::<i64>()),
        option::of(text()),
    );
    (head, tail).prop_map(
        |(
            (seq, signal_id, time_msc, strategy, symbol, action),
            (volume, price, sl, tp, magic, comment),
        )| TradeSignal {
            seq,
            signal_id,
            time_msc,
            strategy,
            symbol,
            action,
            volume,
            price,
            sl,
            tp,
            magic,
            comment,
        },
    )
}

/// `from_fields(to_fields(x)) == x` for a valid `x`, and `to_fields` writes only the type's
/// field names; `$what` names the generated object when the generator made an invalid one.
macro_rules! prop_assert_round_trips {
    ($value:expr, $type:ident, $names:expr, $what:literal) => {{
        let value = $value;
        prop_assert!(
            value.validate().is_ok(),
            concat!("generator made an invalid ", $what, ": {:?}"),
            value.validate()
        );
        let fields = value.to_fields();
        prop_assert!(fields.iter().all(|(name, _)| $names.contains(name)));
        prop_assert_eq!($type::from_fields(&as_pairs(&fields)), Ok(value));
    }};
}

proptest! {
    #[test]
    fn instance_state_round_trips(state in instance_state()) {
        prop_assert_round_trips!(state, InstanceState, INSTANCE_STATE_FIELDS, "state");
    }

    #[test]
    fn trade_state_round_trips(trade in trade_state()) {
        prop_assert_round_trips!(trade, TradeState, TRADE_STATE_FIELDS, "trade");
    }

    #[test]
    fn trade_signal_round_trips(signal in trade_signal()) {
        prop_assert_round_trips!(signal, TradeSignal, TRADE_SIGNAL_FIELDS, "signal");
    }

    #[test]
    fn positions_snapshot_round_trips(
        seq in any::<u64>(),
        time_msc in time(),
        tickets in proptest::collection::btree_set(1..=u64::MAX, 0..50),
    ) {
        let tickets: Vec<String> = tickets.iter().map(u64::to_string).collect();
        let snapshot = PositionsSnapshot { seq, time_msc, tickets: tickets.join(",") };
        prop_assert_round_trips!(snapshot.clone(), PositionsSnapshot, POSITIONS_FIELDS, "snapshot");
        let values: Vec<String> = snapshot.ticket_values().iter().map(u64::to_string).collect();
        prop_assert_eq!(values, tickets);
    }

    #[test]
    fn floats_are_written_shortest_and_read_back_exactly(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
        let text = value.to_string();
        prop_assert_eq!(text.parse::<f64>().ok(), Some(value));
    }
}

fn signal_fields() -> Vec<(&'static str, String)> {
    TradeSignal {
        seq: 7,
        signal_id: "s-1".into(),
        time_msc: 1_718_020_800_000,
        strategy: "trend".into(),
        symbol: "EURUSD".into(),
        action: SignalAction::Buy,
        volume: Some(0.1),
        price: None,
        sl: None,
        tp: None,
        magic: None,
        comment: None,
    }
    .to_fields()
}

#[test]
fn encoding_uses_shortest_floats_bools_as_digits_and_omits_absent_options() {
    let fields = signal_fields();
    assert!(fields.contains(&("volume", "0.1".to_owned())));
    assert!(fields.contains(&("action", "buy".to_owned())));
    assert!(!fields.iter().any(|(name, _)| *name == "price"));

    let state = InstanceState::from_fields(&[]).unwrap_err();
    assert!(state.fields().contains("connected"));
}

#[test]
fn bools_accept_true_and_false_too() {
    let mut state = tradestate_mt5_bridge::parse_instance_state(
        &std::fs::read(tradestate_mt5_bridge::fixtures_dir().join("valid/instance_state.json"))
            .expect("read fixture"),
    )
    .expect("valid fixture");
    state.connected = true;
    state.trade_allowed = false;
    let mut fields = state.to_fields();
    for (name, value) in &mut fields {
        if *name == "connected" {
            *value = "true".into();
        }
        if *name == "trade_allowed" {
            *value = "false".into();
        }
    }
    assert_eq!(InstanceState::from_fields(&as_pairs(&fields)), Ok(state));
}

#[test]
fn from_fields_names_unknown_missing_and_unparsable_fields() {
    let mut fields = signal_fields();
    fields.retain(|(name, _)| *name != "strategy");
    for (name, value) in &mut fields {
        if *name == "seq" {
            *value = "seven".into();
        }
    }
    let mut pairs = as_pairs(&fields);
    pairs.push((b"volumn", b"1"));
    pairs.push((b"action", b"hold"));
    let errors = TradeSignal::from_fields(&pairs).unwrap_err();
    let fields: Vec<String> = errors.fields().into_iter().collect();
    assert_eq!(fields, ["action", "seq", "strategy", "volumn"], "{errors}");
    assert!(
        errors.to_string().contains("seq: invalid value \"seven\""),
        "{errors}"
    );
}

#[test]
fn from_fields_validates_what_it_decoded() {
    let mut fields = signal_fields();
    for (name, value) in &mut fields {
        if *name == "volume" {
            *value = "NaN".into();
        }
        if *name == "signal_id" {
            *value = "a b".into();
        }
    }
    let errors = TradeSignal::from_fields(&as_pairs(&fields)).unwrap_err();
    let fields: Vec<String> = errors.fields().into_iter().collect();
    assert_eq!(fields, ["signal_id", "volume"], "{errors}");
}

#[test]
fn trade_from_fields_takes_the_ticket_from_the_pairs() {
    let body = std::fs::read(tradestate_mt5_bridge::fixtures_dir().join("valid/trade_open.json"))
        .expect("read fixture");
    let trade = tradestate_mt5_bridge::parse_trade_state(&body).expect("valid fixture");
    let fields = trade.to_fields();
    assert!(fields.contains(&("ticket", trade.ticket.clone())));
    let without_ticket: Vec<_> = fields.into_iter().filter(|(n, _)| *n != "ticket").collect();
    let errors = TradeState::from_fields(&as_pairs(&without_ticket)).unwrap_err();
    assert_eq!(errors.fields().into_iter().collect::<Vec<_>>(), ["ticket"]);
}

fn snapshot(tickets: &str) -> PositionsSnapshot {
    PositionsSnapshot {
        seq: 5,
        time_msc: 1_718_020_800_000,
        tickets: tickets.into(),
    }
}

#[test]
fn a_snapshot_lists_valid_distinct_tickets_up_to_the_limit() {
    assert_eq!(snapshot("").ticket_values(), Vec::<u64>::new());
    assert!(snapshot("").validate().is_ok());
    assert_eq!(
        snapshot("7,18446744073709551615").ticket_values(),
        [7, u64::MAX]
    );
    for bad in [
        "7,",
        ",7",
        "7,,8",
        "7, 8",
        "07",
        "0",
        "7;8",
        "18446744073709551616",
        "7,8,7",
    ] {
        let errors = snapshot(bad).validate().expect_err(bad);
        assert_eq!(
            errors.fields().into_iter().collect::<Vec<_>>(),
            ["tickets"],
            "{bad}: {errors}"
        );
    }
    let twice = snapshot("7,8,7").validate().unwrap_err().to_string();
    assert!(twice.contains("ticket 7 is listed twice"), "{twice}");
    let spaced = snapshot("7, 8").validate().unwrap_err().to_string();
    assert!(spaced.contains("entry 1 of tickets"), "{spaced}");
    assert!(spaced.contains("without spaces"), "{spaced}");

    let most: Vec<String> = (1..=MAX_SNAPSHOT_TICKETS as u64)
        .map(|t| t.to_string())
        .collect();
    assert!(snapshot(&most.join(",")).validate().is_ok());
    let over = format!("{},{}", most.join(","), MAX_SNAPSHOT_TICKETS + 1);
    let errors = snapshot(&over).validate().unwrap_err().to_string();
    assert!(errors.contains("at most 5000"), "{errors}");
}

#[test]
fn snapshot_fields_name_what_is_missing() {
    let errors =
        PositionsSnapshot::from_fields(&[(b"seq", b"1"), (b"time_msc", b"x")]).unwrap_err();
    assert_eq!(
        errors.fields().into_iter().collect::<Vec<_>>(),
        ["tickets", "time_msc"]
    );
    // An empty list is a snapshot of a terminal that holds nothing.
    let empty = PositionsSnapshot::from_fields(&[
        (b"seq", b"1"),
        (b"time_msc", b"1718020800000"),
        (b"tickets", b""),
    ])
    .expect("empty tickets");
    assert_eq!(empty.ticket_values(), Vec::<u64>::new());
}

#[test]
fn trade_types_and_states_read_from_their_wire_names() {
    let body = std::fs::read(tradestate_mt5_bridge::fixtures_dir().join("valid/trade_open.json"))
        .expect("read fixture");
    let mut trade = tradestate_mt5_bridge::parse_trade_state(&body).expect("valid fixture");
    trade.r#type = PositionType::SellStopLimit;
    trade.state = TradeStatus::Pending;
    let fields = trade.to_fields();
    assert!(fields.contains(&("type", "sell_stop_limit".to_owned())));
    assert!(fields.contains(&("state", "pending".to_owned())));
    assert_eq!(TradeState::from_fields(&as_pairs(&fields)), Ok(trade));
    for ty in PositionType::ALL {
        let json = serde_json::to_value(ty).unwrap();
        assert_eq!(json, ty.as_str());
    }
    for state in TradeStatus::ALL {
        let json = serde_json::to_value(state).unwrap();
        assert_eq!(json, state.as_str());
    }
}
