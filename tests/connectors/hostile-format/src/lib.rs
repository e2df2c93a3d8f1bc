//! A format connector that misbehaves on purpose, chosen by the file's name:
//! `loop.hostile` spins, `alloc.hostile` allocates without bound,
//! `trap.hostile` panics, `wide.hostile` returns 120,000 columns; any other
//! `.hostile` file gets a one-column schema.

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
}

surveyor_sdk::export_format!(Hostile);
