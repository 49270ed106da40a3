//! The one error type a user sees: which setting, where it was set, what is wrong and the fix;
//! plus the "did you mean" suggestion for misspelt keys and variables.

use std::fmt;

/// A configuration problem. Displays as `config: <key>: <message>`, or
/// `config: <key> (<origin>): <message>` when the value came from a file line or an environment
/// variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the setting (`partitions.rts.backend`), an environment variable name, or a
    /// file (`/etc/tradestate/tokens:12`).
    pub key: String,
    pub message: String,
    /// Where the offending value was set: `tradestate.toml:14` or `TRADESTATE_LISTEN_HTTP`.
    pub origin: Option<String>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
            origin: None,
        }
    }

    pub(crate) fn with_origin(mut self, origin: Option<String>) -> Self {
        if self.origin.is_none() {
            self.origin = origin;
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "config: {} ({}): {}", self.key, origin, self.message),
            None => write!(f, "config: {}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The candidate closest to `wanted`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted_lower = wanted.to_ascii_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted_lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"`, or nothing.
pub(crate) fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(wanted, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_origin() {
        let e = ConfigError::new("listen.http", "bad");
        assert_eq!(e.to_string(), "config: listen.http: bad");
        let e = e.with_origin(Some("TRADESTATE_LISTEN_HTTP".into()));
        assert_eq!(
            e.to_string(),
            "config: listen.http (TRADESTATE_LISTEN_HTTP): bad"
        );
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("http", "http"), 0);
        assert_eq!(edit_distance("htp", "http"), 1);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["http", "resp"];
        assert_eq!(closest("htp", keys), Some("http"));
        assert_eq!(closest("RESP", keys), Some("resp"));
        assert_eq!(closest("completely_else", keys), None);
        assert_eq!(did_you_mean("htpp", keys), "; did you mean `http`?");
        assert_eq!(did_you_mean("zzzzzzzz", keys), "");
    }
}
