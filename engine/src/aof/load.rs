//! Loading the append only file at start: every command is replayed through the command
//! table by a fake client (no replies, no ACL, no eviction, nothing expires meanwhile — the
//! log says when keys went away).
//!
//! A file that ends inside a command (a crash while writing) is cut back to the last whole
//! command when `aof-load-truncated yes` (Redis's default), with a log line saying so; with
//! `no` the start is refused. Anything else that is not a command refuses the start with the
//! byte offset.

use std::path::Path;

use super::resp::{read_command, ReadError};
use crate::commands::{self, Ctx};
use crate::protocol::reply::Reply;
use crate::server::{Client, Server};

/// Loads `path` into the (empty) keyspace. The error is the whole message to show.
pub fn load_file(server: &mut Server, path: &Path) -> Result<(), String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("Can't read the append only file {}: {e}", path.display()))?;
    let started = std::time::Instant::now();
    server.aof.loading = true;
    for db in &mut server.dbs {
        db.expiry_paused = true;
    }
    let outcome = replay(server, &data, path);
    for db in &mut server.dbs {
        db.expiry_paused = false;
    }
    server.aof.loading = false;
    let (commands, valid_end) = outcome?;
    if valid_end < data.len() {
        truncate_tail(server, path, valid_end, data.len())?;
    }
    let keys: usize = server.dbs.iter().map(|d| d.len()).sum();
    tracing::info!(
        path = %path.display(),
        commands,
        keys,
        secs = format!("{:.3}", started.elapsed().as_secs_f64()),
        "DB loaded from append only file"
    );
    Ok(())
}

/// Runs every whole command; returns how many ran and where the last one ended.
fn replay(server: &mut Server, data: &[u8], path: &Path) -> Result<(usize, usize), String> {
    let mut client = Client::new(0, "aof-loader".into(), String::new(), -1);
    client.authenticated = true;
    let mut out = Reply::new();
    let mut at = 0;
    let mut commands = 0;
    let now_ms = crate::util::now_ms();
    while at < data.len() {
        let (args, next) = match read_command(data, at) {
            Ok(found) => found,
            Err(ReadError::Truncated) => return Ok((commands, at)),
            Err(ReadError::Bad(why)) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {at}: {why}",
                    path.display()
                ))
            }
        };
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let (spec, sub) = commands::resolve(&argv).map_err(|e| {
            format!(
                "Bad file format reading the append only file {} at offset {at}: {}",
                path.display(),
                e.text()
            )
        })?;
        let target = sub.unwrap_or(spec);
        let mut ctx = Ctx {
            server,
            client: &mut client,
            out: &mut out,
            now_ms,
        };
        // Errors of a logged command (it failed the same way when it ran) are ignored, as
        // Redis's loading client ignores its replies.
        let _ = (target.handler)(&mut ctx, &argv);
        ctx.client.block_request = None;
        out.buf.clear();
        commands += 1;
        at = next;
    }
    Ok((commands, at))
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
