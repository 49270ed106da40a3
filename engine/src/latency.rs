//! The latency monitor (Redis's `latency.c`, events "command" and "fast-command"): per event,
//! the worst latency of each second (160 samples kept) and the all-time maximum, recorded
//! when a command takes at least `latency-monitor-threshold` milliseconds; and the LATENCY
//! command (LATEST, HISTORY, RESET, HELP).

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
}
