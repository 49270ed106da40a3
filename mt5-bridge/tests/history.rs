//! `fixtures/history`: the cases both implementations of `history` run.
//!
//! - every case of `deals.json` through `closed_from_deals` (the expected trade state, or an
//!   error containing `error_contains`), every case of `offsets.json` through
//!   `server_offset_at`;
//! - the MQL5 copy: `TsHistorySelfTest()` runs the same cases in the terminal from
//!   `HistoryFixtures.mqh` (written by `mql5/tools/gen_history_test.py`). MQL5 cannot be compiled
//!   here, so this test parses that file back and fails when its cases differ from the fixture
//!   files, or when its expected JSON is not `wire::update_json` of the expected state;
//! - the interface `History.mqh` promises its callers, and that `TsClosedFromDeals` sets the
//!   trade fields in table order.

mod mql5_text;

use mql5_text::{function_body, literals, source};
use serde::Deserialize;
use tradestate_mt5_bridge::history::{
    closed_from_deals, server_offset_at, Deal, DealEntry, DealSide, DstRule,
};
use tradestate_mt5_bridge::wire::{update_json, TRADE_STATE_WIRE};
use tradestate_mt5_bridge::{fixtures_dir, TradeState, Update};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DealCase {
    name: String,
    ticket: u64,
    position_id: u64,
    digits: u32,
    now_offset_s: i64,
    now_utc_s: i64,
    rule: DstRule,
    deals: Vec<Deal>,
    expected: Option<TradeState>,
    #[serde(default)]
    error_contains: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetCase {
    #[serde(default)]
    note: String,
    now_offset_s: i64,
    now_utc_s: i64,
    at_server_s: i64,
    rule: DstRule,
    expected: i64,
}

fn read_json<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = fixtures_dir().join("history").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn deal_cases() -> Vec<DealCase> {
    read_json("deals.json")
}

fn offset_cases() -> Vec<OffsetCase> {
    read_json("offsets.json")
}

#[test]
fn every_offset_case_holds() {
    let cases = offset_cases();
    assert!(cases.len() >= 20, "only {} offset cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = server_offset_at(
            case.now_offset_s,
            case.now_utc_s,
            case.at_server_s,
            case.rule,
        );
        if got != case.expected {
            failures.push(format!(
                "{} ({case:?}): got {got}, expected {}",
                case.note, case.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for rule in [DstRule::None, DstRule::Us, DstRule::Eu] {
        assert!(
            cases.iter().any(|case| case.rule == rule),
            "no offset case for rule {rule}"
        );
    }
}

#[test]
fn every_deal_case_holds() {
    let cases = deal_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let result = closed_from_deals(
            &case.deals,
            case.ticket,
            case.position_id,
            case.digits,
            case.now_offset_s,
            case.now_utc_s,
            case.rule,
        );
        match (&case.expected, &case.error_contains, result) {
            (Some(expected), None, Ok(state)) => {
                if let Err(errors) = expected.validate() {
                    failures.push(format!(
                        "{}: the expected state is invalid: {errors}",
                        case.name
                    ));
                }
                if &state != expected {
                    failures.push(format!(
                        "{}:\n  got      {}\n  expected {}",
                        case.name,
                        update_json(&Update::Trade(state)),
                        update_json(&Update::Trade(expected.clone()))
                    ));
                }
            }
            (None, Some(words), Err(error)) => {
                if !error.contains(words.as_str()) {
                    failures.push(format!("{}: error {error:?} lacks {words:?}", case.name));
                }
            }
            (None, Some(_), Ok(state)) => failures.push(format!(
                "{}: expected an error, got {}",
                case.name,
                update_json(&Update::Trade(state))
            )),
            (Some(_), None, Err(error)) => failures.push(format!("{}: {error}", case.name)),
            _ => failures.push(format!(
                "{}: a case has either `expected` or `error_contains`",
                case.name
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_deal_cases_cover_the_brief() {
    let cases = deal_cases();
    let names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    for name in [
        "hedging_buy_closed_in_one_deal",
        "hedging_sell_partial_closes",
        "netting_scale_in",
        "netting_reversal_first_leg",
        "netting_reversal_second_leg",
        "hedging_still_open",
        "hedging_close_by",
        "us_dst_switch_between_open_and_close",
        "us_dst_winter_deal_summer_now",
        "eu_dst_open_before_the_switch",
        "rule_none",
    ] {
        assert!(names.contains(&name), "no deal case {name}");
    }
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        assert!(seen.insert(name), "two deal cases named {name}");
    }
    let entries: std::collections::HashSet<DealEntry> = cases
        .iter()
        .flat_map(|case| case.deals.iter().map(|deal| deal.entry))
        .collect();
    assert_eq!(entries.len(), 4, "every DEAL_ENTRY occurs: {entries:?}");
    // The DST cases really cross an offset change: the open and close offsets differ.
    let crossing = cases
        .iter()
        .find(|case| case.name == "us_dst_switch_between_open_and_close")
        .and_then(|case| case.expected.as_ref().map(|e| (case, e)))
        .expect("the US switch case has an expected state");
    let (case, expected) = crossing;
    let open_offset = case.deals[0].time_msc - expected.time_msc;
    let close_offset = case.deals[1].time_msc - expected.time_close_msc.unwrap();
    assert_eq!(close_offset - open_offset, 3_600_000);
}

// ---------------------------------------------------------------------------------------------
// The MQL5 copy of the cases (HistoryFixtures.mqh)
// ---------------------------------------------------------------------------------------------

/// Splits `text` at `separator` outside string literals.
fn split_outside_strings(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == separator {
            parts.push(std::mem::take(&mut current));
        } else {
            if c == '"' {
                in_string = true;
            }
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// The body of `signature` up to its closing `\n  }`, without the signature.
fn body_after<'a>(source: &'a str, signature: &str) -> &'a str {
    &function_body(source, signature)[signature.len()..]
}

fn rule_code(rule: DstRule) -> &'static str {
    match rule {
        DstRule::None => "TS_DST_NONE",
        DstRule::Us => "TS_DST_US",
        DstRule::Eu => "TS_DST_EU",
    }
}

fn entry_code(entry: DealEntry) -> &'static str {
    match entry {
        DealEntry::In => "DEAL_ENTRY_IN",
        DealEntry::Out => "DEAL_ENTRY_OUT",
        DealEntry::InOut => "DEAL_ENTRY_INOUT",
        DealEntry::OutBy => "DEAL_ENTRY_OUT_BY",
    }
}

fn side_code(side: DealSide) -> &'static str {
    match side {
        DealSide::Buy => "DEAL_TYPE_BUY",
        DealSide::Sell => "DEAL_TYPE_SELL",
    }
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> T {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {text:?} is not a number"))
}

/// One `TsHistoryDealSet(c.deals[k],...)` call as a deal.
fn parse_deal_call(call: &str) -> (usize, Deal) {
    let args_text = call
        .strip_prefix("TsHistoryDealSet(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a deal call: {call}"));
    let args = split_outside_strings(args_text, ',');
    assert_eq!(
        args.len(),
        16,
        "TsHistoryDealSet takes 16 arguments: {call}"
    );
    let index: usize = number(
        args[0]
            .trim()
            .strip_prefix("c.deals[")
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or_else(|| panic!("first argument: {}", args[0])),
        "deal index",
    );
    let entry = match args[3].trim() {
        "DEAL_ENTRY_IN" => DealEntry::In,
        "DEAL_ENTRY_OUT" => DealEntry::Out,
        "DEAL_ENTRY_INOUT" => DealEntry::InOut,
        "DEAL_ENTRY_OUT_BY" => DealEntry::OutBy,
        other => panic!("entry {other}"),
    };
    let side = match args[4].trim() {
        "DEAL_TYPE_BUY" => DealSide::Buy,
        "DEAL_TYPE_SELL" => DealSide::Sell,
        other => panic!("type {other}"),
    };
    let text = |i: usize| -> String {
        let found = literals(&args[i]);
        assert_eq!(
            found.len(),
            1,
            "argument {i} of {call} is one string literal"
        );
        found[0].clone()
    };
    let deal = Deal {
        ticket: number(&args[1], "ticket"),
        order: number(&args[2], "order"),
        entry,
        side,
        volume: number(&args[5], "volume"),
        price: number(&args[6], "price"),
        time_msc: number(&args[7], "time_msc"),
        profit: number(&args[8], "profit"),
        swap: number(&args[9], "swap"),
        commission: number(&args[10], "commission"),
        sl: number(&args[11], "sl"),
        tp: number(&args[12], "tp"),
        symbol: text(13),
        magic: number(&args[14], "magic"),
        comment: text(15),
    };
    // Entry and side are written with the MT5 constants the Rust names map to.
    assert_eq!(args[3].trim(), entry_code(deal.entry));
    assert_eq!(args[4].trim(), side_code(deal.side));
    (index, deal)
}

#[test]
fn mql5_offset_cases_are_the_fixture() {
    let fixtures = source("HistoryFixtures.mqh");
    let start = fixtures
        .find("long TS_HISTORY_OFFSET_CASES[]=")
        .expect("TS_HISTORY_OFFSET_CASES in HistoryFixtures.mqh");
    let rest = &fixtures[start..];
    let body = &rest[rest.find('{').unwrap() + 1..rest.find('}').unwrap()];
    let values: Vec<String> = body.split(',').map(|v| v.trim().to_owned()).collect();
    let cases = offset_cases();
    assert_eq!(
        values.len(),
        cases.len() * 5,
        "TS_HISTORY_OFFSET_CASES has 5 values per case of offsets.json (rerun mql5/tools/gen_history_test.py)"
    );
    for (i, (row, case)) in values.chunks(5).zip(&cases).enumerate() {
        let expected = [
            case.now_offset_s.to_string(),
            case.now_utc_s.to_string(),
            case.at_server_s.to_string(),
            rule_code(case.rule).to_owned(),
            case.expected.to_string(),
        ];
        assert_eq!(
            row,
            &expected[..],
            "offset case {i} ({}) differs from offsets.json (rerun mql5/tools/gen_history_test.py)",
            case.note
        );
    }
}

#[test]
fn mql5_deal_cases_are_the_fixture() {
    let fixtures = source("HistoryFixtures.mqh");
    let cases = deal_cases();
    assert!(
        fixtures.contains(&format!("#define TS_HISTORY_DEAL_CASES {}\n", cases.len())),
        "TS_HISTORY_DEAL_CASES is not {} (rerun mql5/tools/gen_history_test.py)",
        cases.len()
    );
    let dispatch = body_after(
        &fixtures,
        "bool TsHistoryCaseLoad(const int index,TsHistoryCase &c)",
    );
    for (index, case) in cases.iter().enumerate() {
        let rerun = format!("{}: rerun mql5/tools/gen_history_test.py", case.name);
        assert!(
            dispatch.contains(&format!(
                "case {index}: TsHistoryCase_{index}(c); return(true);"
            )),
            "{rerun}: TsHistoryCaseLoad misses case {index}"
        );
        let body = body_after(
            &fixtures,
            &format!("void TsHistoryCase_{index}(TsHistoryCase &c)\n  {{"),
        );
        let mut deals: Vec<Option<Deal>> = Vec::new();
        let mut fields = std::collections::BTreeMap::new();
        for statement in split_outside_strings(body, ';') {
            let statement = statement.trim();
            if statement.is_empty() {
                continue;
            }
            if let Some(size) = statement
                .strip_prefix("ArrayResize(c.deals,")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                deals = vec![None; number(size, "deal count")];
            } else if statement.starts_with("TsHistoryDealSet(") {
                let (k, deal) = parse_deal_call(statement);
                assert!(k < deals.len(), "{rerun}: deal {k} beyond ArrayResize");
                assert!(deals[k].is_none(), "{rerun}: deal {k} set twice");
                deals[k] = Some(deal);
            } else if let Some((name, value)) = statement
                .strip_prefix("c.")
                .and_then(|rest| rest.split_once('='))
            {
                fields.insert(name.to_owned(), value.trim().to_owned());
            } else {
                panic!("{rerun}: unexpected statement {statement:?}");
            }
        }
        let field = |name: &str| -> &str {
            fields
                .get(name)
                .unwrap_or_else(|| panic!("{rerun}: c.{name} not set"))
        };
        let text = |name: &str| -> String { literals(field(name)).concat() };
        assert_eq!(text("name"), case.name, "{rerun}");
        assert_eq!(field("ticket"), case.ticket.to_string(), "{rerun}: ticket");
        assert_eq!(
            field("position_id"),
            case.position_id.to_string(),
            "{rerun}: position_id"
        );
        assert_eq!(field("digits"), case.digits.to_string(), "{rerun}: digits");
        assert_eq!(
            field("now_offset_s"),
            case.now_offset_s.to_string(),
            "{rerun}: now_offset_s"
        );
        assert_eq!(
            field("now_utc_s"),
            case.now_utc_s.to_string(),
            "{rerun}: now_utc_s"
        );
        assert_eq!(field("rule"), rule_code(case.rule), "{rerun}: rule");
        let deals: Vec<Deal> = deals
            .into_iter()
            .enumerate()
            .map(|(k, deal)| deal.unwrap_or_else(|| panic!("{rerun}: deal {k} not set")))
            .collect();
        assert_eq!(deals, case.deals, "{rerun}: deals");
        let expected_json = case
            .expected
            .as_ref()
            .map(|state| update_json(&Update::Trade(state.clone())))
            .unwrap_or_default();
        assert_eq!(
            text("expected"),
            expected_json,
            "{rerun}: expected JSON is not wire::update_json of the expected state"
        );
        assert_eq!(
            text("error_contains"),
            case.error_contains.clone().unwrap_or_default(),
            "{rerun}: error_contains"
        );
        assert_eq!(fields.len(), 9, "{rerun}: fields set: {fields:?}");
    }
    assert!(
        !fixtures.contains(&format!("void TsHistoryCase_{}(", cases.len())),
        "HistoryFixtures.mqh has more cases than deals.json (rerun mql5/tools/gen_history_test.py)"
    );
}

#[test]
fn history_mqh_keeps_its_interface() {
    let history = source("History.mqh");
    for line in [
        "#define TS_DST_NONE 0",
        "#define TS_DST_US 1",
        "#define TS_DST_EU 2",
        "long TsServerOffsetAt(const long now_offset_s,const long now_utc_s,const long at_server_s,const int rule)",
        "bool TsClosedFromDeals(const TsDeal &deals[],const int count,const ulong ticket,const long position_id,const int digits,const long now_offset_s,const long now_utc_s,const int dst_rule,TsRecord &record)",
        "bool TsHistorySelfTest(string &report)",
        "#include \"Wire.mqh\"",
        "#include \"HistoryFixtures.mqh\"",
    ] {
        assert!(history.contains(line), "History.mqh lacks {line:?}");
    }
    // The rule codes are the order of DstRule's variants.
    for (code, rule) in [(0, DstRule::None), (1, DstRule::Us), (2, DstRule::Eu)] {
        assert!(history.contains(&format!("#define {} {code}\n", rule_code(rule))));
    }
    // TsDeal's members, in order.
    let deal = body_after(&history, "struct TsDeal\n  {");
    let members: Vec<(String, String)> = deal
        .lines()
        .filter_map(|line| {
            let code = line.split("//").next()?.trim().strip_suffix(';')?;
            let mut words = code.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("ulong", "ticket"),
        ("ulong", "order"),
        ("long", "entry"),
        ("long", "type"),
        ("double", "volume"),
        ("double", "price"),
        ("long", "time_msc"),
        ("double", "profit"),
        ("double", "swap"),
        ("double", "commission"),
        ("double", "sl"),
        ("double", "tp"),
        ("string", "symbol"),
        ("long", "magic"),
        ("string", "comment"),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), n.to_string()))
    .collect();
    assert_eq!(members, expected, "struct TsDeal");
}

#[test]
fn closed_from_deals_sets_the_trade_fields_in_table_order() {
    let history = source("History.mqh");
    let body = function_body(&history, "bool TsClosedFromDeals(");
    let set: Vec<String> = body
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("record.")?;
            let (setter, args) = rest.split_once('(')?;
            if !["Int", "Num", "Text", "UInt", "Bool"].contains(&setter) {
                return None;
            }
            literals(args).into_iter().next()
        })
        .collect();
    let table: Vec<String> = TRADE_STATE_WIRE
        .iter()
        .map(|field| field.name.to_owned())
        .filter(|name| {
            // seq is the queue's; the closed record sets every other field of a closed trade.
            name != "seq" && set.contains(name)
        })
        .collect();
    assert_eq!(
        set, table,
        "TsClosedFromDeals sets fields out of table order"
    );
    for name in TRADE_STATE_WIRE
        .iter()
        .map(|field| field.name)
        .filter(|&name| name != "seq")
    {
        assert!(
            set.iter().any(|s| s == name),
            "TsClosedFromDeals does not set {name}"
        );
    }
}
