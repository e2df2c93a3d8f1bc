//! Resource sets: partitioned or sharded files grouped into one logical
//! asset per pattern, as Microsoft Purview does — but with every member's
//! schema read, so that a set reports how many distinct schemas its files
//! have and how they differ, and a corrupt member is an error on that file,
//! never an empty schema for the set.
//!
//! Everything a set reports is decided by rule, never by the order its
//! members arrive in (threads, work units and nodes finish in any order;
//! see `docs/resource-sets.md`):
//!
//! - the set's schema is the schema of its **newest member** (latest
//!   modification time; among members modified at the same time, the one
//!   whose path sorts last), the way a table's current schema is that of its
//!   latest writes;
//! - each variant's example is its newest member, by the same rule;
//! - variants are listed: the set's own first, then by files (most first),
//!   newest member (newest first), example path;
//! - at most [`MAX_VARIANTS`] variants are kept with their columns: those
//!   with the newest members; all are counted;
//! - a partition key lists its [`MAX_KEY_VALUES`] smallest values.
//!
//! Memory is bounded by the number of sets and of distinct schemas (a count
//! each), not by the number of files. When assets are offered in order of
//! qualified name (the commit's merged stream) and the grouper has a folder
//! to write to, a set is put aside in a file once the stream has passed
//! every name its members can have ([`sealed`]): then memory holds only the
//! sets still open, a handful, however large the run.

mod pattern;
mod rules;
mod sealed;

pub use pattern::{Matched, file_pattern, folder_pattern};
pub use rules::{GroupingConfig, Rule, RuleConfig, RuleError};

use crate::host::bindings::types::{Asset, AssetRef, Attribute, Column, Value};
use sealed::Sealed;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use surveyor_sdk::qualified_name::join;

/// Schema variants kept with their columns per set; further variants are only counted.
pub const MAX_VARIANTS: usize = 32;
/// Distinct values kept per partition key (the smallest).
pub const MAX_KEY_VALUES: usize = 100;
/// Columns listed per difference (added, removed, retyped).
const MAX_DIFF: usize = 20;

/// A file's schema as the grouper and the writer see it: columns shared
/// among the files that have them, and the file's own format facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileColumns {
    pub columns: Arc<Vec<Column>>,
    pub facts: Vec<Attribute>,
}

/// What became of an asset offered to the [`Grouper`].
#[allow(clippy::large_enum_variant)] // returned once per asset, never stored
pub enum Offer {
    /// Not part of a set: write it as it is.
    Keep(Asset, Option<FileColumns>),
    /// A member of a set (or a folder inside one): written as part of the set.
    Absorbed,
}

/// Groups the assets of one run.
pub struct Grouper {
    enabled: bool,
    rules: Vec<Rule>,
    /// The open sets, by pattern.
    sets: HashMap<String, SetBuilder>,
    /// With `sealed`: the open sets by their [`SetBuilder::bound`], then pattern.
    bounds: BTreeSet<(String, String)>,
    /// Sets put aside, when the assets come in order.
    sealed: Option<Sealed>,
}

impl Grouper {
    pub fn new(config: &GroupingConfig) -> Result<Self, RuleError> {
        Ok(Grouper {
            enabled: config.enabled,
            rules: rules::compile(config)?,
            sets: HashMap::new(),
            bounds: BTreeSet::new(),
            sealed: None,
        })
    }

    /// For assets offered in order of qualified name: a set is put aside in
    /// a file in `dir` once they are past its members' names. A member that
    /// still comes later (a connector whose names do not follow its paths)
    /// takes its set back out: what is written never depends on this.
    pub fn seal_passed_sets_in(mut self, dir: &std::path::Path) -> std::io::Result<Self> {
        self.sealed = Some(Sealed::create(dir)?);
        Ok(self)
    }

    /// Offers an asset with its schema (`schema_failed`: a format connector
    /// tried and failed, the error is reported on the file). Fails only
    /// when sets are put aside and their file fails.
    pub fn offer(&mut self, asset: Asset, schema: Option<FileColumns>, schema_failed: bool) -> std::io::Result<Offer> {
        let Some(path) = asset.path.clone().filter(|_| self.enabled) else {
            return Ok(Offer::Keep(asset, schema));
        };
        if self.rules.iter().any(|r| matches!(r, Rule::DoNotGroup { prefix } if path.starts_with(prefix.as_str()))) {
            return Ok(Offer::Keep(asset, schema));
        }
        if asset.file.is_none() {
            // A folder: dropped when it is inside a set's pattern.
            let inside = folder_pattern(&path).is_some()
                || self
                    .rules
                    .iter()
                    .any(|r| matches!(r, Rule::Pattern { folders, .. } if folders.iter().any(|f| f.is_match(&path))));
            return Ok(if inside { Offer::Absorbed } else { Offer::Keep(asset, schema) });
        }
        let Some((matched, name)) = self.match_file(&path) else {
            self.seal_passed(&asset.qualified_name)?;
            return Ok(Offer::Keep(asset, schema));
        };
        let pattern = matched.pattern;
        if !self.sets.contains_key(&pattern) {
            let set = match self.sealed.as_mut() {
                Some(sealed) => sealed.take(&pattern)?,
                None => None,
            };
            let set = set.unwrap_or_else(|| SetBuilder::new(&asset, &path, &pattern, name));
            if self.sealed.is_some() {
                self.bounds.insert((set.bound.clone(), pattern.clone()));
            }
            self.sets.insert(pattern.clone(), set);
        }
        let set = self.sets.get_mut(&pattern).expect("just opened");
        set.add(&asset, &path, matched.keys, schema, schema_failed);
        if !asset.qualified_name.starts_with(&set.bound) {
            let bound = common_prefix(&set.bound, &asset.qualified_name).to_string();
            let old = std::mem::replace(&mut set.bound, bound);
            if self.bounds.remove(&(old, pattern.clone())) {
                self.bounds.insert((set.bound.clone(), pattern));
            }
        }
        self.seal_passed(&asset.qualified_name)?;
        Ok(Offer::Absorbed)
    }

    /// Puts aside the open sets none of whose members can come after `key`:
    /// every name with the set's bound as a prefix sorts before it.
    fn seal_passed(&mut self, key: &str) -> std::io::Result<()> {
        let Some(sealed) = &mut self.sealed else { return Ok(()) };
        // The bounds up to `key` that are not its prefixes: the prefixes of
        // one name are few, so this stays short.
        let passed: Vec<(String, String)> = self
            .bounds
            .iter()
            .take_while(|(bound, _)| bound.as_str() <= key)
            .filter(|(bound, _)| !key.starts_with(bound.as_str()))
            .cloned()
            .collect();
        for entry in passed {
            self.bounds.remove(&entry);
            let set = self.sets.remove(&entry.1).expect("a bound is an open set's");
            sealed.put(&entry.1, &set)?;
        }
        Ok(())
    }

    fn match_file(&self, path: &str) -> Option<(Matched, Option<String>)> {
        for rule in &self.rules {
            if let Rule::Pattern { regex, pattern, name, keys, .. } = rule
                && let Some(caps) = regex.captures(path)
            {
                let values =
                    keys.iter().filter_map(|k| caps.name(k).map(|v| (k.clone(), v.as_str().to_string()))).collect();
                return Some((Matched { pattern: pattern.clone(), keys: values }, name.clone()));
            }
        }
        file_pattern(path).map(|m| (m, None))
    }

    /// The sets, as assets with their schema, and their summaries, in order
    /// of qualified name; built one at a time, as the iterator is consumed
    /// (those put aside are read back then).
    pub fn finish(self) -> impl Iterator<Item = std::io::Result<(Asset, Option<FileColumns>, SetSummary)>> {
        enum Set {
            Open(Box<SetBuilder>),
            Aside(sealed::Place),
        }
        let mut sets: Vec<(String, Set)> =
            self.sets.into_values().map(|set| (set.qualified_name.clone(), Set::Open(Box::new(set)))).collect();
        let file = self.sealed.map(|sealed| {
            let (aside, file) = sealed.into_parts();
            sets.extend(aside.into_iter().map(|(qualified_name, place)| (qualified_name, Set::Aside(place))));
            file
        });
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        sets.into_iter().map(move |(_, set)| {
            let set = match set {
                Set::Open(set) => *set,
                Set::Aside(place) => sealed::read(file.as_ref().expect("sets were put aside"), place)?,
            };
            Ok(set.build())
        })
    }
}

/// A resource set as reported in `report.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSummary {
    pub qualified_name: String,
    pub pattern: String,
    pub partitions: u64,
    pub failed_partitions: u64,
    pub total_size: u64,
    pub schema_count: u64,
    pub partition_keys: BTreeMap<String, KeyValues>,
    pub variants: Vec<VariantSummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValues {
    pub values: BTreeSet<String>,
    /// More distinct values were seen than are listed.
    pub truncated: bool,
}

/// One distinct schema among a set's files, compared with the set's schema.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantSummary {
    /// This variant is the set's schema (its newest member's).
    pub base: bool,
    pub files: u64,
    /// The variant's newest member.
    pub example: String,
    pub columns: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub retyped: Vec<Retyped>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Retyped {
    pub column: String,
    pub from: String,
    pub to: String,
}

/// Which of two members is newer: later modification, then the path that
/// sorts last. Unknown times are older than any.
type Newest = (i64, String);

/// Every distinct schema of a set: how many files have it, and its newest.
#[derive(Serialize, Deserialize)]
struct VariantCount {
    files: u64,
    newest: Newest,
}

/// A variant kept with its columns (and its newest member's format facts).
#[derive(Serialize, Deserialize)]
struct Kept {
    fingerprint: u64,
    schema: FileColumns,
    newest: Newest,
}

/// A set being gathered; serializable, to be put aside ([`sealed`]).
#[derive(Serialize, Deserialize)]
struct SetBuilder {
    pattern: String,
    /// A prefix of every member's qualified name: once the merged stream is
    /// past every name that starts with it, no member can come.
    bound: String,
    display_name: Option<String>,
    type_name: String,
    qualified_name: String,
    parent: Option<AssetRef>,
    partitions: u64,
    failed: u64,
    total_size: u64,
    /// Sum of the members' `rowCount`, when every readable member had one.
    total_rows: Option<i64>,
    last_modified: Option<i64>,
    keys: BTreeMap<String, KeyValues>,
    counts: HashMap<u64, VariantCount>,
    /// Classification labels of the members' columns, summed by column path
    /// (the set's columns carry the sums: a set aggregates its sampled members).
    labels: HashMap<String, crate::classify::labels::Aggregate>,
    /// The variants with the newest members, at most [`MAX_VARIANTS`]. A
    /// variant's newest member only gets newer, so keeping the top ones as
    /// members arrive keeps exactly the top ones of all, in any order.
    kept: Vec<Kept>,
    /// The last member's columns and their fingerprint: the members of a
    /// set mostly share one decoded copy of their schema.
    last: Option<(Arc<Vec<Column>>, u64)>,
}

/// The longest common prefix of two strings (on a character boundary).
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let mut end = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(end) {
        end -= 1;
    }
    &a[..end]
}

/// What makes two schemas one variant: column paths and types, in order.
pub fn fingerprint(columns: &[Column]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in columns {
        c.path.hash(&mut h);
        c.data_type.hash(&mut h);
    }
    h.finish()
}

/// The set's columns with the labels summed over its members.
fn with_labels(columns: &[Column], labels: &HashMap<String, crate::classify::labels::Aggregate>) -> Vec<Column> {
    use crate::classify::labels;
    columns
        .iter()
        .map(|c| {
            let mut c = c.clone();
            labels::strip(std::slice::from_mut(&mut c));
            if let Some(sum) = labels.get(&labels::column_key(&c)).and_then(|a| a.finish()) {
                c.attributes.push(sum.to_attribute());
            }
            c
        })
        .collect()
}

/// `azure_blob_path` → `azure_blob_resource_set`; `fs_path` → `fs_resource_set`.
fn set_type(file_type: &str) -> String {
    format!("{}_resource_set", file_type.strip_suffix("_path").unwrap_or(file_type))
}

impl SetBuilder {
    fn new(first: &Asset, path: &str, pattern: &str, display_name: Option<String>) -> Self {
        // The file's qualified name is <base><escaped path>; the set's is <base><escaped pattern>.
        let suffix = join("", path);
        let base = first.qualified_name.strip_suffix(suffix.as_str()).unwrap_or(&first.qualified_name).to_string();
        let parent_path: Vec<&str> = pattern.split('/').take_while(|s| !s.contains('{') && !s.contains('*')).collect();
        let parent_path = if parent_path.len() == pattern.split('/').count() {
            &parent_path[..parent_path.len() - 1]
        } else {
            &parent_path[..]
        };
        let folder_type = first.parent.as_ref().map(|p| p.type_name.clone()).unwrap_or_else(|| first.type_name.clone());
        let parent =
            Some(AssetRef { type_name: folder_type, qualified_name: base.clone() + &join("", &parent_path.join("/")) });
        // The pattern's fixed start, e.g. `sales/year=` of `sales/year={N}/part-{N}.parquet`.
        let fixed = &pattern[..pattern.find(['{', '*']).unwrap_or(pattern.len())];
        SetBuilder {
            pattern: pattern.to_string(),
            bound: base.clone() + &join("", fixed),
            display_name,
            type_name: set_type(&first.type_name),
            qualified_name: base + &join("", pattern),
            parent,
            partitions: 0,
            failed: 0,
            total_size: 0,
            total_rows: Some(0),
            last_modified: None,
            keys: BTreeMap::new(),
            counts: HashMap::new(),
            labels: HashMap::new(),
            kept: Vec::new(),
            last: None,
        }
    }

    fn add(
        &mut self,
        asset: &Asset,
        path: &str,
        keys: Vec<(String, String)>,
        schema: Option<FileColumns>,
        failed: bool,
    ) {
        self.partitions += 1;
        let file = asset.file.as_ref().expect("members are files");
        self.total_size += file.size;
        if file.last_modified.is_some() {
            self.last_modified = self.last_modified.max(file.last_modified);
        }
        self.failed += failed as u64;
        for (key, value) in keys {
            let entry = self.keys.entry(key).or_default();
            entry.values.insert(value);
            if entry.values.len() > MAX_KEY_VALUES {
                entry.values.pop_last();
                entry.truncated = true;
            }
        }
        let Some(schema) = schema else { return };
        let rows = schema.facts.iter().find(|a| a.key == "rowCount").and_then(|a| match a.value {
            Value::Integer(n) => Some(n),
            _ => None,
        });
        self.total_rows = match (self.total_rows, rows) {
            (Some(total), Some(rows)) => Some(total.saturating_add(rows)),
            _ => None,
        };
        for column in schema.columns.iter() {
            if let Some(labels) = crate::classify::ColumnLabels::of(column) {
                self.labels.entry(crate::classify::labels::column_key(column)).or_default().add(&labels);
            }
        }
        let newest: Newest = (file.last_modified.unwrap_or(i64::MIN), path.to_string());
        let fp = match &self.last {
            Some((columns, fp)) if Arc::ptr_eq(columns, &schema.columns) => *fp,
            _ => {
                let fp = fingerprint(&schema.columns);
                self.last = Some((schema.columns.clone(), fp));
                fp
            }
        };
        let count = self.counts.entry(fp).or_insert_with(|| VariantCount { files: 0, newest: newest.clone() });
        count.files += 1;
        if newest > count.newest {
            count.newest = newest.clone();
        }
        if let Some(kept) = self.kept.iter_mut().find(|k| k.fingerprint == fp) {
            if newest > kept.newest {
                *kept = Kept { fingerprint: fp, schema, newest };
            }
        } else if self.kept.len() < MAX_VARIANTS {
            self.kept.push(Kept { fingerprint: fp, schema, newest });
        } else if let Some(oldest) = self.kept.iter_mut().min_by(|a, b| a.newest.cmp(&b.newest))
            && newest > oldest.newest
        {
            *oldest = Kept { fingerprint: fp, schema, newest };
        }
    }

    fn build(mut self) -> (Asset, Option<FileColumns>, SetSummary) {
        let counts = &self.counts;
        let files = |k: &Kept| counts.get(&k.fingerprint).map_or(0, |c| c.files);
        // The set's schema first (the newest member's), then by files, newest, example.
        self.kept.sort_by(|a, b| b.newest.cmp(&a.newest));
        if self.kept.len() > 1 {
            self.kept[1..].sort_by(|a, b| {
                files(b)
                    .cmp(&files(a))
                    .then_with(|| b.newest.0.cmp(&a.newest.0))
                    .then_with(|| a.newest.1.cmp(&b.newest.1))
            });
        }
        let schema_count = self.counts.len() as u64;
        let variants: Vec<VariantSummary> = match self.kept.first() {
            Some(base) => {
                let paths: Vec<String> = base.schema.columns.iter().map(|c| c.path.join(".")).collect();
                let base = Base {
                    types: paths
                        .iter()
                        .map(String::as_str)
                        .zip(base.schema.columns.iter().map(|c| c.data_type.as_str()))
                        .collect(),
                    paths: &paths,
                };
                self.kept.iter().enumerate().map(|(i, v)| diff(i == 0, &base, v, files(v))).collect()
            }
            None => Vec::new(),
        };
        let name = self
            .display_name
            .clone()
            .unwrap_or_else(|| self.pattern.rsplit('/').next().unwrap_or(&self.pattern).to_string());
        let attr = |key: &str, value: Value| Attribute { key: key.to_string(), value };
        let mut attributes = vec![
            attr("path", Value::Text(self.pattern.clone())),
            attr("partitionCount", Value::Integer(self.partitions as i64)),
            attr("totalSize", Value::Integer(self.total_size as i64)),
            attr("schemaCount", Value::Integer(schema_count as i64)),
            attr("failedPartitions", Value::Integer(self.failed as i64)),
            attr("partitionKeys", Value::Json(serde_json::to_string(&self.keys).unwrap_or_default())),
            attr("schemaVariants", Value::Json(serde_json::to_string(&variants).unwrap_or_default())),
        ];
        if let Some(modified) = self.last_modified {
            attributes.push(attr("modifiedTime", Value::Timestamp(modified)));
        }
        let asset = Asset {
            type_name: self.type_name.clone(),
            qualified_name: self.qualified_name.clone(),
            name,
            parent: self.parent.clone(),
            path: Some(self.pattern.clone()),
            attributes,
            columns: Vec::new(),
            relations: Vec::new(),
            file: None,
        };
        let schema = self.kept.into_iter().next().map(|base| {
            // Facts of the set's schema, with the row count of the whole set.
            let mut facts: Vec<Attribute> = base.schema.facts.into_iter().filter(|a| a.key != "rowCount").collect();
            if let Some(rows) = self.total_rows {
                facts.push(Attribute { key: "rowCount".into(), value: Value::Integer(rows) });
            }
            let columns = if self.labels.is_empty() {
                base.schema.columns
            } else {
                Arc::new(with_labels(&base.schema.columns, &self.labels))
            };
            FileColumns { columns, facts }
        });
        let summary = SetSummary {
            qualified_name: self.qualified_name,
            pattern: self.pattern,
            partitions: self.partitions,
            failed_partitions: self.failed,
            total_size: self.total_size,
            schema_count,
            partition_keys: self.keys,
            variants,
        };
        (asset, schema, summary)
    }
}

/// A set's schema as its variants are compared with it: worked out once
/// for all of them (a set has up to [`MAX_VARIANTS`]).
struct Base<'a> {
    /// Each column's dotted path, in order.
    paths: &'a [String],
    /// Each column's type, by dotted path.
    types: HashMap<&'a str, &'a str>,
}

/// How variant `v` differs from the set's schema.
fn diff(is_base: bool, base: &Base<'_>, v: &Kept, files: u64) -> VariantSummary {
    let columns = &v.schema.columns;
    let mut own = HashSet::with_capacity(columns.len());
    let mut added = Vec::new();
    let mut retyped = Vec::new();
    for c in columns.iter() {
        let path = c.path.join(".");
        match base.types.get(path.as_str()) {
            None => added.push(path.clone()),
            Some(t) if *t != c.data_type => {
                retyped.push(Retyped { column: path.clone(), from: t.to_string(), to: c.data_type.clone() })
            }
            _ => {}
        }
        own.insert(path);
    }
    let removed: Vec<String> = base.paths.iter().filter(|p| !own.contains(*p)).cloned().collect();
    added.truncate(MAX_DIFF);
    retyped.truncate(MAX_DIFF);
    VariantSummary {
        base: is_base,
        files,
        example: v.newest.1.clone(),
        columns: columns.len(),
        added,
        removed: removed.into_iter().take(MAX_DIFF).collect(),
        retyped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::bindings::types::{FileRef, Repetition};

    fn file(path: &str, size: u64, modified: i64) -> Asset {
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        Asset {
            type_name: "fs_path".into(),
            qualified_name: join("file://h/lake", path),
            name: path.rsplit('/').next().unwrap().into(),
            parent: Some(AssetRef { type_name: "fs_path".into(), qualified_name: join("file://h/lake", parent) }),
            path: Some(path.into()),
            attributes: vec![],
            columns: vec![],
            relations: vec![],
            file: Some(FileRef { path: path.into(), size, last_modified: Some(modified) }),
        }
    }

    fn schema(cols: &[(&str, &str)]) -> FileColumns {
        FileColumns {
            columns: Arc::new(
                cols.iter()
                    .map(|(p, t)| Column {
                        path: p.split('.').map(String::from).collect(),
                        physical_type: "X".into(),
                        logical_type: None,
                        data_type: t.to_string(),
                        repetition: Repetition::Optional,
                        nullable: true,
                        ordinal: 0,
                        attributes: vec![],
                    })
                    .collect(),
            ),
            facts: vec![],
        }
    }

    fn grouper(toml_text: &str) -> Grouper {
        Grouper::new(&toml::from_str(toml_text).unwrap()).unwrap()
    }

    #[test]
    fn partitions_with_differing_schemas_make_one_set_with_variants() {
        let mut g = grouper("");
        let v1 = [("id", "int64"), ("amount", "decimal(10,2)")];
        let v2 = [("id", "int64"), ("amount", "float64"), ("note", "string")];
        let uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        for (i, (month, cols, t)) in
            [("01", &v1[..], 10), ("02", &v1[..], 20), ("03", &v2[..], 30)].into_iter().enumerate()
        {
            let path = format!("sales/year=2023/month={month}/part-0000{i}-{uuid}-c000.snappy.parquet");
            assert!(matches!(g.offer(file(&path, 100, t), Some(schema(cols)), false).unwrap(), Offer::Absorbed));
        }
        let corrupt = format!("sales/year=2024/month=01/part-00009-{uuid}-c000.snappy.parquet");
        assert!(matches!(g.offer(file(&corrupt, 7, 40), None, true).unwrap(), Offer::Absorbed));
        assert!(matches!(g.offer(file("sales/_SUCCESS", 0, 1), None, false).unwrap(), Offer::Keep(..)));

        let sets: Vec<_> = g.finish().map(Result::unwrap).collect();
        assert_eq!(sets.len(), 1);
        let (asset, schema, summary) = &sets[0];
        assert_eq!(asset.type_name, "fs_resource_set");
        assert_eq!(
            asset.qualified_name,
            "file://h/lake/sales/year={Year}/month={Month}/part-{N}-{GUID}-c000.snappy.parquet"
        );
        assert_eq!(asset.parent.as_ref().unwrap().qualified_name, "file://h/lake/sales");
        assert_eq!((summary.partitions, summary.failed_partitions, summary.total_size), (4, 1, 307));
        assert_eq!(summary.schema_count, 2);
        let cols: Vec<&str> = schema.as_ref().unwrap().columns.iter().map(|c| c.data_type.as_str()).collect();
        assert_eq!(cols, ["int64", "float64", "string"], "the newest readable member's schema, never an empty one");
        assert!(summary.variants[0].example.contains("month=03"));
        let other = &summary.variants[1];
        assert_eq!((other.files, other.removed.as_slice()), (2, &["note".to_string()][..]));
        assert_eq!(other.retyped[0].column, "amount");
        assert_eq!((other.retyped[0].from.as_str(), other.retyped[0].to.as_str()), ("float64", "decimal(10,2)"));
        assert!(other.example.contains("month=02"), "a variant's example is its newest member");
        assert_eq!(summary.partition_keys["year"].values.iter().collect::<Vec<_>>(), ["2023", "2024"]);
        assert_eq!(asset.attributes.iter().find(|a| a.key == "modifiedTime").unwrap().value, Value::Timestamp(40));
    }

    /// Members offered in every order give the same set.
    #[test]
    fn a_set_does_not_depend_on_the_order_of_its_members() {
        type Member = (String, i64, Vec<(String, String)>);
        let members: Vec<Member> = (0..40)
            .map(|i| {
                let cols =
                    vec![("id".to_string(), "int64".to_string()), (format!("c{}", i % 37), "string".to_string())];
                (format!("t/part-{i:05}.parquet"), 1000 + (i % 7) as i64, cols)
            })
            .collect();
        let build = |order: &[usize]| {
            let mut g = grouper("");
            for &i in order {
                let (path, t, cols) = &members[i];
                let cols: Vec<(&str, &str)> = cols.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                g.offer(file(path, 1, *t), Some(schema(&cols)), false).unwrap();
            }
            let (asset, schema, summary) = g.finish().next().unwrap().unwrap();
            let columns: Vec<String> = schema.unwrap().columns.iter().map(|c| c.path.join(".")).collect();
            (serde_json::to_string(&summary).unwrap(), asset.attributes, columns)
        };
        let forward: Vec<usize> = (0..members.len()).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        let shuffled: Vec<usize> = (0..members.len()).map(|i| (i * 17) % members.len()).collect();
        let first = build(&forward);
        assert_eq!(first, build(&backward));
        assert_eq!(first, build(&shuffled));
        // The newest members were modified at 1006 (i % 7 == 6): the one whose path sorts last wins.
        assert_eq!(first.2, ["id", "c34"], "part-00034 is the last of the newest");
    }

    #[test]
    fn partition_keys_list_their_smallest_values() {
        let mut g = grouper("");
        for i in (0..(MAX_KEY_VALUES + 20)).rev() {
            g.offer(file(&format!("t/k={i:04}/part-0.parquet"), 1, 1), None, false).unwrap();
        }
        let (_, _, summary) = g.finish().next().unwrap().unwrap();
        let values = &summary.partition_keys["k"];
        assert!(values.truncated);
        assert_eq!(values.values.len(), MAX_KEY_VALUES);
        assert_eq!(values.values.first().unwrap(), "0000");
        assert_eq!(values.values.last().unwrap(), &format!("{:04}", MAX_KEY_VALUES - 1));
    }

    #[test]
    fn folders_inside_a_set_are_absorbed_and_others_kept() {
        let mut g = grouper("");
        let folder = |p: &str| Asset { file: None, ..file(p, 0, 0) };
        assert!(matches!(g.offer(folder("sales"), None, false).unwrap(), Offer::Keep(..)));
        assert!(matches!(g.offer(folder("sales/year=2023"), None, false).unwrap(), Offer::Absorbed));
    }

    #[test]
    fn user_rules_come_first_and_do_not_group_wins() {
        let mut g = grouper(
            r#"
            [[rule]]
            do_not_group = "raw/"
            [[rule]]
            pattern = "tables/{table:string}/data.parquet"
            name = "All tables"
            "#,
        );
        assert!(matches!(g.offer(file("raw/export_1.csv", 1, 1), None, false).unwrap(), Offer::Keep(..)));
        g.offer(file("tables/a/data.parquet", 1, 1), Some(schema(&[("x", "int64")])), false).unwrap();
        g.offer(file("tables/b/data.parquet", 1, 1), Some(schema(&[("x", "int64")])), false).unwrap();
        let sets: Vec<_> = g.finish().map(Result::unwrap).collect();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].0.name, "All tables");
        assert_eq!(sets[0].2.partitions, 2);
        assert_eq!(sets[0].2.partition_keys["table"].values.len(), 2);
    }

    #[test]
    fn grouping_can_be_switched_off() {
        let mut g = grouper("enabled = false");
        assert!(matches!(g.offer(file("a/part-00001.parquet", 1, 1), None, false).unwrap(), Offer::Keep(..)));
        assert!(g.finish().next().is_none());
    }

    #[test]
    fn memory_is_bounded_by_variants_not_files() {
        let mut g = grouper("");
        for i in 0..(MAX_VARIANTS + 10) {
            let cols = [(format!("c{i}"), "int64".to_string())];
            let cols: Vec<(&str, &str)> = cols.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            g.offer(file(&format!("t/part-{i:05}.parquet"), 1, 1), Some(schema(&cols)), false).unwrap();
        }
        let (_, _, summary) = g.finish().last().unwrap().unwrap();
        assert_eq!(summary.variants.len(), MAX_VARIANTS);
        assert_eq!(summary.schema_count, (MAX_VARIANTS + 10) as u64);
    }

    #[test]
    fn sets_put_aside_are_written_as_if_held_and_a_late_member_takes_its_set_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths: Vec<String> = Vec::new();
        for t in ["a", "b", "c"] {
            for i in 0..6 {
                paths.push(format!("t/{t}/year=202{}/part-{i:05}.parquet", i % 3));
            }
        }
        paths.push("t/loose.csv".into());
        paths.sort_by_key(|p| join("file://h/lake", p));
        // The last file of set `a` arrives after the stream has passed `a`.
        let late = paths.iter().position(|p| p.starts_with("t/a/")).unwrap();
        let late = paths.remove(late);
        paths.push(late);
        let run = |g: &mut Grouper| {
            for (n, path) in paths.iter().enumerate() {
                let cols = [(format!("c{}", n % 4), "int64".to_string())];
                let cols: Vec<(&str, &str)> = cols.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                g.offer(file(path, n as u64, n as i64), Some(schema(&cols)), false).unwrap();
            }
        };
        let written = |g: Grouper| -> Vec<String> {
            g.finish()
                .map(|set| {
                    let (asset, schema, summary) = set.unwrap();
                    let columns: Vec<String> = schema.unwrap().columns.iter().map(|c| c.path.join(".")).collect();
                    format!("{} {:?} {columns:?}", serde_json::to_string(&summary).unwrap(), asset.attributes)
                })
                .collect()
        };
        let mut held = grouper("");
        run(&mut held);
        let mut aside = grouper("").seal_passed_sets_in(dir.path()).unwrap();
        run(&mut aside);
        assert!(aside.sets.len() < 3, "sets the stream passed are put aside");
        let (held, aside) = (written(held), written(aside));
        assert_eq!(held.len(), 3);
        assert!(held[0].contains("\"partitions\":6"), "the late member is in its set: {}", held[0]);
        assert_eq!(aside, held);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left in the folder");
    }
}
