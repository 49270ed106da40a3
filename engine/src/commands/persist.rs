//! Persistence commands: SAVE, BGSAVE [SCHEDULE], LASTSAVE, DEBUG RELOAD, and
//! the save step of SHUTDOWN. The work is in `crate::rdb`.

use super::{CmdError, CmdResult, Ctx};
use crate::rdb::{file, snapshot};

/// SAVE: a foreground save; blocks this engine until the file is on disk, as in Redis.
pub fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if snapshot::bgsave_in_progress(ctx.server) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    let dirty = ctx.server.dirty;
    match file::save_now(ctx.server) {
        Ok(bytes) => {
            crate::rdb::state::saved(ctx.server, dirty);
            tracing::info!(engine = %ctx.server.name, bytes, "DB saved on disk");
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!(engine = %ctx.server.name, error = %e, "SAVE failed");
            Err(CmdError::msg("ERR"))
        }
    }
}

/// BGSAVE [SCHEDULE]: starts a background save (see `rdb::snapshot`).
pub fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if argv[1].eq_ignore_ascii_case(b"schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    if snapshot::bgsave_in_progress(ctx.server) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    // Behind an AOF rewrite (Redis's other kind of child) a save can only be scheduled.
    if ctx.server.rdb.bg.is_some() || ctx.server.aof.rewrite.is_some() {
        if schedule {
            ctx.server.rdb.scheduled = true;
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::msg(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE \
             SCHEDULE in order to schedule a BGSAVE whenever possible.",
        ));
    }
    match snapshot::start(ctx.server) {
        Ok(()) => {
            ctx.out.simple("Background saving started");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(engine = %ctx.server.name, error = %e, "BGSAVE failed");
            Err(CmdError::msg("ERR"))
        }
    }
}

/// LASTSAVE: Unix time of the last successful save (the start time before any).
pub fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.rdb.lastsave_s);
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the databases, load the file back.
pub fn debug_reload(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut merge, mut noflush, mut nosave) = (false, false, false);
    for a in &argv[2..] {
        match String::from_utf8_lossy(a).to_ascii_lowercase().as_str() {
            "merge" => merge = true,
            "noflush" => noflush = true,
            "nosave" => nosave = true,
            _ => {
                return Err(CmdError::msg(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ))
            }
        }
    }
    snapshot::abort(ctx.server);
    if !nosave {
        let dirty = ctx.server.dirty;
        if let Err(e) = file::save_now(ctx.server) {
            tracing::warn!(error = %e, "DEBUG RELOAD: save failed");
            return Err(CmdError::msg(
                "ERR Error trying to save the RDB dump, check server logs.",
            ));
        }
        crate::rdb::state::saved(ctx.server, dirty);
    }
    if !noflush {
        for db in ctx.server.dbs.iter_mut() {
            db.clear();
        }
    }
    let result = if merge {
        merge_file(ctx)
    } else {
        file::load_file(ctx.server).map(|_| ())
    };
    match result {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "DEBUG RELOAD: load failed");
            Err(CmdError::msg(
                "ERR Error trying to load the RDB dump, check server logs.",
            ))
        }
    }
}

/// DEBUG RELOAD MERGE: keys from the file replace existing ones.
fn merge_file(ctx: &mut Ctx) -> Result<(), String> {
    let path = file::rdb_path(&ctx.server.config);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let limits = crate::rdb::LoadLimits::from_config(&ctx.server.config);
    let now = ctx.now_ms;
    let dbs = &mut ctx.server.dbs;
    let mut sink = |k: crate::rdb::LoadedKey| -> Result<(), String> {
        if k.expire_ms.is_some_and(|at| at <= now) {
            return Ok(());
        }
        let db = dbs.get_mut(k.db).ok_or("no such database")?;
        db.set_with_expire(&k.key, k.value, k.expire_ms);
        Ok(())
    };
    crate::rdb::load(&bytes, limits, &mut sink).map_err(|e| e.to_string())?;
    Ok(())
}

/// SHUTDOWN's save step: saves when SAVE is given, or when save rules exist and NOSAVE is
/// not given. A failed save stops the shutdown unless FORCE.
pub fn shutdown_save(ctx: &mut Ctx, save: bool, nosave: bool, force: bool) -> CmdResult {
    let rules = !crate::rdb::state::save_rules(&ctx.server.config).is_empty();
    ctx.server.rdb.shutdown_handled = true;
    if nosave || !(save || rules) {
        snapshot::abort(ctx.server);
        return Ok(());
    }
    snapshot::abort(ctx.server);
    match file::save_now(ctx.server) {
        Ok(bytes) => {
            tracing::info!(engine = %ctx.server.name, bytes, "DB saved on disk before shutdown");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(engine = %ctx.server.name, error = %e, "error trying to save the DB, can't exit");
            if force {
                return Ok(());
            }
            ctx.server.rdb.shutdown_handled = false;
            Err(CmdError::msg("ERR Errors trying to SHUTDOWN. Check logs."))
        }
    }
}
