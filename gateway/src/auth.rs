//! Terminal and operator authentication: an instance id with its token, compared in
//! constant time. In development mode every instance id is accepted with the printed dev token.

use std::collections::HashMap;

use subtle::ConstantTimeEq;

pub struct Auth {
    terminals: HashMap<String, String>,
    operator_tokens: Vec<String>,
    dev_token: Option<String>,
}

impl Auth {
    pub fn new(
        terminals: impl IntoIterator<Item = (String, String)>,
        operator_tokens: Vec<String>,
        dev_token: Option<String>,
    ) -> Auth {
        Auth {
            terminals: terminals.into_iter().collect(),
            operator_tokens,
            dev_token,
        }
    }

    pub fn is_dev_mode(&self) -> bool {
        self.dev_token.is_some()
    }

    /// Whether `token` is the terminal `instance_id`'s token.
    pub fn terminal(&self, instance_id: &str, token: &str) -> bool {
        if let Some(dev) = &self.dev_token {
            return same(dev, token);
        }
        match self.terminals.get(instance_id) {
            Some(expected) => same(expected, token),
            None => {
                // Spend the same time as a known terminal so ids cannot be probed by timing.
                let _ = same(token, token);
                false
            }
        }
    }

    /// Whether reads (dashboards, workers) are allowed with `token`. With no operator tokens
    /// configured, reads are open (the service logs this at start).
    pub fn operator(&self, token: Option<&str>) -> bool {
        if self.operator_tokens.is_empty() {
            return true;
        }
        let Some(token) = token else { return false };
        let mut ok = false;
        for expected in &self.operator_tokens {
            ok |= same(expected, token);
        }
        if let Some(dev) = &self.dev_token {
            ok |= same(dev, token);
        }
        ok
    }

    pub fn reads_open(&self) -> bool {
        self.operator_tokens.is_empty()
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_its_own_terminal() {
        let auth = Auth::new(
            [("T1".to_string(), "secret-one-0123456".to_string())],
            vec![],
            None,
        );
        assert!(auth.terminal("T1", "secret-one-0123456"));
        assert!(!auth.terminal("T2", "secret-one-0123456"));
        assert!(!auth.terminal("T1", "secret-one-012345"));
    }

    #[test]
    fn dev_mode_takes_the_dev_token_for_any_terminal() {
        let auth = Auth::new([], vec![], Some("tradestate-dev".into()));
        assert!(auth.terminal("anything", "tradestate-dev"));
        assert!(!auth.terminal("anything", "nope"));
    }

    #[test]
    fn operator_tokens_gate_reads_when_configured() {
        let auth = Auth::new([], vec!["operator-token-0123".into()], None);
        assert!(auth.operator(Some("operator-token-0123")));
        assert!(!auth.operator(Some("x")));
        assert!(!auth.operator(None));
    }
}
