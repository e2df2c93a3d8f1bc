//! End-to-end tests of the `sql-server` connector and the host's SQL Server
//! backend, through the real `surveyor` binary.
//!
//! **There is no SQL Server here.** The server is `surveyor-tds-server`
//! (`tests/tds-server`), a stand-in that speaks SQL Server's wire protocol
//! (TDS) faithfully enough for tiberius, the client the host uses, and
//! answers the connector's catalog queries from fixture rows shaped as SQL
//! Server returns them (types, NULLs, several databases and schemas, a
//! view, a composite key, a foreign key, non-Latin names). These tests
//! therefore prove our use of tiberius (login, TLS, `USE`, errors, pooling)
//! and our mapping of the catalog rows; they cannot prove the T-SQL of the
//! catalog queries right on a real server (see `connectors/sql-server/src/catalog.rs`).

mod support;

use std::path::Path;
use std::sync::Arc;
use support::{Run, stderr, stdout, surveyor};
use surveyor_tds_server::{
    ColumnDef, Reply, Request, ResultSet, ServerConfig, ServerError, SqlDateTime, SqlType, SqlValue, TdsServer, TlsMode,
};

fn s(v: &str) -> SqlValue {
    SqlValue::str(v)
}
fn int(v: i32) -> SqlValue {
    SqlValue::Int(v)
}
fn bit(v: bool) -> SqlValue {
    SqlValue::Bit(v)
}
const NULL: SqlValue = SqlValue::Null;

fn name(n: &str) -> ColumnDef {
    ColumnDef::not_null(n, SqlType::SysName)
}

fn when() -> SqlValue {
    SqlValue::DateTime(SqlDateTime::from_ymd_hms_nano(2024, 3, 1, 12, 0, 0, 0).unwrap())
}

/// Catalog rows of the `sales` database: two schemas (one non-Latin), three
/// tables and a view, a composite primary key, a foreign key, NULL defaults
/// and collations, `nvarchar(max)` and `decimal(12,2)` columns.
/// `param`: the statement's first text parameter.
fn sales_catalog(tag: &str, babelfish: bool, param: Option<String>) -> Reply {
    match tag {
        "schemas" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                ColumnDef::not_null("schema_id", SqlType::Int),
                ColumnDef::new("owner_name", SqlType::SysName),
            ])
            .row(vec![s("dbo"), int(1), s("dbo")])
            .row(vec![s("销售"), int(5), s("dbo")]),
        ),
        "objects" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::not_null("object_type", SqlType::Char(2)),
                ColumnDef::not_null("create_date", SqlType::DateTime),
                ColumnDef::not_null("modify_date", SqlType::DateTime),
                ColumnDef::new("row_count", SqlType::BigInt),
                ColumnDef::new("description", SqlType::NVarChar(Some(4000))),
            ])
            .row(vec![s("dbo"), s("customers"), s("U "), when(), when(), SqlValue::BigInt(300), s("Who buys")])
            // Babelfish reports −1 rows for a table it has not analysed yet.
            .row(vec![
                s("dbo"),
                s("order_lines"),
                s("U "),
                when(),
                when(),
                SqlValue::BigInt(if babelfish { -1 } else { 5_000_000_000 }),
                NULL,
            ])
            .row(vec![s("dbo"), s("orders"), s("U "), when(), when(), SqlValue::BigInt(1200), NULL])
            .row(vec![s("dbo"), s("v_big_orders"), s("V "), when(), when(), NULL, NULL])
            .row(vec![s("销售"), s("客户"), s("U "), when(), when(), SqlValue::BigInt(0), NULL]),
        ),
        "columns" => {
            let mut set = ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::not_null("column_id", SqlType::Int),
                ColumnDef::new("column_name", SqlType::SysName),
                name("type_name"),
                ColumnDef::not_null("max_length", SqlType::SmallInt),
                ColumnDef::not_null("precision", SqlType::TinyInt),
                ColumnDef::not_null("scale", SqlType::TinyInt),
                ColumnDef::new("is_nullable", SqlType::Bit),
                ColumnDef::not_null("is_identity", SqlType::Bit),
                ColumnDef::not_null("is_computed", SqlType::Bit),
                ColumnDef::new("collation_name", SqlType::SysName),
                ColumnDef::new("default_definition", SqlType::NVarChar(None)),
            ]);
            let coll = || s("SQL_Latin1_General_CP1_CI_AS");
            #[rustfmt::skip]
            let rows = vec![
                vec![s("dbo"), s("customers"), int(1), s("id"), s("int"), SqlValue::SmallInt(4), SqlValue::TinyInt(10), SqlValue::TinyInt(0), bit(false), bit(true), bit(false), NULL, NULL],
                vec![s("dbo"), s("customers"), int(2), s("name"), s("nvarchar"), SqlValue::SmallInt(200), SqlValue::TinyInt(0), SqlValue::TinyInt(0), bit(false), bit(false), bit(false), coll(), NULL],
                vec![s("dbo"), s("order_lines"), int(1), s("order_id"), s("int"), SqlValue::SmallInt(4), SqlValue::TinyInt(10), SqlValue::TinyInt(0), bit(false), bit(false), bit(false), NULL, NULL],
                vec![s("dbo"), s("order_lines"), int(2), s("line_no"), s("smallint"), SqlValue::SmallInt(2), SqlValue::TinyInt(5), SqlValue::TinyInt(0), bit(false), bit(false), bit(false), NULL, NULL],
                vec![s("dbo"), s("order_lines"), int(3), s("amount"), s("decimal"), SqlValue::SmallInt(9), SqlValue::TinyInt(12), SqlValue::TinyInt(2), bit(true), bit(false), bit(false), NULL, s("((0))")],
                vec![s("dbo"), s("orders"), int(1), s("id"), s("int"), SqlValue::SmallInt(4), SqlValue::TinyInt(10), SqlValue::TinyInt(0), bit(false), bit(true), bit(false), NULL, NULL],
                vec![s("dbo"), s("orders"), int(2), s("customer_id"), s("int"), SqlValue::SmallInt(4), SqlValue::TinyInt(10), SqlValue::TinyInt(0), bit(false), bit(false), bit(false), NULL, NULL],
                vec![s("dbo"), s("orders"), int(3), s("placed_at"), s("datetime2"), SqlValue::SmallInt(8), SqlValue::TinyInt(27), SqlValue::TinyInt(7), bit(false), bit(false), bit(false), NULL, s("(sysutcdatetime())")],
                vec![s("dbo"), s("orders"), int(4), s("note"), s("nvarchar"), SqlValue::SmallInt(-1), SqlValue::TinyInt(0), SqlValue::TinyInt(0), bit(true), bit(false), bit(false), coll(), NULL],
                vec![s("dbo"), s("v_big_orders"), int(1), s("id"), s("int"), SqlValue::SmallInt(4), SqlValue::TinyInt(10), SqlValue::TinyInt(0), bit(false), bit(false), bit(false), NULL, NULL],
                vec![s("销售"), s("客户"), int(1), s("名字"), s("nvarchar"), SqlValue::SmallInt(100), SqlValue::TinyInt(0), SqlValue::TinyInt(0), bit(true), bit(false), bit(false), s("Chinese_PRC_CI_AS"), NULL],
            ];
            set.rows = rows;
            Reply::rows(set)
        }
        "keys" => {
            let mut set = ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                name("constraint_name"),
                ColumnDef::new("constraint_type", SqlType::Char(2)),
                ColumnDef::not_null("unique_index_id", SqlType::Int),
                ColumnDef::not_null("index_id", SqlType::Int),
                ColumnDef::new("index_name", SqlType::SysName),
                ColumnDef::new("column_name", SqlType::SysName),
                ColumnDef::not_null("key_ordinal", SqlType::TinyInt),
            ]);
            // Each key constraint beside every index of its table (the
            // connector picks the index). SQL Server: the key's index has
            // the key's name and id. Babelfish: PostgreSQL-style names, and
            // `unique_index_id` is 1 where the key's index is 2 — and index 1
            // is another index, which a match by id alone would take.
            let pk = |table: &str| {
                if babelfish { (format!("{table}_pkey"), 1, 2) } else { (format!("PK_{table}"), 1, 1) }
            };
            let mut key = |table: &str, columns: &[&str], other: Option<&str>| {
                let (pk, key_id, index_id) = pk(table);
                for (i, c) in columns.iter().enumerate() {
                    set.rows.push(vec![
                        s("dbo"),
                        s(table),
                        s(&pk),
                        s("PK"),
                        int(key_id),
                        int(index_id),
                        s(&pk),
                        s(c),
                        SqlValue::TinyInt(i as u8 + 1),
                    ]);
                }
                if let Some(c) = other {
                    let other_id = if babelfish { 1 } else { 2 };
                    set.rows.push(vec![
                        s("dbo"),
                        s(table),
                        s(&pk),
                        s("PK"),
                        int(key_id),
                        int(other_id),
                        s("ix_other"),
                        s(c),
                        SqlValue::TinyInt(1),
                    ]);
                }
            };
            key("customers", &["id"], Some("name"));
            key("order_lines", &["order_id", "line_no"], None);
            key("orders", &["id"], Some("note"));
            Reply::rows(set)
        }
        "foreign_keys" => Reply::rows(
            ResultSet::new(vec![
                name("constraint_name"),
                name("schema_name"),
                name("object_name"),
                ColumnDef::new("column_name", SqlType::SysName),
                name("referenced_schema"),
                name("referenced_object"),
                ColumnDef::new("referenced_column", SqlType::SysName),
                ColumnDef::not_null("constraint_column_id", SqlType::Int),
                ColumnDef::new("on_delete", SqlType::NVarChar(Some(60))),
                ColumnDef::new("on_update", SqlType::NVarChar(Some(60))),
            ])
            .row(vec![
                s("FK_lines_orders"),
                s("dbo"),
                s("order_lines"),
                s("order_id"),
                s("dbo"),
                s("orders"),
                s("id"),
                int(1),
                s("CASCADE"),
                s("NO_ACTION"),
            ])
            .row(vec![
                s("FK_orders_customers"),
                s("dbo"),
                s("orders"),
                s("customer_id"),
                s("dbo"),
                s("customers"),
                s("id"),
                int(1),
                s("NO_ACTION"),
                s("NO_ACTION"),
            ]),
        ),
        "view_definitions" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::new("definition", SqlType::NVarChar(None)),
            ])
            .row(vec![
                s("dbo"),
                s("v_big_orders"),
                s("CREATE VIEW dbo.v_big_orders AS SELECT id FROM dbo.orders WHERE id > 1000"),
            ]),
        ),
        // What `sys.sql_expression_dependencies` holds for the view: the
        // table only, as the view is not schema-bound.
        "view_dependencies" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::new("referenced_database", SqlType::SysName),
                ColumnDef::new("referenced_schema", SqlType::SysName),
                ColumnDef::new("referenced_object", SqlType::SysName),
                ColumnDef::new("referenced_column", SqlType::SysName),
            ])
            .row(vec![s("dbo"), s("v_big_orders"), NULL, s("dbo"), s("orders"), NULL])
            // An unqualified name the server could not bind: no schema, left out.
            .row(vec![s("dbo"), s("v_big_orders"), NULL, NULL, s("missing_table"), NULL]),
        ),
        // `sys.dm_sql_referenced_entities(@P1, 'OBJECT')`: the server binds
        // the view named by the parameter again and names the columns it
        // reads; with a row for the object itself (no column), left out by the query.
        "view_columns" => {
            let view = match param {
                Some(v) => v,
                None => return Reply::Error(ServerError::new(201, 4, 16, "expects parameter '@P1'")),
            };
            if view != "[dbo].[v_big_orders]" {
                return Reply::Error(ServerError::invalid_object(&view));
            }
            Reply::rows(
                ResultSet::new(vec![
                    ColumnDef::new("referenced_database", SqlType::SysName),
                    ColumnDef::new("referenced_schema", SqlType::SysName),
                    ColumnDef::new("referenced_object", SqlType::SysName),
                    ColumnDef::new("referenced_column", SqlType::SysName),
                ])
                .row(vec![NULL, s("dbo"), s("orders"), s("id")]),
            )
        }
        _ => Reply::Error(ServerError::invalid_object(tag)),
    }
}

/// The `hr` database: one table, no keys.
fn hr_catalog(tag: &str) -> Reply {
    match tag {
        "objects" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::not_null("object_type", SqlType::Char(2)),
                ColumnDef::new("row_count", SqlType::BigInt),
            ])
            .row(vec![s("dbo"), s("employees"), s("U "), SqlValue::BigInt(12)]),
        ),
        "schemas" => Reply::rows(ResultSet::new(vec![name("schema_name")]).row(vec![s("dbo")])),
        "columns" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::not_null("column_id", SqlType::Int),
                name("column_name"),
                name("type_name"),
                ColumnDef::not_null("max_length", SqlType::SmallInt),
                ColumnDef::not_null("precision", SqlType::TinyInt),
                ColumnDef::not_null("scale", SqlType::TinyInt),
                ColumnDef::new("is_nullable", SqlType::Bit),
            ])
            .row(vec![
                s("dbo"),
                s("employees"),
                int(1),
                s("badge"),
                s("char"),
                SqlValue::SmallInt(8),
                SqlValue::TinyInt(0),
                SqlValue::TinyInt(0),
                bit(false),
            ]),
        ),
        "keys" | "foreign_keys" | "view_definitions" | "view_dependencies" => {
            Reply::rows(ResultSet::new(vec![name("schema_name"), name("object_name")]))
        }
        _ => Reply::Error(ServerError::invalid_object(tag)),
    }
}

fn handler(req: &Request) -> Reply {
    answer(req, false)
}

/// The catalog as SQL Server (`babelfish = false`) or as Babelfish for
/// PostgreSQL answers it: no `sys.dm_db_partition_stats`,
/// `INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS` nor
/// `sys.dm_sql_referenced_entities`, keys and their indexes
/// with different ids, −1 for unknown row counts.
fn answer(req: &Request, babelfish: bool) -> Reply {
    let tag = req.sql.split("surveyor:").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or("");
    let lower = req.sql.to_ascii_lowercase();
    if babelfish {
        for missing in [
            "sys.dm_db_partition_stats",
            "information_schema.referential_constraints",
            "sys.dm_sql_referenced_entities",
        ] {
            if lower.contains(missing) {
                return Reply::Error(ServerError::invalid_object(missing));
            }
        }
    }
    match (tag, req.database.to_lowercase().as_str()) {
        ("ping", _) => Reply::rows(ResultSet::new(vec![ColumnDef::not_null("ok", SqlType::Int)]).row(vec![int(1)])),
        ("server", _) => Reply::rows(
            ResultSet::new(vec![
                ColumnDef::new("server_name", SqlType::NVarChar(Some(256))),
                ColumnDef::new("product_version", SqlType::NVarChar(Some(128))),
                ColumnDef::new("edition", SqlType::NVarChar(Some(128))),
                ColumnDef::new("engine_edition", SqlType::Int),
            ])
            .row(vec![s("SURVEYOR-TDS"), s("16.0.1000.6"), s("Developer Edition (64-bit)"), int(3)]),
        ),
        ("databases", _) => {
            let mut set = ResultSet::new(vec![
                name("name"),
                ColumnDef::not_null("database_id", SqlType::Int),
                ColumnDef::new("collation_name", SqlType::SysName),
                ColumnDef::new("state_desc", SqlType::NVarChar(Some(60))),
                ColumnDef::not_null("create_date", SqlType::DateTime),
                ColumnDef::not_null("compatibility_level", SqlType::TinyInt),
            ]);
            for (i, db) in ["broken", "hr", "master", "sales", "secret", "tempdb"].iter().enumerate() {
                set = set.row(vec![
                    s(db),
                    int(i as i32 + 1),
                    s("SQL_Latin1_General_CP1_CI_AS"),
                    s("ONLINE"),
                    when(),
                    SqlValue::TinyInt(160),
                ]);
            }
            Reply::rows(set)
        }
        (tag, "sales") => {
            let param = req.params.iter().find_map(|p| match &p.value {
                SqlValue::String(v) => Some(v.clone()),
                _ => None,
            });
            sales_catalog(tag, babelfish, param)
        }
        (tag, "hr") => hr_catalog(tag),
        // `broken`: the login can open it, but its catalog query fails.
        ("columns", "broken") => Reply::Error(ServerError::new(
            7_605,
            1,
            16,
            "The statement failed: the catalog of database 'broken' is inconsistent (stand-in fault).",
        )),
        (tag, "broken") => hr_catalog(tag),
        (tag, db) => Reply::Error(ServerError::invalid_object(&format!("{db}.{tag}"))),
    }
}

fn config(tls: TlsMode) -> ServerConfig {
    ServerConfig {
        user: "scanner".into(),
        password: "S3cret-Pa55!".into(),
        databases: vec!["master".into(), "sales".into(), "hr".into(), "broken".into(), "tempdb".into()],
        forbidden_databases: vec!["secret".into()],
        tls,
        ..ServerConfig::default()
    }
}

/// A runtime for the stand-in; the binary runs beside it.
fn start(config: ServerConfig) -> (tokio::runtime::Runtime, TdsServer) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt.block_on(TdsServer::start(config, Arc::new(handler))).unwrap();
    (rt, server)
}

/// The password reaches the binary through the environment (`TEST_MSSQL_PASSWORD`).
fn source_file(dir: &Path, port: u16, encryption: &str, config: &str) -> std::path::PathBuf {
    let file = dir.join("source.toml");
    std::fs::write(
        &file,
        format!(
            r#"name = "tds-stand-in"
type = "sql-server"

[connection]
host = "127.0.0.1"
port = {port}
encryption = "{encryption}"
connect_timeout_seconds = 5
query_timeout_seconds = 20
credential = {{ kind = "password", user = "scanner", password = {{ env = "TEST_MSSQL_PASSWORD" }} }}

[config]
{config}
"#
        ),
    )
    .unwrap();
    file
}

fn scan(file: &Path, out: &Path, password: &str) -> (std::process::Output, serde_json::Value) {
    let output = surveyor()
        .env("TEST_MSSQL_PASSWORD", password)
        .args(["scan", "--source"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output, report)
}

#[test]
fn scans_databases_schemas_tables_keys_and_row_counts_over_tls() {
    let (_rt, server) = start(config(TlsMode::Required));
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), server.addr().port(), "trust-server-certificate", "");
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, "S3cret-Pa55!");
    assert_eq!(report["status"], "completed_with_exceptions", "stdout {} stderr {}", stdout(&output), stderr(&output));
    // The user chose not to validate the certificate: no warning per connection...
    assert!(!stderr(&output).to_lowercase().contains("trusting the server certificate"), "{}", stderr(&output));
    // ...but one note where the connection is checked.
    let checked =
        surveyor().env("TEST_MSSQL_PASSWORD", "S3cret-Pa55!").arg("test-connection").arg(&file).output().unwrap();
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert_eq!(stderr(&checked).matches("certificate is not validated").count(), 1, "{}", stderr(&checked));
    assert!(!stderr(&checked).to_lowercase().contains("trusting the server certificate"), "{}", stderr(&checked));

    let run = Run::latest(&out);
    run.check_references();
    let by = run.by_name();
    let root = "mssql://127.0.0.1";
    assert_eq!(by[root]["typeName"], "mssql_instance");
    assert_eq!(by[&format!("{root}/sales")]["typeName"], "mssql_db");
    assert_eq!(by[&format!("{root}/sales/dbo")]["typeName"], "mssql_schema");
    assert_eq!(by[&format!("{root}/sales/销售")]["typeName"], "mssql_schema");
    assert!(!by.contains_key(&format!("{root}/master")), "system databases are skipped by default");
    assert!(!by.contains_key(&format!("{root}/tempdb")));

    let orders = by[&format!("{root}/sales/dbo/orders")];
    assert_eq!(orders["typeName"], "mssql_table");
    assert_eq!(orders["attributes"]["rowCount"], 1200);
    assert_eq!(orders["attributes"]["primaryKey"], serde_json::json!(["id"]));
    // Foreign keys as entities related to both tables and their columns.
    let fk = by[&format!("{root}/sales/dbo/order_lines#__foreign_key//FK_lines_orders")];
    assert_eq!(fk["typeName"], "surveyor_foreign_key");
    let rel = &fk["relationshipAttributes"];
    assert_eq!(run.resolve(&rel["table"]), format!("{root}/sales/dbo/order_lines"));
    assert_eq!(run.resolve(&rel["referencedTable"]), format!("{root}/sales/dbo/orders"));
    assert_eq!(run.resolve(&rel["columns"][0]), format!("{root}/sales/dbo/order_lines#__tabular_schema//order_id"));
    assert_eq!(run.resolve(&rel["referencedColumns"][0]), format!("{root}/sales/dbo/orders#__tabular_schema//id"));
    assert_eq!(fk["attributes"]["onDelete"], "CASCADE");
    assert_eq!(fk["attributes"]["columnNames"], serde_json::json!(["order_id"]));
    assert!(by.contains_key(&format!("{root}/sales/dbo/orders#__foreign_key//FK_orders_customers")));
    // The view's lineage: the table from sys.sql_expression_dependencies, the
    // column from sys.dm_sql_referenced_entities (the view is not schema-bound).
    let lineage = by[&format!("{root}/sales/dbo/v_big_orders#__lineage")];
    assert_eq!(lineage["typeName"], "surveyor_lineage");
    let inputs: Vec<String> =
        lineage["attributes"]["inputs"].as_array().unwrap().iter().map(|r| run.resolve(r)).collect();
    assert_eq!(inputs, [format!("{root}/sales/dbo/orders")]);
    assert_eq!(run.resolve(&lineage["attributes"]["outputs"][0]), format!("{root}/sales/dbo/v_big_orders"));
    assert_eq!(
        lineage["attributes"]["inputColumns"],
        serde_json::json!([format!("{root}/sales/dbo/orders#__tabular_schema//id")])
    );
    assert_eq!(report["counts"]["relationships"], 3);
    support::atlas::assert_atlas_accepts(&run);
    let cols = run.columns_of(&format!("{root}/sales/dbo/orders")).expect("orders has columns");
    assert_eq!(
        cols,
        vec![
            ("customer_id".to_string(), "int32".to_string()),
            ("id".to_string(), "int32".to_string()),
            ("note".to_string(), "string".to_string()),
            ("placed_at".to_string(), "timestamp[us]".to_string()),
        ]
    );
    // Column facts: declared type, nullability, identity, default, collation.
    let column = |table: &str, name: &str| {
        let qn = format!("{root}/sales/dbo/{table}#__tabular_schema//{name}");
        run.entities()
            .find(|e| e["typeName"] == "column" && e["attributes"]["qualifiedName"] == qn.as_str())
            .unwrap_or_else(|| panic!("column {qn}"))
            .clone()
    };
    let note = column("orders", "note");
    assert_eq!(note["customAttributes"]["physicalType"], "nvarchar(max)");
    assert_eq!(note["customAttributes"]["nullable"], "true");
    assert_eq!(note["customAttributes"]["collation"], "SQL_Latin1_General_CP1_CI_AS");
    let id = column("orders", "id");
    assert_eq!(id["customAttributes"]["isIdentity"], "true");
    assert_eq!(id["customAttributes"]["isPrimaryKey"], "true");
    assert_eq!(id["customAttributes"]["nullable"], "false");
    assert_eq!(column("orders", "placed_at")["customAttributes"]["defaultValue"], "(sysutcdatetime())");
    assert_eq!(column("order_lines", "amount")["customAttributes"]["physicalType"], "decimal(12,2)");

    // Composite key, and a count past 2^32.
    let lines = by[&format!("{root}/sales/dbo/order_lines")];
    assert_eq!(lines["attributes"]["primaryKey"], serde_json::json!(["order_id", "line_no"]));
    assert_eq!(lines["attributes"]["rowCount"], 5_000_000_000u64);
    // The view, with its definition and no row count.
    let view = by[&format!("{root}/sales/dbo/v_big_orders")];
    assert_eq!(view["typeName"], "mssql_view");
    assert!(view["attributes"]["viewDefinition"].as_str().unwrap().starts_with("CREATE VIEW"));
    assert!(view["attributes"].get("rowCount").is_none());
    // Non-Latin names survive into qualified names.
    assert!(run.columns_of(&format!("{root}/sales/销售/客户")).unwrap().iter().any(|(p, _)| p == "名字"));
    assert_eq!(by[&format!("{root}/hr/dbo/employees")]["attributes"]["rowCount"], 12);

    // The forbidden database and the one whose catalog query fails are per-item
    // errors; everything else was scanned.
    let errors = report["itemErrors"].as_array().unwrap();
    let items: Vec<&str> = errors.iter().map(|e| e["item"].as_str().unwrap()).collect();
    assert!(items.contains(&"secret"), "{errors:?}");
    assert!(items.contains(&"broken"), "{errors:?}");
    let secret = errors.iter().find(|e| e["item"] == "secret").unwrap();
    assert!(secret["message"].as_str().unwrap().contains("916"), "{secret}");
    let broken = errors.iter().find(|e| e["item"] == "broken").unwrap();
    assert!(broken["message"].as_str().unwrap().contains("7605"), "{broken}");

    // Few round trips: a constant number of catalog queries per database.
    let requests = server.requests();
    let on_sales =
        requests.iter().filter(|r| r.database.eq_ignore_ascii_case("sales") && r.sql.contains("surveyor:")).count();
    assert_eq!(on_sales, 8, "catalog queries on 'sales': 7, and one per view for its columns");
    let asked: Vec<&Request> = requests.iter().filter(|r| r.sql.contains("surveyor:view_columns")).collect();
    assert_eq!(asked.len(), 1, "one view");
    assert!(
        matches!(&asked[0].params[0].value, SqlValue::String(v) if v == "[dbo].[v_big_orders]"),
        "{:?}",
        asked[0].params
    );
    // The pool reuses connections (USE between databases), all encrypted.
    let logins = server.logins();
    assert!(logins.len() <= 2, "{} logins for one scan", logins.len());
    assert!(logins.iter().all(|l| l.encryption == surveyor_tds_server::Encryption::Full));
    // The password appears nowhere in the output.
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!all.contains("S3cret-Pa55!"));
}

#[test]
fn wrong_password_is_a_clear_auth_error_without_the_password() {
    // `encryption = "off"`: TLS for the login packet only, as SQL Server does.
    let (_rt, server) = start(config(TlsMode::Optional));
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), server.addr().port(), "off", "");
    let output =
        surveyor().env("TEST_MSSQL_PASSWORD", "not-the-password").arg("test-connection").arg(&file).output().unwrap();
    assert!(!output.status.success());
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("[auth]"), "{text}");
    assert!(text.contains("18456"), "{text}");
    assert!(text.contains("Login failed for user 'scanner'"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");

    // The same source with the right password connects.
    let output =
        surveyor().env("TEST_MSSQL_PASSWORD", "S3cret-Pa55!").arg("test-connection").arg(&file).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
}

#[test]
fn unreachable_server_is_a_clear_error() {
    // A port nobody listens on (held by a socket that never listens).
    let closed = support::ClosedPort::new();
    let port = closed.port;
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), port, "off", "");
    let output = surveyor().env("TEST_MSSQL_PASSWORD", "x").arg("test-connection").arg(&file).output().unwrap();
    assert!(!output.status.success());
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("[unreachable]"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

    // A scan of it fails as a whole, with the same reason.
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, "x");
    assert!(!output.status.success());
    let text = format!("{report}{}", stderr(&output));
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

#[test]
fn listed_databases_and_schema_filters_narrow_the_scan() {
    let (_rt, server) = start(config(TlsMode::Optional));
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(
        tmp.path(),
        server.addr().port(),
        "off",
        "databases = [\"SALES\"]\nschemas = { exclude = [\"销*\"] }",
    );
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, "S3cret-Pa55!");
    assert_eq!(report["status"], "succeeded", "{}{}", stdout(&output), stderr(&output));
    let run = Run::latest(&out);
    let by = run.by_name();
    assert!(by.contains_key("mssql://127.0.0.1/sales/dbo/orders"));
    assert!(!by.contains_key("mssql://127.0.0.1/sales/销售/客户"), "excluded schema");
    assert!(!by.keys().any(|k| k.starts_with("mssql://127.0.0.1/hr")), "unlisted database");
    // Only the listed database's catalog was queried.
    assert!(server.requests().iter().all(|r| !r.database.eq_ignore_ascii_case("hr")));
    assert!(server.logins().iter().all(|l| l.encryption == surveyor_tds_server::Encryption::LoginOnly));
}

#[test]
fn required_encryption_against_a_server_without_tls_is_a_clear_error() {
    let (_rt, server) = start(config(TlsMode::Off));
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), server.addr().port(), "required", "");
    let output =
        surveyor().env("TEST_MSSQL_PASSWORD", "S3cret-Pa55!").arg("test-connection").arg(&file).output().unwrap();
    assert!(!output.status.success());
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("[unreachable]") && text.contains("during the TLS handshake"), "{text}");
}

/// Opt-in: the connector against a real SQL-Server-compatible server (SQL
/// Server, Azure SQL Database, or Babelfish for PostgreSQL), named by
/// `SURVEYOR_TEST_MSSQL="host=…;port=1433;user=…;password=…[;encryption=trust-server-certificate][;database=…]"`.
/// Without the variable the test prints that it was skipped.
#[test]
fn real_server_when_one_is_named() {
    let Ok(spec) = std::env::var("SURVEYOR_TEST_MSSQL") else {
        eprintln!("SKIPPED real_server_when_one_is_named: set SURVEYOR_TEST_MSSQL to run it against a real server");
        return;
    };
    let kv: std::collections::HashMap<String, String> = spec
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("SURVEYOR_TEST_MSSQL needs {k}="));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("real.toml");
    let database = kv.get("database").map(|d| format!("database = \"{d}\"\n")).unwrap_or_default();
    std::fs::write(
        &file,
        format!(
            "name = \"real-mssql\"\ntype = \"sql-server\"\n\n[connection]\nhost = \"{}\"\nport = {}\nencryption = \"{}\"\n{database}credential = {{ kind = \"password\", user = \"{}\", password = {{ env = \"TEST_MSSQL_PASSWORD\" }} }}\n",
            get("host"),
            kv.get("port").cloned().unwrap_or_else(|| "1433".into()),
            kv.get("encryption").cloned().unwrap_or_else(|| "trust-server-certificate".into()),
            get("user"),
        ),
    )
    .unwrap();
    let password = get("password");
    let output = surveyor().env("TEST_MSSQL_PASSWORD", &password).arg("test-connection").arg(&file).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, &password);
    assert_ne!(report["status"], "failed", "{}{}", stdout(&output), stderr(&output));
    let run = Run::latest(&out);
    assert!(run.entities().any(|e| e["typeName"].as_str().unwrap().ends_with("_db")), "no database emitted");
    for table in run.entities().filter(|e| e["typeName"].as_str().unwrap().ends_with("_table")) {
        let qn = table["attributes"]["qualifiedName"].as_str().unwrap();
        assert!(run.columns_of(qn).is_some_and(|c| !c.is_empty()), "{qn} has no columns");
        assert!(table["attributes"]["rowCount"].is_number(), "{qn} has no row count");
    }
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!all.contains(&password));
}

/// Benchmark (run with `--ignored --nocapture`): the catalog of one database
/// of 2,000 tables × 20 columns through the stand-in; prints the round trips
/// and assets per second.
#[test]
#[ignore = "benchmark"]
fn benchmark_catalog_of_2000_tables() {
    const TABLES: usize = 2000;
    const COLUMNS: usize = 20;
    let big = |tag: &str| -> Reply {
        match tag {
            "objects" => {
                let mut set = ResultSet::new(vec![
                    name("schema_name"),
                    name("object_name"),
                    ColumnDef::not_null("object_type", SqlType::Char(2)),
                    ColumnDef::new("row_count", SqlType::BigInt),
                ]);
                set.rows = (0..TABLES)
                    .map(|t| vec![s("dbo"), s(&format!("t{t:04}")), s("U "), SqlValue::BigInt(t as i64)])
                    .collect();
                Reply::rows(set)
            }
            "columns" => {
                let mut set = ResultSet::new(vec![
                    name("schema_name"),
                    name("object_name"),
                    ColumnDef::not_null("column_id", SqlType::Int),
                    name("column_name"),
                    name("type_name"),
                    ColumnDef::not_null("max_length", SqlType::SmallInt),
                    ColumnDef::not_null("precision", SqlType::TinyInt),
                    ColumnDef::not_null("scale", SqlType::TinyInt),
                    ColumnDef::new("is_nullable", SqlType::Bit),
                ]);
                set.rows = (0..TABLES * COLUMNS)
                    .map(|i| {
                        vec![
                            s("dbo"),
                            s(&format!("t{:04}", i / COLUMNS)),
                            int((i % COLUMNS) as i32 + 1),
                            s(&format!("c{}", i % COLUMNS)),
                            s("nvarchar"),
                            SqlValue::SmallInt(100),
                            SqlValue::TinyInt(0),
                            SqlValue::TinyInt(0),
                            bit(true),
                        ]
                    })
                    .collect();
                Reply::rows(set)
            }
            other => hr_catalog(other),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt
        .block_on(TdsServer::start_with(config(TlsMode::Optional), move |req: &Request| {
            let tag = req.sql.split("surveyor:").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or("");
            if req.database.eq_ignore_ascii_case("sales") && !matches!(tag, "server" | "databases" | "ping") {
                big(tag)
            } else {
                handler(req)
            }
        }))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), server.addr().port(), "off", "databases = [\"sales\"]");
    let out = tmp.path().join("out");
    let started = std::time::Instant::now();
    let (output, report) = scan(&file, &out, "S3cret-Pa55!");
    let elapsed = started.elapsed();
    assert_eq!(report["status"], "succeeded", "{}{}", stdout(&output), stderr(&output));
    let run = Run::latest(&out);
    let tables = run.entities().filter(|e| e["typeName"] == "mssql_table").count();
    assert_eq!(tables, TABLES);
    let on_sales = server
        .requests()
        .iter()
        .filter(|r| r.database.eq_ignore_ascii_case("sales") && r.sql.contains("surveyor:"))
        .count();
    let assets = report["counts"]["assets"].as_u64().unwrap_or(0);
    println!(
        "catalog of {TABLES} tables x {COLUMNS} columns: {on_sales} round trips on the database, {} in all, {assets} assets, {} entities, {:.2}s wall, {:.0} assets/s",
        server.requests().len(),
        report["counts"]["entities"],
        elapsed.as_secs_f64(),
        assets as f64 / elapsed.as_secs_f64()
    );
}

/// A T-SQL server that is not Microsoft's (Babelfish for PostgreSQL): keys
/// are found through their index's name, an unknown row count stays
/// unknown, and no query needs what Babelfish lacks.
#[test]
fn babelfish_style_catalog_keeps_keys_and_unknown_row_counts() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server =
        rt.block_on(TdsServer::start_with(config(TlsMode::Optional), |req: &Request| answer(req, true))).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = source_file(tmp.path(), server.addr().port(), "off", "databases = [\"sales\"]");
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, "S3cret-Pa55!");
    assert_eq!(report["status"], "succeeded", "{}{}", stdout(&output), stderr(&output));
    let run = Run::latest(&out);
    let by = run.by_name();
    let table = |t: &str| by[&format!("mssql://127.0.0.1/sales/dbo/{t}")];
    assert_eq!(table("customers")["attributes"]["primaryKey"], serde_json::json!(["id"]));
    assert_eq!(table("customers")["attributes"]["primaryKeyName"], "customers_pkey");
    assert_eq!(table("orders")["attributes"]["primaryKey"], serde_json::json!(["id"]), "not index 1's column");
    assert_eq!(table("order_lines")["attributes"]["primaryKey"], serde_json::json!(["order_id", "line_no"]));
    assert!(table("order_lines")["attributes"].get("rowCount").is_none(), "-1 is unknown, not a count");
    assert_eq!(table("orders")["attributes"]["rowCount"], 1200);
    assert!(!stderr(&output).contains("no index found"), "{}", stderr(&output));
    // No sys.dm_sql_referenced_entities: the view's lineage names its table, without columns, and no warning.
    let lineage = by["mssql://127.0.0.1/sales/dbo/v_big_orders#__lineage"];
    assert_eq!(run.resolve(&lineage["attributes"]["inputs"][0]), "mssql://127.0.0.1/sales/dbo/orders");
    assert!(lineage["attributes"]["inputColumns"].as_array().is_none_or(|c| c.is_empty()), "{lineage}");
    assert!(!stderr(&output).contains("were not read"), "{}", stderr(&output));
    support::atlas::assert_atlas_accepts(&run);
}
