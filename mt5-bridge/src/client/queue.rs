//! The client's queue of unsent updates, its sequence numbers and the tickets it reported open
//! (CLIENT.md), optionally on disk so a restart loses nothing and never reuses a `seq`.
//!
//! The queue log (`<id>.<lane>.log`) is append-only: a header, then update lines (their wire
//! JSON) and `{"done":[seq,...]}` lines; loading replays it. It is compacted when its dead lines
//! outnumber the live ones and 1,000, so draining a long queue writes each update about twice.
//! State updates are last-write-wins, so a queued state is replaced by a newer one of the same
//! key: the queue is bounded by live keys plus signals. Signals are never coalesced.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use super::lane::{write_atomically, LaneError, LaneFiles, SeqFile};
use crate::types::Update;
use crate::wire::{json_string, update_json};

/// How far the on-disk `seq` reservation runs ahead of the last number handed out.
pub const SEQ_BLOCK: u64 = 1000;
/// The queue log's format version (its header's `tradestate_queue`).
pub const QUEUE_VERSION: u64 = 2;
/// Dead lines a log may carry before it is compacted (and only when they outnumber the live).
const COMPACT_MIN_DEAD: usize = 1000;

/// The lowest seq a lane may start from now: UTC seconds times 1,000,000, so a lane whose files
/// are gone still numbers above everything it sent before.
pub fn clock_floor() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_mul(1_000_000))
}

/// The last-write-wins key of a state update; `None` for signals.
pub fn state_key(update: &Update) -> Option<String> {
    match update {
        Update::Instance(_) => Some("instance".to_owned()),
        Update::Trade(trade) => Some(format!("trade:{}", trade.ticket)),
        Update::Positions(_) => Some("positions".to_owned()),
        Update::Signal(_) => None,
    }
}

/// The partition an update goes to, as the index of its kind's backoff: ris 0, rts 1, rtss 2.
pub fn kind_index(update: &Update) -> usize {
    update.kind().partition().index()
}

/// A trade state's ticket and whether it leaves the ticket live (open, pending) or not.
fn trade_liveness(update: &Update) -> Option<(&str, bool)> {
    match update {
        Update::Trade(trade) => Some((trade.ticket.as_str(), trade.state.is_live())),
        _ => None,
    }
}

/// The fields a kind's JSON may carry (besides `kind`); `None` for a kind this version lacks.
fn known_fields(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "instance" => Some(crate::INSTANCE_STATE_FIELDS),
        "trade" => Some(crate::TRADE_STATE_FIELDS),
        "signal" => Some(crate::TRADE_SIGNAL_FIELDS),
        "positions" => Some(crate::POSITIONS_FIELDS),
        _ => None,
    }
}

/// Sets the `seq` an update carries.
pub(crate) fn set_seq(update: &mut Update, seq: u64) {
    match update {
        Update::Instance(state) => state.seq = seq,
        Update::Trade(trade) => trade.seq = seq,
        Update::Positions(snapshot) => snapshot.seq = seq,
        Update::Signal(signal) => signal.seq = seq,
    }
}

/// Parses one update line, ignoring fields this version does not know (a newer library's).
fn parse_update(line: &str) -> Result<Update, String> {
    let mut value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        let kind = object
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(known) = known_fields(&kind) {
            object.retain(|name, _| name == "kind" || known.contains(&name.as_str()));
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// What loading a lane found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Lines that did not parse (copied to the dead-letter file).
    pub skipped_lines: usize,
    /// A log of another format version, set aside as `<name>.v<version>`.
    pub set_aside: Option<String>,
}

pub struct Queue {
    items: VecDeque<Update>,
    files: Option<LaneFiles>,
    next_seq: u64,
    seq_file: SeqFile,
    /// Tickets reported open (or pending) and not yet closed, with their position ids.
    open: BTreeMap<String, u64>,
    /// Lines in the log after its header, live or not.
    log_lines: usize,
    /// Bytes this queue wrote to its log (appends and compactions), to show writes stay bounded.
    pub bytes_written: u64,
    pub load: LoadReport,
}

impl Queue {
    /// An in-memory queue numbering from `first_seq` (no files, no lock).
    pub fn in_memory(first_seq: u64) -> Queue {
        Queue {
            items: VecDeque::new(),
            files: None,
            next_seq: first_seq.max(1),
            seq_file: SeqFile {
                reserved: u64::MAX,
                login: None,
            },
            open: BTreeMap::new(),
            log_lines: 0,
            bytes_written: 0,
            load: LoadReport::default(),
        }
    }

    /// Opens the lane `lane` of `instance_id` in `dir`: takes its lock, loads its queue, its
    /// seq reservation and its open tickets. `login` binds the id to an account: a lane bound
    /// to another login refuses to open.
    pub fn open(
        dir: &Path,
        instance_id: &str,
        lane: &str,
        first_seq: u64,
        login: Option<u64>,
    ) -> Result<Queue, LaneError> {
        let files = LaneFiles::open(dir, instance_id, lane)?;
        let mut seq_file = files.read_seq()?;
        match (seq_file.login, login) {
            (Some(bound), Some(now)) if bound != now => {
                return Err(LaneError::LoginMismatch {
                    bound,
                    now,
                    message: format!(
                        "instance id {instance_id} reports account {bound}, but this terminal is logged in to {now}: leave the instance id empty (mt5-<login>) or give this account its own id"
                    ),
                })
            }
            (None, Some(now)) => seq_file.login = Some(now),
            _ => {}
        }
        let mut queue = Queue {
            items: VecDeque::new(),
            open: files.read_open()?,
            files: Some(files),
            next_seq: 1,
            seq_file,
            log_lines: 0,
            bytes_written: 0,
            load: LoadReport::default(),
        };
        let compact = queue.load_log(instance_id, lane)?;
        let queued_max = queue.items.iter().map(Update::seq).max().unwrap_or(0);
        queue.next_seq = first_seq
            .max(queue.seq_file.reserved.saturating_add(1))
            .max(queued_max + 1)
            .max(clock_floor());
        // Reserve at once: the login binding and the new floor are on disk before any send.
        queue.reserve(queue.next_seq)?;
        if compact {
            queue.compact()?;
        }
        Ok(queue)
    }

    /// Replays the log (and a 1.0 queue being adopted); true when it should be rewritten.
    fn load_log(&mut self, instance_id: &str, lane: &str) -> io::Result<bool> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let log = files.path("log");
        let legacy = files.path("legacy");
        let mut compact = false;
        let mut dead = Vec::new();
        match fs::File::open(&log) {
            Ok(file) => {
                let mut lines = BufReader::new(file).lines();
                let header = lines.next().transpose()?.unwrap_or_default();
                let version = serde_json::from_str::<serde_json::Value>(&header)
                    .ok()
                    .and_then(|h| h["tradestate_queue"].as_u64());
                match version {
                    Some(QUEUE_VERSION) => {
                        for line in lines {
                            let line = line?;
                            if !line.trim().is_empty() {
                                self.replay_line(&line, &mut dead);
                            }
                        }
                    }
                    other => {
                        let aside = format!(
                            "{}.v{}",
                            log.display(),
                            other.map_or("unknown".to_owned(), |v| v.to_string())
                        );
                        fs::rename(&log, &aside)?;
                        self.load.set_aside = Some(aside);
                        compact = true;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => compact = true,
            Err(e) => return Err(e),
        }
        if legacy.exists() {
            let text = fs::read_to_string(&legacy)?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.replay_line(line, &mut dead);
            }
            compact = true;
        }
        if let Some(files) = &self.files {
            for line in &dead {
                let mut text = String::from("{\"reason\":\"unreadable queue line\",\"line\":");
                json_string(line, &mut text);
                text.push('}');
                files.dead_letter(&text)?;
            }
        }
        self.load.skipped_lines = dead.len();
        let _ = (instance_id, lane);
        Ok(compact || !dead.is_empty())
    }

    fn replay_line(&mut self, line: &str, dead: &mut Vec<String>) {
        self.log_lines += 1;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(done) = value.get("done").and_then(|d| d.as_array()) {
                let done: HashSet<u64> = done.iter().filter_map(|s| s.as_u64()).collect();
                self.items.retain(|u| !done.contains(&u.seq()));
                return;
            }
        }
        match parse_update(line) {
            Ok(update) => {
                if let Some(key) = state_key(&update) {
                    self.items
                        .retain(|queued| state_key(queued).as_deref() != Some(key.as_str()));
                }
                self.items.push_back(update);
            }
            // A line cut short by a crash while appending, or edited by hand.
            Err(_) => dead.push(line.to_owned()),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The next `seq` this queue will hand out.
    pub fn peek_seq(&self) -> u64 {
        self.next_seq
    }

    /// Tickets reported open or pending and not reported closed since.
    pub fn open_tickets(&self) -> &BTreeMap<String, u64> {
        &self.open
    }

    /// Numbers `update`, gives a signal without id `<lane>:<seq>`, replaces a queued update of
    /// the same state key, and persists it. `check` runs on the numbered update before it is
    /// queued (the contract's validation); its error leaves the queue unchanged.
    pub fn push(
        &mut self,
        mut update: Update,
        lane: &str,
        check: impl FnOnce(&Update) -> Result<(), String>,
    ) -> Result<u64, PushError> {
        let seq = self.take_seq()?;
        set_seq(&mut update, seq);
        if let Update::Signal(signal) = &mut update {
            if signal.signal_id.is_empty() {
                signal.signal_id = format!("{lane}:{seq}");
            }
        }
        check(&update).map_err(PushError::Invalid)?;
        if let Some(key) = state_key(&update) {
            self.items
                .retain(|queued| state_key(queued).as_deref() != Some(key.as_str()));
        }
        let line = update_json(&update);
        self.track_open(&update)?;
        self.items.push_back(update);
        self.append(&line)?;
        Ok(seq)
    }

    /// Queues a state update again under a new seq, unless a newer update of its key is queued
    /// already. Returns the new seq.
    pub fn requeue(&mut self, update: Update, lane: &str) -> io::Result<Option<u64>> {
        let key = state_key(&update);
        if key.is_some()
            && self
                .items
                .iter()
                .any(|queued| state_key(queued) == key && queued.seq() > update.seq())
        {
            return Ok(None);
        }
        match self.push(update, lane, |_| Ok(())) {
            Ok(seq) => Ok(Some(seq)),
            Err(PushError::Io(e)) => Err(e),
            Err(PushError::Invalid(_)) => Ok(None),
        }
    }

    /// Moves numbering past `stored_seq` (by [`crate::SEQ_JUMP_MARGIN`]) unless it is past it
    /// already.
    pub fn jump_past(&mut self, stored_seq: u64) -> io::Result<()> {
        if stored_seq < self.next_seq {
            return Ok(());
        }
        self.next_seq = stored_seq
            .saturating_add(1)
            .saturating_add(crate::SEQ_JUMP_MARGIN);
        self.reserve(self.next_seq)
    }

    /// Up to `count` updates to send now, in sending order: the instance state, then trade
    /// states, then signals (each oldest first), leaving out kinds that are not `ready`.
    pub fn batch(&self, count: usize, ready: [bool; 3]) -> Vec<Update> {
        let mut by_kind: [Vec<&Update>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for update in &self.items {
            let kind = kind_index(update);
            if ready[kind] && by_kind[kind].len() < count {
                by_kind[kind].push(update);
            }
        }
        by_kind
            .iter()
            .flatten()
            .take(count)
            .map(|u| (*u).clone())
            .collect()
    }

    /// Which kinds have queued updates.
    pub fn kinds_queued(&self) -> [bool; 3] {
        let mut queued = [false; 3];
        for update in &self.items {
            queued[kind_index(update)] = true;
        }
        queued
    }

    /// Drops the updates with these `seq`s (acknowledged or refused for good).
    pub fn remove(&mut self, seqs: &[u64]) -> io::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let set: HashSet<u64> = seqs.iter().copied().collect();
        self.items.retain(|update| !set.contains(&update.seq()));
        let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
        self.append(&format!("{{\"done\":[{}]}}", list.join(",")))
    }

    /// Writes a refused update with its reason to the dead-letter file (the caller removes it).
    pub fn dead_letter(&self, update: &Update, reason: &str) -> io::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let mut text = String::from("{\"reason\":");
        json_string(reason, &mut text);
        text.push_str(",\"update\":");
        text.push_str(&update_json(update));
        text.push('}');
        files.dead_letter(&text)
    }

    fn track_open(&mut self, update: &Update) -> io::Result<()> {
        let Some((ticket, live)) = trade_liveness(update) else {
            return Ok(());
        };
        let changed = if live {
            let id = ticket.parse().unwrap_or(0);
            self.open.insert(ticket.to_owned(), id) != Some(id)
        } else {
            self.open.remove(ticket).is_some()
        };
        match (&self.files, changed) {
            (Some(files), true) => files.write_open(&self.open),
            _ => Ok(()),
        }
    }

    fn take_seq(&mut self) -> io::Result<u64> {
        let seq = self.next_seq;
        if seq > self.seq_file.reserved {
            self.reserve(seq)?;
        }
        self.next_seq += 1;
        Ok(seq)
    }

    /// Raises the reservation to `seq + SEQ_BLOCK` on disk.
    fn reserve(&mut self, seq: u64) -> io::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let mut seq_file = self.seq_file;
        seq_file.reserved = seq.saturating_add(SEQ_BLOCK);
        files.write_seq(&seq_file)?;
        self.seq_file = seq_file;
        Ok(())
    }

    fn append(&mut self, line: &str) -> io::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let dead = (self.log_lines + 1).saturating_sub(self.items.len());
        if dead > COMPACT_MIN_DEAD && dead > self.items.len() {
            return self.compact();
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(files.path("log"))?;
        file.write_all(format!("{line}\n").as_bytes())?;
        self.log_lines += 1;
        self.bytes_written += line.len() as u64 + 1;
        Ok(())
    }

    /// Rewrites the log with its header and the live updates only.
    fn compact(&mut self) -> io::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let mut text = header_line(&files.path("log"));
        for update in &self.items {
            text.push_str(&update_json(update));
            text.push('\n');
        }
        write_atomically(&files.path("log"), text.as_bytes())?;
        self.bytes_written += text.len() as u64;
        let legacy = files.path("legacy");
        if legacy.exists() {
            fs::remove_file(legacy)?;
        }
        self.log_lines = self.items.len();
        Ok(())
    }
}

/// `{"tradestate_queue":2,"instance_id":"<id>","lane":"<lane>"}`, from the log's file name.
fn header_line(log: &Path) -> String {
    let name = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (instance_id, lane) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
    let mut text = format!("{{\"tradestate_queue\":{QUEUE_VERSION},\"instance_id\":");
    json_string(instance_id, &mut text);
    text.push_str(",\"lane\":");
    json_string(lane, &mut text);
    text.push_str("}\n");
    text
}

/// Why an update was not queued.
#[derive(Debug)]
pub enum PushError {
    Io(io::Error),
    /// The contract refuses it; the message names the field.
    Invalid(String),
}

impl From<io::Error> for PushError {
    fn from(e: io::Error) -> Self {
        PushError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{SignalAction, TradeSignal};
    use std::path::PathBuf;

    fn signal(id: &str) -> Update {
        Update::Signal(TradeSignal {
            seq: 0,
            signal_id: id.into(),
            time_msc: 1_718_020_800_000,
            strategy: "s".into(),
            symbol: "EURUSD".into(),
            action: SignalAction::Buy,
            volume: None,
            price: None,
            sl: None,
            tp: None,
            magic: None,
            comment: None,
        })
    }

    fn temp_dir(name: &str) -> PathBuf {
        tradestate_test_support::temp_path(&format!("tradestate-queue-{name}"))
    }

    fn open(dir: &Path) -> Queue {
        Queue::open(dir, "T1", "main", 1, None).unwrap()
    }

    fn push(queue: &mut Queue, update: Update) -> u64 {
        queue.push(update, "main", |_| Ok(())).unwrap()
    }

    #[test]
    fn queue_and_seq_survive_a_reopen_and_start_from_the_clock() {
        let dir = temp_dir("reopen");
        let mut queue = open(&dir);
        let first = push(&mut queue, signal("a"));
        assert!(first >= clock_floor() - 10_000_000, "{first}");
        let second = push(&mut queue, signal("b"));
        queue.remove(&[first]).unwrap();
        drop(queue);
        let mut queue = open(&dir);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.batch(5, [true; 3])[0].seq(), second);
        // Numbering resumes above the reservation, never reusing a seq.
        assert!(push(&mut queue, signal("c")) > second + SEQ_BLOCK - 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_goes_to_the_dead_letter_file() {
        let dir = temp_dir("torn");
        let mut queue = open(&dir);
        push(&mut queue, signal("a"));
        drop(queue);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join("T1.main.log"))
            .unwrap();
        file.write_all(b"{\"kind\":\"sig").unwrap();
        let queue = open(&dir);
        assert_eq!((queue.len(), queue.load.skipped_lines), (1, 1));
        let dead = fs::read_to_string(dir.join("T1.main.dead")).unwrap();
        assert!(dead.contains("unreadable queue line"), "{dead}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_copy_of_a_lane_is_refused_and_other_lanes_open() {
        let dir = temp_dir("lock");
        let _first = open(&dir);
        assert!(matches!(
            Queue::open(&dir, "T1", "main", 1, None),
            Err(LaneError::InUse(_))
        ));
        assert!(Queue::open(&dir, "T1", "strategy", 1, None).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn draining_compacts_the_log() {
        let dir = temp_dir("compact");
        let mut queue = open(&dir);
        let seqs: Vec<u64> = (0..5000)
            .map(|i| push(&mut queue, signal(&format!("s{i}"))))
            .collect();
        for chunk in seqs.chunks(100) {
            queue.remove(chunk).unwrap();
        }
        assert!(queue.is_empty());
        let size = fs::metadata(dir.join("T1.main.log")).unwrap().len();
        assert!(size < 200_000, "log still {size} bytes");
        drop(queue);
        assert!(open(&dir).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_version_is_set_aside() {
        let dir = temp_dir("version");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("T1.main.log"), "{\"tradestate_queue\":3}\n{}\n").unwrap();
        let queue = open(&dir);
        assert!(queue.is_empty());
        assert!(queue.load.set_aside.as_deref().unwrap().ends_with(".v3"));
        let _ = fs::remove_dir_all(&dir);
    }
}
