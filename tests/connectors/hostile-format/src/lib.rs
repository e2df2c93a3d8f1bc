//! A format connector that misbehaves on purpose, chosen by the file's name:
//! `loop.hostile` spins, `alloc.hostile` allocates without bound,
//! `trap.hostile` panics, `wide.hostile` returns 120,000 columns; asked for
//! its schema packed, `unsorted.hostile` gets string ends out of order and
//! `fanout.hostile` 20,000 columns each sharing the whole path before it
//! (20,000 strings that would unpack into 200 million). Any other
//! `.hostile` file gets a one-column schema.

use surveyor_sdk::packed::{PackedFileSchema, SchemaPacker, pack};
use surveyor_sdk::{Column, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind, Result};

pub struct Hostile;

impl Format for Hostile {
    type Config = serde::de::IgnoredAny;

    fn info() -> PluginInfo {
        PluginInfo::new("hostile-format", "0.1.0", PluginKind::Format)
            .handles(["hostile"])
            .description("misbehaves on purpose")
    }

    fn read_schema(input: &FileInput, _file: &dyn FileReader, _config: &Self::Config) -> Result<FileSchema> {
        let name = input.path.rsplit('/').next().unwrap_or("");
        match name {
            "loop.hostile" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc.hostile" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap.hostile" => panic!("deliberate panic in hostile-format"),
            "wide.hostile" => Ok(FileSchema {
                columns: (0..120_000).map(|i| Column::new([format!("c{i}")], "INT32", "int32")).collect(),
                attributes: vec![],
            }),
            _ => Ok(FileSchema { columns: vec![Column::new(["only"], "INT32", "int32")], attributes: vec![] }),
        }
    }

    fn read_packed_schema(input: &FileInput, file: &dyn FileReader, config: &Self::Config) -> Result<PackedFileSchema> {
        let name = input.path.rsplit('/').next().unwrap_or("");
        match name {
            "unsorted.hostile" => {
                let mut packed = pack(Self::read_schema(input, file, config)?);
                packed.ends.reverse();
                Ok(packed)
            }
            "fanout.hostile" => {
                let mut packer = SchemaPacker::default();
                for depth in 0..20_000 {
                    packer.column(depth, &["segment-of-a-long-path"], "INT32", None, "int32");
                }
                Ok(packer.finish(vec![]))
            }
            _ => Self::read_schema(input, file, config).map(pack),
        }
    }
}

surveyor_sdk::export_format!(Hostile);
