//! `loadgen`: simulated MT5 terminals against a running Tradestate service, then a read-back of
//! every partition. Exit status 0: everything acknowledged was verified; 1: loss, duplicates,
//! stale overwrites, refusals or unanswered updates; 2: the run could not be made.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tradestate_loadgen::{run, Credentials, Endpoint, Options, Profile, Ramp, RestartSeq, Targets};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    Http,
    Resp,
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RestartSeqArg {
    /// Far below the run's numbering, as an EA reinstalled with its files lost and a clock
    /// behind: only the recovery from `stale` answers gets its updates stored.
    Zero,
    /// CLIENT.md's clock floor, max(seq base, unix seconds * 1e6).
    Clock,
}

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Simulated MetaTrader 5 terminals: open-loop load over HTTP and RESP, then proof that nothing acknowledged was lost",
    after_help = "Examples:\n  loadgen --terminals 120 --duration 60s\n  loadgen --terminals 1000 --transport mixed --rate 20000 --duration 60s --chart run.html\n  loadgen --terminals 1000 --ramp --ramp-start 5000 --p99-ms 50 --report ramp.json"
)]
struct Args {
    /// Base URL of the service's HTTP API. Several, comma-separated (with as many --resp), for
    /// gateways sharing one set of backends: terminal N starts on gateway N mod count and moves
    /// to the next one when a connection fails or it reconnects.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    /// Address of the service's RESP listener (comma-separated, one per --http gateway).
    #[arg(long, default_value = "127.0.0.1:6390")]
    resp: String,
    /// Token every terminal sends (the service's development mode accepts "tradestate-dev").
    #[arg(long, env = "LOADGEN_TOKEN", default_value = "tradestate-dev")]
    token: String,
    /// A file of "instance_id token" lines (the service's auth.tokens_file): terminal N uses line N.
    #[arg(long)]
    tokens_file: Option<PathBuf>,
    /// Terminal ids are <prefix>-00000, <prefix>-00001, ... (with a shared token).
    #[arg(long, default_value = "lg")]
    id_prefix: String,
    #[arg(long, default_value_t = 120)]
    terminals: usize,
    #[arg(long, value_enum, default_value_t = TransportArg::Http)]
    transport: TransportArg,
    /// With --transport mixed: the share of terminals on RESP.
    #[arg(long, default_value_t = 0.5)]
    resp_share: f64,
    /// Updates per second across all terminals (default: each terminal's natural activity,
    /// about 0.7 updates/s).
    #[arg(long)]
    rate: Option<f64>,
    /// How long terminals send, e.g. 60s, 2m, 500ms.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Step the rate up from --ramp-start until p99 exceeds --p99-ms or resends exceed
    /// --max-resend-pct; report the highest step that held.
    #[arg(long)]
    ramp: bool,
    #[arg(long, default_value_t = 2000.0)]
    ramp_start: f64,
    #[arg(long, default_value_t = 1.5)]
    ramp_factor: f64,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    step: Duration,
    #[arg(long, default_value_t = 12)]
    max_steps: usize,
    #[arg(long, default_value_t = 100.0)]
    p99_ms: f64,
    #[arg(long, default_value_t = 1.0)]
    max_resend_pct: f64,
    /// Seed of every terminal's behaviour: one seed, one schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Heartbeat period range in seconds, drawn per terminal ("1-30").
    #[arg(long, default_value = "1-30", value_parser = parse_range)]
    heartbeat: (f64, f64),
    /// Every open position is re-sent this often.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    snapshot_every: Duration,
    /// Mean time between reconnects of one terminal ("0s": never).
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    reconnect_every: Duration,
    /// Mean time between restarts of one terminal with a reset seq ("0s": never): the
    /// connection drops, queued updates stay queued with their numbers, new ones are numbered
    /// from --restart-seq, and the full state is re-sent.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    restart_every: Duration,
    /// Where a restart's numbering starts.
    #[arg(long, value_enum, default_value_t = RestartSeqArg::Clock)]
    restart_seq: RestartSeqArg,
    /// Share of activity that is signal bursts rather than trade changes.
    #[arg(long, default_value_t = 0.2)]
    signal_share: f64,
    /// Terminals attach (first full state) spread over this span ("0s": all at once).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    attach_over: Duration,
    /// Most updates in one HTTP batch or RESP pipeline.
    #[arg(long, default_value_t = 100)]
    batch_max: usize,
    /// Reconnect storm: at this point every terminal reconnects and re-sends its full state.
    #[arg(long, value_parser = parse_duration)]
    storm_at: Option<Duration>,
    /// After the last due send, resends go on at most this long.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    drain: Duration,
    /// Before the read-back, wait at most this long for the service to empty its spill log
    /// (polls GET /readyz); when it does not, the read-back runs anyway and reports the losses.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Also report latency over this span of the run, by acknowledgement time, in whole seconds:
    /// `FROM,UNTIL` (e.g. `45s,75s`, while a partition is out); may be given more than once.
    #[arg(long, value_parser = parse_window)]
    window: Vec<(Duration, Duration)>,
    /// The partitions, read directly for the verification: any backend URL the service takes
    /// (`redis://`, `rediss://`, `unix://`, `redis+sentinel://s1,s2/<master>`,
    /// `rediss+sentinel://...`).
    #[arg(long, default_value = "redis://127.0.0.1:6380")]
    ris_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6381")]
    rts_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6382")]
    rtss_url: String,
    /// The partitions' password, for URLs that carry none: the service's
    /// `<data_dir>/engine-password` when it runs embedded engines with tokens configured.
    #[arg(long)]
    engine_password_file: Option<std::path::PathBuf>,
    /// For the partition URLs that use TLS, as the service's `tls_ca_file`: the CA bundle
    /// (PEM) their servers' certificates chain to; without it, the system's roots.
    #[arg(long)]
    tls_ca_file: Option<std::path::PathBuf>,
    /// A client certificate (PEM) and its key for those partitions, as `tls_cert_file` and
    /// `tls_key_file`: both or neither.
    #[arg(long)]
    tls_cert_file: Option<std::path::PathBuf>,
    #[arg(long)]
    tls_key_file: Option<std::path::PathBuf>,
    /// The service's policy: signal stream, its MAXLEN, TTLs.
    #[arg(long, default_value = tradestate_mt5_bridge::keys::SIGNAL_STREAM)]
    stream: String,
    #[arg(long, default_value_t = 10_000)]
    maxlen: u64,
    #[arg(long, default_value_t = 2_592_000)]
    closed_ttl_s: u64,
    #[arg(long, default_value_t = 120)]
    ris_ttl_s: u64,
    /// Skip the read-back (for services whose partitions loadgen cannot reach).
    #[arg(long)]
    no_verify: bool,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the chart (self-contained HTML) here.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn parse_window(text: &str) -> Result<(Duration, Duration), String> {
    let (from, until) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?} is not a window; write FROM,UNTIL, e.g. 45s,75s"))?;
    let (from, until) = (parse_duration(from)?, parse_duration(until)?);
    if until <= from {
        return Err(format!("window {text:?} ends before it starts"));
    }
    Ok((from, until))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write e.g. 60s, 2m, 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use ms, s, m or h"
            ))
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let lo: f64 = lo
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: write e.g. 1-30"))?;
    let hi: f64 = hi
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: write e.g. 1-30"))?;
    if lo <= 0.0 || hi < lo {
        return Err(format!("{text:?}: the range must be positive and low-high"));
    }
    Ok((lo, hi))
}

fn read_tokens(path: &PathBuf) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--tokens-file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(id), Some(token), None) => out.push((id.to_string(), token.to_string())),
            _ => {
                return Err(format!(
                    "--tokens-file {}:{}: expected \"instance_id token\"",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(out)
}

/// The certificates `--tls-*-file` name, read once; an error when none of the partition URLs
/// uses TLS (they would go unused).
fn verify_tls(args: &Args) -> Result<Option<tradestate_backend::Tls>, String> {
    use tradestate_backend::tls::{Tls, TlsFile, TlsFiles};
    let files = TlsFiles {
        ca_file: args.tls_ca_file.clone(),
        cert_file: args.tls_cert_file.clone(),
        key_file: args.tls_key_file.clone(),
    };
    if files.is_empty() {
        return Ok(None);
    }
    let urls = [&args.ris_url, &args.rts_url, &args.rtss_url];
    if !urls
        .iter()
        .any(|url| tradestate_backend::parse(url).is_ok_and(|a| a.uses_tls()))
    {
        return Err(
            "--tls-ca-file/--tls-cert-file/--tls-key-file are given, but no partition URL uses \
             TLS; write rediss:// (or rediss+sentinel://) in --ris-url/--rts-url/--rtss-url, or \
             leave them out"
                .into(),
        );
    }
    Tls::load(&files).map(Some).map_err(|e| {
        let flag = match e.file {
            TlsFile::Ca => "--tls-ca-file",
            TlsFile::Cert => "--tls-cert-file",
            TlsFile::Key => "--tls-key-file",
        };
        format!("{flag}: {e}")
    })
}

fn options(args: &Args) -> Result<Options, String> {
    let password = match &args.engine_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--engine-password-file {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let tls = verify_tls(args)?;
    let credentials = match &args.tokens_file {
        Some(path) => Credentials::PerTerminal(read_tokens(path)?),
        None => Credentials::Shared {
            id_prefix: args.id_prefix.clone(),
            token: args.token.clone(),
        },
    };
    let resp_share = match args.transport {
        TransportArg::Http => 0.0,
        TransportArg::Resp => 1.0,
        TransportArg::Mixed => args.resp_share.clamp(0.0, 1.0),
    };
    let profile = Profile {
        heartbeat_s: args.heartbeat,
        snapshot_every: args.snapshot_every,
        signal_share: args.signal_share.clamp(0.0, 1.0),
        reconnect_every: (!args.reconnect_every.is_zero()).then_some(args.reconnect_every),
        restart_every: (!args.restart_every.is_zero()).then_some(args.restart_every),
        restart_seq: match args.restart_seq {
            RestartSeqArg::Zero => RestartSeq::Zero,
            RestartSeqArg::Clock => RestartSeq::Clock,
        },
        attach_over: args.attach_over,
        ..Profile::default()
    };
    let ramp = args.ramp.then(|| Ramp {
        start_rate: args.ramp_start,
        factor: args.ramp_factor.max(1.01),
        step: args.step,
        max_steps: args.max_steps,
        p99_ms: args.p99_ms,
        max_resend_pct: args.max_resend_pct,
    });
    let https: Vec<&str> = args.http.split(',').map(str::trim).collect();
    let resps: Vec<&str> = args.resp.split(',').map(str::trim).collect();
    if https.len() != resps.len() {
        return Err(format!(
            "--http names {} gateways and --resp {}: give each gateway both, in the same order",
            https.len(),
            resps.len()
        ));
    }
    let endpoints = https
        .iter()
        .zip(&resps)
        .map(|(http, resp)| Endpoint {
            http_url: http.to_string(),
            resp_addr: resp.to_string(),
            stream: args.stream.clone(),
        })
        .collect();
    Ok(Options {
        endpoints,
        credentials,
        terminals: args.terminals,
        resp_share,
        rate: args.rate,
        duration: args.duration,
        ramp,
        seed: args.seed,
        profile,
        batch_max: args.batch_max,
        storm_at: args.storm_at,
        drain: args.drain,
        drain_timeout: args.drain_timeout,
        windows: args.window.clone(),
        verify: (!args.no_verify).then(|| Targets {
            ris_url: args.ris_url.clone(),
            rts_url: args.rts_url.clone(),
            rtss_url: args.rtss_url.clone(),
            password: password.clone(),
            tls: tls.clone(),
            stream: args.stream.clone(),
            maxlen: args.maxlen,
            closed_ttl_s: args.closed_ttl_s,
            ris_ttl_s: args.ris_ttl_s,
        }),
        progress: !args.quiet,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = match options(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(run(&options)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.table());
    if let Some(path) = &args.report {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("loadgen: --report {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(path) = &args.chart {
        if let Err(e) = std::fs::write(path, report.chart_html()) {
            eprintln!("loadgen: --chart {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ranges_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_range("1-30"), Ok((1.0, 30.0)));
        assert!(parse_range("30-1").is_err());
    }
}
