//! A source connector that misbehaves on purpose, chosen by its `mode`:
//! the host must survive each of these and report it clearly.

use serde::Deserialize;
use surveyor_sdk::{
    Asset, BrowseEntry, Emitter, PluginInfo, PluginKind, Result, ScanRequest, ScanSummary, Source, SourceHost,
};

pub struct Hostile;

#[derive(Deserialize)]
pub struct Config {
    /// `loop`, `alloc`, `trap`, `malformed`, `flood`, `slow-ok` or `ok`.
    pub mode: String,
    #[serde(default)]
    pub count: u64,
}

impl Source for Hostile {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("hostile-source", "0.1.0", PluginKind::Source)
            .handles(["hostile"])
            .description("misbehaves on purpose")
    }

    fn test_connection(_host: &dyn SourceHost, _config: Config) -> Result<()> {
        Ok(())
    }

    fn browse(_host: &dyn SourceHost, _config: Config, _path: &str) -> Result<Vec<BrowseEntry>> {
        Ok(Vec::new())
    }

    fn scan(host: &dyn SourceHost, config: Config, request: &ScanRequest) -> Result<ScanSummary> {
        let root = request.root_uri.as_str();
        let mut out = Emitter::new(host);
        out.push(Asset::new("hostile_item", format!("{root}/first"), "first"))?;
        out.flush()?;
        match config.mode.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("deliberate panic in hostile-source"),
            "malformed" => {
                out.push(Asset::new("", format!("{root}/no-type"), "no-type"))?;
                out.push(Asset::new("hostile_item", "", "no-name"))?;
                out.push(Asset::new("bad type!", format!("{root}/bad-type"), "bad-type"))?;
                out.push(Asset::new("hostile_item", format!("{root}/{}", "x".repeat(10_000)), "too-long"))?;
                out.push(Asset::new("hostile_item", format!("{root}/good"), "good"))?;
            }
            "flood" => {
                for i in 0..config.count {
                    out.push(Asset::new("hostile_item", format!("{root}/item/{i}"), format!("item {i}")))?;
                }
            }
            _ => {}
        }
        let assets = out.finish()?;
        Ok(ScanSummary { assets, items_failed: 0 })
    }
}

surveyor_sdk::export_source!(Hostile);
