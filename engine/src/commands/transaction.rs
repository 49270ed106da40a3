//! Transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH (the state is in `multi.rs`).

use super::{CmdError, CmdResult, Ctx};
use crate::multi::{self, ExecPlan};

pub fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    multi::begin(ctx)
}

pub fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match multi::take_for_exec(ctx) {
        ExecPlan::NotInMulti => Err(CmdError::msg("ERR EXEC without MULTI")),
        ExecPlan::Aborted => Err(CmdError::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        )),
        ExecPlan::WatchFailed => {
            ctx.out.null_array();
            Ok(())
        }
        ExecPlan::Run(commands) => {
            run_queued(ctx, &commands);
            Ok(())
        }
    }
}

/// Runs the queued commands back to back, their replies in one array. Blocking commands do
/// not block (they answer as if timed out, as in Redis); clients blocked on keys written here
/// are served after the whole transaction.
fn run_queued(ctx: &mut Ctx, commands: &[Vec<Vec<u8>>]) {
    ctx.out.array(commands.len());
    ctx.client.tx.executing = true;
    // The AOF logs the transaction's writes inside MULTI/EXEC: all or nothing after a crash.
    ctx.server.aof.begin_transaction();
    let mut argv: Vec<&[u8]> = Vec::with_capacity(8);
    for command in commands {
        argv.clear();
        argv.extend(command.iter().map(Vec::as_slice));
        super::execute(ctx, &argv);
        if ctx.client.block_request.take().is_some() {
            timed_out_reply(ctx, argv[0]);
        }
    }
    ctx.server.aof.end_transaction();
    ctx.client.tx.executing = false;
}

pub fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if !ctx.client.tx.in_multi() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    multi::discard(ctx);
    ctx.out.ok();
    Ok(())
}

pub fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    multi::watch(ctx, &argv[1..])
}

pub fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    multi::unwatch(ctx);
    Ok(())
}

/// The reply of a blocking command that timed out: BLMOVE and BRPOPLPUSH answer a null
/// string, the others a null array.
fn timed_out_reply(ctx: &mut Ctx, name: &[u8]) {
    if name.eq_ignore_ascii_case(b"blmove") || name.eq_ignore_ascii_case(b"brpoplpush") {
        ctx.out.null();
    } else {
        ctx.out.null_array();
    }
}
