//! Harness the loadgen suites share: the real service in-process (embedded engines, ephemeral
//! ports, development-mode tokens) and the run options they start from.
#![allow(dead_code)]

use std::time::Duration;

use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;
use tradestate_loadgen::{Credentials, Endpoint, Options, Profile, Report, Targets, Verification};

/// Starts the service on ephemeral ports with embedded engines persisting under a fresh
/// `<temp dir>/<data_prefix>-<pid>-<n>`; `tweak` adjusts the config first.
pub async fn start_service_with(
    data_prefix: &str,
    tweak: impl FnOnce(&mut tradestate_config::Config),
) -> Service {
    let mut config = tradestate_config::load_from(None, &[]).expect("defaults load");
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.resp = Some("127.0.0.1:0".parse().unwrap());
    // Embedded engines persist under data_dir: a fresh one per service.
    config.data_dir = tradestate_test_support::temp_path(data_prefix);
    for name in ["ris", "rts", "rtss"] {
        config.partitions.get_mut(name).unwrap().embedded_port = 0;
    }
    tweak(&mut config);
    // No terminals configured: development mode, token "tradestate-dev" for any id.
    Service::start(config).await.expect("service starts")
}

pub fn engine_url(service: &Service, partition: Partition) -> String {
    let port = service.engine(partition).expect("embedded engine").port();
    format!("redis://127.0.0.1:{port}")
}

/// Where `service` listens, as loadgen's terminals reach it.
pub fn endpoint(service: &Service) -> Endpoint {
    Endpoint {
        http_url: format!("http://{}", service.http_addr),
        resp_addr: service.resp_addr.expect("resp listener").to_string(),
        stream: "rtss:signals".into(),
    }
}

/// Options for a verified run against `service` with terminal ids `<id_prefix>-*`: half RESP,
/// heartbeats every 0.5-2 s, snapshots every 2 s, a reconnect every 3 s, no storm. Suites set
/// size, rate, length and seed with struct update syntax.
pub fn options(service: &Service, id_prefix: &str) -> Options {
    Options {
        endpoints: vec![endpoint(service)],
        credentials: Credentials::Shared {
            id_prefix: id_prefix.into(),
            token: "tradestate-dev".into(),
        },
        terminals: 10,
        resp_share: 0.5,
        rate: Some(100.0),
        duration: Duration::from_secs(3),
        ramp: None,
        seed: 42,
        profile: Profile {
            heartbeat_s: (0.5, 2.0),
            snapshot_every: Duration::from_secs(2),
            reconnect_every: Some(Duration::from_secs(3)),
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
            password: None,
            tls: None,
            stream: "rtss:signals".into(),
            maxlen: 10_000,
            closed_ttl_s: 2_592_000,
            ris_ttl_s: 120,
        }),
        progress: false,
    }
}

/// The report's table and verification, for assertion messages.
pub fn summary(report: &Report) -> String {
    format!("{}\n{:?}", report.table(), report.verification)
}

/// The run's verification, once it is asserted to have passed and the run not to have failed.
pub fn passed(report: &Report) -> Verification {
    let v = report.verification.clone().expect("verified");
    assert!(v.passed(), "{}", summary(report));
    assert!(!report.failed(), "{}", summary(report));
    v
}
