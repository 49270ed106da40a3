//! A spill's files: segments `<dir>/<n, 20 digits>.spill`, each an 8-byte magic then frames
//! (see `record`), appended by one thread per partition and deleted once every record in them
//! has been written to the partition.
//!
//! The thread takes every append waiting for it, writes them with one `write(2)` and, with
//! `fsync = always`, one `fdatasync` before any is answered (group commit); `everysec` syncs at
//! most a second later, `no` leaves it to the kernel. A write that fails (a full disk) is cut off
//! again so the file stays whole, and its appends are refused rather than half kept.

// Unsafe code here: the flock and statvfs calls; each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::record::{self, Frame};
use super::{Settings, Spill, SpillError};
use crate::ops::{Op, Partition};
use crate::writer::unix_ms;

const MAGIC: &[u8; 8] = b"TSSPILL\x01";
const EXTENSION: &str = "spill";
/// Most appends written together.
const GROUP_MAX: usize = 512;
/// How often an idle appender looks whether its segment has drained (and can go).
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often the free space of the spill's disk is looked at.
const FREE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// When appends reach the disk, as the engines' `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(text: &str) -> Option<Fsync> {
        match text {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

pub(super) struct Request {
    pub ops: Vec<Arc<Op>>,
    pub reply: oneshot::Sender<Result<(), SpillError>>,
}

pub(super) struct LoadedRecord {
    pub segment: u64,
    pub frame_bytes: u64,
    pub op: Op,
    pub spooled_ms: u64,
}

pub(super) struct Loaded {
    /// Segment numbers and their sizes, in order.
    pub segments: Vec<(u64, u64)>,
    /// Past every segment file found, whether it loaded or not.
    pub next_segment: u64,
    pub records: Vec<LoadedRecord>,
    pub error: Option<String>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.{EXTENSION}"))
}

pub(super) fn remove_segment(dir: &Path, n: u64) {
    let path = segment_path(dir, n);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), "spill: cannot delete a replayed segment: {e}");
        }
    }
}

/// Takes `<dir>/LOCK` (flock, released when the file closes): two processes appending to and
/// deleting one spill's segments would lose what the other acknowledged.
pub(super) fn lock_dir(dir: &Path, partition: Partition) -> Result<File, String> {
    use std::os::fd::AsRawFd;
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("spill: cannot open {}: {e}", path.display()))?;
    // SAFETY: the descriptor belongs to `file`, which outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(format!(
            "spill: partition {}: {} is in use by another tradestate process; a data_dir cannot be shared: stop that process or give this one its own data_dir",
            partition.name(),
            dir.display()
        ));
    }
    Ok(file)
}

/// Reads every segment a previous run left in `dir`, in order.
pub(super) fn load(dir: &Path, partition: Partition) -> Result<Loaded, String> {
    let mut numbers = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("spill: cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_suffix(&format!(".{EXTENSION}"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    let mut loaded = Loaded {
        segments: Vec::new(),
        next_segment: numbers.last().map_or(1, |n| n + 1),
        records: Vec::new(),
        error: None,
    };
    for (index, &n) in numbers.iter().enumerate() {
        let path = segment_path(dir, n);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("spill: cannot read {}: {e}", path.display()))?;
        // Only the newest segment can end in a write a crash cut short: an older one was whole
        // and synced before the next began, so anything odd in it is corruption.
        let newest = index + 1 == numbers.len();
        match read_segment(n, &bytes, newest) {
            Ok((records, whole)) => {
                if whole < bytes.len() {
                    let kept = keep_tail(dir, n, whole, &bytes[whole..]);
                    tracing::warn!(
                        partition = partition.name(),
                        file = %path.display(),
                        cut_at = whole,
                        tail_kept_in = %kept,
                        "spill: the last record was cut short by a crash; removing the torn tail"
                    );
                    truncate(&path, whole as u64)?;
                }
                loaded.segments.push((n, whole as u64));
                loaded.records.extend(records);
            }
            Err((offset, why)) => {
                let aside = dir.join("corrupt");
                let moved = move_aside(dir, &aside, &numbers[index..]);
                let message = format!(
                    "spill: partition {}: {} has a corrupt record at byte {offset} ({why}); \
                     the records before this file are replayed, this file and the {} after it \
                     were moved to {} and are NOT replayed{}",
                    partition.name(),
                    path.display(),
                    numbers.len() - index - 1,
                    aside.display(),
                    match moved {
                        Ok(()) => String::new(),
                        Err(e) => format!(" (moving them failed: {e}; move them by hand)"),
                    }
                );
                tracing::error!("{message}");
                metrics::counter!("tradestate_spill_corrupt_total", "partition" => partition.name())
                    .increment(1);
                loaded.error = Some(message);
                break;
            }
        }
    }
    Ok(loaded)
}

/// The records of one segment and how many of its bytes are whole; `Err` names the offset and
/// the problem of a corrupt record that is not the last.
fn read_segment(
    n: u64,
    bytes: &[u8],
    newest: bool,
) -> Result<(Vec<LoadedRecord>, usize), (usize, String)> {
    if bytes.len() < MAGIC.len() {
        // Created, then the crash came before its header was whole: nothing in it.
        return match newest {
            true => Ok((Vec::new(), 0)),
            false => Err((0, "shorter than a segment header".into())),
        };
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err((0, "not a spill segment (wrong magic bytes)".into()));
    }
    let mut records = Vec::new();
    let mut offset = MAGIC.len();
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        match record::frame(rest) {
            Frame::Whole { payload, len } => {
                let decoded = record::decode(payload).map_err(|why| (offset, why))?;
                records.push(LoadedRecord {
                    segment: n,
                    frame_bytes: len as u64,
                    op: decoded.op,
                    spooled_ms: decoded.spooled_ms,
                });
                offset += len;
            }
            Frame::Torn if newest => return Ok((records, offset)),
            Frame::Torn => {
                return Err((
                    offset,
                    "a record runs past the end of a closed segment".into(),
                ))
            }
            Frame::Corrupt(why) => {
                let declared = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                // A bad checksum on the newest segment's very last frame is a write the crash
                // cut short.
                if newest
                    && declared <= record::MAX_PAYLOAD
                    && offset + record::FRAME_HEADER + declared == bytes.len()
                {
                    return Ok((records, offset));
                }
                return Err((offset, why));
            }
        }
    }
    Ok((records, offset))
}

/// Copies a torn tail to `corrupt/` before it is cut off, so nothing is destroyed without a
/// trace; returns where it went (or why it could not).
fn keep_tail(dir: &Path, n: u64, offset: usize, tail: &[u8]) -> String {
    let aside = dir.join("corrupt");
    let path = aside.join(format!("{n:020}.tail-at-{offset}"));
    match std::fs::create_dir_all(&aside).and_then(|()| std::fs::write(&path, tail)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not kept: {e})"),
    }
}

fn truncate(path: &Path, len: u64) -> Result<(), String> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| {
            f.set_len(len)?;
            f.sync_all()
        })
        .map_err(|e| format!("spill: cannot cut the torn tail of {}: {e}", path.display()))
}

fn move_aside(dir: &Path, aside: &Path, numbers: &[u64]) -> std::io::Result<()> {
    std::fs::create_dir_all(aside)?;
    for &n in numbers {
        let from = segment_path(dir, n);
        let mut to = aside.join(from.file_name().unwrap_or_default());
        if to.exists() {
            to = aside.join(format!("{n:020}.{}.{EXTENSION}", unix_ms()));
        }
        std::fs::rename(&from, &to)?;
    }
    Ok(())
}

pub(super) fn start_appender(
    spill: Arc<Spill>,
    settings: Settings,
    next_segment: u64,
) -> Result<(Sender<Request>, std::thread::JoinHandle<()>), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = format!("spill-{}", spill.partition.name());
    let appender = Appender {
        spill,
        settings,
        file: None,
        next_segment,
        dirty: false,
        last_sync: Instant::now(),
        free: None,
        buf: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || appender.run(rx))
        .map_err(|e| format!("spill: cannot start its thread: {e}"))?;
    Ok((tx, thread))
}

/// The segment being appended to: its number, file and length.
struct Active {
    n: u64,
    file: File,
    len: u64,
}

struct Appender {
    spill: Arc<Spill>,
    settings: Settings,
    file: Option<Active>,
    next_segment: u64,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
    /// When free space was last looked at, and what was wrong then.
    free: Option<(Instant, Option<String>)>,
    buf: Vec<u8>,
}

impl Appender {
    fn run(mut self, rx: Receiver<Request>) {
        loop {
            let wait = if self.dirty && self.settings.fsync == Fsync::EverySec {
                Duration::from_secs(1).saturating_sub(self.last_sync.elapsed())
            } else {
                IDLE_CHECK_EVERY
            };
            let first = match rx.recv_timeout(wait) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync();
                    self.retire_if_drained();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.sync();
                    return;
                }
            };
            let mut group = vec![first];
            while group.len() < GROUP_MAX {
                match rx.try_recv() {
                    Ok(request) => group.push(request),
                    Err(_) => break,
                }
            }
            self.write_group(group);
            if self.dirty
                && self.settings.fsync == Fsync::EverySec
                && self.last_sync.elapsed() >= Duration::from_secs(1)
            {
                self.sync();
            }
        }
    }

    fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        let failed = match &self.file {
            Some(active) => active.file.sync_data().err().map(|e| (active.n, e)),
            None => None,
        };
        self.dirty = false;
        self.last_sync = Instant::now();
        if let Some((n, e)) = failed {
            self.abandon_segment(format!(
                "spill: partition {}: fsync of segment {n} failed ({e}); what it holds may not survive a power loss; appends continue in a new segment",
                self.spill.partition.name()
            ));
        }
    }

    /// Closes and deletes the active segment once every record in it has been written, so a
    /// drained spill holds no files; the next append starts a new one.
    fn retire_if_drained(&mut self) {
        let Some(active) = &self.file else { return };
        let n = active.n;
        let mut state = self.spill.lock();
        if state.segments.get(&n).is_some_and(|info| info.live > 0) {
            return;
        }
        if let Some(info) = state.segments.remove(&n) {
            state.bytes -= info.bytes;
        }
        state.active = None;
        drop(state);
        self.file = None;
        self.dirty = false;
        remove_segment(&self.spill.dir, n);
        self.spill.publish();
    }

    /// Why nothing more may be spooled now, if the disk is under `spill.min_free_bytes`.
    fn disk_floor(&mut self) -> Option<String> {
        if let Some((at, verdict)) = &self.free {
            if at.elapsed() < FREE_CHECK_EVERY {
                return verdict.clone();
            }
        }
        let verdict = match free_bytes(&self.spill.dir) {
            Some(free) if free < self.settings.min_free_bytes => Some(format!(
                "the disk of {} has {free} bytes free, under spill.min_free_bytes ({})",
                self.spill.dir.display(),
                self.settings.min_free_bytes
            )),
            _ => None,
        };
        self.free = Some((Instant::now(), verdict.clone()));
        verdict
    }

    fn write_group(&mut self, group: Vec<Request>) {
        let now = unix_ms();
        let floor = self.disk_floor();
        let held = self.spill.lock().bytes;
        self.buf.clear();
        let mut accepted: Vec<(Request, Vec<u64>)> = Vec::with_capacity(group.len());
        for request in group {
            let start = self.buf.len();
            let mut lens = Vec::with_capacity(request.ops.len());
            for op in &request.ops {
                let before = self.buf.len();
                record::encode(op, now, &mut self.buf);
                lens.push((self.buf.len() - before) as u64);
            }
            let size = (self.buf.len() - start) as u64;
            let refusal = floor.clone().or_else(|| {
                let total = held + (start as u64) + size;
                (total > self.settings.max_bytes).then(|| {
                    format!(
                        "partition {} has {held} bytes spooled; {size} more would pass spill.max_bytes ({})",
                        self.spill.partition.name(),
                        self.settings.max_bytes
                    )
                })
            });
            if let Some(why) = refusal {
                self.buf.truncate(start);
                metrics::counter!("tradestate_spill_refused_total", "partition" => self.spill.partition.name())
                    .increment(request.ops.len() as u64);
                let _ = request.reply.send(Err(SpillError::Full(why)));
                continue;
            }
            accepted.push((request, lens));
        }
        if accepted.is_empty() {
            return;
        }
        let segment = match self.write_buf() {
            Ok(segment) => segment,
            Err(e) => {
                tracing::error!(
                    partition = self.spill.partition.name(),
                    "spill: write failed: {e}"
                );
                for (request, _) in accepted {
                    let _ = request.reply.send(Err(SpillError::Io(e.to_string())));
                }
                return;
            }
        };
        let mut records = 0u64;
        let mut gone = Vec::new();
        {
            let mut state = self.spill.lock();
            state.add_bytes(segment, self.buf.len() as u64);
            for (request, lens) in &accepted {
                for (op, len) in request.ops.iter().zip(lens) {
                    state.insert(op.clone(), segment, *len, now, &mut gone);
                    records += 1;
                }
            }
            self.spill.any_pending.store(
                !state.pending.is_empty(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let p = self.spill.partition.name();
        metrics::counter!("tradestate_spilled_records_total", "partition" => p).increment(records);
        metrics::counter!("tradestate_spilled_bytes_total", "partition" => p)
            .increment(self.buf.len() as u64);
        self.spill.notify.notify_one();
        self.spill.publish();
        for (request, _) in accepted {
            let _ = request.reply.send(Ok(()));
        }
    }

    /// Writes `buf` to the active segment (starting one if due) and syncs per policy; returns
    /// the segment's number. On failure the segment is cut back to where it was.
    fn write_buf(&mut self) -> std::io::Result<u64> {
        self.rotate_if_due()?;
        let always = self.settings.fsync == Fsync::Always;
        let Some(active) = self.file.as_mut() else {
            return Err(std::io::Error::other("no segment open"));
        };
        let written = active.file.write_all(&self.buf).and_then(|()| {
            if always {
                active.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Appends go to the end of the file, so cutting it back makes the next one whole.
            if let Err(cut) = active.file.set_len(active.len) {
                let n = active.n;
                self.abandon_segment(format!(
                    "spill: partition {}: a failed write ({e}) could not be cut off segment {n} ({cut}); appends continue in a new segment",
                    self.spill.partition.name()
                ));
            }
            return Err(e);
        }
        active.len += self.buf.len() as u64;
        if always {
            self.last_sync = Instant::now();
        } else {
            self.dirty = true;
        }
        Ok(active.n)
    }

    fn create_segment(&self, path: &Path) -> std::io::Result<File> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        file.write_all(MAGIC)?;
        if self.settings.fsync != Fsync::No {
            file.sync_data()?;
            File::open(&self.spill.dir)?.sync_all()?;
        }
        Ok(file)
    }

    /// Stops appending to the active segment after a write or sync on it failed: what it holds
    /// stays indexed (and is replayed), the next append starts a new file, and the failure is
    /// shown in `/readyz`.
    fn abandon_segment(&mut self, why: String) {
        tracing::error!(partition = self.spill.partition.name(), "{why}");
        self.file = None;
        self.dirty = false;
        let mut state = self.spill.lock();
        state.active = None;
        state.error = Some(why);
    }

    /// Starts a new segment when there is none, the active one is full, or every record in it
    /// has been written already (so its file can go).
    fn rotate_if_due(&mut self) -> std::io::Result<()> {
        let due = match &self.file {
            None => true,
            Some(active) => {
                let live = self
                    .spill
                    .lock()
                    .segments
                    .get(&active.n)
                    .map_or(0, |info| info.live);
                active.len >= self.settings.segment_bytes
                    || (live == 0 && active.len > MAGIC.len() as u64)
            }
        };
        if !due {
            return Ok(());
        }
        // The previous segment is made durable before anything is written past it.
        if let Some(previous) = &self.file {
            if self.settings.fsync != Fsync::No && self.dirty {
                previous.file.sync_data()?;
            }
        }
        // A failed attempt never leaves a number behind to collide with.
        let n = self.next_segment;
        self.next_segment += 1;
        let path = segment_path(&self.spill.dir, n);
        let file = match self.create_segment(&path) {
            Ok(file) => file,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        self.dirty = false;
        let previous = self.file.replace(Active {
            n,
            file,
            len: MAGIC.len() as u64,
        });
        let mut state = self.spill.lock();
        state.active = Some(n);
        state.add_bytes(n, MAGIC.len() as u64);
        if let Some(previous) = previous {
            if state.segments.get(&previous.n).is_some_and(|i| i.live == 0) {
                if let Some(info) = state.segments.remove(&previous.n) {
                    state.bytes -= info.bytes;
                }
                drop(state);
                remove_segment(&self.spill.dir, previous.n);
            }
        }
        Ok(())
    }
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain integers, for which all-zero bytes are a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stat` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}
