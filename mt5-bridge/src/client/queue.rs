//! The client's queue of unsent updates and its sequence counter, optionally kept on disk so a
//! restart of the client loses nothing and never reuses a `seq`.
//!
//! On disk (in `queue_dir`), per terminal:
//! - `<id>.queue`: one update per line, as its wire JSON (`{"kind":...}`), oldest first. A new
//!   update is appended; acknowledging or coalescing rewrites the file (temp file + rename).
//! - `<id>.seq`: the highest `seq` handed out may not exceed this number; it is raised in blocks
//!   of [`SEQ_BLOCK`] so the counter is not written for every update. After a restart numbering
//!   resumes above it (a gap is fine: `seq` must grow, not be dense).
//!
//! State updates are last-write-wins, so a queued instance state or trade state is replaced by a
//! newer one of the same key (the terminal, or the ticket): the queue is bounded by live keys
//! plus signals. Signals are never coalesced.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::types::Update;
use crate::wire::update_json;

/// How far the on-disk `seq` reservation runs ahead of the last number handed out.
pub const SEQ_BLOCK: u64 = 1000;

/// The last-write-wins key of a state update; `None` for signals.
pub fn state_key(update: &Update) -> Option<String> {
    match update {
        Update::Instance(_) => Some("instance".to_owned()),
        Update::Trade(trade) => Some(format!("trade:{}", trade.ticket)),
        Update::Signal(_) => None,
    }
}

pub(crate) fn set_seq(update: &mut Update, seq: u64) {
    match update {
        Update::Instance(state) => state.seq = seq,
        Update::Trade(trade) => trade.seq = seq,
        Update::Signal(signal) => signal.seq = seq,
    }
}

struct Files {
    queue: PathBuf,
    seq: PathBuf,
}

pub struct Queue {
    items: VecDeque<Update>,
    files: Option<Files>,
    next_seq: u64,
    reserved: u64,
    /// Lines of a queue file that did not parse when it was loaded (dropped).
    pub skipped_lines: usize,
}

impl Queue {
    /// Loads the queue of `instance_id` from `dir` (created if missing), or an empty in-memory
    /// queue numbering from `first_seq` when `dir` is `None`.
    pub fn open(dir: Option<&Path>, instance_id: &str, first_seq: u64) -> io::Result<Queue> {
        let Some(dir) = dir else {
            return Ok(Queue {
                items: VecDeque::new(),
                files: None,
                next_seq: first_seq,
                reserved: u64::MAX,
                skipped_lines: 0,
            });
        };
        fs::create_dir_all(dir)?;
        let files = Files {
            queue: dir.join(format!("{instance_id}.queue")),
            seq: dir.join(format!("{instance_id}.seq")),
        };
        let mut items = VecDeque::new();
        let mut skipped_lines = 0;
        match File::open(&files.queue) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Update>(&line) {
                        Ok(update) => items.push_back(update),
                        // A line cut short by a crash while appending.
                        Err(_) => skipped_lines += 1,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let reserved = match fs::read_to_string(&files.seq) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: not a number; delete it only if the gateway holds no data of {instance_id}",
                        files.seq.display()
                    ),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let queued_max = items.iter().map(Update::seq).max().unwrap_or(0);
        let next_seq = first_seq.max(reserved + 1).max(queued_max + 1);
        let mut queue = Queue {
            items,
            files: Some(files),
            next_seq,
            reserved: next_seq - 1,
            skipped_lines,
        };
        if skipped_lines > 0 {
            queue.rewrite()?;
        }
        Ok(queue)
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

    /// Numbers `update`, replaces a queued update of the same state key, and persists it.
    pub fn push(&mut self, mut update: Update) -> io::Result<u64> {
        let seq = self.take_seq()?;
        set_seq(&mut update, seq);
        let coalesced = match state_key(&update) {
            Some(key) => {
                let before = self.items.len();
                self.items
                    .retain(|queued| state_key(queued).as_deref() != Some(key.as_str()));
                self.items.len() != before
            }
            None => false,
        };
        self.items.push_back(update);
        if coalesced {
            self.rewrite()?;
        } else if let Some(files) = &self.files {
            let mut line = update_json(self.items.back().expect("just pushed"));
            line.push('\n');
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&files.queue)?;
            file.write_all(line.as_bytes())?;
        }
        Ok(seq)
    }

    /// The oldest `count` updates (they stay queued until [`Queue::remove`]).
    pub fn oldest(&self, count: usize) -> Vec<Update> {
        self.items.iter().take(count).cloned().collect()
    }

    /// Drops the updates with these `seq`s (acknowledged or refused for good).
    pub fn remove(&mut self, seqs: &[u64]) -> io::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.items.retain(|update| !seqs.contains(&update.seq()));
        self.rewrite()
    }

    fn take_seq(&mut self) -> io::Result<u64> {
        let seq = self.next_seq;
        if seq > self.reserved {
            if let Some(files) = &self.files {
                let reserved = seq + SEQ_BLOCK;
                write_atomically(&files.seq, format!("{reserved}\n").as_bytes())?;
                self.reserved = reserved;
            }
        }
        self.next_seq += 1;
        Ok(seq)
    }

    fn rewrite(&mut self) -> io::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let mut text = String::new();
        for update in &self.items {
            text.push_str(&update_json(update));
            text.push('\n');
        }
        write_atomically(&files.queue, text.as_bytes())
    }
}

/// Writes `path` through a temp file and a rename, so a crash leaves the old or the new file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = path.with_extension("tmp");
    {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
    }
    fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{SignalAction, TradeSignal};

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
        let dir = std::env::temp_dir().join(format!(
            "tradestate-queue-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn queue_and_seq_survive_a_reopen() {
        let dir = temp_dir("reopen");
        let mut queue = Queue::open(Some(&dir), "T1", 1).unwrap();
        assert_eq!(queue.push(signal("a")).unwrap(), 1);
        assert_eq!(queue.push(signal("b")).unwrap(), 2);
        queue.remove(&[1]).unwrap();
        drop(queue);
        let mut queue = Queue::open(Some(&dir), "T1", 1).unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.oldest(5)[0].seq(), 2);
        // Numbering resumes above the reservation, never reusing a seq.
        assert!(queue.push(signal("c")).unwrap() > 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let dir = temp_dir("torn");
        let mut queue = Queue::open(Some(&dir), "T1", 1).unwrap();
        queue.push(signal("a")).unwrap();
        drop(queue);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join("T1.queue"))
            .unwrap();
        file.write_all(b"{\"kind\":\"sig").unwrap();
        let queue = Queue::open(Some(&dir), "T1", 1).unwrap();
        assert_eq!((queue.len(), queue.skipped_lines), (1, 1));
        let _ = fs::remove_dir_all(&dir);
    }
}
