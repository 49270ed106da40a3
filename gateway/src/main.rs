//! `tradestate`: the service. Loads the config (embedded defaults, `--config FILE`,
//! `TRADESTATE_*` environment), starts the embedded engines and the gateway, and runs until
//! SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tradestate_gateway::service::Service;

#[derive(Parser)]
#[command(
    name = "tradestate",
    version,
    about = "Live state of an MT5 terminal fleet: gateway + embedded engines"
)]
struct Args {
    /// TOML config file (see config/tradestate.example.toml); defaults apply to anything unset.
    #[arg(long, env = "TRADESTATE_CONFIG")]
    config: Option<PathBuf>,
    /// Load and validate the config, print it, and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let filter = std::env::var("TRADESTATE_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args = Args::parse();
    let config = match tradestate_config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    // One worker per core this process may run on (tokio's default follows the CPU affinity
    // mask, so `taskset -c 0` gets one): more only adds context switches with the engines.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let service = match Service::start(config).await {
            Ok(service) => service,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            http = %service.http_addr,
            resp = ?service.resp_addr,
            "tradestate ready: dashboard and API on http://{}",
            service.http_addr
        );
        wait_for_signal().await;
        tracing::info!("shutting down");
        service.stop().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
