//! The slow log (Redis's `slowlog.c`): commands that ran for at least
//! `slowlog-log-slower-than` microseconds, newest first, at most `slowlog-max-len` of them,
//! and the SLOWLOG command.

use std::collections::VecDeque;

use crate::commands::server::subcommand_syntax_error;
use crate::commands::{arg_i64, flags, CmdError, CmdResult, CommandSpec, Ctx};
use crate::util::eq_ignore_case;

/// Arguments kept per entry; the last slot says how many more there were.
const MAX_ARGC: usize = 32;
/// Bytes kept per argument; the rest is summarised.
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix time in seconds when it was logged.
    pub time: i64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub client_name: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct SlowLog {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn push(&mut self, mut entry: Entry, max_len: usize) {
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

/// Redis's `slowlogPushCurrentCommand` + `slowlogPushEntryIfNeeded`: logs the command when it
/// took at least the threshold (a negative threshold turns the log off), with secrets redacted.
pub fn record(ctx: &mut Ctx, spec: &CommandSpec, slot: usize, argv: &[&[u8]], duration_us: u64) {
    let threshold = ctx.server.config.slowlog_log_slower_than;
    if threshold < 0 || (duration_us as i64) < threshold || spec.flags & flags::SKIP_SLOWLOG != 0 {
        return;
    }
    let full = crate::commands::table::stat_name(slot).unwrap_or_default();
    let redacted = redacted_positions(&full, argv);
    let entry = Entry {
        id: 0,
        time: crate::util::now_ms() / 1000,
        duration_us,
        argv: logged_args(argv, &redacted),
        peer: ctx.client.addr.clone(),
        client_name: ctx.client.name.clone().unwrap_or_default(),
    };
    let max_len = ctx.server.config.slowlog_max_len;
    ctx.server.slowlog.push(entry, max_len);
}

/// Arguments Redis replaces with `(redacted)` before logging (passwords).
fn redacted_positions(full: &str, argv: &[&[u8]]) -> Vec<usize> {
    match full {
        "auth" => (1..argv.len()).collect(),
        "acl|setuser" => (3..argv.len()).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut i = 2;
            while i < argv.len() {
                if eq_ignore_case(argv[i], "auth") && i + 2 < argv.len() {
                    out.extend([i + 1, i + 2]);
                    i += 3;
                } else {
                    i += 1;
                }
            }
            out
        }
        "config|set" => (2..argv.len())
            .step_by(2)
            .filter(|&i| {
                eq_ignore_case(argv[i], "requirepass") || eq_ignore_case(argv[i], "masterauth")
            })
            .map(|i| i + 1)
            .filter(|&i| i < argv.len())
            .collect(),
        _ => Vec::new(),
    }
}

/// The arguments as Redis keeps them: at most 32 (the last one counting the rest), each at
/// most 128 bytes plus a note of how many more there were.
fn logged_args(argv: &[&[u8]], redacted: &[usize]) -> Vec<Vec<u8>> {
    let kept = argv.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in argv.iter().enumerate().take(kept) {
        if kept != argv.len() && i == kept - 1 {
            out.push(format!("... ({} more arguments)", argv.len() - kept + 1).into_bytes());
        } else if redacted.contains(&i) {
            out.push(b"(redacted)".to_vec());
        } else if arg.len() > MAX_STRING {
            let mut s = arg[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_STRING).as_bytes());
            out.push(s);
        } else {
            out.push(arg.to_vec());
        }
    }
    out
}

const COUNT_ERROR: &str = "ERR count should be greater than or equal to -1";

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 for all).
pub fn slowlog_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let count = match argv.get(2) {
        None => 10,
        Some(a) => {
            let n = arg_i64(a).map_err(|_| CmdError::msg(COUNT_ERROR))?;
            if n < -1 {
                return Err(CmdError::msg(COUNT_ERROR));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
    };
    let n = count.min(ctx.server.slowlog.len());
    let out = &mut *ctx.out;
    out.array(n);
    for e in ctx.server.slowlog.entries().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(&e.client_name);
    }
    Ok(())
}

pub fn slowlog_len(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.slowlog.len() as i64);
    Ok(())
}

pub fn slowlog_reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

pub fn slowlog_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ];
    crate::commands::server::reply_help(ctx, argv[0], &lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_like_redis() {
        let big = vec![b'x'; 200];
        let mut argv: Vec<&[u8]> = vec![b"rpush", b"k", &big];
        let args: Vec<Vec<u8>> = (0..40).map(|i: i32| i.to_string().into_bytes()).collect();
        argv.extend(args.iter().map(Vec::as_slice));
        let logged = logged_args(&argv, &[]);
        assert_eq!(logged.len(), 32);
        assert_eq!(logged[2].len(), 128 + "... (72 more bytes)".len());
        assert_eq!(logged[31], b"... (12 more arguments)");
        let auth = logged_args(
            &[b"auth", b"user", b"pw"],
            &redacted_positions("auth", &[b"auth", b"user", b"pw"]),
        );
        assert_eq!(
            auth,
            vec![
                b"auth".to_vec(),
                b"(redacted)".to_vec(),
                b"(redacted)".to_vec()
            ]
        );
    }
}
