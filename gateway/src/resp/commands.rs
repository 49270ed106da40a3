//! What one RESP connection may do, command by command: the connection handshake that Redis
//! clients send (AUTH, HELLO, PING, SELECT 0, CLIENT SETNAME/SETINFO, COMMAND DOCS, ...), and
//! the terminal's writes, which are handed back to the connection to be submitted together.

use std::sync::Arc;

use tradestate_engine::protocol::reply::Reply;
use tradestate_mt5_bridge::validate_instance_id;

use super::writes::{self, ReplyShape};
use crate::gateway::Gateway;
use crate::ops::Op;

/// Per-connection state.
pub struct Session {
    pub connection_id: u64,
    /// The terminal this connection authenticated as.
    pub instance_id: Option<Arc<str>>,
    /// 2 or 3, chosen with HELLO.
    pub protocol: u8,
    pub name: Option<Vec<u8>>,
}

impl Session {
    pub fn new(connection_id: u64) -> Session {
        Session {
            connection_id,
            instance_id: None,
            protocol: 2,
            name: None,
        }
    }
}

/// What the connection does after a command ran.
pub enum Step {
    /// The reply is in the output buffer.
    Replied,
    /// A write to submit with the others of this read; its reply comes with the outcome.
    Write(Op, ReplyShape),
    /// The reply is in the output buffer; close the connection after writing it.
    Close,
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NOAUTH: &str = "NOAUTH Authentication required.";

pub fn execute(session: &mut Session, gateway: &Gateway, argv: &[&[u8]], out: &mut Reply) -> Step {
    let name = argv[0].to_ascii_lowercase();
    let args = &argv[1..];
    let Some(instance_id) = session.instance_id.clone() else {
        return match name.as_slice() {
            b"auth" => auth(session, gateway, args, out),
            b"hello" => hello(session, gateway, args, out),
            b"ping" => ping(args, out),
            b"quit" => quit(out),
            b"reset" => reset(session, out),
            _ => {
                out.error(NOAUTH);
                Step::Replied
            }
        };
    };
    let stream = gateway.policy.rtss_stream.as_str();
    match name.as_slice() {
        b"hset" | b"hmset" => {
            let (command, hmset) = if name == b"hset" {
                ("hset", false)
            } else {
                ("hmset", true)
            };
            match writes::hash_write(&instance_id, stream, command, argv) {
                Ok((op, pairs)) => {
                    let shape = if hmset {
                        ReplyShape::Hmset
                    } else {
                        ReplyShape::Hset { pairs }
                    };
                    Step::Write(op, shape)
                }
                Err(e) => {
                    e.reply(out);
                    Step::Replied
                }
            }
        }
        b"xadd" => match writes::stream_write(&instance_id, stream, argv) {
            Ok(op) => Step::Write(op, ReplyShape::Xadd),
            Err(e) => {
                e.reply(out);
                Step::Replied
            }
        },
        b"auth" => auth(session, gateway, args, out),
        b"hello" => hello(session, gateway, args, out),
        b"ping" => ping(args, out),
        b"quit" => quit(out),
        b"reset" => reset(session, out),
        b"echo" => {
            match args {
                [message] => out.bulk(message),
                _ => arity(out, "echo"),
            }
            Step::Replied
        }
        b"select" => {
            match args {
                [b"0"] => out.ok(),
                [_] => out.error("ERR DB index is out of range (the gateway has only database 0)"),
                _ => arity(out, "select"),
            }
            Step::Replied
        }
        b"client" => client(session, &instance_id, stream, args, out),
        b"command" => {
            // redis-cli asks for COMMAND DOCS on connect to build its hints; it copes with none.
            match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
                Some(b"count") => out.int(0),
                _ => out.array(0),
            }
            Step::Replied
        }
        _ => {
            out.error(&format!(
                "NOPERM {} is not allowed: {}",
                String::from_utf8_lossy(argv[0]).to_ascii_uppercase(),
                writes::allowed_writes(&instance_id, stream)
            ));
            Step::Replied
        }
    }
}

fn arity(out: &mut Reply, command: &str) {
    out.error(&format!(
        "ERR wrong number of arguments for '{command}' command"
    ));
}

fn ping(args: &[&[u8]], out: &mut Reply) -> Step {
    match args {
        [] => out.simple("PONG"),
        [message] => out.bulk(message),
        _ => arity(out, "ping"),
    }
    Step::Replied
}

fn quit(out: &mut Reply) -> Step {
    out.ok();
    Step::Close
}

fn reset(session: &mut Session, out: &mut Reply) -> Step {
    session.instance_id = None;
    session.protocol = 2;
    session.name = None;
    out.resp3 = false;
    out.simple("RESET");
    Step::Replied
}

/// `AUTH <instance_id> <token>`; a failed AUTH leaves the connection as it was (as in Redis).
fn auth(session: &mut Session, gateway: &Gateway, args: &[&[u8]], out: &mut Reply) -> Step {
    match args {
        [id, token] => {
            if let Err(text) = login(session, gateway, id, token) {
                out.error(&text);
            } else {
                out.ok();
            }
        }
        [_] => out.error("ERR use AUTH <instance_id> <token>"),
        _ => arity(out, "auth"),
    }
    Step::Replied
}

/// Checks the credentials and makes them the connection's; the error is the reply text.
fn login(session: &mut Session, gateway: &Gateway, id: &[u8], token: &[u8]) -> Result<(), String> {
    let (Ok(id), Ok(token)) = (std::str::from_utf8(id), std::str::from_utf8(token)) else {
        return Err(WRONGPASS.into());
    };
    if let Err(e) = validate_instance_id(id) {
        return Err(format!("ERR invalid instance id {id:?}: {}", e.message));
    }
    if !gateway.auth.terminal(id, token) {
        return Err(WRONGPASS.into());
    }
    session.instance_id = Some(Arc::from(id));
    Ok(())
}

/// `HELLO [2|3 [AUTH <instance_id> <token>] [SETNAME <name>]]`.
fn hello(session: &mut Session, gateway: &Gateway, args: &[&[u8]], out: &mut Reply) -> Step {
    let mut protocol = session.protocol;
    let mut credentials = None;
    let mut name = None;
    if let Some(version) = args.first() {
        protocol = match *version {
            b"2" => 2,
            b"3" => 3,
            _ => {
                out.error("NOPROTO unsupported protocol version (the gateway speaks 2 and 3)");
                return Step::Replied;
            }
        };
        let mut rest = &args[1..];
        while let Some(option) = rest.first() {
            if option.eq_ignore_ascii_case(b"AUTH") && rest.len() >= 3 {
                credentials = Some((rest[1], rest[2]));
                rest = &rest[3..];
            } else if option.eq_ignore_ascii_case(b"SETNAME") && rest.len() >= 2 {
                name = Some(rest[1]);
                rest = &rest[2..];
            } else {
                out.error(&format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(option)
                ));
                return Step::Replied;
            }
        }
    }
    match credentials {
        Some((id, token)) => {
            if let Err(text) = login(session, gateway, id, token) {
                out.error(&text);
                return Step::Replied;
            }
        }
        None if session.instance_id.is_none() => {
            out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <instance_id> <token> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return Step::Replied;
        }
        None => {}
    }
    if let Some(name) = name {
        session.name = Some(name.to_vec());
    }
    session.protocol = protocol;
    out.resp3 = protocol == 3;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"tradestate");
    out.bulk(b"version");
    out.bulk(env!("CARGO_PKG_VERSION").as_bytes());
    out.bulk(b"proto");
    out.int(i64::from(protocol));
    out.bulk(b"id");
    out.int(session.connection_id as i64);
    out.bulk(b"mode");
    out.bulk(b"gateway");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Step::Replied
}

/// The CLIENT subcommands client libraries send while connecting.
fn client(
    session: &mut Session,
    instance_id: &str,
    stream: &str,
    args: &[&[u8]],
    out: &mut Reply,
) -> Step {
    let Some(sub) = args.first() else {
        arity(out, "client");
        return Step::Replied;
    };
    match sub.to_ascii_lowercase().as_slice() {
        b"setname" => match args {
            [_, name] if name.iter().all(|b| b.is_ascii_graphic()) => {
                session.name = (!name.is_empty()).then(|| name.to_vec());
                out.ok();
            }
            [_, _] => {
                out.error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            _ => arity(out, "client|setname"),
        },
        b"getname" => match &session.name {
            Some(name) => out.bulk(name),
            None => out.null(),
        },
        b"id" => out.int(session.connection_id as i64),
        // Library name and version: accepted and not kept.
        b"setinfo" => match args {
            [_, _, _] => out.ok(),
            _ => arity(out, "client|setinfo"),
        },
        _ => out.error(&format!(
            "NOPERM CLIENT {} is not allowed: {}",
            String::from_utf8_lossy(sub).to_ascii_uppercase(),
            writes::allowed_writes(instance_id, stream)
        )),
    }
    Step::Replied
}
