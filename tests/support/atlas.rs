//! Apache Atlas's type rules, applied to a run's `typedefs.json` and batches
//! the way Atlas applies them when they are posted (`AtlasRelationshipType`,
//! `AtlasEntityType`, the bulk entity API's reference resolution), so that a
//! test can say "Atlas accepts this" without an Atlas server.
//!
//! The types the catalog already has are [`CATALOG_TYPES`]: Atlas's base
//! model (`Referenceable`, `Asset`, `DataSet`, `Process` and its
//! `inputs`/`outputs` relationships) and the Microsoft Purview types the
//! connectors emit, by super-type only (their attributes are Purview's, so
//! only Surveyor's own types have their attributes checked).
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Our transcription of the catalog's own types, as far as the checks need them.
pub const CATALOG_TYPES: &str = r#"{
  "entityDefs": [
    {"name": "Referenceable", "superTypes": [], "attributeDefs": [{"name": "qualifiedName", "typeName": "string", "cardinality": "SINGLE"}]},
    {"name": "Asset", "superTypes": ["Referenceable"], "attributeDefs": [
      {"name": "name", "typeName": "string", "cardinality": "SINGLE"},
      {"name": "description", "typeName": "string", "cardinality": "SINGLE"},
      {"name": "owner", "typeName": "string", "cardinality": "SINGLE"}]},
    {"name": "DataSet", "superTypes": ["Asset"], "attributeDefs": []},
    {"name": "Infrastructure", "superTypes": ["Asset"], "attributeDefs": []},
    {"name": "Process", "superTypes": ["Asset"], "attributeDefs": [
      {"name": "inputs", "typeName": "array<DataSet>", "cardinality": "SET"},
      {"name": "outputs", "typeName": "array<DataSet>", "cardinality": "SET"}]},
    {"name": "fs_path", "superTypes": ["DataSet"]},
    {"name": "tabular_schema", "superTypes": ["DataSet"]},
    {"name": "column", "superTypes": ["DataSet"]},
    {"name": "mssql_instance", "superTypes": ["Infrastructure"]},
    {"name": "mssql_db", "superTypes": ["Asset"]},
    {"name": "mssql_schema", "superTypes": ["Asset"]},
    {"name": "mssql_table", "superTypes": ["DataSet"]},
    {"name": "mssql_view", "superTypes": ["DataSet"]},
    {"name": "postgresql_server", "superTypes": ["Infrastructure"]},
    {"name": "postgresql_db", "superTypes": ["Asset"]},
    {"name": "postgresql_schema", "superTypes": ["Asset"]},
    {"name": "postgresql_table", "superTypes": ["DataSet"]},
    {"name": "postgresql_view", "superTypes": ["DataSet"]},
    {"name": "powerbi_workspace", "superTypes": ["Asset"]},
    {"name": "powerbi_datasource", "superTypes": ["DataSet"]},
    {"name": "powerbi_dataflow", "superTypes": ["DataSet"]},
    {"name": "powerbi_dataset", "superTypes": ["DataSet"]},
    {"name": "powerbi_table", "superTypes": ["DataSet"]},
    {"name": "powerbi_report", "superTypes": ["DataSet"]},
    {"name": "powerbi_dashboard", "superTypes": ["DataSet"]}
  ],
  "relationshipDefs": [
    {"name": "dataset_process_inputs", "relationshipCategory": "AGGREGATION", "propagateTags": "TWO_TO_ONE",
     "endDef1": {"type": "Process", "name": "inputs", "isContainer": true, "cardinality": "SET", "isLegacyAttribute": true},
     "endDef2": {"type": "DataSet", "name": "inputToProcesses", "isContainer": false, "cardinality": "SET"}},
    {"name": "process_dataset_outputs", "relationshipCategory": "AGGREGATION", "propagateTags": "ONE_TO_TWO",
     "endDef1": {"type": "Process", "name": "outputs", "isContainer": true, "cardinality": "SET", "isLegacyAttribute": true},
     "endDef2": {"type": "DataSet", "name": "outputFromProcesses", "isContainer": false, "cardinality": "SET"}},
    {"name": "tabular_schema_datasets", "relationshipCategory": "ASSOCIATION", "propagateTags": "NONE",
     "endDef1": {"type": "tabular_schema", "name": "associatedDataSets", "isContainer": false, "cardinality": "SET"},
     "endDef2": {"type": "DataSet", "name": "tabular_schema", "isContainer": false, "cardinality": "SINGLE"}},
    {"name": "tabular_schema_columns", "relationshipCategory": "COMPOSITION", "propagateTags": "NONE",
     "endDef1": {"type": "tabular_schema", "name": "columns", "isContainer": true, "cardinality": "SET"},
     "endDef2": {"type": "column", "name": "composeSchema", "isContainer": false, "cardinality": "SINGLE"}}
  ]
}"#;

const PRIMITIVES: [&str; 11] =
    ["boolean", "byte", "short", "int", "long", "float", "double", "biginteger", "bigdecimal", "string", "date"];

#[derive(Debug, Clone)]
struct Attr {
    type_name: String,
    cardinality: String,
}

#[derive(Debug, Clone, Default)]
struct EntityType {
    supers: Vec<String>,
    attrs: HashMap<String, Attr>,
    /// Ours (attributes checked) or the catalog's.
    ours: bool,
}

/// One end of a relationship as seen from the entity that holds the attribute.
#[derive(Debug, Clone)]
struct End {
    relationship: String,
    /// The type holding the attribute.
    holder: String,
    name: String,
    set: bool,
    /// Type of the entities the attribute points at.
    other: String,
}

/// Types known to the catalog after `typedefs.json` is registered.
pub struct TypeSystem {
    entities: HashMap<String, EntityType>,
    ends: Vec<End>,
}

impl TypeSystem {
    fn is_a(&self, t: &str, ancestor: &str) -> bool {
        if t == ancestor {
            return true;
        }
        self.entities.get(t).is_some_and(|e| e.supers.iter().any(|s| self.is_a(s, ancestor)))
    }

    fn attr(&self, t: &str, name: &str) -> Option<Attr> {
        let e = self.entities.get(t)?;
        e.attrs.get(name).cloned().or_else(|| e.supers.iter().find_map(|s| self.attr(s, name)))
    }

    fn ends_of(&self, t: &str, name: &str) -> Vec<&End> {
        self.ends.iter().filter(|e| e.name == name && self.is_a(t, &e.holder)).collect()
    }

    fn add(&mut self, defs: &Value, ours: bool, problems: &mut Vec<String>) {
        for d in defs["entityDefs"].as_array().into_iter().flatten() {
            let name = d["name"].as_str().unwrap_or_default().to_string();
            if name.is_empty() || self.entities.contains_key(&name) {
                problems.push(format!("entityDef '{name}': empty or already defined"));
                continue;
            }
            let mut attrs = HashMap::new();
            for a in d["attributeDefs"].as_array().into_iter().flatten() {
                let attr = Attr {
                    type_name: a["typeName"].as_str().unwrap_or_default().into(),
                    cardinality: a["cardinality"].as_str().unwrap_or("SINGLE").into(),
                };
                attrs.insert(a["name"].as_str().unwrap_or_default().to_string(), attr);
            }
            let supers = d["superTypes"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).map(String::from);
            self.entities.insert(name, EntityType { supers: supers.collect(), attrs, ours });
        }
        // Attribute types and super-types, once every entity of the file is known.
        for d in defs["entityDefs"].as_array().into_iter().flatten() {
            let name = d["name"].as_str().unwrap_or_default();
            for s in d["superTypes"].as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
                if !self.entities.contains_key(s) {
                    problems.push(format!("entityDef '{name}': unknown super-type '{s}'"));
                }
            }
            for a in d["attributeDefs"].as_array().into_iter().flatten() {
                let attr = a["name"].as_str().unwrap_or_default();
                let t = a["typeName"].as_str().unwrap_or_default();
                if !self.valid_type(t) {
                    problems.push(format!("entityDef '{name}'.{attr}: unknown type '{t}'"));
                }
                let c = a["cardinality"].as_str().unwrap_or("SINGLE");
                if !["SINGLE", "LIST", "SET"].contains(&c) {
                    problems.push(format!("entityDef '{name}'.{attr}: cardinality '{c}'"));
                }
                let inherited = self.entities[name].supers.iter().any(|s| self.attr(s, attr).is_some());
                if inherited {
                    problems.push(format!("entityDef '{name}'.{attr}: already defined by a super-type"));
                }
            }
        }
        for r in defs["relationshipDefs"].as_array().into_iter().flatten() {
            self.add_relationship(r, problems);
        }
    }

    fn valid_type(&self, t: &str) -> bool {
        if let Some(inner) = t.strip_prefix("array<").and_then(|t| t.strip_suffix('>')) {
            return self.valid_type(inner);
        }
        if let Some(inner) = t.strip_prefix("map<").and_then(|t| t.strip_suffix('>')) {
            return inner.split_once(',').is_some_and(|(k, v)| self.valid_type(k.trim()) && self.valid_type(v.trim()));
        }
        PRIMITIVES.contains(&t) || self.entities.contains_key(t)
    }

    fn add_relationship(&mut self, r: &Value, problems: &mut Vec<String>) {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        let category = r["relationshipCategory"].as_str().unwrap_or("ASSOCIATION");
        if !["ASSOCIATION", "AGGREGATION", "COMPOSITION"].contains(&category) {
            problems.push(format!("relationshipDef '{name}': category '{category}'"));
        }
        let tags = r["propagateTags"].as_str().unwrap_or("NONE");
        if !["NONE", "ONE_TO_TWO", "TWO_TO_ONE", "BOTH"].contains(&tags) {
            problems.push(format!("relationshipDef '{name}': propagateTags '{tags}'"));
        }
        let (e1, e2) = (&r["endDef1"], &r["endDef2"]);
        let mut ends = Vec::new();
        for (end, other) in [(e1, e2), (e2, e1)] {
            let t = end["type"].as_str().unwrap_or_default();
            let attr = end["name"].as_str().unwrap_or_default();
            let cardinality = end["cardinality"].as_str().unwrap_or("SINGLE");
            if !self.entities.contains_key(t) {
                problems.push(format!("relationshipDef '{name}': end type '{t}' is not an entity type"));
            }
            if attr.is_empty() {
                problems.push(format!("relationshipDef '{name}': an end has no name"));
            }
            if cardinality == "LIST" || !["SINGLE", "SET"].contains(&cardinality) {
                problems.push(format!("relationshipDef '{name}': end '{attr}' cardinality '{cardinality}'"));
            }
            let legacy = end["isLegacyAttribute"].as_bool().unwrap_or(false);
            if !legacy && self.attr(t, attr).is_some() {
                problems.push(format!("relationshipDef '{name}': end '{attr}' is already an attribute of '{t}'"));
            }
            // Two relationships adding one name to a type make every use ambiguous.
            let clash =
                self.ends.iter().find(|e| e.name == attr && (self.is_a(t, &e.holder) || self.is_a(&e.holder, t)));
            if let Some(clash) = clash {
                problems.push(format!(
                    "relationshipDef '{name}': end '{attr}' on '{t}' clashes with '{}' of '{}'",
                    clash.name, clash.relationship
                ));
            }
            ends.push(End {
                relationship: name.clone(),
                holder: t.into(),
                name: attr.into(),
                set: cardinality == "SET",
                other: other["type"].as_str().unwrap_or_default().into(),
            });
        }
        let (c1, c2) = (e1["isContainer"].as_bool().unwrap_or(false), e2["isContainer"].as_bool().unwrap_or(false));
        if c1 && c2 {
            problems.push(format!("relationshipDef '{name}': both ends are containers"));
        }
        if (c1 || c2) && category == "ASSOCIATION" {
            problems.push(format!("relationshipDef '{name}': an ASSOCIATION has a container end"));
        }
        if !(c1 || c2) && category != "ASSOCIATION" {
            problems.push(format!("relationshipDef '{name}': a {category} needs a container end"));
        }
        if category == "COMPOSITION" {
            for (end, container) in [(e1, c1), (e2, c2)] {
                if !container && end["cardinality"] == "SET" {
                    problems.push(format!("relationshipDef '{name}': a COMPOSITION child end has cardinality SET"));
                }
            }
        }
        self.ends.extend(ends);
    }
}

/// The catalog's types plus a run's `typedefs.json`, or what Atlas would refuse.
pub fn type_system(typedefs: &Value) -> (TypeSystem, Vec<String>) {
    let mut ts = TypeSystem { entities: HashMap::new(), ends: Vec::new() };
    let mut problems = Vec::new();
    let catalog: Value = serde_json::from_str(CATALOG_TYPES).expect("catalog types");
    ts.add(&catalog, false, &mut problems);
    assert!(problems.is_empty(), "catalog model: {problems:?}");
    ts.add(typedefs, true, &mut problems);
    (ts, problems)
}

/// Checks batches (in posting order) against the types: what the bulk
/// entity API would refuse, each problem naming the entity.
pub fn check_batches(ts: &TypeSystem, batches: &[Vec<Value>]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut guids = HashSet::new();
    // (type, qualified name) of entities posted by earlier batches.
    let mut posted: HashSet<(String, String)> = HashSet::new();
    for (b, batch) in batches.iter().enumerate() {
        let by_guid: HashMap<&str, &Value> = batch.iter().filter_map(|e| Some((e["guid"].as_str()?, e))).collect();
        let in_batch: HashSet<(String, String)> = batch.iter().map(identity).collect();
        for e in batch {
            let t = e["typeName"].as_str().unwrap_or_default();
            let qn = e["attributes"]["qualifiedName"].as_str().unwrap_or_default();
            let at = format!("batch {} entity {t} {qn}", b + 1);
            let Some(entity_type) = ts.entities.get(t) else {
                problems.push(format!("{at}: unknown type"));
                continue;
            };
            let guid = e["guid"].as_str().unwrap_or_default();
            if !guid.starts_with('-') || !guids.insert(guid.to_string()) {
                problems.push(format!("{at}: guid '{guid}' is not a fresh placeholder"));
            }
            if qn.is_empty() {
                problems.push(format!("{at}: no qualifiedName"));
            }
            if ts.is_a(t, "Asset") && e["attributes"]["name"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{at}: an Asset without a name"));
            }
            let resolve = |r: &Value, want: &str, problems: &mut Vec<String>, what: &str| {
                let rt = r["typeName"].as_str().unwrap_or_default();
                if !ts.entities.contains_key(rt) || !ts.is_a(rt, want) {
                    problems.push(format!("{at}: {what} points at a '{rt}', not a '{want}'"));
                }
                if let Some(g) = r["guid"].as_str() {
                    match by_guid.get(g) {
                        Some(target) if target["typeName"] == rt => {}
                        Some(target) => {
                            problems.push(format!("{at}: {what} guid {g} is a {}, not a {rt}", target["typeName"]))
                        }
                        None => problems.push(format!("{at}: {what} guid {g} is not in the batch")),
                    }
                } else if let Some(qn) = r["uniqueAttributes"]["qualifiedName"].as_str() {
                    let key = (rt.to_string(), qn.to_string());
                    if !posted.contains(&key) && !in_batch.contains(&key) {
                        problems.push(format!("{at}: {what} {rt} {qn} is neither posted before nor in the batch"));
                    }
                } else {
                    problems.push(format!("{at}: {what} is neither a guid nor unique attributes: {r}"));
                }
            };
            for (key, value) in e["attributes"].as_object().into_iter().flatten() {
                let attr = ts.attr(t, key);
                if let Some(a) = &attr
                    && let Some(target) = a.type_name.strip_prefix("array<").and_then(|s| s.strip_suffix('>'))
                    && ts.entities.contains_key(target)
                {
                    match value.as_array() {
                        Some(refs) => refs.iter().for_each(|r| resolve(r, target, &mut problems, key)),
                        None => problems.push(format!("{at}: {key} is not an array")),
                    }
                    continue;
                }
                if !entity_type.ours {
                    continue;
                }
                match attr {
                    None => problems.push(format!("{at}: attribute '{key}' is not defined by '{t}'")),
                    Some(a) if !value_fits(&a.type_name, value) => {
                        problems.push(format!("{at}: attribute '{key}' = {value} is not a {}", a.type_name))
                    }
                    Some(_) => {}
                }
            }
            for (key, value) in e["relationshipAttributes"].as_object().into_iter().flatten() {
                let ends = ts.ends_of(t, key);
                let [end] = ends.as_slice() else {
                    problems.push(format!("{at}: relationship attribute '{key}' matches {} relationships", ends.len()));
                    continue;
                };
                match (end.set, value) {
                    (true, Value::Array(refs)) => refs.iter().for_each(|r| resolve(r, &end.other, &mut problems, key)),
                    (false, Value::Object(_)) => resolve(value, &end.other, &mut problems, key),
                    _ => problems.push(format!("{at}: '{key}' has the wrong cardinality for {}", end.relationship)),
                }
            }
        }
        posted.extend(in_batch);
    }
    problems
}

fn identity(e: &Value) -> (String, String) {
    (
        e["typeName"].as_str().unwrap_or_default().to_string(),
        e["attributes"]["qualifiedName"].as_str().unwrap_or_default().to_string(),
    )
}

fn value_fits(type_name: &str, v: &Value) -> bool {
    match type_name {
        "string" | "date" => v.is_string() || (type_name == "date" && v.is_i64()),
        "boolean" => v.is_boolean(),
        "byte" | "short" | "int" | "long" | "biginteger" => v.is_i64() || v.is_u64(),
        "float" | "double" | "bigdecimal" => v.is_number(),
        t => match t.strip_prefix("array<").and_then(|s| s.strip_suffix('>')) {
            Some(inner) => v.as_array().is_some_and(|items| items.iter().all(|i| value_fits(inner, i))),
            None => v.is_object(),
        },
    }
}

/// Reads a run's `typedefs.json` and checks it and every batch; panics with
/// every problem found.
pub fn assert_atlas_accepts(run: &super::Run) {
    let typedefs: Value =
        serde_json::from_slice(&std::fs::read(run.dir.join("typedefs.json")).expect("typedefs.json")).unwrap();
    let (ts, mut problems) = type_system(&typedefs);
    problems.extend(check_batches(&ts, &run.batches));
    assert!(problems.is_empty(), "Atlas would refuse:\n{}", problems.join("\n"));
}
