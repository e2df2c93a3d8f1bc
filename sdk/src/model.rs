//! Builders for the contract's types, so connectors read as a description of
//! what they emit rather than as struct literals.

use crate::bindings::types::{
    Asset, AssetRef, Attribute, Column, ConnectorError, ErrorKind, FileRef, PluginInfo, PluginKind, Relation,
    Repetition, Value,
};

/// Severity of a connector's log line; the host tags it with plugin and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl PluginInfo {
    /// A plugin description with no handled types, no description and an
    /// empty-object config schema; add those with the other builders.
    pub fn new(name: impl Into<String>, version: impl Into<String>, kind: PluginKind) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            kind,
            handles: Vec::new(),
            description: String::new(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }
    pub fn handles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, items: I) -> Self {
        self.handles = items.into_iter().map(Into::into).collect();
        self
    }
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    /// JSON Schema of the plugin's configuration; the host validates against it.
    pub fn config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = schema.into();
        self
    }
}

impl Asset {
    pub fn new(type_name: impl Into<String>, qualified_name: impl Into<String>, name: impl Into<String>) -> Self {
        Asset {
            type_name: type_name.into(),
            qualified_name: qualified_name.into(),
            name: name.into(),
            parent: None,
            path: None,
            attributes: Vec::new(),
            columns: Vec::new(),
            relations: Vec::new(),
            file: None,
        }
    }
    /// The containing asset, by type and qualified name.
    pub fn parent(mut self, type_name: impl Into<String>, qualified_name: impl Into<String>) -> Self {
        self.parent = Some(AssetRef { type_name: type_name.into(), qualified_name: qualified_name.into() });
        self
    }
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.push(Attribute { key: key.into(), value: value.into() });
        self
    }
    /// Adds the attribute only when `value` is `Some`.
    pub fn attr_opt(self, key: impl Into<String>, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.attr(key, v),
            None => self,
        }
    }
    pub fn column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }
    pub fn relation(
        mut self,
        kind: impl Into<String>,
        target_type: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        self.relations.push(Relation {
            kind: kind.into(),
            target_type: target_type.into(),
            target: target.into(),
            attributes: Vec::new(),
        });
        self
    }
    /// A relation with attributes (a foreign key's columns, the columns a
    /// view reads); the host writes relations as Atlas relationships.
    pub fn related(mut self, relation: Relation) -> Self {
        self.relations.push(relation);
        self
    }
    /// The asset's path within the source's storage (files and folders of
    /// storage sources): lets the host group partitioned files into resource sets.
    pub fn storage_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
    /// Asks the host to read this file's schema with the matching format
    /// connector (and sets the asset's storage path to the file's).
    pub fn schema_from_file(mut self, path: impl Into<String>, size: u64, last_modified: Option<i64>) -> Self {
        let path = path.into();
        self.path = Some(path.clone());
        self.file = Some(FileRef { path, size, last_modified });
        self
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|a| a.key == key).map(|a| &a.value)
    }
}

impl Column {
    /// A nullable (optional) column at `path` with the given stored and normalised types.
    pub fn new<I, S>(path: I, physical_type: impl Into<String>, data_type: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Column {
            path: path.into_iter().map(Into::into).collect(),
            physical_type: physical_type.into(),
            logical_type: None,
            data_type: data_type.into(),
            repetition: Repetition::Optional,
            nullable: true,
            ordinal: 0,
            attributes: Vec::new(),
        }
    }
    pub fn logical_type(mut self, logical: impl Into<String>) -> Self {
        self.logical_type = Some(logical.into());
        self
    }
    /// Sets the repetition; `nullable` follows it (only `required` is not nullable).
    pub fn repetition(mut self, repetition: Repetition) -> Self {
        self.repetition = repetition;
        self.nullable = repetition != Repetition::Required;
        self
    }
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }
    pub fn ordinal(mut self, ordinal: u32) -> Self {
        self.ordinal = ordinal;
        self
    }
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.push(Attribute { key: key.into(), value: value.into() });
        self
    }
    /// The column's own name: the last segment of its path.
    pub fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or("")
    }
    /// Nesting depth: 0 for a top-level column.
    pub fn depth(&self) -> usize {
        self.path.len().saturating_sub(1)
    }
}

impl ConnectorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError { kind, message: message.into(), item: None }
    }
    /// Names the item (path, table...) the error is about.
    pub fn with_item(mut self, item: impl Into<String>) -> Self {
        self.item = Some(item.into());
        self
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MalformedInput, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl ErrorKind {
    /// Stable lowercase name, as used in run reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::PermissionDenied => "permission-denied",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::NotFound => "not-found",
            ErrorKind::MalformedInput => "malformed-input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Refused => "refused",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(v.into())
    }
}
/// Saturates at `i64::MAX`: no size or count in a catalog comes near it.
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::Texts(v)
    }
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(i) | Value::Timestamp(i) => Some(*i),
            _ => None,
        }
    }
}

impl Relation {
    /// A relation of `kind` to the asset `target` of `target_type`. The kinds
    /// the host turns into catalog relationships: `foreign_key` (attributes
    /// `name`, `columns`, `referencedColumns`, `onDelete`, `onUpdate`) and
    /// `lineage` (the target is read to produce this asset; attribute
    /// `columns`: the target's columns read).
    pub fn new(kind: impl Into<String>, target_type: impl Into<String>, target: impl Into<String>) -> Self {
        Relation { kind: kind.into(), target_type: target_type.into(), target: target.into(), attributes: Vec::new() }
    }
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.push(Attribute { key: key.into(), value: value.into() });
        self
    }
}
