//! `tradestate`: the service. Today it starts the three embedded engines of DESIGN 2 (ris, rts,
//! rtss), each on its own thread and loopback port, ready for Redis clients; the terminal-facing
//! gateway (HTTP, RESP auth, routing, backpressure) is built on top of them by the service issue.

use std::process::ExitCode;

use tradestate_config::{default_engine_port, PARTITIONS};
use tradestate_engine::Config;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut engines = Vec::new();
    for partition in PARTITIONS {
        let mut config = Config::default();
        let port = default_engine_port(partition).unwrap_or(0);
        let settings = [
            ("bind", "127.0.0.1".to_string()),
            ("port", port.to_string()),
        ];
        for (name, value) in settings {
            if let Err(e) = config.set(name, &value, false) {
                tracing::error!("config: partitions.{partition}.{name}: {e}");
                return ExitCode::from(2);
            }
        }
        match tradestate_engine::start(partition, config) {
            Ok(engine) => {
                tracing::info!(partition, addr = %engine.addr(), "embedded engine listening");
                engines.push(engine);
            }
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot build runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    tracing::info!("shutting down");
    for engine in engines {
        engine.shutdown();
    }
    ExitCode::SUCCESS
}
