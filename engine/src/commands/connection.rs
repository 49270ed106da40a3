//! Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET and the CLIENT family.

use super::{arg_i64, c_text, CmdError, CmdResult, Ctx};
use crate::server::Client;
use crate::util::eq_ignore_case;

pub fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => {
            return Err(CmdError::msg(
                "ERR wrong number of arguments for 'ping' command",
            ))
        }
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

pub fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// Checks a username/password pair against the default user.
fn check_password(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match &ctx.server.config.requirepass {
        Some(p) => p.as_slice() == pass,
        None => true,
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass) = if argv.len() == 2 {
        if ctx.server.config.requirepass.is_none() {
            return Err(CmdError::msg("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (&b"default"[..], argv[1])
    } else {
        (argv[1], argv[2])
    };
    if check_password(ctx, user, pass) {
        ctx.client.authenticated = true;
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::msg(WRONGPASS))
    }
}

pub fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut resp = ctx.client.resp;
    if argv.len() >= 2 {
        let ver = crate::util::parse_i64(argv[1]).ok_or_else(|| {
            CmdError::msg("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        resp = ver as u8;
    }
    let mut name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ignore_case(argv[i], "auth") && more >= 2 {
            if !check_password(ctx, argv[i + 1], argv[i + 2]) {
                return Err(CmdError::msg(WRONGPASS));
            }
            ctx.client.authenticated = true;
            i += 3;
        } else if eq_ignore_case(argv[i], "setname") && more >= 1 {
            validate_name(argv[i + 1], "Client names")?;
            name = Some(argv[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                c_text(argv[i], usize::MAX)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        ctx.client.name = if n.is_empty() { None } else { Some(n.to_vec()) };
    }
    ctx.client.resp = resp;
    ctx.out.resp3 = resp == 3;
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(super::server::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(resp as i64);
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out.bulk(b"standalone");
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
    Ok(())
}

pub fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = &mut *ctx.client;
    c.db = 0;
    c.resp = 2;
    c.name = None;
    c.authenticated = ctx.server.config.requirepass.is_none();
    ctx.out.resp3 = false;
    ctx.out.simple("RESET");
    Ok(())
}

/// Names may not contain spaces, newlines or other special characters (CLIENT LIST would be
/// ambiguous).
fn validate_name(name: &[u8], what: &str) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg(format!(
            "ERR {what} cannot contain spaces, newlines or special characters."
        )));
    }
    Ok(())
}

pub fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    validate_name(argv[2], "Client names")?;
    ctx.client.name = if argv[2].is_empty() {
        None
    } else {
        Some(argv[2].to_vec())
    };
    ctx.out.ok();
    Ok(())
}

pub fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match &ctx.client.name {
        Some(n) => {
            let n = n.clone();
            ctx.out.bulk(&n)
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (attr, value) = (argv[2], argv[3]);
    let slot = if eq_ignore_case(attr, "lib-name") {
        validate_name(value, "LIB-NAME")?;
        &mut ctx.client.lib_name
    } else if eq_ignore_case(attr, "lib-ver") {
        validate_name(value, "LIB-VER")?;
        &mut ctx.client.lib_ver
    } else {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            c_text(attr, usize::MAX)
        )));
    };
    *slot = if value.is_empty() {
        None
    } else {
        Some(value.to_vec())
    };
    ctx.out.ok();
    Ok(())
}

/// One CLIENT LIST line (Redis 7.2 layout, which adds lib-name and lib-ver to 7.0's).
fn client_line(c: &Client, server: &crate::server::Server) -> String {
    let now = std::time::Instant::now();
    let cmd = super::table::stat_name(c.last_command).unwrap_or_else(|| "NULL".into());
    let text = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let _ = server;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        text(&c.name),
        now.duration_since(c.created).as_secs(),
        now.duration_since(c.last_interaction).as_secs(),
        c.db,
        c.query_buffer_len,
        c.query_buffer_len + 16384,
        cmd,
        c.user,
        c.resp,
        text(&c.lib_name),
        text(&c.lib_ver),
    )
}

pub fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < argv.len() {
        if eq_ignore_case(argv[i], "type") && i + 1 < argv.len() {
            let t = argv[i + 1];
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| eq_ignore_case(t, n))
            {
                return Err(CmdError::msg(format!(
                    "ERR Unknown client type '{}'",
                    c_text(t, usize::MAX)
                )));
            }
            // Every client of this engine is a normal one for now.
            if !eq_ignore_case(t, "normal") {
                ids = Some(Vec::new());
            }
            i += 2;
        } else if eq_ignore_case(argv[i], "id") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for a in &argv[i + 1..] {
                let n = crate::util::parse_i64(a)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| CmdError::msg("ERR Invalid client ID"))?;
                list.push(n as u64);
            }
            ids = Some(list);
            i = argv.len();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut all: Vec<u64> = ctx.server.clients.keys().copied().collect();
    all.sort_unstable();
    let mut text = String::new();
    for id in all {
        if ids.as_ref().is_some_and(|l| !l.contains(&id)) {
            continue;
        }
        if id == ctx.client.id {
            text.push_str(&client_line(ctx.client, ctx.server));
        } else if let Some(c) = ctx.server.clients.get(&id) {
            text.push_str(&client_line(&c.borrow(), ctx.server));
        }
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

pub fn client_info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let line = client_line(ctx.client, ctx.server);
    ctx.out.verbatim(line.as_bytes(), "txt");
    Ok(())
}

pub fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Old form: CLIENT KILL addr:port -> +OK or an error.
    if argv.len() == 3 {
        let addr = String::from_utf8_lossy(argv[2]).into_owned();
        let target = find_clients(ctx, |c| c.addr == addr);
        if target.is_empty() {
            return Err(CmdError::msg("ERR No such client"));
        }
        kill(ctx, &target);
        ctx.out.ok();
        return Ok(());
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut user: Option<String> = None;
    let mut skipme = true;
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(CmdError::Syntax);
        }
        let (opt, val) = (argv[i], argv[i + 1]);
        if eq_ignore_case(opt, "id") {
            let n = arg_i64(val)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::msg("ERR client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if eq_ignore_case(opt, "addr") {
            addr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ignore_case(opt, "laddr") {
            laddr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ignore_case(opt, "user") {
            user = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ignore_case(opt, "type") {
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| eq_ignore_case(val, n))
            {
                return Err(CmdError::msg(format!(
                    "ERR Unknown client type '{}'",
                    c_text(val, usize::MAX)
                )));
            }
        } else if eq_ignore_case(opt, "skipme") {
            if eq_ignore_case(val, "yes") {
                skipme = true;
            } else if eq_ignore_case(val, "no") {
                skipme = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let me = ctx.client.id;
    let targets = find_clients(ctx, |c| {
        id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|a| &c.addr == a)
            && laddr.as_ref().is_none_or(|a| &c.laddr == a)
            && user.as_ref().is_none_or(|u| &c.user == u)
            && !(skipme && c.id == me)
    });
    kill(ctx, &targets);
    ctx.out.int(targets.len() as i64);
    Ok(())
}

fn find_clients(ctx: &Ctx, pred: impl Fn(&Client) -> bool) -> Vec<u64> {
    let mut out = Vec::new();
    for (&id, c) in &ctx.server.clients {
        let matched = if id == ctx.client.id {
            pred(ctx.client)
        } else {
            pred(&c.borrow())
        };
        if matched {
            out.push(id);
        }
    }
    out
}

/// Closes clients: the caller after its reply, others at once by shutting their socket down,
/// which ends their connection task.
fn kill(ctx: &mut Ctx, ids: &[u64]) {
    for &id in ids {
        if id == ctx.client.id {
            ctx.client.close_after_reply = true;
        } else if let Some(c) = ctx.server.clients.get(&id) {
            let fd = c.borrow().fd;
            // SAFETY: the fd belongs to a live connection owned by this thread; shutdown does
            // not close it, so it cannot be reused before that connection's task drops it.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }
}

pub fn client_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "    * ID <client-id>",
        "      Kill connections by client id.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ];
    super::server::reply_help(ctx, argv[0], &lines);
    Ok(())
}

pub fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if eq_ignore_case(argv[2], "on") || eq_ignore_case(argv[2], "off") {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::Syntax)
    }
}
