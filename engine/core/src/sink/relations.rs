//! A connector's `relations` as the catalog understands them: each foreign
//! key becomes a `surveyor_foreign_key` entity related to its table, the
//! referenced table and the columns of both; each asset's lineage (a view's
//! source tables, a Power BI report's dataset) becomes one
//! `surveyor_lineage` process with the sources as `inputs` and the asset as
//! its `output` (types in [`super::atlas::TYPEDEFS`]).
//!
//! Both ends of a relationship must exist when Atlas receives it, and a
//! reference Atlas cannot resolve fails the whole batch. So the commit
//! collects relations while it writes the assets ([`Relations::note`]) and
//! writes these entities after every asset of the run
//! ([`Relations::resolve`]). A target is known when it was written by this
//! run, or by the source's last run (already in the catalog, e.g. a dataset
//! of a workspace an incremental run did not visit); an unknown target
//! (a table in an excluded schema) is left out and counted.
//!
//! Memory: the qualified names of the run's assets that have no storage
//! path (tables, views, datasets — not a lake's files and folders) and a
//! 64-bit hash of each of their columns; the relations themselves until the
//! end of the run.

use crate::host::bindings::types::{Asset, AssetRef, Attribute, Relation, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use surveyor_sdk::qualified_name;

/// Relation kind of a foreign key (on the referencing table).
pub const FOREIGN_KEY: &str = "foreign_key";
/// Relation kind of lineage (on the asset produced; the target is read).
pub const LINEAGE: &str = "lineage";

/// Type names of the entities written for relations.
pub const FOREIGN_KEY_TYPE: &str = "surveyor_foreign_key";
pub const LINEAGE_TYPE: &str = "surveyor_lineage";
/// Purview's column entity type, as written with every schema.
pub const COLUMN_TYPE: &str = "column";

/// A foreign key, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKeyEntity {
    pub qualified_name: String,
    pub name: String,
    pub table: AssetRef,
    /// The referenced table, when it is known to the catalog.
    pub referenced: Option<AssetRef>,
    /// Qualified name of the referenced table, known or not.
    pub referenced_name: String,
    pub column_names: Vec<String>,
    pub referenced_column_names: Vec<String>,
    /// Column entities (qualified names) that exist in the catalog.
    pub columns: Vec<String>,
    pub referenced_columns: Vec<String>,
    pub on_delete: Option<String>,
    pub on_update: Option<String>,
}

/// A lineage process, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageEntity {
    pub qualified_name: String,
    pub name: String,
    pub inputs: Vec<AssetRef>,
    pub output: AssetRef,
    /// Qualified names of the inputs' columns read, where the source tells.
    pub input_columns: Vec<String>,
}

/// An entity written for relations.
#[derive(Debug, Clone, PartialEq)]
pub enum RelatedEntity {
    ForeignKey(ForeignKeyEntity),
    Lineage(LineageEntity),
}

impl RelatedEntity {
    pub fn qualified_name(&self) -> &str {
        match self {
            RelatedEntity::ForeignKey(fk) => &fk.qualified_name,
            RelatedEntity::Lineage(l) => &l.qualified_name,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            RelatedEntity::ForeignKey(_) => FOREIGN_KEY_TYPE,
            RelatedEntity::Lineage(_) => LINEAGE_TYPE,
        }
    }
}

/// The relations of one asset written by the run.
struct Pending {
    asset: AssetRef,
    name: String,
    relations: Vec<Relation>,
}

/// Collects the run's relations and what they may point at.
#[derive(Default)]
pub struct Relations {
    /// Assets without a storage path written by the run (or its source's
    /// last run): a hash of the qualified name → its type, an index into
    /// `types`. Hashes, not names: a run may write millions of such assets
    /// (a flood test writes 1,000,000) and memory must stay flat.
    known: HashMap<u64, u16>,
    types: Vec<String>,
    known_columns: HashSet<u64>,
    pending: Vec<Pending>,
    /// Relation targets left out because the catalog does not hold them.
    pub unresolved: u64,
}

/// A 64-bit hash of a qualified name (a collision among a run's names is
/// vanishingly unlikely, and would only keep a relation Atlas then refuses).
fn name_key(qualified_name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    qualified_name.hash(&mut h);
    h.finish()
}

fn texts(attributes: &[Attribute], key: &str) -> Vec<String> {
    match attributes.iter().find(|a| a.key == key).map(|a| &a.value) {
        Some(Value::Texts(list)) => list.clone(),
        Some(Value::Text(t)) => t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn text(attributes: &[Attribute], key: &str) -> Option<String> {
    match attributes.iter().find(|a| a.key == key).map(|a| &a.value) {
        Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
        _ => None,
    }
}

/// `#` and `/` inside a name would read as qualified-name structure.
fn segment(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F").replace('#', "%23")
}

impl Relations {
    /// Notes an asset the run wrote (with the columns written for it).
    pub fn note(&mut self, asset: &Asset, columns: Option<&[crate::host::bindings::types::Column]>) {
        if asset.path.is_none() {
            self.know(&asset.type_name, &asset.qualified_name);
            for c in columns.unwrap_or(&[]) {
                self.known_columns.insert(name_key(&qualified_name::column(&asset.qualified_name, &c.path)));
            }
        }
        let relations: Vec<Relation> =
            asset.relations.iter().filter(|r| r.kind == FOREIGN_KEY || r.kind == LINEAGE).cloned().collect();
        if !relations.is_empty() {
            self.pending.push(Pending {
                asset: AssetRef { type_name: asset.type_name.clone(), qualified_name: asset.qualified_name.clone() },
                name: asset.name.clone(),
                relations,
            });
        }
    }

    /// Whether some relation points at an asset this run did not write:
    /// then the caller adds the last run's assets with [`Self::know`].
    pub fn needs_previous(&self) -> bool {
        self.pending.iter().flat_map(|p| &p.relations).any(|r| !self.known.contains_key(&name_key(&r.target)))
    }

    /// An asset already in the catalog (from the source's last run).
    pub fn know(&mut self, type_name: &str, qualified_name: &str) {
        let index = match self.types.iter().position(|t| t == type_name) {
            Some(i) => i,
            None => {
                self.types.push(type_name.to_string());
                self.types.len() - 1
            }
        };
        self.known.entry(name_key(qualified_name)).or_insert(index as u16);
    }

    fn target(&mut self, relation: &Relation) -> Option<AssetRef> {
        match self.known.get(&name_key(&relation.target)) {
            Some(&index) => Some(AssetRef {
                type_name: self.types[index as usize].clone(),
                qualified_name: relation.target.clone(),
            }),
            None => {
                self.unresolved += 1;
                None
            }
        }
    }

    fn existing_columns(&self, table: &str, names: &[String]) -> Vec<String> {
        names
            .iter()
            .map(|n| qualified_name::column(table, std::slice::from_ref(n)))
            .filter(|qn| self.known_columns.contains(&name_key(qn)))
            .collect()
    }

    /// The entities to write, in the order the assets were written: each
    /// asset's foreign keys (in the connector's order), then its lineage.
    pub fn resolve(mut self) -> (Vec<RelatedEntity>, u64) {
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for p in pending {
            let mut inputs: Vec<AssetRef> = Vec::new();
            let mut input_columns = Vec::new();
            for (i, r) in p.relations.iter().enumerate() {
                let target = self.target(r);
                if r.kind == FOREIGN_KEY {
                    let name = text(&r.attributes, "name").unwrap_or_else(|| format!("fk{}", i + 1));
                    let column_names = texts(&r.attributes, "columns");
                    let referenced_column_names = texts(&r.attributes, "referencedColumns");
                    let referenced_columns = match &target {
                        Some(t) => self.existing_columns(&t.qualified_name, &referenced_column_names),
                        None => Vec::new(),
                    };
                    out.push(RelatedEntity::ForeignKey(ForeignKeyEntity {
                        qualified_name: format!("{}#__foreign_key//{}", p.asset.qualified_name, segment(&name)),
                        columns: self.existing_columns(&p.asset.qualified_name, &column_names),
                        table: p.asset.clone(),
                        referenced: target,
                        referenced_name: r.target.clone(),
                        name,
                        column_names,
                        referenced_column_names,
                        referenced_columns,
                        on_delete: text(&r.attributes, "onDelete"),
                        on_update: text(&r.attributes, "onUpdate"),
                    }));
                } else if let Some(t) = target {
                    let read = texts(&r.attributes, "columns");
                    input_columns.extend(self.existing_columns(&t.qualified_name, &read));
                    if !inputs.contains(&t) {
                        inputs.push(t);
                    }
                }
            }
            if !inputs.is_empty() {
                out.push(RelatedEntity::Lineage(LineageEntity {
                    qualified_name: format!("{}#__lineage", p.asset.qualified_name),
                    name: p.name,
                    inputs,
                    output: p.asset,
                    input_columns,
                }));
            }
        }
        (out, self.unresolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::bindings::types::{Column, Repetition};

    fn table(qn: &str, columns: &[&str], relations: Vec<Relation>) -> (Asset, Vec<Column>) {
        let cols = columns
            .iter()
            .map(|c| Column {
                path: vec![c.to_string()],
                physical_type: "int".into(),
                logical_type: None,
                data_type: "int32".into(),
                repetition: Repetition::Required,
                nullable: false,
                ordinal: 0,
                attributes: vec![],
            })
            .collect();
        let asset = Asset {
            type_name: "mssql_table".into(),
            qualified_name: qn.into(),
            name: qn.rsplit('/').next().unwrap().into(),
            parent: None,
            path: None,
            attributes: vec![],
            columns: vec![],
            relations,
            file: None,
        };
        (asset, cols)
    }

    fn rel(kind: &str, target: &str, attrs: &[(&str, Value)]) -> Relation {
        Relation {
            kind: kind.into(),
            target_type: "mssql_table".into(),
            target: target.into(),
            attributes: attrs.iter().map(|(k, v)| Attribute { key: k.to_string(), value: v.clone() }).collect(),
        }
    }

    fn list(items: &[&str]) -> Value {
        Value::Texts(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn foreign_keys_and_lineage_resolve_against_the_assets_written_before_or_after() {
        let mut r = Relations::default();
        // The referencing table comes first in output order; its target later.
        let fk = rel(
            FOREIGN_KEY,
            "mssql://s/db/dbo/orders",
            &[
                ("name", Value::Text("fk_lines_orders".into())),
                ("columns", list(&["order_id"])),
                ("referencedColumns", list(&["id"])),
            ],
        );
        let (lines, lc) = table("mssql://s/db/dbo/order_lines", &["order_id", "n"], vec![fk]);
        r.note(&lines, Some(&lc));
        let (orders, oc) = table("mssql://s/db/dbo/orders", &["id"], vec![]);
        r.note(&orders, Some(&oc));
        let view_rel = rel(LINEAGE, "mssql://s/db/dbo/orders", &[("columns", list(&["id", "gone"]))]);
        let elsewhere = rel(LINEAGE, "mssql://s/db/other/t", &[]);
        let (view, vc) = table("mssql://s/db/dbo/v", &["id"], vec![view_rel, elsewhere]);
        r.note(&view, Some(&vc));
        assert!(r.needs_previous());
        let (entities, unresolved) = r.resolve();
        assert_eq!(unresolved, 1, "the view's second source is not in the catalog");
        let RelatedEntity::ForeignKey(fk) = &entities[0] else { panic!("{entities:?}") };
        assert_eq!(fk.qualified_name, "mssql://s/db/dbo/order_lines#__foreign_key//fk_lines_orders");
        assert_eq!(fk.referenced.as_ref().unwrap().qualified_name, "mssql://s/db/dbo/orders");
        assert_eq!(fk.columns, ["mssql://s/db/dbo/order_lines#__tabular_schema//order_id"]);
        assert_eq!(fk.referenced_columns, ["mssql://s/db/dbo/orders#__tabular_schema//id"]);
        let RelatedEntity::Lineage(l) = &entities[1] else { panic!("{entities:?}") };
        assert_eq!(l.inputs.len(), 1);
        assert_eq!(l.output.qualified_name, "mssql://s/db/dbo/v");
        assert_eq!(l.input_columns, ["mssql://s/db/dbo/orders#__tabular_schema//id"], "unknown columns left out");
    }

    #[test]
    fn a_target_of_the_last_run_is_known_and_a_lineage_without_known_inputs_is_not_written() {
        let mut r = Relations::default();
        let (report, _) =
            table("https://p/groups/a/reports/r", &[], vec![rel(LINEAGE, "https://p/groups/b/datasets/d", &[])]);
        r.note(&report, None);
        let (orphan, _) = table("https://p/groups/a/reports/o", &[], vec![rel(LINEAGE, "https://p/nowhere", &[])]);
        r.note(&orphan, None);
        r.know("powerbi_dataset", "https://p/groups/b/datasets/d");
        let (entities, unresolved) = r.resolve();
        assert_eq!(unresolved, 1);
        assert_eq!(entities.len(), 1);
        assert_eq!(entities[0].qualified_name(), "https://p/groups/a/reports/r#__lineage");
        let RelatedEntity::Lineage(l) = &entities[0] else { panic!() };
        assert_eq!(l.inputs[0].type_name, "powerbi_dataset", "the type the catalog holds");
    }
}
