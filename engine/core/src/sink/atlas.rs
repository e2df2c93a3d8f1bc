//! Assets as Apache Atlas v2 entities, in batches shaped as the body of
//! `POST /api/atlas/v2/entity/bulk`: `{"entities": [...], "referredEntities": {}}`.
//!
//! - Every entity carries a negative placeholder GUID, unique in the run
//!   (hence in its batch), as Atlas expects for entities it has not assigned.
//! - References to an entity of the same batch use its placeholder GUID;
//!   references to one in another batch (or already in the catalog) use
//!   `uniqueAttributes.qualifiedName`, so batches can be posted one by one.
//! - An asset and its schema stay in one batch.
//! - A file's schema follows Purview's convention: a `tabular_schema` entity
//!   (`<file>#__tabular_schema`) related to the file through
//!   `tabular_schema_datasets` (`associatedDataSets`), with one `column`
//!   entity per column related through `tabular_schema_columns`
//!   (`composeSchema`).
//! - The containing asset is referenced through `parent`
//!   (relationship `surveyor_parent`, defined in [`TYPEDEFS`]).
//! - Foreign keys and lineage are entities of their own (`surveyor_foreign_key`,
//!   `surveyor_lineage`, a `Process`), written after every asset of the run
//!   ([`super::relations`]).
//! - Attributes the connector names go to `attributes`; facts that no Atlas
//!   type defines (Parquet row counts, codecs, physical types…) go to
//!   `customAttributes`, as strings of at most 500 characters.
//! - A classified column carries Atlas `classifications` (the name, and the
//!   share of its sampled values that matched as the `share` attribute); its
//!   asset carries each of its columns' classifications once, with the
//!   highest share ([`typedefs`] declares them).

use super::relations::{COLUMN_TYPE, FOREIGN_KEY_TYPE, LINEAGE_TYPE, RelatedEntity};
use crate::classify::{self, ColumnLabels};
use crate::host::bindings::types::{Asset, AssetRef, Attribute, Column, Repetition, Value};
use serde::ser::{SerializeMap, Serializer};
use std::collections::HashMap;
use surveyor_sdk::qualified_name;

/// Atlas's limit on a custom attribute's value.
const CUSTOM_VALUE_MAX: usize = 500;

/// Surveyor's own type definitions (body of `POST /api/atlas/v2/types/typedefs`),
/// written with every run.
pub const TYPEDEFS: &str = r#"{
  "entityDefs": [
    {
      "name": "fs_resource_set",
      "description": "Files of a local folder grouped by Surveyor into one logical dataset (partitions, shards).",
      "superTypes": ["DataSet"],
      "serviceType": "Surveyor",
      "typeVersion": "1.0",
      "attributeDefs": [
        {"name": "path", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": true},
        {"name": "partitionCount", "typeName": "long", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "totalSize", "typeName": "long", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "modifiedTime", "typeName": "long", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "schemaCount", "typeName": "int", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "failedPartitions", "typeName": "long", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "partitionKeys", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "schemaVariants", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false}
      ]
    },
    {
      "name": "surveyor_foreign_key",
      "description": "A foreign key found by Surveyor: the referencing table and columns, the referenced table and columns.",
      "superTypes": ["Asset"],
      "serviceType": "Surveyor",
      "typeVersion": "1.0",
      "attributeDefs": [
        {"name": "columnNames", "typeName": "array<string>", "isOptional": true, "cardinality": "LIST", "isUnique": false, "isIndexable": false},
        {"name": "referencedTableName", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": true},
        {"name": "referencedColumnNames", "typeName": "array<string>", "isOptional": true, "cardinality": "LIST", "isUnique": false, "isIndexable": false},
        {"name": "onDelete", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false},
        {"name": "onUpdate", "typeName": "string", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false}
      ]
    },
    {
      "name": "surveyor_lineage",
      "description": "Lineage found by Surveyor: a view's query, or a Power BI item built from its sources. Inputs are read to produce the output.",
      "superTypes": ["Process"],
      "serviceType": "Surveyor",
      "typeVersion": "1.0",
      "attributeDefs": [
        {"name": "inputColumns", "typeName": "array<string>", "isOptional": true, "cardinality": "LIST", "isUnique": false, "isIndexable": false}
      ]
    }
  ],
  "relationshipDefs": [
    {
      "name": "surveyor_parent",
      "description": "Containment found by Surveyor: a folder, container or database holds this asset.",
      "relationshipCategory": "COMPOSITION",
      "propagateTags": "NONE",
      "endDef1": {"type": "Referenceable", "name": "children", "isContainer": true, "cardinality": "SET"},
      "endDef2": {"type": "Referenceable", "name": "parent", "isContainer": false, "cardinality": "SINGLE"}
    },
    {
      "name": "surveyor_table_foreign_keys",
      "description": "A table and the foreign keys it declares (deleted with it).",
      "relationshipCategory": "COMPOSITION",
      "propagateTags": "NONE",
      "endDef1": {"type": "DataSet", "name": "foreignKeys", "isContainer": true, "cardinality": "SET"},
      "endDef2": {"type": "surveyor_foreign_key", "name": "table", "isContainer": false, "cardinality": "SINGLE"}
    },
    {
      "name": "surveyor_foreign_key_referenced_table",
      "description": "The table a foreign key references.",
      "relationshipCategory": "ASSOCIATION",
      "propagateTags": "NONE",
      "endDef1": {"type": "surveyor_foreign_key", "name": "referencedTable", "isContainer": false, "cardinality": "SINGLE"},
      "endDef2": {"type": "DataSet", "name": "referencingForeignKeys", "isContainer": false, "cardinality": "SET"}
    },
    {
      "name": "surveyor_foreign_key_columns",
      "description": "The columns of a foreign key, in the referencing table.",
      "relationshipCategory": "ASSOCIATION",
      "propagateTags": "NONE",
      "endDef1": {"type": "surveyor_foreign_key", "name": "columns", "isContainer": false, "cardinality": "SET"},
      "endDef2": {"type": "Referenceable", "name": "foreignKeysOfColumn", "isContainer": false, "cardinality": "SET"}
    },
    {
      "name": "surveyor_foreign_key_referenced_columns",
      "description": "The columns a foreign key references, in the referenced table.",
      "relationshipCategory": "ASSOCIATION",
      "propagateTags": "NONE",
      "endDef1": {"type": "surveyor_foreign_key", "name": "referencedColumns", "isContainer": false, "cardinality": "SET"},
      "endDef2": {"type": "Referenceable", "name": "foreignKeysReferencingColumn", "isContainer": false, "cardinality": "SET"}
    }
  ]
}
"#;

/// [`TYPEDEFS`] with a `classificationDefs` entry for each classification
/// used in the run (each with its `share` attribute), so that Atlas accepts
/// the entities' `classifications`. (Purview defines its `MICROSOFT.…`
/// system classifications itself.)
pub fn typedefs<'a>(classifications: impl IntoIterator<Item = &'a str>) -> String {
    let mut defs: serde_json::Value = serde_json::from_str(TYPEDEFS).expect("TYPEDEFS is JSON");
    let list: Vec<serde_json::Value> = classifications
        .into_iter()
        .map(|name| {
            let description = classify::system::SYSTEM
                .iter()
                .find(|s| s.name == name)
                .map_or("Custom classification of a scan rule set", |s| s.description);
            serde_json::json!({
                "name": name,
                "description": description,
                "serviceType": "Surveyor",
                "typeVersion": "1.0",
                "superTypes": [],
                "entityTypes": [],
                "attributeDefs": [
                    {"name": "share", "typeName": "float", "isOptional": true, "cardinality": "SINGLE", "isUnique": false, "isIndexable": false}
                ]
            })
        })
        .collect();
    if list.is_empty() {
        return TYPEDEFS.to_string();
    }
    defs["classificationDefs"] = serde_json::Value::Array(list);
    let mut text = serde_json::to_string_pretty(&defs).expect("typedefs encode");
    text.push('\n');
    text
}

/// A column's classifications with their shares, rounded to 3 decimals.
pub fn column_classifications(column: &Column) -> Vec<(String, f64)> {
    ColumnLabels::of(column)
        .map(|l| l.labels.iter().map(|x| (x.name.clone(), x.share(l.sampled))).collect())
        .unwrap_or_default()
}

/// A finished batch, ready to be written.
pub struct Batch {
    pub name: String,
    pub bytes: Vec<u8>,
    pub entities: u64,
}

/// Accumulates entities into batches of at most `max_entities` (a single
/// asset with more columns than that gets a batch of its own).
pub struct AtlasBatcher {
    max_entities: usize,
    buf: Vec<u8>,
    entities: usize,
    batches: u32,
    next_guid: i64,
    /// Placeholder GUIDs of the current batch's entities, by qualified name.
    in_batch: HashMap<String, i64>,
    total_entities: u64,
}

impl AtlasBatcher {
    pub fn new(max_entities: usize) -> Self {
        AtlasBatcher {
            max_entities: max_entities.max(1),
            buf: Vec::with_capacity(1 << 20),
            entities: 0,
            batches: 0,
            next_guid: 0,
            in_batch: HashMap::new(),
            total_entities: 0,
        }
    }

    pub fn total_entities(&self) -> u64 {
        self.total_entities
    }

    /// Adds an asset (with its schema's columns and format facts, when it
    /// has a schema); returns the previous batch when this asset did not fit in it.
    pub fn add(&mut self, asset: &Asset, columns: Option<&[Column]>, facts: &[Attribute]) -> Option<Batch> {
        let group = 1 + columns.map_or(0, |c| 1 + c.len());
        let flushed = if self.entities > 0 && self.entities + group > self.max_entities { self.flush() } else { None };
        if self.entities == 0 {
            self.buf.clear();
            self.buf.extend_from_slice(b"{\"entities\":[");
        }
        let guid = self.guid();
        // Each of the columns' classifications once, with its highest share.
        let mut rolled: Vec<(String, f64)> = Vec::new();
        for (name, share) in columns.unwrap_or(&[]).iter().flat_map(column_classifications) {
            match rolled.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = entry.1.max(share),
                None => rolled.push((name, share)),
            }
        }
        rolled.sort_by(|a, b| a.0.cmp(&b.0));
        self.write_asset(asset, guid, facts, rolled);
        if let Some(columns) = columns {
            self.write_schema(asset, guid, columns);
        }
        self.in_batch.insert(asset.qualified_name.clone(), guid);
        flushed
    }

    /// Adds an entity written for relations (after every asset of the run,
    /// so that both ends exist); returns the previous batch when it was full.
    pub fn add_related(&mut self, entity: &RelatedEntity) -> Option<Batch> {
        let flushed = if self.entities > 0 && self.entities + 1 > self.max_entities { self.flush() } else { None };
        if self.entities == 0 {
            self.buf.clear();
            self.buf.extend_from_slice(b"{\"entities\":[");
        }
        let guid = self.guid();
        self.begin_entity();
        let refs = |list: &[AssetRef]| list.iter().map(|r| self.reference_json(r)).collect::<Vec<_>>();
        let columns = |list: &[String]| {
            list.iter()
                .map(|qn| self.reference_json(&AssetRef { type_name: COLUMN_TYPE.into(), qualified_name: qn.clone() }))
                .collect::<Vec<_>>()
        };
        let json = match entity {
            RelatedEntity::ForeignKey(fk) => {
                let mut attributes = serde_json::json!({
                    "qualifiedName": fk.qualified_name,
                    "name": fk.name,
                    "columnNames": fk.column_names,
                    "referencedTableName": fk.referenced_name,
                    "referencedColumnNames": fk.referenced_column_names,
                });
                for (key, value) in [("onDelete", &fk.on_delete), ("onUpdate", &fk.on_update)] {
                    if let Some(v) = value {
                        attributes[key] = v.as_str().into();
                    }
                }
                let mut rel = serde_json::json!({"table": self.reference_json(&fk.table)});
                if let Some(r) = &fk.referenced {
                    rel["referencedTable"] = self.reference_json(r);
                }
                if !fk.columns.is_empty() {
                    rel["columns"] = columns(&fk.columns).into();
                }
                if !fk.referenced_columns.is_empty() {
                    rel["referencedColumns"] = columns(&fk.referenced_columns).into();
                }
                serde_json::json!({"typeName": FOREIGN_KEY_TYPE, "guid": guid.to_string(),
                    "attributes": attributes, "relationshipAttributes": rel})
            }
            RelatedEntity::Lineage(l) => {
                let mut attributes = serde_json::json!({
                    "qualifiedName": l.qualified_name,
                    "name": l.name,
                    "inputs": refs(&l.inputs),
                    "outputs": refs(std::slice::from_ref(&l.output)),
                });
                if !l.input_columns.is_empty() {
                    attributes["inputColumns"] = l.input_columns.clone().into();
                }
                serde_json::json!({"typeName": LINEAGE_TYPE, "guid": guid.to_string(), "attributes": attributes})
            }
        };
        serde_json::to_writer(&mut self.buf, &json).expect("serialize to memory");
        self.in_batch.insert(entity.qualified_name().to_string(), guid);
        flushed
    }

    fn reference_json(&self, target: &AssetRef) -> serde_json::Value {
        serde_json::to_value(self.reference(target)).expect("serialize to memory")
    }

    /// The last, partly filled batch.
    pub fn finish(&mut self) -> Option<Batch> {
        self.flush()
    }

    fn flush(&mut self) -> Option<Batch> {
        if self.entities == 0 {
            return None;
        }
        self.buf.extend_from_slice(b"],\"referredEntities\":{}}\n");
        self.batches += 1;
        let batch = Batch {
            name: format!("batches/{:06}.json", self.batches),
            bytes: std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20)),
            entities: self.entities as u64,
        };
        self.entities = 0;
        self.in_batch.clear();
        Some(batch)
    }

    fn guid(&mut self) -> i64 {
        self.next_guid -= 1;
        self.next_guid
    }

    fn begin_entity(&mut self) {
        if self.entities > 0 {
            self.buf.push(b',');
        }
        self.entities += 1;
        self.total_entities += 1;
    }

    fn write_asset(&mut self, asset: &Asset, guid: i64, facts: &[Attribute], classifications: Vec<(String, f64)>) {
        self.begin_entity();
        let parent = asset.parent.as_ref().map(|p| self.reference(p));
        let entity = Entity {
            type_name: &asset.type_name,
            guid,
            attributes: Attributes {
                qualified_name: &asset.qualified_name,
                name: &asset.name,
                extra: &asset.attributes,
                column_type: None,
            },
            relationships: Relationships { parent, ..Default::default() },
            custom: facts.iter().map(|a| (a.key.as_str(), custom_value(&a.value))).collect(),
            classifications,
        };
        serde_json::to_writer(&mut self.buf, &entity).expect("serialize to memory");
    }

    fn write_schema(&mut self, asset: &Asset, asset_guid: i64, columns: &[Column]) {
        let schema_qn = qualified_name::tabular_schema(&asset.qualified_name);
        let schema_guid = self.guid();
        self.begin_entity();
        let entity = Entity {
            type_name: "tabular_schema",
            guid: schema_guid,
            attributes: Attributes { qualified_name: &schema_qn, name: &asset.name, extra: &[], column_type: None },
            relationships: Relationships {
                associated_data_sets: Some(Reference::Guid { guid: asset_guid, type_name: &asset.type_name }),
                ..Default::default()
            },
            custom: Vec::new(),
            classifications: Vec::new(),
        };
        serde_json::to_writer(&mut self.buf, &entity).expect("serialize to memory");
        self.in_batch.insert(schema_qn.clone(), schema_guid);
        for column in columns {
            let qn = qualified_name::column(&asset.qualified_name, &column.path);
            let guid = self.guid();
            self.begin_entity();
            let entity = Entity {
                type_name: "column",
                guid,
                attributes: Attributes {
                    qualified_name: &qn,
                    name: column.path.last().map(String::as_str).unwrap_or(""),
                    extra: &[],
                    column_type: Some(&column.data_type),
                },
                relationships: Relationships {
                    compose_schema: Some(Reference::Guid { guid: schema_guid, type_name: "tabular_schema" }),
                    ..Default::default()
                },
                custom: column_facts(column),
                classifications: column_classifications(column),
            };
            serde_json::to_writer(&mut self.buf, &entity).expect("serialize to memory");
            self.in_batch.insert(qn, guid);
        }
    }

    fn reference<'a>(&self, target: &'a AssetRef) -> Reference<'a> {
        match self.in_batch.get(&target.qualified_name) {
            Some(&guid) => Reference::Guid { guid, type_name: &target.type_name },
            None => Reference::Unique { type_name: &target.type_name, qualified_name: &target.qualified_name },
        }
    }
}

fn column_facts(column: &Column) -> Vec<(&str, String)> {
    let mut custom = vec![
        ("path", column.path.join(".")),
        ("physicalType", column.physical_type.clone()),
        ("nullable", column.nullable.to_string()),
        (
            "repetition",
            match column.repetition {
                Repetition::Required => "required",
                Repetition::Optional => "optional",
                Repetition::Repeated => "repeated",
            }
            .to_string(),
        ),
        ("ordinal", column.ordinal.to_string()),
    ];
    if let Some(logical) = &column.logical_type {
        custom.push(("logicalType", logical.clone()));
    }
    custom.extend(
        column
            .attributes
            .iter()
            .filter(|a| a.key != classify::ATTRIBUTE)
            .map(|a| (a.key.as_str(), custom_value(&a.value))),
    );
    custom
}

fn custom_value(value: &Value) -> String {
    let mut s = match value {
        Value::Text(t) | Value::Json(t) => t.clone(),
        Value::Integer(i) | Value::Timestamp(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Texts(list) => serde_json::to_string(list).unwrap_or_default(),
    };
    if s.len() > CUSTOM_VALUE_MAX {
        let mut cut = CUSTOM_VALUE_MAX - 3;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

struct Entity<'a> {
    type_name: &'a str,
    guid: i64,
    attributes: Attributes<'a>,
    relationships: Relationships<'a>,
    custom: Vec<(&'a str, String)>,
    /// Classification names with the share of sampled values that matched.
    classifications: Vec<(String, f64)>,
}

impl serde::Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("typeName", self.type_name)?;
        map.serialize_entry("guid", &self.guid.to_string())?;
        map.serialize_entry("attributes", &self.attributes)?;
        if !self.relationships.is_empty() {
            map.serialize_entry("relationshipAttributes", &self.relationships)?;
        }
        if !self.custom.is_empty() {
            map.serialize_entry("customAttributes", &CustomMap(&self.custom))?;
        }
        if !self.classifications.is_empty() {
            let list: Vec<serde_json::Value> = self
                .classifications
                .iter()
                .map(|(name, share)| serde_json::json!({"typeName": name, "attributes": {"share": share}}))
                .collect();
            map.serialize_entry("classifications", &list)?;
        }
        map.end()
    }
}

struct CustomMap<'a>(&'a [(&'a str, String)]);

impl serde::Serialize for CustomMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct Attributes<'a> {
    qualified_name: &'a str,
    name: &'a str,
    extra: &'a [crate::host::bindings::types::Attribute],
    /// The `type` attribute of a `column` entity.
    column_type: Option<&'a str>,
}

impl serde::Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("qualifiedName", self.qualified_name)?;
        map.serialize_entry("name", self.name)?;
        if let Some(t) = self.column_type {
            map.serialize_entry("type", t)?;
        }
        for attr in self.extra {
            if attr.key != "qualifiedName" && attr.key != "name" {
                map.serialize_entry(&attr.key, &JsonValue(&attr.value))?;
            }
        }
        map.end()
    }
}

struct JsonValue<'a>(&'a Value);

impl serde::Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Text(t) => s.serialize_str(t),
            Value::Integer(i) | Value::Timestamp(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_none(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::Texts(list) => s.collect_seq(list),
            // Atlas has no JSON attribute type: structured values travel as JSON text.
            Value::Json(text) => s.serialize_str(text),
        }
    }
}

#[derive(Default)]
struct Relationships<'a> {
    parent: Option<Reference<'a>>,
    associated_data_sets: Option<Reference<'a>>,
    compose_schema: Option<Reference<'a>>,
}

impl Relationships<'_> {
    fn is_empty(&self) -> bool {
        self.parent.is_none() && self.associated_data_sets.is_none() && self.compose_schema.is_none()
    }
}

impl serde::Serialize for Relationships<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(r) = &self.parent {
            map.serialize_entry("parent", r)?;
        }
        if let Some(r) = &self.associated_data_sets {
            map.serialize_entry("associatedDataSets", &[r])?;
        }
        if let Some(r) = &self.compose_schema {
            map.serialize_entry("composeSchema", r)?;
        }
        map.end()
    }
}

enum Reference<'a> {
    Guid { guid: i64, type_name: &'a str },
    Unique { type_name: &'a str, qualified_name: &'a str },
}

impl serde::Serialize for Reference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match self {
            Reference::Guid { guid, type_name } => {
                map.serialize_entry("guid", &guid.to_string())?;
                map.serialize_entry("typeName", type_name)?;
            }
            Reference::Unique { type_name, qualified_name } => {
                map.serialize_entry("typeName", type_name)?;
                map.serialize_entry("uniqueAttributes", &UniqueAttributes(qualified_name))?;
            }
        }
        map.end()
    }
}

struct UniqueAttributes<'a>(&'a str);

impl serde::Serialize for UniqueAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("qualifiedName", self.0)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::bindings::types::Attribute;
    use serde_json::Value as J;

    fn asset(qn: &str, parent: Option<&str>) -> Asset {
        Asset {
            type_name: "fs_path".into(),
            qualified_name: qn.into(),
            name: qn.rsplit('/').next().unwrap().into(),
            parent: parent.map(|p| AssetRef { type_name: "fs_path".into(), qualified_name: p.into() }),
            path: None,
            attributes: vec![Attribute { key: "fileSize".into(), value: Value::Integer(42) }],
            columns: vec![],
            relations: vec![],
            file: None,
        }
    }

    fn column(path: &[&str], data_type: &str) -> Column {
        Column {
            path: path.iter().map(|s| s.to_string()).collect(),
            physical_type: "INT64".into(),
            logical_type: None,
            data_type: data_type.into(),
            repetition: Repetition::Required,
            nullable: false,
            ordinal: 0,
            attributes: vec![],
        }
    }

    fn parse(batch: &Batch) -> J {
        serde_json::from_slice(&batch.bytes).unwrap()
    }

    #[test]
    fn schema_entities_follow_purview_conventions_and_reference_by_guid() {
        let mut b = AtlasBatcher::new(100);
        let columns = vec![column(&["id"], "int64"), column(&["a", "b"], "string")];
        let facts = vec![Attribute { key: "rowCount".into(), value: Value::Integer(7) }];
        assert!(b.add(&asset("file://h/d", None), None, &[]).is_none());
        assert!(b.add(&asset("file://h/d/f.parquet", Some("file://h/d")), Some(&columns), &facts).is_none());
        let batch = b.finish().unwrap();
        assert_eq!(batch.entities, 5);
        let json = parse(&batch);
        let entities = json["entities"].as_array().unwrap();
        let guids: Vec<&str> = entities.iter().map(|e| e["guid"].as_str().unwrap()).collect();
        assert_eq!(guids, ["-1", "-2", "-3", "-4", "-5"]);
        let file = &entities[1];
        assert_eq!(file["attributes"]["fileSize"], 42);
        assert_eq!(file["relationshipAttributes"]["parent"], serde_json::json!({"guid": "-1", "typeName": "fs_path"}));
        assert_eq!(file["customAttributes"]["rowCount"], "7");
        let ts = &entities[2];
        assert_eq!(ts["typeName"], "tabular_schema");
        assert_eq!(ts["attributes"]["qualifiedName"], "file://h/d/f.parquet#__tabular_schema");
        assert_eq!(ts["relationshipAttributes"]["associatedDataSets"][0]["guid"], "-2");
        let nested = &entities[4];
        assert_eq!(nested["typeName"], "column");
        assert_eq!(nested["attributes"]["qualifiedName"], "file://h/d/f.parquet#__tabular_schema//a/b");
        assert_eq!(nested["attributes"]["type"], "string");
        assert_eq!(nested["customAttributes"]["path"], "a.b");
        assert_eq!(nested["relationshipAttributes"]["composeSchema"]["guid"], "-3");
        assert_eq!(json["referredEntities"], serde_json::json!({}));
    }

    #[test]
    fn references_across_batches_use_the_qualified_name() {
        let mut b = AtlasBatcher::new(2);
        b.add(&asset("file://h/d", None), None, &[]);
        b.add(&asset("file://h/d/1", Some("file://h/d")), None, &[]);
        let first = b.add(&asset("file://h/d/2", Some("file://h/d")), None, &[]).expect("first batch full");
        let second = b.finish().unwrap();
        assert_eq!(first.name, "batches/000001.json");
        assert_eq!(second.name, "batches/000002.json");
        let second = parse(&second);
        let parent = &second["entities"][0]["relationshipAttributes"]["parent"];
        assert_eq!(
            parent,
            &serde_json::json!({"typeName": "fs_path", "uniqueAttributes": {"qualifiedName": "file://h/d"}})
        );
        assert_eq!(second["entities"][0]["guid"], "-3", "placeholders stay unique across the run");
    }

    #[test]
    fn an_asset_and_its_schema_are_never_split() {
        let mut b = AtlasBatcher::new(3);
        b.add(&asset("file://h/a", None), None, &[]);
        let wide: Vec<Column> = (0..5).map(|i| column(&[&format!("c{i}")], "int64")).collect();
        let first = b.add(&asset("file://h/b", None), Some(&wide), &[]).unwrap();
        assert_eq!(first.entities, 1);
        assert_eq!(b.finish().unwrap().entities, 7);
    }

    #[test]
    fn long_custom_values_are_cut_at_atlas_limit() {
        let v = custom_value(&Value::Text("é".repeat(400)));
        assert!(v.len() <= CUSTOM_VALUE_MAX && v.ends_with("..."));
    }
}
