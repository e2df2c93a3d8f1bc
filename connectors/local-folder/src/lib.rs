//! The `local-folder` source connector.
//!
//! Walks a folder through the host's `storage` capability (the guest never
//! opens a file itself) and emits the folder tree as Atlas `fs_path` assets,
//! asking the host to attach a schema to every file a format connector reads.

use serde::Deserialize;
use surveyor_sdk::qualified_name::{file_name, file_uri_path, join};
use surveyor_sdk::tree::FolderTrail;
use surveyor_sdk::{
    Asset, BrowseEntry, Emitter, LogLevel, ObjectMeta, PluginInfo, PluginKind, Result, ScanRequest, ScanSummary,
    Source, SourceHost, walk,
};

pub struct LocalFolder;

/// Configuration of a `local-folder` source. The folder itself is the
/// source's connection, held by the host: the connector only sees paths
/// relative to it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Also catalog hidden files and folders (names starting with `.`).
    pub include_hidden: bool,
}

const CONFIG_SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "include_hidden": {"type": "boolean", "default": false, "description": "Also catalog names starting with '.'."}
  }
}"#;

/// Atlas's built-in type for file-system paths, files and folders alike.
const FS_PATH: &str = "fs_path";

impl Source for LocalFolder {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("local-folder", env!("CARGO_PKG_VERSION"), PluginKind::Source)
            .handles(["local-folder"])
            .description("A folder on this node: files and folders, with schemas read by format connectors")
            .config_schema(CONFIG_SCHEMA)
    }

    fn test_connection(host: &dyn SourceHost, _config: Config) -> Result<()> {
        host.list_objects("", false, None).map(|_| ())
    }

    fn browse(host: &dyn SourceHost, config: Config, path: &str) -> Result<Vec<BrowseEntry>> {
        let mut entries = Vec::new();
        for object in walk(host, path, false) {
            let object = object?;
            if !config.include_hidden && is_hidden(&object.path) {
                continue;
            }
            entries.push(BrowseEntry {
                name: file_name(&object.path).to_string(),
                is_container: object.is_dir,
                size: (!object.is_dir).then_some(object.size),
                path: object.path,
            });
        }
        Ok(entries)
    }

    fn scan(host: &dyn SourceHost, config: Config, request: &ScanRequest) -> Result<ScanSummary> {
        let root = &request.root_uri;
        // The folder as this node sees it, for the `path` attributes.
        let root_path = file_uri_path(root).unwrap_or_default();
        let mut out = Emitter::new(host);
        out.push(
            Asset::new(FS_PATH, root.as_str(), root_name(&root_path))
                .attr("path", root_path.as_str())
                .attr("isFile", false),
        )?;
        let scopes: Vec<&str> = if request.scope.is_empty() {
            vec![""]
        } else {
            request.scope.iter().map(|s| s.trim_matches('/')).collect()
        };
        let mut summary = ScanSummary { assets: 1, items_failed: 0 };
        for scope in scopes {
            let mut folders = FolderTrail::new();
            for object in walk(host, scope, true) {
                let object = match object {
                    Ok(o) => o,
                    Err(e) if scope.is_empty() => return Err(e),
                    Err(e) => {
                        // A scope entry that is missing or unreadable is that entry's error.
                        host.item_error(&e);
                        summary.items_failed += 1;
                        break;
                    }
                };
                if object.is_dir || (!config.include_hidden && is_hidden(&object.path)) {
                    continue;
                }
                for folder in folders.enter(&object.path) {
                    summary.assets += 1;
                    out.push(folder_asset(root, &root_path, &folder))?;
                }
                summary.assets += 1;
                out.push(file_asset(root, &root_path, &object, folders.qualified_name(root)))?;
                if summary.assets.is_multiple_of(10_000) {
                    host.progress(summary.assets, None, "walking");
                }
            }
        }
        out.finish()?;
        host.log(LogLevel::Debug, &format!("{} assets emitted", summary.assets));
        Ok(summary)
    }
}

surveyor_sdk::export_source!(LocalFolder);

fn is_hidden(path: &str) -> bool {
    path.split('/').any(|segment| segment.starts_with('.'))
}

fn root_name(path: &str) -> &str {
    let name = file_name(path);
    if name.is_empty() { "/" } else { name }
}

fn absolute(root_path: &str, relative: &str) -> String {
    format!("{}/{}", root_path.trim_end_matches('/'), relative)
}

fn parent_uri(root: &str, path: &str) -> String {
    match path.rsplit_once('/') {
        Some((parent, _)) => join(root, parent),
        None => root.to_string(),
    }
}

fn folder_asset(root: &str, root_path: &str, folder: &str) -> Asset {
    Asset::new(FS_PATH, join(root, folder), file_name(folder))
        .storage_path(folder)
        .parent(FS_PATH, parent_uri(root, folder))
        .attr("path", absolute(root_path, folder))
        .attr("isFile", false)
}

/// A file: the host attaches its schema when a format connector handles it
/// (and, on incremental runs, when it changed since the last one).
fn file_asset(root: &str, root_path: &str, object: &ObjectMeta, parent_qn: &str) -> Asset {
    Asset::new(FS_PATH, join(root, &object.path), file_name(&object.path))
        .parent(FS_PATH, parent_qn)
        .attr("path", absolute(root_path, &object.path))
        .attr("isFile", true)
        .attr("fileSize", object.size)
        .attr_opt("modifiedTime", object.last_modified.map(surveyor_sdk::Value::Timestamp))
        .schema_from_file(object.path.as_str(), object.size, object.last_modified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use surveyor_sdk::testing::MemoryHost;

    fn request() -> ScanRequest {
        ScanRequest { root_uri: "file://node1/data/lake".into(), scope: vec![], modified_since: None }
    }

    fn config() -> Config {
        Config { include_hidden: false }
    }

    fn lake() -> MemoryHost {
        MemoryHost::new()
            .page_size(2)
            .file("sales/year=2023/part-0.parquet", b"x".repeat(10))
            .file("sales/year=2023/part-1.parquet", b"x".repeat(11))
            .file("sales/year=2024/part-0.parquet", b"x".repeat(12))
            .file("sales.csv", b"a,b\n1,2\n".to_vec())
            .file("readme.txt", b"hi".to_vec())
            .file(".git/config", b"secret".to_vec())
    }

    #[test]
    fn emits_every_folder_once_and_every_file_with_a_schema_request() {
        let host = lake();
        let summary = LocalFolder::scan(&host, config(), &request()).unwrap();
        let assets = host.assets();
        let names: Vec<&str> = assets.iter().map(|a| a.qualified_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "file://node1/data/lake",
                "file://node1/data/lake/readme.txt",
                "file://node1/data/lake/sales.csv",
                "file://node1/data/lake/sales",
                "file://node1/data/lake/sales/year=2023",
                "file://node1/data/lake/sales/year=2023/part-0.parquet",
                "file://node1/data/lake/sales/year=2023/part-1.parquet",
                "file://node1/data/lake/sales/year=2024",
                "file://node1/data/lake/sales/year=2024/part-0.parquet",
            ]
        );
        assert_eq!(summary.assets, names.len() as u64);
        let part = host.asset("file://node1/data/lake/sales/year=2024/part-0.parquet").unwrap();
        assert_eq!(
            part.parent.as_ref().map(|p| p.qualified_name.as_str()),
            Some("file://node1/data/lake/sales/year=2024")
        );
        assert_eq!(part.file.as_ref().map(|f| (f.path.as_str(), f.size)), Some(("sales/year=2024/part-0.parquet", 12)));
        assert_eq!(part.get("path").and_then(|v| v.as_text()), Some("/data/lake/sales/year=2024/part-0.parquet"));
        assert!(assets.iter().all(|a| a.type_name == "fs_path"));
        assert!(host.emit_calls.get() >= 1);
        assert_eq!(host.reads.get(), 0, "the source never reads file content itself");
    }

    #[test]
    fn hidden_entries_are_skipped_unless_asked_for() {
        let host = lake();
        LocalFolder::scan(&host, Config { include_hidden: true }, &request()).unwrap();
        assert!(host.asset("file://node1/data/lake/.git/config").is_some());
        let host = lake();
        LocalFolder::scan(&host, config(), &request()).unwrap();
        assert!(host.asset("file://node1/data/lake/.git").is_none());
    }

    #[test]
    fn files_carry_size_and_modification_time_for_the_host() {
        let host = MemoryHost::new().file_modified("old.parquet", b"x".to_vec(), 1_000);
        LocalFolder::scan(&host, config(), &request()).unwrap();
        let file = host.asset("file://node1/data/lake/old.parquet").unwrap().file.unwrap();
        assert_eq!((file.path.as_str(), file.size, file.last_modified), ("old.parquet", 1, Some(1_000)));
    }

    #[test]
    fn a_missing_scope_entry_is_an_item_error_and_the_rest_is_scanned() {
        let host = lake();
        let req = ScanRequest { scope: vec!["nope".into(), "sales/year=2024".into()], ..request() };
        let summary = LocalFolder::scan(&host, config(), &req).unwrap();
        assert_eq!(summary.items_failed, 1);
        assert_eq!(host.item_errors.borrow()[0].item.as_deref(), Some("nope"));
        assert!(host.asset("file://node1/data/lake/sales/year=2024/part-0.parquet").is_some());
        assert!(host.asset("file://node1/data/lake/sales.csv").is_none());
    }

    #[test]
    fn browse_lists_one_level() {
        let host = lake();
        let entries = LocalFolder::browse(&host, config(), "sales").unwrap();
        let names: Vec<(&str, bool)> = entries.iter().map(|e| (e.name.as_str(), e.is_container)).collect();
        assert_eq!(names, [("year=2023", true), ("year=2024", true)]);
    }
}
