//! What a run tells its operator: the final table, the JSON report, and a self-contained HTML
//! chart (inline SVG, no scripts) of acknowledged updates/s and latency over time.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::model::Kind;
use crate::run::{Options, Sustainable};
use crate::spill::SpillDrain;
use crate::stats::{Percentiles, Retries, Stats, Transport};
use crate::verify::Verification;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: &'static str,
    pub transport: &'static str,
    pub acked: u64,
    pub stored: u64,
    pub coalesced: u64,
    pub duplicate: u64,
    pub stale: u64,
    pub spooled: u64,
    pub volatile: u64,
    pub per_second: f64,
    pub latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub rate: f64,
    pub from_s: f64,
    pub until_s: f64,
    pub sent: u64,
    pub acked: u64,
    pub acked_per_second: f64,
    pub retries: Retries,
    pub latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub second: usize,
    pub acked: u64,
    pub resends: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub terminals: usize,
    pub resp_terminals_share: f64,
    pub seed: u64,
    pub duration_s: f64,
    pub rate_asked: Option<f64>,
    pub sent: u64,
    pub acked: u64,
    /// Acknowledged updates as the terminals' ledgers count them (equals `acked`).
    pub acked_by_ledgers: u64,
    pub unanswered: u64,
    pub reconnects: u64,
    /// Restarts with a reset numbering (`--restart-every`).
    pub restarts: u64,
    /// Recoveries from a reset numbering (`seq` jumps past a `stale` answer), per transport.
    pub seq_jumps_http: u64,
    pub seq_jumps_resp: u64,
    /// State updates a `stale` answer sent back with a new `seq`.
    pub renumbered: u64,
    /// `renumber_above` hints (a spooled state dropped when written), per transport.
    pub renumber_hints_http: u64,
    pub renumber_hints_resp: u64,
    /// Recent closes those hints sent again with a new `seq`.
    pub hint_closes: u64,
    /// Updates sent, then replaced in the terminal's queue by a newer state of a later epoch.
    pub superseded: u64,
    pub retries: Retries,
    pub rows: Vec<Row>,
    pub all: Percentiles,
    pub steps: Vec<StepRow>,
    pub sustainable: Option<Sustainable>,
    pub timeline: Vec<Point>,
    pub first_problem: Option<String>,
    /// When the reconnect storm was due (seconds from the start).
    pub storm_at_s: Option<f64>,
    /// Latency over each `--window`, by acknowledgement time.
    pub windows: Vec<Window>,
    /// The wait for the service's spill log to drain before the read-back (none without one).
    pub spill_drain: Option<SpillDrain>,
    pub verification: Option<Verification>,
}

/// The acknowledgements that arrived within a span of the run (whole seconds).
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub from_s: u64,
    pub until_s: u64,
    pub acked: u64,
    pub resends: u64,
    pub latency: Percentiles,
}

impl Window {
    fn of(stats: &Stats, from: Duration, until: Duration) -> Window {
        let (from_s, until_s) = (from.as_secs(), until.as_secs_f64().ceil() as u64);
        let mut latency = crate::stats::histogram(2);
        let (mut acked, mut resends) = (0, 0);
        for second in stats
            .timeline
            .iter()
            .skip(from_s as usize)
            .take(until_s.saturating_sub(from_s) as usize)
        {
            let _ = latency.add(&second.latency_us);
            acked += second.acked;
            resends += second.retries;
        }
        Window {
            from_s,
            until_s,
            acked,
            resends,
            latency: Percentiles::of(&latency),
        }
    }

    pub fn line(&self) -> String {
        let l = &self.latency;
        format!(
            "window {}-{} s (by acknowledgement time): acked {}, resends {}, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.from_s, self.until_s, self.acked, self.resends, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        )
    }
}

impl Report {
    pub fn build(
        options: &Options,
        stats: &Stats,
        sustainable: Option<Sustainable>,
        spill_drain: Option<SpillDrain>,
        verification: Option<Verification>,
        acked_by_ledgers: u64,
    ) -> Report {
        let seconds = stats
            .steps
            .last()
            .map(|s| s.until.as_secs_f64())
            .unwrap_or(options.duration.as_secs_f64())
            .max(0.001);
        let mut all = crate::stats::histogram(3);
        let mut rows = Vec::new();
        for kind in Kind::ALL {
            for transport in Transport::ALL {
                let cell = stats.cell(kind, transport);
                if cell.acked() == 0 {
                    continue;
                }
                let _ = all.add(&cell.latency_us);
                rows.push(Row {
                    kind: kind.name(),
                    transport: transport.name(),
                    acked: cell.acked(),
                    stored: cell.stored,
                    coalesced: cell.coalesced,
                    duplicate: cell.duplicate,
                    stale: cell.stale,
                    spooled: cell.spooled,
                    volatile: cell.volatile,
                    per_second: cell.acked() as f64 / seconds,
                    latency: Percentiles::of(&cell.latency_us),
                });
            }
        }
        let steps = stats
            .steps
            .iter()
            .filter(|s| s.until > s.from)
            .map(|s| StepRow {
                rate: s.rate,
                from_s: s.from.as_secs_f64(),
                until_s: s.until.as_secs_f64(),
                sent: s.sent,
                acked: s.acked,
                acked_per_second: s.acked as f64 / (s.until - s.from).as_secs_f64().max(0.001),
                retries: s.retries.clone(),
                latency: Percentiles::of(&s.latency_us),
            })
            .collect();
        let timeline = stats
            .timeline
            .iter()
            .enumerate()
            .map(|(second, s)| {
                let p = Percentiles::of(&s.latency_us);
                Point {
                    second,
                    acked: s.acked,
                    resends: s.retries,
                    p50_ms: p.p50_ms,
                    p99_ms: p.p99_ms,
                    max_ms: p.max_ms,
                }
            })
            .collect();
        Report {
            terminals: options.terminals,
            resp_terminals_share: options.resp_share,
            seed: options.seed,
            duration_s: seconds,
            rate_asked: options.rate,
            sent: stats.sent,
            acked: stats.acked(),
            acked_by_ledgers,
            unanswered: stats.unanswered,
            reconnects: stats.reconnects,
            restarts: stats.restarts,
            seq_jumps_http: stats.seq_jumps[0],
            seq_jumps_resp: stats.seq_jumps[1],
            renumbered: stats.renumbered,
            renumber_hints_http: stats.renumber_hints[0],
            renumber_hints_resp: stats.renumber_hints[1],
            hint_closes: stats.hint_closes,
            superseded: stats.superseded,
            retries: stats.retries.clone(),
            rows,
            all: Percentiles::of(&all),
            steps,
            sustainable,
            timeline,
            first_problem: stats.first_problem.clone(),
            storm_at_s: options.storm_at.map(|d| d.as_secs_f64()),
            windows: options
                .windows
                .iter()
                .map(|&(from, until)| Window::of(stats, from, until))
                .collect(),
            spill_drain,
            verification,
        }
    }

    /// Loss, refusals or unanswered updates: the run failed.
    pub fn failed(&self) -> bool {
        crate::run::verification_failed(&self.verification)
            || self.retries.refused > 0
            || self.unanswered > 0
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} terminals ({:.0}% RESP), {:.0} s, seed {}: sent {} updates, acknowledged {}, unanswered {}, reconnects {}",
            self.terminals,
            self.resp_terminals_share * 100.0,
            self.duration_s,
            self.seed,
            self.sent,
            self.acked,
            self.unanswered,
            self.reconnects
        );
        if self.restarts + self.seq_jumps_http + self.seq_jumps_resp + self.renumbered > 0 {
            let _ = writeln!(
                out,
                "restarts {}, seq jumps (recoveries from a reset seq) http {} resp {}, re-sent with a new seq {}, superseded in the queue {}",
                self.restarts,
                self.seq_jumps_http,
                self.seq_jumps_resp,
                self.renumbered,
                self.superseded
            );
        }
        if self.renumber_hints_http + self.renumber_hints_resp > 0 {
            let _ = writeln!(
                out,
                "renumber hints (spooled states dropped as stale when written) http {} resp {}, closes re-sent {}",
                self.renumber_hints_http, self.renumber_hints_resp, self.hint_closes
            );
        }
        let _ = writeln!(
            out,
            "\n{:<9} {:<5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9} {:>9}",
            "kind",
            "via",
            "acked",
            "acked/s",
            "stored",
            "coalesced",
            "duplicate",
            "stale",
            "spooled",
            "volatile",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<9} {:<5} {:>10} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                r.kind,
                r.transport,
                r.acked,
                r.per_second,
                r.stored,
                r.coalesced,
                r.duplicate,
                r.stale,
                r.spooled,
                r.volatile,
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.latency.p999_ms,
                r.latency.max_ms
            );
        }
        let _ = writeln!(
            out,
            "{:<9} {:<5} {:>10} {:>10.0} {:>71.2} {:>9.2} {:>9.2} {:>9.2}",
            "all",
            "",
            self.acked,
            self.acked as f64 / self.duration_s,
            self.all.p50_ms,
            self.all.p99_ms,
            self.all.p999_ms,
            self.all.max_ms
        );
        let r = &self.retries;
        let _ = writeln!(
            out,
            "\nresends: throttled (429/TRYAGAIN) {}, unavailable (503) {}, failed (no answer) {}; refused {}",
            r.throttled, r.unavailable, r.failed, r.refused
        );
        if self.steps.len() > 1 {
            let _ = writeln!(
                out,
                "\n{:>10} {:>12} {:>9} {:>9} {:>9}",
                "step rate", "acked/s", "p50 ms", "p99 ms", "resends"
            );
            for s in &self.steps {
                let _ = writeln!(
                    out,
                    "{:>10.0} {:>12.0} {:>9.2} {:>9.2} {:>9}",
                    s.rate,
                    s.acked_per_second,
                    s.latency.p50_ms,
                    s.latency.p99_ms,
                    s.retries.total()
                );
            }
        }
        if let Some(s) = &self.sustainable {
            let _ = writeln!(
                out,
                "sustainable: {:.0} updates/s asked, {:.0} acknowledged/s, p99 {:.2} ms (bound {:.0} ms)",
                s.rate, s.achieved_updates_per_s, s.p99_ms, s.p99_bound_ms
            );
        }
        if let Some(problem) = &self.first_problem {
            let _ = writeln!(out, "first problem seen: {problem}");
        }
        for window in &self.windows {
            let _ = writeln!(out, "{}", window.line());
        }
        if let Some(drain) = &self.spill_drain {
            let _ = writeln!(out, "\n{}", drain.line());
        }
        match &self.verification {
            Some(v) => {
                let _ = writeln!(out, "\nverification: {}", v.line());
                for p in &v.problems {
                    let _ = writeln!(out, "  {p}");
                }
            }
            None => {
                let _ = writeln!(out, "\nverification: skipped (--no-verify)");
            }
        }
        out
    }

    /// Vertical lines on the charts: where each ramp step begins, and the storm.
    fn markers(&self) -> Vec<(f64, String)> {
        let mut markers: Vec<(f64, String)> = self
            .steps
            .iter()
            .skip(1)
            .map(|s| (s.from_s, format!("{:.0}/s", s.rate)))
            .collect();
        if let Some(at) = self.storm_at_s {
            markers.push((at, "reconnect storm".into()));
        }
        markers
    }

    /// A self-contained HTML page: throughput and latency per second, ramp steps marked.
    pub fn chart_html(&self) -> String {
        let width = 960.0;
        let height = 260.0;
        let n = self.timeline.len().max(2) as f64;
        let x = |second: f64| 60.0 + second / (n - 1.0) * (width - 80.0);
        let max_acked = self
            .timeline
            .iter()
            .map(|p| p.acked)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let max_ms = self
            .timeline
            .iter()
            .map(|p| p.max_ms)
            .fold(1.0_f64, f64::max);
        let throughput = panel(
            "acknowledged updates per second",
            &[(
                "acked/s",
                "#1f77b4",
                self.timeline.iter().map(|p| p.acked as f64).collect(),
            )],
            max_acked,
            &x,
            width,
            height,
            &self.markers(),
            "",
        );
        let latency = panel(
            "acknowledgement latency from the due time (ms, log scale)",
            &[
                (
                    "p50",
                    "#2ca02c",
                    self.timeline.iter().map(|p| p.p50_ms).collect(),
                ),
                (
                    "p99",
                    "#ff7f0e",
                    self.timeline.iter().map(|p| p.p99_ms).collect(),
                ),
                (
                    "max",
                    "#d62728",
                    self.timeline.iter().map(|p| p.max_ms).collect(),
                ),
            ],
            max_ms,
            &x,
            width,
            height,
            &self.markers(),
            "log",
        );
        let verdict = match &self.verification {
            Some(v) => v.line(),
            None => "not verified".into(),
        };
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>loadgen: {} terminals</title>\
             <style>body{{font-family:sans-serif;margin:24px;color:#222}}h1{{font-size:18px}}p{{font-size:13px}}</style>\
             </head><body><h1>loadgen: {} terminals, {:.0} s, {} updates acknowledged</h1>\
             <p>p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; resends {}; {}</p>\n{}\n{}\n</body></html>\n",
            self.terminals,
            self.terminals,
            self.duration_s,
            self.acked,
            self.all.p50_ms,
            self.all.p99_ms,
            self.all.p999_ms,
            self.all.max_ms,
            self.retries.total(),
            html_escape(&verdict),
            throughput,
            latency
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn panel(
    title: &str,
    series: &[(&str, &str, Vec<f64>)],
    max: f64,
    x: &dyn Fn(f64) -> f64,
    width: f64,
    height: f64,
    markers: &[(f64, String)],
    scale: &str,
) -> String {
    let top = 30.0;
    let bottom = height - 30.0;
    let log = scale == "log";
    let (lo, hi) = if log {
        (0.01_f64.log10(), max.max(0.1).log10())
    } else {
        (0.0, max)
    };
    let y = |v: f64| {
        let v = if log { v.max(0.01).log10() } else { v };
        bottom - (v - lo) / (hi - lo).max(1e-9) * (bottom - top)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" style=\"display:block;margin-bottom:16px\">\
         <text x=\"60\" y=\"18\" font-size=\"13\">{}</text>\
         <line x1=\"60\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#888\"/>\
         <line x1=\"60\" y1=\"{top}\" x2=\"60\" y2=\"{bottom}\" stroke=\"#888\"/>",
        html_escape(title),
        width - 20.0
    );
    for (at, label) in markers {
        let sx = x(*at);
        let _ = write!(
            svg,
            "<line x1=\"{sx:.1}\" y1=\"{top}\" x2=\"{sx:.1}\" y2=\"{bottom}\" stroke=\"#ccc\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"#777\">{}</text>",
            sx + 3.0,
            top + 10.0,
            html_escape(label)
        );
    }
    let ticks: Vec<f64> = if log {
        let mut t = Vec::new();
        let mut v = 0.01;
        while v <= max.max(0.1) * 1.0001 {
            t.push(v);
            v *= 10.0;
        }
        t
    } else {
        (0..=4).map(|i| max * f64::from(i) / 4.0).collect()
    };
    for t in ticks {
        let _ = write!(
            svg,
            "<text x=\"55\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>\
             <line x1=\"60\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            y(t) + 3.0,
            short_number(t),
            y(t),
            width - 20.0,
            y(t)
        );
    }
    let n = series.first().map(|s| s.2.len()).unwrap_or(0);
    // Time ticks every 5, 10, 30 or 60 s, whichever gives at most a dozen.
    let every = [5usize, 10, 30, 60, 300]
        .into_iter()
        .find(|e| n / e <= 12)
        .unwrap_or(600);
    for second in (every..n).step_by(every) {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{second}</text>",
            x(second as f64),
            bottom + 12.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{} s</text>",
        width - 20.0,
        height - 12.0,
        n.saturating_sub(1)
    );
    for (i, (name, color, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(s, v)| format!("{:.1},{:.1}", x(s as f64), y(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"18\" font-size=\"11\" fill=\"{color}\">{name}</text>",
            points.join(" "),
            width - 200.0 + i as f64 * 60.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn short_number(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::link::AckStatus;

    #[test]
    fn a_window_counts_only_its_seconds() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0);
        // One acknowledgement per second 0..5, the one in second 2 slow.
        for (second, latency_ms) in [(0u64, 1u64), (1, 2), (2, 90), (3, 3), (4, 1)] {
            let at = t0 + Duration::from_millis(second * 1000 + 500);
            let due = at - Duration::from_millis(latency_ms);
            stats.ack(Kind::Signal, Transport::Http, AckStatus::Spooled, due, at);
        }
        let window = Window::of(&stats, Duration::from_secs(1), Duration::from_secs(3));
        assert_eq!((window.from_s, window.until_s, window.acked), (1, 3, 2));
        assert!((89.0..91.0).contains(&window.latency.max_ms), "{window:?}");
        let quiet = Window::of(&stats, Duration::from_secs(3), Duration::from_secs(5));
        assert!(quiet.latency.max_ms < 4.0, "{quiet:?}");
        assert!(quiet.line().contains("window 3-5 s"));
    }
}
