//! Checks that need the whole merged configuration: ranges, relations between settings
//! (watermarks, stale < TTL, port clashes), backend URL syntax and credentials. Each error names
//! the setting and what to change.

use std::net::SocketAddr;

use crate::error::ConfigError;
use crate::model::{Ack, Backend, Config, Limits, Partition, Policy, Spill};
use crate::tokens::check_token;

impl Config {
    /// The checks [`crate::load`] runs after merging, for a `Config` built or changed in code
    /// (tests, tools). Reads the tokens file when one is configured.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate(self)
    }
}

pub(crate) fn validate(config: &Config) -> Result<(), ConfigError> {
    check_listen(config)?;
    for (name, partition) in config.partitions.iter() {
        check_partition(name, partition)?;
    }
    check_embedded_ports(config)?;
    check_policy(&config.policy)?;
    check_limits(&config.limits)?;
    check_spill(&config.spill)?;
    check_auth(config)?;
    if config.data_dir.as_os_str().is_empty() {
        return Err(ConfigError::new("data_dir", "must not be empty"));
    }
    Ok(())
}

fn positive(key: String, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(key, "must be greater than 0"));
    }
    Ok(())
}

fn check_listen(config: &Config) -> Result<(), ConfigError> {
    if let Some(resp) = config.listen.resp {
        if resp == config.listen.http && resp.port() != 0 {
            return Err(ConfigError::new(
                "listen.resp",
                format!(
                    "{resp} is also listen.http; give the RESP listener its own port or \"off\""
                ),
            ));
        }
    }
    Ok(())
}

fn check_partition(name: &str, p: &Partition) -> Result<(), ConfigError> {
    let key = |leaf: &str| format!("partitions.{name}.{leaf}");
    positive(key("queue_capacity"), p.queue_capacity as u64)?;
    positive(key("batch_max"), p.batch_max as u64)?;
    positive(key("write_timeout_ms"), p.write_timeout_ms)?;
    positive(key("connect_timeout_ms"), p.connect_timeout_ms)?;
    if let Backend::Url(url) = &p.backend {
        check_backend_url(url).map_err(|m| ConfigError::new(key("backend"), m))?;
    }
    check_tls(name, p)?;
    if p.ack == Ack::Replicated {
        if p.backend == Backend::Embedded {
            return Err(ConfigError::new(
                key("ack"),
                "\"replicated\" waits for replicas, and an embedded engine has none; use a \
                 redis:// or redis+sentinel:// backend with replicas, or ack = \"written\"",
            ));
        }
        positive(key("ack_replicas"), p.ack_replicas as u64)?;
        if p.ack_timeout_ms == 0 || p.ack_timeout_ms >= p.write_timeout_ms {
            return Err(ConfigError::new(
                key("ack_timeout_ms"),
                format!(
                    "must be more than 0 and less than partitions.{name}.write_timeout_ms ({}), \
                     got {}",
                    p.write_timeout_ms, p.ack_timeout_ms
                ),
            ));
        }
    }
    for (param, value) in &p.engine {
        if param.is_empty() || param.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                format!("partitions.{name}.engine.{param}"),
                "not a redis.conf parameter name (no spaces)",
            ));
        }
        if value.chars().any(|c| matches!(c, '\n' | '\r')) {
            return Err(ConfigError::new(
                format!("partitions.{name}.engine.{param}"),
                "a redis.conf value cannot span lines",
            ));
        }
    }
    Ok(())
}

/// Embedded engines listen on loopback: their ports must differ from each other and from the
/// service's own listeners (0 means "any free port", which never clashes).
fn check_embedded_ports(config: &Config) -> Result<(), ConfigError> {
    let mut taken: Vec<(u16, String)> = Vec::new();
    let mut listener = |name: &str, addr: SocketAddr| {
        if addr.port() != 0 && (addr.ip().is_loopback() || addr.ip().is_unspecified()) {
            taken.push((addr.port(), name.to_string()));
        }
    };
    listener("listen.http", config.listen.http);
    if let Some(resp) = config.listen.resp {
        listener("listen.resp", resp);
    }
    for (name, p) in config.partitions.iter() {
        if p.backend != Backend::Embedded || p.embedded_port == 0 {
            continue;
        }
        let key = format!("partitions.{name}.embedded_port");
        if let Some((_, other)) = taken.iter().find(|(port, _)| *port == p.embedded_port) {
            return Err(ConfigError::new(
                key,
                format!(
                    "port {} is also used by {other}; give each embedded engine its own port \
                     (or 0 for any free one)",
                    p.embedded_port
                ),
            ));
        }
        taken.push((p.embedded_port, key));
    }
    Ok(())
}

/// Key and stream names go into engine commands as single arguments.
fn check_name(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::new(
            key,
            format!("{value:?} must be a non-empty name without spaces"),
        ));
    }
    Ok(())
}

fn check_policy(p: &Policy) -> Result<(), ConfigError> {
    positive("policy.ris_ttl_s".into(), p.ris_ttl_s)?;
    positive("policy.rts_closed_ttl_s".into(), p.rts_closed_ttl_s)?;
    positive("policy.signal_dedupe_ttl_s".into(), p.signal_dedupe_ttl_s)?;
    positive("policy.rtss_maxlen".into(), p.rtss_maxlen)?;
    positive(
        "policy.instance_stale_after_s".into(),
        p.instance_stale_after_s,
    )?;
    if p.instance_stale_after_s >= p.ris_ttl_s {
        return Err(ConfigError::new(
            "policy.instance_stale_after_s",
            format!(
                "must be less than policy.ris_ttl_s ({}), got {}: a terminal is online for \
                 instance_stale_after_s after its last update, stale until ris_ttl_s, then offline",
                p.ris_ttl_s, p.instance_stale_after_s
            ),
        ));
    }
    check_name("policy.ris_seen_key", &p.ris_seen_key)?;
    check_name("policy.rtss_stream", &p.rtss_stream)?;
    Ok(())
}

fn check_limits(l: &Limits) -> Result<(), ConfigError> {
    positive(
        "limits.per_terminal_rate".into(),
        l.per_terminal_rate.into(),
    )?;
    positive(
        "limits.per_terminal_burst".into(),
        l.per_terminal_burst.into(),
    )?;
    positive("limits.global_rate".into(), l.global_rate.into())?;
    positive("limits.max_body_bytes".into(), l.max_body_bytes as u64)?;
    positive(
        "limits.max_batch_updates".into(),
        l.max_batch_updates as u64,
    )?;
    positive("limits.retry_after_s".into(), l.retry_after_s)?;
    positive("limits.max_resp_clients".into(), l.max_resp_clients as u64)?;
    // Written so that NaN fails too.
    if !(l.reject_watermark > 0.0 && l.reject_watermark <= 1.0) {
        return Err(ConfigError::new(
            "limits.reject_watermark",
            format!(
                "must be greater than 0 and at most 1 (a fraction of queue_capacity), got {}",
                l.reject_watermark
            ),
        ));
    }
    if !(l.throttle_watermark > 0.0 && l.throttle_watermark < l.reject_watermark) {
        return Err(ConfigError::new(
            "limits.throttle_watermark",
            format!(
                "must be greater than 0 and less than limits.reject_watermark ({}), got {}",
                l.reject_watermark, l.throttle_watermark
            ),
        ));
    }
    Ok(())
}

fn check_spill(s: &Spill) -> Result<(), ConfigError> {
    if !["always", "everysec", "no"].contains(&s.fsync.as_str()) {
        return Err(ConfigError::new(
            "spill.fsync",
            format!(
                "must be \"always\", \"everysec\" or \"no\" (as appendfsync), got {:?}",
                s.fsync
            ),
        ));
    }
    positive("spill.after_ms".into(), s.after_ms)?;
    if s.segment_bytes < 4096 {
        return Err(ConfigError::new(
            "spill.segment_bytes",
            format!("must be at least 4096, got {}", s.segment_bytes),
        ));
    }
    if s.max_bytes < s.segment_bytes.min(1 << 20) {
        return Err(ConfigError::new(
            "spill.max_bytes",
            format!(
                "must be at least 1 MiB or spill.segment_bytes, whichever is less, got {}",
                s.max_bytes
            ),
        ));
    }
    Ok(())
}

fn check_auth(config: &Config) -> Result<(), ConfigError> {
    for (i, token) in config.auth.operator_tokens.iter().enumerate() {
        check_token(token, "operator token")
            .map_err(|m| ConfigError::new(format!("auth.operator_tokens[{i}]"), m))?;
    }
    if config.dev_mode() {
        return Ok(());
    }
    let terminals = config.terminal_tokens()?;
    if let Some((i, _)) = config
        .auth
        .operator_tokens
        .iter()
        .enumerate()
        .find(|(_, op)| terminals.iter().any(|t| &t.token == *op))
    {
        return Err(ConfigError::new(
            format!("auth.operator_tokens[{i}]"),
            "is also a terminal's token; operators and terminals need different tokens",
        ));
    }
    Ok(())
}

/// TLS files only with a TLS backend, and each one readable and what it should be (read here
/// so a bad path stops the start instead of every connection).
fn check_tls(name: &str, p: &Partition) -> Result<(), ConfigError> {
    use tradestate_backend::tls::{Tls, TlsFile};
    let files = p.tls_files();
    let key = |file: TlsFile| {
        let leaf = match file {
            TlsFile::Ca => "tls_ca_file",
            TlsFile::Cert => "tls_cert_file",
            TlsFile::Key => "tls_key_file",
        };
        format!("partitions.{name}.{leaf}")
    };
    let Some(first) = [
        (TlsFile::Ca, &files.ca_file),
        (TlsFile::Cert, &files.cert_file),
        (TlsFile::Key, &files.key_file),
    ]
    .into_iter()
    .find_map(|(file, path)| path.as_ref().map(|_| file)) else {
        return Ok(());
    };
    let tls = match &p.backend {
        Backend::Embedded => false,
        Backend::Url(url) => tradestate_backend::parse(url).is_ok_and(|a| a.uses_tls()),
    };
    if !tls {
        let backend = match &p.backend {
            Backend::Embedded => "\"embedded\" (reached in-process or on loopback)".to_string(),
            Backend::Url(url) => format!("{:?}", tradestate_backend::redact(url)),
        };
        return Err(ConfigError::new(
            key(first),
            format!(
                "is set, but partitions.{name}.backend {backend} does not use TLS; write a \
                 rediss:// or rediss+sentinel:// URL, or leave the TLS files empty"
            ),
        ));
    }
    Tls::load(&files).map_err(|e| ConfigError::new(key(e.file), e.message))?;
    Ok(())
}

/// Syntax of a backend URL, as the backend crate reads it. Messages never show a password.
pub(crate) fn check_backend_url(url: &str) -> Result<(), String> {
    tradestate_backend::parse(url).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `validate` says, refusing the default config after `change`.
    fn refusal(change: impl FnOnce(&mut Config)) -> String {
        let mut c = Config::default();
        change(&mut c);
        validate(&c).unwrap_err().to_string()
    }

    #[test]
    fn replicated_acks_need_replicas_and_a_timeout_inside_the_write_timeout() {
        assert_eq!(
            refusal(|c| c.partitions.ris.ack = Ack::Replicated),
            "config: partitions.ris.ack: \"replicated\" waits for replicas, and an embedded \
             engine has none; use a redis:// or redis+sentinel:// backend with replicas, or ack = \
             \"written\""
        );
        let replicated = |c: &mut Config| {
            c.partitions.rts.backend = Backend::Url("redis+sentinel://s1/rts".into());
            c.partitions.rts.ack = Ack::Replicated;
        };
        let mut c = Config::default();
        replicated(&mut c);
        assert!(validate(&c).is_ok());
        assert_eq!(
            refusal(|c| {
                replicated(c);
                c.partitions.rts.ack_timeout_ms = 2000;
            }),
            "config: partitions.rts.ack_timeout_ms: must be more than 0 and less than \
             partitions.rts.write_timeout_ms (2000), got 2000"
        );
        assert!(refusal(|c| {
            replicated(c);
            c.partitions.rts.ack_replicas = 0;
        })
        .starts_with("config: partitions.rts.ack_replicas"));
    }

    #[test]
    fn a_bad_backend_url_names_the_partition() {
        assert_eq!(
            refusal(|c| c.partitions.rts.backend = Backend::Url("redis://u:hunter2@h:99999".into())),
            r#"config: partitions.rts.backend: "redis://***@h:99999": port "99999" is not a number from 1 to 65535"#
        );
        assert!(check_backend_url("redis+sentinel://s1,s2/ris").is_ok());
    }

    #[test]
    fn tls_files_go_with_a_tls_backend_and_must_be_readable() {
        assert_eq!(
            refusal(|c| {
                c.partitions.rts.backend = Backend::Url("rediss://h:6380".into());
                c.partitions.rts.tls_ca_file = Some("/x".into());
            }),
            r#"config: partitions.rts.tls_ca_file: cannot read "/x": No such file or directory"#
        );
        assert_eq!(
            refusal(|c| {
                c.partitions.ris.backend = Backend::Url("redis://u:hunter2@h:6379".into());
                c.partitions.ris.tls_cert_file = Some("/x".into());
            }),
            "config: partitions.ris.tls_cert_file: is set, but partitions.ris.backend \
             \"redis://***@h:6379\" does not use TLS; write a rediss:// or rediss+sentinel:// \
             URL, or leave the TLS files empty"
        );
        assert!(refusal(|c| c.partitions.rtss.tls_key_file = Some("/x".into()))
            .starts_with("config: partitions.rtss.tls_key_file: is set, but partitions.rtss.backend \"embedded\""));

        let dir = std::env::temp_dir().join(format!("tradestate-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let e = refusal(|c| {
            c.partitions.rts.backend = Backend::Url("rediss+sentinel://s1/rts".into());
            c.partitions.rts.tls_ca_file = Some(not_pem.clone());
        });
        assert!(e.starts_with("config: partitions.rts.tls_ca_file: "), "{e}");
        assert!(e.contains("holds no PEM \"CERTIFICATE\" block"), "{e}");
        let e = refusal(|c| {
            c.partitions.rts.backend = Backend::Url("rediss://h".into());
            c.partitions.rts.tls_cert_file = Some(not_pem.clone());
        });
        assert!(
            e.starts_with("config: partitions.rts.tls_key_file: missing"),
            "{e}"
        );

        // A TLS backend needs no files: the system's roots check the server.
        let mut c = Config::default();
        c.partitions.rts.backend = Backend::Url("rediss://h:6380".into());
        assert!(validate(&c).is_ok());
    }

    #[test]
    fn watermarks_must_be_ordered_fractions() {
        assert_eq!(
            refusal(|c| c.limits.throttle_watermark = 0.95),
            "config: limits.throttle_watermark: must be greater than 0 and less than \
             limits.reject_watermark (0.9), got 0.95"
        );
        let mut c = Config::default();
        c.limits.throttle_watermark = 0.0;
        assert!(validate(&c).is_err());
        c.limits.throttle_watermark = f64::NAN;
        assert!(validate(&c).is_err());
        assert_eq!(
            refusal(|c| c.limits.reject_watermark = 1.5),
            "config: limits.reject_watermark: must be greater than 0 and at most 1 (a fraction \
             of queue_capacity), got 1.5"
        );
        let mut c = Config::default();
        c.limits.reject_watermark = 1.0;
        assert!(validate(&c).is_ok());
    }

    #[test]
    fn zero_rates_capacities_and_timeouts_are_refused() {
        type Change = fn(&mut Config);
        let cases: [(&str, Change); 10] = [
            ("partitions.ris.queue_capacity", |c| {
                c.partitions.ris.queue_capacity = 0
            }),
            ("partitions.rts.batch_max", |c| {
                c.partitions.rts.batch_max = 0
            }),
            ("partitions.rtss.write_timeout_ms", |c| {
                c.partitions.rtss.write_timeout_ms = 0
            }),
            ("partitions.ris.connect_timeout_ms", |c| {
                c.partitions.ris.connect_timeout_ms = 0
            }),
            ("policy.ris_ttl_s", |c| c.policy.ris_ttl_s = 0),
            ("policy.rts_closed_ttl_s", |c| c.policy.rts_closed_ttl_s = 0),
            ("policy.signal_dedupe_ttl_s", |c| {
                c.policy.signal_dedupe_ttl_s = 0
            }),
            ("limits.per_terminal_rate", |c| {
                c.limits.per_terminal_rate = 0
            }),
            ("limits.global_rate", |c| c.limits.global_rate = 0),
            ("limits.max_body_bytes", |c| c.limits.max_body_bytes = 0),
        ];
        for (key, change) in cases {
            assert_eq!(
                refusal(change),
                format!("config: {key}: must be greater than 0")
            );
        }
    }

    #[test]
    fn stale_must_come_before_offline() {
        assert_eq!(
            refusal(|c| c.policy.instance_stale_after_s = 120),
            "config: policy.instance_stale_after_s: must be less than policy.ris_ttl_s (120), \
             got 120: a terminal is online for instance_stale_after_s after its last update, \
             stale until ris_ttl_s, then offline"
        );
    }

    #[test]
    fn names_without_spaces() {
        assert_eq!(
            refusal(|c| c.policy.rtss_stream = "rtss signals".into()),
            "config: policy.rtss_stream: \"rtss signals\" must be a non-empty name without spaces"
        );
        let mut c = Config::default();
        c.policy.ris_seen_key = String::new();
        assert!(validate(&c).is_err());
    }

    #[test]
    fn embedded_ports_must_not_clash() {
        assert_eq!(
            refusal(|c| c.partitions.rts.embedded_port = 6380),
            "config: partitions.rts.embedded_port: port 6380 is also used by \
             partitions.ris.embedded_port; give each embedded engine its own port (or 0 for any \
             free one)"
        );
        let mut c = Config::default();
        c.partitions.ris.embedded_port = 8080;
        assert!(validate(&c).unwrap_err().message.contains("listen.http"));
        // 0 = any free port; URL backends have no embedded port.
        let mut c = Config::default();
        for p in ["ris", "rts", "rtss"] {
            c.partitions.get_mut(p).unwrap().embedded_port = 0;
        }
        assert!(validate(&c).is_ok());
        let mut c = Config::default();
        c.partitions.rts.embedded_port = 6380;
        c.partitions.rts.backend = Backend::Url("redis://h:6379".into());
        assert!(validate(&c).is_ok());
    }

    #[test]
    fn listeners_need_their_own_ports() {
        let mut c = Config::default();
        c.listen.resp = Some(c.listen.http);
        assert!(validate(&c)
            .unwrap_err()
            .to_string()
            .starts_with("config: listen.resp: "));
    }

    #[test]
    fn tokens_are_checked_outside_dev_mode() {
        assert_eq!(
            refusal(|c| c.auth.operator_tokens = vec!["short".into()]),
            "config: auth.operator_tokens[0]: operator token is 5 characters long; use at least \
             16 (e.g. `openssl rand -hex 24`)"
        );
        let mut c = Config::default();
        c.auth.terminals = vec![crate::TerminalToken::new("T1", "0123456789abcdef")];
        assert!(validate(&c).is_ok());
        c.auth.operator_tokens = vec!["0123456789abcdef".into()];
        assert!(validate(&c)
            .unwrap_err()
            .message
            .contains("operators and terminals need different tokens"));
        c.auth.operator_tokens.clear();
        c.auth.terminals[0].token = crate::DEV_TOKEN.into();
        assert!(validate(&c).is_err());
    }
}
