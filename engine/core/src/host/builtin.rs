//! The connectors that ship inside the binary (built by `engine/build.rs`),
//! so that a fresh install scans with no plugins folder at all.

/// A connector built into the binary, with the SHA-256 of its bytes (hex),
/// computed when it was built.
pub struct Builtin {
    pub name: &'static str,
    pub wasm: &'static [u8],
    pub sha256: &'static str,
}

macro_rules! builtin {
    ($name:literal) => {
        Builtin {
            name: $name,
            wasm: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")),
            sha256: include_str!(concat!(env!("OUT_DIR"), "/", $name, ".wasm.sha256")),
        }
    };
}

pub const BUILTIN: &[Builtin] = &[
    builtin!("local-folder"),
    builtin!("parquet"),
    builtin!("csv"),
    builtin!("json"),
    builtin!("azure-blob"),
    builtin!("adls-gen2"),
    builtin!("sql-server"),
    builtin!("power-bi"),
    builtin!("postgresql"),
];

#[cfg(test)]
mod tests {
    /// The digests reported for the built-ins (and naming their compiled
    /// artifacts) are those of the bytes embedded.
    #[test]
    fn each_builtin_digest_is_that_of_its_bytes() {
        for builtin in super::BUILTIN {
            assert_eq!(builtin.sha256, crate::host::cache::sha256_hex(builtin.wasm), "{}", builtin.name);
        }
        assert_eq!(super::BUILTIN.len(), 9);
    }
}
