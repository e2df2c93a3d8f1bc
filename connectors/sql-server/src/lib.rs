//! # sql-server — SQL Server and Azure SQL Database catalogs
//!
//! Reads the system catalog through the host's `sql` capability (the host
//! holds the connection and the credentials; this component has neither) and
//! emits the server, its databases, schemas, tables and views with their
//! columns, keys, foreign keys, row counts and view definitions.
//!
//! A constant handful of queries per database ([`catalog`]), whatever the
//! number of tables. A database whose catalog cannot be read (no user for the
//! login, missing permission) is reported as a per-item error and the rest
//! is scanned.
//!
//! Type names follow Purview: `mssql_instance`, `mssql_db`, `mssql_schema`,
//! `mssql_table`, `mssql_view`, and `azure_sql_*` when the server is an Azure
//! SQL Database (`*.database.windows.net`). Qualified names:
//! `mssql://<server>[/<instance>]/<database>/<schema>/<table>`.

pub mod catalog;

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use surveyor_sdk::{
    Asset, BrowseEntry, Column, Emitter, Error, ErrorKind, LogLevel, PluginInfo, PluginKind, Relation, Result,
    ScanRequest, ScanSummary, Source, SourceHost, SqlResultSet, SqlValue, Value,
};

pub struct SqlServer;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Databases to scan (case-insensitive); all online databases when empty.
    pub databases: Vec<String>,
    /// Also scan `master`, `model`, `msdb` and `tempdb`.
    pub include_system_databases: bool,
    pub schemas: SchemaFilter,
    /// Read view definitions (`sys.sql_modules`); default true.
    pub view_definitions: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaFilter {
    /// Schema names or `*` patterns to scan; all when empty.
    pub include: Vec<String>,
    /// Schema names or `*` patterns to skip.
    pub exclude: Vec<String>,
}

const CONFIG_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "databases": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "include_system_databases": {"type": "boolean"},
    "schemas": {
      "type": "object",
      "properties": {
        "include": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "exclude": {"type": "array", "items": {"type": "string", "minLength": 1}}
      },
      "additionalProperties": false
    },
    "view_definitions": {"type": "boolean"}
  },
  "additionalProperties": false
}"#;

const SYSTEM_DATABASES: [&str; 4] = ["master", "model", "msdb", "tempdb"];

/// `*` matches any run of characters; case-insensitive.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == n[ni] || p[pi] == '?') {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl SchemaFilter {
    pub fn allows(&self, schema: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob(p, schema)))
            && !self.exclude.iter().any(|p| glob(p, schema))
    }
}

/// The Purview type names for one kind of server.
pub struct Types {
    pub server: &'static str,
    pub database: &'static str,
    pub schema: &'static str,
    pub table: &'static str,
    pub view: &'static str,
}

pub const MSSQL: Types = Types {
    server: "mssql_instance",
    database: "mssql_db",
    schema: "mssql_schema",
    table: "mssql_table",
    view: "mssql_view",
};
pub const AZURE_SQL: Types = Types {
    server: "azure_sql_server",
    database: "azure_sql_db",
    schema: "azure_sql_schema",
    table: "azure_sql_table",
    view: "azure_sql_view",
};

/// Azure SQL Database when the root names a `*.database.windows.net` server
/// (or another cloud's `database.*` suffix).
pub fn types_for(root_uri: &str) -> &'static Types {
    let host = root_uri.trim_start_matches("mssql://").split('/').next().unwrap_or("").to_ascii_lowercase();
    let azure = [".database.windows.net", ".database.usgovcloudapi.net", ".database.chinacloudapi.cn"]
        .iter()
        .any(|s| host.ends_with(s));
    if azure { &AZURE_SQL } else { &MSSQL }
}

/// One qualified-name segment: `%`, `/`, `#`, `?`, space and control
/// characters percent-encoded, everything else (non-Latin letters included) kept.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            ' ' => out.push_str("%20"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Reads named columns of a result set's rows.
struct Reader<'a> {
    set: &'a SqlResultSet,
    index: HashMap<String, usize>,
}

impl<'a> Reader<'a> {
    fn new(set: &'a SqlResultSet) -> Self {
        let index = set.columns.iter().enumerate().map(|(i, c)| (c.name.to_ascii_lowercase(), i)).collect();
        Reader { set, index }
    }
    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.set.rows.iter().map(move |r| Row { values: r, index: &self.index })
    }
}

struct Row<'a> {
    values: &'a [SqlValue],
    index: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> Option<&SqlValue> {
        self.index.get(name).and_then(|i| self.values.get(*i)).filter(|v| !matches!(v, SqlValue::Null))
    }
    fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            SqlValue::Text(s) | SqlValue::Decimal(s) | SqlValue::Uuid(s) => Some(s.clone()),
            SqlValue::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }
    fn str(&self, name: &str) -> String {
        self.text(name).unwrap_or_default()
    }
    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            SqlValue::Integer(i) => Some(*i),
            SqlValue::Decimal(s) | SqlValue::Text(s) => s.split('.').next()?.parse().ok(),
            SqlValue::Boolean(b) => Some(*b as i64),
            _ => None,
        }
    }
    fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(SqlValue::Boolean(b)) => *b,
            Some(SqlValue::Integer(i)) => *i != 0,
            _ => false,
        }
    }
    /// Microseconds since the epoch → milliseconds, for timestamp attributes.
    fn millis(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            SqlValue::Timestamp(us) => Some(us / 1000),
            _ => None,
        }
    }
}

fn first(sets: Vec<SqlResultSet>) -> SqlResultSet {
    sets.into_iter().next().unwrap_or_default()
}

/// The declared type as T-SQL spells it: `nvarchar(50)`, `decimal(10,2)`, `varbinary(max)`.
pub fn declared_type(type_name: &str, max_length: i64, precision: i64, scale: i64) -> String {
    let t = type_name.to_ascii_lowercase();
    let len = |chars_per_byte: i64| {
        if max_length == -1 { "max".to_string() } else { (max_length / chars_per_byte).to_string() }
    };
    match t.as_str() {
        "nvarchar" | "nchar" => format!("{t}({})", len(2)),
        "varchar" | "char" | "varbinary" | "binary" => format!("{t}({})", len(1)),
        "decimal" | "numeric" => format!("{t}({precision},{scale})"),
        "datetime2" | "time" | "datetimeoffset" => format!("{t}({scale})"),
        _ => t,
    }
}

/// The normalised type shared by every connector.
pub fn normalized_type(type_name: &str, precision: i64, scale: i64) -> String {
    match type_name.to_ascii_lowercase().as_str() {
        "bit" => "boolean".into(),
        "tinyint" => "uint8".into(),
        "smallint" => "int16".into(),
        "int" => "int32".into(),
        "bigint" => "int64".into(),
        "real" => "float32".into(),
        "float" => "float64".into(),
        "decimal" | "numeric" => format!("decimal({precision},{scale})"),
        "money" => "decimal(19,4)".into(),
        "smallmoney" => "decimal(10,4)".into(),
        "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" | "sysname" | "xml" => "string".into(),
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => "binary".into(),
        "uniqueidentifier" => "uuid".into(),
        "date" => "date32".into(),
        "time" => "time64[us]".into(),
        "datetime" | "datetime2" | "smalldatetime" => "timestamp[us]".into(),
        "datetimeoffset" => "timestamp[us, UTC]".into(),
        other => other.to_string(),
    }
}

struct Key {
    name: String,
    kind: String,
    columns: Vec<String>,
}

struct ForeignKey {
    name: String,
    columns: Vec<String>,
    target_schema: String,
    target_table: String,
    target_columns: Vec<String>,
    on_delete: String,
    on_update: String,
}

/// A table or view a view reads, with the columns the server names.
struct ViewSource {
    /// Another database of the same server.
    database: Option<String>,
    schema: String,
    object: String,
    columns: Vec<String>,
}

/// Everything read from one database's catalog, by (schema, object).
#[derive(Default)]
struct DbCatalog {
    schemas: Vec<(String, Option<String>)>,
    objects: Vec<ObjectRow>,
    columns: HashMap<(String, String), Vec<Column>>,
    keys: HashMap<(String, String), Vec<Key>>,
    foreign_keys: HashMap<(String, String), Vec<ForeignKey>>,
    views: HashMap<(String, String), String>,
    /// What each view reads (`sys.sql_expression_dependencies`, columns
    /// also from `sys.dm_sql_referenced_entities`).
    reads: HashMap<(String, String), Vec<ViewSource>>,
    /// Round trips made.
    queries: u32,
}

struct ObjectRow {
    schema: String,
    name: String,
    is_view: bool,
    created: Option<i64>,
    modified: Option<i64>,
    rows: Option<i64>,
    description: Option<String>,
}

fn read_catalog(host: &dyn SourceHost, db: &str, config: &Config) -> Result<DbCatalog> {
    let mut cat = DbCatalog::default();
    let mut q = |sql: &str| -> Result<SqlResultSet> {
        cat.queries += 1;
        host.sql_query(Some(db), sql, &[]).map(first)
    };
    let schemas = q(catalog::SCHEMAS)?;
    let objects = q(catalog::OBJECTS)?;
    let columns = q(catalog::COLUMNS)?;
    let keys = q(catalog::KEYS)?;
    let fks = q(catalog::FOREIGN_KEYS)?;
    let views = if config.view_definitions.unwrap_or(true) {
        match q(catalog::VIEW_DEFINITIONS) {
            Ok(v) => Some(v),
            Err(e) => {
                host.log(LogLevel::Warn, &format!("database {db}: view definitions not read: {}", e.message));
                None
            }
        }
    } else {
        None
    };
    let dependencies = match q(catalog::VIEW_DEPENDENCIES) {
        Ok(v) => Some(v),
        Err(e) => {
            host.log(LogLevel::Warn, &format!("database {db}: view lineage not read: {}", e.message));
            None
        }
    };
    let allowed = |s: &str| config.schemas.allows(s);
    for r in Reader::new(&schemas).rows() {
        let name = r.str("schema_name");
        if allowed(&name) {
            cat.schemas.push((name, r.text("owner_name")));
        }
    }
    for r in Reader::new(&objects).rows() {
        let schema = r.str("schema_name");
        if !allowed(&schema) {
            continue;
        }
        cat.objects.push(ObjectRow {
            name: r.str("object_name"),
            is_view: r.str("object_type").trim().eq_ignore_ascii_case("V"),
            created: r.millis("create_date"),
            modified: r.millis("modify_date"),
            rows: r.int("row_count").filter(|n| *n >= 0),
            description: r.text("description"),
            schema,
        });
    }
    for r in Reader::new(&columns).rows() {
        let schema = r.str("schema_name");
        if !allowed(&schema) {
            continue;
        }
        let type_name = r.str("type_name");
        let (max_length, precision, scale) =
            (r.int("max_length").unwrap_or(0), r.int("precision").unwrap_or(0), r.int("scale").unwrap_or(0));
        let ordinal = r.int("column_id").unwrap_or(1).max(1) - 1;
        let mut col = Column::new(
            [r.str("column_name")],
            declared_type(&type_name, max_length, precision, scale),
            normalized_type(&type_name, precision, scale),
        )
        .nullable(r.bool("is_nullable"))
        .ordinal(ordinal as u32);
        if r.bool("is_identity") {
            col = col.attr("isIdentity", true);
        }
        if r.bool("is_computed") {
            col = col.attr("isComputed", true);
        }
        if let Some(d) = r.text("default_definition") {
            col = col.attr("defaultValue", d);
        }
        if let Some(c) = r.text("collation_name") {
            col = col.attr("collation", c);
        }
        if !col.nullable {
            col.repetition = surveyor_sdk::Repetition::Required;
        }
        cat.columns.entry((schema, r.str("object_name"))).or_default().push(col);
    }
    for (key, found) in match_keys(&keys) {
        if found.columns.is_empty() {
            host.log(
                LogLevel::Warn,
                &format!("database {db}: no index found for key {} of {}.{}", found.name, key.0, key.1),
            );
            continue;
        }
        cat.keys.entry(key).or_default().push(found);
    }
    for r in Reader::new(&fks).rows() {
        let key = (r.str("schema_name"), r.str("object_name"));
        let name = r.str("constraint_name");
        let list = cat.foreign_keys.entry(key).or_default();
        match list.iter_mut().find(|k| k.name == name) {
            Some(k) => {
                k.columns.push(r.str("column_name"));
                k.target_columns.push(r.str("referenced_column"));
            }
            None => list.push(ForeignKey {
                name,
                columns: vec![r.str("column_name")],
                target_schema: r.str("referenced_schema"),
                target_table: r.str("referenced_object"),
                target_columns: vec![r.str("referenced_column")],
                on_delete: r.str("on_delete"),
                on_update: r.str("on_update"),
            }),
        }
    }
    let dependencies = dependencies.unwrap_or_default();
    for r in Reader::new(&dependencies).rows() {
        // An unqualified name the server could not bind has no schema: it
        // names nothing we can point at.
        let (Some(schema), Some(object)) = (r.text("referenced_schema"), r.text("referenced_object")) else {
            continue;
        };
        let database = r.text("referenced_database").filter(|d| !d.eq_ignore_ascii_case(db));
        let list = cat.reads.entry((r.str("schema_name"), r.str("object_name"))).or_default();
        let i = match list.iter().position(|s| s.database == database && s.schema == schema && s.object == object) {
            Some(i) => i,
            None => {
                list.push(ViewSource { database, schema, object, columns: Vec::new() });
                list.len() - 1
            }
        };
        if let Some(column) = r.text("referenced_column")
            && !list[i].columns.contains(&column)
        {
            list[i].columns.push(column);
        }
    }
    read_view_columns(host, db, &mut cat);
    if let Some(views) = views {
        for r in Reader::new(&views).rows() {
            if let Some(def) = r.text("definition") {
                cat.views.insert((r.str("schema_name"), r.str("object_name")), def);
            }
        }
    }
    Ok(cat)
}

/// Adds the columns each view reads where the object-level dependencies
/// name none (views that are not schema-bound), from
/// `sys.dm_sql_referenced_entities`. A server without that function
/// (Babelfish) keeps the object-level lineage; a view the server can no
/// longer bind keeps its own, with a warning.
fn read_view_columns(host: &dyn SourceHost, db: &str, cat: &mut DbCatalog) {
    let mut views: Vec<(String, String)> = cat
        .reads
        .iter()
        .filter(|(_, sources)| sources.iter().any(|s| s.columns.is_empty()))
        .map(|(key, _)| key.clone())
        .collect();
    views.sort();
    let quote = |name: &str| format!("[{}]", name.replace(']', "]]"));
    for view in &views {
        cat.queries += 1;
        let name = SqlValue::Text(format!("{}.{}", quote(&view.0), quote(&view.1)));
        let set = match host.sql_query(Some(db), catalog::VIEW_COLUMNS, &[name]).map(first) {
            Ok(set) => set,
            // The function itself is missing: no view will do better.
            Err(e) if e.message.to_ascii_lowercase().contains("dm_sql_referenced_entities") => {
                host.log(
                    LogLevel::Info,
                    &format!("database {db}: the server has no sys.dm_sql_referenced_entities; view lineage names tables, not columns"),
                );
                return;
            }
            Err(e) => {
                host.log(
                    LogLevel::Warn,
                    &format!(
                        "database {db}: the columns view {}.{} reads were not read: {}",
                        view.0, view.1, e.message
                    ),
                );
                continue;
            }
        };
        let list = cat.reads.entry(view.clone()).or_default();
        for r in Reader::new(&set).rows() {
            let (Some(schema), Some(object), Some(column)) =
                (r.text("referenced_schema"), r.text("referenced_object"), r.text("referenced_column"))
            else {
                continue;
            };
            let database = r.text("referenced_database").filter(|d| !d.eq_ignore_ascii_case(db));
            let same = |s: &&mut ViewSource| {
                s.database == database
                    && s.schema.eq_ignore_ascii_case(&schema)
                    && s.object.eq_ignore_ascii_case(&object)
            };
            match list.iter_mut().find(same) {
                Some(source) if !source.columns.contains(&column) => source.columns.push(column),
                Some(_) => {}
                None => list.push(ViewSource { database, schema, object, columns: vec![column] }),
            }
        }
    }
}

/// Key constraints with their columns, from the rows of [`catalog::KEYS`]
/// (each constraint paired with every index of its table): the index of
/// the constraint's name, or else the one of its `unique_index_id`.
fn match_keys(set: &SqlResultSet) -> Vec<((String, String), Key)> {
    // (schema, object, constraint) → kind, unique_index_id, index id → (name, columns)
    type Indexes = BTreeMap<i64, (String, Vec<String>)>;
    /// Kind, `unique_index_id`, and the table's indexes.
    type Constraint = (String, Option<i64>, Indexes);
    let mut found: BTreeMap<(String, String, String), Constraint> = BTreeMap::new();
    for r in Reader::new(set).rows() {
        let entry =
            found.entry((r.str("schema_name"), r.str("object_name"), r.str("constraint_name"))).or_insert_with(|| {
                (r.str("constraint_type").trim().to_string(), r.int("unique_index_id"), BTreeMap::new())
            });
        let index = entry.2.entry(r.int("index_id").unwrap_or(-1)).or_insert_with(|| (r.str("index_name"), Vec::new()));
        index.1.push(r.str("column_name"));
    }
    found
        .into_iter()
        .map(|((schema, object, name), (kind, unique_index_id, indexes))| {
            let by_name = indexes.values().find(|(n, _)| n.eq_ignore_ascii_case(&name));
            let by_id = unique_index_id.and_then(|id| indexes.get(&id));
            let columns = by_name.or(by_id).map(|(_, c)| c.clone()).unwrap_or_default();
            ((schema, object), Key { name, kind, columns })
        })
        .collect()
}

/// The databases to scan, in name order.
fn databases(host: &dyn SourceHost, config: &Config) -> Result<Vec<(String, SqlResultRow)>> {
    let set = host.sql_query(None, catalog::DATABASES, &[]).map(first)?;
    let reader = Reader::new(&set);
    let mut out = Vec::new();
    for r in reader.rows() {
        let name = r.str("name");
        let system = SYSTEM_DATABASES.iter().any(|s| s.eq_ignore_ascii_case(&name));
        let listed = config.databases.iter().any(|d| d.eq_ignore_ascii_case(&name));
        let wanted = if config.databases.is_empty() { !system || config.include_system_databases } else { listed };
        if wanted {
            out.push((
                name,
                SqlResultRow {
                    collation: r.text("collation_name"),
                    created: r.millis("create_date"),
                    compatibility: r.int("compatibility_level"),
                },
            ));
        }
    }
    // Listed databases the server did not return: say so.
    for d in &config.databases {
        if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(d)) {
            host.item_error(
                &Error::not_found(format!("database '{d}' is not online on this server, or the login cannot see it"))
                    .with_item(d.clone()),
            );
        }
    }
    Ok(out)
}

struct SqlResultRow {
    collation: Option<String>,
    created: Option<i64>,
    compatibility: Option<i64>,
}

fn scan_database(
    host: &dyn SourceHost,
    out: &mut Emitter<'_>,
    config: &Config,
    types: &Types,
    db_qn: &str,
    db: &str,
) -> Result<u32> {
    let cat = read_catalog(host, db, config)?;
    let mut schema_qns: BTreeMap<String, String> = BTreeMap::new();
    for (schema, owner) in &cat.schemas {
        let qn = format!("{db_qn}/{}", segment(schema));
        out.push(
            Asset::new(types.schema, qn.clone(), schema.clone())
                .parent(types.database, db_qn)
                .attr_opt("owner", owner.clone()),
        )?;
        schema_qns.insert(schema.clone(), qn);
    }
    let table_qn = |schema: &str, name: &str| format!("{db_qn}/{}/{}", segment(schema), segment(name));
    let object_types: HashMap<(String, String), bool> =
        cat.objects.iter().map(|o| ((o.schema.clone(), o.name.clone()), o.is_view)).collect();
    for o in &cat.objects {
        let key = (o.schema.clone(), o.name.clone());
        let type_name = if o.is_view { types.view } else { types.table };
        let schema_qn = match schema_qns.get(&o.schema) {
            Some(qn) => qn.clone(),
            None => {
                // A schema the schema query did not return (e.g. a role schema): emit it now.
                let qn = format!("{db_qn}/{}", segment(&o.schema));
                out.push(Asset::new(types.schema, qn.clone(), o.schema.clone()).parent(types.database, db_qn))?;
                schema_qns.insert(o.schema.clone(), qn.clone());
                qn
            }
        };
        let mut asset = Asset::new(type_name, table_qn(&o.schema, &o.name), o.name.clone())
            .parent(types.schema, schema_qn)
            .attr("schemaName", o.schema.clone())
            .attr("objectType", if o.is_view { "VIEW" } else { "TABLE" })
            .attr_opt("createTime", o.created.map(Value::Timestamp))
            .attr_opt("modifiedTime", o.modified.map(Value::Timestamp))
            .attr_opt("description", o.description.clone());
        if !o.is_view {
            asset = asset.attr_opt("rowCount", o.rows);
        }
        if let Some(def) = cat.views.get(&key) {
            asset = asset.attr("viewDefinition", def.clone());
        }
        let mut pk_columns: Vec<String> = Vec::new();
        for k in cat.keys.get(&key).into_iter().flatten() {
            if k.kind.eq_ignore_ascii_case("PK") {
                pk_columns = k.columns.clone();
                asset = asset.attr("primaryKey", k.columns.clone()).attr("primaryKeyName", k.name.clone());
            } else {
                asset = asset.attr(format!("uniqueKey:{}", k.name), k.columns.clone());
            }
        }
        for fk in cat.foreign_keys.get(&key).into_iter().flatten() {
            let target_key = (fk.target_schema.clone(), fk.target_table.clone());
            let target_type =
                if object_types.get(&target_key).copied().unwrap_or(false) { types.view } else { types.table };
            asset = asset.related(
                Relation::new("foreign_key", target_type, table_qn(&fk.target_schema, &fk.target_table))
                    .attr("name", fk.name.clone())
                    .attr("columns", fk.columns.clone())
                    .attr("referencedColumns", fk.target_columns.clone())
                    .attr("onDelete", fk.on_delete.clone())
                    .attr("onUpdate", fk.on_update.clone()),
            );
        }
        for source in cat.reads.get(&key).into_iter().flatten() {
            let target = match &source.database {
                Some(other) => format!(
                    "{}/{}/{}/{}",
                    db_qn.rsplit_once('/').map_or(db_qn, |(server, _)| server),
                    segment(other),
                    segment(&source.schema),
                    segment(&source.object)
                ),
                None => table_qn(&source.schema, &source.object),
            };
            let source_key = (source.schema.clone(), source.object.clone());
            let target_type = if source.database.is_none() && object_types.get(&source_key).copied().unwrap_or(false) {
                types.view
            } else {
                types.table
            };
            asset =
                asset.related(Relation::new("lineage", target_type, target).attr("columns", source.columns.clone()));
        }
        for mut col in cat.columns.get(&key).cloned().unwrap_or_default() {
            if pk_columns.iter().any(|c| c == col.name()) {
                col = col.attr("isPrimaryKey", true);
            }
            asset = asset.column(col);
        }
        out.push(asset)?;
    }
    Ok(cat.queries)
}

impl Source for SqlServer {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("sql-server", env!("CARGO_PKG_VERSION"), PluginKind::Source)
            .handles(["sql-server"])
            .description(
                "SQL Server and Azure SQL Database: databases, schemas, tables, views, columns, keys, row counts",
            )
            .config_schema(CONFIG_SCHEMA)
    }

    fn test_connection(host: &dyn SourceHost, _config: Config) -> Result<()> {
        host.sql_query(None, catalog::PING, &[])?;
        host.sql_query(None, catalog::DATABASES, &[])?;
        Ok(())
    }

    fn browse(host: &dyn SourceHost, config: Config, path: &str) -> Result<Vec<BrowseEntry>> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let entry = |path: String, name: String, container: bool| BrowseEntry {
            path,
            name,
            is_container: container,
            size: None,
        };
        match parts.as_slice() {
            [] => Ok(databases(host, &config)?.into_iter().map(|(d, _)| entry(d.clone(), d, true)).collect()),
            [db] => {
                let set = host.sql_query(Some(db), catalog::SCHEMAS, &[]).map(first)?;
                Ok(Reader::new(&set)
                    .rows()
                    .map(|r| r.str("schema_name"))
                    .filter(|s| config.schemas.allows(s))
                    .map(|s| entry(format!("{db}/{s}"), s, true))
                    .collect())
            }
            [db, schema] => {
                let set = host.sql_query(Some(db), catalog::OBJECTS, &[]).map(first)?;
                Ok(Reader::new(&set)
                    .rows()
                    .filter(|r| r.str("schema_name") == *schema)
                    .map(|r| r.str("object_name"))
                    .map(|t| entry(format!("{db}/{schema}/{t}"), t, false))
                    .collect())
            }
            _ => Err(Error::not_found(format!("'{path}' is not a database or a schema")).with_item(path)),
        }
    }

    fn scan(host: &dyn SourceHost, config: Config, request: &ScanRequest) -> Result<ScanSummary> {
        let root = request.root_uri.trim_end_matches('/').to_string();
        let types = types_for(&root);
        let mut out = Emitter::new(host);
        let server = host.sql_query(None, catalog::SERVER, &[]).map(first)?;
        let server_row = Reader::new(&server);
        let mut server_asset = Asset::new(types.server, root.clone(), root.trim_start_matches("mssql://").to_string());
        if let Some(r) = server_row.rows().next() {
            server_asset = server_asset
                .attr_opt("serverName", r.text("server_name"))
                .attr_opt("productVersion", r.text("product_version"))
                .attr_opt("edition", r.text("edition"));
        }
        out.push(server_asset)?;
        let mut dbs = databases(host, &config)?;
        // A scope narrows to listed databases (`db` or `db/...`).
        if !request.scope.is_empty() {
            dbs.retain(|(d, _)| {
                request.scope.iter().any(|s| s.split('/').next().is_some_and(|first| first.eq_ignore_ascii_case(d)))
            });
        }
        let mut failed = 0u64;
        let total = dbs.len() as u64;
        for (i, (db, info)) in dbs.iter().enumerate() {
            host.progress(i as u64, Some(total), &format!("database {db}"));
            let db_qn = format!("{root}/{}", segment(db));
            out.push(
                Asset::new(types.database, db_qn.clone(), db.clone())
                    .parent(types.server, root.clone())
                    .attr_opt("collation", info.collation.clone())
                    .attr_opt("createTime", info.created.map(Value::Timestamp))
                    .attr_opt("compatibilityLevel", info.compatibility),
            )?;
            match scan_database(host, &mut out, &config, types, &db_qn, db) {
                Ok(queries) => host.log(LogLevel::Debug, &format!("database {db}: {queries} catalog queries")),
                Err(e) if e.kind == ErrorKind::Canceled => return Err(e),
                Err(e) => {
                    failed += 1;
                    let item = e.item.clone().unwrap_or_else(|| db.clone());
                    host.item_error(&Error::new(e.kind, format!("database {db}: {}", e.message)).with_item(item));
                }
            }
        }
        host.progress(total, Some(total), "done");
        Ok(ScanSummary { assets: out.finish()?, items_failed: failed })
    }
}

surveyor_sdk::export_source!(SqlServer);

#[cfg(test)]
mod tests {
    use super::*;
    use surveyor_sdk::SqlColumn;
    use surveyor_sdk::testing::MemoryHost;

    fn set(cols: &[&str], rows: Vec<Vec<SqlValue>>) -> Vec<SqlResultSet> {
        vec![SqlResultSet {
            columns: cols.iter().map(|c| SqlColumn { name: c.to_string(), type_name: "nvarchar".into() }).collect(),
            rows,
        }]
    }
    fn t(s: &str) -> SqlValue {
        SqlValue::Text(s.into())
    }
    fn i(v: i64) -> SqlValue {
        SqlValue::Integer(v)
    }

    fn host() -> MemoryHost {
        MemoryHost::new().with_sql(|db, sql, _| {
            let tag = sql.split("*/").next().unwrap_or("");
            Ok(match (db, tag) {
                (_, t_) if t_.contains("surveyor:server") => set(&["server_name"], vec![vec![t("SRV")]]),
                (_, t_) if t_.contains("surveyor:databases") => {
                    set(&["name"], vec![vec![t("master")], vec![t("sales")], vec![t("locked")]])
                }
                (Some("locked"), _) => {
                    return Err(Error::new(ErrorKind::PermissionDenied, "error 916: not a user").with_item("locked"));
                }
                (_, t_) if t_.contains("surveyor:schemas") => {
                    set(&["schema_name"], vec![vec![t("dbo")], vec![t("staging")]])
                }
                (_, t_) if t_.contains("surveyor:objects") => set(
                    &["schema_name", "object_name", "object_type", "row_count"],
                    vec![
                        vec![t("dbo"), t("orders"), t("U "), i(42)],
                        vec![t("dbo"), t("customers"), t("U "), i(7)],
                        vec![t("dbo"), t("v_orders"), t("V "), SqlValue::Null],
                        vec![t("staging"), t("raw"), t("U "), i(1)],
                    ],
                ),
                (_, t_) if t_.contains("surveyor:columns") => set(
                    &[
                        "schema_name",
                        "object_name",
                        "column_id",
                        "column_name",
                        "type_name",
                        "max_length",
                        "precision",
                        "scale",
                        "is_nullable",
                        "is_identity",
                    ],
                    vec![
                        vec![
                            t("dbo"),
                            t("orders"),
                            i(1),
                            t("id"),
                            t("int"),
                            i(4),
                            i(10),
                            i(0),
                            SqlValue::Boolean(false),
                            SqlValue::Boolean(true),
                        ],
                        vec![
                            t("dbo"),
                            t("orders"),
                            i(2),
                            t("customer_id"),
                            t("int"),
                            i(4),
                            i(10),
                            i(0),
                            SqlValue::Boolean(false),
                            SqlValue::Boolean(false),
                        ],
                        vec![
                            t("dbo"),
                            t("orders"),
                            i(3),
                            t("note"),
                            t("nvarchar"),
                            i(-1),
                            i(0),
                            i(0),
                            SqlValue::Boolean(true),
                            SqlValue::Boolean(false),
                        ],
                        vec![
                            t("dbo"),
                            t("customers"),
                            i(1),
                            t("id"),
                            t("int"),
                            i(4),
                            i(10),
                            i(0),
                            SqlValue::Boolean(false),
                            SqlValue::Boolean(false),
                        ],
                    ],
                ),
                (_, t_) if t_.contains("surveyor:keys") => set(
                    &[
                        "schema_name",
                        "object_name",
                        "constraint_name",
                        "constraint_type",
                        "unique_index_id",
                        "index_id",
                        "index_name",
                        "column_name",
                    ],
                    // Babelfish style: the key's index is not its unique_index_id (1, another index).
                    vec![
                        vec![t("dbo"), t("orders"), t("orders_pkey"), t("PK"), i(1), i(1), t("ix_note"), t("note")],
                        vec![t("dbo"), t("orders"), t("orders_pkey"), t("PK"), i(1), i(2), t("orders_pkey"), t("id")],
                    ],
                ),
                (_, t_) if t_.contains("surveyor:foreign_keys") => set(
                    &[
                        "constraint_name",
                        "schema_name",
                        "object_name",
                        "column_name",
                        "referenced_schema",
                        "referenced_object",
                        "referenced_column",
                    ],
                    vec![vec![t("FK_o_c"), t("dbo"), t("orders"), t("customer_id"), t("dbo"), t("customers"), t("id")]],
                ),
                (_, t_) if t_.contains("surveyor:view_definitions") => set(
                    &["schema_name", "object_name", "definition"],
                    vec![vec![t("dbo"), t("v_orders"), t("CREATE VIEW v_orders AS SELECT 1")]],
                ),
                _ => return Err(Error::internal(format!("unexpected query {sql}"))),
            })
        })
    }

    fn reads(sources: &[(&str, &str, &[&str])]) -> Vec<ViewSource> {
        sources
            .iter()
            .map(|(schema, object, columns)| ViewSource {
                database: None,
                schema: schema.to_string(),
                object: object.to_string(),
                columns: columns.iter().map(|c| c.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn columns_of_views_that_are_not_schema_bound_come_from_referenced_entities() {
        let h = MemoryHost::new().with_sql(|_, sql, params| {
            assert!(sql.contains("surveyor:view_columns"), "{sql}");
            let cols = ["referenced_database", "referenced_schema", "referenced_object", "referenced_column"];
            match params.first() {
                Some(SqlValue::Text(v)) if v == "[dbo].[v_a]" => Ok(set(
                    &cols,
                    vec![
                        vec![SqlValue::Null, t("dbo"), t("orders"), t("id")],
                        vec![SqlValue::Null, t("dbo"), t("orders"), t("id")],
                        vec![SqlValue::Null, t("dbo"), t("customers"), t("name")],
                    ],
                )),
                Some(SqlValue::Text(v)) if v == "[dbo].[v_]]odd]" => {
                    Err(Error::new(ErrorKind::Internal, "error 207: Invalid column name 'gone'."))
                }
                other => panic!("unexpected view {other:?}"),
            }
        });
        let mut cat = DbCatalog::default();
        cat.reads.insert(("dbo".into(), "v_a".into()), reads(&[("dbo", "orders", &[])]));
        cat.reads.insert(("dbo".into(), "v_]odd".into()), reads(&[("dbo", "orders", &[])]));
        // Schema-bound: the columns are known already, no call.
        cat.reads.insert(("dbo".into(), "v_bound".into()), reads(&[("dbo", "orders", &["id"])]));
        read_view_columns(&h, "sales", &mut cat);
        let a = &cat.reads[&("dbo".to_string(), "v_a".to_string())];
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].object.as_str(), a[0].columns.clone()), ("orders", vec!["id".to_string()]));
        assert_eq!((a[1].object.as_str(), a[1].columns.clone()), ("customers", vec!["name".to_string()]));
        // The view that no longer binds keeps its tables, with a warning naming it.
        let odd = &cat.reads[&("dbo".to_string(), "v_]odd".to_string())];
        assert!(odd[0].columns.is_empty());
        let logs = h.logs.borrow();
        assert!(
            logs.iter().any(|(l, m)| *l == LogLevel::Warn && m.contains("v_]odd") && m.contains("207")),
            "{logs:?}"
        );
        assert_eq!(cat.queries, 2);
    }

    #[test]
    fn a_server_without_referenced_entities_is_asked_once() {
        let h = MemoryHost::new().with_sql(|_, _, _| {
            Err(Error::new(ErrorKind::NotFound, "error 208: Invalid object name 'sys.dm_sql_referenced_entities'."))
        });
        let mut cat = DbCatalog::default();
        for view in ["v1", "v2", "v3"] {
            cat.reads.insert(("dbo".into(), view.into()), reads(&[("dbo", "orders", &[])]));
        }
        read_view_columns(&h, "sales", &mut cat);
        assert_eq!(cat.queries, 1);
        assert!(h.logs.borrow().iter().all(|(l, _)| *l != LogLevel::Warn));
    }

    fn request(root: &str) -> ScanRequest {
        ScanRequest { root_uri: root.into(), scope: vec![], modified_since: None }
    }

    #[test]
    fn emits_the_catalog_and_goes_on_past_a_locked_database() {
        let h = host();
        let config =
            Config { schemas: SchemaFilter { include: vec![], exclude: vec!["stag*".into()] }, ..Default::default() };
        let summary = SqlServer::scan(&h, config, &request("mssql://db1.contoso.local")).unwrap();
        assert_eq!(summary.items_failed, 1);
        let orders = h.asset("mssql://db1.contoso.local/sales/dbo/orders").expect("orders");
        assert_eq!(orders.type_name, "mssql_table");
        assert_eq!(orders.get("rowCount"), Some(&Value::Integer(42)));
        assert_eq!(orders.columns.len(), 3);
        assert_eq!(orders.columns[2].physical_type, "nvarchar(max)");
        assert!(orders.columns[2].nullable);
        assert_eq!(orders.relations[0].target, "mssql://db1.contoso.local/sales/dbo/customers");
        let view = h.asset("mssql://db1.contoso.local/sales/dbo/v_orders").unwrap();
        assert_eq!(view.type_name, "mssql_view");
        assert!(view.get("viewDefinition").is_some());
        assert!(h.asset("mssql://db1.contoso.local/sales/staging/raw").is_none(), "excluded schema");
        assert!(h.asset("mssql://db1.contoso.local/master").is_none(), "system database skipped");
        let errors = h.errors();
        assert_eq!(errors[0].item.as_deref(), Some("locked"));
        // a constant number of queries per database
        let sales = h.sql_queries.borrow().iter().filter(|(d, _)| d.as_deref() == Some("sales")).count();
        assert_eq!(sales, 7);
        assert_eq!(orders.get("primaryKey"), Some(&Value::Texts(vec!["id".into()])), "the index of the key's name");
    }

    #[test]
    fn azure_sql_names() {
        let h = host();
        SqlServer::scan(&h, Config::default(), &request("mssql://x.database.windows.net")).unwrap();
        assert_eq!(h.asset("mssql://x.database.windows.net/sales/dbo/orders").unwrap().type_name, "azure_sql_table");
        assert_eq!(h.asset("mssql://x.database.windows.net").unwrap().type_name, "azure_sql_server");
    }

    #[test]
    fn types_and_globs() {
        assert_eq!(declared_type("nvarchar", 100, 0, 0), "nvarchar(50)");
        assert_eq!(declared_type("decimal", 9, 10, 2), "decimal(10,2)");
        assert_eq!(declared_type("datetime2", 8, 27, 7), "datetime2(7)");
        assert!(glob("sales_*", "Sales_EU"));
        assert!(!glob("sales_*", "hr"));
        assert_eq!(segment("a/b #c"), "a%2Fb%20%23c");
    }
}
