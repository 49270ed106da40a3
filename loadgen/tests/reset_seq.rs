//! Terminals that restart with a reset `seq` against the real service (embedded engines, real
//! sockets, HTTP and RESP3): with `zero` every restart numbers below what the gateway holds, so
//! nothing after it is stored until the terminal recovers from the `stale` answers (jumps past
//! the stored seq, re-sends); the read-back must still find everything acknowledged, newest
//! state per key, no trade left open that the terminal closed. With `clock` the numbering
//! starts above (CLIENT.md's clock floor) and the run loses nothing either.

use std::time::Duration;

use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;
use tradestate_loadgen::{
    run, Credentials, Endpoint, Options, Profile, Report, RestartSeq, Targets,
};

async fn start_service() -> Service {
    let mut config = tradestate_config::load_from(None, &[]).expect("defaults load");
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.resp = Some("127.0.0.1:0".parse().unwrap());
    // Embedded engines persist under data_dir: a fresh one per service.
    config.data_dir = std::env::temp_dir().join(format!(
        "tradestate-loadgen-reset-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    for name in ["ris", "rts", "rtss"] {
        config.partitions.get_mut(name).unwrap().embedded_port = 0;
    }
    // No terminals configured: development mode, token "tradestate-dev" for any id.
    Service::start(config).await.expect("service starts")
}

fn engine_url(service: &Service, partition: Partition) -> String {
    let port = service.engine(partition).expect("embedded engine").port();
    format!("redis://127.0.0.1:{port}")
}

fn options(service: &Service, prefix: &str, restart_seq: RestartSeq) -> Options {
    Options {
        endpoint: Endpoint {
            http_url: format!("http://{}", service.http_addr),
            resp_addr: service.resp_addr.expect("resp listener").to_string(),
            stream: "rtss:signals".into(),
        },
        credentials: Credentials::Shared {
            id_prefix: prefix.into(),
            token: "tradestate-dev".into(),
        },
        terminals: 40,
        resp_share: 0.5,
        rate: Some(400.0),
        duration: Duration::from_secs(6),
        ramp: None,
        seed: 9,
        profile: Profile {
            heartbeat_s: (0.5, 2.0),
            snapshot_every: Duration::from_secs(2),
            reconnect_every: Some(Duration::from_secs(3)),
            restart_every: Some(Duration::from_secs(2)),
            restart_seq,
            ..Profile::default()
        },
        batch_max: 50,
        storm_at: None,
        drain: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(30),
        windows: Vec::new(),
        verify: Some(Targets {
            ris_url: engine_url(service, Partition::Ris),
            rts_url: engine_url(service, Partition::Rts),
            rtss_url: engine_url(service, Partition::Rtss),
            stream: "rtss:signals".into(),
            maxlen: 10_000,
            closed_ttl_s: 2_592_000,
            ris_ttl_s: 120,
        }),
        progress: false,
    }
}

fn summary(report: &Report) -> String {
    format!("{}\n{:?}", report.table(), report.verification)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_reset_seqs_lose_nothing() {
    let service = start_service().await;

    let report = run(&options(&service, "rz", RestartSeq::Zero))
        .await
        .expect("run");
    let v = report.verification.clone().expect("verified");
    assert!(v.passed(), "{}", summary(&report));
    assert!(!report.failed(), "{}", summary(&report));
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
    let v = report.verification.clone().expect("verified");
    assert!(v.passed(), "{}", summary(&report));
    assert!(!report.failed(), "{}", summary(&report));
    assert!(report.restarts >= 40, "{}", summary(&report));
    service.stop().await;
}
