//! `gateway-bench`: drives a running Tradestate service open-loop at a target rate of updates/s
//! from simulated terminals, over HTTP (`POST /v1/ingest` batches) or RESP (pipelined `HSET`),
//! and reports acknowledgement latency measured from each send's intended time (HDR histogram)
//! with the count of every kind of answer. `--find-max` steps the rate up until p99 exceeds the
//! limit or too many sends are not acknowledged, then bisects, and reports the highest rate that
//! passed. Used by `ops/bench/gateway.sh`; see docs/BENCHMARKS.md.

mod http;
mod payload;
mod resp;
mod run;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use run::Plan;
use stats::RunResult;

/// HTTP or RESP: the contract's label.
pub use tradestate_mt5_bridge::Transport;

/// `--transport http|resp`, listing the contract's names in `--help`.
fn transport_parser() -> impl clap::builder::TypedValueParser<Value = Transport> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Transport::ALL.map(Transport::name))
        .try_map(|name| name.parse::<Transport>())
}

#[derive(Parser, Debug)]
#[command(
    name = "gateway-bench",
    about = "Open-loop load against a running Tradestate service; finds the highest rate it sustains"
)]
struct Args {
    /// http: POST /v1/ingest batches; resp: pipelined HSET after AUTH.
    #[arg(long, value_parser = transport_parser(), default_value = "http")]
    transport: Transport,
    /// Base URL of the service's HTTP listener.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Address of the service's RESP listener.
    #[arg(long, default_value = "127.0.0.1:6390")]
    resp: String,
    /// Terminal token (the dev-mode token by default).
    #[arg(long, default_value = "tradestate-dev")]
    token: String,
    /// Terminal ids are <prefix>-000, <prefix>-001, ...
    #[arg(long, default_value = "bench")]
    id_prefix: String,
    /// Simulated terminals, each on its own connection.
    #[arg(long, default_value_t = 120)]
    terminals: usize,
    /// Target rate in updates per second (all terminals together); the start rate of --find-max.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Measured seconds of each run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds sent before measuring, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds to wait for answers after the last send; what is unanswered then has failed.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Updates per HTTP request: one heartbeat, then position snapshots.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Open positions per terminal.
    #[arg(long, default_value_t = 9)]
    positions: u32,
    /// RESP: mix position snapshots (HSET rts:{id}:<ticket>) into the heartbeats like an HTTP
    /// batch does; off sends heartbeats only.
    #[arg(long)]
    resp_trades: bool,
    /// RESP: commands written in one go at each intended send time (like redis-benchmark -P);
    /// the send rate is divided by it so the update rate stays --rate.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// A run passes when its p99 acknowledgement latency is at most this (ms)...
    #[arg(long, default_value_t = 10.0)]
    p99_ms: f64,
    /// ...and at most this share (%) of its sends were not acknowledged (non-200, errors, unsent).
    #[arg(long, default_value_t = 0.1)]
    max_not_ok_pct: f64,
    /// Step the rate up from --rate until a run fails, then bisect; report the highest pass.
    #[arg(long)]
    find_max: bool,
    /// --find-max: factor between rates while runs pass.
    #[arg(long, default_value_t = 1.5)]
    growth: f64,
    /// --find-max: bisection runs between the last pass and the first failure.
    #[arg(long, default_value_t = 3)]
    bisect: u32,
    /// --find-max: never try above this rate.
    #[arg(long, default_value_t = 2_000_000.0)]
    max_rate: f64,
    /// --find-max: a failed run is repeated this many times before the rate counts as failed
    /// (one stall on a shared machine should not end the search).
    #[arg(long, default_value_t = 1)]
    retries: u32,
    /// Seconds of quiet between runs, so queues drain.
    #[arg(long, default_value_t = 1.0)]
    pause: f64,
    /// Runtime worker threads; 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print a JSON summary on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Serialize)]
struct Summary {
    transport: &'static str,
    terminals: usize,
    batch: usize,
    resp_trades: bool,
    p99_limit_ms: f64,
    max_not_ok_pct: f64,
    /// Highest target rate that passed (`--find-max`), or the single run's rate if it passed.
    max_sustained_updates_per_s: Option<f64>,
    best: Option<RunResult>,
    runs: Vec<RunResult>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = payload::self_check(args.batch) {
        eprintln!("gateway-bench: {e}");
        return ExitCode::FAILURE;
    }
    if args.terminals == 0 || args.batch == 0 || args.seconds <= 0.0 || args.rate <= 0.0 {
        eprintln!("gateway-bench: --terminals, --batch, --seconds and --rate must be above 0");
        return ExitCode::from(2);
    }
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gateway-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(drive(&args)) {
        Ok(summary) => {
            if args.json {
                match serde_json::to_string(&summary) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("gateway-bench: cannot print the summary: {e}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gateway-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn drive(args: &Args) -> Result<Summary, String> {
    let plan = Arc::new(Plan {
        transport: args.transport,
        url: args.url.clone(),
        resp_addr: args.resp.clone(),
        token: args.token.clone(),
        id_prefix: args.id_prefix.clone(),
        terminals: args.terminals,
        batch: args.batch,
        positions: args.positions,
        resp_trades: args.resp_trades,
        pipeline: args.pipeline.max(1),
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        seconds: Duration::from_secs_f64(args.seconds),
        drain: Duration::from_secs_f64(args.drain.max(0.1)),
        p99_limit_ms: args.p99_ms,
        max_not_ok_pct: args.max_not_ok_pct,
        progress: !args.quiet,
    });
    table(args.json, RunResult::HEADER);
    let mut runs: Vec<RunResult> = Vec::new();
    let mut best: Option<f64> = None;
    if args.find_max {
        let mut rate = args.rate;
        let mut failed_at: Option<f64> = None;
        // Up while runs pass.
        loop {
            if attempt(args, plan.clone(), rate, &mut runs).await? {
                best = Some(rate);
                let next = rate * args.growth.max(1.05);
                if next > args.max_rate {
                    break;
                }
                rate = next;
            } else {
                failed_at = Some(rate);
                break;
            }
        }
        // The start rate failed: halve until one passes.
        while best.is_none() {
            let Some(failed) = failed_at else { break };
            let lower = failed / 2.0;
            if lower < 100.0 {
                break;
            }
            if attempt(args, plan.clone(), lower, &mut runs).await? {
                best = Some(lower);
            } else {
                failed_at = Some(lower);
            }
        }
        // Between the last pass and the first failure.
        if let (Some(mut low), Some(mut high)) = (best, failed_at) {
            for _ in 0..args.bisect {
                if (high - low) / low < 0.05 {
                    break;
                }
                let mid = ((low + high) / 2.0).round();
                if attempt(args, plan.clone(), mid, &mut runs).await? {
                    low = mid;
                    best = Some(mid);
                } else {
                    high = mid;
                }
            }
        }
    } else if attempt(args, plan.clone(), args.rate, &mut runs).await? {
        best = Some(args.rate);
    }

    let best_run = best.and_then(|rate| {
        runs.iter()
            .rev()
            .find(|r| r.pass && r.target_updates_per_s == rate)
            .cloned()
    });
    match &best_run {
        Some(run) => table(
            args.json,
            &format!(
                "max sustained ({}): {:.0} updates/s (acked {:.0}/s, p99 {:.2} ms, {:.3}% not ok)",
                run.transport,
                run.target_updates_per_s,
                run.acked_updates_per_s,
                run.p99_ms,
                run.not_ok_pct
            ),
        ),
        None => table(args.json, "max sustained: no rate passed"),
    }
    Ok(Summary {
        transport: args.transport.name(),
        terminals: args.terminals,
        batch: plan.updates_per_send(),
        resp_trades: args.resp_trades,
        p99_limit_ms: args.p99_ms,
        max_not_ok_pct: args.max_not_ok_pct,
        max_sustained_updates_per_s: best,
        best: best_run,
        runs,
    })
}

/// One run at `rate` (after a pause if it is not the first), printed and kept in `runs`;
/// with --find-max a failure is retried --retries times and the rate passes if any run does.
async fn attempt(
    args: &Args,
    plan: Arc<Plan>,
    rate: f64,
    runs: &mut Vec<RunResult>,
) -> Result<bool, String> {
    let tries = if args.find_max { 1 + args.retries } else { 1 };
    for _ in 0..tries {
        if !runs.is_empty() {
            tokio::time::sleep(Duration::from_secs_f64(args.pause.max(0.0))).await;
        }
        let result = run::run(plan.clone(), rate).await?;
        table(args.json, &result.row());
        if let (false, Some(problem)) = (result.pass, &result.first_problem) {
            table(args.json, &format!("          first problem: {problem}"));
        }
        let pass = result.pass;
        runs.push(result);
        if pass {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A table line: on stdout, or on stderr when stdout carries the JSON summary.
fn table(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}
