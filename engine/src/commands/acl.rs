//! ACL commands: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS, DRYRUN, HELP.

use super::server::{acl_categories, reply_help, subcommand_syntax_error, CATEGORY_ORDER};
use super::{c_text, full_name, resolve, table, CmdError, CmdResult, Ctx};
use crate::acl::{noperm_text, Denied};

fn user_name(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

pub fn acl_setuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv[2].iter().any(|&b| b == b' ' || b == 0) {
        return Err(CmdError::msg(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let name = user_name(argv[2]);
    ctx.server
        .acl
        .set_user(&name, argv[3..].iter().copied())
        .map_err(|(e, rule)| {
            CmdError::msg(format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                c_text(&rule, usize::MAX),
                e.text()
            ))
        })?;
    ctx.out.ok();
    Ok(())
}

pub fn acl_getuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(u) = ctx.server.acl.user(&user_name(argv[2])) else {
        ctx.out.null();
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = u.flags();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    out.bulk(b"commands");
    out.bulk(u.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(u.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(u.describe_channels().as_bytes());
    out.bulk(b"selectors");
    out.array(0);
    Ok(())
}

/// ACL DELUSER: the connections authenticated as a deleted user are closed, as in Redis.
pub fn acl_deluser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv[2..].iter().any(|a| *a == b"default") {
        return Err(CmdError::msg("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for a in &argv[2..] {
        let name = user_name(a);
        if ctx.server.acl.delete_user(&name) {
            deleted += 1;
            kill_clients_of(ctx, &name);
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

fn kill_clients_of(ctx: &mut Ctx, name: &str) {
    if ctx.client.user == name {
        ctx.client.close_after_reply = true;
    }
    let me = ctx.client.id;
    let targets: Vec<u64> = ctx
        .server
        .clients
        .iter()
        .filter(|(&id, c)| id != me && c.try_borrow().is_ok_and(|c| c.user == name))
        .map(|(&id, _)| id)
        .collect();
    for id in targets {
        if let Some(c) = ctx.server.clients.remove(&id) {
            c.borrow_mut().kill();
        }
    }
}

pub fn acl_list(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let lines: Vec<String> = ctx
        .server
        .acl
        .users
        .values()
        .map(|u| u.describe())
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

pub fn acl_users(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let names: Vec<String> = ctx.server.acl.users.keys().cloned().collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

pub fn acl_whoami(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let name = ctx.client.user.clone();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// ACL CAT: the categories, or the commands (and subcommands) of one.
pub fn acl_cat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let Some(&cat) = argv.get(2) else {
        ctx.out.array(CATEGORY_ORDER.len());
        for c in CATEGORY_ORDER {
            ctx.out.bulk(c.as_bytes());
        }
        return Ok(());
    };
    let want = String::from_utf8_lossy(cat).to_ascii_lowercase();
    if !CATEGORY_ORDER.contains(&want.as_str()) {
        return Err(CmdError::msg(format!(
            "ERR Unknown category '{}'",
            c_text(cat, usize::MAX)
        )));
    }
    let mut names = Vec::new();
    for spec in table::COMMANDS {
        if acl_categories(spec, spec.name).contains(&want.as_str()) {
            names.push(spec.name.to_string());
        }
        for sub in spec.subcommands {
            let full = format!("{}|{}", spec.name, sub.name);
            if acl_categories(sub, &full).contains(&want.as_str()) {
                names.push(full);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// ACL GENPASS [bits]: random hex, 4 bits a character (256 bits by default).
pub fn acl_genpass(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let bits = match argv.get(2) {
        None => 256,
        Some(a) => {
            let n = super::arg_i64(a)?;
            if !(1..=4096).contains(&n) {
                return Err(CmdError::msg("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
            }
            n as usize
        }
    };
    let chars = bits.div_ceil(4);
    let text: String = (0..chars)
        .map(|_| char::from_digit((ctx.rand() % 16) as u32, 16).unwrap_or('0'))
        .collect();
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// ACL DRYRUN <user> <command> [args]: OK, or why the user may not run it (as a bulk string).
pub fn acl_dryrun(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = user_name(argv[2]);
    let cmd = &argv[3..];
    let Some(user) = ctx.server.acl.user(&name) else {
        return Err(CmdError::msg(format!(
            "ERR User '{}' not found",
            c_text(argv[2], usize::MAX)
        )));
    };
    let (spec, sub) = match resolve(cmd) {
        Ok(found) => found,
        Err(e) if e.text().starts_with("ERR wrong number") => return Err(e),
        Err(_) => {
            return Err(CmdError::msg(format!(
                "ERR Command '{}' not found",
                c_text(cmd[0], usize::MAX)
            )))
        }
    };
    let full = full_name(sub.map(|_| spec), sub.unwrap_or(spec));
    let slot = table::stat_index(spec, sub);
    match user.check(sub.unwrap_or(spec), &full, slot, cmd) {
        Ok(()) => ctx.out.ok(),
        Err(Denied::Command) => ctx
            .out
            .bulk(format!("This user has no permissions to run the '{full}' command").as_bytes()),
        Err(Denied::Channel(pos)) => ctx.out.bulk(
            format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(cmd[pos])
            )
            .as_bytes(),
        ),
        Err(Denied::Key(pos)) => ctx.out.bulk(
            format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(cmd[pos])
            )
            .as_bytes(),
        ),
    }
    Ok(())
}

pub fn acl_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

/// The ACL check `execute` runs before a command: NOAUTH for an unauthenticated client
/// (commands flagged `no_auth` excepted), then the user's command and key permissions.
pub fn check_command(
    ctx: &mut Ctx,
    spec: &'static super::CommandSpec,
    sub: Option<&'static super::CommandSpec>,
    slot: usize,
    argv: &[&[u8]],
) -> CmdResult {
    let target = sub.unwrap_or(spec);
    if target.flags & super::flags::NO_AUTH != 0 {
        return Ok(());
    }
    if !ctx.client.authenticated && ctx.server.acl.auth_required() {
        return Err(CmdError::msg("NOAUTH Authentication required."));
    }
    if !ctx.server.acl.any_restricted() {
        return Ok(());
    }
    let Some(user) = ctx.server.acl.user(&ctx.client.user) else {
        return Ok(());
    };
    let full = crate::acl::slot_name(slot);
    let Err(denied) = user.check(target, full, slot, argv) else {
        return Ok(());
    };
    let (reason, object) = match denied {
        Denied::Command => ("command", full.to_string()),
        Denied::Key(pos) => ("key", String::from_utf8_lossy(argv[pos]).into_owned()),
        Denied::Channel(pos) => ("channel", String::from_utf8_lossy(argv[pos]).into_owned()),
    };
    // CLIENT LIST shows the refused command as the client's current one, as Redis does.
    ctx.client.last_command = slot;
    let username = ctx.client.user.clone();
    log_denied(ctx, reason, "toplevel", object, username);
    Err(noperm_text(denied, full))
}

/// Adds an ACL LOG entry for the calling client.
pub fn log_denied(
    ctx: &mut Ctx,
    reason: &'static str,
    context: &'static str,
    object: String,
    username: String,
) {
    let client_info = super::connection::client_line(ctx.client)
        .trim_end()
        .to_string();
    add_denied(ctx.server, reason, context, object, username, client_info);
}

/// Adds an entry to the ACL log, which `acllog-max-len` bounds (a script's refusals too, with
/// context `lua`).
pub fn add_denied(
    server: &mut crate::server::Server,
    reason: &'static str,
    context: &'static str,
    object: String,
    username: String,
    client_info: String,
) {
    let max_len = server
        .config
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let entry = crate::acl::LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        ctime_ms: crate::util::now_ms(),
        client_info,
    };
    server.acl.add_log(entry, max_len);
}

/// ACL LOG [count | RESET]: the newest entries (10 by default).
pub fn acl_log(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let count = match argv.get(2) {
        None => 10,
        Some(a) if crate::util::eq_ignore_case(a, "reset") => {
            ctx.server.acl.log.clear();
            ctx.out.ok();
            return Ok(());
        }
        Some(a) => super::arg_i64(a)?.max(0) as usize,
    };
    let now = crate::util::now_ms();
    let n = count.min(ctx.server.acl.log.len());
    let out = &mut *ctx.out;
    out.array(n);
    for e in ctx.server.acl.log.iter().take(n) {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(e.object.as_bytes());
        out.bulk(b"username");
        out.bulk(e.username.as_bytes());
        out.bulk(b"age-seconds");
        out.double((now - e.ctime_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn acl_file(ctx: &Ctx) -> Result<String, CmdError> {
    match ctx.server.config.get("aclfile") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(CmdError::msg(NO_ACL_FILE)),
    }
}

/// ACL LOAD: replaces every user with the ACL file's (all or nothing); connections of users
/// that no longer exist are closed.
pub fn acl_load(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx)?;
    let lines = crate::acl::read_acl_file(&path).map_err(|e| CmdError::msg(format!("ERR {e}")))?;
    let before: Vec<String> = ctx.server.acl.users.keys().cloned().collect();
    ctx.server.acl.replace_users(&lines);
    for name in before {
        if ctx.server.acl.user(&name).is_none() {
            kill_clients_of(ctx, &name);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// ACL SAVE: writes the users to the ACL file (a temporary file renamed over it).
pub fn acl_save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx)?;
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let written = std::fs::write(&tmp, ctx.server.acl.file_text())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(path = %path, error = %e, "ACL SAVE failed");
        return Err(CmdError::msg("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    ctx.out.ok();
    Ok(())
}
