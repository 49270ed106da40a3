//! The HTTP write path over real sockets, against embedded engines and real redis-server.

mod common;

use common::*;
use tradestate_gateway::ops::Partition;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_is_stored_with_its_ttl() {
    for target in targets() {
        let h = start(&target, |_| {}).await;
        let response = h.post_as("T1", "/v1/ingest", heartbeat("T1", 1)).await;
        assert_eq!(response.status(), 200, "{}", target.name());
        let mut ris = h.engine(Partition::Ris).await;
        let ttl: i64 = redis::cmd("TTL")
            .arg("ris:{T1}")
            .query_async(&mut ris)
            .await
            .unwrap();
        assert!((110..=120).contains(&ttl), "{}: ttl {ttl}", target.name());
        let seq: String = redis::cmd("HGET")
            .arg("ris:{T1}")
            .arg("seq")
            .query_async(&mut ris)
            .await
            .unwrap();
        assert_eq!(seq, "1");
        h.stop().await;
    }
}
