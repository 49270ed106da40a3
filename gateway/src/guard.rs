//! The write guard that makes ordering and dedupe hold in the backend itself, whichever gateway
//! writes: an update's commands run inside one script that first checks the stored state and
//! applies them only when the update is newer (`seq` above the stored one) or, for a signal,
//! when its dedupe marker is absent. Two gateways writing one terminal's keys (a terminal that
//! reconnects to the other gateway mid-stream) can then never let an older `seq` overwrite a
//! newer one, nor store a signal twice; the writer's caches only spare the backend updates
//! they already know to be old.
//!
//! The script is Lua, run with `EVALSHA` (the same on the embedded engine, Redis and Valkey), and
//! with `EVAL` when a node answers `NOSCRIPT` (a fresh node, a failover, `SCRIPT FLUSH`), which
//! also loads it there. Every key it touches is named in `KEYS`, the guard's key first, so a
//! cluster routes it by its terminal's hash tag; the commands ride in `ARGV`, each as its word
//! count and its words, and their replies come back in order after `applied`.

use std::sync::LazyLock;

use redis::{Cmd, Value};

use crate::backend::Commands;

/// The script. `seq` strings are compared as decimal numbers without leading zeros (length
/// first), which is exact for any u64 where a Lua number is not. A script does not roll back:
/// when a command fails part way, the stored `seq` is put back as it was, so the update is not
/// taken for written and its retry applies all of it again (every command is idempotent); a
/// signal's marker is its last command, so a failed entry leaves no marker.
pub const SCRIPT: &str = r#"
local mode, value = ARGV[1], ARGV[2]
local stored = false
if mode == 'seq' then
  stored = redis.call('HGET', KEYS[1], 'seq')
  if stored and (#stored > #value or (#stored == #value and stored >= value)) then
    return {'not-newer', stored}
  end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
local replies = {'applied'}
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local reply = redis.pcall(unpack(ARGV, i + 1, i + n))
  if type(reply) == 'table' and reply.err then
    if mode == 'seq' then
      if stored then
        redis.call('HSET', KEYS[1], 'seq', stored)
      else
        redis.call('HDEL', KEYS[1], 'seq')
      end
    end
    return reply
  end
  replies[#replies + 1] = reply
  i = i + n + 1
end
return replies
"#;

/// The script's SHA1, as `EVALSHA` names it.
pub static SHA: LazyLock<String> =
    LazyLock::new(|| sha1_smol::Sha1::from(SCRIPT).digest().to_string());

/// What must hold for the commands to run.
#[derive(Debug, Clone, Copy)]
pub enum Guard {
    /// The hash at the key stores a `seq` below this one (or none).
    SeqBelow(u64),
    /// The key does not exist.
    Absent,
}

/// What the script did.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The commands ran; their replies, in order.
    Applied(Vec<Value>),
    /// The stored `seq` is this one, not below the update's.
    NotNewer(u64),
    /// The guarded key exists.
    Exists,
    /// The backend refused the script or a command in it.
    Failed(String),
}

/// `cmds` as one guarded script call: `guard` is checked on `key`, which leads `KEYS`.
pub fn guarded(key: &str, guard: Guard, cmds: &Commands) -> Cmd {
    let mut keys: Vec<&[u8]> = vec![key.as_bytes()];
    for cmd in cmds.iter() {
        if let Some(redis::Arg::Simple(k)) = cmd.args_iter().nth(1) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let mut call = redis::cmd("EVALSHA");
    call.arg(SHA.as_str()).arg(keys.len()).arg(&keys);
    match guard {
        Guard::SeqBelow(seq) => call.arg("seq").arg(seq),
        Guard::Absent => call.arg("absent").arg(""),
    };
    for cmd in cmds.iter() {
        let words: Vec<&[u8]> = cmd
            .args_iter()
            .filter_map(|arg| match arg {
                redis::Arg::Simple(bytes) => Some(bytes),
                redis::Arg::Cursor => None,
            })
            .collect();
        call.arg(words.len()).arg(words);
    }
    call
}

/// The same call as `EVAL` with the script's text, for a node that answered `NOSCRIPT`.
pub fn as_eval(call: &Cmd) -> Cmd {
    let mut eval = redis::cmd("EVAL");
    eval.arg(SCRIPT);
    for arg in call.args_iter().skip(2) {
        if let redis::Arg::Simple(bytes) = arg {
            eval.arg(bytes);
        }
    }
    eval
}

/// Whether a reply says the node does not have the script.
pub fn no_script(value: &Value) -> bool {
    matches!(value, Value::ServerError(e) if e.code() == "NOSCRIPT")
}

/// Reads a guarded call's reply.
pub fn verdict(value: &Value) -> Verdict {
    let items = match value {
        Value::Array(items) => items,
        Value::ServerError(_) => {
            return Verdict::Failed(crate::backend::server_error(value).unwrap_or_default())
        }
        other => return Verdict::Failed(format!("the write guard answered {other:?}")),
    };
    let head = items.first().and_then(crate::status::text);
    match head.as_deref() {
        Some("applied") => Verdict::Applied(items[1..].to_vec()),
        Some("not-newer") => match items.get(1).and_then(crate::status::text) {
            Some(stored) => match stored.parse() {
                Ok(seq) => Verdict::NotNewer(seq),
                Err(_) => Verdict::Failed(format!("the stored seq {stored:?} is not a number")),
            },
            None => Verdict::Failed("the write guard named no stored seq".into()),
        },
        Some("exists") => Verdict::Exists,
        _ => Verdict::Failed(format!("the write guard answered {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_engine;
    use crate::ops::Partition;

    fn cmds(list: Vec<Cmd>) -> Commands {
        let mut commands = Commands::new();
        for cmd in list {
            commands.add(cmd);
        }
        commands
    }

    fn hset(key: &str, seq: u64) -> Cmd {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key)
            .arg("seq")
            .arg(seq)
            .arg("v")
            .arg(format!("at {seq}"));
        cmd
    }

    #[tokio::test]
    async fn only_a_newer_seq_is_applied() {
        let (_engine, backend) = test_engine(Partition::Ris);
        let mut expire = redis::cmd("EXPIRE");
        expire.arg("ris:{T1}").arg(100);
        let call = guarded(
            "ris:{T1}",
            Guard::SeqBelow(9),
            &cmds(vec![hset("ris:{T1}", 9), expire]),
        );
        // The first call may find no script loaded: EVAL loads it.
        let first = backend.exec_one(call.clone()).await.expect("reply");
        let first = if no_script(&first) {
            backend.exec_one(as_eval(&call)).await.expect("reply")
        } else {
            first
        };
        assert_eq!(
            verdict(&first),
            Verdict::Applied(vec![Value::Int(2), Value::Int(1)])
        );
        for (seq, expected) in [
            (9, Verdict::NotNewer(9)),
            (8, Verdict::NotNewer(9)),
            (10, Verdict::Applied(vec![Value::Int(0)])),
            // Decimal strings compare by length first: 10 is above 9.
            (9, Verdict::NotNewer(10)),
        ] {
            let call = guarded(
                "ris:{T1}",
                Guard::SeqBelow(seq),
                &cmds(vec![hset("ris:{T1}", seq)]),
            );
            let reply = backend.exec_one(call).await.expect("reply");
            assert_eq!(verdict(&reply), expected, "seq {seq}");
        }
        let big = u64::MAX;
        let call = guarded(
            "ris:{T1}",
            Guard::SeqBelow(big),
            &cmds(vec![hset("ris:{T1}", big)]),
        );
        let reply = backend.exec_one(call).await.expect("reply");
        assert_eq!(verdict(&reply), Verdict::Applied(vec![Value::Int(0)]));
        let call = guarded(
            "ris:{T1}",
            Guard::SeqBelow(big - 1),
            &cmds(vec![hset("ris:{T1}", 1)]),
        );
        let reply = backend.exec_one(call).await.expect("reply");
        assert_eq!(verdict(&reply), Verdict::NotNewer(big));
    }

    #[tokio::test]
    async fn a_marker_that_exists_stops_the_write() {
        let (_engine, backend) = test_engine(Partition::Rtss);
        let mut set = redis::cmd("SET");
        set.arg("m").arg(1);
        let call = as_eval(&guarded("m", Guard::Absent, &cmds(vec![set.clone()])));
        let reply = backend.exec_one(call.clone()).await.expect("reply");
        assert_eq!(verdict(&reply), Verdict::Applied(vec![Value::Okay]));
        let reply = backend.exec_one(call).await.expect("reply");
        assert_eq!(verdict(&reply), Verdict::Exists);
        let mut wrong = redis::cmd("LPUSH");
        wrong.arg("m2").arg(1);
        let mut bad = redis::cmd("INCR");
        bad.arg("m2");
        let reply = backend
            .exec_one(as_eval(&guarded(
                "m3",
                Guard::Absent,
                &cmds(vec![wrong, bad]),
            )))
            .await
            .expect("reply");
        assert!(matches!(verdict(&reply), Verdict::Failed(e) if e.contains("WRONGTYPE")));
    }
}
