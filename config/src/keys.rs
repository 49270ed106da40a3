//! The set of known settings, derived from the embedded defaults file so it cannot drift from it:
//! each key's dotted path, its `TRADESTATE_*` environment name and the TOML shape its value
//! takes. Owns the unknown-key check (with "did you mean") and turning an environment string into
//! a TOML value.

use toml::{Table, Value};

use crate::error::{closest, did_you_mean, ConfigError};

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "TRADESTATE_";
/// Environment variables under the prefix that are not settings.
pub const RESERVED_ENV: [&str; 2] = ["TRADESTATE_CONFIG", "TRADESTATE_LOG"];

/// Arrays of tables and the keys of their elements (the defaults hold them empty, so their
/// element shape cannot be read from there).
const ARRAYS_OF_TABLES: [(&str, &[&str]); 1] = [("auth.terminals", &["id", "token"])];

/// How a leaf's value is written, as read from its default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Integer,
    Float,
    Boolean,
    /// A list of strings; comma-separated in the environment.
    StringList,
    /// `auth.terminals`; `id:token,id:token` in the environment.
    Terminals,
    /// Free-form `partitions.<p>.engine` table of redis.conf parameters.
    EngineParams,
}

#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub path: Vec<String>,
    pub env: String,
    pub kind: Kind,
}

impl Leaf {
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// Every known setting.
#[derive(Debug)]
pub(crate) struct Schema {
    pub leaves: Vec<Leaf>,
}

/// `partitions.<p>.engine` takes any keys.
fn is_engine_table(path: &[String]) -> bool {
    path.len() == 3 && path[0] == "partitions" && path[2] == "engine"
}

pub(crate) fn env_name(path: &[String]) -> String {
    let mut name = ENV_PREFIX.to_string();
    name.push_str(&path.join("_").to_ascii_uppercase());
    name
}

impl Schema {
    pub fn from_defaults(defaults: &Table) -> Schema {
        let mut leaves = Vec::new();
        collect_leaves(defaults, &mut Vec::new(), &mut leaves);
        Schema { leaves }
    }

    /// Rejects keys of a parsed file that are not settings, naming the closest known one.
    pub fn check_file_keys(&self, file: &Table, defaults: &Table) -> Result<(), ConfigError> {
        self.check_table(file, defaults, &mut Vec::new())
    }

    fn check_table(
        &self,
        table: &Table,
        known: &Table,
        path: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        for (key, value) in table {
            path.push(key.clone());
            match known.get(key) {
                None => {
                    let siblings: Vec<&str> = known.keys().map(String::as_str).collect();
                    return Err(self.unknown_key(path, &siblings));
                }
                Some(Value::Table(known_sub)) if !is_engine_table(path) => {
                    if let Value::Table(sub) = value {
                        self.check_table(sub, known_sub, path)?;
                    }
                    // Not a table: serde reports the wrong type with the path.
                }
                Some(_) => {
                    if let (Some(element_keys), Value::Array(items)) =
                        (array_of_tables_keys(path), value)
                    {
                        check_array_of_tables(path, items, element_keys)?;
                    }
                }
            }
            path.pop();
        }
        Ok(())
    }

    fn unknown_key(&self, path: &[String], siblings: &[&str]) -> ConfigError {
        let dotted = path.join(".");
        let key = path.last().map(String::as_str).unwrap_or_default();
        let hint = if let Some(near) = closest(key, siblings.iter().copied()) {
            format!("; did you mean `{near}`?")
        } else if let Some(elsewhere) = self
            .leaves
            .iter()
            .find(|l| l.path.last().is_some_and(|last| last == key))
        {
            format!("; it belongs at `{}`", elsewhere.dotted())
        } else {
            String::new()
        };
        ConfigError::new(
            dotted,
            format!(
                "unknown setting (known here: {}){hint}",
                siblings.join(", ")
            ),
        )
    }

    /// Turns `TRADESTATE_X=value` into the settings path and TOML value it overrides.
    pub fn env_override(&self, var: &str, raw: &str) -> Result<(Vec<String>, Value), ConfigError> {
        if let Some(leaf) = self.leaves.iter().find(|l| l.env == var) {
            let value = env_value(leaf, var, raw)?;
            return Ok((leaf.path.clone(), value));
        }
        // TRADESTATE_PARTITIONS_RIS_ENGINE_MAXMEMORY_POLICY -> partitions.ris.engine.maxmemory-policy
        for leaf in self.leaves.iter().filter(|l| l.kind == Kind::EngineParams) {
            let Some(param) = var
                .strip_prefix(leaf.env.as_str())
                .and_then(|rest| rest.strip_prefix('_'))
                .filter(|p| !p.is_empty())
            else {
                continue;
            };
            let mut path = leaf.path.clone();
            path.push(param.to_ascii_lowercase().replace('_', "-"));
            return Ok((path, Value::String(raw.to_string())));
        }
        let names = self
            .leaves
            .iter()
            .map(|l| l.env.as_str())
            .chain(RESERVED_ENV);
        Err(ConfigError::new(
            var,
            format!(
                "unknown environment variable: not a setting{} (settings are TRADESTATE_ + the \
                 key's dotted path with '_' for '.', upper-cased)",
                did_you_mean(var, names)
            ),
        ))
    }
}

fn collect_leaves(table: &Table, path: &mut Vec<String>, out: &mut Vec<Leaf>) {
    for (key, value) in table {
        path.push(key.clone());
        let kind = match value {
            Value::Table(_) if is_engine_table(path) => Some(Kind::EngineParams),
            Value::Table(sub) => {
                collect_leaves(sub, path, out);
                None
            }
            Value::Array(_) if array_of_tables_keys(path).is_some() => Some(Kind::Terminals),
            Value::Array(_) => Some(Kind::StringList),
            Value::String(_) => Some(Kind::String),
            Value::Integer(_) => Some(Kind::Integer),
            Value::Float(_) => Some(Kind::Float),
            Value::Boolean(_) => Some(Kind::Boolean),
            // The defaults hold no dates; treat one as text if it ever appears.
            Value::Datetime(_) => Some(Kind::String),
        };
        if let Some(kind) = kind {
            out.push(Leaf {
                path: path.clone(),
                env: env_name(path),
                kind,
            });
        }
        path.pop();
    }
}

fn array_of_tables_keys(path: &[String]) -> Option<&'static [&'static str]> {
    let dotted = path.join(".");
    ARRAYS_OF_TABLES
        .iter()
        .find(|(p, _)| *p == dotted)
        .map(|(_, keys)| *keys)
}

fn check_array_of_tables(
    path: &[String],
    items: &[Value],
    element_keys: &[&str],
) -> Result<(), ConfigError> {
    for (i, item) in items.iter().enumerate() {
        let Value::Table(element) = item else {
            continue; // serde names the wrong type
        };
        for key in element.keys() {
            if !element_keys.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    format!("{}[{i}].{key}", path.join(".")),
                    format!(
                        "unknown setting (known here: {}){}",
                        element_keys.join(", "),
                        did_you_mean(key, element_keys.iter().copied())
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn env_value(leaf: &Leaf, var: &str, raw: &str) -> Result<Value, ConfigError> {
    let fail = |expected: &str| {
        ConfigError::new(leaf.dotted(), format!("expected {expected}, got {raw:?}"))
            .with_origin(Some(var.to_string()))
    };
    let trimmed = raw.trim();
    Ok(match leaf.kind {
        Kind::String => Value::String(raw.to_string()),
        Kind::Integer => Value::Integer(
            trimmed
                .replace('_', "")
                .parse()
                .map_err(|_| fail("a whole number"))?,
        ),
        Kind::Float => Value::Float(trimmed.parse().map_err(|_| fail("a number"))?),
        Kind::Boolean => Value::Boolean(match trimmed.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => true,
            "false" | "no" | "off" | "0" => false,
            _ => return Err(fail("true or false")),
        }),
        Kind::StringList => Value::Array(
            split_list(raw)
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        Kind::Terminals => {
            let mut terminals = Vec::new();
            for entry in split_list(raw) {
                let Some((id, token)) = entry.split_once(':') else {
                    return Err(ConfigError::new(
                        leaf.dotted(),
                        "expected comma-separated instance_id:token pairs, e.g. \
                         T1:token-of-t1,T2:token-of-t2 (an entry has no ':')",
                    )
                    .with_origin(Some(var.to_string())));
                };
                let mut element = Table::new();
                element.insert("id".into(), Value::String(id.to_string()));
                element.insert("token".into(), Value::String(token.to_string()));
                terminals.push(Value::Table(element));
            }
            Value::Array(terminals)
        }
        // Engine parameters are set one by one (TRADESTATE_PARTITIONS_<P>_ENGINE_<PARAM>).
        Kind::EngineParams => {
            return Err(ConfigError::new(
                var,
                format!(
                    "set engine parameters one at a time, e.g. {var}_MAXMEMORY_POLICY=allkeys-lru"
                ),
            ))
        }
    })
}

fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::defaults_table;

    fn schema() -> (Schema, Table) {
        let defaults = defaults_table().unwrap();
        (Schema::from_defaults(&defaults), defaults)
    }

    #[test]
    fn every_leaf_has_a_distinct_env_name() {
        let (schema, _) = schema();
        let mut names: Vec<_> = schema.leaves.iter().map(|l| l.env.clone()).collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
        for expected in [
            "TRADESTATE_LISTEN_HTTP",
            "TRADESTATE_LISTEN_RESP",
            "TRADESTATE_PARTITIONS_RIS_BACKEND",
            "TRADESTATE_POLICY_RIS_TTL_S",
            "TRADESTATE_LIMITS_PER_TERMINAL_RATE",
            "TRADESTATE_AUTH_TERMINALS",
            "TRADESTATE_AUTH_TOKENS_FILE",
            "TRADESTATE_DATA_DIR",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}");
        }
        for reserved in RESERVED_ENV {
            assert!(!names.iter().any(|n| n == reserved));
        }
    }

    #[test]
    fn kinds_come_from_the_defaults() {
        let (schema, _) = schema();
        let kind = |p: &str| {
            schema
                .leaves
                .iter()
                .find(|l| l.dotted() == p)
                .map(|l| l.kind)
        };
        assert_eq!(kind("listen.http"), Some(Kind::String));
        assert_eq!(kind("policy.ris_ttl_s"), Some(Kind::Integer));
        assert_eq!(kind("limits.reject_watermark"), Some(Kind::Float));
        assert_eq!(kind("auth.operator_tokens"), Some(Kind::StringList));
        assert_eq!(kind("auth.terminals"), Some(Kind::Terminals));
        assert_eq!(kind("partitions.rtss.engine"), Some(Kind::EngineParams));
        assert_eq!(kind("partitions.rtss"), None);
    }

    #[test]
    fn env_values_take_the_leaf_type() {
        let (schema, _) = schema();
        let (path, v) = schema
            .env_override("TRADESTATE_LIMITS_GLOBAL_RATE", "50_000")
            .unwrap();
        assert_eq!(path.join("."), "limits.global_rate");
        assert_eq!(v, Value::Integer(50_000));
        let (_, v) = schema
            .env_override("TRADESTATE_AUTH_OPERATOR_TOKENS", " a , b,,")
            .unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())])
        );
        let (path, v) = schema
            .env_override(
                "TRADESTATE_PARTITIONS_RTS_ENGINE_MAXMEMORY_POLICY",
                "noeviction",
            )
            .unwrap();
        assert_eq!(path.join("."), "partitions.rts.engine.maxmemory-policy");
        assert_eq!(v, Value::String("noeviction".into()));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let (schema, _) = schema();
        let e = schema
            .env_override("TRADESTATE_POLICY_RIS_TTL_S", "2m")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: policy.ris_ttl_s (TRADESTATE_POLICY_RIS_TTL_S): expected a whole number, got \"2m\""
        );
        let e = schema
            .env_override("TRADESTATE_LIMITS_PER_TERMINAL_RAT", "1")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: TRADESTATE_LIMITS_PER_TERMINAL_RAT: unknown environment variable: not a \
             setting; did you mean `TRADESTATE_LIMITS_PER_TERMINAL_RATE`? (settings are \
             TRADESTATE_ + the key's dotted path with '_' for '.', upper-cased)"
        );
        let e = schema
            .env_override("TRADESTATE_PARTITIONS_RIS_ENGINE", "x")
            .unwrap_err();
        assert!(e.message.contains("_MAXMEMORY_POLICY"), "{e}");
        let e = schema
            .env_override("TRADESTATE_AUTH_TERMINALS", "T1-no-colon")
            .unwrap_err();
        assert!(e.message.contains("instance_id:token"), "{e}");
    }

    #[test]
    fn unknown_file_keys_get_a_suggestion() {
        let (schema, defaults) = schema();
        let check = |text: &str| {
            let file: Table = toml::from_str(text).unwrap();
            schema
                .check_file_keys(&file, &defaults)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            check("[listen]\nhtp = \"0.0.0.0:1\""),
            "config: listen.htp: unknown setting (known here: http, resp); did you mean `http`?"
        );
        assert_eq!(
            check("[listen]\nris_ttl_s = 5"),
            "config: listen.ris_ttl_s: unknown setting (known here: http, resp); it belongs at \
             `policy.ris_ttl_s`"
        );
        assert_eq!(
            check("[[auth.terminals]]\nid = \"T1\"\ntokn = \"x\""),
            "config: auth.terminals[0].tokn: unknown setting (known here: id, token); did you \
             mean `token`?"
        );
        assert!(check("[partitions.risk]\nbackend = \"embedded\"").contains("did you mean `ris`?"));
        // Engine tables take any redis.conf parameter.
        let file: Table = toml::from_str("[partitions.ris.engine]\nhz = 50").unwrap();
        schema.check_file_keys(&file, &defaults).unwrap();
    }
}
