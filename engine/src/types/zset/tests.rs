//! Tests of [`Zset`] in both encodings: ZADD semantics, conversions, ranges,
//! removals, ZSCAN, a model-based property test and a million-member run.

use super::*;
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap as StdMap, HashSet};

// -- helpers -----------------------------------------------------------

impl Zset {
    /// Structural checks: order, both iteration directions, byte
    /// accounting, and for the skiplist: the index and the list's own.
    fn check_invariants(&self) {
        let items: Vec<(Vec<u8>, f64)> = self.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(items.len(), self.len());
        for w in items.windows(2) {
            assert!(
                before(w[0].1, &w[0].0, w[1].1, &w[1].0),
                "order broken: {w:?}"
            );
        }
        let mut rev: Vec<(Vec<u8>, f64)> =
            self.iter().rev().map(|(m, s)| (m.to_vec(), s)).collect();
        rev.reverse();
        assert_eq!(bits(&rev), bits(&items));
        assert_eq!(
            self.member_bytes,
            items.iter().map(|e| e.0.len()).sum::<usize>()
        );
        if let Repr::Skiplist(l) = &self.repr {
            let sl = &l.list;
            assert_eq!(l.index.len(), sl.len);
            for (m, s) in &items {
                assert_eq!(l.index.get(&m[..]).map(|v| v.to_bits()), Some(s.to_bits()));
            }
            sl.check_invariants();
        }
    }

    fn items(&self) -> Vec<(Vec<u8>, u64)> {
        self.iter()
            .map(|(m, s)| (m.to_vec(), s.to_bits()))
            .collect()
    }
}

fn bits(v: &[(Vec<u8>, f64)]) -> Vec<(Vec<u8>, u64)> {
    v.iter().map(|(m, s)| (m.clone(), s.to_bits())).collect()
}

fn owned(v: Vec<(&[u8], f64)>) -> Vec<(Vec<u8>, u64)> {
    v.into_iter()
        .map(|(m, s)| (m.to_vec(), s.to_bits()))
        .collect()
}

fn add(z: &mut Zset, m: &str, s: f64) -> ZaddOutcome {
    z.insert_or_update(
        m.as_bytes(),
        s,
        ZaddFlags::default(),
        &ZsetLimits::default(),
    )
    .unwrap()
}

/// ZADD flags from their names, space-separated ("xx gt incr"; "" for none).
fn zflags(words: &str) -> ZaddFlags {
    let has = |w: &str| words.split_whitespace().any(|x| x == w);
    ZaddFlags {
        nx: has("nx"),
        xx: has("xx"),
        gt: has("gt"),
        lt: has("lt"),
        incr: has("incr"),
    }
}

fn names(v: Vec<(&[u8], f64)>) -> Vec<String> {
    v.into_iter()
        .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
        .collect()
}

fn sr(min: &str, max: &str) -> ScoreRange {
    ScoreRange::parse(min.as_bytes(), max.as_bytes()).unwrap()
}

fn lr(min: &str, max: &str) -> LexRange {
    LexRange::parse(min.as_bytes(), max.as_bytes()).unwrap()
}

/// The same small set in both encodings.
fn both(pairs: &[(f64, &str)]) -> [Zset; 2] {
    let mut a = Zset::new();
    for &(s, m) in pairs {
        add(&mut a, m, s);
    }
    assert!(a.is_listpack());
    let mut b = a.clone();
    b.convert_to_skiplist();
    assert_eq!(b.encoding_name(), "skiplist");
    b.check_invariants();
    [a, b]
}

fn lim(offset: usize, count: usize) -> Limit {
    Limit {
        offset,
        count: Some(count),
    }
}

// -- LIMIT and rank normalisation --------------------------------------

#[test]
fn limit_and_rank_normalisation() {
    assert_eq!(Limit::from_redis(-1, 5), None);
    assert_eq!(Limit::from_redis(0, -1), Some(Limit::ALL));
    assert_eq!(Limit::from_redis(2, 3), Some(lim(2, 3)));
    assert_eq!(normalize_rank_range(0, -1, 5), Some((0, 4)));
    assert_eq!(normalize_rank_range(-100, 100, 5), Some((0, 4)));
    assert_eq!(normalize_rank_range(-2, -1, 5), Some((3, 4)));
    assert_eq!(normalize_rank_range(3, 1, 5), None);
    assert_eq!(normalize_rank_range(5, 10, 5), None);
    assert_eq!(normalize_rank_range(0, -6, 5), None);
    assert_eq!(normalize_rank_range(0, -1, 0), None);
    assert_eq!(normalize_rank_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
}

// -- ZADD semantics ----------------------------------------------------

#[test]
fn zadd_flags() {
    let l = ZsetLimits::default();
    for enc in 0..2 {
        let mut z = Zset::new();
        if enc == 1 {
            z.convert_to_skiplist();
        }
        // (member, score, flags, expected outcome)
        let steps = [
            ("a", 1.0, "xx", Ok(ZaddOutcome::Skipped)),
            ("a", 1.0, "nx", Ok(ZaddOutcome::Added(1.0))),
            ("a", 5.0, "nx", Ok(ZaddOutcome::Skipped)),
            ("a", 5.0, "nx incr", Ok(ZaddOutcome::Skipped)),
            ("a", 1.0, "", Ok(ZaddOutcome::Unchanged(1.0))),
            ("a", 0.5, "gt", Ok(ZaddOutcome::Skipped)),
            ("a", 1.0, "gt", Ok(ZaddOutcome::Skipped)),
            ("a", 2.0, "gt", Ok(ZaddOutcome::Updated(2.0))),
            ("a", 3.0, "lt", Ok(ZaddOutcome::Skipped)),
            ("a", 2.0, "lt", Ok(ZaddOutcome::Skipped)),
            ("a", 1.5, "xx lt", Ok(ZaddOutcome::Updated(1.5))),
            // GT/LT never prevent adding a new member.
            ("b", 9.0, "lt", Ok(ZaddOutcome::Added(9.0))),
            ("c", -9.0, "gt", Ok(ZaddOutcome::Added(-9.0))),
            // INCR
            ("a", 2.0, "incr", Ok(ZaddOutcome::Updated(3.5))),
            ("a", -1.0, "gt incr", Ok(ZaddOutcome::Skipped)),
            ("a", 0.0, "incr", Ok(ZaddOutcome::Unchanged(3.5))),
            ("d", 4.0, "incr", Ok(ZaddOutcome::Added(4.0))),
            ("d", 4.0, "xx incr", Ok(ZaddOutcome::Updated(8.0))),
            // NaN
            (
                "e",
                f64::INFINITY,
                "",
                Ok(ZaddOutcome::Added(f64::INFINITY)),
            ),
            ("e", f64::NEG_INFINITY, "incr", Err(ZsetError::NanScore)),
            ("e", f64::NAN, "", Err(ZsetError::NanScore)),
            ("zz", f64::NAN, "incr", Err(ZsetError::NanScore)),
        ];
        for (m, s, flags, want) in steps {
            let got = z.insert_or_update(m.as_bytes(), s, zflags(flags), &l);
            assert_eq!(got, want, "ZADD {flags} {m} {s}");
        }
        assert_eq!(z.score(b"e"), Some(f64::INFINITY));
        assert_eq!(z.score(b"zz"), None);
        // -0 == 0: unchanged, stored sign kept (a listpack never stores -0, as in Redis).
        let mut go = |m: &str, s: f64, fl: ZaddFlags| z.insert_or_update(m.as_bytes(), s, fl, &l);
        assert_eq!(
            go("n", -0.0, ZaddFlags::default()),
            Ok(ZaddOutcome::Added(-0.0))
        );
        assert_eq!(
            go("n", 0.0, ZaddFlags::default()),
            Ok(ZaddOutcome::Unchanged(0.0))
        );
        let stored_zero = if enc == 0 { 0.0f64 } else { -0.0f64 };
        assert_eq!(z.score(b"n").map(f64::to_bits), Some(stored_zero.to_bits()));
        assert_eq!(
            ZsetError::NanScore.message(),
            "ERR resulting score is not a number (NaN)"
        );
        assert!(ZaddOutcome::Added(1.0).is_changed() && ZaddOutcome::Updated(1.0).is_changed());
        assert!(
            !ZaddOutcome::Unchanged(1.0).is_changed() && ZaddOutcome::Skipped.score().is_none()
        );
        z.check_invariants();
        assert_eq!(
            z.encoding_name(),
            if enc == 0 { "listpack" } else { "skiplist" }
        );
    }
}

// -- encodings ---------------------------------------------------------

#[test]
fn conversion_thresholds() {
    let l = ZsetLimits::default();
    let mut z = Zset::new();
    for i in 0..128 {
        add(&mut z, &format!("m{i:03}"), i as f64);
    }
    assert_eq!(z.encoding_name(), "listpack");
    // Updates at the limit do not convert.
    add(&mut z, "m000", 1000.0);
    assert_eq!(z.encoding_name(), "listpack");
    add(&mut z, "m128", 5.0);
    assert_eq!(z.encoding_name(), "skiplist");
    z.check_invariants();
    // Never converts back on shrink...
    z.remove_range_by_rank(0, 120);
    assert_eq!(z.len(), 8);
    assert_eq!(z.encoding_name(), "skiplist");
    // ...unless asked.
    assert!(z.convert_to_listpack_if_fits(&l));
    assert_eq!(z.encoding_name(), "listpack");
    z.check_invariants();

    // Member length.
    let mut z = Zset::new();
    add(&mut z, &"x".repeat(64), 1.0);
    assert!(z.is_listpack());
    add(&mut z, &"y".repeat(65), 1.0);
    assert!(!z.is_listpack());
    assert!(!z.convert_to_listpack_if_fits(&l));
    z.remove(&[b'y'; 65]);
    assert!(z.convert_to_listpack_if_fits(&l));

    // Zero entries: skiplist from the first insert.
    let zero = ZsetLimits {
        max_listpack_entries: 0,
        max_listpack_value: 64,
    };
    let mut z = Zset::new();
    z.insert_or_update(b"a", 1.0, ZaddFlags::default(), &zero)
        .unwrap();
    assert_eq!(z.encoding_name(), "skiplist");
    assert!(!z.convert_to_listpack_if_fits(&zero));

    assert!(Zset::with_hint(&l, 128, 64).is_listpack());
    assert!(!Zset::with_hint(&l, 129, 1).is_listpack());
    assert!(!Zset::with_hint(&l, 1, 65).is_listpack());
    assert!(!Zset::new_skiplist().is_listpack());
}

#[test]
fn memory_estimate_tracks_size() {
    let mut z = Zset::new();
    let empty = z.approx_bytes();
    for i in 0..100 {
        add(&mut z, &format!("member-{i}"), i as f64);
    }
    let small = z.approx_bytes();
    assert!(small > empty + 100 * 8);
    for i in 100..5000 {
        add(&mut z, &format!("member-{i}"), i as f64);
    }
    let big = z.approx_bytes();
    assert!(big > small * 10);
    z.pop_min(4990);
    z.check_invariants();
    assert!(z.approx_bytes() < big / 4, "compaction after mass delete");
}

// -- ranges ------------------------------------------------------------

const DATA: &[(f64, &str)] = &[
    (2.0, "d"),
    (1.0, "b"),
    (f64::INFINITY, "pinf"),
    (1.0, "a"),
    (2.0, "c"),
    (3.0, "e"),
    (f64::NEG_INFINITY, "ninf"),
    (1.0, "ab"),
];

#[test]
fn order_and_ranks() {
    for z in both(DATA) {
        let all: Vec<String> = z
            .iter()
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect();
        assert_eq!(all, ["ninf", "a", "ab", "b", "c", "d", "e", "pinf"]);
        assert_eq!(z.rank(b"ninf", false), Some(0));
        assert_eq!(z.rank(b"ab", false), Some(2));
        assert_eq!(z.rank(b"ab", true), Some(5));
        assert_eq!(z.rank(b"pinf", true), Some(0));
        assert_eq!(z.rank(b"zz", false), None);
        assert_eq!(z.get_by_rank(3), Some((&b"b"[..], 1.0)));
        assert_eq!(z.get_by_rank(8), None);
        assert_eq!(z.first().unwrap().0, b"ninf");
        assert_eq!(z.last().unwrap().0, b"pinf");
        assert_eq!(
            names(z.range_by_rank(1, 3, false).collect()),
            ["a", "ab", "b"]
        );
        assert_eq!(names(z.range_by_rank(0, 1, true).collect()), ["pinf", "e"]);
        assert_eq!(
            names(z.range_by_rank(6, 100, true).collect()),
            ["a", "ninf"]
        );
        assert_eq!(z.range_by_rank(8, 9, false).len(), 0);
        assert_eq!(z.range_by_rank(3, 2, false).len(), 0);
        let it = z.range_by_rank(2, 5, false);
        assert_eq!(it.len(), 4);
        assert_eq!(names(it.rev().collect()), ["d", "c", "b", "ab"]);
        let mut it = z.iter();
        assert_eq!(it.next().unwrap().0, b"ninf");
        assert_eq!(it.next_back().unwrap().0, b"pinf");
        assert_eq!(it.len(), 6);
    }
}

#[test]
fn score_ranges() {
    for z in both(DATA) {
        let q = |a: &str, b: &str, l: Limit, rev: bool| names(z.range_by_score(&sr(a, b), l, rev));
        let all = Limit::ALL;
        assert_eq!(q("1", "2", all, false), ["a", "ab", "b", "c", "d"]);
        assert_eq!(q("(1", "2", all, false), ["c", "d"]);
        assert_eq!(q("1", "(2", all, false), ["a", "ab", "b"]);
        assert_eq!(q("(1", "(2", all, false), Vec::<String>::new());
        assert_eq!(q("2", "2", all, false), ["c", "d"]);
        assert_eq!(q("(2", "2", all, false), Vec::<String>::new());
        assert_eq!(q("2", "(2", all, false), Vec::<String>::new());
        assert_eq!(q("2", "1", all, false), Vec::<String>::new());
        assert_eq!(q("-inf", "+inf", all, false).len(), 8);
        assert_eq!(
            q("(-inf", "(+inf", all, false),
            ["a", "ab", "b", "c", "d", "e"]
        );
        assert_eq!(q("inf", "inf", all, false), ["pinf"]);
        assert_eq!(q("-inf", "-inf", all, false), ["ninf"]);
        assert_eq!(q("4", "5", all, false), Vec::<String>::new());
        assert_eq!(q("1.5", "1.7", all, false), Vec::<String>::new());
        assert_eq!(q("1", "2", all, true), ["d", "c", "b", "ab", "a"]);
        assert_eq!(q("1", "2", lim(1, 2), false), ["ab", "b"]);
        assert_eq!(q("1", "2", lim(1, 2), true), ["c", "b"]);
        assert_eq!(q("1", "2", lim(4, 10), false), ["d"]);
        assert_eq!(q("1", "2", lim(5, 10), false), Vec::<String>::new());
        assert_eq!(q("1", "2", lim(4, 10), true), ["a"]);
        assert_eq!(q("1", "2", lim(5, 10), true), Vec::<String>::new());
        assert_eq!(q("1", "2", lim(8, 1), false), Vec::<String>::new());
        assert_eq!(q("1", "2", lim(0, 0), false), Vec::<String>::new());
        assert_eq!(
            q(
                "-inf",
                "inf",
                Limit {
                    offset: 6,
                    count: None
                },
                false
            ),
            ["e", "pinf"]
        );
        for (min, max, n) in [
            ("1", "2", 5),
            ("(1", "2", 2),
            ("-inf", "+inf", 8),
            ("(-inf", "(inf", 6),
            ("2", "1", 0),
            ("3", "3", 1),
            ("(3", "3", 0),
            ("10", "20", 0),
            ("-20", "-10", 0),
        ] {
            assert_eq!(z.count_in_score_range(&sr(min, max)), n, "{min} {max}");
        }
    }
}

#[test]
fn lex_ranges() {
    let pairs: Vec<(f64, &str)> = ["g", "a", "c", "b", "e", "f", "d", "", "aa"]
        .iter()
        .map(|m| (0.0, *m))
        .collect();
    for z in both(&pairs) {
        let q = |a: &str, b: &str, l: Limit, rev: bool| names(z.range_by_lex(&lr(a, b), l, rev));
        let all = Limit::ALL;
        assert_eq!(
            q("-", "+", all, false),
            ["", "a", "aa", "b", "c", "d", "e", "f", "g"]
        );
        assert_eq!(q("+", "-", all, false), Vec::<String>::new());
        assert_eq!(q("-", "-", all, false), Vec::<String>::new());
        assert_eq!(q("+", "+", all, false), Vec::<String>::new());
        assert_eq!(q("[b", "(d", all, false), ["b", "c"]);
        assert_eq!(q("(b", "[d", all, false), ["c", "d"]);
        assert_eq!(q("[a", "[a", all, false), ["a"]);
        assert_eq!(q("(a", "[a", all, false), Vec::<String>::new());
        assert_eq!(q("[a", "(a", all, false), Vec::<String>::new());
        assert_eq!(q("[d", "[b", all, false), Vec::<String>::new());
        assert_eq!(q("[", "(a", all, false), [""]);
        assert_eq!(q("(", "(b", all, false), ["a", "aa"]);
        assert_eq!(q("[a", "(b", all, false), ["a", "aa"]);
        assert_eq!(q("[e", "+", all, true), ["g", "f", "e"]);
        assert_eq!(q("-", "+", lim(2, 3), false), ["aa", "b", "c"]);
        assert_eq!(q("-", "+", lim(2, 3), true), ["e", "d", "c"]);
        assert_eq!(q("[b", "[d", lim(3, 3), false), Vec::<String>::new());
        assert_eq!(q("[h", "+", all, false), Vec::<String>::new());
        assert_eq!(q("-", "(", all, false), Vec::<String>::new());
        for (min, max, n) in [
            ("-", "+", 9),
            ("[b", "[d", 3),
            ("(b", "(d", 1),
            ("(d", "(b", 0),
            ("+", "-", 0),
            ("[zz", "+", 0),
        ] {
            assert_eq!(z.count_in_lex_range(&lr(min, max)), n, "{min} {max}");
        }
    }
}

#[test]
fn lex_listpack_with_mixed_scores_follows_redis_walk() {
    // Scores disagree with member order: Redis walks from the head to the
    // first member >= min, then forward while <= max (so "a" is included).
    let [z, _] = both(&[(1.0, "c"), (2.0, "a"), (3.0, "d"), (4.0, "b")]);
    assert_eq!(
        names(z.range_by_lex(&lr("[b", "[c"), Limit::ALL, false)),
        ["c", "a"]
    );
    assert_eq!(z.count_in_lex_range(&lr("[b", "[c")), 2);
    // Reverse: from the tail to the first member <= max, then back while >= min.
    assert_eq!(
        names(z.range_by_lex(&lr("[b", "[c"), Limit::ALL, true)),
        ["b", "d"]
    );
    let mut z = z;
    assert_eq!(z.remove_range_by_lex(&lr("[b", "[c")), 2);
    assert_eq!(names(z.iter().collect()), ["d", "b"]);
}

#[test]
fn remove_ranges_and_pops() {
    for z0 in both(DATA) {
        let mut z = z0.clone();
        assert_eq!(z.remove_range_by_score(&sr("(1", "2")), 2);
        assert_eq!(z.remove_range_by_score(&sr("(1", "2")), 0);
        assert_eq!(z.remove_range_by_score(&sr("5", "4")), 0);
        assert_eq!(
            names(z.iter().collect()),
            ["ninf", "a", "ab", "b", "e", "pinf"]
        );
        assert_eq!(z.remove_range_by_score(&sr("-inf", "(1")), 1);
        assert_eq!(z.remove_range_by_score(&sr("inf", "inf")), 1);
        z.check_invariants();
        assert_eq!(names(z.iter().collect()), ["a", "ab", "b", "e"]);

        let mut z = z0.clone();
        assert_eq!(z.remove_range_by_rank(1, 2), 2);
        assert_eq!(z.remove_range_by_rank(5, 100), 1);
        assert_eq!(z.remove_range_by_rank(5, 100), 0);
        assert_eq!(z.remove_range_by_rank(3, 2), 0);
        z.check_invariants();
        assert_eq!(names(z.iter().collect()), ["ninf", "b", "c", "d", "e"]);

        let mut z = z0.clone();
        let popped = z.pop_min(2);
        assert_eq!(
            popped,
            vec![
                (b"ninf"[..].into(), f64::NEG_INFINITY),
                (b"a"[..].into(), 1.0)
            ]
        );
        let popped = z.pop_max(3);
        let pn: Vec<&[u8]> = popped.iter().map(|p| &*p.0).collect();
        assert_eq!(pn, [&b"pinf"[..], b"e", b"d"]);
        assert_eq!(z.pop_max(0).len(), 0);
        assert_eq!(z.pop_min(100).len(), 3);
        assert!(z.is_empty());
        assert_eq!(z.pop_min(1).len(), 0);
        z.check_invariants();
    }
    let lex: Vec<(f64, &str)> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|m| (0.0, *m))
        .collect();
    for z0 in both(&lex) {
        let mut z = z0.clone();
        assert_eq!(z.remove_range_by_lex(&lr("(a", "[c")), 2);
        assert_eq!(z.remove_range_by_lex(&lr("+", "-")), 0);
        assert_eq!(z.remove_range_by_lex(&lr("[x", "+")), 0);
        assert_eq!(names(z.iter().collect()), ["a", "d", "e"]);
        assert_eq!(z.remove_range_by_lex(&lr("-", "+")), 3);
        assert!(z.is_empty());
        z.check_invariants();
    }
}

#[test]
fn empty_set_queries() {
    for z in [Zset::new(), Zset::new_skiplist()] {
        assert_eq!(z.len(), 0);
        assert_eq!(z.iter().count(), 0);
        assert_eq!(z.rank(b"a", false), None);
        assert_eq!(z.get_by_rank(0), None);
        assert_eq!(z.first(), None);
        assert_eq!(z.last(), None);
        assert_eq!(z.range_by_rank(0, 0, true).count(), 0);
        assert!(z
            .range_by_score(&sr("-inf", "inf"), Limit::ALL, false)
            .is_empty());
        assert!(z
            .range_by_score(&sr("-inf", "inf"), Limit::ALL, true)
            .is_empty());
        assert!(z.range_by_lex(&lr("-", "+"), Limit::ALL, true).is_empty());
        assert_eq!(z.count_in_score_range(&sr("-inf", "inf")), 0);
        assert_eq!(z.count_in_lex_range(&lr("-", "+")), 0);
        assert_eq!(z.scan(0, 10, |_, _| panic!()), 0);
        let mut z = z;
        assert_eq!(z.remove_range_by_lex(&lr("-", "+")), 0);
        assert_eq!(z.remove_range_by_score(&sr("-inf", "inf")), 0);
        assert_eq!(z.remove_range_by_rank(0, 0), 0);
        assert!(!z.remove(b"a"));
        z.check_invariants();
    }
}

// -- ZSCAN -------------------------------------------------------------

fn full_scan(z: &Zset, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cursor = 0;
    for _ in 0..=z.len() + 1 {
        cursor = z.scan(cursor, count, |m, _| out.push(m.to_vec()));
        if cursor == 0 {
            return out;
        }
    }
    panic!("scan did not terminate");
}

#[test]
fn scan_listpack_and_skiplist() {
    let [a, b] = both(DATA);
    let mut calls = 0;
    assert_eq!(a.scan(12345, 1, |_, _| calls += 1), 0);
    assert_eq!(calls, 8);
    let got = full_scan(&b, 3);
    assert_eq!(got.len(), 8);
    // A tie group is never split: with count 1 the first call stops
    // after "ninf", the next returns all score-1 members.
    let mut first = Vec::new();
    let c = b.scan(0, 1, |m, _| first.push(m.to_vec()));
    assert_eq!(first, [b"ninf".to_vec()]);
    let mut second = Vec::new();
    b.scan(c, 1, |m, _| second.push(m.to_vec()));
    assert_eq!(second, [b"a".to_vec(), b"ab".to_vec(), b"b".to_vec()]);
}

#[test]
fn scan_guarantee_under_writes() {
    let l = ZsetLimits::default();
    let mut z = Zset::new();
    for i in 0..2000u32 {
        let m = format!("m{i}");
        z.insert_or_update(m.as_bytes(), f64::from(i % 37), ZaddFlags::default(), &l)
            .unwrap();
    }
    assert!(!z.is_listpack());
    // Members i % 5 == 0 are never touched: they must all be seen.
    let stable: HashSet<Vec<u8>> = (0..2000u32)
        .filter(|i| i.is_multiple_of(5))
        .map(|i| format!("m{i}").into_bytes())
        .collect();
    let mut seen = HashSet::new();
    let mut cursor = 0;
    let mut step = 0u32;
    loop {
        cursor = z.scan(cursor, 10, |m, _| {
            seen.insert(m.to_vec());
        });
        if cursor == 0 {
            break;
        }
        step += 1;
        // Churn: remove and re-add unstable members, add new ones.
        for k in 0..5u32 {
            let i = (step * 7 + k * 13) % 2000;
            if !i.is_multiple_of(5) {
                z.remove(format!("m{i}").as_bytes());
            }
            let n = format!("new{step}-{k}");
            z.insert_or_update(n.as_bytes(), f64::from(k), ZaddFlags::default(), &l)
                .unwrap();
        }
        assert!(step < 10_000);
    }
    z.check_invariants();
    assert!(stable.is_subset(&seen));
}

// -- model-based property test ----------------------------------------

#[derive(Clone, Copy, Debug)]
struct OrdScore(f64);
impl PartialEq for OrdScore {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for OrdScore {}
impl PartialOrd for OrdScore {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdScore {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.partial_cmp(&o.0).expect("no NaN")
    }
}

struct Model {
    set: BTreeSet<(OrdScore, Vec<u8>)>,
    map: StdMap<Vec<u8>, f64>,
    listpack: bool,
}

impl Model {
    fn new() -> Self {
        Model {
            set: BTreeSet::new(),
            map: StdMap::new(),
            listpack: true,
        }
    }

    fn sorted(&self) -> Vec<(Vec<u8>, f64)> {
        self.set.iter().map(|(s, m)| (m.clone(), s.0)).collect()
    }

    fn zadd(
        &mut self,
        m: &[u8],
        score: f64,
        f: ZaddFlags,
        l: &ZsetLimits,
    ) -> Result<ZaddOutcome, ZsetError> {
        match self.map.get(m).copied() {
            None => {
                if f.xx {
                    return Ok(ZaddOutcome::Skipped);
                }
                if self.map.len() + 1 > l.max_listpack_entries || m.len() > l.max_listpack_value {
                    self.listpack = false;
                }
                self.map.insert(m.to_vec(), score);
                self.set.insert((OrdScore(score), m.to_vec()));
                Ok(ZaddOutcome::Added(score))
            }
            Some(cur) => {
                if f.nx {
                    return Ok(ZaddOutcome::Skipped);
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    return Err(ZsetError::NanScore);
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    return Ok(ZaddOutcome::Skipped);
                }
                if new == cur {
                    return Ok(ZaddOutcome::Unchanged(new));
                }
                self.set.remove(&(OrdScore(cur), m.to_vec()));
                self.set.insert((OrdScore(new), m.to_vec()));
                self.map.insert(m.to_vec(), new);
                Ok(ZaddOutcome::Updated(new))
            }
        }
    }

    /// A listpack never keeps `-0` (see `listpack_score`).
    fn settle_listpack_zeros(&mut self) {
        if !self.listpack {
            return;
        }
        for (m, s) in self.map.iter_mut() {
            if *s == 0.0 && s.is_sign_negative() {
                *s = 0.0;
                self.set.remove(&(OrdScore(0.0), m.clone()));
                self.set.insert((OrdScore(0.0), m.clone()));
            }
        }
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        match self.map.remove(m) {
            Some(s) => {
                self.set.remove(&(OrdScore(s), m.to_vec()));
                true
            }
            None => false,
        }
    }

    fn retain_out(&mut self, doomed: &[(Vec<u8>, f64)]) {
        for (m, _) in doomed {
            self.remove(m);
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Vec<u8>, f64, ZaddFlags),
    AddMany(u16, f64),
    AddLong(usize),
    Remove(Vec<u8>),
    RangeRank(i64, i64, bool),
    RangeScore(ScoreRange, i64, i64, bool),
    RangeLex(LexRange, i64, i64, bool),
    CountScore(ScoreRange),
    CountLex(LexRange),
    RemRank(i64, i64),
    RemScore(ScoreRange),
    RemLex(LexRange),
    Pop(usize, bool),
    Rank(Vec<u8>, bool),
    ByRank(usize),
    Scan(usize),
    Shrink,
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b'c', 0u8, 0xff]),
        0..4,
    )
}

fn score() -> impl Strategy<Value = f64> {
    prop::sample::select(vec![
        f64::NEG_INFINITY,
        -2.5,
        -1.0,
        -0.0,
        0.0,
        1.0,
        1.5,
        2.0,
        3.0,
        f64::INFINITY,
    ])
}

fn score_range() -> impl Strategy<Value = ScoreRange> {
    (score(), any::<bool>(), score(), any::<bool>()).prop_map(|(a, ae, b, be)| ScoreRange {
        min: ScoreBound {
            value: a,
            exclusive: ae,
        },
        max: ScoreBound {
            value: b,
            exclusive: be,
        },
    })
}

fn lex_bound() -> impl Strategy<Value = LexBound> {
    prop_oneof![
        1 => Just(LexBound::NegInf),
        1 => Just(LexBound::PosInf),
        3 => member().prop_map(LexBound::Inclusive),
        3 => member().prop_map(LexBound::Exclusive),
    ]
}

fn lex_range() -> impl Strategy<Value = LexRange> {
    (lex_bound(), lex_bound()).prop_map(|(min, max)| LexRange { min, max })
}

fn flags() -> impl Strategy<Value = ZaddFlags> {
    prop::sample::select(
        [
            "", "", "", "nx", "xx", "gt", "lt", "xx gt", "xx lt", "incr", "nx incr", "xx incr",
            "gt incr", "lt incr",
        ]
        .map(zflags)
        .to_vec(),
    )
}

fn small_i64() -> impl Strategy<Value = i64> {
    -12i64..12
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (member(), score(), flags()).prop_map(|(m, s, f)| Op::Add(m, s, f)),
        2 => (1u16..80, score()).prop_map(|(n, s)| Op::AddMany(n, s)),
        1 => (60usize..70).prop_map(Op::AddLong),
        8 => member().prop_map(Op::Remove),
        3 => (small_i64(), small_i64(), any::<bool>()).prop_map(|(a, b, r)| Op::RangeRank(a, b, r)),
        3 => (score_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeScore(r, o, c, v)),
        3 => (lex_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeLex(r, o, c, v)),
        2 => score_range().prop_map(Op::CountScore),
        2 => lex_range().prop_map(Op::CountLex),
        1 => (small_i64(), small_i64()).prop_map(|(a, b)| Op::RemRank(a, b)),
        1 => score_range().prop_map(Op::RemScore),
        1 => lex_range().prop_map(Op::RemLex),
        1 => (0usize..4, any::<bool>()).prop_map(|(c, m)| Op::Pop(c, m)),
        3 => (member(), any::<bool>()).prop_map(|(m, r)| Op::Rank(m, r)),
        2 => any::<usize>().prop_map(Op::ByRank),
        1 => (1usize..6).prop_map(Op::Scan),
        1 => Just(Op::Shrink),
    ]
}

fn in_lex(r: &LexRange, m: &[u8]) -> bool {
    r.gte_min(m) && r.lte_max(m)
}

fn apply_limit<T>(mut v: Vec<T>, rev: bool, off: i64, cnt: i64) -> Vec<T> {
    let Some(l) = Limit::from_redis(off, cnt) else {
        return Vec::new();
    };
    if rev {
        v.reverse();
    }
    v.into_iter()
        .skip(l.offset)
        .take(l.count.unwrap_or(usize::MAX))
        .collect()
}

fn run_ops(ops: &[Op], limits: ZsetLimits) {
    let mut z = Zset::new();
    let mut m = Model::new();
    let mut seq = 0u32;
    for op in ops {
        let sorted = m.sorted();
        // Lex results are only defined when member order agrees with
        // score order (e.g. all scores equal).
        let lex_ok = sorted.windows(2).all(|w| w[0].0 < w[1].0);
        match op {
            Op::Add(mem, s, f) => {
                assert_eq!(
                    z.insert_or_update(mem, *s, *f, &limits),
                    m.zadd(mem, *s, *f, &limits)
                );
            }
            Op::AddMany(n, s) => {
                for i in 0..*n {
                    seq += 1;
                    let mem = format!("k{seq}").into_bytes();
                    let sc = *s + f64::from(i % 3);
                    let f = ZaddFlags::default();
                    assert_eq!(
                        z.insert_or_update(&mem, sc, f, &limits),
                        m.zadd(&mem, sc, f, &limits)
                    );
                }
            }
            Op::AddLong(n) => {
                let mem = vec![b'L'; *n];
                let f = ZaddFlags::default();
                assert_eq!(
                    z.insert_or_update(&mem, 1.0, f, &limits),
                    m.zadd(&mem, 1.0, f, &limits)
                );
            }
            Op::Remove(mem) => assert_eq!(z.remove(mem), m.remove(mem)),
            Op::RangeRank(a, b, rev) => {
                let got = normalize_rank_range(*a, *b, z.len())
                    .map(|(s, e)| owned(z.range_by_rank(s, e, *rev).collect()))
                    .unwrap_or_default();
                let want = match normalize_rank_range(*a, *b, sorted.len()) {
                    Some((s, e)) => {
                        let mut v = sorted.clone();
                        if *rev {
                            v.reverse();
                        }
                        bits(&v[s..=e])
                    }
                    None => vec![],
                };
                assert_eq!(got, want);
            }
            Op::RangeScore(r, off, cnt, rev) => {
                let got = match Limit::from_redis(*off, *cnt) {
                    Some(l) => owned(z.range_by_score(r, l, *rev)),
                    None => vec![],
                };
                let inr: Vec<_> = sorted
                    .iter()
                    .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                    .cloned()
                    .collect();
                assert_eq!(got, bits(&apply_limit(inr, *rev, *off, *cnt)));
            }
            Op::RangeLex(r, off, cnt, rev) => {
                let got = match Limit::from_redis(*off, *cnt) {
                    Some(l) => owned(z.range_by_lex(r, l, *rev)),
                    None => vec![],
                };
                if lex_ok {
                    let inr: Vec<_> = sorted.iter().filter(|e| in_lex(r, &e.0)).cloned().collect();
                    assert_eq!(got, bits(&apply_limit(inr, *rev, *off, *cnt)));
                }
            }
            Op::CountScore(r) => {
                let want = sorted
                    .iter()
                    .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                    .count();
                assert_eq!(z.count_in_score_range(r), want);
            }
            Op::CountLex(r) => {
                let got = z.count_in_lex_range(r);
                if lex_ok {
                    assert_eq!(got, sorted.iter().filter(|e| in_lex(r, &e.0)).count());
                }
            }
            Op::RemRank(a, b) => {
                let got = normalize_rank_range(*a, *b, z.len())
                    .map_or(0, |(s, e)| z.remove_range_by_rank(s, e));
                let doomed = normalize_rank_range(*a, *b, sorted.len())
                    .map_or(vec![], |(s, e)| sorted[s..=e].to_vec());
                assert_eq!(got, doomed.len());
                m.retain_out(&doomed);
            }
            Op::RemScore(r) => {
                let doomed: Vec<_> = sorted
                    .iter()
                    .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                    .cloned()
                    .collect();
                assert_eq!(z.remove_range_by_score(r), doomed.len());
                m.retain_out(&doomed);
            }
            Op::RemLex(r) => {
                if lex_ok {
                    let doomed: Vec<_> =
                        sorted.iter().filter(|e| in_lex(r, &e.0)).cloned().collect();
                    assert_eq!(z.remove_range_by_lex(r), doomed.len());
                    m.retain_out(&doomed);
                }
            }
            Op::Pop(c, max) => {
                let got: Vec<(Vec<u8>, f64)> = if *max { z.pop_max(*c) } else { z.pop_min(*c) }
                    .into_iter()
                    .map(|(mm, s)| (mm.into_vec(), s))
                    .collect();
                let mut want = sorted.clone();
                if *max {
                    want.reverse();
                }
                want.truncate(*c);
                assert_eq!(bits(&got), bits(&want));
                m.retain_out(&want);
            }
            Op::Rank(mem, rev) => {
                let want = sorted.iter().position(|e| e.0 == *mem).map(|p| {
                    if *rev {
                        sorted.len() - 1 - p
                    } else {
                        p
                    }
                });
                assert_eq!(z.rank(mem, *rev), want);
                assert_eq!(
                    z.score(mem).map(f64::to_bits),
                    m.map.get(mem).map(|s| s.to_bits())
                );
            }
            Op::ByRank(i) => {
                let i = i % (sorted.len() + 1);
                let got = z.get_by_rank(i).map(|(mm, s)| (mm.to_vec(), s.to_bits()));
                assert_eq!(got, sorted.get(i).map(|(mm, s)| (mm.clone(), s.to_bits())));
            }
            Op::Scan(c) => {
                let got: HashSet<Vec<u8>> = full_scan(&z, *c).into_iter().collect();
                let want: HashSet<Vec<u8>> = m.map.keys().cloned().collect();
                assert_eq!(got, want);
            }
            Op::Shrink => {
                let fits = m.map.len() <= limits.max_listpack_entries
                    && m.map.keys().all(|k| k.len() <= limits.max_listpack_value);
                if fits {
                    m.listpack = true;
                }
                assert_eq!(z.convert_to_listpack_if_fits(&limits), m.listpack);
            }
        }
        m.settle_listpack_zeros();
        z.check_invariants();
        assert_eq!(z.len(), m.map.len());
        assert_eq!(z.is_listpack(), m.listpack, "encoding after {op:?}");
        assert_eq!(z.items(), bits(&m.sorted()));
    }
}

fn limits() -> impl Strategy<Value = ZsetLimits> {
    prop_oneof![
        Just(ZsetLimits::default()),
        (0usize..10, 0usize..5).prop_map(|(e, v)| ZsetLimits {
            max_listpack_entries: e,
            max_listpack_value: v,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_matches_model(ops in prop::collection::vec(op(), 1..250), limits in limits()) {
        run_ops(&ops, limits);
    }

    /// Only equal scores: every lex operation is checked.
    #[test]
    fn prop_lex_equal_scores(
        ops in prop::collection::vec(
            prop_oneof![
                6 => (member(), flags()).prop_map(|(m, f)| Op::Add(m, 0.0, ZaddFlags { incr: false, ..f })),
                2 => member().prop_map(Op::Remove),
                3 => (lex_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeLex(r, o, c, v)),
                2 => lex_range().prop_map(Op::CountLex),
                1 => lex_range().prop_map(Op::RemLex),
                1 => Just(Op::Shrink),
            ],
            1..200,
        ),
        limits in limits(),
    ) {
        run_ops(&ops, limits);
    }
}

// -- scale -------------------------------------------------------------

#[test]
fn million_inserts_then_ranks() {
    const N: u64 = 1_000_000;
    let l = ZsetLimits::default();
    let mut z = Zset::new();
    let mut expected: Vec<(u64, Vec<u8>)> = Vec::with_capacity(N as usize);
    for i in 0..N {
        let k = (i * 7919) % N;
        let m = format!("m{k}").into_bytes();
        let s = (k / 3) as f64; // ties in groups of three
        assert_eq!(
            z.insert_or_update(&m, s, ZaddFlags::default(), &l),
            Ok(ZaddOutcome::Added(s))
        );
        expected.push((k / 3, m));
    }
    expected.sort();
    assert_eq!(z.len(), N as usize);
    assert_eq!(z.encoding_name(), "skiplist");
    for i in (0..N as usize).step_by(9973).chain([0, N as usize - 1]) {
        let (s, m) = &expected[i];
        assert_eq!(z.rank(m, false), Some(i));
        assert_eq!(z.rank(m, true), Some(N as usize - 1 - i));
        assert_eq!(z.get_by_rank(i), Some((&m[..], *s as f64)));
    }
    let r = ScoreRange::new(ScoreBound::inclusive(1000.0), ScoreBound::exclusive(2000.0));
    assert_eq!(z.count_in_score_range(&r), 3000);
    let page = z.range_by_score(&r, lim(10, 5), false);
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].0, &expected[3000 + 10].1[..]);
    let page = z.range_by_score(&r, lim(0, 2), true);
    assert_eq!(page[0].0, &expected[5999].1[..]);
    // Iteration is complete and ordered.
    assert!(z
        .iter()
        .map(|(m, _)| m)
        .eq(expected.iter().map(|e| &e.1[..])));
    // Delete a big slice and re-check ranks.
    assert_eq!(z.remove_range_by_rank(100_000, 899_999), 800_000);
    let kept: Vec<_> = expected[..100_000]
        .iter()
        .chain(&expected[900_000..])
        .collect();
    for i in (0..kept.len()).step_by(997) {
        assert_eq!(z.rank(&kept[i].1, false), Some(i));
    }
    z.check_invariants();
}
