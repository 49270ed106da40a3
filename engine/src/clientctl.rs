//! Client flow control: CLIENT PAUSE (all commands, or only writes, held back until a deadline
//! or CLIENT UNPAUSE), CLIENT REPLY (ON/OFF/SKIP) and the `client-output-buffer-limit` check
//! for normal clients. The connection loop asks these functions; the CLIENT subcommands set
//! the state.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::commands::{flags, lookup};
use crate::config::BufferLimit;
use crate::server::Client;

/// A CLIENT PAUSE in force.
#[derive(Clone, Copy, Debug)]
pub struct Pause {
    pub until: Instant,
    /// WRITE mode: only commands that may write are held.
    pub writes_only: bool,
}

#[derive(Debug, Default)]
pub struct PauseState {
    current: Option<Pause>,
    /// Wakes held connections at CLIENT UNPAUSE (or a shorter new pause).
    pub changed: Rc<Notify>,
}

impl PauseState {
    /// Redis's `pauseClients`: the later deadline and the stricter mode (ALL over WRITE) win.
    pub fn pause(&mut self, until: Instant, writes_only: bool) {
        let merged = match self.current {
            Some(p) if p.until > Instant::now() => Pause {
                until: p.until.max(until),
                writes_only: p.writes_only && writes_only,
            },
            _ => Pause { until, writes_only },
        };
        self.current = Some(merged);
    }

    pub fn unpause(&mut self) {
        self.current = None;
        self.changed.notify_waiters();
    }

    /// The pause that holds back a command named `name`, if any (expired pauses end here).
    pub fn holding(&mut self, name: &[u8]) -> Option<Pause> {
        let p = self.current?;
        if p.until <= Instant::now() {
            self.current = None;
            return None;
        }
        if !p.writes_only {
            return Some(p);
        }
        // Redis's `is_may_replicate_command`: writes and may-replicate commands.
        let may_write = lookup(name)
            .is_some_and(|spec| spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0);
        may_write.then_some(p)
    }
}

/// What CLIENT REPLY left for the command that just ran: whether its replies are dropped.
/// Called after every command (Redis's `resetClient` handling of the SKIP flags).
pub fn replies_dropped(client: &mut Client) -> bool {
    let dropped = client.reply_off || client.reply_skip;
    client.reply_skip = client.reply_skip_next;
    client.reply_skip_next = false;
    dropped
}

/// Bytes Redis would count against the output buffer limit: the replies beyond its 16 KiB
/// static buffer.
fn limited_bytes(pending: usize) -> u64 {
    pending.saturating_sub(16 * 1024) as u64
}

/// The `client-output-buffer-limit normal` verdict for `pending` reply bytes: close now (hard
/// limit), or how long the write may take before the soft limit closes the client.
pub enum OutputVerdict {
    Write,
    WriteWithin(Duration),
    Close,
}

pub fn output_verdict(limit: &BufferLimit, pending: usize) -> OutputVerdict {
    let bytes = limited_bytes(pending);
    if limit.hard > 0 && bytes >= limit.hard {
        return OutputVerdict::Close;
    }
    if limit.soft > 0 && bytes >= limit.soft {
        return OutputVerdict::WriteWithin(Duration::from_secs(
            limit.soft_seconds.max(0) as u64 + 1,
        ));
    }
    OutputVerdict::Write
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_pause_holds_only_writes() {
        let mut p = PauseState::default();
        p.pause(Instant::now() + Duration::from_secs(5), true);
        assert!(p.holding(b"set").is_some());
        assert!(p.holding(b"GET").is_none());
        p.pause(Instant::now() + Duration::from_secs(1), false);
        assert!(p.holding(b"get").is_some(), "ALL wins over WRITE");
        p.unpause();
        assert!(p.holding(b"set").is_none());
        p.pause(Instant::now(), false);
        assert!(p.holding(b"get").is_none(), "expired");
    }

    #[test]
    fn output_limits() {
        let limit = BufferLimit {
            hard: 1000,
            soft: 500,
            soft_seconds: 2,
        };
        assert!(matches!(
            output_verdict(&limit, 16 * 1024 + 10),
            OutputVerdict::Write
        ));
        assert!(matches!(
            output_verdict(&limit, 16 * 1024 + 600),
            OutputVerdict::WriteWithin(_)
        ));
        assert!(matches!(
            output_verdict(&limit, 16 * 1024 + 1000),
            OutputVerdict::Close
        ));
    }
}
