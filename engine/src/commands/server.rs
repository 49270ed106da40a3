//! What the server command families share: the Redis version the engine implements, Redis's
//! HELP reply and subcommand syntax error. Also TIME, too small for a file of its own. INFO,
//! CONFIG, COMMAND, DEBUG, FUNCTION and SHUTDOWN each have their own module.

use super::{c_text, CmdError, CmdResult, Ctx};
use crate::util::now_us;

// ACL and MEMORY STATS still name these through `server`, where they used to live.
pub(crate) use super::command::{acl_categories, keys_of, CATEGORY_ORDER};
pub(crate) use super::info::{clients_memory, keyspace_overhead};

/// The Redis version whose behaviour the engine implements (reported by INFO and HELLO).
pub const REDIS_VERSION: &str = "7.0.15";

/// Redis's `addReplyHelp`: a header naming the command, the given lines, and the HELP footer.
pub fn reply_help(ctx: &mut Ctx, command: &[u8], lines: &[&str]) {
    let name = String::from_utf8_lossy(command).to_ascii_uppercase();
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Redis's `addReplySubcommandSyntaxError`.
pub(crate) fn subcommand_syntax_error(argv: &[&[u8]]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        c_text(argv[1], 128),
        String::from_utf8_lossy(argv[0]).to_ascii_uppercase()
    ))
}

pub fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let us = now_us();
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(us / 1_000_000).as_bytes());
    ctx.out
        .bulk(itoa::Buffer::new().format(us % 1_000_000).as_bytes());
    Ok(())
}
