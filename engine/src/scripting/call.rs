//! `redis.call` and `redis.pcall`: a command run from a script, with the checks Redis's
//! `scriptCall` makes (known command and arity, `noscript`, ACL as the calling user, writes in
//! read-only scripts, disk errors, OOM before the first write), then the engine's normal
//! execution (`commands::call`) on the script's own client, and its reply converted to Lua.

use mlua::{Lua, MultiValue, Value};

use super::convert;
use crate::commands::{self, flags, table, CommandSpec, Ctx};
use crate::protocol::reply::Reply;
use crate::server::{Client, Server};

/// The state of one script run that its `redis.*` functions work on.
pub struct Run<'s> {
    pub server: &'s mut Server,
    /// The script's client: the caller's user and database, its own protocol.
    pub client: Client,
    /// The caller's CLIENT LIST line, for ACL LOG entries.
    pub caller_info: String,
    pub now_ms: i64,
    /// `redis.setresp`.
    pub resp: u8,
    /// `redis.set_repl`: the script's writes go to the AOF.
    pub propagate_aof: bool,
    /// EVAL_RO, or a `no-writes` script.
    pub read_only: bool,
    /// The `allow-oom` shebang flag.
    pub allow_oom: bool,
    /// Memory was over `maxmemory` when the script started.
    pub oom_at_start: bool,
    /// A write command ran: later writes can no longer be refused for OOM or disk errors.
    pub dirty: bool,
}

/// Redis's `luaArgsToRedisArgv`: numbers as `%.17g`, strings as they are, anything else an
/// error.
fn args_to_argv(args: MultiValue) -> Result<Vec<Vec<u8>>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.into_iter()
        .map(|v| match v {
            Value::Number(n) => Ok(crate::util::format_double(n).into_bytes()),
            Value::Integer(n) => Ok(n.to_string().into_bytes()),
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// The spec (and subcommand spec) a script's command names: `None` when Redis's
/// `lookupCommand` finds nothing (unknown command or subcommand, or a renamed-away name).
fn lookup(
    server: &Server,
    name: &[u8],
    argv: &[&[u8]],
) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let spec = match server.acl.renamed(name) {
        crate::acl::Renamed::Same => commands::lookup(name)?,
        crate::acl::Renamed::Hidden => return None,
        crate::acl::Renamed::To(original) => commands::lookup(original.as_bytes())?,
    };
    if spec.subcommands.is_empty() || argv.len() == 1 {
        return Some((spec, None));
    }
    let sub = spec
        .subcommands
        .iter()
        .find(|s| argv[1].eq_ignore_ascii_case(s.name.as_bytes()))?;
    Some((spec, Some(sub)))
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    (arity > 0 && argc as i32 == arity) || (arity < 0 && argc as i32 >= -arity)
}

/// The raw `redis.call`/`redis.pcall`: the converted reply and whether the Lua side must
/// raise it (`raise` was asked and it is an error).
pub fn call(
    lua: &Lua,
    run: &mut Run,
    raise: bool,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    let argv = match args_to_argv(args) {
        Ok(a) => a,
        Err(msg) => {
            return Ok((
                Value::Table(convert::error_table(lua, msg.as_bytes())?),
                raise,
            ))
        }
    };
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    match check(run, &argv) {
        Ok((spec, sub, stat_id)) => {
            let target = sub.unwrap_or(spec);
            if target.flags & flags::WRITE != 0 {
                run.dirty = true;
            }
            let mut out = Reply::new();
            out.resp3 = run.resp == 3;
            let mut ctx = Ctx {
                server: &mut *run.server,
                client: &mut run.client,
                out: &mut out,
                now_ms: run.now_ms,
            };
            commands::call(&mut ctx, spec, sub, stat_id, &argv, run.propagate_aof);
            let is_error = out.buf.first() == Some(&b'-');
            let value = convert::reply_to_lua(lua, &out.buf)?;
            Ok((value, raise && is_error))
        }
        Err((text, stat)) => {
            // Counted here, as Redis's `scriptCall` does before handing the error to Lua.
            if let Some(stat) = stat {
                run.server.command_stats[stat].rejected_calls += 1;
            }
            let table = convert::error_table(lua, text.as_bytes())?;
            let counted = match text.strip_prefix('-') {
                Some(coded) => coded.to_string(),
                None => format!("ERR {text}"),
            };
            run.server.stats.record_error(&counted);
            table.raw_set("ignore_error_stats_update", true)?;
            Ok((Value::Table(table), raise))
        }
    }
}

type Checked = (&'static CommandSpec, Option<&'static CommandSpec>, usize);

/// Redis's `scriptCall` checks, in its order. An error is the text Lua gets (a leading dash
/// carries its own code) and the stats slot of a command that was found.
fn check(run: &mut Run, argv: &[&[u8]]) -> Result<Checked, (String, Option<usize>)> {
    let Some((spec, sub)) = lookup(run.server, argv[0], argv) else {
        return Err(("Unknown Redis command called from script".into(), None));
    };
    let target = sub.unwrap_or(spec);
    let stat_id = table::stat_index(spec, sub);
    let fail = |text: &str| Err((text.to_string(), Some(stat_id)));
    if !arity_ok(target.arity, argv.len()) {
        return fail("Wrong number of args calling Redis command from script");
    }
    if target.flags & flags::NOSCRIPT != 0 {
        return fail("This Redis command is not allowed from script");
    }
    if let Some(text) = acl_check(run, spec, sub, stat_id, argv) {
        return fail(text);
    }
    let write = target.flags & flags::WRITE != 0;
    if run.read_only && target.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return fail("Write commands are not allowed from read-only scripts.");
    }
    if write && !run.dirty && run.server.aof.enabled {
        if let Some(e) = crate::aof::refuse_writes(run.server) {
            return fail(&format!("-{e}"));
        }
    }
    if !run.allow_oom
        && !run.dirty
        && run.oom_at_start
        && run.server.config.memory.maxmemory > 0
        && target.flags & flags::DENYOOM != 0
    {
        return fail(&format!("-{}", crate::evict::OOM_ERROR));
    }
    Ok((spec, sub, stat_id))
}

/// The ACL check as the calling user, logged with context `lua` (Redis's
/// `scriptVerifyACL`): the refusal text, if refused.
fn acl_check(
    run: &mut Run,
    spec: &'static CommandSpec,
    sub: Option<&'static CommandSpec>,
    stat_id: usize,
    argv: &[&[u8]],
) -> Option<&'static str> {
    let _ = spec;
    if !run.server.acl.any_restricted() {
        return None;
    }
    let target = sub.unwrap_or(spec);
    let user = run.server.acl.user(&run.client.user)?;
    let full = crate::acl::slot_name(stat_id);
    let denied = user.check(target, full, stat_id, argv).err()?;
    let (reason, object, text) = match denied {
        crate::acl::Denied::Command => (
            "command",
            full.to_string(),
            "The user executing the script can't run this command or subcommand",
        ),
        crate::acl::Denied::Key(pos) => (
            "key",
            String::from_utf8_lossy(argv[pos]).into_owned(),
            "The user executing the script can't access at least one of the keys mentioned in the command arguments",
        ),
        crate::acl::Denied::Channel(pos) => (
            "channel",
            String::from_utf8_lossy(argv[pos]).into_owned(),
            "The user executing the script can't publish to the channel mentioned in the command",
        ),
    };
    crate::commands::acl::add_denied(
        run.server,
        reason,
        "lua",
        object,
        run.client.user.clone(),
        run.caller_info.clone(),
    );
    Some(text)
}

/// `redis.acl_check_cmd`: whether the calling user may run the command (an error for an
/// unknown one).
pub fn acl_check_cmd(lua: &Lua, run: &mut Run, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let argv = match args_to_argv(args) {
        Ok(a) => a,
        Err(msg) => {
            return Ok((
                Value::Table(convert::error_table(lua, msg.as_bytes())?),
                true,
            ))
        }
    };
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let found = lookup(run.server, argv[0], &argv)
        .filter(|(spec, sub)| arity_ok(sub.unwrap_or(spec).arity, argv.len()));
    let Some((spec, sub)) = found else {
        let msg = b"Invalid command passed to redis.acl_check_cmd()";
        return Ok((Value::Table(convert::error_table(lua, msg)?), true));
    };
    let stat_id = table::stat_index(spec, sub);
    let allowed = match run.server.acl.user(&run.client.user) {
        Some(user) if run.server.acl.any_restricted() => user
            .check(
                sub.unwrap_or(spec),
                crate::acl::slot_name(stat_id),
                stat_id,
                &argv,
            )
            .is_ok(),
        _ => true,
    };
    Ok((Value::Boolean(allowed), false))
}
