//! Who may connect: terminal tokens from the config and the tokens file, the rules for instance
//! ids and tokens, and development mode (no tokens configured: loopback only, [`DEV_TOKEN`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::error::ConfigError;
use crate::model::{Config, TerminalToken};

/// The token any instance id may use in development mode.
pub const DEV_TOKEN: &str = "tradestate-dev";

/// Shortest accepted terminal or operator token.
pub const MIN_TOKEN_LEN: usize = 16;

/// Longest instance id (ids become part of engine keys).
pub const MAX_INSTANCE_ID_LEN: usize = 64;

impl Config {
    /// True when no terminal tokens are configured (neither `auth.terminals` nor
    /// `auth.tokens_file`): the gateway then listens on loopback only and accepts [`DEV_TOKEN`].
    pub fn dev_mode(&self) -> bool {
        self.auth.terminals.is_empty() && self.auth.tokens_file.is_none()
    }

    /// All terminal credentials: `auth.terminals`, then the lines of `auth.tokens_file`
    /// (`instance_id token`, `#` comments, blank lines). Re-reads the file on every call, so the
    /// gateway can reload tokens. Invalid ids or tokens and duplicate ids are errors naming the
    /// entry (`auth.terminals[2].token`) or file line (`/etc/tradestate/tokens:7`).
    pub fn terminal_tokens(&self) -> Result<Vec<TerminalToken>, ConfigError> {
        let mut tokens = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, terminal) in self.auth.terminals.iter().enumerate() {
            let at = format!("auth.terminals[{i}]");
            check_instance_id(&terminal.instance_id)
                .map_err(|m| ConfigError::new(format!("{at}.id"), m))?;
            check_token(&terminal.token, "terminal token")
                .map_err(|m| ConfigError::new(format!("{at}.token"), m))?;
            remember(&mut seen, &terminal.instance_id, &at)
                .map_err(|m| ConfigError::new(format!("{at}.id"), m))?;
            tokens.push(terminal.clone());
        }
        if let Some(path) = &self.auth.tokens_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "auth.tokens_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            parse_tokens_file(path, &text, &mut seen, &mut tokens)?;
        }
        Ok(tokens)
    }

    /// In development mode, moves listeners that are not on loopback to 127.0.0.1 (same port),
    /// so unauthenticated access never leaves the machine. Returns one warning per change, for the
    /// gateway to log; nothing outside development mode.
    pub fn enforce_dev_mode_loopback(&mut self) -> Vec<String> {
        if !self.dev_mode() {
            return Vec::new();
        }
        let mut warnings = Vec::new();
        let mut confine = |name: &str, addr: &mut SocketAddr| {
            if addr.ip().is_loopback() {
                return;
            }
            let was = *addr;
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            warnings.push(format!(
                "development mode (no auth.terminals and no auth.tokens_file): {name} {was} \
                 changed to {addr}; configure terminal tokens to listen on other addresses"
            ));
        };
        confine("listen.http", &mut self.listen.http);
        if let Some(resp) = &mut self.listen.resp {
            confine("listen.resp", resp);
        }
        warnings
    }
}

/// Instance ids: 1..=64 of `[A-Za-z0-9._-]` (they end up inside `{...}` key hash tags).
pub fn check_instance_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_INSTANCE_ID_LEN {
        return Err(format!(
            "instance id {id:?} must be 1 to {MAX_INSTANCE_ID_LEN} characters"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "instance id {id:?} contains {bad:?}; use only letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Tokens: at least [`MIN_TOKEN_LEN`] printable characters without spaces, and not the
/// development token. Never echoes the token itself.
pub fn check_token(token: &str, what: &str) -> Result<(), String> {
    let len = token.chars().count();
    if len < MIN_TOKEN_LEN {
        return Err(format!(
            "{what} is {len} characters long; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 24`)"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} contains a space or control character; use printable characters only"
        ));
    }
    if token == DEV_TOKEN {
        return Err(format!(
            "{what} is the development token {DEV_TOKEN:?}; choose a secret one"
        ));
    }
    Ok(())
}

fn remember(seen: &mut HashMap<String, String>, id: &str, at: &str) -> Result<(), String> {
    match seen.get(id) {
        Some(first) => Err(format!(
            "instance id {id:?} already has a token at {first}; give each terminal one entry"
        )),
        None => {
            seen.insert(id.to_string(), at.to_string());
            Ok(())
        }
    }
}

fn parse_tokens_file(
    path: &Path,
    text: &str,
    seen: &mut HashMap<String, String>,
    tokens: &mut Vec<TerminalToken>,
) -> Result<(), ConfigError> {
    for (index, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), index + 1);
        let mut fields = line.split_whitespace();
        let Some(id) = fields.next().filter(|f| !f.starts_with('#')) else {
            continue; // blank or comment
        };
        let Some(token) = fields.next().filter(|f| !f.starts_with('#')) else {
            return Err(ConfigError::new(
                at,
                format!("instance id {id:?} has no token; expected `instance_id token`"),
            ));
        };
        if fields.next().is_some_and(|extra| !extra.starts_with('#')) {
            return Err(ConfigError::new(
                at,
                "more than two fields; expected `instance_id token` (tokens contain no spaces; \
                 '#' starts a comment)",
            ));
        }
        check_instance_id(id).map_err(|m| ConfigError::new(at.clone(), m))?;
        check_token(token, "terminal token").map_err(|m| ConfigError::new(at.clone(), m))?;
        remember(seen, id, &at).map_err(|m| ConfigError::new(at.clone(), m))?;
        tokens.push(TerminalToken::new(id, token));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const GOOD: &str = "0123456789abcdef";

    fn with_terminals(list: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        c.auth.terminals = list
            .iter()
            .map(|(id, token)| TerminalToken::new(id, token))
            .collect();
        c
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tradestate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn dev_mode_means_no_tokens_configured() {
        assert!(Config::default().dev_mode());
        assert!(!with_terminals(&[("T1", GOOD)]).dev_mode());
        let mut c = Config::default();
        c.auth.tokens_file = Some("tokens".into());
        assert!(!c.dev_mode());
        assert_eq!(Config::default().terminal_tokens().unwrap(), vec![]);
    }

    #[test]
    fn instance_ids_and_tokens_are_checked() {
        assert!(check_instance_id("T-1_a.b").is_ok());
        assert!(check_instance_id(&"x".repeat(64)).is_ok());
        assert_eq!(
            check_instance_id("").unwrap_err(),
            "instance id \"\" must be 1 to 64 characters"
        );
        assert!(check_instance_id(&"x".repeat(65)).is_err());
        assert_eq!(
            check_instance_id("T{1}").unwrap_err(),
            "instance id \"T{1}\" contains '{'; use only letters, digits, '.', '_' and '-'"
        );
        assert_eq!(
            check_token("short", "terminal token").unwrap_err(),
            "terminal token is 5 characters long; use at least 16 (e.g. `openssl rand -hex 24`)"
        );
        assert!(check_token("0123456789abcde\t", "t").is_err());
        assert!(check_token(GOOD, "t").is_ok());
    }

    #[test]
    fn config_terminal_errors_name_the_entry() {
        let e = with_terminals(&[("T1", GOOD), ("T 2", GOOD)])
            .terminal_tokens()
            .unwrap_err();
        assert_eq!(e.key, "auth.terminals[1].id");
        let e = with_terminals(&[("T1", "short")])
            .terminal_tokens()
            .unwrap_err();
        assert_eq!(e.key, "auth.terminals[0].token");
        assert!(!e.to_string().contains("short\""), "token leaked: {e}");
        let e = with_terminals(&[("T1", GOOD), ("T1", GOOD)])
            .terminal_tokens()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: auth.terminals[1].id: instance id \"T1\" already has a token at \
             auth.terminals[0]; give each terminal one entry"
        );
    }

    #[test]
    fn tokens_file_lines() {
        let path = temp_file(
            "tokens-ok",
            "# terminals\n\nT2 fedcba9876543210\n  T3   0123456789abcdef   # desk 3\n",
        );
        let mut c = with_terminals(&[("T1", GOOD)]);
        c.auth.tokens_file = Some(path);
        let ids: Vec<_> = c
            .terminal_tokens()
            .unwrap()
            .into_iter()
            .map(|t| (t.instance_id, t.token))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("T1".to_string(), GOOD.to_string()),
                ("T2".to_string(), "fedcba9876543210".to_string()),
                ("T3".to_string(), GOOD.to_string()),
            ]
        );
    }

    #[test]
    fn tokens_file_errors_name_file_and_line() {
        let cases = [
            (
                "dup",
                "T2 fedcba9876543210\nT1 fedcba9876543210\n",
                ":2: instance id \"T1\" already has a token at auth.terminals[0]; give each terminal one entry",
            ),
            (
                "dup-in-file",
                "T2 fedcba9876543210\n# c\nT2 fedcba9876543210\n",
                ":3: instance id \"T2\" already has a token at ",
            ),
            ("no-token", "\nT2\n", ":2: instance id \"T2\" has no token; expected `instance_id token`"),
            ("extra", "T2 fedcba9876543210 x\n", ":1: more than two fields"),
            ("bad-id", "T:2 fedcba9876543210\n", ":1: instance id \"T:2\" contains ':'"),
            ("short", "T2 abc\n", ":1: terminal token is 3 characters long"),
        ];
        for (name, text, expected) in cases {
            let path = temp_file(name, text);
            let mut c = with_terminals(&[("T1", GOOD)]);
            c.auth.tokens_file = Some(path.clone());
            let e = c.terminal_tokens().unwrap_err().to_string();
            let prefix = format!("config: {}", path.display());
            assert!(e.starts_with(&prefix), "{name}: {e}");
            assert!(e[prefix.len()..].starts_with(expected), "{name}: {e}");
        }
    }

    #[test]
    fn missing_tokens_file_is_an_error() {
        let mut c = Config::default();
        c.auth.tokens_file = Some("/nonexistent/tradestate-tokens".into());
        let e = c.terminal_tokens().unwrap_err().to_string();
        assert!(
            e.starts_with("config: auth.tokens_file: cannot read /nonexistent/tradestate-tokens: "),
            "{e}"
        );
    }

    #[test]
    fn dev_mode_confines_listeners_to_loopback() {
        let mut c = Config::default();
        c.listen.http = "0.0.0.0:8080".parse().unwrap();
        c.listen.resp = Some("[::]:6390".parse().unwrap());
        let warnings = c.enforce_dev_mode_loopback();
        assert_eq!(c.listen.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.listen.resp, Some("127.0.0.1:6390".parse().unwrap()));
        assert_eq!(warnings.len(), 2);
        assert_eq!(
            warnings[0],
            "development mode (no auth.terminals and no auth.tokens_file): listen.http \
             0.0.0.0:8080 changed to 127.0.0.1:8080; configure terminal tokens to listen on \
             other addresses"
        );
        // Loopback already, or not in dev mode: nothing changes.
        let mut c = Config::default();
        c.listen.resp = Some("[::1]:6390".parse().unwrap());
        assert!(c.enforce_dev_mode_loopback().is_empty());
        let mut c = with_terminals(&[("T1", GOOD)]);
        c.listen.http = "0.0.0.0:8080".parse().unwrap();
        assert!(c.enforce_dev_mode_loopback().is_empty());
        assert_eq!(c.listen.http, "0.0.0.0:8080".parse().unwrap());
    }
}
