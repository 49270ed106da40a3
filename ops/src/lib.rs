//! Operator tooling (DESIGN 9). `ops/bench/` holds the benchmark scripts: `engine-vs-redis.sh`
//! compares the engine with redis-server in one run, `gateway.sh` finds the highest rate the
//! service sustains (driven by the `gateway-bench` binary, `src/bin/gateway-bench`) beside its
//! engines' direct rate. `tsctl`, Grafana dashboards, Prometheus alerts and systemd units follow.

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
