//! Load generation (DESIGN 8): simulated MT5 terminals (120 by default, up to 10,000) sending
//! open-loop traffic over HTTP and RESP, HDR latency histograms measured from each update's due
//! time, and a final read-back of every partition proving that every acknowledged update is
//! present, in its latest state, exactly once.
//!
//! - `model`: what a terminal reports and when (seeded, independent of the service's answers);
//! - `link`: HTTP and RESP as an EA speaks them, answers per update;
//! - `terminal`: the task playing one terminal (batching, resends after Retry-After, recovery
//!   from a reset `seq`);
//! - `ledger`: what each terminal sent and had acknowledged;
//! - `spill`: before the read-back, the wait for the service to empty its spill log;
//! - `verify`: the read-back; `stats`, `report`: histograms, table, JSON, chart;
//! - `run`: a fixed-rate run or a ramp.

pub mod ledger;
pub mod link;
pub mod model;
pub mod report;
pub mod run;
pub mod spill;
pub mod stats;
pub mod terminal;
pub mod verify;

pub use link::Endpoint;
pub use model::{Profile, RestartSeq};
pub use report::Report;
pub use run::{run, Credentials, Options, Ramp};
pub use spill::SpillDrain;
pub use stats::Transport;
pub use verify::{Targets, Verification};
