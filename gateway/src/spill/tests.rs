use std::path::PathBuf;

use super::*;
use crate::ops::OpBody;

fn dir(name: &str) -> PathBuf {
    tradestate_test_support::temp_path(&format!("tradestate-spill-unit-{name}"))
}

fn settings() -> Settings {
    Settings {
        fsync: Fsync::Always,
        max_bytes: 1 << 20,
        min_free_bytes: 0,
        segment_bytes: 4096,
    }
}

/// The spill of `partition` in `dir`, with the test settings.
fn open(partition: Partition, dir: &Path) -> Arc<Spill> {
    Spill::open(partition, dir, settings()).unwrap()
}

fn instance(id: &str, seq: u64) -> Arc<Op> {
    Arc::new(Op {
        instance_id: Arc::from(id),
        seq,
        fields: vec![("seq", seq.to_string()), ("balance", "100.5".into())],
        body: OpBody::Instance {
            absent: vec!["equity"],
        },
    })
}

fn signal(id: &str, seq: u64) -> Arc<Op> {
    Arc::new(Op {
        instance_id: Arc::from(id),
        seq,
        fields: vec![
            ("seq", seq.to_string()),
            ("signal_id", format!("sig-{seq}")),
        ],
        body: OpBody::Signal {
            signal_id: format!("sig-{seq}"),
        },
    })
}

fn seqs(spill: &Spill) -> Vec<u64> {
    spill.lock().pending.values().map(|p| p.op.seq).collect()
}

/// An rtss spill in a fresh directory `name` holding T1's signals 1 and 2, appended together.
async fn rtss_holding_signals_1_and_2(name: &str) -> (PathBuf, Arc<Spill>) {
    let dir = dir(name);
    let spill = open(Partition::Rtss, &dir);
    spill
        .append(vec![signal("T1", 1), signal("T1", 2)])
        .await
        .unwrap();
    (dir, spill)
}

/// A closed rtss spill of `n` signals over several 4 KiB segments, and its segment files.
async fn signals_in_segments(name: &str, n: u64) -> (PathBuf, Vec<PathBuf>) {
    let dir = dir(name);
    let spill = open(Partition::Rtss, &dir);
    for seq in 0..n {
        spill.append(vec![signal("T1", seq)]).await.unwrap();
    }
    spill.stop();
    let files = segment_files(&dir);
    (dir, files)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "spill"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn spooled_records_survive_a_restart_in_order_and_coalesced() {
    let (dir, spill) = rtss_holding_signals_1_and_2("restart").await;
    spill.append(vec![signal("T2", 3)]).await.unwrap();
    assert!(
        spill.must_take(&signal("T9", 9)),
        "signals queue behind spooled ones"
    );
    spill.stop();

    let again = open(Partition::Rtss, &dir);
    assert_eq!(seqs(&again), vec![1, 2, 3]);
    assert!(again.snapshot().replaying_startup);
    again.stop();

    let dir = dir.with_extension("ris");
    let spill = open(Partition::Ris, &dir);
    spill
        .append(vec![
            instance("T1", 5),
            instance("T2", 1),
            instance("T1", 7),
        ])
        .await
        .unwrap();
    // An older update of a key after a newer one is spooled can never be written.
    spill.append(vec![instance("T1", 6)]).await.unwrap();
    assert_eq!(seqs(&spill), vec![1, 7]);
    assert!(spill.must_take(&instance("T1", 8)));
    assert!(!spill.must_take(&instance("T3", 1)), "other keys go live");
    spill.stop();
    let again = open(Partition::Ris, &dir);
    assert_eq!(seqs(&again), vec![1, 7]);
    again.stop();
}

#[tokio::test]
async fn written_records_leave_and_their_segments_are_deleted() {
    let dir = dir("drain");
    let spill = open(Partition::Rtss, &dir);
    // Segments of 4 KiB: 200 signals take several.
    for seq in 0..200 {
        spill.append(vec![signal("T1", seq)]).await.unwrap();
    }
    assert!(segment_files(&dir).len() > 2);
    loop {
        let batch = spill.take(32);
        if batch.is_empty() {
            break;
        }
        // Signals come in order, and a batch in flight holds back the ones after it.
        assert!(spill.take(32).is_empty());
        for (id, _) in batch {
            spill.written(id);
        }
    }
    assert_eq!(spill.snapshot().records, 0);
    assert!(segment_files(&dir).len() <= 1, "{:?}", segment_files(&dir));
    // An idle appender deletes the drained active segment within about a second.
    let started = std::time::Instant::now();
    while spill.snapshot().bytes > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not retired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(segment_files(&dir).is_empty(), "{:?}", segment_files(&dir));
    // The next append starts a fresh segment and the drained one goes.
    spill.append(vec![signal("T1", 500)]).await.unwrap();
    assert_eq!(segment_files(&dir).len(), 1);
    spill.stop();
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off() {
    let (dir, spill) = rtss_holding_signals_1_and_2("torn").await;
    spill.stop();
    let file = segment_files(&dir).pop().unwrap();
    let whole = std::fs::metadata(&file).unwrap().len();
    // Half of a third record, as a crash mid-write leaves it.
    let mut third = Vec::new();
    record::encode(&signal("T1", 3), 0, &mut third);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&third[..third.len() / 2]);
    std::fs::write(&file, bytes).unwrap();

    let again = open(Partition::Rtss, &dir);
    assert_eq!(seqs(&again), vec![1, 2]);
    assert_eq!(again.snapshot().error, None);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), whole);
    again.stop();
}

#[tokio::test]
async fn a_corrupt_record_in_the_middle_stops_the_load_and_keeps_the_file() {
    let (dir, files) = signals_in_segments("corrupt", 120).await;
    assert!(files.len() >= 3, "{files:?}");
    // A flipped byte inside the first record of the second segment.
    let mut bytes = std::fs::read(&files[1]).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&files[1], bytes).unwrap();

    let again = open(Partition::Rtss, &dir);
    let loaded = seqs(&again);
    let error = again.snapshot().error.expect("the corruption is reported");
    assert!(error.contains("corrupt record at byte"), "{error}");
    assert!(error.contains("NOT replayed"), "{error}");
    // Only the first segment's records are loaded; none is skipped silently in the middle.
    assert!(!loaded.is_empty());
    assert_eq!(loaded, (0..loaded.len() as u64).collect::<Vec<_>>());
    let aside: Vec<_> = std::fs::read_dir(dir.join("corrupt"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(aside.len(), files.len() - 1);
    again.stop();
}

#[tokio::test]
async fn a_full_spill_refuses_instead_of_dropping() {
    let dir = dir("full");
    let mut small = settings();
    small.max_bytes = 4096;
    let spill = Spill::open(Partition::Rtss, &dir, small).unwrap();
    let mut accepted = 0;
    let refusal = loop {
        match spill.append(vec![signal("T1", accepted)]).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "never refused");
    };
    assert!(
        matches!(&refusal, SpillError::Full(why) if why.contains("spill.max_bytes")),
        "{refusal}"
    );
    assert_eq!(spill.snapshot().records, accepted);
    assert!(spill.snapshot().bytes <= 4096);

    let mut floor = settings();
    floor.min_free_bytes = u64::MAX;
    let spill = Spill::open(Partition::Rtss, &dir.with_extension("floor"), floor).unwrap();
    let refusal = spill.append(vec![signal("T1", 1)]).await.unwrap_err();
    assert!(
        matches!(&refusal, SpillError::Full(why) if why.contains("spill.min_free_bytes")),
        "{refusal}"
    );
    spill.stop();
}

#[tokio::test]
async fn repeated_updates_of_a_key_reload_to_the_newest_and_keep_its_file() {
    let dir = dir("repeat");
    let spill = open(Partition::Ris, &dir);
    for seq in 1..=3 {
        spill.append(vec![instance("T1", seq)]).await.unwrap();
    }
    spill.stop();
    let again = open(Partition::Ris, &dir);
    assert_eq!(seqs(&again), vec![3]);
    assert_eq!(
        segment_files(&dir).len(),
        1,
        "the newest update's file stays"
    );
    again.stop();
    // Again, now with the newest update in a later segment than the ones it replaces.
    let again = open(Partition::Ris, &dir);
    assert_eq!(seqs(&again), vec![3]);
    for seq in 4..=40 {
        again.append(vec![instance("T1", seq)]).await.unwrap();
    }
    again.stop();
    let last = open(Partition::Ris, &dir);
    assert_eq!(seqs(&last), vec![40]);
    // Segments holding only superseded updates are gone; the byte count is what is on disk.
    let on_disk: u64 = segment_files(&dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(last.snapshot().bytes, on_disk);
    assert_eq!(segment_files(&dir).len(), 1, "{:?}", segment_files(&dir));
    last.stop();
}

#[tokio::test]
async fn a_cut_record_in_an_older_segment_is_corruption_not_a_torn_tail() {
    let (dir, files) = signals_in_segments("cut-older", 120).await;
    let first = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &first[..first.len() - 3]).unwrap();
    let again = open(Partition::Rtss, &dir);
    let error = again
        .snapshot()
        .error
        .unwrap_or_else(|| panic!("not reported; loaded {:?} from {files:?}", seqs(&again)));
    assert!(
        error.contains("past the end of a closed segment"),
        "{error}"
    );
    assert!(seqs(&again).is_empty());
    again.stop();
}

#[tokio::test]
async fn one_process_per_spill_directory() {
    let dir = dir("lock");
    let spill = open(Partition::Rts, &dir);
    let Err(second) = Spill::open(Partition::Rts, &dir, settings()) else {
        panic!("a second open of one directory must fail")
    };
    assert!(
        second.contains("in use by another tradestate process"),
        "{second}"
    );
    spill.stop();
    let again = open(Partition::Rts, &dir);
    again.stop();
}

#[tokio::test]
async fn an_update_older_than_one_spooled_for_its_key_is_named() {
    let dir = dir("newer-spooled");
    let spill = open(Partition::Ris, &dir);
    assert_eq!(spill.newer_spooled(&instance("T1", 5)), None);
    spill.append(vec![instance("T1", 10)]).await.unwrap();
    assert_eq!(spill.newer_spooled(&instance("T1", 5)), Some(10));
    assert_eq!(spill.newer_spooled(&instance("T1", 11)), None);
    assert_eq!(spill.newer_spooled(&instance("T2", 5)), None);
    assert_eq!(spill.newer_spooled(&signal("T1", 1)), None);
    spill.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
