//! A scan run, from source to sink.
//!
//! A run is cut into work units ([`units`]): slices of the source's listing
//! that any node can scan on its own ([`unit`]); the commit merges their
//! results into one output ([`commit`]). Within a unit:
//!
//! ```text
//!  source connector ──emit──► dispatch ──► schema workers (format connectors, N threads)
//!   (one thread)                 │                     │
//!                                └──────► writer ◄─────┘  Atlas batches → sink, report, manifest
//! ```
//!
//! The source streams assets; those that point at a file with a known format
//! go to a pool of schema workers, each owning its own format connector
//! instances; everything meets in the unit's collector, which sorts it into
//! the unit's result. Channels are bounded (backpressure), and units are
//! bounded in files, so memory stays flat however large the source is.

pub mod commit;
mod fail_fast;
pub mod frames;
#[cfg(feature = "bench-native")]
mod native;
mod pipeline;
pub mod resource_sets;
mod run;
mod schemas;
mod sql_sample;
pub mod state;
pub mod unit;
pub mod units;

use run::now;
pub use run::{
    Counts, DEFAULT_UNIT_FILES, PluginUse, RunCounters, RunReport, RunStatus, ScanError, ScanOptions, ScanSource,
    SourceSummary, canceled_unit, failed_unit, new_run_id, run_scan,
};
