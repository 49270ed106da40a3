//! FUNCTION FLUSH and HELP, the only FUNCTION subcommands that mean something without a
//! scripting engine.

use super::server::{reply_help, subcommand_syntax_error};
use super::{CmdError, CmdResult, Ctx};
use crate::util::eq_ignore_case;

pub fn function_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    if argv.len() == 3 && !(eq_ignore_case(argv[2], "async") || eq_ignore_case(argv[2], "sync")) {
        return Err(CmdError::msg(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    // There is no FUNCTION LOAD, so no library can exist: flushing has nothing to delete.
    ctx.out.ok();
    Ok(())
}

pub fn function_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Only the subcommands that exist here (Redis also lists LOAD, DELETE, LIST, ...).
    let lines = [
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}
