//! Tradestate's configuration: one `tradestate.toml` with embedded defaults, so the
//! service starts with nothing configured, `TRADESTATE_*` environment overrides, and validation
//! errors that name the key and the fix.
//!
//! - `model`: the typed settings and their defaults; `tradestate.example.toml` is the same
//!   defaults as a documented file, embedded and used as the base layer.
//! - `keys`: the known keys and their `TRADESTATE_*` names, derived from that file.
//! - `load`: defaults <- file <- environment, with the origin of every value.
//! - `validate`: relations and ranges; `tokens`: terminal credentials and development mode.
//! - `error`: [`ConfigError`].

mod error;
mod keys;
mod load;
mod model;
mod tokens;
mod validate;

pub use error::ConfigError;
pub use keys::{ENV_PREFIX, RESERVED_ENV};
pub use load::{load, load_from, CONFIG_PATH_ENV, DEFAULTS_TOML};
pub use model::{
    Ack, Auth, Backend, Config, Limits, Listen, Partition, Partitions, Policy, Spill, TerminalToken,
};
pub use tokens::{check_instance_id, check_token, DEV_TOKEN, MAX_INSTANCE_ID_LEN, MIN_TOKEN_LEN};

/// The three partitions, each an engine of its own (docs/ARCHITECTURE.md, Key layout and
/// policies). Named once, by the terminal contract (`tradestate_mt5_bridge::keys`): the config
/// depends on the contract, never the other way, so the contract stays free of the service's
/// settings and there is no cycle.
pub use tradestate_mt5_bridge::PARTITIONS;

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
