//! The `adls-gen2` source connector: Azure Data Lake Storage Gen2: file systems, directories, files (owner, group, permissions, ACLs) and their schemas.
//! The account, its endpoint and its credentials are the source's
//! connection, held by the host; this walks what the host lists.

use surveyor_connector_azure_common as common;
use surveyor_sdk::{BrowseEntry, PluginInfo, PluginKind, Result, ScanRequest, ScanSummary, Source, SourceHost};

pub struct AdlsGen2;

impl Source for AdlsGen2 {
    type Config = common::Config;

    fn info() -> PluginInfo {
        PluginInfo::new("adls-gen2", env!("CARGO_PKG_VERSION"), PluginKind::Source)
            .handles(["adls-gen2"])
            .description("Azure Data Lake Storage Gen2: file systems, directories, files (owner, group, permissions, ACLs) and their schemas")
            .config_schema(common::CONFIG_SCHEMA)
    }

    fn test_connection(host: &dyn SourceHost, _config: common::Config) -> Result<()> {
        common::test_connection(host)
    }

    fn browse(host: &dyn SourceHost, config: common::Config, path: &str) -> Result<Vec<BrowseEntry>> {
        common::browse(host, &config, path)
    }

    fn scan(host: &dyn SourceHost, config: common::Config, request: &ScanRequest) -> Result<ScanSummary> {
        common::scan(host, &config, request, &common::ADLS_GEN2)
    }
}

surveyor_sdk::export_source!(AdlsGen2);
