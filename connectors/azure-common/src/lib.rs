//! Walking an Azure Storage account through the host's `storage` capability.
//!
//! The host's storage for an account lists containers (file systems) at the
//! root and their objects under `container/…`, already limited to the
//! containers the source's connection allows. This crate turns that listing
//! into catalog assets — the service, its containers, virtual or real
//! folders, and files with their schemas requested — named as Microsoft
//! Purview names them. `azure-blob` and `adls-gen2` differ only in their
//! [`Flavour`].

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use surveyor_sdk::qualified_name::{file_name, join};
use surveyor_sdk::tree::FolderTrail;
use surveyor_sdk::{
    Asset, BrowseEntry, Emitter, Error, LogLevel, ObjectMeta, Result, ScanRequest, ScanSummary, SourceHost, Value, walk,
};

/// The Purview type names of one kind of account.
pub struct Flavour {
    pub service: &'static str,
    pub container: &'static str,
    /// Files and folders alike.
    pub path: &'static str,
}

pub const BLOB: Flavour =
    Flavour { service: "azure_blob_service", container: "azure_blob_container", path: "azure_blob_path" };

pub const ADLS_GEN2: Flavour = Flavour {
    service: "azure_datalake_gen2_service",
    container: "azure_datalake_gen2_filesystem",
    path: "azure_datalake_gen2_path",
};

/// Configuration shared by both connectors. Which containers may be read is
/// the connection's business (the host enforces it); this narrows what is
/// catalogued within them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Globs over `container/path`; when given, only matching files are catalogued.
    pub include: Vec<String>,
    /// Globs over `container/path` of files to leave out.
    pub exclude: Vec<String>,
    /// Also catalog names starting with `.`.
    pub include_hidden: bool,
}

pub const CONFIG_SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "include": {"type": "array", "items": {"type": "string"}, "description": "Globs over container/path; only matching files are catalogued."},
    "exclude": {"type": "array", "items": {"type": "string"}, "description": "Globs over container/path of files to leave out."},
    "include_hidden": {"type": "boolean", "default": false, "description": "Also catalog names starting with '.'."}
  }
}"#;

struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
    include_hidden: bool,
}

fn globs(field: &str, patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = Glob::new(p).map_err(|e| Error::config(format!("config.{field}[{i}]: invalid glob {p:?}: {e}")))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| Error::config(format!("config.{field}: {e}")))
}

impl Filter {
    fn new(config: &Config) -> Result<Filter> {
        Ok(Filter {
            include: if config.include.is_empty() { None } else { Some(globs("include", &config.include)?) },
            exclude: globs("exclude", &config.exclude)?,
            include_hidden: config.include_hidden,
        })
    }

    fn keeps(&self, path: &str) -> bool {
        (self.include_hidden || !path.split('/').any(|s| s.starts_with('.')))
            && self.include.as_ref().is_none_or(|g| g.is_match(path))
            && !self.exclude.is_match(path)
    }
}

/// The account's name from the root URI: the host part before the first dot
/// (`https://acct.blob.core.windows.net`), or the last path segment of a
/// path-style endpoint (`http://127.0.0.1:10000/devstoreaccount1`).
pub fn account_name(root: &str) -> String {
    let rest = root.split_once("://").map(|(_, r)| r).unwrap_or(root);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    match path.trim_matches('/').rsplit('/').next().filter(|s| !s.is_empty()) {
        Some(account) => account.to_string(),
        None => host.split('.').next().unwrap_or(host).to_string(),
    }
}

/// Service properties the host reports for an object, passed on as asset attributes.
fn with_properties(mut asset: Asset, object: &ObjectMeta) -> Asset {
    for a in &object.attributes {
        asset = asset.attr(a.key.clone(), a.value.clone());
    }
    asset.attr_opt("modifiedTime", object.last_modified.map(Value::Timestamp))
}

pub fn test_connection(host: &dyn SourceHost) -> Result<()> {
    let page = host.list_objects("", false, None)?;
    // Listing containers can succeed where reading them does not, and a
    // connection's own list of containers is not checked by listing: read
    // each (the first hundred).
    for container in page.objects.iter().filter(|o| o.is_dir).take(100) {
        host.list_objects(&container.path, false, None)?;
    }
    Ok(())
}

pub fn browse(host: &dyn SourceHost, config: &Config, path: &str) -> Result<Vec<BrowseEntry>> {
    let filter = Filter::new(config)?;
    let mut entries = Vec::new();
    for object in walk(host, path, false) {
        let object = object?;
        if !object.is_dir && !filter.keeps(&object.path) {
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

pub fn scan(host: &dyn SourceHost, config: &Config, request: &ScanRequest, flavour: &Flavour) -> Result<ScanSummary> {
    let filter = Filter::new(config)?;
    let root = request.root_uri.as_str();
    let mut out = Emitter::new(host);
    let mut summary = ScanSummary { assets: 1, items_failed: 0 };
    out.push(Asset::new(flavour.service, root, account_name(root)))?;

    let containers: Vec<ObjectMeta> = walk(host, "", false).filter_map(|o| o.ok()).filter(|o| o.is_dir).collect();
    for container in containers {
        let name = container.path.clone();
        // What to walk in this container: all of it, or the scope's folders in it.
        let scoped: Vec<String> = request
            .scope
            .iter()
            .map(|s| s.trim_matches('/').to_string())
            .filter(|s| *s == name || s.starts_with(&format!("{name}/")))
            .collect();
        let prefixes = if request.scope.is_empty() || scoped.contains(&name) { vec![name.clone()] } else { scoped };
        if prefixes.is_empty() {
            continue;
        }
        let container_qn = join(root, &name);
        out.push(with_properties(
            Asset::new(flavour.container, container_qn.as_str(), name.as_str()).parent(flavour.service, root),
            &container,
        ))?;
        summary.assets += 1;
        for prefix in prefixes {
            if let Err(e) =
                scan_container(host, &mut out, &filter, flavour, &name, &container_qn, &prefix, &mut summary)
            {
                // One container (or folder) failing is its error; the others are scanned.
                host.log(LogLevel::Warn, &format!("{prefix}: {}", e.message));
                host.item_error(&e.with_item(prefix.clone()));
                summary.items_failed += 1;
            }
        }
    }
    out.finish()?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn scan_container(
    host: &dyn SourceHost,
    out: &mut Emitter,
    filter: &Filter,
    flavour: &Flavour,
    container: &str,
    container_qn: &str,
    prefix: &str,
    summary: &mut ScanSummary,
) -> Result<()> {
    let mut folders = FolderTrail::new();
    let strip = format!("{container}/");
    for object in walk(host, prefix, true) {
        let object = object?;
        if !filter.keeps(&object.path) {
            continue;
        }
        let within = object.path.strip_prefix(&strip).unwrap_or(&object.path);
        for folder in folders.enter(within) {
            summary.assets += 1;
            let parent =
                folder.rsplit_once('/').map(|(p, _)| join(container_qn, p)).unwrap_or_else(|| container_qn.to_string());
            let parent_type = if folder.contains('/') { flavour.path } else { flavour.container };
            out.push(
                Asset::new(flavour.path, join(container_qn, &folder), file_name(&folder))
                    .parent(parent_type, parent)
                    .storage_path(format!("{container}/{folder}"))
                    .attr("isFolder", true),
            )?;
        }
        let parent_type = if within.contains('/') { flavour.path } else { flavour.container };
        let parent = folders.qualified_name(container_qn).to_string();
        if object.is_dir {
            // A real directory (ADLS Gen2 with a hierarchical namespace).
            summary.assets += 1;
            out.push(with_properties(
                Asset::new(flavour.path, join(container_qn, within), file_name(within))
                    .parent(parent_type, parent)
                    .storage_path(object.path.as_str())
                    .attr("isFolder", true),
                &object,
            ))?;
            continue;
        }
        summary.assets += 1;
        out.push(with_properties(
            Asset::new(flavour.path, join(container_qn, within), file_name(within))
                .parent(parent_type, parent)
                .attr("path", object.path.as_str())
                .attr("size", object.size)
                .attr("isFolder", false)
                .schema_from_file(object.path.as_str(), object.size, object.last_modified),
            &object,
        ))?;
        if summary.assets.is_multiple_of(10_000) {
            host.progress(summary.assets, None, "listing");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use surveyor_sdk::testing::MemoryHost;

    fn request() -> ScanRequest {
        ScanRequest { root_uri: "https://acct.blob.core.windows.net".into(), scope: vec![], modified_since: None }
    }

    fn account() -> MemoryHost {
        MemoryHost::new()
            .page_size(3)
            .file("raw/2024/01/events.parquet", b"x".repeat(10))
            .file("raw/2024/02/events.parquet", b"x".repeat(11))
            .file("raw/readme.md", b"hi".to_vec())
            .file("curated/sales/part-0.parquet", b"x".repeat(12))
            .file("curated/.tmp/junk", b"x".to_vec())
    }

    #[test]
    fn service_containers_folders_and_blobs_with_purview_names() {
        let host = account();
        LocalScan::run(&host, Config::default(), &BLOB);
        let blob = host.asset("https://acct.blob.core.windows.net/raw/2024/01/events.parquet").unwrap();
        assert_eq!(blob.type_name, "azure_blob_path");
        assert_eq!(blob.parent.as_ref().unwrap().qualified_name, "https://acct.blob.core.windows.net/raw/2024/01");
        assert_eq!(blob.file.as_ref().unwrap().path, "raw/2024/01/events.parquet");
        let container = host.asset("https://acct.blob.core.windows.net/raw").unwrap();
        assert_eq!(container.type_name, "azure_blob_container");
        let folder = host.asset("https://acct.blob.core.windows.net/raw/2024").unwrap();
        assert_eq!(folder.parent.as_ref().unwrap().type_name, "azure_blob_container");
        let service = host.asset("https://acct.blob.core.windows.net").unwrap();
        assert_eq!((service.type_name.as_str(), service.name.as_str()), ("azure_blob_service", "acct"));
        assert!(
            host.asset("https://acct.blob.core.windows.net/curated/.tmp/junk").is_none(),
            "hidden names are skipped"
        );
    }

    #[test]
    fn globs_narrow_what_is_catalogued() {
        let host = account();
        let config = Config {
            include: vec!["**/*.parquet".into()],
            exclude: vec!["raw/2024/02/**".into()],
            include_hidden: false,
        };
        LocalScan::run(&host, config, &ADLS_GEN2);
        let names: Vec<String> =
            host.assets().into_iter().filter(|a| a.file.is_some()).map(|a| a.qualified_name).collect();
        assert_eq!(
            names,
            [
                "https://acct.blob.core.windows.net/curated/sales/part-0.parquet",
                "https://acct.blob.core.windows.net/raw/2024/01/events.parquet"
            ]
        );
        assert!(host.assets().iter().all(|a| a.type_name.starts_with("azure_datalake_gen2_")));
    }

    #[test]
    fn a_bad_glob_names_the_field() {
        let err = Filter::new(&Config { include: vec!["a[".into()], ..Config::default() }).err().unwrap();
        assert!(err.message.contains("config.include[0]"), "{}", err.message);
    }

    #[test]
    fn account_names_come_from_host_or_path_style_endpoints() {
        assert_eq!(account_name("https://acct.blob.core.windows.net"), "acct");
        assert_eq!(account_name("http://127.0.0.1:10000/devstoreaccount1"), "devstoreaccount1");
    }

    struct LocalScan;
    impl LocalScan {
        fn run(host: &MemoryHost, config: Config, flavour: &Flavour) {
            scan(host, &config, &request(), flavour).unwrap();
        }
    }
}
