//! The `azure-blob` source connector: Azure Blob Storage: containers, folders, blobs and their schemas.
//! The account, its endpoint and its credentials are the source's
//! connection, held by the host; this walks what the host lists.

use surveyor_connector_azure_common as common;
use surveyor_sdk::{BrowseEntry, PluginInfo, PluginKind, Result, ScanRequest, ScanSummary, Source, SourceHost};

pub struct AzureBlob;

impl Source for AzureBlob {
    type Config = common::Config;

    fn info() -> PluginInfo {
        PluginInfo::new("azure-blob", env!("CARGO_PKG_VERSION"), PluginKind::Source)
            .handles(["azure-blob"])
            .description("Azure Blob Storage: containers, folders, blobs and their schemas")
            .config_schema(common::CONFIG_SCHEMA)
    }

    fn test_connection(host: &dyn SourceHost, _config: common::Config) -> Result<()> {
        common::test_connection(host)
    }

    fn browse(host: &dyn SourceHost, config: common::Config, path: &str) -> Result<Vec<BrowseEntry>> {
        common::browse(host, &config, path)
    }

    fn scan(host: &dyn SourceHost, config: common::Config, request: &ScanRequest) -> Result<ScanSummary> {
        common::scan(host, &config, request, &common::BLOB)
    }
}

surveyor_sdk::export_source!(AzureBlob);
