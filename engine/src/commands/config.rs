//! CONFIG GET, SET, RESETSTAT and HELP. The parameters themselves, their parsing and their
//! checks are `crate::config`'s; this applies the side effects a change has elsewhere.

use super::server::reply_help;
use super::{CmdError, CmdResult, Ctx};
use crate::config::SetError;

pub fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.server.config.matching(&argv[2..]);
    ctx.out.map(pairs.len());
    for (name, value) in pairs {
        ctx.out.bulk(&name);
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

pub fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks(2).map(|p| (p[0], p[1])).collect();
    let local = ctx.client.local;
    let old_password = ctx.server.config.requirepass.clone();
    match ctx.server.config.set_many(&pairs, local) {
        Ok(()) => {
            // requirepass is the default user's password.
            if ctx.server.config.requirepass != old_password {
                let new_password = ctx.server.config.requirepass.clone();
                ctx.server.acl.set_default_password(new_password.as_deref());
            }
            // appendonly and appendfsync take effect now, not at the next write.
            if let Err(e) = crate::aof::config_changed(ctx.server) {
                return Err(CmdError::msg(format!("ERR CONFIG SET failed - {e}")));
            }
            ctx.out.ok();
            Ok(())
        }
        Err((name, SetError::Unknown)) => Err(CmdError::msg(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ))),
        Err((name, why)) => {
            let reason = match why {
                SetError::Immutable => "can't set immutable config".to_string(),
                SetError::Protected => "can't set protected config".to_string(),
                SetError::Invalid(r) => r,
                SetError::Unknown => String::new(),
            };
            Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            )))
        }
    }
}

pub fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

pub fn config_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis also lists REWRITE; there is no config file rewriting here.
    let lines = [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}
