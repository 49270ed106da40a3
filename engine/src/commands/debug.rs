//! DEBUG: the subcommands Redis's test suite and client libraries rely on (SLEEP, ERROR,
//! PROTOCOL, RELOAD, SET-ACTIVE-EXPIRE, LOG), behind `enable-debug-command`.

use super::server::{reply_help, subcommand_syntax_error};
use super::{CmdError, CmdResult, Ctx};

const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

pub fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !ctx
        .server
        .config
        .enable_debug_command
        .allows(ctx.client.local)
    {
        return Err(CmdError::msg(DEBUG_NOT_ALLOWED));
    }
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
    match (sub.as_str(), argv.len()) {
        ("help", 2) => debug_help(ctx, argv),
        ("sleep", 3) => {
            // strtod semantics: a bad number sleeps 0 seconds. Blocking the engine's thread
            // is the point: it simulates a slow command.
            let secs = strtod_prefix(argv[2]);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        ("set-active-expire", 3) => {
            ctx.server.active_expire_enabled = atoi(argv[2]) != 0;
            ctx.out.ok();
        }
        ("error", 3) => {
            // Sent as given (the text carries its own code) and, as in Redis, not counted
            // as an error reply.
            ctx.out.buf.push(b'-');
            ctx.out.buf.extend(
                argv[2]
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            ctx.out.buf.extend_from_slice(b"\r\n");
        }
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(argv[2]));
            ctx.out.ok();
        }
        ("protocol", 3) => debug_protocol(ctx, argv[2])?,
        ("reload", _) => super::persist::debug_reload(ctx, argv)?,
        _ => return Err(subcommand_syntax_error(argv)),
    }
    Ok(())
}

fn debug_help(ctx: &mut Ctx, argv: &[&[u8]]) {
    let lines = [
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ];
    reply_help(ctx, argv[0], &lines);
}

/// DEBUG PROTOCOL <type>: one sample reply of each RESP type.
fn debug_protocol(ctx: &mut Ctx, kind: &[u8]) -> CmdResult {
    let kind = String::from_utf8_lossy(kind).to_ascii_lowercase();
    let out = &mut *ctx.out;
    match kind.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => {
            const BIG: &[u8] = b"1234567999999999999999999999999999999";
            if out.resp3 {
                out.buf.push(b'(');
                out.buf.extend_from_slice(BIG);
                out.buf.extend_from_slice(b"\r\n");
            } else {
                out.bulk(BIG);
            }
        }
        "null" => out.null(),
        "array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        "set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        "map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        "attrib" => {
            if out.resp3 {
                out.buf.extend_from_slice(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !out.resp3 {
                return Err(CmdError::msg("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => out.verbatim(b"This is a verbatim\nstring", "txt"),
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        _ => {
            return Err(CmdError::msg(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// C's `atoi`: leading spaces, optional sign, digits; anything else ends the number.
fn atoi(arg: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(arg);
    let t = s.trim_start();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}

/// C's `strtod` on the longest valid prefix (0 when there is none). Only the first 64 bytes
/// are looked at: no meaningful number of seconds is longer.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(&arg[..arg.len().min(64)]);
    let t = s.trim_start();
    (1..=t.len())
        .rev()
        .filter(|&n| t.is_char_boundary(n))
        .find_map(|n| t[..n].parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(strtod_prefix(b"0.5s"), 0.5);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
    }
}
