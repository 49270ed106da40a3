//! The Lua state scripts run in, set up as Redis 7.0's `scriptingInit`/`luaRegisterRedisAPI`
//! leave theirs: the base, table, string and math libraries plus `bit`, the `redis` table,
//! Redis's pcall and error handler, the deterministic `math.random`, only Redis's globals, and
//! every global and library table read-only (`prelude.lua` holds the Lua side).

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::commands::server::REDIS_VERSION;

/// The chunk name of the sandbox's own Lua code: frames from it are not the script's.
const INTERNAL: &str = "=redis_internal";

/// A ready Lua state and the handles the engine uses to run scripts in it.
pub struct State {
    pub lua: Lua,
    /// Where the globals really are (the globals table is a read-only view of it): KEYS and
    /// ARGV are set here.
    pub hidden: Table,
    /// Per-run functions (`call`, `setresp`, `set_repl`, `acl_check_cmd`) are set here while a
    /// script runs, and `pending`, the error table a Rust function raises.
    pub raw: Table,
    /// `run(f)`: calls `f` under Redis's error handler, returning (ok, value or error table).
    pub runner: Function,
    /// The real `redis` table (scripts see a read-only view), where each run sets `call` and
    /// `pcall`.
    pub redis: Table,
}

/// Redis's `redisLrand48`/`redisSrand48` (rand.c): the 48-bit linear congruential generator
/// of `lrand48`, with its default seed.
#[derive(Clone)]
struct Rand48(Rc<Cell<u64>>);

impl Rand48 {
    const MASK: u64 = (1 << 48) - 1;

    fn new() -> Self {
        Rand48(Rc::new(Cell::new(0x1234_ABCD_330E)))
    }

    fn next(&self) -> i32 {
        let x = self.0.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & Self::MASK;
        self.0.set(x);
        (x >> 17) as i32
    }

    fn seed(&self, seed: i32) {
        self.0.set((((seed as u32) as u64) << 16) | 0x330E);
    }
}

/// Redis's `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut parts = REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Builds a fresh sandboxed state.
pub fn new_state() -> mlua::Result<State> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let raw = lua.create_table()?;
    raw.raw_set("version", REDIS_VERSION)?;
    raw.raw_set("version_num", version_num())?;
    lua.globals().raw_set("bit", super::bit::open(&lua)?)?;

    // What the error handler needs of a stack level: what kind of function, its chunk and the
    // line running there (a Rust helper, since the debug library is not loaded).
    let frame = lua.create_function(|lua, level: usize| {
        let Some(debug) = lua.inspect_stack(level) else {
            return Ok(MultiValue::new());
        };
        let source = debug.source();
        let line = debug.curr_line();
        let mut out = MultiValue::new();
        out.push_back(Value::String(lua.create_string(source.what)?));
        let src = source.source.map(|s| s.into_owned()).unwrap_or_default();
        out.push_back(Value::String(lua.create_string(src)?));
        out.push_back(Value::Number(line as f64));
        Ok(out)
    })?;
    let rand = Rand48::new();
    let r = rand.clone();
    let lrand48 = lua.create_function(move |_, ()| Ok(r.next()))?;
    let srand48 = lua.create_function(move |_, seed: i64| {
        rand.seed(seed as i32);
        Ok(())
    })?;
    let sha1 = lua.create_function(|lua, s: mlua::String| {
        lua.create_string(super::sha1_hex(&s.as_bytes()))
    })?;
    let log = lua.create_function(|_, (level, msg): (i64, mlua::String)| {
        let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
        match level {
            3 => tracing::warn!(target: "script", "{msg}"),
            2 => tracing::info!(target: "script", "{msg}"),
            _ => tracing::debug!(target: "script", "{msg}"),
        }
        Ok(())
    })?;
    let (hidden, runner, redis): (Table, Function, Table) = lua
        .load(include_str!("prelude.lua"))
        .set_name(INTERNAL)
        .call((INTERNAL, raw.clone(), frame, lrand48, srand48, sha1, log))?;
    Ok(State {
        lua,
        hidden,
        raw,
        runner,
        redis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand48_matches_lrand48() {
        // lrand48() after srand48(1), from the C library.
        let r = Rand48::new();
        r.seed(1);
        assert_eq!(r.next(), 89400484);
        assert_eq!(r.next(), 976015093);
    }

    #[test]
    fn version_number_packs_like_redis() {
        assert_eq!(version_num(), 0x070000 | (version_num() & 0xffff));
    }
}
