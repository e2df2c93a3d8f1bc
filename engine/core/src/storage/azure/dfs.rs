//! [`DfsStorage`]: a [`Storage`] over the ADLS Gen2 (`dfs`) endpoint of an
//! account with a hierarchical namespace.
//!
//! Paths are `filesystem/path`. Listings use List Paths
//! (`GET {dfs}/{fs}?resource=filesystem&recursive=…&directory=…&maxResults=5000`,
//! then `continuation` from the `x-ms-continuation` header), lazily, in the
//! order the service gives. Directories are real here: they come as `is_dir`
//! entries, in recursive listings too, with their owner, group and
//! permissions; the ACL of each entry costs one more request
//! (`HEAD …?action=getAccessControl`), so it is fetched only when asked
//! ([`DfsStorage::with_acls`]). Reads go through the Blob endpoint of the
//! same account: that is how ADLS serves ranged reads efficiently.
//!
//! Untested against a real account (Azurite has no dfs endpoint); the JSON
//! parsing and the URLs are unit-tested against the documented shapes.

use super::blob::{Lister, dir_meta, in_scope, text};
use super::client::{MAX_PAGE, Request, Service, parse_http_date_ms};
use super::paging::{self, AccountWalk, Mark, MarkedPages, MarkedWalk, Open, Pages};
use super::{AzureAccount, error};
use crate::host::bindings::storage::ObjectMeta;
use crate::host::bindings::types::{Attribute, Value};
use crate::storage::{Listing, MarkedListing, Storage, StorageError, StorageErrorKind, checked_relative};
use reqwest::Method;
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct DfsStorage {
    lister: Lister,
    filesystems: Option<Vec<String>>,
    acls: bool,
}

impl DfsStorage {
    /// All file systems (containers) of the account, or only those in `filesystems`.
    pub fn new(account: Arc<AzureAccount>, filesystems: Option<Vec<String>>) -> Self {
        let lister = Lister { account, requests: Arc::new(AtomicU64::new(0)), page_size: MAX_PAGE };
        DfsStorage { lister, filesystems, acls: false }
    }

    /// Also fetch each entry's ACL (one request per entry), as attribute `acl`.
    pub fn with_acls(mut self, acls: bool) -> Self {
        self.acls = acls;
        self
    }

    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.lister.page_size = page_size.clamp(1, MAX_PAGE);
        self
    }

    /// Opens a file system's recursive List Paths of `directory`, at a continuation.
    fn open(&self, directory: &str) -> Open<PathPages> {
        let (lister, acls, directory) = (self.lister.clone(), self.acls, directory.to_string());
        Box::new(move |fs, continuation| {
            let mut pages = PathPages::new(lister.clone(), fs, &directory, true, acls);
            pages.continuation = continuation;
            pages
        })
    }

    pub fn request_count(&self) -> u64 {
        self.lister.requests.load(Ordering::Relaxed)
    }

    fn split<'p>(&self, path: &'p str) -> Result<(&'p str, &'p str), StorageError> {
        let path = checked_relative(path)?;
        let (fs, rest) = path.split_once('/').unwrap_or((path, ""));
        in_scope(&self.filesystems, fs, path)?;
        Ok((fs, rest))
    }
}

impl Storage for DfsStorage {
    fn describe(&self) -> String {
        let endpoint = error::shown_endpoint(self.lister.account.dfs_url());
        match &self.filesystems {
            Some(list) => format!("Azure Data Lake Storage Gen2 {endpoint} (file systems {})", list.join(", ")),
            None => format!("Azure Data Lake Storage Gen2 {endpoint}"),
        }
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let (fs, dir) = self.split(prefix)?;
        if fs.is_empty() {
            let filesystems = self.lister.containers(&self.filesystems)?;
            if !recursive {
                return Ok(Box::new(filesystems.into_iter().map(Ok)));
            }
            return Ok(Box::new(AccountWalk::new(filesystems, None, self.open(""))));
        }
        let mut pages = PathPages::new(self.lister.clone(), fs, dir, recursive, self.acls);
        pages.fetch()?;
        Ok(Box::new(pages))
    }

    fn list_marked(&self, prefix: &str) -> Result<MarkedListing, StorageError> {
        let (fs, dir) = self.split(prefix)?;
        if fs.is_empty() {
            let filesystems = self.lister.containers(&self.filesystems)?;
            return Ok(Box::new(MarkedWalk(AccountWalk::new(filesystems, None, self.open("")))));
        }
        let mut pages = PathPages::new(self.lister.clone(), fs, dir, true, self.acls);
        pages.fetch()?;
        Ok(Box::new(MarkedPages(pages)))
    }

    fn list_from_mark(&self, prefix: &str, start: &str, mark: Option<&str>) -> Result<Listing, StorageError> {
        if let Some(mark) = mark.and_then(Mark::parse) {
            let (fs, dir) = self.split(prefix)?;
            let containers = || self.lister.containers(&self.filesystems);
            if let Some(listing) = paging::resume(mark, fs, dir, start, containers, self.open(dir)) {
                return listing;
            }
        }
        self.list_from(prefix, start)
    }

    fn path_order(&self) -> crate::storage::PathOrder {
        crate::storage::PathOrder::ContainerFirst
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        let (fs, rest) = self.split(path)?;
        let account = &self.lister.account;
        let counter = Some(&*self.lister.requests);
        if fs.is_empty() {
            return Ok(dir_meta(String::new()));
        }
        if rest.is_empty() {
            let req = Request::new(Method::HEAD, Service::Dfs, fs).query("resource", "filesystem").counted(counter);
            let head = account.call(&req, &[], &mut Vec::new())?;
            let mut meta = dir_meta(fs.to_string());
            meta.last_modified = head.header("last-modified").and_then(parse_http_date_ms);
            meta.etag = head.header("etag").map(|e| e.trim_matches('"').to_string());
            return Ok(meta);
        }
        let full = format!("{fs}/{rest}");
        let head =
            account.call(&Request::new(Method::HEAD, Service::Dfs, &full).counted(counter), &[], &mut Vec::new())?;
        let mut entry = serde_json::Map::new();
        for (key, header) in [
            ("contentLength", "content-length"),
            ("lastModified", "last-modified"),
            ("etag", "etag"),
            ("owner", "x-ms-owner"),
            ("group", "x-ms-group"),
            ("permissions", "x-ms-permissions"),
            ("contentType", "content-type"),
        ] {
            if let Some(v) = head.header(header) {
                entry.insert(key.to_string(), Json::String(v.to_string()));
            }
        }
        entry.insert("isDirectory".into(), Json::Bool(head.header("x-ms-resource-type") == Some("directory")));
        let mut meta = path_meta(fs, rest, &Json::Object(entry));
        if self.acls {
            let acl = account.access_control(&full, counter)?;
            meta.attributes.push(text("acl", acl));
        }
        Ok(meta)
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        let mut buf = Vec::new();
        self.read_range_into(path, offset, length, &mut buf)?;
        Ok(buf)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        let (_, rest) = self.split(path)?;
        if rest.is_empty() {
            return Err(StorageError::new(StorageErrorKind::Refused, path, "a file system is not a file; give a path"));
        }
        self.lister.account.read_blob_into(checked_relative(path)?, offset, length, buf, Some(&*self.lister.requests))
    }
}

impl AzureAccount {
    /// The ACL of a path (`user::rwx,group::r-x,other::---,…`).
    pub(crate) fn access_control(&self, path: &str, counter: Option<&AtomicU64>) -> Result<String, StorageError> {
        let req = Request::new(Method::HEAD, Service::Dfs, path).query("action", "getAccessControl").counted(counter);
        let head = self.call(&req, &[], &mut Vec::new())?;
        Ok(head.header("x-ms-acl").unwrap_or("").to_string())
    }
}

/// The lazy pages of one List Paths.
struct PathPages {
    lister: Lister,
    fs: String,
    directory: String,
    recursive: bool,
    acls: bool,
    continuation: Option<String>,
    /// The continuation the current page was fetched with (`None`: the first page).
    page_continuation: Option<String>,
    /// The current page's listing mark, once asked for.
    page_mark: Option<Arc<str>>,
    items: VecDeque<Result<ObjectMeta, StorageError>>,
    started: bool,
    done: bool,
}

impl PathPages {
    fn new(lister: Lister, fs: &str, directory: &str, recursive: bool, acls: bool) -> Self {
        PathPages {
            lister,
            fs: fs.to_string(),
            directory: directory.to_string(),
            recursive,
            acls,
            continuation: None,
            page_continuation: None,
            page_mark: None,
            items: VecDeque::new(),
            started: false,
            done: false,
        }
    }

    fn request(&self) -> Request<'_> {
        list_paths_request(
            &self.fs,
            &self.directory,
            self.recursive,
            self.lister.page_size,
            self.continuation.as_deref(),
        )
        .counted(Some(&self.lister.requests))
    }

    fn fetch(&mut self) -> Result<(), StorageError> {
        self.started = true;
        let mut body = Vec::new();
        let account = self.lister.account.clone();
        let result = {
            let req = self.request();
            account.call(&req, &[], &mut body).and_then(|head| {
                let json: Json = serde_json::from_slice(&body)
                    .map_err(|e| account.bad_response(&req, format!("unexpected JSON from the service: {e}")))?;
                Ok((head.header("x-ms-continuation").map(str::to_string), json))
            })
        };
        let (continuation, json) = match result {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        self.page_continuation = std::mem::replace(&mut self.continuation, continuation);
        self.page_mark = None;
        self.done = self.continuation.is_none();
        for entry in json["paths"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(name) = entry["name"].as_str() else { continue };
            let mut meta = path_meta(&self.fs, name, entry);
            if self.acls {
                match account.access_control(&meta.path, Some(&self.lister.requests)) {
                    Ok(acl) => meta.attributes.push(text("acl", acl)),
                    Err(e) => self.items.push_back(Err(e)),
                }
            }
            self.items.push_back(Ok(meta));
        }
        Ok(())
    }
}

impl Pages for PathPages {
    fn fetch(&mut self) -> Result<(), StorageError> {
        PathPages::fetch(self)
    }

    fn started(&self) -> bool {
        self.started
    }

    fn place(&self) -> (&str, &str, Option<&str>) {
        (&self.fs, &self.directory, self.page_continuation.as_deref())
    }

    fn mark_cache(&mut self) -> &mut Option<Arc<str>> {
        &mut self.page_mark
    }
}

impl Iterator for PathPages {
    type Item = Result<ObjectMeta, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Some(item);
            }
            if self.started && self.done {
                return None;
            }
            if let Err(e) = self.fetch() {
                return Some(Err(e));
            }
        }
    }
}

/// List Paths of `directory` ("" for the root) in file system `fs`.
pub(crate) fn list_paths_request<'a>(
    fs: &'a str,
    directory: &str,
    recursive: bool,
    max: u32,
    continuation: Option<&str>,
) -> Request<'a> {
    let mut req = Request::new(Method::GET, Service::Dfs, fs)
        .query("resource", "filesystem")
        .query("recursive", if recursive { "true" } else { "false" });
    if !directory.is_empty() {
        req = req.query("directory", directory);
    }
    req = req.query("maxResults", max.to_string());
    if let Some(c) = continuation {
        req = req.query("continuation", c);
    }
    req
}

/// A List Paths entry as metadata. The service gives numbers and booleans
/// as strings (`"contentLength": "42"`, `"isDirectory": "true"`), and
/// `creationTime` as a Windows file time (100 ns ticks since 1601).
pub(crate) fn path_meta(fs: &str, name: &str, entry: &Json) -> ObjectMeta {
    let is_dir = match &entry["isDirectory"] {
        Json::Bool(b) => *b,
        Json::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let number = |v: &Json| match v {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    };
    let string = |key: &str| entry[key].as_str().map(str::trim).filter(|s| !s.is_empty());
    let mut attributes = Vec::new();
    for key in ["owner", "group", "permissions", "encryptionScope"] {
        if let Some(v) = string(key) {
            attributes.push(text(key, v));
        }
    }
    let etag = string("etag").map(|e| e.trim_matches('"').to_string());
    if let Some(e) = &etag {
        attributes.push(text("etag", e.clone()));
    }
    if let Some(ms) = number(&entry["creationTime"]).and_then(filetime_ms) {
        attributes.push(Attribute { key: "creationTime".to_string(), value: Value::Timestamp(ms) });
    }
    if let Some(ms) = number(&entry["expiryTime"]).and_then(filetime_ms) {
        attributes.push(Attribute { key: "expiryTime".to_string(), value: Value::Timestamp(ms) });
    }
    let content_type = string("contentType").map(str::to_string);
    if let Some(ct) = &content_type {
        attributes.push(text("contentType", ct.clone()));
    }
    ObjectMeta {
        path: format!("{fs}/{}", name.trim_matches('/')),
        is_dir,
        size: if is_dir { 0 } else { number(&entry["contentLength"]).unwrap_or(0) },
        last_modified: string("lastModified").and_then(parse_http_date_ms),
        etag,
        content_type,
        attributes,
    }
}

/// Windows file time (100 ns since 1601-01-01) to Unix milliseconds; 0 means "none".
fn filetime_ms(ticks: u64) -> Option<i64> {
    const UNIX_EPOCH_MS: i64 = 11_644_473_600_000;
    (ticks > 0).then(|| (ticks / 10_000) as i64 - UNIX_EPOCH_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::azure::{AzureConnection, AzureCredential};

    #[test]
    fn list_paths_urls() {
        let mut conn = AzureConnection::new("acct", AzureCredential::Anonymous);
        conn.blob_endpoint = Some(url::Url::parse("https://acct.blob.core.windows.net").unwrap());
        let account = AzureAccount::new(conn).unwrap();
        let req = list_paths_request("raw", "sales/2024 q1", true, 5000, Some("VBa/cont+token=="));
        assert_eq!(
            account.request_url(&req).as_str(),
            "https://acct.dfs.core.windows.net/raw?resource=filesystem&recursive=true&directory=sales%2F2024%20q1\
             &maxResults=5000&continuation=VBa%2Fcont%2Btoken%3D%3D"
        );
        let req = list_paths_request("raw", "", false, 10, None);
        assert_eq!(
            account.request_url(&req).as_str(),
            "https://acct.dfs.core.windows.net/raw?resource=filesystem&recursive=false&maxResults=10"
        );
        let req = Request::new(Method::HEAD, Service::Dfs, "raw/a b").query("action", "getAccessControl");
        assert_eq!(
            account.request_url(&req).as_str(),
            "https://acct.dfs.core.windows.net/raw/a%20b?action=getAccessControl"
        );
    }

    #[test]
    fn list_paths_entries_become_metadata() {
        let page: Json = serde_json::from_str(
            r#"{"paths":[
                {"name":"sales","isDirectory":"true","lastModified":"Tue, 02 Jan 2024 10:00:00 GMT","etag":"0x8DC1",
                 "owner":"$superuser","group":"$superuser","permissions":"rwxr-x---","contentLength":"0",
                 "creationTime":"133485408000000000","expiryTime":"0"},
                {"name":"sales/q1.parquet","contentLength":"1234","lastModified":"Tue, 02 Jan 2024 10:00:01 GMT",
                 "etag":"\"0x8DC2\"","owner":"4f1c","group":"$superuser","permissions":"rw-r-----+",
                 "creationTime":"133485408010000000"},
                {"name":"n.csv","contentLength":7,"isDirectory":false}
            ]}"#,
        )
        .unwrap();
        let metas: Vec<ObjectMeta> = page["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| path_meta("raw", e["name"].as_str().unwrap(), e))
            .collect();
        assert_eq!(metas[0].path, "raw/sales");
        assert!(metas[0].is_dir);
        let attr = |m: &ObjectMeta, k: &str| m.attributes.iter().find(|a| a.key == k).map(|a| a.value.clone());
        assert_eq!(attr(&metas[0], "permissions"), Some(Value::Text("rwxr-x---".into())));
        // 133485408000000000 ticks = 2024-01-01T00:00:00Z.
        assert_eq!(attr(&metas[0], "creationTime"), Some(Value::Timestamp(1_704_067_200_000)));
        assert_eq!(attr(&metas[0], "expiryTime"), None);
        assert_eq!((metas[1].size, metas[1].etag.as_deref()), (1234, Some("0x8DC2")));
        assert_eq!(metas[1].last_modified, Some(1_704_189_601_000));
        assert_eq!(attr(&metas[1], "owner"), Some(Value::Text("4f1c".into())));
        assert_eq!((metas[2].path.as_str(), metas[2].size, metas[2].is_dir), ("raw/n.csv", 7, false));
    }

    #[test]
    fn filesystems_outside_the_scope_are_refused() {
        let account = AzureAccount::new(AzureConnection::new("acct", AzureCredential::Anonymous)).unwrap();
        let storage = DfsStorage::new(account, Some(vec!["raw".into()]));
        let err = storage.list("curated/x", true).err().unwrap();
        assert_eq!(err.kind, StorageErrorKind::Refused);
        assert_eq!(storage.read_range("raw/../curated/x", 0, 1).unwrap_err().kind, StorageErrorKind::Refused);
    }
}
