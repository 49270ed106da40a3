//! The files of one lane (one program reporting as one instance id, CLIENT.md "Lanes and
//! files"): the lock that keeps a second copy out, the seq reservation with the login the id is
//! bound to, the tickets reported open, and the dead-letter file. The queue log's format lives
//! in `queue.rs`; this module only owns where things are and how small files are replaced.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A lane name: 1..32 of `[A-Za-z0-9_-]`.
pub fn validate_lane(lane: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&lane.len())
        && lane
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "lane {lane:?} must be 1..32 letters, digits, '_' or '-'"
        ))
    }
}

/// What the `.seq` file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqFile {
    /// No seq above this was handed out.
    pub reserved: u64,
    /// The account the instance id is bound to, once known.
    pub login: Option<u64>,
}

impl SeqFile {
    /// `reserved=<n>` / `login=<n>` lines; a bare number is library 1.0's reservation.
    pub fn parse(text: &str) -> Result<SeqFile, String> {
        let mut file = SeqFile::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once('=').unwrap_or(("reserved", line));
            let number = value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{line:?} is not <name>=<number>"))?;
            match name.trim() {
                "reserved" => file.reserved = number,
                "login" => file.login = Some(number),
                // A later version's line: kept out of the way, not an error.
                _ => {}
            }
        }
        Ok(file)
    }

    pub fn text(&self) -> String {
        let mut text = format!("reserved={}\n", self.reserved);
        if let Some(login) = self.login {
            text.push_str(&format!("login={login}\n"));
        }
        text
    }
}

/// Why a lane could not be opened.
#[derive(Debug)]
pub enum LaneError {
    Io(io::Error),
    /// Another copy holds the lock of this instance id and lane.
    InUse(String),
    /// The instance id is bound to another account.
    LoginMismatch {
        bound: u64,
        now: u64,
        message: String,
    },
    /// A file the lane needs is not what it should be.
    Corrupt(String),
}

impl From<io::Error> for LaneError {
    fn from(e: io::Error) -> Self {
        LaneError::Io(e)
    }
}

/// The open files and paths of one lane.
pub struct LaneFiles {
    dir: PathBuf,
    base: String,
    /// Held for the lane's life: a second copy's `try_lock` fails.
    _lock: File,
}

impl LaneFiles {
    /// Creates `dir`, takes the lane's lock and adopts library 1.0's `<id>.queue` / `<id>.seq`
    /// when this lane has no files yet.
    pub fn open(dir: &Path, instance_id: &str, lane: &str) -> Result<LaneFiles, LaneError> {
        validate_lane(lane).map_err(LaneError::Corrupt)?;
        fs::create_dir_all(dir)?;
        let base = format!("{instance_id}.{lane}");
        let lock_path = dir.join(format!("{base}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        if lock.try_lock().is_err() {
            return Err(LaneError::InUse(format!(
                "another copy reports as {instance_id} in lane {lane} ({}): stop it, or give this one another lane",
                lock_path.display()
            )));
        }
        let files = LaneFiles {
            dir: dir.to_path_buf(),
            base,
            _lock: lock,
        };
        files.adopt_legacy(instance_id)?;
        Ok(files)
    }

    pub fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.base))
    }

    /// Library 1.0 kept `<id>.queue` (JSON lines, no header) and `<id>.seq` (a number) per id;
    /// the first lane of that id to start takes them over, so nothing queued is left behind.
    fn adopt_legacy(&self, instance_id: &str) -> io::Result<()> {
        let old_queue = self.dir.join(format!("{instance_id}.queue"));
        let old_seq = self.dir.join(format!("{instance_id}.seq"));
        let log = self.path("log");
        if log.exists() || !(old_queue.exists() || old_seq.exists()) {
            return Ok(());
        }
        if old_seq.exists() {
            let seq_path = self.path("seq");
            if !seq_path.exists() {
                fs::rename(&old_seq, &seq_path)?;
            } else {
                fs::remove_file(&old_seq)?;
            }
        }
        if old_queue.exists() {
            fs::rename(&old_queue, self.path("legacy"))?;
        }
        Ok(())
    }

    pub fn read_seq(&self) -> Result<SeqFile, LaneError> {
        let path = self.path("seq");
        match fs::read_to_string(&path) {
            Ok(text) => SeqFile::parse(&text).map_err(|e| {
                LaneError::Corrupt(format!(
                    "{}: {e}; delete it only if the gateway holds no data of this terminal",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SeqFile::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn write_seq(&self, seq: &SeqFile) -> io::Result<()> {
        write_atomically(&self.path("seq"), seq.text().as_bytes())
    }

    /// `<ticket> <position_id>` lines.
    pub fn read_open(&self) -> io::Result<BTreeMap<String, u64>> {
        let text = match fs::read_to_string(self.path("open")) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        let mut open = BTreeMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if let Some(ticket) = words.next() {
                let id = words.next().and_then(|w| w.parse().ok());
                let id = id.or_else(|| ticket.parse().ok()).unwrap_or(0);
                open.insert(ticket.to_owned(), id);
            }
        }
        Ok(open)
    }

    pub fn write_open(&self, open: &BTreeMap<String, u64>) -> io::Result<()> {
        let mut text = String::new();
        for (ticket, id) in open {
            text.push_str(&format!("{ticket} {id}\n"));
        }
        write_atomically(&self.path("open"), text.as_bytes())
    }

    /// Appends one line to the dead-letter file.
    pub fn dead_letter(&self, line: &str) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("dead"))?;
        file.write_all(format!("{line}\n").as_bytes())
    }
}

/// Writes `path` through a temp file and a rename, so a crash leaves the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
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

    #[test]
    fn seq_file_reads_both_formats() {
        assert_eq!(
            SeqFile::parse("1000\n").unwrap(),
            SeqFile {
                reserved: 1000,
                login: None
            }
        );
        let file = SeqFile {
            reserved: 7,
            login: Some(42),
        };
        assert_eq!(SeqFile::parse(&file.text()).unwrap(), file);
        assert!(SeqFile::parse("reserved=x").is_err());
        assert_eq!(
            SeqFile::parse("reserved=3\nfuture=9\n").unwrap().reserved,
            3
        );
    }

    #[test]
    fn lane_names() {
        assert!(validate_lane("TradestateReporter").is_ok());
        assert!(validate_lane("a-b_c").is_ok());
        assert!(validate_lane("").is_err());
        assert!(validate_lane("has space").is_err());
        assert!(validate_lane(&"x".repeat(33)).is_err());
    }
}
