//! The latency monitor (Redis's `latency.c`, events "command" and "fast-command"): per event,
//! the worst latency of each second (160 samples kept) and the all-time maximum, recorded
//! when a command takes at least `latency-monitor-threshold` milliseconds; the LATENCY
//! command (LATEST, HISTORY, RESET, HELP); and the per-command latency histogram that INFO
//! latencystats reads.

use std::collections::BTreeMap;

use crate::commands::{CmdResult, Ctx};

/// Samples kept per event (`LATENCY_TS_LEN`).
const SAMPLES: usize = 160;

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// Unix seconds; 0 = unused slot.
    time: i64,
    latency_ms: u64,
}

#[derive(Clone, Debug)]
struct Series {
    idx: usize,
    max: u64,
    samples: [Sample; SAMPLES],
}

#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: BTreeMap<&'static str, Series>,
}

impl LatencyMonitor {
    /// Redis's `latencyAddSample`: one sample per second per event, keeping the worst.
    pub fn add_sample(&mut self, event: &'static str, latency_ms: u64, now_s: i64) {
        let ts = self.events.entry(event).or_insert_with(|| Series {
            idx: 0,
            max: 0,
            samples: [Sample::default(); SAMPLES],
        });
        ts.max = ts.max.max(latency_ms);
        let prev = (ts.idx + SAMPLES - 1) % SAMPLES;
        if ts.samples[prev].time == now_s {
            ts.samples[prev].latency_ms = ts.samples[prev].latency_ms.max(latency_ms);
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now_s,
            latency_ms,
        };
        ts.idx = (ts.idx + 1) % SAMPLES;
    }
}

/// Redis's `latencyAddSampleIfNeeded` for a command that ran `duration_us`.
pub fn record_command(ctx: &mut Ctx, fast: bool, duration_us: u64) {
    let threshold = ctx.server.config.latency_monitor_threshold;
    let ms = duration_us / 1000;
    if threshold > 0 && ms >= threshold {
        let event = if fast { "fast-command" } else { "command" };
        let now = crate::util::now_ms() / 1000;
        ctx.server.latency.add_sample(event, ms, now);
    }
}

pub fn latency_latest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let out = &mut *ctx.out;
    out.array(ctx.server.latency.events.len());
    for (event, ts) in &ctx.server.latency.events {
        let last = ts.samples[(ts.idx + SAMPLES - 1) % SAMPLES];
        out.array(4);
        out.bulk(event.as_bytes());
        out.int(last.time);
        out.int(last.latency_ms as i64);
        out.int(ts.max as i64);
    }
    Ok(())
}

pub fn latency_history(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let event = String::from_utf8_lossy(argv[2]);
    let Some(ts) = ctx.server.latency.events.get(event.as_ref()) else {
        ctx.out.array(0);
        return Ok(());
    };
    let used: Vec<Sample> = (0..SAMPLES)
        .map(|j| ts.samples[(ts.idx + j) % SAMPLES])
        .filter(|s| s.time != 0)
        .collect();
    ctx.out.array(used.len());
    for s in used {
        ctx.out.array(2);
        ctx.out.int(s.time);
        ctx.out.int(s.latency_ms as i64);
    }
    Ok(())
}

/// LATENCY RESET [event ...]: the number of event series dropped.
pub fn latency_reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let events = &mut ctx.server.latency.events;
    let dropped = if argv.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        argv[2..]
            .iter()
            .filter(|a| events.remove(String::from_utf8_lossy(a).as_ref()).is_some())
            .count()
    };
    ctx.out.int(dropped as i64);
    Ok(())
}

pub fn latency_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis's text minus DOCTOR, GRAPH and HISTOGRAM, which do not exist here.
    let lines = [
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
    ];
    crate::commands::server::reply_help(ctx, argv[0], &lines);
    Ok(())
}

/// Redis records command latency in an HDR histogram tracking 1 ns .. 1 s with 2 significant
/// digits; this is the same bucket layout (256 sub-buckets, unit magnitude 0), so the
/// percentiles INFO reports round exactly like Redis's.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

const HIST_SUB_HALF_MAGNITUDE: u32 = 7;
const HIST_SUB_HALF: usize = 1 << HIST_SUB_HALF_MAGNITUDE;
const HIST_SUB_MASK: u64 = (2 * HIST_SUB_HALF as u64) - 1;
/// Buckets needed to reach 1e9 (2^30) from 256 (2^8): 1 + 22.
const HIST_BUCKETS: usize = 23;
const HIST_MIN: u64 = 1;
const HIST_MAX: u64 = 1_000_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; (HIST_BUCKETS + 1) * HIST_SUB_HALF],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket_of(v: u64) -> (u32, u64) {
        let pow2ceiling = 64 - (v | HIST_SUB_MASK).leading_zeros();
        let bucket = pow2ceiling - (HIST_SUB_HALF_MAGNITUDE + 1);
        (bucket, v >> bucket)
    }

    fn index_of(v: u64) -> usize {
        let (bucket, sub) = Self::bucket_of(v);
        ((bucket as usize + 1) << HIST_SUB_HALF_MAGNITUDE) + sub as usize - HIST_SUB_HALF
    }

    fn value_at_index(idx: usize) -> u64 {
        let mut bucket = (idx >> HIST_SUB_HALF_MAGNITUDE) as i64 - 1;
        let mut sub = (idx & (HIST_SUB_HALF - 1)) + HIST_SUB_HALF;
        if bucket < 0 {
            sub -= HIST_SUB_HALF;
            bucket = 0;
        }
        (sub as u64) << bucket
    }

    fn highest_equivalent(v: u64) -> u64 {
        let (bucket, sub) = Self::bucket_of(v);
        let adjusted = bucket + u32::from(sub >= 2 * HIST_SUB_HALF as u64);
        (sub << bucket) + (1u64 << adjusted) - 1
    }

    /// Records one latency in nanoseconds (clamped to the tracked range, as Redis does).
    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(HIST_MIN, HIST_MAX);
        if let Some(c) = self.counts.get_mut(Self::index_of(v)) {
            *c += 1;
            self.total += 1;
        }
    }

    /// `hdr_value_at_percentile`: the highest value equivalent to the one at `percentile`.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let wanted = ((percentile.min(100.0) / 100.0 * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (idx, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return Self::highest_equivalent(Self::value_at_index(idx));
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeps_the_worst() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 5, 100);
        m.add_sample("command", 9, 100);
        m.add_sample("command", 3, 100);
        m.add_sample("command", 4, 101);
        let ts = &m.events["command"];
        assert_eq!(ts.max, 9);
        assert_eq!(ts.samples[0].latency_ms, 9);
        assert_eq!(ts.samples[1].latency_ms, 4);
        assert_eq!(ts.idx, 2);
    }

    #[test]
    fn histogram_matches_hdr_rounding() {
        let mut h = LatencyHistogram::default();
        h.record(14_000);
        assert_eq!(h.value_at_percentile(50.0), 14_015);
        let mut h = LatencyHistogram::default();
        h.record(4_000);
        assert_eq!(h.value_at_percentile(99.9), 4_015);
        let mut h = LatencyHistogram::default();
        h.record(0);
        assert_eq!(h.value_at_percentile(50.0), 1);
        h.record(5_000_000_000);
        assert!(h.value_at_percentile(100.0) >= 1_000_000_000);
    }
}
