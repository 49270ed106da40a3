//! Tests of the stream store: ID generation, node splits checked against redis-server,
//! XDEL/XTRIM bookkeeping, and property tests against a plain `BTreeMap` model.

use super::node::{lp_str_size, FLAG_DELETED};
use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// `ms-seq`, for this module and the other test modules of the stream.
pub(super) fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

fn fv<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<(&'a [u8], &'a [u8])> {
    pairs
        .iter()
        .map(|(f, v)| (f.as_bytes(), v.as_bytes()))
        .collect()
}

fn ids(s: &Stream) -> Vec<StreamId> {
    s.iter().map(|e| e.id()).collect()
}

fn node_limits(max_bytes: usize, max_entries: usize) -> NodeLimits {
    NodeLimits {
        max_bytes,
        max_entries,
    }
}

fn add(s: &mut Stream, ms: u64, seq: u64, limits: NodeLimits) {
    s.add(id(ms, seq), &fv(&[("f", "v")]), limits).unwrap();
}

// ----- ID generation ---------------------------------------------------

#[test]
fn auto_ids_and_clock() {
    let l = NodeLimits::default();
    let f = fv(&[("f", "v")]);
    let mut s = Stream::new();
    assert_eq!(s.xadd(XaddId::Auto, &f, 1000, l), Ok(id(1000, 0)));
    assert_eq!(s.xadd(XaddId::Auto, &f, 1000, l), Ok(id(1000, 1)));
    // Clock went backwards: keep increasing the seq.
    assert_eq!(s.xadd(XaddId::Auto, &f, 900, l), Ok(id(1000, 2)));
    assert_eq!(s.xadd(XaddId::Auto, &f, 1001, l), Ok(id(1001, 0)));
    // Auto seq.
    assert_eq!(s.xadd(XaddId::AutoSeq(1001), &f, 0, l), Ok(id(1001, 1)));
    assert_eq!(s.xadd(XaddId::AutoSeq(2000), &f, 0, l), Ok(id(2000, 0)));
    assert_eq!(
        s.xadd(XaddId::AutoSeq(1999), &f, 0, l),
        Err(StreamError::XaddIdTooSmall)
    );
    assert_eq!(
        s.xadd(XaddId::Explicit(id(2000, 0)), &f, 0, l),
        Err(StreamError::XaddIdTooSmall)
    );
    assert_eq!(
        s.xadd(XaddId::Explicit(StreamId::MIN), &f, 0, l),
        Err(StreamError::XaddIdZero)
    );
    assert_eq!(
        s.xadd(XaddId::Explicit(id(2000, 5)), &f, 0, l),
        Ok(id(2000, 5))
    );
    assert_eq!(s.len(), 7);
    assert_eq!(s.entries_added(), 7);
    assert_eq!(s.last_id(), id(2000, 5));

    // Seq overflow.
    let mut s = Stream::new();
    s.add(id(5, u64::MAX), &f, l).unwrap();
    assert_eq!(s.next_id(XaddId::Auto, 3), Ok(id(6, 0)));
    assert_eq!(
        s.next_id(XaddId::AutoSeq(5), 3),
        Err(StreamError::XaddIdTooSmall)
    );
    assert_eq!(
        s.next_id(XaddId::AutoSeq(4), 3),
        Err(StreamError::XaddIdTooSmall)
    );
    assert_eq!(s.next_id(XaddId::AutoSeq(6), 3), Ok(id(6, 0)));

    // Last possible ID.
    let mut s = Stream::new();
    s.add(id(u64::MAX, u64::MAX - 1), &f, l).unwrap();
    assert_eq!(s.xadd(XaddId::Auto, &f, 0, l), Ok(StreamId::MAX));
    for spec in [
        XaddId::Auto,
        XaddId::AutoSeq(u64::MAX),
        XaddId::Explicit(StreamId::MAX),
    ] {
        assert_eq!(s.xadd(spec, &f, 0, l), Err(StreamError::Exhausted));
    }
    let mut s = Stream::new();
    s.add(id(u64::MAX, 7), &f, l).unwrap();
    assert_eq!(s.next_id(XaddId::Auto, u64::MAX), Ok(id(u64::MAX, 8)));

    // Empty stream: 0-* gives 0-1; ms-only means seq 0.
    let s = Stream::new();
    assert_eq!(s.next_id(XaddId::AutoSeq(0), 0), Ok(id(0, 1)));
    assert_eq!(s.next_id(XaddId::Auto, 0), Ok(id(0, 1)));
    assert_eq!(s.next_id(XaddId::Auto, 5), Ok(id(5, 0)));
}

// ----- Nodes, delete, trim ---------------------------------------------

#[test]
fn nodes_split_by_entries_and_fields_roundtrip() {
    let l = node_limits(4096, 3);
    let mut s = Stream::new();
    s.add(id(1, 0), &fv(&[("a", "1"), ("b", "2")]), l).unwrap();
    s.add(id(1, 1), &fv(&[("a", "x"), ("b", "")]), l).unwrap(); // same fields
    s.add(id(2, 0), &fv(&[("b", "1"), ("a", "2")]), l).unwrap(); // other order
    s.add(id(3, 7), &fv(&[("", "")]), l).unwrap();
    s.add(id(4, 0), &fv(&[("k", "v"), ("k", "w")]), l).unwrap();
    assert_eq!(s.node_count(), 2);
    s.check_invariants(l);
    let all = s.range(StreamId::MIN, StreamId::MAX, None, false);
    let as_str = |e: &OwnedEntry| {
        e.1.iter()
            .map(|(f, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(f),
                    String::from_utf8_lossy(v)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let got: Vec<String> = all
        .iter()
        .map(|e| format!("{} {}", e.0, as_str(e)))
        .collect();
    assert_eq!(
        got,
        [
            "1-0 a=1,b=2",
            "1-1 a=x,b=",
            "2-0 b=1,a=2",
            "3-7 =",
            "4-0 k=v,k=w"
        ]
    );
    let rev = s.range(StreamId::MIN, StreamId::MAX, Some(2), true);
    assert_eq!(
        rev.iter().map(|e| e.0).collect::<Vec<_>>(),
        [id(4, 0), id(3, 7)]
    );
    assert_eq!(s.first_entry().unwrap().id(), id(1, 0));
    assert_eq!(s.last_entry().unwrap().num_fields(), 2);
    assert!(s.approx_bytes() > 0);
}

/// Listpack byte model: node boundaries match redis-server 7.0.15
/// (XINFO STREAM radix-tree-keys after the same XADDs and configs).
#[test]
fn node_split_by_listpack_bytes() {
    // A fresh node with one entry f=v: header+end 7, count 2, deleted 2,
    // master nfields 2, "f" 3, master terminator 2; entry: flags 2,
    // ms 2, seq 2, "v" 3, lp-count 2 => 29 bytes; each further
    // same-fields entry adds 11.
    let mut s = Stream::new();
    add(&mut s, 1, 0, NodeLimits::default());
    assert_eq!(s.node_summary()[0].3, 29);
    add(&mut s, 1, 1, NodeLimits::default());
    assert_eq!(s.node_summary()[0].3, 40);
    // New node when lp_bytes + len("f") + len("v") >= max_bytes.
    for (max_bytes, nodes) in [(31, 3), (32, 2), (41, 2), (42, 2), (43, 1)] {
        let l = node_limits(max_bytes, 0);
        let mut s = Stream::new();
        for seq in 0..3 {
            add(&mut s, 1, seq, l);
        }
        assert_eq!(s.node_count(), nodes, "max_bytes {max_bytes}");
    }
    // Integer-looking values are stored as integers.
    assert_eq!(lp_str_size(b"127"), 2);
    assert_eq!(lp_str_size(b"128"), 3);
    assert_eq!(lp_str_size(b"-4096"), 3);
    assert_eq!(lp_str_size(b"-4097"), 4);
    assert_eq!(lp_str_size(b"9223372036854775807"), 10);
    assert_eq!(lp_str_size(b"9223372036854775808"), 21);
    assert_eq!(lp_str_size(b"0123"), 6);
    assert_eq!(lp_str_size(&[b'x'; 63]), 65);
    assert_eq!(lp_str_size(&[b'x'; 64]), 67);
    assert_eq!(lp_str_size(&[b'x'; 125]), 128);
    assert_eq!(lp_str_size(&[b'x'; 126]), 130);
    assert_eq!(lp_str_size(&[b'x'; 4096]), 4103);
}

/// Big nodes: the live/deleted counters grow past one-byte listpack
/// integers and deleted entries still count. Node counts observed on
/// redis-server 7.0.15 with the same commands.
#[test]
fn node_split_matches_redis_for_large_nodes() {
    for (max_bytes, nodes) in [(3000, 6), (2000, 9), (1500, 12)] {
        let l = node_limits(max_bytes, 0);
        let mut s = Stream::new();
        for i in 1..=1000u64 {
            let v = (i % 100).to_string();
            s.add(id(1, i), &[(b"f", v.as_bytes())], l).unwrap();
        }
        let dels: Vec<StreamId> = (200..=400).step_by(2).map(|q| id(1, q)).collect();
        assert_eq!(s.delete(&dels), 101);
        for i in 1001..=1500u64 {
            let v = (i * 37).to_string();
            s.add(id(1, i), &[(b"f", v.as_bytes())], l).unwrap();
        }
        assert_eq!((s.len(), s.node_count()), (1399, nodes), "{max_bytes}");
        s.check_invariants(l);
    }
}

#[test]
fn delete_updates_metadata() {
    let l = node_limits(4096, 2);
    let mut s = Stream::new();
    for seq in 1..=5 {
        add(&mut s, 1, seq, l);
    }
    assert_eq!(s.node_count(), 3);
    assert_eq!(s.delete(&[id(1, 1), id(1, 1), id(9, 9)]), 1);
    assert_eq!(s.first_id(), id(1, 2));
    assert_eq!(s.max_deleted_entry_id(), id(1, 1));
    assert_eq!(s.node_count(), 3);
    // Last live entry of a node: the node goes.
    assert_eq!(s.delete(&[id(1, 2)]), 1);
    assert_eq!(s.node_count(), 2);
    assert_eq!(s.delete(&[id(1, 4), id(1, 3)]), 2);
    assert_eq!(s.max_deleted_entry_id(), id(1, 4));
    assert_eq!(s.first_id(), id(1, 5));
    assert_eq!(s.delete(&[id(1, 5)]), 1);
    assert_eq!(
        (s.len(), s.first_id(), s.node_count()),
        (0, StreamId::MIN, 0)
    );
    assert_eq!(s.last_id(), id(1, 5));
    assert_eq!(s.entries_added(), 5);
    s.check_invariants(l);
}

#[test]
fn trim_exact_and_approx() {
    let l = node_limits(4096, 3);
    let build = || {
        let mut s = Stream::new();
        for seq in 1..=10 {
            add(&mut s, 1, seq, l);
        }
        s
    };
    let maxlen = |n, approx, limit| TrimArgs {
        strategy: TrimStrategy::MaxLen(n),
        approx,
        limit,
    };
    let mut s = build();
    assert_eq!(s.trim(maxlen(5, true, 0)), 3);
    assert_eq!(s.len(), 7);
    assert_eq!(s.first_id(), id(1, 4));
    assert_eq!(s.trim(maxlen(5, false, 0)), 2);
    assert_eq!(ids(&s), (6..=10).map(|q| id(1, q)).collect::<Vec<_>>());
    s.check_invariants(l);

    let mut s = build();
    assert_eq!(s.trim(maxlen(0, true, 5)), 3, "limit stops before node 2");
    assert_eq!(s.trim(maxlen(0, true, 0)), 7);
    assert_eq!(
        (s.len(), s.node_count(), s.first_id()),
        (0, 0, StreamId::MIN)
    );

    let minid = |m, approx| TrimArgs {
        strategy: TrimStrategy::MinId(m),
        approx,
        limit: 0,
    };
    let mut s = build();
    assert_eq!(s.trim(minid(id(1, 6), true)), 3);
    assert_eq!(s.trim(minid(id(1, 6), false)), 2);
    assert_eq!(s.first_id(), id(1, 6));
    assert_eq!(s.max_deleted_entry_id(), StreamId::MIN);
    s.check_invariants(l);

    // Redis keeps a node that an exact MINID trim empties
    // (redis-server 7.0.15: radix-tree-keys stays 2).
    let mut s = Stream::new();
    for (ms, seq) in [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)] {
        add(&mut s, ms, seq, l);
    }
    assert_eq!(s.delete(&[id(1, 3)]), 1);
    assert_eq!(s.trim(minid(id(1, 3), false)), 2);
    assert_eq!((s.len(), s.node_count(), s.first_id()), (2, 2, id(2, 1)));
    assert_eq!(s.trim(maxlen(2, true, 100)), 0);
    assert_eq!(s.node_count(), 2);
    s.check_invariants(l);
    // An empty head node goes with the next MAXLEN trim that runs.
    assert_eq!(s.trim(maxlen(1, false, 0)), 1);
    assert_eq!(s.node_count(), 1);
    s.check_invariants(l);
}

// ----- Property tests ---------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Add {
        ms_step: u64,
        seq: u64,
        shape: u8,
    },
    AddBad {
        back: u64,
    },
    AddAuto {
        clock: i64,
        shape: u8,
    },
    AddAutoSeq {
        ms_step: u64,
        shape: u8,
    },
    Del {
        picks: Vec<u16>,
    },
    TrimMaxLen {
        maxlen: u16,
    },
    TrimMinId {
        pick: u16,
    },
    Range {
        a: RangeArg,
        b: RangeArg,
        count: Option<u8>,
        rev: bool,
    },
}

#[derive(Clone, Debug)]
enum RangeArg {
    Min,
    Max,
    Ms { ms: u64, ex: bool },
    Full { ms: u64, seq: u64, ex: bool },
}

impl RangeArg {
    fn text(&self) -> String {
        let p = |ex: &bool| if *ex { "(" } else { "" };
        match self {
            RangeArg::Min => "-".into(),
            RangeArg::Max => "+".into(),
            RangeArg::Ms { ms, ex } => format!("{}{ms}", p(ex)),
            RangeArg::Full { ms, seq, ex } => format!("{}{ms}-{seq}", p(ex)),
        }
    }
}

fn range_arg() -> impl Strategy<Value = RangeArg> {
    prop_oneof![
        1 => Just(RangeArg::Min),
        1 => Just(RangeArg::Max),
        3 => (0u64..40, any::<bool>()).prop_map(|(ms, ex)| RangeArg::Ms { ms, ex }),
        6 => (0u64..40, 0u64..6, any::<bool>())
            .prop_map(|(ms, seq, ex)| RangeArg::Full { ms, seq, ex }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u64..3, 0u64..3, any::<u8>()).prop_map(|(ms_step, seq, shape)| Op::Add { ms_step, seq, shape }),
        1 => (0u64..3).prop_map(|back| Op::AddBad { back }),
        3 => (-3i64..3, any::<u8>()).prop_map(|(clock, shape)| Op::AddAuto { clock, shape }),
        2 => (0u64..2, any::<u8>()).prop_map(|(ms_step, shape)| Op::AddAutoSeq { ms_step, shape }),
        4 => prop::collection::vec(any::<u16>(), 1..4).prop_map(|picks| Op::Del { picks }),
        2 => (0u16..40).prop_map(|maxlen| Op::TrimMaxLen { maxlen }),
        2 => any::<u16>().prop_map(|pick| Op::TrimMinId { pick }),
        6 => (range_arg(), range_arg(), prop::option::of(0u8..8), any::<bool>())
            .prop_map(|(a, b, count, rev)| Op::Range { a, b, count, rev }),
    ]
}

fn limits() -> impl Strategy<Value = NodeLimits> {
    (
        prop_oneof![Just(0usize), 20usize..120, Just(4096)],
        prop_oneof![Just(0usize), 1usize..6, Just(100)],
    )
        .prop_map(|(max_bytes, max_entries)| node_limits(max_bytes, max_entries))
}

fn shape_fields(shape: u8, n: u64) -> Fields {
    let b = |s: &str| s.as_bytes().to_vec();
    let v = format!("v{n}").into_bytes();
    match shape % 7 {
        0 | 1 => vec![(b("f"), v)],
        2 => vec![(b("f"), v), (b("g"), n.to_string().into_bytes())],
        3 => vec![(b("123"), b("-5")), (b(""), b(""))],
        4 => vec![(b("f"), vec![b'x'; (n % 90) as usize])],
        5 => vec![(b("g"), v), (b("f"), b("w"))],
        _ => vec![],
    }
}

struct Model {
    map: BTreeMap<StreamId, Fields>,
    last: StreamId,
    max_deleted: StreamId,
    added: u64,
    clock: u64,
    n: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            map: BTreeMap::new(),
            last: StreamId::MIN,
            max_deleted: StreamId::MIN,
            added: 0,
            clock: 5,
            n: 0,
        }
    }

    /// Fields for the next entry, each entry's distinct.
    fn next_fields(&mut self, shape: u8) -> Fields {
        self.n += 1;
        shape_fields(shape, self.n)
    }

    /// Records an entry the stream accepted.
    fn push(&mut self, id: StreamId, fields: Fields) {
        self.map.insert(id, fields);
        self.last = id;
        self.added += 1;
    }

    fn pick(&self, pick: u16) -> StreamId {
        if self.map.is_empty() || pick.is_multiple_of(5) {
            id(u64::from(pick % 40), u64::from(pick / 40 % 6))
        } else {
            *self.map.keys().nth(pick as usize % self.map.len()).unwrap()
        }
    }
}

fn as_refs(f: &Fields) -> Vec<(&[u8], &[u8])> {
    f.iter()
        .map(|(a, b)| (a.as_slice(), b.as_slice()))
        .collect()
}

fn check_same(s: &Stream, m: &Model, l: NodeLimits) {
    s.check_invariants(l);
    assert_eq!(s.len(), m.map.len() as u64);
    assert_eq!(s.last_id(), m.last);
    assert_eq!(s.max_deleted_entry_id(), m.max_deleted);
    assert_eq!(s.entries_added(), m.added);
    assert_eq!(
        s.first_id(),
        m.map.keys().next().copied().unwrap_or(StreamId::MIN)
    );
    let all: Vec<OwnedEntry> = m.map.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(s.range(StreamId::MIN, StreamId::MAX, None, false), all);
    let rev: Vec<OwnedEntry> = all.into_iter().rev().collect();
    assert_eq!(s.range(StreamId::MIN, StreamId::MAX, None, true), rev);
    assert_eq!(
        s.last_entry().map(|e| e.id()),
        m.map.keys().next_back().copied()
    );
}

fn apply(s: &mut Stream, m: &mut Model, op: &Op, l: NodeLimits) {
    match op {
        Op::Add {
            ms_step,
            seq,
            shape,
        } => {
            let new = if *ms_step == 0 {
                id(m.last.ms, m.last.seq + 1 + seq)
            } else {
                id(m.last.ms + ms_step, *seq)
            };
            let f = m.next_fields(*shape);
            assert_eq!(s.xadd(XaddId::Explicit(new), &as_refs(&f), 0, l), Ok(new));
            m.push(new, f);
        }
        Op::AddBad { back } => {
            let bad = id(m.last.ms.saturating_sub(*back), m.last.seq);
            let f = shape_fields(0, 0);
            let want = if bad.is_zero() {
                StreamError::XaddIdZero
            } else {
                StreamError::XaddIdTooSmall
            };
            assert_eq!(s.xadd(XaddId::Explicit(bad), &as_refs(&f), 0, l), Err(want));
        }
        Op::AddAuto { clock, shape } => {
            m.clock = m.clock.saturating_add_signed(*clock);
            let want = if m.clock > m.last.ms {
                id(m.clock, 0)
            } else {
                id(m.last.ms, m.last.seq + 1)
            };
            let f = m.next_fields(*shape);
            assert_eq!(s.xadd(XaddId::Auto, &as_refs(&f), m.clock, l), Ok(want));
            m.push(want, f);
        }
        Op::AddAutoSeq { ms_step, shape } => {
            let ms = m.last.ms + ms_step;
            let want = if *ms_step == 0 {
                id(ms, m.last.seq + 1)
            } else {
                id(ms, 0)
            };
            let want = if want.is_zero() { id(0, 1) } else { want };
            let f = m.next_fields(*shape);
            assert_eq!(s.xadd(XaddId::AutoSeq(ms), &as_refs(&f), 0, l), Ok(want));
            m.push(want, f);
        }
        Op::Del { picks } => {
            let targets: Vec<StreamId> = picks.iter().map(|p| m.pick(*p)).collect();
            let mut want = 0;
            for t in &targets {
                if m.map.remove(t).is_some() {
                    want += 1;
                    m.max_deleted = m.max_deleted.max(*t);
                }
            }
            assert_eq!(s.delete(&targets), want);
        }
        Op::TrimMaxLen { maxlen } => {
            let maxlen = u64::from(*maxlen);
            let mut want = 0;
            while m.map.len() as u64 > maxlen {
                m.map.pop_first();
                want += 1;
            }
            let args = TrimArgs {
                strategy: TrimStrategy::MaxLen(maxlen),
                approx: false,
                limit: 0,
            };
            assert_eq!(s.trim(args), want);
        }
        Op::TrimMinId { pick } => {
            let min = m.pick(*pick);
            let keep = m.map.split_off(&min);
            let want = m.map.len() as u64;
            m.map = keep;
            let args = TrimArgs {
                strategy: TrimStrategy::MinId(min),
                approx: false,
                limit: 0,
            };
            assert_eq!(s.trim(args), want);
        }
        Op::Range { a, b, count, rev } => {
            let (lo_arg, hi_arg) = (a.text(), b.text());
            let Ok(lo) = parse_range_start(lo_arg.as_bytes()) else {
                return;
            };
            let Ok(hi) = parse_range_end(hi_arg.as_bytes()) else {
                return;
            };
            let count = count.map(usize::from);
            let mut want: Vec<OwnedEntry> = if lo <= hi {
                m.map.range(lo..=hi).map(|(k, v)| (*k, v.clone())).collect()
            } else {
                Vec::new()
            };
            if *rev {
                want.reverse();
            }
            want.truncate(count.unwrap_or(usize::MAX));
            assert_eq!(s.range(lo, hi, count, *rev), want, "{lo_arg} {hi_arg}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn prop_matches_model(l in limits(), ops in prop::collection::vec(op(), 1..80)) {
        let mut s = Stream::new();
        let mut m = Model::new();
        for op in &ops {
            apply(&mut s, &mut m, op, l);
            check_same(&s, &m, l);
        }
    }

    #[test]
    fn prop_approx_trim_removes_whole_nodes(
        l in limits(),
        ops in prop::collection::vec(op(), 1..80),
        maxlen in 0u64..40,
        use_minid in any::<bool>(),
        pick in any::<u16>(),
        limit in prop_oneof![Just(0u64), 1u64..20],
    ) {
        let mut s = Stream::new();
        let mut m = Model::new();
        for op in &ops {
            apply(&mut s, &mut m, op, l);
        }
        let before = s.node_summary();
        let len_before = s.len();
        let min = m.pick(pick);
        let strategy = if use_minid {
            TrimStrategy::MinId(min)
        } else {
            TrimStrategy::MaxLen(maxlen)
        };
        let removed = s.trim(TrimArgs { strategy, approx: true, limit });
        let after = s.node_summary();
        // What remains is an untouched suffix of the old nodes.
        prop_assert!(after.len() <= before.len());
        let gone = &before[..before.len() - after.len()];
        prop_assert_eq!(&before[gone.len()..], &after[..]);
        let gone_live: u64 = gone.iter().map(|n| n.1).sum();
        prop_assert_eq!(removed, gone_live);
        prop_assert_eq!(s.len(), len_before - removed);
        if limit != 0 {
            prop_assert!(removed <= limit);
        }
        match strategy {
            TrimStrategy::MaxLen(n) => prop_assert!(s.len() >= n.min(len_before)),
            TrimStrategy::MinId(min) => {
                let below = m.map.range(..min).count() as u64;
                prop_assert!(removed <= below);
            }
        }
        // Model update: everything below the first remaining node went.
        match after.first() {
            Some((k, ..)) => m.map = m.map.split_off(k),
            None => m.map.clear(),
        }
        check_same(&s, &m, l);
    }
}

/// Test-only views of the internal structure.
impl Stream {
    /// (master id, live, deleted, listpack bytes) per node, for tests.
    #[cfg(test)]
    fn node_summary(&self) -> Vec<(StreamId, u64, u64, usize)> {
        self.nodes
            .iter()
            .map(|(k, n)| (*k, n.live, n.deleted, n.lp_bytes()))
            .collect()
    }

    /// Panics if the internal structure is inconsistent.
    #[cfg(test)]
    fn check_invariants(&self, limits: NodeLimits) {
        let mut live_total = 0;
        let mut prev_last: Option<StreamId> = None;
        for (key, node) in &self.nodes {
            assert_eq!(*key, node.master_id);
            let mut pos = node.entries_off;
            let (mut live, mut deleted, mut first) = (0, 0, true);
            let mut prev: Option<StreamId> = prev_last;
            while pos < node.buf.len() {
                let h = node.header(pos);
                if first {
                    assert_eq!(h.id, *key, "node key is its first entry id");
                    first = false;
                }
                if let Some(p) = prev {
                    assert!(h.id > p, "ids ascending");
                }
                prev = Some(h.id);
                let end = node.entry_end(pos, &h);
                assert_eq!(node.prev_start(end), pos, "backlen");
                if h.flags & FLAG_DELETED != 0 {
                    deleted += 1;
                } else {
                    live += 1;
                }
                pos = end;
            }
            assert_eq!(pos, node.buf.len());
            assert!(!first, "node has entries");
            assert_eq!((live, deleted), (node.live, node.deleted));
            if limits.max_entries != 0 {
                assert!(live + deleted <= limits.max_entries as u64);
            }
            assert_eq!(node.last_id(), prev.unwrap());
            prev_last = prev;
            live_total += live;
        }
        assert_eq!(live_total, self.length);
        if let Some(p) = prev_last {
            assert!(p <= self.last_id);
        }
        let first = self.first_entry().map_or(StreamId::MIN, |e| e.id());
        assert_eq!(self.first_id, first);
    }
}
