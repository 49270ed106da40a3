//! The `bit` library Redis bundles (LuaBitOp 1.0): 32-bit operations on Lua numbers. The
//! operations are in Rust; argument errors are raised from a thin Lua wrapper so that they
//! carry the script's position, as the C library's `luaL_argerror` does.

use mlua::{Lua, MultiValue, Table, Value};

/// LuaBitOp's number normalisation: the low 32 bits of `n + 2^52 + 2^51` (rounds to nearest,
/// wraps modulo 2^32).
fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

/// Argument `i` (1-based) as a number, or the error `luaL_checknumber` raises.
fn arg(args: &[Value], i: usize, fname: &str) -> Result<i32, String> {
    let v = args.get(i - 1).unwrap_or(&Value::Nil);
    let n = match v {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        Value::String(s) => crate::util::parse_f64(&s.as_bytes()),
        _ => None,
    };
    n.map(tobit).ok_or_else(|| {
        let got = if i > args.len() {
            "no value"
        } else {
            v.type_name()
        };
        format!("bad argument #{i} to '{fname}' (number expected, got {got})")
    })
}

fn op(name: &str, args: &[Value]) -> Result<Value, String> {
    let a = |i| arg(args, i, name);
    let int = |v: i32| Value::Number(v as f64);
    Ok(match name {
        "tobit" => int(a(1)?),
        "bnot" => int(!a(1)?),
        "band" | "bor" | "bxor" => {
            let mut acc = a(1)?;
            for i in 2..=args.len() {
                let b = a(i)?;
                acc = match name {
                    "band" => acc & b,
                    "bor" => acc | b,
                    _ => acc ^ b,
                };
            }
            int(acc)
        }
        "lshift" | "rshift" | "arshift" | "rol" | "ror" => {
            let x = a(1)?;
            let n = (a(2)? & 31) as u32;
            let u = x as u32;
            int(match name {
                "lshift" => (u << n) as i32,
                "rshift" => (u >> n) as i32,
                "arshift" => x >> n,
                "rol" => u.rotate_left(n) as i32,
                _ => u.rotate_right(n) as i32,
            })
        }
        "bswap" => int(a(1)?.swap_bytes()),
        _ => return Err(format!("unknown bit operation '{name}'")),
    })
}

const NAMES: &[&str] = &[
    "tobit", "tohex", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror",
    "bswap",
];

/// The `bit` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let raw = lua.create_table()?;
    for &name in NAMES {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let mut out = MultiValue::new();
            let result = if name == "tohex" {
                tohex(lua, &args)
            } else {
                op(name, &args)
            };
            match result {
                Ok(v) => {
                    out.push_back(Value::Boolean(true));
                    out.push_back(v);
                }
                Err(msg) => {
                    out.push_back(Value::Boolean(false));
                    out.push_back(Value::String(lua.create_string(msg)?));
                }
            }
            Ok(out)
        })?;
        raw.raw_set(name, f)?;
    }
    lua.load(
        "local raw = ... local error, pairs = error, pairs local bit = {} \
         for name, f in pairs(raw) do \
           bit[name] = function(...) local ok, v = f(...) if not ok then error(v, 2) end return v end \
         end return bit",
    )
    .set_name("=redis_internal")
    .call(raw)
}

fn tohex(lua: &Lua, args: &[Value]) -> Result<Value, String> {
    let x = arg(args, 1, "tohex")? as u32;
    let mut n = if args.len() >= 2 {
        arg(args, 2, "tohex")?
    } else {
        8
    };
    let upper = n < 0;
    if upper {
        n = n.wrapping_neg();
    }
    let n = n.clamp(0, 8) as usize;
    let text = if upper {
        format!("{x:08X}")
    } else {
        format!("{x:08x}")
    };
    lua.create_string(&text[8 - n..])
        .map(Value::String)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_and_rounds() {
        assert_eq!(tobit(4294967295.0), -1);
        assert_eq!(tobit(4294967296.0), 0);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
    }
}
