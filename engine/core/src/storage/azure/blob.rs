//! [`BlobStorage`]: a [`Storage`] over the Blob endpoint, and the blob
//! operations the sink needs (create container, Put Blob, Put Block…).
//!
//! Paths are `container/path/in/container`; `""` is the account, whose
//! entries are its containers. Listings page through List Blobs lazily
//! (5,000 per page, the service maximum): a scan of a million blobs holds
//! one page at a time, and starts on the first page while the rest are
//! still unlisted.

use super::client::{MAX_PAGE, Request, Service, parse_http_date_ms};
use super::error::{self, Subject};
use super::paging::{self, AccountWalk, Mark, MarkedPages, MarkedWalk, Open, Pages};
use super::{AzureAccount, xml};
use crate::host::bindings::storage::ObjectMeta;
use crate::host::bindings::types::{Attribute, Value};
use crate::storage::{Listing, MarkedListing, Storage, StorageError, StorageErrorKind, checked_relative};
use reqwest::Method;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct BlobStorage {
    lister: Lister,
    containers: Option<Vec<String>>,
}

/// What a lazy listing needs to fetch its next page after `list` returned.
#[derive(Clone)]
pub(crate) struct Lister {
    pub account: Arc<AzureAccount>,
    pub requests: Arc<AtomicU64>,
    pub page_size: u32,
}

impl BlobStorage {
    /// All containers of the account, or only those in `containers`.
    pub fn new(account: Arc<AzureAccount>, containers: Option<Vec<String>>) -> Self {
        let lister = Lister { account, requests: Arc::new(AtomicU64::new(0)), page_size: MAX_PAGE };
        BlobStorage { lister, containers }
    }

    /// Fewer entries per page than the service's 5,000: for tests of paging.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.lister.page_size = page_size.clamp(1, MAX_PAGE);
        self
    }

    /// Opens a container's recursive listing of `folder`, at a marker.
    fn open(&self, folder: &str) -> Open<BlobPages> {
        let (lister, folder) = (self.lister.clone(), folder.to_string());
        Box::new(move |container, marker| BlobPages::new(lister.clone(), container, &folder, true).at(marker))
    }

    /// Requests this storage has sent (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.lister.requests.load(Ordering::Relaxed)
    }

    /// `(container, rest)` of a checked path; a container outside the
    /// source's list is refused.
    fn split<'p>(&self, path: &'p str) -> Result<(&'p str, &'p str), StorageError> {
        let path = checked_relative(path)?;
        let (container, rest) = path.split_once('/').unwrap_or((path, ""));
        in_scope(&self.containers, container, path)?;
        Ok((container, rest))
    }
}

pub(crate) fn in_scope(scope: &Option<Vec<String>>, container: &str, path: &str) -> Result<(), StorageError> {
    match scope {
        Some(list) if !container.is_empty() && !list.iter().any(|c| c == container) => Err(StorageError::new(
            StorageErrorKind::Refused,
            path,
            format!("container '{container}' is outside this source (its containers: {})", list.join(", ")),
        )),
        _ => Ok(()),
    }
}

impl Storage for BlobStorage {
    fn describe(&self) -> String {
        let endpoint = error::shown_endpoint(self.lister.account.blob_url());
        match &self.containers {
            Some(list) => format!("Azure Blob Storage {endpoint} (containers {})", list.join(", ")),
            None => format!("Azure Blob Storage {endpoint}"),
        }
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let (container, rest) = self.split(prefix)?;
        if container.is_empty() {
            let containers = self.lister.containers(&self.containers)?;
            if !recursive {
                return Ok(Box::new(containers.into_iter().map(Ok)));
            }
            return Ok(Box::new(AccountWalk::new(containers, None, self.open(""))));
        }
        let mut pages = BlobPages::new(self.lister.clone(), container, rest, recursive);
        pages.fetch()?;
        Ok(Box::new(pages))
    }

    fn list_marked(&self, prefix: &str) -> Result<MarkedListing, StorageError> {
        let (container, rest) = self.split(prefix)?;
        if container.is_empty() {
            let containers = self.lister.containers(&self.containers)?;
            return Ok(Box::new(MarkedWalk(AccountWalk::new(containers, None, self.open("")))));
        }
        let mut pages = BlobPages::new(self.lister.clone(), container, rest, true);
        pages.fetch()?;
        Ok(Box::new(MarkedPages(pages)))
    }

    fn list_from_mark(&self, prefix: &str, start: &str, mark: Option<&str>) -> Result<Listing, StorageError> {
        if let Some(mark) = mark.and_then(Mark::parse) {
            let (container, rest) = self.split(prefix)?;
            let key = BlobPages::prefix_of(rest);
            let containers = || self.lister.containers(&self.containers);
            if let Some(listing) = paging::resume(mark, container, &key, start, containers, self.open(rest)) {
                return listing;
            }
        }
        self.list_from(prefix, start)
    }

    fn path_order(&self) -> crate::storage::PathOrder {
        crate::storage::PathOrder::ContainerFirst
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        let (container, rest) = self.split(path)?;
        let counter = Some(&*self.lister.requests);
        if container.is_empty() {
            return Ok(dir_meta(String::new()));
        }
        if rest.is_empty() {
            return self.lister.account.container_properties(container, counter);
        }
        let full = format!("{container}/{rest}");
        match self.lister.account.blob_properties(&full, counter) {
            // The container itself is missing: no folder to look for.
            Err(e) if e.kind == StorageErrorKind::NotFound && e.message.contains("ContainerNotFound") => Err(e),
            Err(e) if e.kind == StorageErrorKind::NotFound => {
                // No blob of that name: a virtual folder if anything is under it.
                let mut pages = BlobPages::new(self.lister.clone(), container, rest, false);
                pages.page_size = 1;
                pages.fetch()?;
                if pages.items.as_slice().is_empty() { Err(e) } else { Ok(dir_meta(full)) }
            }
            other => other,
        }
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        let mut buf = Vec::new();
        self.read_range_into(path, offset, length, &mut buf)?;
        Ok(buf)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        let (_, rest) = self.split(path)?;
        if rest.is_empty() {
            return Err(StorageError::new(
                StorageErrorKind::Refused,
                path,
                "a container is not a blob; give a blob path",
            ));
        }
        self.lister.account.read_blob_into(checked_relative(path)?, offset, length, buf, Some(&*self.lister.requests))
    }
}

impl Lister {
    /// The containers as `is_dir` entries: listed from the account, or the
    /// source's own list as given (a credential scoped to some containers
    /// may not list the account).
    pub(crate) fn containers(&self, scope: &Option<Vec<String>>) -> Result<Vec<ObjectMeta>, StorageError> {
        if let Some(list) = scope {
            let mut list = list.clone();
            list.sort();
            return Ok(list.into_iter().map(dir_meta).collect());
        }
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self.account.list_containers_page(marker.as_deref(), MAX_PAGE, Some(&self.requests))?;
            for c in page {
                let mut meta = dir_meta(c.name);
                meta.last_modified = c.last_modified;
                meta.etag = c.etag.map(|e| e.trim_matches('"').to_string());
                if let Some(access) = c.public_access {
                    meta.attributes.push(text("publicAccess", access));
                }
                all.push(meta);
            }
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(all),
            }
        }
    }
}

pub(crate) fn dir_meta(path: String) -> ObjectMeta {
    ObjectMeta {
        path,
        is_dir: true,
        size: 0,
        last_modified: None,
        etag: None,
        content_type: None,
        attributes: Vec::new(),
    }
}

pub(crate) fn text(key: &str, value: impl Into<String>) -> Attribute {
    Attribute { key: key.to_string(), value: Value::Text(value.into()) }
}

/// The lazy pages of one container's List Blobs.
pub(crate) struct BlobPages {
    lister: Lister,
    container: String,
    /// The blob-name prefix: `""` or `folder/`.
    prefix: String,
    delimiter: bool,
    page_size: u32,
    marker: Option<String>,
    /// The marker the current page was fetched with (`None`: the first page).
    page_marker: Option<String>,
    /// The current page's listing mark, once asked for.
    page_mark: Option<Arc<str>>,
    items: std::vec::IntoIter<ObjectMeta>,
    started: bool,
    done: bool,
}

impl BlobPages {
    /// The blob-name prefix of a folder: `""` or `folder/`.
    fn prefix_of(folder: &str) -> String {
        if folder.is_empty() { String::new() } else { format!("{folder}/") }
    }

    pub(crate) fn new(lister: Lister, container: &str, folder: &str, recursive: bool) -> Self {
        let prefix = Self::prefix_of(folder);
        BlobPages {
            page_size: lister.page_size,
            lister,
            container: container.to_string(),
            prefix,
            delimiter: !recursive,
            marker: None,
            page_marker: None,
            page_mark: None,
            items: Vec::new().into_iter(),
            started: false,
            done: false,
        }
    }

    /// Starting at the page `marker` names (`None`: the first).
    fn at(mut self, marker: Option<String>) -> Self {
        self.marker = marker;
        self
    }

    /// Fetches the next page into `items`.
    pub(crate) fn fetch(&mut self) -> Result<(), StorageError> {
        self.started = true;
        let mut req = Request::new(Method::GET, Service::Blob, &self.container)
            .query("restype", "container")
            .query("comp", "list")
            .query("maxresults", self.page_size.to_string())
            .counted(Some(&self.lister.requests));
        if !self.prefix.is_empty() {
            req = req.query("prefix", self.prefix.clone());
        }
        if self.delimiter {
            req = req.query("delimiter", "/");
        }
        if let Some(marker) = &self.marker {
            req = req.query("marker", marker.clone());
        }
        let mut body = Vec::new();
        let result =
            self.lister.account.call(&req, &[], &mut body).and_then(|_| {
                xml::parse::<xml::BlobList>(&body).map_err(|m| self.lister.account.bad_response(&req, m))
            });
        let list = match result {
            Ok(list) => list,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        self.page_marker = std::mem::replace(&mut self.marker, xml::nonempty(&list.next_marker).map(str::to_string));
        self.page_mark = None;
        self.done = self.marker.is_none();
        self.items = page_entries(&self.container, list.blobs.items, self.delimiter).into_iter();
        Ok(())
    }
}

/// A page's entries, in lexicographic order with a folder sorting as its
/// name followed by `/`. Blobs whose name ends in `/` (folder markers some
/// tools write) are not files and are left out; a directory blob of a
/// hierarchical-namespace account is a folder, once.
fn page_entries(container: &str, items: Vec<xml::BlobItem>, one_level: bool) -> Vec<ObjectMeta> {
    let prefixes: HashSet<String> = items
        .iter()
        .filter_map(|i| match i {
            xml::BlobItem::BlobPrefix(p) => Some(p.name.decoded()),
            xml::BlobItem::Blob(_) => None,
        })
        .collect();
    let mut entries: Vec<(String, ObjectMeta)> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            xml::BlobItem::BlobPrefix(p) => {
                let name = p.name.decoded();
                let path = format!("{container}/{}", name.trim_end_matches('/'));
                entries.push((name, dir_meta(path)));
            }
            xml::BlobItem::Blob(b) => {
                let name = b.name.decoded();
                if name.ends_with('/') {
                    continue;
                }
                let meta = blob_meta(format!("{container}/{name}"), &b.properties);
                if meta.is_dir && one_level && prefixes.contains(&format!("{name}/")) {
                    continue;
                }
                let key = if meta.is_dir { format!("{name}/") } else { name };
                entries.push((key, meta));
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, meta)| meta).collect()
}

impl Pages for BlobPages {
    fn fetch(&mut self) -> Result<(), StorageError> {
        BlobPages::fetch(self)
    }

    fn started(&self) -> bool {
        self.started
    }

    fn place(&self) -> (&str, &str, Option<&str>) {
        (&self.container, &self.prefix, self.page_marker.as_deref())
    }

    fn mark_cache(&mut self) -> &mut Option<Arc<str>> {
        &mut self.page_mark
    }
}

impl Iterator for BlobPages {
    type Item = Result<ObjectMeta, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(meta) = self.items.next() {
                return Some(Ok(meta));
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

/// An object's metadata from its blob properties (listing or HEAD).
pub(crate) fn blob_meta(path: String, p: &xml::BlobProperties) -> ObjectMeta {
    let mut attributes = Vec::new();
    let etag = xml::nonempty(&p.etag).map(|e| e.trim_matches('"').to_string());
    let content_type = xml::nonempty(&p.content_type).map(str::to_string);
    for (key, value) in [
        ("blobType", &p.blob_type),
        ("accessTier", &p.access_tier),
        ("contentType", &p.content_type),
        ("contentEncoding", &p.content_encoding),
        ("contentLanguage", &p.content_language),
        ("contentMd5", &p.content_md5),
        ("cacheControl", &p.cache_control),
        ("leaseStatus", &p.lease_status),
        ("leaseState", &p.lease_state),
        ("resourceType", &p.resource_type),
        ("owner", &p.owner),
        ("group", &p.group),
        ("permissions", &p.permissions),
    ] {
        if let Some(v) = xml::nonempty(value) {
            attributes.push(text(key, v));
        }
    }
    if let Some(e) = &etag {
        attributes.push(text("etag", e.clone()));
    }
    for (key, value) in [("accessTierInferred", &p.access_tier_inferred), ("serverEncrypted", &p.server_encrypted)] {
        if let Some(v) = xml::nonempty(value) {
            attributes.push(Attribute { key: key.to_string(), value: Value::Boolean(v.eq_ignore_ascii_case("true")) });
        }
    }
    if let Some(t) = xml::nonempty(&p.creation_time).and_then(parse_http_date_ms) {
        attributes.push(Attribute { key: "creationTime".to_string(), value: Value::Timestamp(t) });
    }
    let is_dir = xml::nonempty(&p.resource_type) == Some("directory");
    ObjectMeta {
        path,
        is_dir,
        size: if is_dir { 0 } else { xml::nonempty(&p.content_length).and_then(|l| l.parse().ok()).unwrap_or(0) },
        last_modified: xml::nonempty(&p.last_modified).and_then(parse_http_date_ms),
        etag,
        content_type,
        attributes,
    }
}

/// Blob operations: what [`BlobStorage`] reads with, and what the sink writes with.
impl AzureAccount {
    /// Get Container Properties, as an `is_dir` entry.
    pub(crate) fn container_properties(
        &self,
        container: &str,
        counter: Option<&AtomicU64>,
    ) -> Result<ObjectMeta, StorageError> {
        let req = Request::new(Method::GET, Service::Blob, container).query("restype", "container").counted(counter);
        let head = self.call(&req, &[], &mut Vec::new())?;
        let mut meta = dir_meta(container.to_string());
        meta.last_modified = head.header("last-modified").and_then(parse_http_date_ms);
        meta.etag = head.header("etag").map(|e| e.trim_matches('"').to_string());
        for (key, header) in [("publicAccess", "x-ms-blob-public-access"), ("leaseState", "x-ms-lease-state")] {
            if let Some(v) = head.header(header) {
                meta.attributes.push(text(key, v));
            }
        }
        Ok(meta)
    }

    /// HEAD of a blob (`container/name`), as metadata.
    pub(crate) fn blob_properties(&self, path: &str, counter: Option<&AtomicU64>) -> Result<ObjectMeta, StorageError> {
        let req = Request::new(Method::HEAD, Service::Blob, path).counted(counter);
        let head = self.call(&req, &[], &mut Vec::new())?;
        let h = |name: &str| head.header(name).map(str::to_string);
        let folder = h("x-ms-meta-hdi_isfolder").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let properties = xml::BlobProperties {
            creation_time: h("x-ms-creation-time"),
            last_modified: h("last-modified"),
            etag: h("etag"),
            content_length: h("content-length"),
            content_type: h("content-type"),
            content_encoding: h("content-encoding"),
            content_language: h("content-language"),
            content_md5: h("content-md5"),
            cache_control: h("cache-control"),
            blob_type: h("x-ms-blob-type"),
            access_tier: h("x-ms-access-tier"),
            access_tier_inferred: h("x-ms-access-tier-inferred"),
            lease_status: h("x-ms-lease-status"),
            lease_state: h("x-ms-lease-state"),
            server_encrypted: h("x-ms-server-encrypted"),
            resource_type: if folder { Some("directory".to_string()) } else { h("x-ms-resource-type") },
            owner: h("x-ms-owner"),
            group: h("x-ms-group"),
            permissions: h("x-ms-permissions"),
        };
        Ok(blob_meta(path.to_string(), &properties))
    }

    /// Up to `length` bytes of a blob from `offset` (`Range: bytes=a-b`); an
    /// empty result past the end or for an empty blob (416).
    pub(crate) fn read_blob_into(
        &self,
        path: &str,
        offset: u64,
        length: u64,
        buf: &mut Vec<u8>,
        counter: Option<&AtomicU64>,
    ) -> Result<(), StorageError> {
        buf.clear();
        if length == 0 {
            return Ok(());
        }
        let last = offset.saturating_add(length - 1);
        let req = Request::new(Method::GET, Service::Blob, path)
            .header("range", format!("bytes={offset}-{last}"))
            .counted(counter);
        let head = self.call(&req, &[416], buf)?;
        match head.status.as_u16() {
            416 => buf.clear(),
            // A server that ignored the range sent the whole blob.
            200 => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(buf.len());
                buf.drain(..start);
                buf.truncate(usize::try_from(length).unwrap_or(usize::MAX));
            }
            _ => {}
        }
        Ok(())
    }

    /// Create Container; `false` when it already existed.
    pub fn create_container(&self, container: &str) -> Result<bool, StorageError> {
        let req = Request::new(Method::PUT, Service::Blob, container).query("restype", "container");
        let mut body = Vec::new();
        let head = self.call(&req, &[409], &mut body)?;
        if head.status.as_u16() != 409 {
            return Ok(true);
        }
        if head.error_code() == Some("ContainerAlreadyExists") {
            return Ok(false);
        }
        Err(self.status_error(&req, &head, &body))
    }

    /// Put Blob: one block blob of up to 5,000 MiB in one request.
    pub fn put_blob(&self, container: &str, name: &str, bytes: &[u8], content_type: &str) -> Result<(), StorageError> {
        let path = format!("{container}/{name}");
        let req = Request::new(Method::PUT, Service::Blob, &path)
            .header("x-ms-blob-type", "BlockBlob")
            .header("x-ms-blob-content-type", content_type)
            .body(bytes);
        self.call(&req, &[], &mut Vec::new()).map(|_| ())
    }

    /// Put Block: one uncommitted block of a blob.
    pub(crate) fn put_block(&self, path: &str, block_id: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let req = Request::new(Method::PUT, Service::Blob, path)
            .query("comp", "block")
            .query("blockid", block_id)
            .body(bytes);
        self.call(&req, &[], &mut Vec::new()).map(|_| ())
    }

    /// Put Block List: commits the blocks, in order, as the blob's content.
    pub(crate) fn put_block_list(
        &self,
        path: &str,
        block_ids: &[String],
        content_type: &str,
    ) -> Result<(), StorageError> {
        let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in block_ids {
            list.push_str(&format!("<Latest>{}</Latest>", xml::escape(id)));
        }
        list.push_str("</BlockList>");
        let req = Request::new(Method::PUT, Service::Blob, path)
            .query("comp", "blocklist")
            .header("x-ms-blob-content-type", content_type)
            .header("content-type", "application/xml")
            .body(list.as_bytes());
        self.call(&req, &[], &mut Vec::new()).map(|_| ())
    }

    /// Delete Blob; `false` when there was none.
    pub fn delete_blob(&self, container: &str, name: &str) -> Result<bool, StorageError> {
        let path = format!("{container}/{name}");
        let req = Request::new(Method::DELETE, Service::Blob, &path);
        let head = self.call(&req, &[404], &mut Vec::new())?;
        Ok(head.status.as_u16() != 404)
    }

    /// Get Blob, whole.
    pub fn get_blob(&self, container: &str, name: &str) -> Result<Vec<u8>, StorageError> {
        let path = format!("{container}/{name}");
        let mut body = Vec::new();
        self.call(&Request::new(Method::GET, Service::Blob, &path), &[], &mut body)?;
        Ok(body)
    }

    /// The error for a response `call` accepted but the caller cannot.
    pub(crate) fn status_error(&self, req: &Request<'_>, head: &super::client::Head, body: &[u8]) -> StorageError {
        let subject = Subject { service: req.service, path: req.path, endpoint: self.endpoint(req.service) };
        error::from_status(head.status, &head.headers, body, &subject, self.auth.auth_hint(), 1)
    }
}
