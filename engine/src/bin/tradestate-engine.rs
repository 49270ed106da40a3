//! `tradestate-engine`: the engine as a standalone Redis-compatible server.
//!
//! Usage mirrors redis-server: `tradestate-engine [/path/to/redis.conf] [--name value ...]`,
//! where flags override the file (`--port 7000 --save "" --appendonly no`).

use std::process::ExitCode;

use tradestate_engine::Config;

const USAGE: &str = "Usage: tradestate-engine [/path/to/redis.conf] [--name value ...]
       tradestate-engine --version
       tradestate-engine --help

Examples:
       tradestate-engine (run with defaults: port 6379)
       tradestate-engine /etc/redis/6379.conf
       tradestate-engine --port 7777 --bind 127.0.0.1
       tradestate-engine --unixsocket /tmp/engine.sock --databases 32";

/// Turns the command line into redis.conf text: the file first, then `--name value...` flags.
fn config_from_args(args: &[String]) -> Result<(Config, String), String> {
    let mut config = Config::default();
    let mut rest = args;
    let mut file = String::new();
    if let Some(first) = rest.first() {
        if !first.starts_with("--") {
            file = std::fs::canonicalize(first)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| first.clone());
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("cannot read config file {first}: {e}"))?;
            config.load_text(&text, first).map_err(|e| e.0)?;
            rest = &rest[1..];
        }
    }
    let mut lines = Vec::new();
    for arg in rest {
        if let Some(name) = arg.strip_prefix("--") {
            lines.push(vec![name.to_string()]);
        } else if let Some(line) = lines.last_mut() {
            line.push(arg.clone());
        } else {
            return Err(format!(
                "unexpected argument '{arg}': options look like --name value"
            ));
        }
    }
    let text: String = lines
        .iter()
        .map(|words| {
            let mut line = words[0].clone();
            for v in &words[1..] {
                // Quote values so empty strings (--save "") and spaces survive re-parsing.
                line.push_str(&format!(
                    " \"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            if words.len() == 1 {
                line.push_str(" \"\"");
            }
            line + "\n"
        })
        .collect();
    config.load_text(&text, "command line").map_err(|e| e.0)?;
    config.config_file = file.clone();
    Ok((config, file))
}

/// The tracing filter for a Redis `loglevel`.
fn filter_for(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "warning" => "warn",
        // notice and verbose
        _ => "info",
    }
}

/// Logs to `logfile` (appending) when set, else to standard output; `CONFIG SET loglevel`
/// changes the filter at runtime.
fn init_logging(config: &Config) -> Result<(), String> {
    use tracing_subscriber::{layer::SubscriberExt, reload, util::SubscriberInitExt, EnvFilter};
    let level = filter_for(config.get("loglevel").unwrap_or("notice"));
    let from_env = std::env::var("RUST_LOG").is_ok();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (filter, handle) = reload::Layer::new(filter);
    let logfile = config.get("logfile").unwrap_or("").to_string();
    let registry = tracing_subscriber::registry().with(filter);
    if logfile.is_empty() {
        registry.with(tracing_subscriber::fmt::layer()).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
            .map_err(|e| format!("Can't open the log file: {e}"))?;
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file)),
            )
            .init();
    }
    if !from_env {
        tradestate_engine::config::set_log_level_hook(Box::new(move |level| {
            let _ = handle.reload(EnvFilter::new(filter_for(level)));
        }));
    }
    Ok(())
}

/// Writes the process id to `pidfile` when set; removed again at exit.
struct PidFile(String);

impl PidFile {
    fn create(config: &Config) -> Result<PidFile, String> {
        let path = config.get("pidfile").unwrap_or("").to_string();
        if !path.is_empty() {
            std::fs::write(&path, format!("{}\n", std::process::id()))
                .map_err(|e| format!("cannot write pidfile {path}: {e}"))?;
        }
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "tradestate-engine v={} (redis-compatible {})",
            env!("CARGO_PKG_VERSION"),
            tradestate_engine::commands::server::REDIS_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let (config, _file) = match config_from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tradestate-engine: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("tradestate-engine: {e}");
        return ExitCode::FAILURE;
    }
    let _pidfile = match PidFile::create(&config) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot build signal runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Signal handlers go in before the engine accepts anyone: a SIGTERM sent as soon as the
    // port answers must stop it cleanly, not kill it.
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let _runtime = rt.enter();
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => None,
        }
    };
    let engine = match tradestate_engine::start("tradestate-engine", config) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addrs = ?engine.addrs, "tradestate-engine started; SIGTERM or Ctrl-C stops it");
    let stopped = engine.stopped();
    rt.block_on(async {
        match signals {
            Some((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
                    _ = int.recv() => tracing::info!("received SIGINT, shutting down"),
                    _ = stopped => tracing::info!("engine stopped (SHUTDOWN)"),
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stopped => {}
                }
            }
        }
    });
    engine.shutdown();
    tracing::info!("tradestate-engine stopped");
    ExitCode::SUCCESS
}
