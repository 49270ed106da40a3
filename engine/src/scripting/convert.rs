//! Conversions at the script boundary, as Redis's `redisProtocolToLuaType` (a command's reply
//! to a Lua value) and `luaReplyToRedisReply` (a script's return value to the caller's reply)
//! do them, for RESP2 and RESP3.

use mlua::{Lua, Table, Value};

use crate::protocol::reply::Reply;

/// Nesting deeper than this is answered with Redis's stack-limit error instead of recursing
/// (a table can contain itself).
const MAX_DEPTH: usize = 1000;

/// Redis's `luaPushErrorBuff`: the `{err=...}` table of an error text. `-CODE msg` keeps its
/// code; a text without the dash gets `ERR`. CR and LF are trimmed from both ends.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let (code, msg): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let is_nl = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_nl(b)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|b| !is_nl(b)).map_or(start, |e| e + 1);
    let msg = &msg[start..end.max(start)];
    let mut full = Vec::with_capacity(code.len() + 1 + msg.len());
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&full)?)?;
    Ok(t)
}

/// The Lua value of one complete reply. Errors become `{err=...}` tables flagged so that the
/// script's reply does not count them again.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut p = Parser { buf, pos: 0 };
    p.value(lua)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn line(&mut self) -> &[u8] {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        self.pos += end + 2;
        &rest[..end]
    }

    fn number(&mut self) -> i64 {
        crate::util::parse_i64(self.line()).unwrap_or(0)
    }

    fn bytes(&mut self, len: usize) -> &[u8] {
        let start = self.pos.min(self.buf.len());
        let end = (start + len).min(self.buf.len());
        self.pos = end + 2;
        &self.buf[start..end]
    }

    /// One value (an attribute is parsed and dropped, as Redis does).
    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(Value::Nil);
        };
        self.pos += 1;
        let keyed = |lua: &Lua, key: &str, v: Value| -> mlua::Result<Value> {
            let t = lua.create_table()?;
            t.raw_set(key, v)?;
            Ok(Value::Table(t))
        };
        Ok(match kind {
            b'+' => {
                let s = lua.create_string(self.line())?;
                keyed(lua, "ok", Value::String(s))?
            }
            b'-' => {
                let mut text = b"-".to_vec();
                text.extend_from_slice(self.line());
                let t = error_table(lua, &text)?;
                t.raw_set("ignore_error_stats_update", true)?;
                Value::Table(t)
            }
            b':' => Value::Number(self.number() as f64),
            b'$' => match usize::try_from(self.number()) {
                Ok(len) => Value::String(lua.create_string(self.bytes(len))?),
                Err(_) => Value::Boolean(false),
            },
            b'*' | b'>' => {
                let n = self.number();
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let t = lua.create_table()?;
                for i in 1..=n {
                    let v = self.value(lua)?;
                    t.raw_set(i, v)?;
                }
                Value::Table(t)
            }
            b'%' => {
                let n = self.number().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua)?;
                    let v = self.value(lua)?;
                    if !k.is_nil() {
                        inner.raw_set(k, v)?;
                    }
                }
                keyed(lua, "map", Value::Table(inner))?
            }
            b'~' => {
                let n = self.number().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua)?;
                    if !k.is_nil() {
                        inner.raw_set(k, true)?;
                    }
                }
                keyed(lua, "set", Value::Table(inner))?
            }
            b'|' => {
                let n = self.number().max(0);
                for _ in 0..n * 2 {
                    self.value(lua)?;
                }
                return self.value(lua);
            }
            b'_' => {
                self.line();
                Value::Nil
            }
            b'#' => Value::Boolean(self.line() == b"t"),
            b',' => {
                let d = crate::util::parse_f64(self.line()).unwrap_or(0.0);
                keyed(lua, "double", Value::Number(d))?
            }
            b'(' => {
                let s = lua.create_string(self.line())?;
                keyed(lua, "big_number", Value::String(s))?
            }
            b'=' => {
                let len = usize::try_from(self.number()).unwrap_or(0);
                let body = self.bytes(len).to_vec();
                let (format, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&body[..0], &body[..])
                };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                keyed(lua, "verbatim_string", Value::Table(inner))?
            }
            _ => Value::Nil,
        })
    }
}

/// C's `(long long)` of a double as x86-64 computes it: out of range and NaN give i64::MIN.
fn truncate(n: f64) -> i64 {
    let limit = (1u64 << 63) as f64;
    if !(-limit..limit).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Replaces CR and LF with spaces, as Redis does for status and big number replies.
fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(['\r', '\n'], " ")
}

/// A raw string field of a table, if it is a string.
fn string_field(t: &Table, key: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(key) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Writes a script's value as a reply. `script_resp` is the protocol the script chose with
/// `redis.setresp` (it decides what a boolean becomes); the caller's protocol is `out`'s.
/// Only the `err` table's text is returned, for the caller to send and count.
pub fn lua_to_reply(out: &mut Reply, v: &Value, script_resp: u8, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Number(n) => out.int(truncate(*n)),
        Value::Integer(n) => out.int(*n),
        Value::Table(t) => table_to_reply(out, t, script_resp, depth),
        _ => out.null(),
    }
}

fn table_to_reply(out: &mut Reply, t: &Table, script_resp: u8, depth: usize) {
    if let Some(e) = string_field(t, "err") {
        out.error_bytes(&e.as_bytes());
        return;
    }
    if let Some(ok) = string_field(t, "ok") {
        out.simple(&one_line(&ok.as_bytes()));
        return;
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        out.double(d);
        return;
    }
    if let Some(big) = string_field(t, "big_number") {
        let text = one_line(&big.as_bytes());
        if out.resp3 {
            out.buf.push(b'(');
            out.buf.extend_from_slice(text.as_bytes());
            out.buf.extend_from_slice(b"\r\n");
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(format), Some(text)) =
            (string_field(&vt, "format"), string_field(&vt, "string"))
        {
            let format = String::from_utf8_lossy(&format.as_bytes()).into_owned();
            out.verbatim(&text.as_bytes(), &format);
            return;
        }
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> =
            map.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            lua_to_reply(out, k, script_resp, depth + 1);
            lua_to_reply(out, v, script_resp, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = set
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            lua_to_reply(out, k, script_resp, depth + 1);
        }
        return;
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut items = Vec::new();
    let mut i = 1i64;
    while let Ok(v) = t.raw_get::<Value>(i) {
        if v.is_nil() {
            break;
        }
        items.push(v);
        i += 1;
    }
    out.array(items.len());
    for item in &items {
        lua_to_reply(out, item, script_resp, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_c_like() {
        assert_eq!(truncate(3.99), 3);
        assert_eq!(truncate(-3.99), -3);
        assert_eq!(truncate(f64::INFINITY), i64::MIN);
        assert_eq!(truncate(f64::NAN), i64::MIN);
    }

    #[test]
    fn error_tables_keep_codes() {
        let lua = Lua::new();
        let t = error_table(&lua, b"-WRONGTYPE Operation\r\n").expect("table");
        assert_eq!(
            t.raw_get::<String>("err").expect("err"),
            "WRONGTYPE Operation"
        );
        let t = error_table(&lua, b"plain").expect("table");
        assert_eq!(t.raw_get::<String>("err").expect("err"), "ERR plain");
    }
}
