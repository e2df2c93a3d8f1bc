//! The connectors that ship inside the binary (built by `engine/build.rs`),
//! so that a fresh install scans with no plugins folder at all.

pub const BUILTIN: &[(&str, &[u8])] = &[
    ("local-folder", include_bytes!(concat!(env!("OUT_DIR"), "/local-folder.wasm"))),
    ("parquet", include_bytes!(concat!(env!("OUT_DIR"), "/parquet.wasm"))),
    ("csv", include_bytes!(concat!(env!("OUT_DIR"), "/csv.wasm"))),
    ("json", include_bytes!(concat!(env!("OUT_DIR"), "/json.wasm"))),
    ("azure-blob", include_bytes!(concat!(env!("OUT_DIR"), "/azure-blob.wasm"))),
    ("adls-gen2", include_bytes!(concat!(env!("OUT_DIR"), "/adls-gen2.wasm"))),
    ("sql-server", include_bytes!(concat!(env!("OUT_DIR"), "/sql-server.wasm"))),
    ("power-bi", include_bytes!(concat!(env!("OUT_DIR"), "/power-bi.wasm"))),
    ("postgresql", include_bytes!(concat!(env!("OUT_DIR"), "/postgresql.wasm"))),
];
