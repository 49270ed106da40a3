//! Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET and the CLIENT family.

use super::server::subcommand_syntax_error;
use super::{arg_i64, c_text, CmdError, CmdResult, Ctx};
use crate::server::Client;
use crate::util::eq_ignore_case;

pub fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() <= 2 && ctx.client.resp == 2 && ctx.server.pubsub.is_subscribed(ctx.client.id) {
        super::pubsub::subscribed_ping(ctx, argv);
        return Ok(());
    }
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

/// Authenticates the client as `user` when the password opens it (Redis's
/// `ACLAuthenticateUser`).
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    let Some(u) = ctx.server.acl.authenticate(user, pass) else {
        let name = String::from_utf8_lossy(user).into_owned();
        super::acl::log_denied(ctx, "auth", "toplevel", "AUTH".into(), name);
        return false;
    };
    ctx.client.user = u.name.clone();
    ctx.client.authenticated = true;
    true
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass) = if argv.len() == 2 {
        if !ctx.server.acl.auth_required() {
            return Err(CmdError::msg("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (&b"default"[..], argv[1])
    } else {
        (argv[1], argv[2])
    };
    if authenticate(ctx, user, pass) {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::msg(WRONGPASS))
    }
}

pub fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut version = None;
    if argv.len() >= 2 {
        let ver = crate::util::parse_i64(argv[1]).ok_or_else(|| {
            CmdError::msg("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        version = Some(ver as u8);
    }
    // Options are all parsed before authenticating and the name is checked after, as in
    // Redis 7.0; the last AUTH given wins.
    let mut credentials: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ignore_case(argv[i], "auth") && more >= 2 {
            credentials = Some((argv[i + 1], argv[i + 2]));
            i += 3;
        } else if eq_ignore_case(argv[i], "setname") && more >= 1 {
            name = Some(argv[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                c_text(argv[i], usize::MAX)
            )));
        }
    }
    if let Some((user, pass)) = credentials {
        if !authenticate(ctx, user, pass) {
            return Err(CmdError::msg(WRONGPASS));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        validate_name(n, "Client names")?;
        ctx.client.name = if n.is_empty() { None } else { Some(n.to_vec()) };
    }
    if let Some(v) = version {
        ctx.client.resp = v;
        ctx.out.resp3 = v == 3;
    }
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(super::server::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(ctx.client.resp as i64);
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

/// RESET: back to a fresh connection's state (database 0, RESP2, no name, default user);
/// the library name and version stay, as in Redis 7.2.
pub fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // Transactions and subscriptions end (multi.rs, pubsub.rs).
    crate::multi::discard(ctx);
    ctx.server.pubsub.remove_client(ctx.client.id);
    let c = &mut *ctx.client;
    c.db = 0;
    c.resp = 2;
    c.name = None;
    c.no_evict = false;
    c.user = "default".into();
    c.authenticated = !ctx.server.acl.auth_required();
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

/// CLIENT SETINFO LIB-NAME|LIB-VER <value> (Redis 7.2).
pub fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (attr, value) = (argv[2], argv[3]);
    let slot = if eq_ignore_case(attr, "lib-name") {
        &mut ctx.client.lib_name
    } else if eq_ignore_case(attr, "lib-ver") {
        &mut ctx.client.lib_ver
    } else {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            c_text(attr, usize::MAX)
        )));
    };
    if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            c_text(attr, usize::MAX)
        )));
    }
    *slot = if value.is_empty() {
        None
    } else {
        Some(value.to_vec())
    };
    ctx.out.ok();
    Ok(())
}

/// One CLIENT LIST line (Redis 7.2 layout: 7.0's fields plus lib-name and lib-ver).
pub(crate) fn client_line(c: &Client) -> String {
    let now = std::time::Instant::now();
    let cmd = super::table::stat_name(c.last_command).unwrap_or_else(|| "NULL".into());
    let text = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let qbuf_free = c.query_buffer_cap.saturating_sub(c.query_buffer_len);
    let tot_mem =
        c.query_buffer_cap + c.reply_buffer_cap + c.argv_mem + std::mem::size_of::<Client>();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        text(&c.name),
        now.duration_since(c.created).as_secs(),
        now.duration_since(c.last_interaction).as_secs(),
        c.flags_text(),
        c.db,
        c.query_buffer_len,
        qbuf_free,
        c.argv_mem,
        c.reply_buffer_cap,
        c.reply_buffer_cap,
        tot_mem,
        cmd,
        c.user,
        c.resp,
        text(&c.lib_name),
        text(&c.lib_ver),
    )
}

/// The line of client `id` (the caller is borrowed by the running command).
fn line_of(ctx: &Ctx, id: u64) -> Option<String> {
    if id == ctx.client.id {
        return Some(client_line(ctx.client));
    }
    let c = ctx.server.clients.get(&id)?;
    let line = c.try_borrow().ok().map(|c| client_line(&c));
    line
}

/// Redis's `getClientTypeByName`: every client here is a normal one (there are no replicas,
/// masters or pub/sub clients yet), so only `normal` can match.
fn client_type_matches_normal(name: &[u8]) -> Result<bool, CmdError> {
    if eq_ignore_case(name, "normal") {
        Ok(true)
    } else if ["master", "replica", "slave", "pubsub"]
        .iter()
        .any(|n| eq_ignore_case(name, n))
    {
        Ok(false)
    } else {
        Err(CmdError::msg(format!(
            "ERR Unknown client type '{}'",
            c_text(name, usize::MAX)
        )))
    }
}

pub fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut text = String::new();
    if argv.len() == 4 && eq_ignore_case(argv[2], "type") {
        if client_type_matches_normal(argv[3])? {
            append_all_clients(ctx, &mut text);
        }
    } else if argv.len() > 3 && eq_ignore_case(argv[2], "id") {
        // In argument order, as Redis does (a repeated id repeats its line).
        let mut ids = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            let id =
                crate::util::parse_i64(a).ok_or_else(|| CmdError::msg("ERR Invalid client ID"))?;
            ids.push(id);
        }
        for id in ids {
            if let Some(line) = u64::try_from(id).ok().and_then(|id| line_of(ctx, id)) {
                text.push_str(&line);
            }
        }
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        append_all_clients(ctx, &mut text);
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// Every client's line, oldest connection first.
fn append_all_clients(ctx: &Ctx, text: &mut String) {
    let mut all: Vec<u64> = ctx.server.clients.keys().copied().collect();
    all.sort_unstable();
    for id in all {
        if let Some(line) = line_of(ctx, id) {
            text.push_str(&line);
        }
    }
}

pub fn client_info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let line = client_line(ctx.client);
    ctx.out.verbatim(line.as_bytes(), "txt");
    Ok(())
}

/// Which clients CLIENT KILL selects.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    /// `Some(false)`: a type no client has.
    normal_type: Option<bool>,
    user: Option<String>,
    skipme: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client, me: u64) -> bool {
        self.addr
            .as_ref()
            .is_none_or(|a| c.addr.as_bytes() == &a[..])
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| c.laddr.as_bytes() == &a[..])
            && self.normal_type != Some(false)
            && self.user.as_ref().is_none_or(|u| &c.user == u)
            && self.id.is_none_or(|id| c.id == id)
            && !(self.skipme && c.id == me)
    }
}

/// Parses the `<option> <value> ...` form of CLIENT KILL.
fn parse_kill_filter(argv: &[&[u8]], acl: &crate::acl::Acl) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter {
        skipme: true,
        ..Default::default()
    };
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        let (opt, val) = (argv[i], argv.get(i + 1).copied().unwrap_or_default());
        if eq_ignore_case(opt, "id") && has_value {
            let n = arg_i64(val)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::msg("ERR client-id should be greater than 0"))?;
            f.id = Some(n as u64);
        } else if eq_ignore_case(opt, "type") && has_value {
            f.normal_type = Some(client_type_matches_normal(val)?);
        } else if eq_ignore_case(opt, "addr") && has_value {
            f.addr = Some(val.to_vec());
        } else if eq_ignore_case(opt, "laddr") && has_value {
            f.laddr = Some(val.to_vec());
        } else if eq_ignore_case(opt, "user") && has_value {
            let name = String::from_utf8_lossy(val).into_owned();
            if acl.user(&name).is_none() {
                return Err(CmdError::msg(format!(
                    "ERR No such user '{}'",
                    c_text(val, usize::MAX)
                )));
            }
            f.user = Some(name);
        } else if eq_ignore_case(opt, "skipme") && has_value {
            if eq_ignore_case(val, "yes") {
                f.skipme = true;
            } else if eq_ignore_case(val, "no") {
                f.skipme = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(f)
}

/// CLIENT KILL <addr> (old form: +OK or an error; may kill the caller) or
/// CLIENT KILL <option> <value> ... (new form: the number killed; skips the caller unless
/// SKIPME NO).
pub fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let old_form = argv.len() == 3;
    let filter = if old_form {
        KillFilter {
            addr: Some(argv[2].to_vec()),
            skipme: false,
            ..Default::default()
        }
    } else {
        parse_kill_filter(argv, &ctx.server.acl)?
    };
    let me = ctx.client.id;
    let mut targets = Vec::new();
    for (&id, c) in &ctx.server.clients {
        let matched = if id == me {
            filter.matches(ctx.client, me)
        } else {
            c.try_borrow().is_ok_and(|c| filter.matches(&c, me))
        };
        if matched {
            targets.push(id);
        }
    }
    let killed = targets.len();
    for id in targets {
        if id == me {
            // Closed once this reply is written.
            ctx.client.close_after_reply = true;
        } else if let Some(c) = ctx.server.clients.remove(&id) {
            // Gone at once (CLIENT LIST and connected_clients no longer count it), like
            // Redis's freeClient; its task ends on its own.
            c.borrow_mut().kill();
        }
    }
    if old_form {
        if killed == 0 {
            return Err(CmdError::msg("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed as i64);
    }
    Ok(())
}

pub fn client_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Only the subcommands that exist here, in Redis's wording (7.2 for SETINFO).
    let lines = [
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
        "    * ID <client-id> [<client-id> ...]",
        "      Return clients with the given IDs.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ];
    super::server::reply_help(ctx, argv[0], &lines);
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF: recorded (CLIENT LIST shows the `e` flag); there is no client
/// eviction to be protected from yet.
pub fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if eq_ignore_case(argv[2], "on") {
        ctx.client.no_evict = true;
    } else if eq_ignore_case(argv[2], "off") {
        ctx.client.no_evict = false;
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

// --- CLIENT PAUSE / UNPAUSE / REPLY -----------------------------------------------------------

/// CLIENT PAUSE <timeout ms> [WRITE|ALL]: holds back every command (or only writes) of every
/// client until the deadline or CLIENT UNPAUSE.
pub fn client_pause(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(subcommand_syntax_error(argv));
    }
    let writes_only = match argv.get(3) {
        None => false,
        Some(m) if eq_ignore_case(m, "write") => true,
        Some(m) if eq_ignore_case(m, "all") => false,
        Some(_) => return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = crate::util::parse_i64(argv[2])
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    // A deadline past what the clock can hold is a pause "for ever" (100 years), not a panic.
    let now = std::time::Instant::now();
    let until = now
        .checked_add(std::time::Duration::from_millis(ms as u64))
        .unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 86_400));
    ctx.server.pause.pause(until, writes_only);
    ctx.out.ok();
    Ok(())
}

pub fn client_unpause(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.pause.unpause();
    ctx.out.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP: the connection loop drops the replies of commands run while
/// OFF, and of the one command after SKIP.
pub fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = &mut *ctx.client;
    if eq_ignore_case(argv[2], "on") {
        c.reply_off = false;
        c.reply_skip = false;
        c.reply_skip_next = false;
        ctx.out.ok();
    } else if eq_ignore_case(argv[2], "off") {
        c.reply_off = true;
    } else if eq_ignore_case(argv[2], "skip") {
        if !c.reply_off {
            c.reply_skip_next = true;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}
