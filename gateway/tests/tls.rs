//! Partitions over TLS (`rediss://`): with the right CA the updates are stored and read back
//! over TLS; a certificate that does not verify, or a missing client certificate where the
//! server requires one, is a partition reported down with the reason (never a hang, never an
//! acknowledgement without the write); the same through a sentinel over TLS
//! (`rediss+sentinel://`). The servers are started by `.ci/run` with `ops/deploy/tls.sh`:
//! `TRADESTATE_TEST_TLS_URL` / `TRADESTATE_TEST_TLS_DIR` (client certificates optional, with a
//! TLS sentinel at `TRADESTATE_TEST_TLS_SENTINEL_URL`) and `TRADESTATE_TEST_MTLS_URL` /
//! `TRADESTATE_TEST_MTLS_DIR` (required); each directory holds the files `tls.sh` names
//! (`ca.pem`, `client.pem`, `client.key`, `other-ca.pem`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use tradestate_config::Backend;

/// The ris partition's entry in `/readyz`, and the HTTP status of `/readyz`.
async fn ris_readiness(h: &Harness) -> (u16, serde_json::Value) {
    let started = Instant::now();
    let (code, ready) = status_and_json(h.get("/readyz").await).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "/readyz took {:?}",
        started.elapsed()
    );
    (code, ready["partitions"]["ris"].clone())
}

/// A heartbeat is not acknowledged while ris is down and the spill is off: 503, `unavailable`.
async fn assert_not_acknowledged(h: &Harness, what: &str) {
    let (status, reply) =
        status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 1)).await).await;
    assert_eq!(status, 503, "{what}: {reply}");
    assert_eq!(statuses(&reply), ["unavailable"], "{what}: {reply}");
}

/// `rediss://` to a port that speaks plain RESP (an embedded engine): no handshake, a partition
/// down with that reason, answered at once.
#[tokio::test]
async fn tls_to_a_plain_port_is_a_partition_down_with_the_reason() {
    let plain = tradestate_engine::start("plain", {
        let mut config = tradestate_engine::Config::default();
        config.set("bind", "127.0.0.1", false).expect("bind");
        config.set("port", "0", false).expect("port");
        config
    })
    .expect("engine");
    let url = format!("rediss://127.0.0.1:{}", plain.port());
    let h = start(&Target::Embedded, |c| {
        c.spill.enabled = false;
        c.partitions.ris.backend = Backend::Url(url.clone());
    })
    .await;
    let (code, ris) = ris_readiness(&h).await;
    eprintln!("rediss:// to a plain port: {ris}");
    assert_eq!(code, 503, "{ris}");
    let status = ris["status"].as_str().unwrap_or_default();
    assert!(status.contains("TLS: "), "{ris}");
    assert!(status.contains("tls-port"), "{ris}");
    assert_not_acknowledged(&h, "TLS to a plain port").await;
    h.stop().await;
    plain.shutdown();
}

#[cfg(feature = "redis-server-tests")]
mod real_tls {
    use super::*;
    use std::path::PathBuf;
    use tradestate_mt5_bridge::keys;

    /// A TLS redis-server `.ci/run` started: its URL and the directory of its files.
    struct Server {
        url: String,
        dir: PathBuf,
    }

    impl Server {
        fn from_env(name: &str) -> Server {
            let var = |what: &str| {
                let key = format!("TRADESTATE_TEST_{name}_{what}");
                std::env::var(&key).unwrap_or_else(|_| {
                    panic!("feature redis-server-tests needs {key} (run .ci/run, which starts ops/deploy/tls.sh)")
                })
            };
            Server {
                url: var("URL"),
                dir: PathBuf::from(var("DIR")),
            }
        }

        fn file(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        /// The server's certificates: its CA and the client certificate.
        fn tls(&self) -> tradestate_backend::Tls {
            tradestate_backend::Tls::load(&tradestate_backend::TlsFiles {
                ca_file: Some(self.file("ca.pem")),
                cert_file: Some(self.file("client.pem")),
                key_file: Some(self.file("client.key")),
            })
            .expect("the test certificates load")
        }

        /// A direct TLS connection, to empty the server and read back what the service wrote.
        async fn connect(&self) -> tradestate_backend::Connection {
            tradestate_backend::connect_with(&self.url, Some(&self.tls()), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }

        async fn flush(&self) {
            let mut conn = self.connect().await;
            let _: () = query(&mut conn, &["FLUSHALL"]).await;
        }
    }

    /// The TLS sentinel watching the `TLS` server as master `tls`.
    fn sentinel_url() -> String {
        std::env::var("TRADESTATE_TEST_TLS_SENTINEL_URL").unwrap_or_else(|_| {
            panic!("feature redis-server-tests needs TRADESTATE_TEST_TLS_SENTINEL_URL (run .ci/run, which starts ops/deploy/tls.sh --sentinel-port)")
        })
    }

    /// Every partition on `server`, trusting `ca`, with the client certificate when `client`.
    fn on(server: &Server, ca: &str, client: bool) -> impl Fn(&mut tradestate_config::Config) {
        on_url(server, &server.url, ca, client)
    }

    /// [`on`], reaching the server through `url` (its sentinel's).
    fn on_url(
        server: &Server,
        url: &str,
        ca: &str,
        client: bool,
    ) -> impl Fn(&mut tradestate_config::Config) {
        let (url, ca) = (url.to_string(), server.file(ca));
        let (cert, key) = (server.file("client.pem"), server.file("client.key"));
        move |c| {
            c.spill.enabled = false;
            for name in ["ris", "rts", "rtss"] {
                let p = c.partitions.get_mut(name).expect("partition");
                p.backend = Backend::Url(url.clone());
                p.tls_ca_file = Some(ca.clone());
                if client {
                    p.tls_cert_file = Some(cert.clone());
                    p.tls_key_file = Some(key.clone());
                }
            }
        }
    }

    /// A state, a trade and a signal are stored, and read back over TLS.
    async fn stores_and_reads_back(h: &Harness, server: &Server, what: &str) {
        let (code, ris) = ris_readiness(h).await;
        assert_eq!(
            (code, ris["status"].as_str()),
            (200, Some("up")),
            "{what}: {ris}"
        );
        let body = batch(
            "T1",
            vec![instance_state(7), trade(7, "1001", false), signal(7, "s-1")],
        );
        ingest_expecting(h, "T1", body, &["stored", "stored", "stored"], what).await;
        let mut conn = server.connect().await;
        assert_eq!(
            stored_seq(&mut conn, &keys::instance("T1")).await,
            "7",
            "{what}"
        );
        assert_eq!(
            stored_seq(&mut conn, &keys::trade("T1", "1001")).await,
            "7",
            "{what}"
        );
        let stream_len: i64 = query(&mut conn, &["XLEN", keys::SIGNAL_STREAM]).await;
        assert_eq!(stream_len, 1, "{what}");
    }

    #[tokio::test]
    async fn with_the_right_ca_updates_are_stored_over_tls() {
        let server = Server::from_env("TLS");
        server.flush().await;
        let h = start(&Target::Embedded, on(&server, "ca.pem", false)).await;
        stores_and_reads_back(&h, &server, "right CA").await;
        h.stop().await;
    }

    #[tokio::test]
    async fn a_wrong_ca_is_a_partition_down_naming_the_certificate() {
        let server = Server::from_env("TLS");
        let h = start(&Target::Embedded, on(&server, "other-ca.pem", false)).await;
        let (code, ris) = ris_readiness(&h).await;
        eprintln!("wrong CA: {ris}");
        assert_eq!(code, 503, "{ris}");
        let status = ris["status"].as_str().unwrap_or_default();
        assert!(status.contains("UnknownIssuer"), "{ris}");
        assert!(status.contains("not signed by a trusted CA"), "{ris}");
        assert_not_acknowledged(&h, "wrong CA").await;
        // Still refused once the backoff has passed: a fresh handshake, the same answer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, ris) = ris_readiness(&h).await;
        assert!(
            ris["status"]
                .as_str()
                .unwrap_or_default()
                .contains("UnknownIssuer"),
            "{ris}"
        );
        h.stop().await;
    }

    #[tokio::test]
    async fn through_a_tls_sentinel_the_master_is_found_and_updates_stored() {
        let server = Server::from_env("TLS");
        server.flush().await;
        let sentinel = sentinel_url();
        let h = start(
            &Target::Embedded,
            on_url(&server, &sentinel, "ca.pem", false),
        )
        .await;
        stores_and_reads_back(&h, &server, "rediss+sentinel://, right CA").await;
        h.stop().await;

        let h = start(
            &Target::Embedded,
            on_url(&server, &sentinel, "other-ca.pem", false),
        )
        .await;
        let (code, ris) = ris_readiness(&h).await;
        eprintln!("rediss+sentinel://, wrong CA: {ris}");
        assert_eq!(code, 503, "{ris}");
        let status = ris["status"].as_str().unwrap_or_default();
        assert!(status.contains("no sentinel gave a master"), "{ris}");
        assert!(status.contains("UnknownIssuer"), "{ris}");
        assert_not_acknowledged(&h, "rediss+sentinel://, wrong CA").await;
        h.stop().await;
    }

    #[tokio::test]
    async fn a_required_client_certificate_is_presented_or_its_absence_named() {
        let server = Server::from_env("MTLS");
        server.flush().await;
        let h = start(&Target::Embedded, on(&server, "ca.pem", true)).await;
        stores_and_reads_back(&h, &server, "client certificate presented").await;
        h.stop().await;

        let h = start(&Target::Embedded, on(&server, "ca.pem", false)).await;
        let (code, ris) = ris_readiness(&h).await;
        eprintln!("no client certificate: {ris}");
        assert_eq!(code, 503, "{ris}");
        let status = ris["status"].as_str().unwrap_or_default();
        assert!(status.contains("requires a client certificate"), "{ris}");
        assert_not_acknowledged(&h, "no client certificate").await;
        h.stop().await;
    }
}
