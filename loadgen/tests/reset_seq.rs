//! Terminals that restart with a reset `seq` against the real service (embedded engines, real
//! sockets, HTTP and RESP3): with `zero` every restart numbers below what the gateway holds, so
//! nothing after it is stored until the terminal recovers from the `stale` answers (jumps past
//! the stored seq, re-sends); the read-back must still find everything acknowledged, newest
//! state per key, no trade left open that the terminal closed. With `clock` the numbering
//! starts above (CLIENT.md's clock floor) and the run loses nothing either.

mod common;

use std::time::Duration;

use common::{passed, summary};
use tradestate_gateway::service::Service;
use tradestate_loadgen::{run, Options, Profile, RestartSeq};

async fn start_service() -> Service {
    common::start_service_with("tradestate-loadgen-reset", |_| {}).await
}

/// 40 terminals at 400 updates/s for 6 s, each restarting every 2 s with `restart_seq`.
fn options(service: &Service, prefix: &str, restart_seq: RestartSeq) -> Options {
    let base = common::options(service, prefix);
    Options {
        terminals: 40,
        rate: Some(400.0),
        duration: Duration::from_secs(6),
        seed: 9,
        profile: Profile {
            restart_every: Some(Duration::from_secs(2)),
            restart_seq,
            ..base.profile
        },
        ..base
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_reset_seqs_lose_nothing() {
    let service = start_service().await;

    let report = run(&options(&service, "rz", RestartSeq::Zero))
        .await
        .expect("run");
    let v = passed(&report);
    assert_eq!(v.acked, report.acked, "{}", summary(&report));
    assert!(report.restarts >= 40, "{}", summary(&report));
    // Both transports heard stored_seq (HTTP in the result, RESP3 in the push) and recovered.
    assert!(report.seq_jumps_http > 0, "{}", summary(&report));
    assert!(report.seq_jumps_resp > 0, "{}", summary(&report));
    let stale: u64 = report
        .rows
        .iter()
        .filter(|r| r.kind != "signal")
        .map(|r| r.stale)
        .sum();
    assert!(
        stale > 0,
        "zero restarts are answered stale first: {}",
        summary(&report)
    );

    let report = run(&options(&service, "rc", RestartSeq::Clock))
        .await
        .expect("run");
    passed(&report);
    assert!(report.restarts >= 40, "{}", summary(&report));
    service.stop().await;
}
