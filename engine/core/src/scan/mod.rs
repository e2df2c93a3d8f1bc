//! A scan run, from source to sink.
//!
//! ```text
//!  source connector ──emit──► dispatch ──► schema workers (format connectors, N threads)
//!   (one thread)                 │                     │
//!                                └──────► writer ◄─────┘  Atlas batches → sink, report, manifest
//! ```
//!
//! The source streams assets; those that point at a file with a known format
//! go to a pool of schema workers, each owning its own format connector
//! instances; everything meets in the writer, which batches entities and
//! writes them to the sink. Channels are bounded: a slow sink slows the
//! workers, which slow the source (backpressure), so memory stays flat
//! however large the source is.

mod fail_fast;
#[cfg(feature = "bench-native")]
mod native;
mod pipeline;
pub mod resource_sets;
mod run;
pub mod state;

pub use run::{RunCounters, RunReport, RunStatus, ScanError, ScanOptions, ScanSource, run_scan};
