//! Loading the append only file set at start: the base file (an RDB file, or commands that
//! may start with an RDB preamble) and then the incremental files, in the manifest's order.
//! Commands are replayed through the command table by a fake client (no replies, no ACL, no
//! eviction, nothing expires meanwhile — the log says when keys went away); the commands of a
//! MULTI/EXEC run once its EXEC is read, so a transaction applies whole or not at all.
//!
//! The last file may end inside a command or a transaction (a crash while writing): it is cut
//! back to the last whole one when `aof-load-truncated yes` (Redis's default), with a log line
//! saying so; with `no` the start is refused. Anything else that is not a command refuses the
//! start naming the file and the byte offset.

use std::path::Path;

use super::manifest::Manifest;
use super::resp::{read_command, ReadError};
use crate::commands::{self, Ctx};
use crate::protocol::reply::Reply;
use crate::server::{Client, Server};

/// Loads the files of `set` (in `dir`) into the empty keyspace. The error is the whole
/// message to show.
pub fn load_set(server: &mut Server, dir: &Path, set: &Manifest) -> Result<(), String> {
    let files: Vec<_> = set.load_order().collect();
    if files.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    server.aof.loading = true;
    for db in &mut server.dbs {
        db.expiry_paused = true;
    }
    let mut outcome: Result<usize, String> = Ok(0);
    for (i, file) in files.iter().enumerate() {
        let Ok(total) = outcome else { break };
        let last = i + 1 == files.len();
        outcome = load_file(server, &dir.join(&file.name), last).map(|n| total + n);
    }
    for db in &mut server.dbs {
        db.expiry_paused = false;
    }
    server.aof.loading = false;
    let commands = outcome?;
    let keys: usize = server.dbs.iter().map(|d| d.len()).sum();
    tracing::info!(
        dir = %dir.display(),
        files = files.len(),
        commands,
        keys,
        secs = format!("{:.3}", started.elapsed().as_secs_f64()),
        "DB loaded from append only file"
    );
    Ok(())
}

/// Loads one file of the set; returns the commands replayed.
fn load_file(server: &mut Server, path: &Path, last: bool) -> Result<usize, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("Can't read the append only file {}: {e}", path.display()))?;
    let mut at = 0;
    if data.starts_with(b"REDIS") {
        let limits = crate::rdb::LoadLimits::from_config(&server.config);
        let now = crate::util::now_ms();
        let counts =
            crate::rdb::file::load_into(&mut server.dbs, &data, limits, now).map_err(|e| {
                format!(
                    "The append only file {} has a bad RDB part: {e}",
                    path.display()
                )
            })?;
        at = counts.end;
    }
    let (commands, valid_end) = replay(server, &data, at, path)?;
    if valid_end < data.len() {
        if !last {
            return Err(format!(
                "The append only file {} ends inside a command at offset {valid_end}, and \
                 more files follow it in the manifest: repair it (redis-check-aof --fix) or \
                 remove the incomplete command.",
                path.display()
            ));
        }
        truncate_tail(server, path, valid_end, data.len())?;
    }
    Ok(commands)
}

/// Runs every whole command from `at`; returns how many ran and where the last whole
/// command (or transaction) ended.
fn replay(
    server: &mut Server,
    data: &[u8],
    mut at: usize,
    path: &Path,
) -> Result<(usize, usize), String> {
    let mut client = Client::new(0, "aof-loader".into(), String::new(), -1);
    client.authenticated = true;
    let mut out = Reply::new();
    let mut commands = 0;
    let now_ms = crate::util::now_ms();
    // The commands of an open MULTI, and where it began.
    let mut transaction: Option<(usize, Vec<Vec<Vec<u8>>>)> = None;
    let bad = |at: usize, why: &str| {
        format!(
            "Bad file format reading the append only file {} at offset {at}: {why}",
            path.display()
        )
    };
    while at < data.len() {
        if data[at] == b'#' {
            // An annotation (`aof-timestamp-enabled`): skipped, as Redis does.
            match data[at..].iter().position(|&b| b == b'\n') {
                Some(end) => {
                    at += end + 1;
                    continue;
                }
                None => break,
            }
        }
        let (args, next) = match read_command(data, at) {
            Ok(found) => found,
            Err(ReadError::Truncated) => break,
            Err(ReadError::Bad(why)) => return Err(bad(at, &why)),
        };
        let name = args[0].as_slice();
        if name.eq_ignore_ascii_case(b"multi") {
            if transaction.is_some() {
                return Err(bad(at, "MULTI inside MULTI"));
            }
            transaction = Some((at, Vec::new()));
        } else if name.eq_ignore_ascii_case(b"exec") {
            let Some((_, queued)) = transaction.take() else {
                return Err(bad(at, "EXEC without MULTI"));
            };
            for args in &queued {
                run(server, &mut client, &mut out, args, now_ms).map_err(|e| bad(at, &e))?;
            }
            commands += queued.len();
        } else if let Some((_, queued)) = transaction.as_mut() {
            queued.push(args);
        } else {
            run(server, &mut client, &mut out, &args, now_ms).map_err(|e| bad(at, &e))?;
            commands += 1;
        }
        at = next;
    }
    match transaction {
        Some((multi_at, _)) => {
            tracing::warn!(
                path = %path.display(),
                offset = multi_at,
                "Revert incomplete MULTI/EXEC transaction in AOF file"
            );
            Ok((commands, multi_at))
        }
        None => Ok((commands, at)),
    }
}

/// Runs one logged command. Its errors are ignored (it failed the same way when it ran), as
/// Redis's loading client ignores its replies; an unknown command is an error.
fn run(
    server: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    args: &[Vec<u8>],
    now_ms: i64,
) -> Result<(), String> {
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let (spec, sub) = commands::resolve(&argv).map_err(|e| e.text().to_string())?;
    let target = sub.unwrap_or(spec);
    let mut ctx = Ctx {
        server,
        client,
        out,
        now_ms,
    };
    let _ = (target.handler)(&mut ctx, &argv);
    ctx.client.block_request = None;
    out.buf.clear();
    Ok(())
}

/// A file that ends inside a command: cut it back to `valid_end` when allowed.
fn truncate_tail(server: &Server, path: &Path, valid_end: usize, len: usize) -> Result<(), String> {
    if server.config.get("aof-load-truncated") != Some("yes") {
        return Err(format!(
            "Unexpected end of file reading the append only file {} at offset {valid_end} \
             ({} bytes of an incomplete command at the end). Set 'aof-load-truncated yes' to \
             cut the incomplete command and start, or repair the file.",
            path.display(),
            len - valid_end
        ));
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid_end as u64).map(|_| f))
        .and_then(|f| f.sync_all());
    if let Err(e) = file {
        return Err(format!(
            "The append only file {} ends with an incomplete command and cannot be truncated \
             to {valid_end} bytes: {e}",
            path.display()
        ));
    }
    tracing::warn!(
        path = %path.display(),
        "!!! Warning: short read while loading the AOF file: the last {} bytes (an incomplete \
         command, from offset {valid_end}) were cut off; AOF loaded anyway because \
         aof-load-truncated is enabled",
        len - valid_end
    );
    Ok(())
}
