//! A source connector that tries to open a network connection itself. It
//! must never load: connectors get no sockets.

use surveyor_sdk::{BrowseEntry, PluginInfo, PluginKind, Result, ScanRequest, ScanSummary, Source, SourceHost};

pub struct Net;

impl Source for Net {
    type Config = serde::de::IgnoredAny;

    fn info() -> PluginInfo {
        PluginInfo::new("hostile-net", "0.1.0", PluginKind::Source).handles(["hostile-net"])
    }

    fn test_connection(_host: &dyn SourceHost, _config: Self::Config) -> Result<()> {
        std::net::TcpStream::connect("127.0.0.1:9")
            .map(|_| ())
            .map_err(|e| surveyor_sdk::Error::internal(e.to_string()))
    }

    fn browse(_host: &dyn SourceHost, _config: Self::Config, _path: &str) -> Result<Vec<BrowseEntry>> {
        Ok(Vec::new())
    }

    fn scan(host: &dyn SourceHost, config: Self::Config, _request: &ScanRequest) -> Result<ScanSummary> {
        Self::test_connection(host, config)?;
        Ok(ScanSummary { assets: 0, items_failed: 0 })
    }
}

surveyor_sdk::export_source!(Net);
