//! Lua scripting (EVAL and friends), as Redis 7.0's `eval.c` and `script.c` have it: one Lua
//! state per engine (it lives on the engine's thread, like the rest of `Server`), the script
//! cache by SHA1, shebang flags, and a script run: its checks, KEYS/ARGV, the `redis.*`
//! functions bound to the run, the reply, and its writes logged to the AOF as one transaction.
//!
//! Modules: `sandbox.rs` (+ `prelude.lua`) builds the state, `call.rs` is `redis.call`,
//! `convert.rs` converts replies both ways, `bit.rs` is the `bit` library.

pub mod bit;
pub mod call;
pub mod convert;
pub mod sandbox;

use std::cell::RefCell;
use std::collections::HashMap;

use mlua::{Function, MultiValue, Value};

use crate::commands::{CmdError, CmdResult, Ctx};
use crate::server::Client;

/// Shebang flags (`#!lua flags=...`), and the mode of a script without a shebang.
pub mod script_flags {
    /// No shebang: Redis 7's compatibility mode (writes allowed, no OOM check at start).
    pub const EVAL_COMPAT: u32 = 1 << 0;
    pub const NO_WRITES: u32 = 1 << 1;
    pub const ALLOW_OOM: u32 = 1 << 2;
    pub const ALLOW_STALE: u32 = 1 << 3;
    pub const NO_CLUSTER: u32 = 1 << 4;
    pub const ALLOW_CROSS_SLOT_KEYS: u32 = 1 << 5;

    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT_KEYS),
    ];
}

/// SHA1 of `data`, lower-case hex (script names and `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// A cached script.
struct Script {
    body_len: usize,
    flags: u32,
    function: Function,
}

/// The scripting state of one engine.
#[derive(Default)]
pub struct Scripting {
    state: Option<sandbox::State>,
    /// By lower-case SHA1 hex.
    scripts: HashMap<String, Script>,
    /// Runs since the last incremental GC step (Redis steps the collector every 50).
    runs_since_gc: u32,
}

/// Redis's `evalExtractShebangFlags`: the flags and the length of the shebang line (kept out
/// of the compiled body, its newline kept so line numbers stay the user's).
fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for name in list.split(',') {
            let Some((_, f)) = script_flags::NAMES.iter().find(|(n, _)| *n == name) else {
                return Err(format!("ERR Unexpected flag in script shebang: {name}"));
            };
            flags |= f;
        }
    }
    Ok((flags, end))
}

impl Scripting {
    /// The Lua state, made on first use (and again after SCRIPT FLUSH).
    fn state(&mut self) -> Result<&sandbox::State, CmdError> {
        if self.state.is_none() {
            let state = sandbox::new_state().map_err(|e| {
                tracing::error!(error = %e, "cannot create the Lua state");
                CmdError::msg(format!("ERR cannot create the Lua state: {e}"))
            })?;
            self.state = Some(state);
        }
        self.state
            .as_ref()
            .ok_or_else(|| CmdError::msg("ERR no Lua state"))
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha).is_ok_and(|s| self.scripts.contains_key(&s.to_ascii_lowercase()))
    }

    /// Compiles and caches `body` (Redis's `luaCreateFunction`): its SHA1, or the error reply.
    pub fn create(&mut self, body: &[u8]) -> Result<String, CmdError> {
        let sha = sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang(body).map_err(CmdError::msg)?;
        let state = self.state()?;
        let function = state
            .lua
            .load(&body[shebang_len..])
            .set_name("@user_script")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                CmdError::msg(format!("ERR Error compiling script (new function): {msg}"))
            })?;
        self.scripts.insert(
            sha.clone(),
            Script {
                body_len: body.len(),
                flags,
                function,
            },
        );
        Ok(sha)
    }

    /// SCRIPT FLUSH: every script, and the Lua state with them.
    pub fn flush(&mut self) {
        self.scripts.clear();
        self.state = None;
        self.runs_since_gc = 0;
    }

    /// INFO `used_memory_lua`: the Lua state's heap, 0 before the first script (asking must
    /// not create the state: that would move `used_memory` under the caller's feet).
    pub fn lua_memory(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.lua.used_memory())
    }

    /// INFO `used_memory_scripts_eval`: the cache's SHA keys and bodies (with the allocator's
    /// header overheads Redis counts for its sds strings).
    pub fn scripts_memory(&self) -> usize {
        self.scripts.values().map(|s| 48 + s.body_len + 16).sum()
    }

    pub fn count(&self) -> usize {
        self.scripts.len()
    }
}

/// Runs the cached script `sha` for the caller in `ctx` (Redis's `evalGenericCommand` from
/// `scriptPrepareForRun` on): the reply goes to `ctx.out`.
pub fn run(ctx: &mut Ctx, sha: &str, keys: &[&[u8]], args: &[&[u8]], ro: bool) -> CmdResult {
    let scripting = &mut ctx.server.scripting;
    let Some(script) = scripting.scripts.get(sha) else {
        return Err(CmdError::msg(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    };
    let (function, flags) = (script.function.clone(), script.flags);
    let state = scripting.state()?;
    let (lua, hidden, raw, runner, redis) = (
        state.lua.clone(),
        state.hidden.clone(),
        state.raw.clone(),
        state.runner.clone(),
        state.redis.clone(),
    );
    let oom_at_start = ctx.server.evict.pre_command_oom && ctx.server.config.memory.maxmemory > 0;
    if flags & script_flags::EVAL_COMPAT == 0 {
        if flags & script_flags::NO_WRITES == 0 {
            if ctx.server.aof.enabled {
                if let Some(e) = crate::aof::refuse_writes(ctx.server) {
                    return Err(CmdError::msg(e));
                }
            }
            if ro {
                return Err(CmdError::msg(
                    "ERR Can not execute a script with write flag using *_ro command.",
                ));
            }
        }
        if flags & script_flags::ALLOW_OOM == 0
            && flags & script_flags::NO_WRITES == 0
            && oom_at_start
        {
            return Err(CmdError::msg(
                "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
            ));
        }
    }
    let read_only =
        ro || (flags & script_flags::EVAL_COMPAT == 0 && flags & script_flags::NO_WRITES != 0);
    let allow_oom = flags & script_flags::EVAL_COMPAT == 0 && flags & script_flags::ALLOW_OOM != 0;

    let mut client = Client::new(u64::MAX, String::new(), String::new(), -1);
    client.user = ctx.client.user.clone();
    client.authenticated = true;
    client.db = ctx.client.db;
    // Blocked clients are served once the script is over, never between its commands.
    client.tx.executing = true;
    let caller_info = crate::commands::connection::client_line(ctx.client)
        .trim_end()
        .to_string();
    let in_own_tx = ctx.server.aof.begin_script();
    let now_ms = ctx.now_ms;
    let run = RefCell::new(call::Run {
        server: &mut *ctx.server,
        client,
        caller_info,
        now_ms,
        resp: 2,
        propagate_aof: true,
        read_only,
        allow_oom,
        oom_at_start,
        dirty: false,
    });
    let outcome = lua.scope(|scope| {
        let run = &run;
        let pending = &raw;
        redis.raw_set(
            "call",
            scope.create_function(move |lua, args: MultiValue| {
                let (value, raise) = call::call(lua, &mut run.borrow_mut(), true, args)?;
                if raise {
                    pending.raw_set("pending", value)?;
                    return Err(mlua::Error::RuntimeError("redis.call failed".into()));
                }
                Ok(value)
            })?,
        )?;
        redis.raw_set(
            "pcall",
            scope.create_function(move |lua, args: MultiValue| {
                Ok(call::call(lua, &mut run.borrow_mut(), false, args)?.0)
            })?,
        )?;
        raw.raw_set(
            "acl_check_cmd",
            scope.create_function(move |lua, args: MultiValue| {
                call::acl_check_cmd(lua, &mut run.borrow_mut(), args)
            })?,
        )?;
        raw.raw_set(
            "setresp",
            scope.create_function(move |_, resp: u8| {
                let mut r = run.borrow_mut();
                r.resp = resp;
                r.client.resp = resp;
                Ok(())
            })?,
        )?;
        raw.raw_set(
            "set_repl",
            scope.create_function(move |_, flags: u8| {
                run.borrow_mut().propagate_aof = flags & 1 != 0;
                Ok(())
            })?,
        )?;
        let table_of = |items: &[&[u8]]| -> mlua::Result<mlua::Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(item)?)?;
            }
            Ok(t)
        };
        hidden.raw_set("KEYS", table_of(keys)?)?;
        hidden.raw_set("ARGV", table_of(args)?)?;
        let result = runner.call::<(bool, Value)>(function);
        for name in ["acl_check_cmd", "setresp", "set_repl", "pending"] {
            raw.raw_set(name, Value::Nil)?;
        }
        redis.raw_set("call", Value::Nil)?;
        redis.raw_set("pcall", Value::Nil)?;
        result
    });
    let resp = run.borrow().resp;
    drop(run);
    if in_own_tx {
        ctx.server.aof.end_script();
    }
    let scripting = &mut ctx.server.scripting;
    scripting.runs_since_gc += 1;
    if scripting.runs_since_gc >= 50 {
        scripting.runs_since_gc = 0;
        let _ = lua.gc_step_kbytes(50);
    }
    match outcome {
        Ok((true, value)) => {
            if let Value::Table(t) = &value {
                if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                    // An error the script returned: counted here unless a command's reply
                    // it came from was counted already.
                    let text = String::from_utf8_lossy(&e.as_bytes()).into_owned();
                    if matches!(
                        t.raw_get::<Value>("ignore_error_stats_update"),
                        Ok(Value::Boolean(true))
                    ) {
                        ctx.out.error(&text);
                        return Ok(());
                    }
                    return Err(CmdError::msg(text));
                }
            }
            convert::lua_to_reply(ctx.out, &value, resp, 0);
            Ok(())
        }
        Ok((false, Value::Table(t))) => {
            let field = |k: &str| -> Option<String> {
                match t.raw_get::<Value>(k) {
                    Ok(Value::String(s)) => {
                        Some(String::from_utf8_lossy(&s.as_bytes()).into_owned())
                    }
                    Ok(Value::Number(n)) => Some(format!("{}", n as i64)),
                    Ok(Value::Integer(n)) => Some(n.to_string()),
                    _ => None,
                }
            };
            let mut text = field("err").unwrap_or_default();
            if let (Some(source), Some(line)) = (field("source"), field("line")) {
                text.push_str(&format!(" script: {sha}, on {source}:{line}."));
            }
            if matches!(
                t.raw_get::<Value>("ignore_error_stats_update"),
                Ok(Value::Boolean(true))
            ) {
                ctx.out.error(&text);
                return Ok(());
            }
            Err(CmdError::msg(text))
        }
        Ok((false, other)) => {
            let msg = match other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".into(),
            };
            let msg: String = msg.chars().take(100).collect();
            Err(CmdError::msg(format!(
                "ERR Error running script {sha}, {msg}"
            )))
        }
        Err(e) => Err(CmdError::msg(format!(
            "ERR Error running script {sha}, {}",
            e.to_string().chars().take(100).collect::<String>()
        ))),
    }
}
