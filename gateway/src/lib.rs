//! The Tradestate service (DESIGN 2 and 5): MT5 terminals send instance state, trade state and
//! trade signals over HTTP (JSON) or RESP; the gateway authenticates, validates (mt5-bridge),
//! rate-limits, queues and writes them to three partitions (ris, rts, rtss), each an embedded
//! engine or any Redis URL, and serves reads, a live signal tail and metrics.
//!
//! Layout: `keys` (where updates live), `ops` (what a writer is given), `queue` (bounded,
//! coalescing), `writer` (batching writer and policies), `backend` (connections), `admission`
//! (quotas and watermarks), `spill` (the on-disk overflow of a partition that is down or slow,
//! and its replay), `auth`, `gateway` (the transport-independent core), `http` and `resp` (the
//! two transports).

pub mod admission;
pub mod auth;
pub mod backend;
pub mod convert;
pub mod gateway;
pub mod http;
pub mod keys;
pub mod ops;
pub mod queue;
pub mod resp;
pub mod service;
pub mod spill;
pub mod status;
pub mod writer;
