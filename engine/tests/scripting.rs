//! Lua scripting over real sockets: EVAL/EVALSHA/EVAL_RO and SCRIPT, the conversions in both
//! directions (RESP2 and RESP3), errors and their positions, the sandbox, ACL inside scripts,
//! MULTI containing EVAL, and a script's writes surviving an AOF rewrite and a restart. With
//! `redis-server-tests`, a set of scripts is also compared byte for byte with redis-server 7.

mod common;

use common::{assert_calls, info_value, start_engine, start_engine_and_client, RawClient};

const SHA_RETURN_1: &[u8] = b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db";

#[test]
fn script_load_exists_flush_and_noscript() {
    let (_e, mut c) = start_engine_and_client(&[]);
    assert_calls(
        &mut c,
        &[
            (&[b"EVALSHA", SHA_RETURN_1, b"0"], b"-NOSCRIPT No matching script. Please use EVAL.\r\n"),
            (&[b"EVALSHA", b"short", b"0"], b"-NOSCRIPT No matching script. Please use EVAL.\r\n"),
            (&[b"SCRIPT", b"EXISTS", SHA_RETURN_1, b"x"], b"*2\r\n:0\r\n:0\r\n"),
            (&[b"SCRIPT", b"LOAD", b"return 1"], b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n"),
            (&[b"SCRIPT", b"EXISTS", b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"], b"*1\r\n:1\r\n"),
            (&[b"EVALSHA", b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", b"0"], b":1\r\n"),
            (&[b"EVALSHA_RO", SHA_RETURN_1, b"0"], b":1\r\n"),
            (&[b"SCRIPT", b"FLUSH", b"x"], b"-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
            (&[b"SCRIPT", b"FLUSH", b"ASYNC"], b"+OK\r\n"),
            (&[b"SCRIPT", b"EXISTS", SHA_RETURN_1], b"*1\r\n:0\r\n"),
            (&[b"EVALSHA", SHA_RETURN_1, b"0"], b"-NOSCRIPT No matching script. Please use EVAL.\r\n"),
            // EVAL caches what it runs.
            (&[b"EVAL", b"return 1", b"0"], b":1\r\n"),
            (&[b"SCRIPT", b"EXISTS", SHA_RETURN_1], b"*1\r\n:1\r\n"),
            (&[b"SCRIPT", b"LOAD", b"return +"], b"-ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'\r\n"),
            (&[b"EVAL", b"return 1", b"-1"], b"-ERR Number of keys can't be negative\r\n"),
            (&[b"EVAL", b"return 1", b"2", b"a"], b"-ERR Number of keys can't be greater than number of args\r\n"),
            (&[b"EVAL", b"return 1", b"x"], b"-ERR value is not an integer or out of range\r\n"),
        ],
    );
    assert_eq!(
        info_value(&mut c, "memory", "number_of_cached_scripts").as_deref(),
        Some("1")
    );
    let lua: u64 = info_value(&mut c, "memory", "used_memory_lua")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(lua > 0, "used_memory_lua is {lua}");
}

#[test]
fn replies_convert_to_lua_and_back() {
    let (_e, mut c) = start_engine_and_client(&[]);
    c.call(&[b"HSET", b"h", b"f", b"v"]);
    assert_calls(
        &mut c,
        &[
            // Lua -> RESP: numbers truncated, arrays up to the first nil, ok/err tables.
            (
                &[b"EVAL", b"return {1, 2, 3.7, 'a', nil, 5}", b"0"],
                b"*4\r\n:1\r\n:2\r\n:3\r\n$1\r\na\r\n",
            ),
            (&[b"EVAL", b"return -3.99", b"0"], b":-3\r\n"),
            (&[b"EVAL", b"return true", b"0"], b":1\r\n"),
            (&[b"EVAL", b"return false", b"0"], b"$-1\r\n"),
            (&[b"EVAL", b"return nil", b"0"], b"$-1\r\n"),
            (&[b"EVAL", b"return {ok='fine'}", b"0"], b"+fine\r\n"),
            (
                &[b"EVAL", b"return {err='MY thing'}", b"0"],
                b"-MY thing\r\n",
            ),
            (
                &[b"EVAL", b"return redis.status_reply('GOOD')", b"0"],
                b"+GOOD\r\n",
            ),
            (
                &[b"EVAL", b"return redis.error_reply('hi')", b"0"],
                b"-ERR hi\r\n",
            ),
            (
                &[b"EVAL", b"return redis.error_reply('XX hi')", b"0"],
                b"-XX hi\r\n",
            ),
            (
                &[b"EVAL", b"return redis.status_reply()", b"0"],
                b"-ERR wrong number or type of arguments\r\n",
            ),
            (&[b"EVAL", b"return {double=3.5}", b"0"], b"$3\r\n3.5\r\n"),
            (
                &[b"EVAL", b"return {map={a=1}}", b"0"],
                b"*2\r\n$1\r\na\r\n:1\r\n",
            ),
            (
                &[b"EVAL", b"return {set={a=true}}", b"0"],
                b"*1\r\n$1\r\na\r\n",
            ),
            // RESP2 -> Lua: integer, bulk, nil bulk (false), array, status ({ok=}), error ({err=}).
            (
                &[b"EVAL", b"return type(redis.call('hlen', 'h'))", b"0"],
                b"$6\r\nnumber\r\n",
            ),
            (
                &[
                    b"EVAL",
                    b"return redis.call('get', 'nosuch') == false",
                    b"0",
                ],
                b":1\r\n",
            ),
            (
                &[b"EVAL", b"return redis.call('hgetall', 'h')", b"0"],
                b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
            ),
            (
                &[b"EVAL", b"return redis.call('ping')['ok']", b"0"],
                b"$4\r\nPONG\r\n",
            ),
            (
                &[b"EVAL", b"return redis.pcall('incr', 'h')['err']", b"0"],
                b"$65\r\nWRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            // Arguments: numbers go as %.17g.
            (
                &[b"EVAL", b"return redis.call('set', 'n', 0.1)", b"0"],
                b"+OK\r\n",
            ),
            (&[b"GET", b"n"], b"$19\r\n0.10000000000000001\r\n"),
            (
                &[
                    b"EVAL",
                    b"return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
                    b"1",
                    b"k",
                    b"a",
                ],
                b"*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:1\r\n",
            ),
        ],
    );
}

#[test]
fn resp3_conversions() {
    let (_e, mut c) = start_engine_and_client(&[]);
    c.call(&[b"HSET", b"h", b"f", b"v"]);
    c.call(&[b"ZADD", b"z", b"1.5", b"m"]);
    c.call(&[b"SADD", b"s", b"x"]);
    assert_calls(
        &mut c,
        &[
            // The script's protocol decides what commands answer it.
            (&[b"EVAL", b"redis.setresp(3); return redis.call('hgetall', 'h').map.f", b"0"], b"$1\r\nv\r\n"),
            (&[b"EVAL", b"redis.setresp(3); return redis.call('smembers', 's').set.x", b"0"], b":1\r\n"),
            (&[b"EVAL", b"redis.setresp(3); return redis.call('zscore', 'z', 'm').double", b"0"], b":1\r\n"),
            (&[b"EVAL", b"redis.setresp(3); return redis.call('get', 'nosuch') == nil", b"0"], b":1\r\n"),
            // To a RESP2 caller, map and set tables are flat arrays and doubles bulk strings.
            (&[b"EVAL", b"redis.setresp(3); return redis.call('hgetall', 'h')", b"0"], b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
            (&[b"EVAL", b"redis.setresp(3); return redis.call('zscore', 'z', 'm')", b"0"], b"$3\r\n1.5\r\n"),
            (&[b"EVAL", b"redis.setresp(3); return false", b"0"], b":0\r\n"),
            (&[b"EVAL", b"redis.setresp(4)", b"0"], b"-ERR RESP version must be 2 or 3. script: 68e72e4d8a428b9f599dce492315f2455a425a82, on @user_script:1.\r\n"),
        ],
    );
    c.call(&[b"HELLO", b"3"]);
    assert_calls(
        &mut c,
        &[
            (
                &[
                    b"EVAL",
                    b"redis.setresp(3); return redis.call('hgetall', 'h')",
                    b"0",
                ],
                b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
            ),
            (
                &[
                    b"EVAL",
                    b"redis.setresp(3); return redis.call('smembers', 's')",
                    b"0",
                ],
                b"~1\r\n$1\r\nx\r\n",
            ),
            (
                &[
                    b"EVAL",
                    b"redis.setresp(3); return redis.call('zscore', 'z', 'm')",
                    b"0",
                ],
                b",1.5\r\n",
            ),
            (
                &[b"EVAL", b"redis.setresp(3); return true", b"0"],
                b"#t\r\n",
            ),
            (&[b"EVAL", b"return false", b"0"], b"_\r\n"),
            (&[b"EVAL", b"return {big_number='123'}", b"0"], b"(123\r\n"),
        ],
    );
}

#[test]
fn errors_name_the_script_and_line() {
    let (_e, mut c) = start_engine_and_client(&[]);
    c.call(&[b"SET", b"s", b"a"]);
    assert_calls(
        &mut c,
        &[
            (&[b"EVAL", b"return redis.call('incr', 's')", b"0"], b"-ERR value is not an integer or out of range script: 70abbef89e172316f9219e67e313f248a5b98d9b, on @user_script:1.\r\n"),
        ],
    );
}

/// The SHA-free checks: the error text up to " script: " and the position after it.
fn error_parts(reply: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(reply).into_owned();
    match text.split_once(" script: ") {
        Some((head, tail)) => (
            head.to_string(),
            tail.split_once(", on ")
                .map(|(_, p)| p.trim_end().to_string())
                .unwrap_or_default(),
        ),
        None => (text.trim_end().to_string(), String::new()),
    }
}

#[test]
fn runtime_errors_pcall_and_the_sandbox() {
    let (_e, mut c) = start_engine_and_client(&[]);
    c.call(&[b"SET", b"s", b"a"]);
    let cases: &[(&[u8], &str, &str)] = &[
        (b"return redis.call('incr', 's')", "-ERR value is not an integer or out of range", "@user_script:1."),
        (b"return redis.call('nosuch')", "-ERR Unknown Redis command called from script", "@user_script:1."),
        (b"\n\nreturn redis.call('config', 'get', 'x')", "-ERR This Redis command is not allowed from script", "@user_script:3."),
        (b"return redis.call()", "-ERR Please specify at least one argument for this redis lib call", "@user_script:1."),
        (b"return redis.call({})", "-ERR Lua redis lib command arguments must be strings or integers", "@user_script:1."),
        (b"error('boom')", "-ERR user_script:1: boom", "@user_script:1."),
        (b"error({err='MY boom'})", "-MY boom", "@user_script:1."),
        (b"return x", "-ERR user_script:1: Script attempted to access nonexistent global variable 'x'", "@user_script:1."),
        (b"x = 1", "-ERR user_script:1: Attempt to modify a readonly table", "@user_script:1."),
        (b"string.x = 1", "-ERR user_script:1: Attempt to modify a readonly table", "@user_script:1."),
        (b"redis.call = nil", "-ERR user_script:1: Attempt to modify a readonly table", "@user_script:1."),
        (b"rawset(_G, 'x', 1)", "-ERR Attempt to modify a readonly table", "@user_script:1."),
        (b"setmetatable(_G, nil)", "-ERR Attempt to modify a readonly table", "@user_script:1."),
        (b"loadstring('y = 1')()", "-ERR [string \"y = 1\"]:1: Attempt to modify a readonly table", "y = 1:1."),
        (b"return os.time()", "-ERR user_script:1: Script attempted to access nonexistent global variable 'os'", "@user_script:1."),
        (b"return loadfile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile'", "@user_script:1."),
        (b"return print", "-ERR user_script:1: Script attempted to access nonexistent global variable 'print'", "@user_script:1."),
        (b"return 'a' ..", "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'", ""),
    ];
    for (script, text, position) in cases {
        let reply = c.call(&[b"EVAL", script, b"0"]);
        assert_eq!(
            error_parts(&reply),
            (text.to_string(), position.to_string()),
            "{}",
            String::from_utf8_lossy(script)
        );
    }
    assert_calls(
        &mut c,
        &[
            // pcall catches the error table and hands back its text, as Redis 7's does.
            (&[b"EVAL", b"local ok, e = pcall(function() redis.call('incr', 's') end) return {tostring(ok), e}", b"0"], b"*2\r\n$5\r\nfalse\r\n$43\r\nERR value is not an integer or out of range\r\n"),
            (&[b"EVAL", b"return redis.pcall('incr', 's')", b"0"], b"-ERR value is not an integer or out of range\r\n"),
            (&[b"EVAL", b"return getmetatable('').__index == string", b"0"], b":1\r\n"),
            (&[b"EVAL", b"local n = 0 for k in pairs(redis) do n = n + 1 end return n > 10", b"0"], b":1\r\n"),
            (&[b"EVAL", b"return redis.sha1hex('')", b"0"], b"$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"),
            (&[b"EVAL", b"return redis.REDIS_VERSION_NUM", b"0"], b":458767\r\n"),
            (&[b"EVAL", b"return bit.tohex(65535, -4) .. bit.band(7, 3) .. bit.bxor(5, 1)", b"0"], b"$6\r\nFFFF34\r\n"),
            (&[b"EVAL", b"redis.log(redis.LOG_WARNING, 'from a script') return redis.REPL_ALL", b"0"], b":3\r\n"),
        ],
    );
}

#[test]
fn math_random_is_redis_lrand48() {
    // A fresh state draws what a fresh redis-server 7.0 draws.
    let (_e, mut c) = start_engine_and_client(&[]);
    assert_eq!(
        c.call(&[
            b"EVAL",
            b"math.randomseed(1) return math.random(1000000)",
            b"0"
        ]),
        b":41631\r\n"
    );
}

#[test]
fn read_only_scripts_refuse_writes() {
    let (_e, mut c) = start_engine_and_client(&[]);
    let (text, _) =
        error_parts(&c.call(&[b"EVAL_RO", b"return redis.call('set', 'a', 'b')", b"0"]));
    assert_eq!(
        text,
        "-ERR Write commands are not allowed from read-only scripts."
    );
    let (text, pos) = error_parts(&c.call(&[
        b"EVAL",
        b"#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')",
        b"0",
    ]));
    assert_eq!(
        (text.as_str(), pos.as_str()),
        (
            "-ERR Write commands are not allowed from read-only scripts.",
            "@user_script:2."
        )
    );
    assert_calls(
        &mut c,
        &[
            (
                &[b"EVAL_RO", b"#!lua\nreturn 1", b"0"],
                b"-ERR Can not execute a script with write flag using *_ro command.\r\n",
            ),
            (
                &[b"EVAL", b"#!py\nreturn 1", b"0"],
                b"-ERR Unexpected engine in script shebang: #!py\r\n",
            ),
            (
                &[b"EVAL", b"#!lua flags=nope\nreturn 1", b"0"],
                b"-ERR Unexpected flag in script shebang: nope\r\n",
            ),
            (
                &[b"EVAL", b"#!lua", b"0"],
                b"-ERR Invalid script shebang\r\n",
            ),
            (
                &[b"EVAL_RO", b"return redis.call('get', KEYS[1])", b"1", b"a"],
                b"$-1\r\n",
            ),
            (&[b"EXISTS", b"a"], b":0\r\n"),
        ],
    );
}

#[test]
fn acl_applies_inside_scripts() {
    let (_e, mut c) = start_engine_and_client(&[]);
    c.call(&[
        b"ACL", b"SETUSER", b"lim", b"on", b"nopass", b"~k*", b"+eval", b"+get", b"+ping",
    ]);
    let mut lim = RawClient::connect(_e.port()).expect("connect");
    assert_eq!(lim.call(&[b"AUTH", b"lim", b"x"]), b"+OK\r\n");
    let (text, _) =
        error_parts(&lim.call(&[b"EVAL", b"return redis.call('set', 'k1', 'v')", b"0"]));
    assert_eq!(
        text,
        "-ERR The user executing the script can't run this command or subcommand"
    );
    let (text, _) = error_parts(&lim.call(&[b"EVAL", b"return redis.call('get', 'zz')", b"0"]));
    assert_eq!(text, "-ERR The user executing the script can't access at least one of the keys mentioned in the command arguments");
    assert_eq!(
        lim.call(&[b"EVAL", b"return redis.call('get', 'k1')", b"0"]),
        b"$-1\r\n"
    );
    assert_eq!(
        lim.call(&[
            b"EVAL",
            b"return redis.acl_check_cmd('set', 'k1', 'v')",
            b"0"
        ]),
        b"$-1\r\n"
    );
    let log = String::from_utf8_lossy(&c.call(&[b"ACL", b"LOG", b"1"])).into_owned();
    assert!(
        log.contains("$7\r\ncontext\r\n$3\r\nlua\r\n") && log.contains("$2\r\nzz\r\n"),
        "{log}"
    );
}

#[test]
fn multi_containing_eval_and_keys_by_the_keys_table() {
    let (_e, mut c) = start_engine_and_client(&[]);
    assert_calls(
        &mut c,
        &[
            (&[b"MULTI"], b"+OK\r\n"),
            (
                &[
                    b"EVAL",
                    b"return redis.call('incrby', KEYS[1], ARGV[1])",
                    b"1",
                    b"counter",
                    b"5",
                ],
                b"+QUEUED\r\n",
            ),
            (
                &[
                    b"EVAL",
                    b"return redis.call('incrby', KEYS[1], ARGV[1])",
                    b"1",
                    b"counter",
                    b"2",
                ],
                b"+QUEUED\r\n",
            ),
            (&[b"EXEC"], b"*2\r\n:5\r\n:7\r\n"),
            (&[b"GET", b"counter"], b"$1\r\n7\r\n"),
        ],
    );
}

#[test]
fn a_blocked_client_is_served_after_the_whole_script() {
    let engine = start_engine(&[]);
    let mut waiter = RawClient::connect(engine.port()).expect("connect");
    let mut c = RawClient::connect(engine.port()).expect("connect");
    waiter.send(&[b"BLPOP", b"l", b"10"]);
    common::wait_blocked(&mut c, 1);
    let script: &[u8] = b"redis.call('rpush', 'l', 'a') return redis.call('llen', 'l')";
    assert_eq!(c.call(&[b"EVAL", script, b"0"]), b":1\r\n");
    assert_eq!(
        waiter.read_reply().raw(),
        b"*2\r\n$1\r\nl\r\n$1\r\na\r\n".to_vec()
    );
}

#[test]
fn a_scripts_writes_survive_rewrite_and_restart() {
    let dir = common::fresh_dir();
    let dir_text = dir.display().to_string();
    let settings: &[(&str, &str)] = &[("dir", &dir_text), ("appendonly", "yes")];
    {
        let (_engine, mut c) = start_engine_and_client(settings);
        let script: &[u8] = b"redis.call('set', KEYS[1], ARGV[1]) redis.call('hset', KEYS[2], 'f', math.random(100)) redis.call('rpush', 'list', 'x', 'y') return 1";
        assert_eq!(
            c.call(&[b"EVAL", script, b"2", b"k", b"h", b"v"]),
            b":1\r\n"
        );
        assert_eq!(
            c.call(&[b"EVAL", b"return redis.call('set', 'single', '1')", b"0"]),
            b"+OK\r\n"
        );
        assert_eq!(
            c.call(&[
                b"EVAL",
                b"redis.set_repl(redis.REPL_NONE) redis.call('set', 'unlogged', '1')",
                b"0"
            ]),
            b"$-1\r\n"
        );
    }
    // The first script's writes are one transaction; the single write is logged bare.
    let incr = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .map(|e| std::fs::read(e.path()).expect("read"))
        .expect("incr file");
    let text = String::from_utf8_lossy(&incr).into_owned();
    let multi = text.find("MULTI").expect("MULTI logged");
    let exec = text.find("EXEC").expect("EXEC logged");
    assert!(
        multi < text.find("$4\r\nlist").expect("rpush logged")
            && text.find("$4\r\nlist").unwrap_or(0) < exec,
        "{text}"
    );
    assert_eq!(text.matches("MULTI").count(), 1, "{text}");
    assert!(!text.contains("unlogged"), "{text}");
    let hash_value;
    {
        let (_engine, mut c) = start_engine_and_client(settings);
        assert_eq!(c.call(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        assert_eq!(c.call(&[b"GET", b"single"]), b"$1\r\n1\r\n");
        assert_eq!(
            c.call(&[b"LRANGE", b"list", b"0", b"-1"]),
            b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
        );
        hash_value = c.call(&[b"HGET", b"h", b"f"]);
        assert!(
            hash_value.starts_with(b"$"),
            "{}",
            common::show(&hash_value)
        );
        assert_eq!(
            c.call(&[b"BGREWRITEAOF"]),
            b"+Background append only file rewriting started\r\n"
        );
        tradestate_test_support::wait_until("the AOF rewrite", || {
            info_value(&mut c, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
                && info_value(&mut c, "persistence", "aof_rewrite_scheduled").as_deref()
                    == Some("0")
        });
        assert_eq!(
            c.call(&[b"EVAL", b"return redis.call('incr', 'after')", b"0"]),
            b":1\r\n"
        );
    }
    let (_engine, mut c) = start_engine_and_client(settings);
    assert_eq!(c.call(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(c.call(&[b"HGET", b"h", b"f"]), hash_value);
    assert_eq!(c.call(&[b"GET", b"after"]), b"$1\r\n1\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scripts whose replies must be byte for byte redis-server 7's, in RESP2 and RESP3.
#[cfg(feature = "redis-server-tests")]
#[test]
fn replies_match_redis_server() {
    let redis = common::start_redis_server();
    let engine = start_engine(&[]);
    let scripts: &[&[u8]] = &[
        b"return {1, 2, 3.7, 'a', nil, 5}",
        b"return {1, {2, {3}}, redis.call('ping'), {ok='x'}, {err='y'}}",
        b"return redis.call('set', 's', 'a')",
        b"return redis.call('incr', 's')",
        b"return redis.pcall('incr', 's')",
        b"return redis.call('nosuch')",
        b"return redis.call('config', 'get', 'x')",
        b"error('boom')",
        b"error({err='MY boom'})",
        b"return x",
        b"x = 1",
        b"string.x = 1",
        b"rawset(_G, 'x', 1)",
        b"return redis.error_reply('hi')",
        b"return redis.status_reply('fine')",
        b"return true",
        b"return false",
        b"return {double=1.5}",
        b"return {big_number='12345'}",
        b"return {map={a=1}}",
        b"return {set={a=true}}",
        b"redis.setresp(3) return redis.call('hgetall', 'nosuch')",
        b"redis.call('hset', 'h', 'f', 'v') redis.setresp(3) return redis.call('hgetall', 'h')",
        b"redis.call('zadd', 'z', 2.5, 'm') redis.setresp(3) return redis.call('zscore', 'z', 'm')",
        b"redis.setresp(3) return true",
        b"redis.setresp(3) return redis.call('get', 'nosuch')",
        b"return redis.sha1hex('abc')",
        b"return math.random(1000)",
        b"return bit.tohex(-1) .. bit.rol(1, 33) .. bit.arshift(-256, 4)",
        b"return 'a' ..",
        b"#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')",
        b"#!lua flags=nope\nreturn 1",
        b"redis.setresp(4)",
        b"redis.set_repl(99)",
        b"redis.log(99, 'x')",
        b"return redis.call()",
        b"local t = {} t[1] = 'a' t[3] = 'c' return t",
    ];
    for resp in [b"2", b"3"] {
        let mut ours = RawClient::connect(engine.port()).expect("connect engine");
        let mut theirs = RawClient::connect(redis.port).expect("connect redis");
        ours.call(&[b"HELLO", resp]);
        theirs.call(&[b"HELLO", resp]);
        ours.call(&[b"FLUSHALL"]);
        theirs.call(&[b"FLUSHALL"]);
        for script in scripts {
            let args: &[&[u8]] = &[b"EVAL", script, b"0"];
            assert_eq!(
                common::show(&ours.call(args)),
                common::show(&theirs.call(args)),
                "RESP{} {}",
                String::from_utf8_lossy(resp),
                String::from_utf8_lossy(script)
            );
        }
    }
}
