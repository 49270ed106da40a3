//! Round trips through the writer and the reader, for every type and encoding.

use super::*;
use crate::types::hash::HashLimits;
use crate::types::stream::{NodeLimits, StreamId};
use crate::types::zset::{ZaddFlags, ZsetLimits};
use crate::types::{Hash, List, Set, StrValue, Stream, Value, Zset};

/// A value's content in a comparable form (members sorted where order is not defined).
#[derive(Debug, PartialEq)]
enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(String),
}

fn canon(v: &Value) -> Canon {
    match v {
        Value::Str(s) => Canon::Str(s.to_vec()),
        Value::List(l) => Canon::List(l.iter().map(|b| b.to_vec()).collect()),
        Value::Set(s) => {
            let mut m = s.members();
            m.sort();
            Canon::Set(m)
        }
        Value::ZSet(z) => Canon::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect()),
        Value::Hash(h) => {
            let mut pairs = Vec::new();
            h.for_each(|f, v| pairs.push((f.to_vec(), v.to_vec())));
            pairs.sort();
            Canon::Hash(pairs)
        }
        Value::Stream(s) => {
            let entries: Vec<_> = s.iter().map(|e| (e.id(), e.to_vec())).collect();
            let groups: Vec<_> = s
                .groups()
                .iter()
                .map(|(n, g)| (n.to_vec(), g.clone()))
                .collect();
            Canon::Stream(format!(
                "{entries:?} len={} last={} first={} maxdel={} added={} groups={groups:?}",
                s.len(),
                s.last_id(),
                s.first_id(),
                s.max_deleted_entry_id(),
                s.entries_added()
            ))
        }
    }
}

fn encode(keys: &[(&[u8], Value, Option<i64>)], compress: bool) -> Vec<u8> {
    let mut enc = Encoder::new(compress);
    file::preamble(&mut enc, 1234, false);
    enc.select_db(0);
    enc.resize_db(keys.len(), 0);
    for (k, v, e) in keys {
        enc.key_value(k, v, *e);
    }
    enc.eof();
    let crc = crc64::update(0, &enc.out);
    enc.out.extend_from_slice(&crc.to_le_bytes());
    enc.out
}

/// [`encode`] for keys held as owned bytes (as [`sample_values`] returns them).
fn encode_owned(keys: &[(Vec<u8>, Value, Option<i64>)], compress: bool) -> Vec<u8> {
    let refs: Vec<(&[u8], Value, Option<i64>)> = keys
        .iter()
        .map(|(k, v, e)| (&k[..], v.clone(), *e))
        .collect();
    encode(&refs, compress)
}

fn decode(bytes: &[u8]) -> Result<Vec<LoadedKey>, RdbError> {
    let mut out = Vec::new();
    let limits = LoadLimits {
        hash: HashLimits {
            max_listpack_entries: 128,
            max_listpack_value: 64,
        },
        ..LoadLimits::default()
    };
    load(bytes, limits, &mut |k| {
        out.push(k);
        Ok(())
    })?;
    Ok(out)
}

fn sample_values() -> Vec<(Vec<u8>, Value, Option<i64>)> {
    let hl = HashLimits {
        max_listpack_entries: 128,
        max_listpack_value: 64,
    };
    let zl = ZsetLimits::default();
    let mut v: Vec<(Vec<u8>, Value, Option<i64>)> = Vec::new();
    let s = |b: &[u8]| Value::Str(StrValue::from_bytes(b));
    v.push((b"int".to_vec(), s(b"12345"), None));
    v.push((b"bigint".to_vec(), s(b"-9223372036854775808"), None));
    v.push((b"small".to_vec(), s(b"hello"), Some(4_000_000_000_000)));
    v.push((b"long".to_vec(), s(&b"abcdefgh".repeat(500)), None));
    v.push((b"bin\x00\xff".to_vec(), s(b"\x00\x01\xff"), None));
    v.push((b"empty".to_vec(), s(b""), None));
    let mut l = List::new(-2);
    for i in 0..3000 {
        l.push_back(format!("item-{i}").as_bytes());
    }
    l.push_back(&[b'z'; 20_000]);
    l.push_back(b"-42");
    v.push((b"list".to_vec(), Value::List(Box::new(l)), None));
    let mut si = Set::default();
    for n in [1, -5, 70000, i64::MAX] {
        si.add(n.to_string().as_bytes(), 512);
    }
    v.push((b"intset".to_vec(), Value::Set(Box::new(si)), None));
    let mut st = Set::default();
    for i in 0..200 {
        st.add(format!("m{i}").as_bytes(), 512);
    }
    v.push((b"set".to_vec(), Value::Set(Box::new(st)), None));
    let mut zs = Zset::new();
    for (m, sc) in [
        ("a", 1.0),
        ("b", -2.5),
        ("c", f64::INFINITY),
        ("d", 0.1),
        ("e", 1e300),
    ] {
        zs.insert_or_update(m.as_bytes(), sc, ZaddFlags::default(), &zl)
            .unwrap();
    }
    assert!(zs.is_listpack());
    v.push((b"zsmall".to_vec(), Value::ZSet(Box::new(zs)), None));
    let mut zb = Zset::new();
    for i in 0..500 {
        zb.insert_or_update(
            format!("member{i}").as_bytes(),
            i as f64 / 3.0,
            ZaddFlags::default(),
            &zl,
        )
        .unwrap();
    }
    assert!(!zb.is_listpack());
    v.push((
        b"zbig".to_vec(),
        Value::ZSet(Box::new(zb)),
        Some(5_000_000_000_000),
    ));
    let mut hs = Hash::default();
    hs.set(b"f1", b"v1", hl);
    hs.set(b"n", b"1234567", hl);
    v.push((b"hsmall".to_vec(), Value::Hash(hs), None));
    let mut hb = Hash::default();
    for i in 0..300 {
        hb.set(
            format!("field{i}").as_bytes(),
            format!("value{i}").as_bytes(),
            hl,
        );
    }
    v.push((b"hbig".to_vec(), Value::Hash(hb), None));
    let mut sm = Stream::new();
    let nl = NodeLimits::default();
    for i in 1..=250u64 {
        let f: Vec<(&[u8], &[u8])> = if i % 7 == 0 {
            vec![(b"other", b"x"), (b"k", b"y")]
        } else {
            vec![(b"price", b"1.5"), (b"qty", b"10")]
        };
        sm.add(StreamId::new(1000 + i / 3, i), &f, nl).unwrap();
    }
    sm.delete(&[StreamId::new(1001, 3), StreamId::new(1002, 7)]);
    sm.with_groups(|_, g| {
        g.create(b"workers", StreamId::new(1010, 30), 30);
        g.create(b"idle", StreamId::MIN, -1);
        if let Some(grp) = g.get_mut(b"workers") {
            grp.create_consumer(b"alice", 100);
            grp.create_consumer(b"bob", 100);
            grp.deliver_new(StreamId::new(1003, 10), b"alice", 111);
            grp.deliver_new(StreamId::new(1003, 11), b"bob", 222);
            grp.create_consumer(b"carol", 333);
        }
    });
    v.push((b"stream".to_vec(), Value::Stream(Box::new(sm)), None));
    let mut empty_stream = Stream::new();
    empty_stream.set_last_id(StreamId::new(5, 5));
    v.push((
        b"estream".to_vec(),
        Value::Stream(Box::new(empty_stream)),
        None,
    ));
    v
}

#[test]
fn every_type_round_trips_with_and_without_compression() {
    let values = sample_values();
    for compress in [true, false] {
        let bytes = encode_owned(&values, compress);
        let loaded = decode(&bytes).unwrap();
        assert_eq!(loaded.len(), values.len());
        for (got, (k, v, e)) in loaded.iter().zip(&values) {
            assert_eq!(&got.key, k);
            assert_eq!(got.expire_ms, *e, "{}", String::from_utf8_lossy(k));
            assert_eq!(
                canon(&got.value),
                canon(v),
                "{}",
                String::from_utf8_lossy(k)
            );
            assert_eq!(
                got.value.encoding_name(),
                v.encoding_name(),
                "{}",
                String::from_utf8_lossy(k)
            );
        }
    }
}

#[test]
fn compression_shrinks_repetitive_strings() {
    let v = [(
        &b"k"[..],
        Value::Str(StrValue::from_bytes(&b"x".repeat(10_000))),
        None,
    )];
    let small = encode(&v, true);
    let plain = encode(&v, false);
    assert!(small.len() < 1000 && plain.len() > 10_000);
}

#[test]
fn corrupt_input_is_an_error_naming_the_offset_never_a_panic() {
    let bytes = encode_owned(&sample_values(), true);
    // Truncations at every length: errors, no panic.
    for cut in (0..bytes.len()).step_by(97) {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // A flipped byte: the checksum (or the parser) catches it.
    for at in (9..bytes.len() - 8).step_by(131) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        assert!(decode(&bad).is_err(), "flip at {at}");
    }
    let Err(e) = decode(b"REDIS0010\xfe") else {
        panic!("accepted")
    };
    assert_eq!(e.offset, 10);
    assert!(e.to_string().contains("byte 10"), "{e}");
    assert!(decode(b"RUBBISH00").is_err());
    assert!(decode(b"REDIS0099\xff").is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let mut bytes = b"REDIS0010".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = decode(&bytes);
    }

    #[test]
    fn random_strings_and_hashes_round_trip(
        items in proptest::collection::vec((proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                                            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 1..40)
    ) {
        let hl = HashLimits { max_listpack_entries: 128, max_listpack_value: 64 };
        let mut h = Hash::default();
        for (f, v) in &items {
            h.set(f, v, hl);
        }
        let keys: Vec<(&[u8], Value, Option<i64>)> = items
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (if i == 0 { &b"h"[..] } else { &v[..] }, if i == 0 { Value::Hash(h.clone()) } else { Value::Str(StrValue::from_bytes(v)) }, None))
            .collect();
        // Keys may repeat in this generator: the reader does not care, it only parses.
        let bytes = encode(&keys, true);
        let loaded = decode(&bytes).unwrap();
        proptest::prop_assert_eq!(loaded.len(), keys.len());
        for (got, (_, v, _)) in loaded.iter().zip(&keys) {
            proptest::prop_assert_eq!(canon(&got.value), canon(v));
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Scores in a listpack-encoded sorted set are written as the shortest text that parses
    /// back: every finite double (subnormals, huge exponents, -0) must load bit for bit, and
    /// the text must read the same through C's strtod, as redis-server reads it.
    #[test]
    fn any_score_round_trips_bit_for_bit(
        scores in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, 1..20)
    ) {
        let zl = ZsetLimits { max_listpack_entries: 128, max_listpack_value: 64 };
        let mut zs = Zset::new();
        for (i, s) in scores.iter().enumerate() {
            zs.insert_or_update(format!("m{i}").as_bytes(), *s, ZaddFlags::default(), &zl).unwrap();
            let mut text = Vec::new();
            write::d2string(*s, &mut text);
            let parsed = crate::util::parse_f64(&text).expect("strtod reads the score text");
            // Exact, -0 included.
            proptest::prop_assert_eq!(parsed.to_bits(), s.to_bits());
        }
        proptest::prop_assert!(zs.is_listpack());
        let keys: Vec<(&[u8], Value, Option<i64>)> = vec![(b"z", Value::ZSet(Box::new(zs.clone())), None)];
        let loaded = decode(&encode(&keys, true)).unwrap();
        proptest::prop_assert_eq!(canon(&loaded[0].value), canon(&Value::ZSet(Box::new(zs))));
    }
}
