//! Security over real sockets: ACL users limited to their key patterns, NOAUTH before AUTH,
//! WRONGPASS, `user` lines in a config file, protected mode and maxclients.

mod common;

use common::{connect, start_engine, start_engine_and_client, RawClient};
use tradestate_engine::Config;

fn call(c: &mut RawClient, args: &[&str]) -> String {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&c.call(&argv)).into_owned()
}

const TERMINAL_USER: &[&str] = &[
    "ACL",
    "SETUSER",
    "T1",
    "on",
    ">secret",
    "~ris:{T1}*",
    "~rts:{T1}:*",
    "+hset",
    "+expire",
    "+hget",
    "+ping",
];

#[test]
fn terminal_user_writes_only_its_own_keys() {
    let (engine, mut admin) = start_engine_and_client(&[]);
    assert_eq!(call(&mut admin, TERMINAL_USER), "+OK\r\n");

    let mut t1 = connect(engine.port());
    assert_eq!(call(&mut t1, &["AUTH", "T1", "secret"]), "+OK\r\n");
    assert_eq!(
        call(&mut t1, &["ACL", "WHOAMI"]).lines().next(),
        Some("-NOPERM this user has no permissions to run the 'acl|whoami' command")
    );
    // Its own keys: allowed.
    assert_eq!(
        call(&mut t1, &["HSET", "ris:{T1}:state", "bid", "1.1"]),
        ":1\r\n"
    );
    assert_eq!(
        call(&mut t1, &["HGET", "ris:{T1}:state", "bid"]),
        "$3\r\n1.1\r\n"
    );
    assert_eq!(call(&mut t1, &["EXPIRE", "rts:{T1}:x", "10"]), ":0\r\n");
    assert_eq!(call(&mut t1, &["PING"]), "+PONG\r\n");
    // Another terminal's keys and other commands: refused.
    let key_denied =
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    assert_eq!(
        call(&mut t1, &["HSET", "ris:{T2}:state", "bid", "1"]),
        key_denied
    );
    assert_eq!(call(&mut t1, &["HGET", "rts:{T1}x", "f"]), key_denied);
    assert_eq!(
        call(&mut t1, &["GET", "ris:{T1}:state"]),
        "-NOPERM this user has no permissions to run the 'get' command\r\n"
    );
    assert_eq!(
        call(&mut t1, &["CONFIG", "GET", "maxclients"]),
        "-NOPERM this user has no permissions to run the 'config|get' command\r\n"
    );
    assert_eq!(
        call(&mut t1, &["FLUSHALL"]),
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    // Nothing was written by the refused commands.
    assert_eq!(call(&mut admin, &["EXISTS", "ris:{T2}:state"]), ":0\r\n");
    // A wrong password and a disabled user get WRONGPASS.
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let mut other = connect(engine.port());
    assert_eq!(call(&mut other, &["AUTH", "T1", "nope"]), wrongpass);
    assert_eq!(
        call(&mut admin, &["ACL", "SETUSER", "T1", "off"]),
        "+OK\r\n"
    );
    assert_eq!(call(&mut other, &["AUTH", "T1", "secret"]), wrongpass);
    // Deleting the user closes its connections.
    assert_eq!(call(&mut admin, &["ACL", "DELUSER", "T1"]), ":1\r\n");
    assert!(t1.try_read_reply().is_err());
}

#[test]
fn unauthenticated_clients_get_noauth() {
    let (engine, mut c) = start_engine_and_client(&[("requirepass", "pw")]);
    let noauth = "-NOAUTH Authentication required.\r\n";
    for cmd in [
        &["GET", "k"][..],
        &["SET", "k", "v"],
        &["PING"],
        &["ACL", "WHOAMI"],
        &["CLIENT", "LIST"],
        &["CONFIG", "GET", "requirepass"],
    ] {
        assert_eq!(call(&mut c, cmd), noauth, "{cmd:?}");
    }
    assert!(call(&mut c, &["HELLO", "3"]).starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(call(&mut c, &["RESET"]), "+RESET\r\n");
    assert_eq!(
        call(&mut c, &["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(call(&mut c, &["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["PING"]), "+PONG\r\n");
    assert_eq!(call(&mut c, &["ACL", "WHOAMI"]), "$7\r\ndefault\r\n");
    // HELLO with AUTH authenticates in the same round.
    let mut h = connect(engine.port());
    assert!(call(&mut h, &["HELLO", "2", "AUTH", "default", "pw"]).starts_with("*14\r\n"));
    assert_eq!(call(&mut h, &["GET", "k"]), "$-1\r\n");
    // QUIT needs no authentication.
    let mut q = connect(engine.port());
    assert_eq!(call(&mut q, &["QUIT"]), "+OK\r\n");
    // Clearing the password lets everyone in again.
    assert_eq!(
        call(&mut h, &["CONFIG", "SET", "requirepass", ""]),
        "+OK\r\n"
    );
    let mut free = connect(engine.port());
    assert_eq!(call(&mut free, &["PING"]), "+PONG\r\n");
}

#[test]
fn config_file_users_and_renamed_commands() {
    let mut config = Config::default();
    config
        .load_text(
            "bind 127.0.0.1\nport 0\nuser reader on >r ~pub:* +get\nrename-command FLUSHALL \"\"\nrename-command CONFIG ADMINCFG\n",
            "test.conf",
        )
        .unwrap();
    let engine = tradestate_engine::start("acl-conf", config).unwrap();
    let mut c = connect(engine.port());
    assert!(call(&mut c, &["FLUSHALL"]).starts_with("-ERR unknown command 'FLUSHALL'"));
    assert!(call(&mut c, &["CONFIG", "GET", "port"]).starts_with("-ERR unknown command 'CONFIG'"));
    assert!(call(&mut c, &["ADMINCFG", "GET", "maxclients"]).starts_with("*2\r\n"));
    assert_eq!(call(&mut c, &["AUTH", "reader", "r"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["GET", "pub:x"]), "$-1\r\n");
    assert!(call(&mut c, &["GET", "priv:x"]).starts_with("-NOPERM"));
    let mut bad = Config::default();
    let err = bad
        .load_text("user x on +nosuch\n", "bad.conf")
        .unwrap_err();
    assert!(
        err.0.contains("Unknown command or category name in ACL"),
        "{err}"
    );
}

#[test]
fn maxclients_refuses_the_extra_connection() {
    let (engine, mut a) = start_engine_and_client(&[("maxclients", "2")]);
    let mut b = connect(engine.port());
    assert_eq!(call(&mut a, &["PING"]), "+PONG\r\n");
    assert_eq!(call(&mut b, &["PING"]), "+PONG\r\n");
    let mut c = connect(engine.port());
    let reply = c.read_reply().raw();
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
    drop(a);
    // The slot frees once the engine sees the close.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut d = connect(engine.port());
        if call(&mut d, &["PING"]) == "+PONG\r\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A non-loopback address of this machine, if it has one.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing; it picks the outgoing interface's address.
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_refuses_non_loopback_clients() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("no non-loopback address: the decision is covered by acl::tests");
        return;
    };
    let mut config = Config::default();
    config.set("bind", "0.0.0.0", false).unwrap();
    config.set("port", "0", false).unwrap();
    let engine = tradestate_engine::start("protected", config).unwrap();
    let mut outside =
        RawClient::connect_addr(std::net::SocketAddr::new(ip, engine.port())).unwrap();
    let reply = outside.read_reply().raw();
    assert!(
        reply.starts_with(b"-DENIED Redis is running in protected mode"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let mut local = connect(engine.port());
    assert_eq!(call(&mut local, &["PING"]), "+PONG\r\n");
    // With a password on the default user, outside clients may connect (and must AUTH).
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "requirepass", "pw"]),
        "+OK\r\n"
    );
    let mut outside =
        RawClient::connect_addr(std::net::SocketAddr::new(ip, engine.port())).unwrap();
    assert_eq!(
        call(&mut outside, &["PING"]),
        "-NOAUTH Authentication required.\r\n"
    );
}

#[test]
fn acl_log_records_denials_and_failed_auth() {
    let (engine, mut admin) = start_engine_and_client(&[]);
    assert_eq!(call(&mut admin, TERMINAL_USER), "+OK\r\n");
    let mut t1 = connect(engine.port());
    call(&mut t1, &["AUTH", "T1", "secret"]);
    call(&mut t1, &["GET", "x"]);
    call(&mut t1, &["GET", "y"]);
    call(&mut t1, &["HSET", "other", "f", "v"]);
    call(&mut t1, &["AUTH", "T1", "wrong"]);
    let log = call(&mut admin, &["ACL", "LOG"]);
    // Newest first: the failed AUTH, the key, then the two GETs grouped as one entry.
    let entries: Vec<&str> = log.split("$5\r\ncount\r\n").skip(1).collect();
    assert_eq!(entries.len(), 3, "{log}");
    assert!(
        entries[0].starts_with(":1\r\n$6\r\nreason\r\n$4\r\nauth\r\n"),
        "{}",
        entries[0]
    );
    assert!(entries[0].contains("$6\r\nobject\r\n$4\r\nAUTH\r\n"));
    assert!(entries[1].contains("$3\r\nkey\r\n") && entries[1].contains("$5\r\nother\r\n"));
    assert!(entries[2].starts_with(":2\r\n") && entries[2].contains("$3\r\nget\r\n"));
    assert!(entries[2].contains("cmd=get user=T1"), "{}", entries[2]);
    assert_eq!(call(&mut admin, &["ACL", "LOG", "RESET"]), "+OK\r\n");
    assert_eq!(call(&mut admin, &["ACL", "LOG"]), "*0\r\n");
}

#[test]
fn acl_file_is_loaded_reloaded_and_saved() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("tradestate-acl-{}.acl", std::process::id()));
    let path_text = path.display().to_string();
    std::fs::write(
        &path,
        "# users\nuser default on nopass ~* &* +@all\nuser a on >p ~a:* +get\n",
    )
    .unwrap();
    let mut config = Config::default();
    config.set("bind", "127.0.0.1", false).unwrap();
    config.set("port", "0", false).unwrap();
    config.set("aclfile", &path_text, false).unwrap();
    let engine = tradestate_engine::start("aclfile", config.clone()).unwrap();
    let mut admin = connect(engine.port());
    let mut a = connect(engine.port());
    assert_eq!(call(&mut a, &["AUTH", "a", "p"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["GET", "a:1"]), "$-1\r\n");
    // A bad file changes nothing and says why, line by line.
    std::fs::write(&path, "user b on +nosuch\nfoo\n").unwrap();
    let err = call(&mut admin, &["ACL", "LOAD"]);
    assert_eq!(
        err,
        format!("-ERR {path_text}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. {path_text}:2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n")
    );
    assert_eq!(call(&mut a, &["GET", "a:1"]), "$-1\r\n");
    // A good one replaces the users; a's connection goes with its user.
    std::fs::write(&path, "user b on >q\n").unwrap();
    assert_eq!(call(&mut admin, &["ACL", "LOAD"]), "+OK\r\n");
    assert!(a.try_read_reply().is_err());
    assert!(call(&mut admin, &["ACL", "USERS"]).contains("$1\r\nb\r\n"));
    // ACL SAVE writes ACL LIST's lines.
    call(&mut admin, &["ACL", "SETUSER", "c", "on"]);
    assert_eq!(call(&mut admin, &["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved,
        "user b on #8e35c2cd3bf6641bdb0e2050b76932cbb2e6034a0ddacc1d9bea82a6ba57f7cf resetchannels -@all\nuser c on resetchannels -@all\nuser default on nopass ~* &* +@all\n"
    );
    drop(engine);
    // A bad file stops the start; users in both places are refused.
    std::fs::write(&path, "user x on +nosuch\n").unwrap();
    let err = tradestate_engine::start("aclfile-bad", config.clone())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("Aborting Redis startup because of ACL errors"),
        "{err}"
    );
    let mut both = config.clone();
    both.load_text("user y on\n", "t.conf").unwrap();
    let err = tradestate_engine::start("aclfile-both", both)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not both"), "{err}");
    let _ = std::fs::remove_file(&path);
    // Without an ACL file, LOAD and SAVE say so.
    let plain = start_engine(&[]);
    let mut c = connect(plain.port());
    assert!(call(&mut c, &["ACL", "LOAD"])
        .starts_with("-ERR This Redis instance is not configured to use an ACL file."));
}

/// The DENIED text is Redis 7.0's, byte for byte (Redis 7.0 refuses outside clients whatever
/// `bind` says, as long as the default user needs no password).
#[cfg(feature = "redis-server-tests")]
#[test]
fn protected_mode_text_matches_redis_server() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("no non-loopback address: skipped");
        return;
    };
    let port = common::free_port();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "0.0.0.0",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let theirs = loop {
        match RawClient::connect_addr(std::net::SocketAddr::new(ip, port)) {
            Ok(mut c) => break c.read_reply().raw(),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("redis-server never listened: {e}"),
        }
    };
    let _ = redis.kill();
    let _ = redis.wait();
    let mut config = Config::default();
    config.set("bind", "0.0.0.0", false).unwrap();
    config.set("port", "0", false).unwrap();
    let engine = tradestate_engine::start("protected-text", config).unwrap();
    let mut c = RawClient::connect_addr(std::net::SocketAddr::new(ip, engine.port())).unwrap();
    let ours = c.read_reply().raw();
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}
