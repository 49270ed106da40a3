//! Tradestate's configuration (DESIGN 7): one `tradestate.toml` with embedded defaults, so the
//! service starts with nothing configured, `TRADESTATE_*` environment overrides, and validation
//! errors that name the key and the fix.
//!
//! Today it holds the one thing the service already uses: where each partition's embedded engine
//! listens. The full TOML model (listeners, tokens, backends, TTLs, quotas) arrives with the
//! service issue.

/// The three partitions of DESIGN 5.2, each an engine of its own.
pub const PARTITIONS: [&str; 3] = ["ris", "rts", "rtss"];

/// Loopback port of a partition's embedded engine when nothing else is configured.
pub fn default_engine_port(partition: &str) -> Option<u16> {
    PARTITIONS
        .iter()
        .position(|p| *p == partition)
        .map(|i| 6380 + i as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_own_port() {
        let ports: Vec<_> = PARTITIONS
            .iter()
            .filter_map(|p| default_engine_port(p))
            .collect();
        assert_eq!(ports, vec![6380, 6381, 6382]);
        assert_eq!(default_engine_port("nope"), None);
    }
}
