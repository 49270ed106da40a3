//! The MQL5 library and the Rust wire encoder cannot drift apart silently. MQL5 cannot be
//! compiled here, so this test reads the `.mqh` sources:
//! - `Wire.mqh`: the field tables (`TS_*_FIELDS`: names, order, types, optional), the number
//!   rule's decimals limit, the signal stream, and the number samples (each must be what
//!   `wire_number` writes; the library checks its own `TsNumber` against the same samples);
//! - `SelfTest.mqh`: the golden JSON/RESP text must be the bytes of `fixtures/wire` and
//!   `fixtures/resp`, and the sample records must set exactly the fixture's fields, with the
//!   setter of the field's type and the fixture's values. In the terminal, `TsSelfTest()` (run
//!   by `CTradestate::Init`) checks that the library turns those samples into the golden text.
//! - `Transport.mqh`: the reply statuses that acknowledge an update (`TS_ACK_STATUSES`) must be
//!   the Rust client's `ACK_STATUSES`, and the HTTP transport must decide with that list.

use std::path::PathBuf;

use tradestate_mt5_bridge::wire::{
    wire_number, wire_values, WireField, WireType, WireValue, INSTANCE_STATE_WIRE, SIGNAL_STREAM,
    TRADE_SIGNAL_WIRE, TRADE_STATE_WIRE, WIRE_MAX_DECIMALS,
};
use tradestate_mt5_bridge::{fixtures_dir, valid_fixtures, ACK_STATUSES};

fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mql5/Include/Tradestate")
}

fn source(name: &str) -> String {
    std::fs::read_to_string(include_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The value of `#define NAME value` (one line).
fn define<'a>(source: &'a str, name: &str) -> &'a str {
    source
        .lines()
        .find_map(|line| line.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("#define {name} not found"))
        .trim()
}

/// MQL5 string literals in `text`, unescaped, in order.
fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut literal = String::new();
        loop {
            match chars.next() {
                Some('"') | None => break,
                Some('\\') => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('r') => literal.push('\r'),
                    Some('t') => literal.push('\t'),
                    Some(other) => literal.push(other),
                    None => break,
                },
                Some(other) => literal.push(other),
            }
        }
        out.push(literal);
    }
    out
}

/// The body of `<signature>` up to its closing `\n  }`.
fn function_body<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source
        .find(signature)
        .unwrap_or_else(|| panic!("{signature} not found"));
    let rest = &source[start..];
    let end = rest.find("\n  }").unwrap_or(rest.len());
    &rest[..end]
}

fn parse_table(spec: &str) -> Vec<(String, String, bool)> {
    spec.split_whitespace()
        .map(|item| {
            let (name, ty) = item.split_once(':').expect("name:type");
            (
                name.to_owned(),
                ty.trim_end_matches('?').to_owned(),
                ty.ends_with('?'),
            )
        })
        .collect()
}

#[test]
fn field_tables_match_the_rust_encoder() {
    let wire = source("Wire.mqh");
    for (define_name, table) in [
        ("TS_INSTANCE_FIELDS", INSTANCE_STATE_WIRE),
        ("TS_TRADE_FIELDS", TRADE_STATE_WIRE),
        ("TS_SIGNAL_FIELDS", TRADE_SIGNAL_WIRE),
    ] {
        let spec = &literals(define(&wire, define_name))[0];
        let mql5 = parse_table(spec);
        let rust: Vec<(String, String, bool)> = table
            .iter()
            .map(|WireField { name, ty, optional }| {
                (name.to_string(), ty.mql5_name().to_owned(), *optional)
            })
            .collect();
        assert_eq!(
            mql5, rust,
            "{define_name} in Wire.mqh differs from mt5-bridge wire.rs (name, type, optional)"
        );
    }
}

#[test]
fn number_rule_and_stream_match() {
    let wire = source("Wire.mqh");
    assert_eq!(
        define(&wire, "TS_NUMBER_MAX_DECIMALS"),
        WIRE_MAX_DECIMALS.to_string()
    );
    assert_eq!(literals(define(&wire, "TS_SIGNAL_STREAM")), [SIGNAL_STREAM]);
    // The rule itself, as written in TsNumber: fewest decimals that read back, zero as "0".
    let rule = function_body(&wire, "string TsNumber(const double value)");
    for needle in [
        "if(value==0.0)",
        "return(\"0\");",
        "for(int decimals=0;decimals<=TS_NUMBER_MAX_DECIMALS;decimals++)",
        "string text=DoubleToString(value,decimals);",
        "if(StringToDouble(text)==value)",
    ] {
        assert!(
            rule.contains(needle),
            "TsNumber no longer contains {needle:?}"
        );
    }
    let array = |name: &str| -> String {
        let start = wire
            .find(&format!("{name}[]"))
            .unwrap_or_else(|| panic!("{name} not found"));
        let rest = &wire[start..];
        rest[rest.find('{').unwrap() + 1..rest.find('}').unwrap()].to_owned()
    };
    let samples: Vec<f64> = array("TS_NUMBER_SAMPLES")
        .split(',')
        .map(|s| s.trim().parse().expect("a double literal"))
        .collect();
    let texts = literals(&array("TS_NUMBER_TEXTS"));
    assert_eq!(samples.len(), texts.len());
    for (sample, text) in samples.iter().zip(&texts) {
        assert_eq!(&wire_number(*sample), text, "sample {sample:?}");
    }
}

#[test]
fn self_test_golden_text_is_the_wire_fixtures() {
    let selftest = source("SelfTest.mqh");
    let wire_dir = fixtures_dir().join("wire");
    let resp_dir = fixtures_dir().join("resp");
    let mut checked = 0;
    for fixture in valid_fixtures().expect("fixtures") {
        let name = &fixture.name;
        let signature = format!("string TsGolden_{name}_json(void)");
        if !selftest.contains(&signature) {
            continue;
        }
        let json = literals(function_body(&selftest, &signature)).concat();
        let expected = std::fs::read_to_string(wire_dir.join(format!("{name}.json"))).unwrap();
        assert_eq!(
            json, expected,
            "{name}: golden JSON (rerun mql5/tools/gen_selftest.py)"
        );
        let resp = literals(function_body(
            &selftest,
            &format!("string TsGolden_{name}_resp(void)"),
        ))
        .concat();
        let expected = std::fs::read_to_string(resp_dir.join(format!("{name}.resp"))).unwrap();
        assert_eq!(
            resp, expected,
            "{name}: golden RESP (rerun mql5/tools/gen_selftest.py)"
        );
        checked += 1;
    }
    assert!(
        checked >= 4,
        "only {checked} golden samples in SelfTest.mqh"
    );
}

#[test]
fn self_test_samples_set_the_fixture_values() {
    let selftest = source("SelfTest.mqh");
    let mut checked = 0;
    for fixture in valid_fixtures().expect("fixtures") {
        let signature = format!("void TsSample_{}(TsRecord &r)", fixture.name);
        if !selftest.contains(&signature) {
            continue;
        }
        let (_, updates) = fixture.updates().expect("valid");
        let calls: Vec<(String, String, String)> = function_body(&selftest, &signature)
            .lines()
            .filter_map(|line| {
                let line = line.trim().strip_prefix("r.")?;
                let (setter, rest) = line.split_once('(')?;
                if setter == "Start" {
                    return None;
                }
                let rest = rest.strip_suffix(");")?;
                let (name, value) = rest.split_once(',')?;
                Some((
                    setter.to_owned(),
                    literals(name)[0].clone(),
                    value.to_owned(),
                ))
            })
            .collect();
        let expected = wire_values(&updates[0]);
        assert_eq!(
            calls.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
            expected.iter().map(|e| e.0).collect::<Vec<_>>(),
            "{}: fields set",
            fixture.name
        );
        for ((setter, name, value), (_, wire)) in calls.iter().zip(&expected) {
            let ok = match wire {
                WireValue::Int(v) => setter == "Int" && value.parse::<i128>() == Ok(*v),
                WireValue::Number(v) => setter == "Num" && value.parse::<f64>() == Ok(*v),
                WireValue::Text(v) => setter == "Text" && literals(value) == [v.clone()],
                WireValue::Bool(v) => {
                    setter == "Bool" && value == if *v { "true" } else { "false" }
                }
            };
            assert!(
                ok,
                "{}: r.{setter}({name:?},{value}) does not set {wire:?}",
                fixture.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} samples in SelfTest.mqh");
}

#[test]
fn setters_write_the_types_of_the_tables() {
    // TsRecord's setters must use the type codes their names say, or a table type would not
    // decide the JSON shape.
    let wire = source("Wire.mqh");
    for (setter, code) in [
        (
            "bool              Int(const string name,const long value)",
            "TS_INT",
        ),
        (
            "bool              UInt(const string name,const ulong value)",
            "TS_INT",
        ),
        (
            "bool              Num(const string name,const double value)",
            "TS_NUM",
        ),
        (
            "bool              Text(const string name,const string value)",
            "TS_TEXT",
        ),
        (
            "bool              Bool(const string name,const bool value)",
            "TS_BOOL",
        ),
    ] {
        let line = wire
            .lines()
            .find(|line| line.contains(setter))
            .unwrap_or_else(|| panic!("setter {setter:?} not found"));
        assert!(line.contains(&format!("Put(name,{code},")), "{line}");
    }
    for (ty, code) in [
        (WireType::Int, "TS_INT"),
        (WireType::Number, "TS_NUM"),
        (WireType::Bool, "TS_BOOL"),
    ] {
        assert!(
            wire.contains(&format!("(type==\"{}\") ? {code}", ty.mql5_name())),
            "TsTableParse maps {} to {code}",
            ty.mql5_name()
        );
    }
}

#[test]
fn acknowledged_statuses_match_the_rust_client() {
    let transport = source("Transport.mqh");
    let listed = literals(define(&transport, "TS_ACK_STATUSES"));
    let mql5: Vec<&str> = listed
        .first()
        .map(|list| list.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        mql5, ACK_STATUSES,
        "TS_ACK_STATUSES in Transport.mqh differs from mt5-bridge ACK_STATUSES"
    );
    let rule = function_body(&transport, "bool TsAcknowledged(const string status)");
    assert!(
        rule.contains("return(StringFind(\" \"+TS_ACK_STATUSES+\" \",\" \"+status+\" \")>=0);"),
        "TsAcknowledged no longer looks the status up as a whole word of TS_ACK_STATUSES"
    );
    // The HTTP transport decides with the list, not with comparisons of its own that could
    // miss a status the list gained.
    let send = function_body(
        &transport,
        "void              Send(const string instance_id,const string &entries[]",
    );
    assert!(
        send.contains("if(TsAcknowledged(statuses[i]))"),
        "TsHttp::Send no longer acknowledges with TsAcknowledged"
    );
    for status in ACK_STATUSES {
        assert!(
            !transport.contains(&format!("==\"{status}\"")),
            "Transport.mqh compares a status with \"{status}\" outside TS_ACK_STATUSES"
        );
    }
}
