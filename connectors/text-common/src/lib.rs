//! What the `csv` and `json` format connectors share: bounded, gzip-aware
//! sampling through the host, and sample bytes turned into text. Linked into
//! each component, so each stays self-contained.

pub mod sample;
pub mod text;
