//! Loading: the embedded defaults (`tradestate.example.toml`), overlaid by the config file, then
//! by `TRADESTATE_*` environment variables; deserialised once and validated. Remembers where each
//! value came from (file line or variable) so errors can point at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::error::ConfigError;
use crate::keys::{Schema, ENV_PREFIX, RESERVED_ENV};
use crate::model::Config;
use crate::validate::validate;

/// The documented example file, which is also the built-in defaults.
pub const DEFAULTS_TOML: &str = include_str!("../tradestate.example.toml");

/// Environment variable naming the config file when no path is given.
pub const CONFIG_PATH_ENV: &str = "TRADESTATE_CONFIG";

/// Loads the configuration: embedded defaults <- `path` (or the file named by
/// `TRADESTATE_CONFIG`; none means defaults only) <- `TRADESTATE_*` environment variables.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let env = tradestate_env()?;
    let path: Option<PathBuf> = path.map(Path::to_path_buf).or_else(|| {
        env.iter()
            .find(|(k, v)| k == CONFIG_PATH_ENV && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v))
    });
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(
                    path.display().to_string(),
                    format!("cannot read the config file: {e}"),
                )
            })?;
            load_from(Some((&path, &text)), &env)
        }
        None => load_from(None, &env),
    }
}

/// The testable core of [`load`]: `file` is the config file's path and text, `env` the
/// environment (variables not starting with `TRADESTATE_` are ignored).
pub fn load_from(
    file: Option<(&Path, &str)>,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let defaults = defaults_table()?;
    let schema = Schema::from_defaults(&defaults);
    let mut merged = defaults.clone();
    let mut origins = Origins::default();

    if let Some((path, text)) = file {
        let mut table: Table = toml::from_str(text).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                format!("not valid TOML: {}", e.to_string().trim_end()),
            )
        })?;
        origins.record_file(path, text);
        schema
            .check_file_keys(&table, &defaults)
            .map_err(|e| origins.locate(e))?;
        resolve_relative_paths(&mut table, path);
        merge(&mut merged, table);
    }

    for (var, raw) in env {
        if !var.starts_with(ENV_PREFIX) || RESERVED_ENV.contains(&var.as_str()) {
            continue;
        }
        let (path, value) = schema.env_override(var, raw)?;
        set_path(&mut merged, &path, value);
        origins.by_path.insert(path.join("."), var.clone());
    }

    let config: Config = serde_path_to_error::deserialize(Value::Table(merged))
        .map_err(|e| origins.locate(ConfigError::new(e.path().to_string(), e.inner().message())))?;
    validate(&config).map_err(|e| origins.locate(e))?;
    Ok(config)
}

/// The embedded defaults as a TOML table.
pub(crate) fn defaults_table() -> Result<Table, ConfigError> {
    // A test parses this file, so failing here means a broken build, not bad input.
    toml::from_str(DEFAULTS_TOML).map_err(|e| {
        ConfigError::new(
            "tradestate.example.toml",
            format!("the embedded defaults do not parse: {e}"),
        )
    })
}

/// The `TRADESTATE_*` variables of this process.
fn tradestate_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| ConfigError::new(name, "the value is not valid UTF-8".to_string()))?;
        env.push((name.to_string(), value));
    }
    Ok(env)
}

/// Tables merge key by key; anything else (including arrays) is replaced whole.
fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_sub)), Value::Table(sub)) => merge(base_sub, sub),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(sub) = entry else {
            return;
        };
        current = sub;
    }
    current.insert(last.clone(), value);
}

/// Paths written in a file are relative to that file, not to wherever the service was started.
fn resolve_relative_paths(file: &mut Table, file_path: &Path) {
    let Some(dir) = file_path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return;
    };
    let resolve = |value: Option<&mut Value>| {
        if let Some(Value::String(s)) = value {
            if !s.is_empty() && Path::new(s.as_str()).is_relative() {
                *s = dir.join(s.as_str()).to_string_lossy().into_owned();
            }
        }
    };
    resolve(file.get_mut("data_dir"));
    if let Some(Value::Table(auth)) = file.get_mut("auth") {
        resolve(auth.get_mut("tokens_file"));
    }
    resolve_partition_paths(file, resolve);
}

/// The partitions' TLS files, relative to the config file as the other paths are.
fn resolve_partition_paths(file: &mut Table, resolve: impl Fn(Option<&mut Value>)) {
    let Some(Value::Table(partitions)) = file.get_mut("partitions") else {
        return;
    };
    for (_, partition) in partitions.iter_mut() {
        if let Value::Table(partition) = partition {
            for key in ["tls_ca_file", "tls_cert_file", "tls_key_file"] {
                resolve(partition.get_mut(key));
            }
        }
    }
}

/// Where values were set: dotted path (`auth.terminals[0].id`) -> `file:line` or variable name.
#[derive(Default)]
struct Origins {
    by_path: BTreeMap<String, String>,
}

impl Origins {
    fn record_file(&mut self, path: &Path, text: &str) {
        // Spans only; the values come from the plain parse.
        let Ok(document) = toml::de::DeTable::parse(text) else {
            return;
        };
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut record = |dotted: String, offset: usize| {
            self.by_path
                .insert(dotted, format!("{}:{}", path.display(), line_of(offset)));
        };
        walk(document.get_ref(), "", &mut record);

        fn walk(
            table: &toml::de::DeTable<'_>,
            prefix: &str,
            record: &mut dyn FnMut(String, usize),
        ) {
            for (key, value) in table.iter() {
                let dotted = if prefix.is_empty() {
                    key.get_ref().to_string()
                } else {
                    format!("{prefix}.{}", key.get_ref())
                };
                walk_value(value, dotted, record);
            }
        }
        fn walk_value(
            value: &toml::Spanned<toml::de::DeValue<'_>>,
            dotted: String,
            record: &mut dyn FnMut(String, usize),
        ) {
            match value.get_ref() {
                toml::de::DeValue::Table(sub) => walk(sub, &dotted, record),
                toml::de::DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk_value(item, format!("{dotted}[{i}]"), record);
                    }
                    record(dotted, value.span().start);
                }
                _ => record(dotted, value.span().start),
            }
        }
    }

    /// Adds the origin of the most specific recorded path that contains the error's key.
    fn locate(&self, error: ConfigError) -> ConfigError {
        let mut key = error.key.as_str();
        loop {
            if let Some(origin) = self.by_path.get(key) {
                return error.clone().with_origin(Some(origin.clone()));
            }
            match key.rfind(['.', '[']) {
                Some(cut) => key = &key[..cut],
                None => return error,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Backend;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn from_file(text: &str) -> Result<Config, ConfigError> {
        load_from(Some((Path::new("tradestate.toml"), text)), &[])
    }

    fn error_text(result: Result<Config, ConfigError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        assert_eq!(load_from(None, &[]).unwrap(), Config::default());
        // Loading the example as a user file changes nothing either.
        let as_file = load_from(Some((Path::new("tradestate.toml"), DEFAULTS_TOML)), &[]);
        assert_eq!(as_file.unwrap(), Config::default());
        let c = Config::default();
        assert!(c.dev_mode());
        assert_eq!(c.partitions.get("rts").unwrap().embedded_port, 6381);
        let names: Vec<_> = c.partitions.iter().map(|(n, _)| n).collect();
        assert_eq!(names, crate::PARTITIONS);
        for (name, p) in c.partitions.iter() {
            assert_eq!(Some(p.embedded_port), crate::default_engine_port(name));
        }
    }

    #[test]
    fn a_file_overrides_only_what_it_sets() {
        let c = from_file(
            "data_dir = \"/var/lib/tradestate\"\n\
             [listen]\nresp = \"off\"\n\
             [partitions.rts]\nbackend = \"redis://10.0.0.5:6379/1\"\n\
             [partitions.ris.engine]\nhz = 50\nappendonly = false\n\
             [policy]\nris_ttl_s = 300\n\
             [limits]\nreject_watermark = 1\n",
        )
        .unwrap();
        assert_eq!(c.listen.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.listen.resp, None);
        assert_eq!(
            c.partitions.rts.backend,
            Backend::Url("redis://10.0.0.5:6379/1".into())
        );
        assert_eq!(c.partitions.ris.backend, Backend::Embedded);
        assert_eq!(c.partitions.ris.engine["hz"], "50");
        assert_eq!(c.partitions.ris.engine["appendonly"], "no");
        assert_eq!(c.partitions.ris.engine["maxmemory-policy"], "volatile-ttl");
        assert_eq!(c.policy.ris_ttl_s, 300);
        assert_eq!(c.policy.instance_stale_after_s, 30);
        assert_eq!(c.limits.reject_watermark, 1.0);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/tradestate"));
        assert_eq!(
            from_file("[listen]\nresp = \"\"").unwrap().listen.resp,
            None
        );
    }

    #[test]
    fn terminals_in_the_file_end_dev_mode() {
        let c = from_file(
            "[[auth.terminals]]\nid = \"T1\"\ntoken = \"0123456789abcdef\"\n\
             [[auth.terminals]]\nid = \"T2\"\ntoken = \"fedcba9876543210\"\n",
        )
        .unwrap();
        assert!(!c.dev_mode());
        assert_eq!(c.terminal_tokens().unwrap().len(), 2);
        assert_eq!(c.auth.terminals[1].instance_id, "T2");
        // Debug output never shows tokens.
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn environment_beats_the_file() {
        let c = load_from(
            Some((
                Path::new("tradestate.toml"),
                "[listen]\nhttp = \"127.0.0.1:9000\"\n",
            )),
            &env(&[
                ("TRADESTATE_LISTEN_HTTP", "0.0.0.0:9100"),
                ("TRADESTATE_LISTEN_RESP", "off"),
                (
                    "TRADESTATE_PARTITIONS_RIS_BACKEND",
                    "unix:///run/redis.sock",
                ),
                ("TRADESTATE_POLICY_RIS_TTL_S", "600"),
                ("TRADESTATE_LIMITS_PER_TERMINAL_RATE", "50"),
                ("TRADESTATE_LIMITS_THROTTLE_WATERMARK", "0.25"),
                (
                    "TRADESTATE_AUTH_TERMINALS",
                    "T1:0123456789abcdef, T2:fedcba9876543210",
                ),
                ("TRADESTATE_AUTH_TOKENS_FILE", ""),
                (
                    "TRADESTATE_PARTITIONS_RTSS_ENGINE_MAXMEMORY_POLICY",
                    "noeviction",
                ),
                ("TRADESTATE_CONFIG", "ignored.toml"),
                ("TRADESTATE_LOG", "debug"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.http, "0.0.0.0:9100".parse().unwrap());
        assert_eq!(c.listen.resp, None);
        assert_eq!(
            c.partitions.ris.backend,
            Backend::Url("unix:///run/redis.sock".into())
        );
        assert_eq!(c.policy.ris_ttl_s, 600);
        assert_eq!(c.limits.per_terminal_rate, 50);
        assert_eq!(c.limits.throttle_watermark, 0.25);
        assert_eq!(c.auth.terminals.len(), 2);
        assert_eq!(c.auth.terminals[1].instance_id, "T2");
        assert_eq!(c.auth.tokens_file, None);
        assert_eq!(c.partitions.rtss.engine["maxmemory-policy"], "noeviction");
    }

    #[test]
    fn a_sentinel_backend_may_be_a_table() {
        let c = from_file(
            "[partitions.ris.backend]\nsentinels = [\"10.0.0.7:26379\", \"10.0.0.8\"]\n\
             master = \"ris\"\npassword = \"p@ss\"\nsentinel_password = \"s:cret\"\n",
        )
        .unwrap();
        let Backend::Url(url) = &c.partitions.ris.backend else {
            panic!("a URL backend");
        };
        assert_eq!(
            url,
            "redis+sentinel://:p%40ss@10.0.0.7:26379,10.0.0.8/ris/0?sentinel_password=s%3Acret"
        );
        let Ok(tradestate_backend::Address::Sentinel(a)) = tradestate_backend::parse(url) else {
            panic!("a sentinel address");
        };
        assert_eq!(a.password.as_deref(), Some("p@ss"));
        assert_eq!(a.sentinel_password.as_deref(), Some("s:cret"));
        let tls = from_file(
            "[partitions.rts.backend]\nsentinels = [\"s1\"]\nmaster = \"rts\"\ndb = 2\ntls = true\n",
        )
        .unwrap();
        assert_eq!(
            tls.partitions.rts.backend,
            Backend::Url("rediss+sentinel://s1/rts/2".into())
        );
        let typo = error_text(from_file(
            "[partitions.ris.backend]\nsentinels = [\"s1\"]\nmastr = \"ris\"\n",
        ));
        assert!(typo.contains("unknown field `mastr`"), "{typo}");
        let empty = error_text(from_file(
            "[partitions.ris.backend]\nsentinels = []\nmaster = \"ris\"\n",
        ));
        assert!(empty.contains("sentinels is empty"), "{empty}");
        let bad = error_text(from_file(
            "[partitions.ris.backend]\nsentinels = [\"s1:x\"]\nmaster = \"ris\"\n",
        ));
        assert!(bad.contains("port \"x\""), "{bad}");
    }

    #[test]
    fn errors_point_at_the_file_line() {
        assert_eq!(
            error_text(from_file("[partitions.rts]\nbackend = \"redis:/x\"\n")),
            "config: partitions.rts.backend (tradestate.toml:2): cannot parse \"redis:/x\" as a \
             URL (expected redis://host:port, rediss://host:port, unix:///path, \
             redis+sentinel://s1:26379,s2:26379/<master>, redis+cluster://n1:7000,n2:7001 or \
             \"embedded\")"
        );
        assert_eq!(
            error_text(from_file("[policy]\n\nris_ttl_s = \"two minutes\"\n")),
            "config: policy.ris_ttl_s (tradestate.toml:3): invalid type: string \"two minutes\", \
             expected u64"
        );
        assert_eq!(
            error_text(from_file("[listen]\nhtp = \"0.0.0.0:80\"\n")),
            "config: listen.htp (tradestate.toml:2): unknown setting (known here: http, resp); \
             did you mean `http`?"
        );
        assert_eq!(
            error_text(from_file("data_dri = \"x\"\n")),
            "config: data_dri (tradestate.toml:1): unknown setting (known here: auth, data_dir, \
             limits, listen, partitions, policy, spill); did you mean `data_dir`?"
        );
        assert_eq!(
            error_text(from_file("[listen]\nhttp = \"localhost:80\"\n")),
            "config: listen.http (tradestate.toml:2): cannot parse \"localhost:80\" as an \
             address: use IP:port, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (host names \
             are not resolved)"
        );
        assert_eq!(
            error_text(from_file("[policy]\nris_ttl_s = 20\n")),
            "config: policy.instance_stale_after_s: must be less than policy.ris_ttl_s (20), got \
             30: a terminal is online for instance_stale_after_s after its last update, stale \
             until ris_ttl_s, then offline"
        );
        assert_eq!(
            error_text(from_file(
                "[[auth.terminals]]\nid = \"T1\"\ntoken = \"0123456789abcdef\"\n\
                 [[auth.terminals]]\nid = \"T/2\"\ntoken = \"fedcba9876543210\"\n"
            )),
            "config: auth.terminals[1].id (tradestate.toml:5): instance id \"T/2\" contains '/'; \
             use only letters, digits, '.', '_' and '-'"
        );
        assert!(
            error_text(from_file("[partitions.ris]\nembedded_port = 70000\n")).starts_with(
                "config: partitions.ris.embedded_port (tradestate.toml:2): invalid value"
            )
        );
        assert!(error_text(from_file("[listen\n"))
            .starts_with("config: tradestate.toml: not valid TOML"));
        assert!(error_text(from_file("listen = 5\n"))
            .starts_with("config: listen (tradestate.toml:1): invalid type"));
    }

    #[test]
    fn errors_name_the_environment_variable() {
        let load_env = |pairs: &[(&str, &str)]| error_text(load_from(None, &env(pairs)));
        assert_eq!(
            load_env(&[("TRADESTATE_PARTITIONS_RIS_EMBEDDED_PORT", "70000")]),
            "config: partitions.ris.embedded_port (TRADESTATE_PARTITIONS_RIS_EMBEDDED_PORT): \
             invalid value: integer `70000`, expected u16"
        );
        assert_eq!(
            load_env(&[("TRADESTATE_PARTITIONS_RTS_BACKEND", "sentinel://s:26379")]),
            "config: partitions.rts.backend (TRADESTATE_PARTITIONS_RTS_BACKEND): \
             \"sentinel://s:26379\" names no master; expected \
             redis+sentinel://s1:26379,s2:26379/<master name>"
        );
        assert_eq!(
            load_env(&[("TRADESTATE_LIMITS_MAX_BODY_BYTES", "1MiB")]),
            "config: limits.max_body_bytes (TRADESTATE_LIMITS_MAX_BODY_BYTES): expected a whole \
             number, got \"1MiB\""
        );
        assert!(load_env(&[("TRADESTATE_LISTEN_HTTPS", "x")])
            .starts_with("config: TRADESTATE_LISTEN_HTTPS: unknown environment variable: not a setting; did you mean `TRADESTATE_LISTEN_HTTP`?"));
        assert!(
            load_env(&[("TRADESTATE_AUTH_TERMINALS", "T1:short")]).starts_with(
                "config: auth.terminals[0].token (TRADESTATE_AUTH_TERMINALS): terminal token is 5"
            )
        );
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_it() {
        let c = load_from(
            Some((
                Path::new("/etc/tradestate/tradestate.toml"),
                "data_dir = \"state\"\n[auth]\ntokens_file = \"tokens\"\n",
            )),
            &[],
        );
        // The tokens file does not exist, which validation reports with the resolved path.
        assert_eq!(
            c.unwrap_err().to_string(),
            "config: auth.tokens_file (/etc/tradestate/tradestate.toml:3): cannot read \
             /etc/tradestate/tokens: No such file or directory (os error 2)"
        );
        let c = load_from(
            Some((
                Path::new("/etc/tradestate/tradestate.toml"),
                "data_dir = \"state\"\n",
            )),
            &env(&[("TRADESTATE_AUTH_TOKENS_FILE", "")]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/etc/tradestate/state"));
        let c = load_from(None, &env(&[("TRADESTATE_DATA_DIR", "rel")])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("rel"));
        let c = load_from(
            Some((
                Path::new("/etc/tradestate/tradestate.toml"),
                "[partitions.rts]\nbackend = \"rediss://h:6380\"\ntls_ca_file = \"ca.pem\"\n",
            )),
            &[],
        );
        assert_eq!(
            c.unwrap_err().to_string(),
            "config: partitions.rts.tls_ca_file (/etc/tradestate/tradestate.toml:3): cannot read \
             \"/etc/tradestate/ca.pem\": No such file or directory"
        );
    }

    #[test]
    fn load_reads_the_named_file() {
        let dir = std::env::temp_dir().join(format!("tradestate-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tradestate.toml");
        std::fs::write(&path, "[policy]\nrtss_maxlen = 5\n").unwrap();
        // The test process may carry TRADESTATE_* variables only if a developer set them.
        if std::env::vars().any(|(k, _)| k.starts_with(ENV_PREFIX)) {
            return;
        }
        assert_eq!(load(Some(&path)).unwrap().policy.rtss_maxlen, 5);
        let missing = dir.join("missing.toml");
        let e = load(Some(&missing)).unwrap_err().to_string();
        assert!(
            e.contains("missing.toml: cannot read the config file"),
            "{e}"
        );
    }
}
