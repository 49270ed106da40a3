//! Operator tooling: benchmarks and alerting rules.
//!
//! - `ops/bench/`: the benchmark scripts, results in `docs/BENCHMARKS.md`. `engine-vs-redis.sh`
//!   compares the engine with redis-server in one run (plus `consumer-bench`); `memory.sh` and
//!   `persistence.sh` compare memory use and RDB/AOF with redis-server; `gateway.sh` finds the
//!   highest rate the service sustains (driven by `gateway-bench`) beside its ris engine's direct
//!   rate; `loadgen-ramp.sh` and `chaos.sh` run `loadgen`; `service.sh` is what they source to
//!   start `tradestate`.
//! - The bench binaries `gateway-bench` (`src/bin/gateway-bench/`, an open-loop HTTP/RESP driver
//!   with `--find-max`) and `consumer-bench` (`src/bin/consumer-bench/`, consumer-group
//!   throughput).
//! - `ops/prometheus/`: Prometheus alerting rules (`tradestate.rules.yml`) with their promtool
//!   unit tests (`tradestate.rules.test.yml`).

/// Ratio of our throughput to the reference's, as the benchmark report prints it.
pub fn ratio(ours: f64, reference: f64) -> Option<f64> {
    (reference > 0.0).then(|| ours / reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_needs_a_reference() {
        assert_eq!(ratio(150.0, 100.0), Some(1.5));
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
