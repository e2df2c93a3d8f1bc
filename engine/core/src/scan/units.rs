//! Work units: one run of a storage source cut into slices that any node can
//! scan, each on its own.
//!
//! A storage's recursive listing is in a fixed order ([`PathOrder`]). The
//! planner walks the listing of each scope root once, reading names only,
//! and cuts it into slices `[start, end)` of about [`UnitSize`] files each,
//! as it goes ([`plan`]). A unit is scanned by the source's own connector,
//! unchanged, through a [`UnitView`] of the storage: every listing the
//! connector asks for is narrowed to the slice, so the connector sees only
//! the unit's files (and the folders on the way to them). A new storage
//! connector therefore gets units without a line of code; the slicing lives
//! here, on the `Storage` trait. Sources without storage (SQL, HTTP) are one
//! unit.
//!
//! A storage whose listings cannot start at a name (Azure's pages continue
//! only from a server-given marker) gives each object a mark as the planner
//! lists ([`Storage::list_marked`]); a unit keeps its first object's and
//! lists from there ([`UnitSpec::mark`]), not from the listing's start. A
//! run in one process hands each unit the objects its planner listed, when
//! the slice is small enough ([`plan_listed`], [`PrelistedStorage`]).
//!
//! The folders and containers above a slice are seen by every unit that
//! reaches into them, so a run's units overlap there; the commit keeps one
//! copy of each asset ([`super::commit`]).

use crate::host::bindings::storage::ObjectMeta;
use crate::storage::{Listing, MarkedListing, PathOrder, Storage, StorageError};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// What one unit scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitSpec {
    /// The scope root whose listing is sliced; `None`: the whole source in
    /// one unit (sources without storage, or a listing that could not be sliced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// First path of the slice (inclusive); `None`: from the listing's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// First path after the slice; `None`: to the listing's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Files the planner counted in the slice (progress only).
    #[serde(default)]
    pub files: u64,
    /// Where the storage's listing of `root` can be picked up to reach
    /// `start` (Azure: the page its first object was on); without it
    /// (older planners, storages that seek by name) the unit lists from
    /// `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
}

impl UnitSpec {
    /// The whole source as one unit.
    pub fn whole() -> UnitSpec {
        UnitSpec { root: None, start: None, end: None, files: 0, mark: None }
    }

    pub fn is_whole(&self) -> bool {
        self.root.is_none()
    }
}

/// Where a planner stopped: the next scope root to list and the last path
/// of that root already planned. A planner that is stopped and started again
/// (another node takes the plan over) resumes there, so no slice is planned
/// twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCursor {
    pub root: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("listing {root:?} to plan the run: {source}")]
    Storage { root: String, source: StorageError },
    /// The receiver refused the units (the run was canceled, the plan taken over).
    #[error("{0}")]
    Stopped(String),
}

/// How many files a unit holds.
#[derive(Debug, Clone, Copy)]
pub struct UnitSize {
    /// Files per unit, at first.
    pub files: u64,
    /// Units grow to a sixteenth of the files planned before them, up to
    /// this many (equal to `files`: units stay that size).
    pub most: u64,
}

impl UnitSize {
    pub fn fixed(files: u64) -> UnitSize {
        UnitSize { files, most: files }
    }

    /// For a run in one process, where units only bound its memory: a
    /// unit's fixed costs (a connector instance, the walk down to its first
    /// file through folders of 10,000 entries, the pipeline filling and
    /// draining) cost 15-65 ms each, so a million files in units of 2,000
    /// ran at 9-11k files/s and in units of 20,000 at 16k (BENCHMARKS.md §3).
    /// Growing units keep small sources in several units and large ones in
    /// a few dozen.
    pub fn growing(files: u64) -> UnitSize {
        UnitSize { files, most: files.saturating_mul(25) }
    }

    fn target(&self, planned: u64) -> u64 {
        let first = self.files.max(1);
        (planned / 16).clamp(first, self.most.max(first))
    }
}

/// Receives a plan's units in batches, with the cursor to resume after them.
pub type EmitUnits<'a> = dyn FnMut(Vec<UnitSpec>, &PlanCursor) -> Result<(), PlanError> + 'a;

type EmitPlanned<'a> = dyn FnMut(Vec<PlannedUnit>, &PlanCursor) -> Result<(), PlanError> + 'a;

/// A unit as planned in the process that scans it: with the objects the
/// planner listed for its slice, when there were few enough to keep.
#[derive(Debug)]
pub struct PlannedUnit {
    pub spec: UnitSpec,
    /// The slice's objects in listing order; `None`: the unit lists its
    /// slice itself (too many objects, an entry the listing could not read,
    /// or a root that could not be listed).
    pub listing: Option<Arc<[ObjectMeta]>>,
}

/// A planned slice's objects are kept for its unit up to this many. A unit
/// listing its slice again costs a second listing of the storage (on
/// Azure, ≈ 0.1 ms a blob on Azurite). Bounded so that the units planned
/// ahead of the scan stay small in memory (≈ 200 bytes an object, up to
/// three slices at once): at 50,000 a million-file run peaked at 196 MB
/// instead of 150; larger slices are listed again, from their mark.
pub const KEPT_LISTING_MOST: usize = 10_000;

/// The scope roots a run lists: the scope's paths, or the source's root.
pub fn scope_roots(scope: &[String]) -> Vec<String> {
    let mut roots: Vec<String> = if scope.is_empty() {
        vec![String::new()]
    } else {
        scope.iter().map(|s| s.trim_matches('/').to_string()).collect()
    };
    roots.sort();
    roots.dedup();
    // A root inside another root is listed with it.
    let all = roots.clone();
    roots.retain(|r| !all.iter().any(|o| o != r && (o.is_empty() || r.starts_with(&format!("{o}/")))));
    roots
}

/// Plans the units of a storage source: lists every scope root from
/// `cursor`, and hands units to `emit` in batches of at most `batch`, each
/// with the cursor to resume after it. `size` says how many files a unit
/// should hold. A root whose listing is empty, or missing, still gets
/// one unit (its container or folder is an asset, or its absence an error
/// the connector reports).
///
/// A slice ends where the next begins: at the first object of the listing
/// that does not sort before the cut (the next slice's `start`), found the
/// same way by both. So every object falls in exactly one slice, and an
/// object added or removed between planning and scanning falls in one too.
pub fn plan(
    storage: &dyn Storage,
    scope: &[String],
    size: UnitSize,
    cursor: PlanCursor,
    batch: usize,
    emit: &mut EmitUnits<'_>,
) -> Result<(), PlanError> {
    plan_units(storage, scope, size, cursor, batch, false, &mut |units, at| {
        emit(units.into_iter().map(|u| u.spec).collect(), at)
    })
}

/// As [`plan`], from the start, for a run that scans its units in this
/// process: each unit comes with its slice's listing where it was small
/// enough to keep ([`KEPT_LISTING_MOST`]), so that the unit does not list
/// it again ([`PrelistedStorage`]).
pub fn plan_listed(
    storage: &dyn Storage,
    scope: &[String],
    size: UnitSize,
    emit: &mut dyn FnMut(PlannedUnit) -> Result<(), PlanError>,
) -> Result<(), PlanError> {
    plan_units(storage, scope, size, PlanCursor::default(), 1, true, &mut |units, _| {
        units.into_iter().try_for_each(&mut *emit)
    })
}

/// The slice's objects collected as the planner lists them.
struct Kept {
    objects: Vec<ObjectMeta>,
    /// Whether this listing's slices are kept at all.
    keeping: bool,
    /// Given up for this slice (too many objects, an unreadable entry).
    dropped: bool,
}

impl Kept {
    fn new(keeping: bool) -> Kept {
        Kept { objects: Vec::new(), keeping, dropped: !keeping }
    }

    fn push(&mut self, object: &ObjectMeta) {
        if self.dropped {
            return;
        }
        if self.objects.len() >= KEPT_LISTING_MOST {
            self.drop_slice();
        } else {
            self.objects.push(object.clone());
        }
    }

    /// A slice of `files` files or more is not kept from its start (no
    /// objects copied only to be dropped).
    fn expect(&mut self, files: u64) {
        if files > KEPT_LISTING_MOST as u64 {
            self.drop_slice();
        }
    }

    fn drop_slice(&mut self) {
        self.dropped = true;
        self.objects = Vec::new();
    }

    /// The slice's objects, if kept whole; the next slice starts empty.
    fn take(&mut self) -> Option<Arc<[ObjectMeta]>> {
        let kept = std::mem::replace(self, Kept::new(self.keeping));
        (!kept.dropped).then(|| kept.objects.into())
    }
}

fn plan_units(
    storage: &dyn Storage,
    scope: &[String],
    size: UnitSize,
    cursor: PlanCursor,
    batch: usize,
    keep_listings: bool,
    emit: &mut EmitPlanned<'_>,
) -> Result<(), PlanError> {
    let roots = scope_roots(scope);
    let mut planned = 0u64;
    let mut pending: Vec<PlannedUnit> = Vec::new();
    let mut flush = |pending: &mut Vec<PlannedUnit>, at: &PlanCursor, force: bool| -> Result<(), PlanError> {
        if !pending.is_empty() && (force || pending.len() >= batch) {
            emit(std::mem::take(pending), at)?;
        }
        Ok(())
    };
    for (index, root) in roots.iter().enumerate().skip(cursor.root) {
        let resume = if index == cursor.root { cursor.after.clone() } else { None };
        let listing = match &resume {
            Some(after) => {
                storage.list_from(root, after).map(|l| -> MarkedListing { Box::new(l.map(|i| i.map(|o| (o, None)))) })
            }
            None => storage.list_marked(root),
        };
        // Only slices listed whole, from a root that could be listed, are kept.
        let mut kept = Kept::new(keep_listings && resume.is_none() && listing.is_ok());
        kept.expect(size.target(planned));
        let listing = match listing {
            Ok(listing) => listing,
            Err(e) if e.kind == crate::storage::StorageErrorKind::NotFound && resume.is_none() => {
                Box::new(std::iter::empty())
            }
            Err(source) => return Err(PlanError::Storage { root: root.clone(), source }),
        };
        // The open slice's start (`Some(None)`: from the listing's start);
        // a resumed root opens its first slice at its first new object.
        let mut open: Option<Option<String>> = if resume.is_some() { None } else { Some(None) };
        let mut files = 0u64;
        let mut last = resume.clone();
        // The open slice's mark: its first object's (none for a listing's first slice).
        let mut open_mark: Option<String> = None;
        for item in listing {
            // An entry that cannot be listed is reported by the unit that lists it.
            let Ok((object, mark)) = item else {
                kept.drop_slice();
                continue;
            };
            if resume.as_deref() == Some(object.path.as_str()) {
                continue;
            }
            if open.is_none() {
                open = Some(Some(object.path.clone()));
                open_mark = mark.as_deref().map(String::from);
            }
            if files >= size.target(planned) && !object.is_dir {
                let start = open.replace(Some(object.path.clone())).flatten();
                let end = Some(object.path.clone());
                let spec = UnitSpec { root: Some(root.clone()), start, end, files, mark: open_mark.take() };
                open_mark = mark.as_deref().map(String::from);
                pending.push(PlannedUnit { spec, listing: kept.take() });
                planned += files;
                kept.expect(size.target(planned));
                files = 0;
                flush(&mut pending, &PlanCursor { root: index, after: last.clone() }, false)?;
            }
            kept.push(&object);
            files += u64::from(!object.is_dir);
            last = Some(object.path);
        }
        if let Some(start) = open {
            let spec = UnitSpec { root: Some(root.clone()), start, end: None, files, mark: open_mark.take() };
            pending.push(PlannedUnit { spec, listing: kept.take() });
        }
        flush(&mut pending, &PlanCursor { root: index + 1, after: None }, true)?;
    }
    Ok(())
}

/// A storage whose recursive listings within one unit's root are answered
/// from the objects its planner listed ([`PlannedUnit::listing`]); every
/// other call goes to the storage. Under a [`UnitView`] of the same unit.
pub struct PrelistedStorage {
    inner: Arc<dyn Storage>,
    root: String,
    objects: Arc<[ObjectMeta]>,
}

impl PrelistedStorage {
    /// `inner` itself when the unit has no listing.
    pub fn wrap(inner: Arc<dyn Storage>, unit: &UnitSpec, listing: Option<Arc<[ObjectMeta]>>) -> Arc<dyn Storage> {
        match (listing, &unit.root) {
            (Some(objects), Some(root)) => Arc::new(PrelistedStorage { inner, root: root.clone(), objects }),
            _ => inner,
        }
    }

    /// Whether the kept objects are the listing of `prefix`: the root, or a
    /// folder below it with something of the slice in it. Anything else (a
    /// file, a missing path, a folder with nothing of the slice) is listed
    /// by the storage, which says what is wrong with it.
    fn answers(&self, prefix: &str) -> bool {
        prefix == self.root
            || (within(&self.root, prefix) && self.objects.iter().any(|o| o.path != prefix && within(prefix, &o.path)))
    }

    /// The kept objects below `prefix` from `start` on, as the storage's own
    /// listing of it would give them.
    fn listing(&self, prefix: &str, start: &str) -> Listing {
        let objects = self.objects.clone();
        let (prefix, start, order) = (prefix.to_string(), start.to_string(), self.inner.path_order());
        Box::new(
            (0..objects.len())
                .map(move |i| objects[i].clone())
                .filter(move |o| {
                    o.path != prefix
                        && within(&prefix, &o.path)
                        && (start.is_empty() || order.compare(&o.path, &start) != Ordering::Less)
                })
                .map(Ok),
        )
    }
}

impl Storage for PrelistedStorage {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let prefix = crate::storage::checked_relative(prefix)?;
        if recursive && self.answers(prefix) {
            return Ok(self.listing(prefix, ""));
        }
        self.inner.list(prefix, recursive)
    }

    fn list_from(&self, prefix: &str, start: &str) -> Result<Listing, StorageError> {
        self.list_from_mark(prefix, start, None)
    }

    fn list_from_mark(&self, prefix: &str, start: &str, mark: Option<&str>) -> Result<Listing, StorageError> {
        let prefix = crate::storage::checked_relative(prefix)?;
        if self.answers(prefix) {
            return Ok(self.listing(prefix, start));
        }
        self.inner.list_from_mark(prefix, start, mark)
    }

    fn path_order(&self) -> PathOrder {
        self.inner.path_order()
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        self.inner.stat(path)
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(path, offset, length)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        self.inner.read_range_into(path, offset, length, buf)
    }
}

/// The storage as one unit sees it: every listing narrowed to the unit's
/// slice. Reads and stats pass through (a unit reads only the files it lists).
pub struct UnitView {
    inner: Arc<dyn Storage>,
    order: PathOrder,
    root: String,
    start: Option<String>,
    end: Option<String>,
    mark: Option<String>,
}

impl UnitView {
    /// `None` for a unit that is the whole source.
    pub fn wrap(inner: Arc<dyn Storage>, unit: &UnitSpec) -> Arc<dyn Storage> {
        let Some(root) = &unit.root else { return inner };
        if unit.start.is_none() && unit.end.is_none() && root.is_empty() {
            return inner;
        }
        let order = inner.path_order();
        Arc::new(UnitView {
            inner,
            order,
            root: root.clone(),
            start: unit.start.clone(),
            end: unit.end.clone(),
            mark: unit.mark.clone(),
        })
    }

    fn in_slice(&self, path: &str) -> bool {
        within(&self.root, path)
            && self.start.as_deref().is_none_or(|s| self.order.compare(path, s) != Ordering::Less)
            && self.end.as_deref().is_none_or(|e| self.order.compare(path, e) == Ordering::Less)
    }

    /// Whether the folder `dir` may hold something of the slice: it is on the
    /// way to the root, or its contents (`dir/…`) overlap the slice.
    fn may_hold(&self, dir: &str) -> bool {
        if within(dir, &self.root) {
            return true;
        }
        if !within(&self.root, dir) {
            return false;
        }
        let first = format!("{dir}/");
        let last = format!("{dir}/\u{10FFFF}");
        self.start.as_deref().is_none_or(|s| self.order.compare(&last, s) != Ordering::Less)
            && self.end.as_deref().is_none_or(|e| self.order.compare(&first, e) == Ordering::Less)
    }
}

/// Whether `path` is `root` or below it (`""` holds everything).
fn within(root: &str, path: &str) -> bool {
    root.is_empty() || path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

impl Storage for UnitView {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let prefix = crate::storage::checked_relative(prefix)?.to_string();
        if recursive && (within(&prefix, &self.root) || within(&self.root, &prefix)) {
            // List the deeper of the two, from the slice's start, and stop at its end.
            let from = if within(&prefix, &self.root) { self.root.clone() } else { prefix };
            let listing = match &self.start {
                Some(start) => self.inner.list_from_mark(&from, start, self.mark.as_deref())?,
                None => self.inner.list(&from, true)?,
            };
            // The slice ends at the first object that does not sort before
            // `end`: where the next unit's `list_from` starts.
            let (order, end) = (self.order, self.end.clone());
            return Ok(Box::new(listing.take_while(move |item| match (item, &end) {
                (Ok(o), Some(end)) => order.compare(&o.path, end) == Ordering::Less,
                _ => true,
            })));
        }
        if recursive {
            // Wholly outside the unit's root: nothing of the slice.
            return Ok(Box::new(std::iter::empty()));
        }
        let listing = self.inner.list(&prefix, false)?;
        let view = UnitView {
            inner: self.inner.clone(),
            order: self.order,
            root: self.root.clone(),
            start: self.start.clone(),
            end: self.end.clone(),
            mark: None,
        };
        Ok(Box::new(listing.filter(move |item| match item {
            Ok(ObjectMeta { path, is_dir: true, .. }) => view.may_hold(path) || view.in_slice(path),
            Ok(o) => view.in_slice(&o.path),
            Err(_) => true,
        })))
    }

    fn list_from(&self, prefix: &str, start: &str) -> Result<Listing, StorageError> {
        let order = self.order;
        let start = start.to_string();
        Ok(Box::new(
            self.list(prefix, true)?
                .skip_while(move |item| item.as_ref().is_ok_and(|o| order.compare(&o.path, &start) == Ordering::Less)),
        ))
    }

    fn path_order(&self) -> PathOrder {
        self.order
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        self.inner.stat(path)
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(path, offset, length)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        self.inner.read_range_into(path, offset, length, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn lake(paths: &[&str]) -> Arc<dyn Storage> {
        let mut m = MemoryStorage::new();
        for p in paths {
            m.insert(p, b"x".to_vec());
        }
        Arc::new(m)
    }

    fn planned(storage: &dyn Storage, scope: &[&str], target: u64) -> Vec<UnitSpec> {
        let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
        let mut units = Vec::new();
        plan(storage, &scope, UnitSize::fixed(target), PlanCursor::default(), 2, &mut |batch, _| {
            units.extend(batch);
            Ok(())
        })
        .unwrap();
        units
    }

    fn files(storage: &Arc<dyn Storage>, unit: &UnitSpec) -> Vec<String> {
        UnitView::wrap(storage.clone(), unit).list("", true).unwrap().map(|o| o.unwrap().path).collect()
    }

    #[test]
    fn every_file_falls_in_exactly_one_unit() {
        let paths: Vec<String> = (0..23).map(|i| format!("t/y={}/part-{i:03}.parquet", i % 4)).collect();
        let mut all: Vec<&str> = paths.iter().map(String::as_str).collect();
        all.extend(["a.csv", "t.csv", "z/one.json"]);
        let storage = lake(&all);
        let units = planned(&*storage, &[], 5);
        assert_eq!(units.len(), 6, "26 files, 5 a unit: {units:?}");
        let mut seen: Vec<String> = units.iter().flat_map(|u| files(&storage, u)).collect();
        assert_eq!(units.iter().map(|u| u.files).sum::<u64>(), 26);
        let mut expected: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_unit_given_its_planned_listing_sees_what_listing_its_slice_again_shows() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths: Vec<String> = (0..23).map(|i| format!("t/y={}/part-{i:03}.parquet", i % 4)).collect();
        paths.extend(["a.csv", "t.csv", "z/one.json", "z/deep/er/two.json"].map(String::from));
        for p in &paths {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let storage: Arc<dyn Storage> = Arc::new(crate::storage::LocalStorage::open(dir.path()).unwrap());
        let shown = |storage: &Arc<dyn Storage>, prefix: &str, how: &str| -> Vec<String> {
            let listing = match how {
                "recursive" => storage.list(prefix, true),
                "one level" => storage.list(prefix, false),
                _ => storage.list_from(prefix, how),
            };
            listing.map(|l| l.map(|o| format!("{:?}", o.unwrap())).collect()).unwrap_or_else(|e| vec![e.to_string()])
        };
        for scope in [vec![], vec!["t".to_string(), "z".to_string()]] {
            let mut units = Vec::new();
            plan_listed(&*storage, &scope, UnitSize::fixed(5), &mut |unit| {
                units.push(unit);
                Ok(())
            })
            .unwrap();
            assert!(units.len() >= 5 && units.iter().all(|u| u.listing.is_some()), "{units:?}");
            for unit in units {
                let listed = UnitView::wrap(storage.clone(), &unit.spec);
                let kept =
                    UnitView::wrap(PrelistedStorage::wrap(storage.clone(), &unit.spec, unit.listing), &unit.spec);
                for prefix in ["", "t", "t/y=1", "z", "z/deep", "t.csv", "nothing"] {
                    for how in ["recursive", "one level", "t/y=2", "z/deep/er/two.json"] {
                        assert_eq!(
                            shown(&kept, prefix, how),
                            shown(&listed, prefix, how),
                            "{prefix:?} {how} in {:?}",
                            unit.spec
                        );
                    }
                }
            }
        }
        // The units are answered from the planner's listing, not by listing again.
        let mut units = Vec::new();
        plan_listed(&*storage, &[], UnitSize::fixed(100), &mut |unit| {
            units.push(unit);
            Ok(())
        })
        .unwrap();
        std::fs::remove_file(dir.path().join("a.csv")).unwrap();
        let unit = units.pop().unwrap();
        let kept = PrelistedStorage::wrap(storage.clone(), &unit.spec, unit.listing);
        assert!(shown(&kept, "", "recursive").iter().any(|o| o.contains("\"a.csv\"")));
        assert!(!shown(&storage, "", "recursive").iter().any(|o| o.contains("\"a.csv\"")));
    }

    #[test]
    fn growing_units_stay_small_in_small_sources_and_grow_in_large_ones() {
        let paths: Vec<String> = (0..1000).map(|i| format!("t/part-{i:04}")).collect();
        let storage = lake(&paths.iter().map(String::as_str).collect::<Vec<_>>());
        let mut units = Vec::new();
        plan(&*storage, &[], UnitSize::growing(10), PlanCursor::default(), 8, &mut |batch, _| {
            units.extend(batch);
            Ok(())
        })
        .unwrap();
        let sizes: Vec<u64> = units.iter().map(|u| u.files).collect();
        assert_eq!(sizes.iter().sum::<u64>(), 1000);
        assert_eq!(sizes[..16], [10; 16], "the first 160 files in units of 10");
        assert!(sizes.windows(2).all(|w| w[0] <= w[1] || w[1] == *sizes.last().unwrap()), "{sizes:?}");
        assert!(sizes.len() < 50 && sizes[sizes.len() - 2] > 50, "{sizes:?}");
        let mut seen: Vec<String> = units.iter().flat_map(|u| files(&storage, u)).collect();
        seen.sort();
        assert_eq!(seen, paths);
    }

    #[test]
    fn scope_roots_are_listed_separately_and_nested_ones_once() {
        let storage = lake(&["a/1", "a/2", "a/b/3", "c/4", "d/5"]);
        let units = planned(&*storage, &["a", "a/b", "d"], 100);
        let roots: Vec<&str> = units.iter().map(|u| u.root.as_deref().unwrap()).collect();
        assert_eq!(roots, ["a", "d"]);
        assert_eq!(files(&storage, &units[0]), ["a/1", "a/2", "a/b/3"]);
    }

    #[test]
    fn a_planner_taken_over_resumes_after_what_was_planned() {
        let paths: Vec<String> = (0..10).map(|i| format!("f/{i:02}")).collect();
        let storage = lake(&paths.iter().map(String::as_str).collect::<Vec<_>>());
        let mut first = Vec::new();
        let mut cursor = PlanCursor::default();
        let stopped = plan(&*storage, &[], UnitSize::fixed(3), PlanCursor::default(), 1, &mut |batch, at| {
            if !first.is_empty() {
                return Err(PlanError::Stopped("the node stopped".into()));
            }
            first.extend(batch);
            cursor = at.clone();
            Ok(())
        });
        assert!(stopped.is_err());
        let mut rest = Vec::new();
        plan(&*storage, &[], UnitSize::fixed(3), cursor, 1, &mut |batch, _| {
            rest.extend(batch);
            Ok(())
        })
        .unwrap();
        let mut seen: Vec<String> = first.iter().chain(&rest).flat_map(|u| files(&storage, u)).collect();
        seen.sort();
        assert_eq!(seen, paths);
    }

    #[test]
    fn one_level_listings_show_only_the_way_to_the_slice() {
        let storage = lake(&["a/x/1", "a/y/2", "b/3"]);
        let unit = UnitSpec {
            root: Some(String::new()),
            start: Some("a/y/2".into()),
            end: Some("b/3".into()),
            files: 1,
            mark: None,
        };
        let view = UnitView::wrap(storage.clone(), &unit);
        // MemoryStorage lists one level as it lists all: the filter is what is tested.
        let level: Vec<String> = view.list("", false).unwrap().map(|o| o.unwrap().path).collect();
        assert_eq!(level, ["a/y/2"]);
    }

    #[test]
    fn an_empty_root_is_still_a_unit() {
        let storage = lake(&["a/1"]);
        let units = planned(&*storage, &["empty"], 5);
        assert_eq!(units, [UnitSpec { root: Some("empty".into()), start: None, end: None, files: 0, mark: None }]);
    }
}
