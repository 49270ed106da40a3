//! A whole run: builds the terminals, plays one fixed-rate phase or a ramp of steps, drains the
//! resends, shows progress, waits for the service's spill log to empty, reads everything back and
//! assembles the report.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::link::{Endpoint, Link};
use crate::model::{Identity, Profile, Terminal};
use crate::report::Report;
use crate::spill::wait_for_spill;
use crate::stats::{Percentiles, SharedStats, Transport};
use crate::terminal::{Phase, SimTerminal};
use crate::verify::{verify, Targets, Verification};

/// How terminals prove who they are.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// One token for every terminal (the service's development mode accepts `tradestate-dev`).
    Shared { id_prefix: String, token: String },
    /// One `(instance_id, token)` per terminal, as provisioned in the service's tokens file.
    PerTerminal(Vec<(String, String)>),
}

/// Steps up the rate until the p99 bound or the resend share is broken.
#[derive(Debug, Clone)]
pub struct Ramp {
    pub start_rate: f64,
    pub factor: f64,
    pub step: Duration,
    pub max_steps: usize,
    pub p99_ms: f64,
    /// Most resends (throttled + unavailable + failed) per update sent, in percent.
    pub max_resend_pct: f64,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The gateways: one, or several behind a load balancer's split (terminal N starts on
    /// gateway N mod count).
    pub endpoints: Vec<Endpoint>,
    pub credentials: Credentials,
    pub terminals: usize,
    /// Share of terminals on RESP (0: all HTTP, 1: all RESP).
    pub resp_share: f64,
    /// Updates per second across all terminals; `None`: the profile's own activity.
    pub rate: Option<f64>,
    pub duration: Duration,
    pub ramp: Option<Ramp>,
    pub seed: u64,
    pub profile: Profile,
    pub batch_max: usize,
    /// Every terminal reconnects and re-sends its full state this far into the run.
    pub storm_at: Option<Duration>,
    /// After the last due send, resends go on this long.
    pub drain: Duration,
    /// Before the read-back, wait at most this long for the service to write what it spooled
    /// (`GET /readyz` reporting an empty spill log).
    pub drain_timeout: Duration,
    /// Spans of the run whose latency is also reported on their own (`Report::windows`).
    pub windows: Vec<(Duration, Duration)>,
    /// Where to read back; `None` skips the verification.
    pub verify: Option<Targets>,
    pub progress: bool,
}

pub async fn run(options: &Options) -> Result<Report, String> {
    let terminals = build_terminals(options)?;
    let started = Instant::now() + Duration::from_millis(200);
    let stats = SharedStats::new(started);
    let progress = options
        .progress
        .then(|| spawn_progress(stats.clone(), started));
    let (terminals, sustainable) = match &options.ramp {
        None => {
            let rate = options.rate;
            let terminals = play_phase(
                terminals,
                options,
                &stats,
                started,
                rate,
                Duration::ZERO,
                options.duration,
                true,
            )
            .await;
            (terminals, None)
        }
        Some(ramp) => play_ramp(terminals, options, ramp, &stats, started).await,
    };
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprint!("\r{:>110}\r", "");
        }
    }
    // Spooled updates reach the partitions only as the service drains its spill log: reading
    // before that would count them as lost. Without a read-back there is nothing to wait for.
    let spill_drain = match &options.verify {
        Some(_) => {
            // Each gateway keeps its own spill: the first one not drained is what counts.
            let mut drain = None;
            for endpoint in &options.endpoints {
                let this =
                    wait_for_spill(&endpoint.http_url, options.drain_timeout, options.progress)
                        .await;
                let drained = this.drained;
                drain = Some(this);
                if !drained {
                    break;
                }
            }
            drain
        }
        None => None,
    };
    let verification = match &options.verify {
        Some(targets) => {
            if options.progress {
                eprintln!(
                    "verifying: reading back {} terminals' keys and the signal stream",
                    terminals.len()
                );
            }
            let ledgers: Vec<(&str, &crate::ledger::Ledger)> = terminals
                .iter()
                .map(|t| (t.model.id.as_str(), &t.ledger))
                .collect();
            Some(verify(&ledgers, targets).await?)
        }
        None => None,
    };
    let acked_by_ledgers: u64 = terminals.iter().map(|t| t.ledger.acked_count()).sum();
    let stats = stats.lock();
    Ok(Report::build(
        options,
        &stats,
        sustainable,
        spill_drain,
        verification,
        acked_by_ledgers,
    ))
}

fn build_terminals(options: &Options) -> Result<Vec<SimTerminal>, String> {
    if options.terminals == 0 {
        return Err("--terminals must be at least 1".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?;
    let ids: Vec<(String, String)> = match &options.credentials {
        Credentials::Shared { id_prefix, token } => (0..options.terminals)
            .map(|i| (format!("{id_prefix}-{i:05}"), token.clone()))
            .collect(),
        Credentials::PerTerminal(list) => {
            if list.len() < options.terminals {
                return Err(format!(
                    "the tokens file has {} terminals but --terminals is {}; provision more or ask for fewer",
                    list.len(),
                    options.terminals
                ));
            }
            list[..options.terminals].to_vec()
        }
    };
    let identity = Identity {
        id_prefix: String::new(),
        seed: options.seed,
        // Above every seq an earlier run stored for the same ids: microseconds since 1970.
        seq_base: now.as_micros() as u64,
        start_unix_ms: now.as_millis() as i64,
        run_tag: format!("r{}", now.as_millis()),
    };
    let mut profile = options.profile.clone();
    if let Some(rate) = options.rate.or(options.ramp.as_ref().map(|r| r.start_rate)) {
        profile.aim_at(rate, options.terminals);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.terminals)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let resp_terminals =
        (options.resp_share.clamp(0.0, 1.0) * options.terminals as f64).round() as usize;
    let mut terminals = Vec::with_capacity(options.terminals);
    for (index, (id, token)) in ids.into_iter().enumerate() {
        let mut model = Terminal::new(index, &identity, &profile);
        model.id = id;
        model.storm_at(options.storm_at);
        // RESP terminals are spread evenly among HTTP ones.
        let on_resp = (index + 1) * resp_terminals / options.terminals
            > index * resp_terminals / options.terminals;
        let transport = if on_resp {
            Transport::Resp
        } else {
            Transport::Http
        };
        let link = Link::over(
            transport,
            &options.endpoints,
            index,
            &http,
            &model.id,
            &token,
        );
        terminals.push(SimTerminal::new(
            model,
            link,
            options.seed.wrapping_add(index as u64),
        ));
    }
    Ok(terminals)
}

#[allow(clippy::too_many_arguments)]
async fn play_phase(
    terminals: Vec<SimTerminal>,
    options: &Options,
    stats: &SharedStats,
    started: Instant,
    rate: Option<f64>,
    from: Duration,
    until: Duration,
    last: bool,
) -> Vec<SimTerminal> {
    let mut profile = options.profile.clone();
    if let Some(rate) = rate {
        profile.aim_at(rate, options.terminals);
    }
    let nominal = rate.unwrap_or(
        (profile.base_rate_per_terminal()
            + profile.activity_per_s * profile.updates_per_activity())
            * options.terminals as f64,
    );
    stats.lock().begin_step(nominal, from, until);
    let phase = Arc::new(Phase {
        profile: Arc::new(profile),
        start: started,
        until: started + until,
        deadline: last.then(|| started + until + options.drain),
        batch_max: options.batch_max,
        stats: stats.clone(),
    });
    let tasks: Vec<_> = terminals
        .into_iter()
        .map(|t| tokio::spawn(t.play(phase.clone())))
        .collect();
    let mut back = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(terminal) => back.push(terminal),
            Err(e) => stats
                .lock()
                .problem(|| format!("a terminal task failed: {e}")),
        }
    }
    back
}

/// The outcome of a ramp: the highest step that held the bounds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sustainable {
    pub rate: f64,
    pub achieved_updates_per_s: f64,
    pub p99_ms: f64,
    pub p99_bound_ms: f64,
}

async fn play_ramp(
    mut terminals: Vec<SimTerminal>,
    options: &Options,
    ramp: &Ramp,
    stats: &SharedStats,
    started: Instant,
) -> (Vec<SimTerminal>, Option<Sustainable>) {
    let mut rate = ramp.start_rate;
    let mut best: Option<Sustainable> = None;
    for step in 0..ramp.max_steps.max(1) {
        let from = ramp.step * step as u32;
        let until = from + ramp.step;
        let last = step + 1 == ramp.max_steps.max(1);
        terminals = play_phase(
            terminals,
            options,
            stats,
            started,
            Some(rate),
            from,
            until,
            last,
        )
        .await;
        let verdict = judge_step(stats, ramp);
        if options.progress {
            eprintln!(
                "\rramp step {}: {:.0} updates/s asked, {:.0} acknowledged/s, p99 {:.1} ms, resends {:.2}% -> {}{:>30}",
                step + 1,
                rate,
                verdict.achieved,
                verdict.p99_ms,
                verdict.resend_pct,
                if verdict.passed { "held" } else { "broke" },
                ""
            );
        }
        if !verdict.passed {
            // The broken step's backlog still drains so that the read-back sees it settled.
            if !last {
                terminals = play_phase(
                    terminals,
                    options,
                    stats,
                    started,
                    Some(0.0),
                    until,
                    until,
                    true,
                )
                .await;
            }
            break;
        }
        best = Some(Sustainable {
            rate,
            achieved_updates_per_s: verdict.achieved,
            p99_ms: verdict.p99_ms,
            p99_bound_ms: ramp.p99_ms,
        });
        rate *= ramp.factor;
    }
    (terminals, best)
}

struct Verdict {
    passed: bool,
    achieved: f64,
    p99_ms: f64,
    resend_pct: f64,
}

fn judge_step(stats: &SharedStats, ramp: &Ramp) -> Verdict {
    let stats = stats.lock();
    let Some(step) = stats.steps.last() else {
        return Verdict {
            passed: false,
            achieved: 0.0,
            p99_ms: 0.0,
            resend_pct: 0.0,
        };
    };
    let p = Percentiles::of(&step.latency_us);
    let seconds = (step.until - step.from).as_secs_f64().max(0.001);
    let resend_pct = step.retries.total() as f64 * 100.0 / step.sent.max(1) as f64;
    let all_answered = step.acked + step.retries.refused + step.superseded >= step.sent;
    Verdict {
        passed: p.p99_ms <= ramp.p99_ms
            && resend_pct <= ramp.max_resend_pct
            && step.retries.refused == 0
            && all_answered,
        achieved: step.acked as f64 / seconds,
        p99_ms: p.p99_ms,
        resend_pct,
    }
}

fn spawn_progress(stats: SharedStats, started: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval_at(
            (started + Duration::from_secs(1)).into(),
            Duration::from_secs(1),
        );
        loop {
            tick.tick().await;
            let line = {
                let s = stats.lock();
                let second = s.started.elapsed().as_secs().saturating_sub(1) as usize;
                let last = s.timeline.get(second);
                let p = last
                    .map(|l| Percentiles::of(&l.latency_us))
                    .unwrap_or_default();
                format!(
                    "[{:>4}s] acked {:>9} ({:>7}/s)  p99 {:>7.1} ms  max {:>7.1} ms  resends {:>6}  unanswered {}",
                    second + 1,
                    s.acked(),
                    last.map(|l| l.acked).unwrap_or(0),
                    p.p99_ms,
                    p.max_ms,
                    s.retries.total(),
                    s.unanswered
                )
            };
            if tty {
                eprint!("\r{line}   ");
            } else if started.elapsed().as_secs().is_multiple_of(5) {
                eprintln!("{line}");
            }
        }
    })
}

/// The verification, or why there is none.
pub fn verification_failed(v: &Option<Verification>) -> bool {
    v.as_ref().is_some_and(|v| !v.passed())
}
