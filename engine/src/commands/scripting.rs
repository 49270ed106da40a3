//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD|EXISTS|FLUSH|HELP (the machinery is in
//! `crate::scripting`).

use super::server::reply_help;
use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::util::eq_ignore_case;

pub fn eval(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

pub fn eval_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

pub fn evalsha(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

pub fn evalsha_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

fn eval_generic(ctx: &mut Ctx, argv: &[&[u8]], by_sha: bool, ro: bool) -> CmdResult {
    if by_sha && argv[1].len() != 40 {
        return Err(CmdError::msg(NOSCRIPT));
    }
    let numkeys = arg_i64(argv[2])?;
    if numkeys > argv.len() as i64 - 3 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    let split = 3 + numkeys as usize;
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
        if !ctx.server.scripting.exists(sha.as_bytes()) {
            return Err(CmdError::msg(NOSCRIPT));
        }
        sha
    } else {
        ctx.server.scripting.create(argv[1])?
    };
    crate::scripting::run(ctx, &sha, &argv[3..split], &argv[split..], ro)
}

pub fn script_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sha = ctx.server.scripting.create(argv[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

pub fn script_exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array(argv.len() - 2);
    for sha in &argv[2..] {
        let found = ctx.server.scripting.exists(sha);
        ctx.out.int(found as i64);
    }
    Ok(())
}

pub fn script_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3
        || (argv.len() == 3
            && !(eq_ignore_case(argv[2], "async") || eq_ignore_case(argv[2], "sync")))
    {
        return Err(CmdError::msg(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    // ASYNC and SYNC alike free at once: a fresh Lua state is small and the old one is
    // dropped here, on the thread that owns it.
    ctx.server.scripting.flush();
    ctx.out.ok();
    Ok(())
}

pub fn script_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis also lists DEBUG and KILL, which do not exist here.
    let lines = [
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}
