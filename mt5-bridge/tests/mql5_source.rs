//! The MQL5 library and the Rust side cannot drift apart silently. MQL5 cannot be compiled here,
//! so this test reads the `.mqh` / `.mq5` sources:
//! - `Wire.mqh`: the field tables (`TS_*_FIELDS`: names, order, types, optional, the positions
//!   snapshot's included), the number rule's decimals limit, the signal stream, the number
//!   samples (each must be what `wire_number` writes), that `TsNumber` and the setters give NaN
//!   and infinities no wire form, the contract limits, the signal actions and the trade types and
//!   states;
//! - `SelfTest.mqh`: the golden JSON/RESP text must be the bytes of `fixtures/wire` and
//!   `fixtures/resp`, and the sample records must set exactly the fixture's fields, with the
//!   setter of the field's type and the fixture's values. In the terminal, `TsSelfTest()` (run
//!   by `CTradestate::Init`) checks that the library turns those samples into the golden text.
//! - `Transport.mqh`: the reply statuses that acknowledge an update (`TS_ACK_STATUSES`) must be
//!   the Rust client's `ACK_STATUSES`, the HTTP transport must decide with that list, and the
//!   RESP transport must never wait (no `Sleep`, no blocking `SocketRead`); both forms of
//!   `renumber_above` (HTTP field, RESP3 push) reach the batch and `Tradestate.mqh` numbers past
//!   it and resyncs, the close lookback included;
//! - `Queue.mqh` / `Lane.mqh` against `CLIENT.md`: the queue log header and version, the lane
//!   file names, `SEQ_BLOCK`, the compaction threshold, the clock floor of `seq`;
//! - `Collect.mqh` / `Positions.mqh`: order types, History.mqh in use, no `TimeCurrent()` bound;
//! - `Services/TradestateService.mq5`: a service that runs the library in a loop.

mod mql5_text;

use std::path::PathBuf;

use mql5_text::{function_body, include_dir, literals, mql5_dir, source};
use tradestate_mt5_bridge::wire::{
    wire_number, wire_values, WireField, WireType, WireValue, INSTANCE_STATE_WIRE, POSITIONS_WIRE,
    SIGNAL_STREAM, TRADE_SIGNAL_WIRE, TRADE_STATE_WIRE, WIRE_MAX_DECIMALS,
};
use tradestate_mt5_bridge::{
    fixtures_dir, valid_fixtures, PositionType, SignalAction, TradeStatus, ACK_STATUSES,
    MAX_ID_LEN, MAX_SNAPSHOT_TICKETS, MAX_STRING_LEN, SIGNAL_ID_PATTERN,
};

fn client_md() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("CLIENT.md"))
        .expect("CLIENT.md")
}

/// Every `.mqh` of the library and every program, as (name, text).
fn all_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [
        include_dir(),
        mql5_dir().join("Experts"),
        mql5_dir().join("Services"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "mqh" || ext == "mq5" {
                let text = std::fs::read_to_string(&path).expect("source");
                out.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    text,
                ));
            }
        }
    }
    out
}

/// The words of a `#define NAME "a b c"` list.
fn define_words(source: &str, name: &str) -> Vec<String> {
    literals(define(source, name))[0]
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The number of `#define NAME <n>`.
fn define_number(source: &str, name: &str) -> u64 {
    define(source, name)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("#define {name} is not a number"))
}

/// The value of `#define NAME value` (one line).
fn define<'a>(source: &'a str, name: &str) -> &'a str {
    source
        .lines()
        .find_map(|line| line.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("#define {name} not found"))
        .trim()
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
        ("TS_POSITIONS_FIELDS", POSITIONS_WIRE),
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
            "{define_name} in Wire.mqh differs from the mt5-bridge wire table (declared in src/fields.rs; name, type, optional)"
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
    let read = function_body(
        &transport,
        "void              ReadReply(const int status,const string reply,const string headers,TsBatch &batch)",
    );
    assert!(
        read.contains("if(TsAcknowledged(statuses[i]))"),
        "TsHttp::ReadReply no longer acknowledges with TsAcknowledged"
    );
    for status in ACK_STATUSES {
        assert!(
            !transport.contains(&format!("==\"{status}\"")),
            "Transport.mqh compares a status with \"{status}\" outside TS_ACK_STATUSES"
        );
    }
}

#[test]
fn non_finite_numbers_have_no_wire_form() {
    let wire = source("Wire.mqh");
    let rule = function_body(&wire, "string TsNumber(const double value)");
    assert!(
        rule.contains("if(!MathIsValidNumber(value))\n      return(\"\");"),
        "TsNumber must return \"\" for NaN and infinities"
    );
    for literal in literals(rule) {
        let lower = literal.to_lowercase();
        assert!(
            !lower.contains("nan") && !lower.contains("inf"),
            "TsNumber writes {literal:?}"
        );
    }
    // The setter refuses the number, so the record is never queued (Complete() sees the error).
    let num = wire
        .lines()
        .find(|line| line.contains("bool              Num(const string name,const double value)"))
        .expect("Num setter");
    assert!(
        num.contains("MathIsValidNumber(value) ? Put(name,TS_NUM,TsNumber(value)) : Refuse("),
        "{num}"
    );
    let complete = function_body(&wire, "bool              Complete(void)");
    assert!(
        complete.contains("if(error!=\"\")"),
        "Complete() ignores setter errors"
    );
}

#[test]
fn limits_actions_types_and_states_match_the_contract() {
    let wire = source("Wire.mqh");
    for (define_name, limit) in [
        ("TS_MAX_STRING_LEN", MAX_STRING_LEN),
        ("TS_MAX_ID_LEN", MAX_ID_LEN),
        ("TS_SNAPSHOT_MAX_TICKETS", MAX_SNAPSHOT_TICKETS),
    ] {
        assert_eq!(
            define_number(&wire, define_name),
            limit as u64,
            "{define_name}"
        );
    }
    // SIGNAL_ID_PATTERN is ^[A-Za-z0-9<extra>]{1,<max>}$
    let extra = literals(define(&wire, "TS_SIGNAL_ID_EXTRA"))[0].clone();
    assert_eq!(
        SIGNAL_ID_PATTERN,
        format!("^[A-Za-z0-9{extra}]{{1,{MAX_ID_LEN}}}$"),
        "TS_SIGNAL_ID_EXTRA differs from SIGNAL_ID_PATTERN"
    );
    let actions: Vec<&str> = [SignalAction::Buy, SignalAction::Sell, SignalAction::Close]
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(define_words(&wire, "TS_SIGNAL_ACTIONS"), actions);
    let types: Vec<&str> = PositionType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(define_words(&wire, "TS_TRADE_TYPES"), types);
    let states: Vec<&str> = TradeStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(define_words(&wire, "TS_TRADE_STATES"), states);

    // Signal() checks with these, and returns -1 with LastError() rather than queueing.
    let lib = source("Tradestate.mqh");
    let signal = &lib[lib.find("long              Signal(").expect("Signal()")..];
    for needle in [
        "TsWordIn(action,TS_SIGNAL_ACTIONS)",
        "StringLen(strategy)>TS_MAX_STRING_LEN",
        "StringLen(symbol)>TS_MAX_STRING_LEN",
        "!TsValidSignalId(signal_id)",
        "StringLen(comment)>TS_MAX_STRING_LEN",
        "(!MathIsValidNumber(volume) || volume<=0.0)",
        "return(-1);",
    ] {
        assert!(
            signal.contains(needle),
            "Signal() no longer checks {needle}"
        );
    }
    let config = source("Config.mqh");
    let valid = function_body(&config, "bool TsValidSignalId(const string id)");
    assert!(valid.contains("TS_SIGNAL_ID_EXTRA") && valid.contains("TS_MAX_ID_LEN"));

    // Every pending order type maps to its contract name (ORDER_TYPE_*, lower case).
    let collect = source("Collect.mqh");
    let mapping = function_body(&collect, "string TsOrderTypeName(const long type)");
    let mut mapped = Vec::new();
    let mut lines = mapping.lines();
    while let Some(line) = lines.next() {
        let Some(constant) = line.trim().strip_prefix("case ORDER_TYPE_") else {
            continue;
        };
        let constant = constant.trim_end_matches(':').to_lowercase();
        let name = literals(lines.next().expect("return"))[0].clone();
        assert_eq!(name, constant, "ORDER_TYPE_{constant} maps to {name:?}");
        mapped.push(name);
    }
    let orders: Vec<&str> = PositionType::ALL
        .iter()
        .filter(|t| t.is_order())
        .map(|t| t.as_str())
        .collect();
    assert_eq!(mapped, orders, "TsOrderTypeName maps every order type");
}

#[test]
fn queue_files_follow_client_md() {
    let doc = client_md();
    let queue = source("Queue.mqh");
    let lane = source("Lane.mqh");

    // The header line, built by TsQueueHeader with TS_QUEUE_VERSION.
    let start = doc
        .find("`{\"tradestate_queue\":")
        .expect("header in CLIENT.md")
        + 1;
    let header = &doc[start..start + doc[start..].find('`').unwrap()];
    let version = define_number(&queue, "TS_QUEUE_VERSION");
    let parts = literals(function_body(
        &queue,
        "string TsQueueHeader(const string instance_id,const string lane)",
    ));
    assert_eq!(parts.len(), 4, "TsQueueHeader: {parts:?}");
    let built = format!(
        "{}{version}{}\"<id>\"{}\"<lane>\"{}",
        parts[0], parts[1], parts[2], parts[3]
    );
    assert_eq!(built, header, "the queue header differs from CLIENT.md");

    // The lane files: <id>.<lane>.<suffix> in CLIENT.md's table, TS_FILE_* in Lane.mqh.
    let mut documented: Vec<String> = doc
        .match_indices("`<id>.<lane>.")
        .map(|(at, m)| {
            let rest = &doc[at + m.len()..];
            format!(".{}", &rest[..rest.find('`').unwrap()])
        })
        .collect();
    documented.sort();
    documented.dedup();
    let mut defined: Vec<String> = [
        "TS_FILE_LOCK",
        "TS_FILE_LOG",
        "TS_FILE_SEQ",
        "TS_FILE_OPEN",
        "TS_FILE_DEAD",
    ]
    .iter()
    .map(|name| literals(define(&lane, name))[0].clone())
    .collect();
    defined.sort();
    assert_eq!(defined, documented, "lane file names");
    for (name, file) in [("TS_LEGACY_QUEUE", "queue"), ("TS_LEGACY_SEQ", "seq")] {
        assert!(doc.contains(&format!("`<id>.{file}`")));
        assert_eq!(literals(define(&lane, name)), [format!(".{file}")]);
    }
    // The lock is held open without share flags.
    let take = function_body(
        &lane,
        "bool              Take(const string instance_id,const string lane,string &why)",
    );
    assert!(
        take.contains("FileOpen(m_path,FILE_WRITE|FILE_BIN);"),
        "the lock must be opened without FILE_SHARE_*"
    );

    // SEQ_BLOCK, the compaction threshold, the clock floor, the .seq and .dead formats.
    assert!(doc.contains("`SEQ_BLOCK` (1000)"));
    assert_eq!(define_number(&queue, "TS_SEQ_BLOCK"), 1000);
    assert_eq!(
        define_number(&queue, "TS_SEQ_JUMP_MARGIN"),
        tradestate_mt5_bridge::SEQ_JUMP_MARGIN
    );
    assert!(doc.contains("the live ones and 1,000"));
    assert_eq!(define_number(&queue, "TS_COMPACT_MIN_DONE"), 1000);
    assert!(doc.contains("`TimeGMT()*1000000`"));
    assert!(function_body(&queue, "long TsClockSeq(void)").contains("(long)TimeGMT()*1000000"));
    let open = function_body(&queue, "bool              Open(const string instance_id,const string lane,const int max_items,string &why)");
    assert!(open.contains("m_next_seq=MathMax(MathMax(reserved+1,queued_max+1),TsClockSeq());"));
    let seq_file = function_body(
        &queue,
        "bool              WriteSeqFile(const long reserved)",
    );
    assert!(seq_file.contains("\"reserved=\"") && seq_file.contains("\"\\nlogin=\""));
    assert!(queue.contains("\"{\\\"done\\\":[\""), "done lines");
    assert!(
        queue.contains(
            "\"{\\\"reason\\\":\"+TsJsonQuote(reason)+\",\\\"update\\\":\"+m_lines[slot]+\"}\""
        ),
        "dead lines"
    );
}

#[test]
fn resp_never_waits_and_history_is_bounded_by_trade_server_time() {
    let transport = source("Transport.mqh");
    assert!(
        !transport.contains("Sleep("),
        "Transport.mqh must not Sleep"
    );
    for (at, _) in transport.match_indices("SocketRead(") {
        let call = &transport[at..at + transport[at..].find(';').unwrap()];
        assert!(
            call.ends_with(",1)"),
            "SocketRead with a long timeout: {call}"
        );
    }
    // The stale push maps to the reply after it; positions go to rts:{<id>}:positions.
    assert!(transport.contains("reply.push==TS_PUSH_STALE"));
    assert_eq!(literals(define(&transport, "TS_PUSH_STALE")), ["stale"]);
    let wire = source("Wire.mqh");
    assert!(wire.contains("return(\"rts:{\"+instance_id+\"}:positions\");"));
    for (name, text) in all_sources() {
        assert!(
            !text.contains("TimeCurrent()"),
            "{name} uses TimeCurrent(), which stops at the last tick: use TimeTradeServer()"
        );
    }
}

/// The body of the class method `<signature>`, up to its closing brace (five spaces in).
fn method_body<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source
        .find(signature)
        .unwrap_or_else(|| panic!("{signature} not found"));
    let rest = &source[start..];
    let end = rest
        .find("\n     }\n")
        .unwrap_or_else(|| panic!("{signature}: no closing brace"));
    &rest[..end]
}

/// CLIENT.md "Sequence numbers": a state answered `spooled` and dropped when the gateway wrote
/// it is announced once, HTTP `"renumber_above": <seq>` at the top of the reply, RESP3 the push
/// `>2 "renumber" :<seq>`. Both forms reach the batch result, and the library numbers past the
/// seq (`JumpPast`, as for a stale answer) and resyncs, the close lookback included.
#[test]
fn renumber_above_is_read_in_both_forms_and_acted_on() {
    let client = client_md();
    assert!(
        client.contains("\"renumber_above\": <seq>") && client.contains(">2 \"renumber\" :<seq>"),
        "CLIENT.md no longer describes renumber_above and the renumber push as this test expects"
    );
    let transport = source("Transport.mqh");
    let read = method_body(
        &transport,
        "void              ReadReply(const int status,const string reply,const string headers,TsBatch &batch)",
    );
    let field = read
        .find("json.Integer(0,\"renumber_above\",-1)")
        .expect("TsHttp::ReadReply reads the top-level renumber_above");
    // Read for every reply with a JSON body, before the branches that return.
    let first_return = read.find("return;").expect("ReadReply returns");
    assert!(
        field < first_return,
        "renumber_above must be read before ReadReply's first return"
    );
    assert!(read.contains("batch.renumber_above=MathMax(batch.renumber_above,"));
    assert_eq!(
        literals(define(&transport, "TS_PUSH_RENUMBER")),
        ["renumber"]
    );
    let poll = method_body(&transport, "bool              Poll(TsBatch &batch)");
    assert!(
        poll.contains("reply.push==TS_PUSH_RENUMBER")
            && poll
                .contains("batch.renumber_above=MathMax(batch.renumber_above,reply.push_number)"),
        "TsResp::Poll does not take the renumber push into the batch"
    );
    let clear = method_body(&transport, "void              Clear(void)");
    assert!(
        clear.contains("renumber_above=-1;"),
        "TsBatch::Clear must reset renumber_above"
    );

    let lib = source("Tradestate.mqh");
    let finish = method_body(&lib, "bool              Finish(void)");
    let acted = finish
        .find("Renumber(m_batch.renumber_above);")
        .expect("Finish acts on renumber_above");
    // Before any early return, so that a hint read from a batch that then failed still counts.
    assert!(
        finish[..acted].matches("return(").count() == 0,
        "Finish returns before it acts on renumber_above"
    );
    let renumber = method_body(&lib, "void              Renumber(const long above)");
    for needle in ["m_queue.JumpPast(above);", "Resync();", "PrintFormat("] {
        assert!(renumber.contains(needle), "Renumber lacks {needle}");
    }
    let resync = method_body(&lib, "void              Resync(void)");
    assert!(
        resync.contains("m_lookback=0;"),
        "Resync must run the close lookback again (a dropped close is not in the open-ticket file)"
    );
    let report = method_body(&lib, "void              ReportState(const ulong deadline)");
    assert!(report.contains("if(m_lookback==0)") && report.contains("StartLookback("));
}

#[test]
fn closes_come_from_history_mqh() {
    let collect = source("Collect.mqh");
    assert!(collect.contains("#include \"History.mqh\""));
    assert!(collect.contains("HistorySelectByPosition(position_id)"));
    assert!(collect.contains("TsClosedFromDeals(deals,n,ticket,position_id,digits,"));
    let lib = source("Tradestate.mqh");
    let init = function_body(&lib, "bool              Init(const TsConfig &cfg)");
    assert!(init.contains("TsSelfTest(report)") && init.contains("TsHistorySelfTest(report)"));
    assert!(
        init.contains("Reset();"),
        "Init must reset the object (it outlives an account switch)"
    );
}

#[test]
fn the_service_runs_the_library() {
    let path = mql5_dir().join("Services/TradestateService.mq5");
    let service = std::fs::read_to_string(&path).expect("Services/TradestateService.mq5");
    for needle in [
        "#property service",
        "#include <Tradestate\\Tradestate.mqh>",
        "void OnStart()",
        "config.use_timer=false;",
        "while(!IsStopped())",
        "Tradestate.OnTimer();",
        "Sleep(",
        "Tradestate.Deinit();",
    ] {
        assert!(service.contains(needle), "the service lacks {needle}");
    }
    let example = std::fs::read_to_string(mql5_dir().join("Experts/TradestateSignalsExample.mq5"))
        .expect("signals example");
    assert!(example.contains("config.report_state=false;"));
}
