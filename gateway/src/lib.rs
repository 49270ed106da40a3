//! The Tradestate service: MT5 terminals send instance state, trade state and trade signals over
//! HTTP (JSON) or RESP; the gateway authenticates, validates (mt5-bridge), rate-limits, queues and
//! writes them to three partitions (ris, rts, rtss), each an embedded engine or any Redis URL,
//! and serves reads, a live signal tail and metrics. docs/ARCHITECTURE.md follows one update
//! through these modules.
//!
//! Modules:
//! - `service`: starting and stopping the whole service from a `Config` (engines, backends,
//!   queues, writers, spills, listeners, chores).
//! - `http`: the HTTP API (terminal writes under `/v1`, reads, health, readiness, metrics).
//! - `resp`: the RESP listener, for terminals that speak Redis.
//! - `auth`: terminal and operator tokens, compared in constant time; development mode.
//! - `convert`: validated mt5-bridge updates into writer `Op`s.
//! - `gateway`: the transport-independent core: admit, queue or spill, await the outcomes.
//! - `admission`: per-terminal and global quotas and the early throttle hint.
//! - `ops`: what a writer is given (`Op`) and how an update ended (`Outcome`).
//! - `queue`: a partition's bounded queue, coalescing per state key, FIFO for signals.
//! - `writer`: a partition's batching writer, with the seq checks, signal dedupe and policies.
//! - `backend`: a partition's connection to its engine (in-process or a Redis URL).
//! - `engine_password`: the embedded engines' password outside development mode.
//! - `keys`: the key layout, where each kind of update lives in its partition.
//! - `status`: online / stale / offline from the last-seen index (`ris:seen`).
//! - `spill`: the on-disk overflow of a partition that is down or slow, and its replay.

pub mod admission;
pub mod auth;
pub mod backend;
pub mod convert;
pub mod engine_password;
pub mod gateway;
pub mod guard;
pub mod http;
pub mod keys;
pub mod ops;
pub mod queue;
pub mod resp;
pub mod service;
pub mod spill;
pub mod status;
pub mod writer;
