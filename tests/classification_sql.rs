//! End to end through the real binary: classification of SQL tables (scan
//! level L3 for SQL sources). The host samples each table through the
//! source's own connection — a real PostgreSQL 15 (a throwaway cluster, see
//! `support/postgres.rs`) and the SQL Server stand-in (`tests/tds-server`,
//! answering the `SELECT TOP (128)` sample with planted rows) — classifies
//! the values and drops them; a table whose sample times out or is refused
//! is an item error and the scan goes on; nothing is sampled when the rule
//! set turns classification off; sampled values leave no trace.

#[path = "support/planted.rs"]
mod planted;
#[path = "support/postgres.rs"]
mod postgres;
mod support;

use planted::{Rng, luhn_digit};
use postgres::Cluster;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use support::{Run, all_text, classified, stderr, stdout, surveyor};
use surveyor_tds_server::{
    ColumnDef, Reply, Request, ResultSet, ServerConfig, ServerError, SqlType, SqlValue, TdsServer, TlsMode,
};

const ROWS: usize = 200;
const SENTINEL: &str = "zqxsentinel";

/// One planted row: (column, value as SQL text literal or NULL).
struct Planted {
    email: String,
    card_number: String,
    card_bad: String,
    ssn: String,
    phone: String,
    client_ip: String,
    id: String,
    birth_date: String,
    country: String,
    notes: String,
    random16: String,
    token: String,
}

fn planted(seed: u64) -> Vec<Planted> {
    let mut r = Rng(seed);
    let countries = ["Germany", "France", "Japan", "Brazil", "Kenya", "Canada", "India", "Norway", "Chile"];
    let words = ["order", "shipped", "late", "call back", "refund", "ok", "see ticket", "priority", "gift"];
    (0..ROWS)
        .map(|i| {
            let body = format!("4{}", r.digits(14));
            let card_number = format!("{body}{}", luhn_digit(&body));
            let bad = format!("5{}", r.digits(14));
            let card_bad = format!("{bad}{}", (luhn_digit(&bad) + 1 + r.below(8) as u32) % 10);
            Planted {
                email: format!("{SENTINEL}m{i}.{}@example{}.com", r.below(1000), r.below(9)),
                card_number,
                card_bad,
                ssn: format!("{:03}-{:02}-{:04}", 1 + r.below(665), 1 + r.below(98), 1 + r.below(9998)),
                phone: format!("({}{}) {}{}-{}", 2 + r.below(8), r.digits(2), 2 + r.below(8), r.digits(2), r.digits(4)),
                client_ip: format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256)),
                id: format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    r.next() as u32,
                    r.below(1 << 16),
                    r.below(1 << 12),
                    r.below(1 << 12),
                    r.next() & 0xffff_ffff_ffff
                ),
                birth_date: format!("19{}-{:02}-{:02}", 50 + r.below(50), 1 + r.below(12), 1 + r.below(28)),
                country: countries[r.below(countries.len() as u64) as usize].to_string(),
                notes: if i.is_multiple_of(10) {
                    format!("{} mail {SENTINEL}n{i}@example.com", words[r.below(9) as usize])
                } else {
                    format!("{} {}", words[r.below(9) as usize], words[r.below(9) as usize])
                },
                random16: format!("{}{}", 1 + r.below(9), r.digits(15)),
                token: format!("{SENTINEL}t{i}x{}", r.below(1_000_000)),
            }
        })
        .collect()
}

/// What each column of the planted table must be classified as (empty: a decoy).
fn expected() -> BTreeMap<String, BTreeSet<String>> {
    let one = |n: &str| BTreeSet::from([n.to_string()]);
    BTreeMap::from([
        ("email".into(), one("MICROSOFT.PERSONAL.EMAIL")),
        ("card_number".into(), one("MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER")),
        ("card_bad".into(), BTreeSet::new()),
        ("ssn".into(), one("MICROSOFT.GOVERNMENT.US.SOCIAL_SECURITY_NUMBER")),
        ("phone".into(), one("MICROSOFT.PERSONAL.US.PHONE_NUMBER")),
        ("client_ip".into(), one("MICROSOFT.PERSONAL.IPADDRESS")),
        ("id".into(), one("SURVEYOR.MISCELLANEOUS.GUID")),
        ("birth_date".into(), one("MICROSOFT.PERSONAL.DATE_OF_BIRTH")),
        ("country".into(), one("MICROSOFT.MISCELLANEOUS.COUNTRY_OR_REGION")),
        ("notes".into(), BTreeSet::new()),
        ("random16".into(), BTreeSet::new()),
        ("token".into(), BTreeSet::new()),
        ("nothing".into(), BTreeSet::new()),
    ])
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn pg_setup() -> Cluster {
    let c = Cluster::start();
    for sql in ["CREATE ROLE scanner LOGIN PASSWORD 'pg-Sc4nner'", "CREATE DATABASE crm"] {
        c.psql("postgres", sql);
    }
    let values: Vec<String> = planted(0x5eed)
        .iter()
        .map(|p| {
            format!(
                "({}, {}, {}, {}, {}, {}::inet, {}::uuid, {}::date, {}, {}, {}, {}, NULL)",
                q(&p.email),
                p.card_number,
                q(&p.card_bad),
                q(&p.ssn),
                q(&p.phone),
                q(&p.client_ip),
                q(&p.id),
                q(&p.birth_date),
                q(&p.country),
                q(&p.notes),
                p.random16,
                q(&p.token)
            )
        })
        .collect();
    c.psql(
        "crm",
        &format!(
            "CREATE SCHEMA sales; \
             CREATE TABLE sales.customers (email text, card_number bigint, card_bad varchar(20), ssn text, phone text, \
                client_ip inet, id uuid, birth_date date, country text, notes text, random16 numeric(16,0), token text, nothing text, photo bytea); \
             INSERT INTO sales.customers (email, card_number, card_bad, ssn, phone, client_ip, id, birth_date, country, notes, random16, token, nothing) VALUES {}; \
             CREATE TABLE sales.staff (staff_id text, badge text); \
             INSERT INTO sales.staff SELECT 'E-' || (100000 + 7 * i), 'E-' || lpad(i::text, 5, '0') FROM generate_series(1, 60) i; \
             CREATE TABLE sales.vault (secret text); INSERT INTO sales.vault VALUES ('{SENTINEL}v1'); \
             CREATE VIEW sales.slow AS SELECT pg_sleep(30)::text AS waited, email FROM sales.customers; \
             CREATE VIEW sales.broken AS SELECT token::int AS n FROM sales.customers; \
             CREATE VIEW sales.\"Odd \"\"Name\" AS SELECT email AS \"E-Mail\" FROM sales.customers; \
             GRANT USAGE ON SCHEMA sales TO scanner; \
             GRANT SELECT ON sales.customers, sales.staff, sales.slow, sales.broken, sales.\"Odd \"\"Name\" TO scanner; \
             ALTER ROLE scanner SET log_statement = 'all'; \
             ANALYZE;",
            values.join(", ")
        ),
    );
    c
}

fn pg_source(dir: &Path, port: u16) -> PathBuf {
    let file = dir.join("pg.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"pg\"\ntype = \"postgresql\"\n\n[connection]\nhost = \"127.0.0.1\"\nport = {port}\nencryption = \"off\"\nconnect_timeout_seconds = 5\n\
             credential = {{ kind = \"password\", user = \"scanner\", password = {{ env = \"TEST_PG_PASSWORD\" }} }}\n\n[config]\ndatabases = [\"crm\"]\n"
        ),
    )
    .unwrap();
    file
}

fn rules(dir: &Path, body: &str) -> PathBuf {
    let file = dir.join(format!("rules-{}.toml", body.len()));
    std::fs::write(&file, body).unwrap();
    file
}

fn scan(source: &Path, out: &Path, env: &[(&str, &str)], extra: &[&str]) -> (std::process::Output, Value) {
    let output = surveyor()
        .envs(env.iter().copied())
        .arg("-vvv")
        .args(["scan", "--source"])
        .arg(source)
        .arg("--out")
        .arg(out)
        .args(["--json", "--no-progress"])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, report)
}

/// The item errors of a report, by item.
fn errors_by_item(report: &Value) -> BTreeMap<String, Value> {
    report["itemErrors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| (e["item"].as_str().unwrap_or("").to_string(), e.clone()))
        .collect()
}

#[test]
fn postgresql_tables_are_classified_through_the_sql_capability_slow_and_refused_ones_are_item_errors() {
    let cluster = pg_setup();
    let tmp = tempfile::tempdir().unwrap();
    let source = pg_source(tmp.path(), cluster.port);
    let env = &[("TEST_PG_PASSWORD", "pg-Sc4nner")];
    let root = format!("postgresql://127.0.0.1:{}/crm/sales", cluster.port);

    // Classification off by the rule set: the catalog is read, no sample query is sent.
    let off = rules(tmp.path(), "enabled = false\n");
    let out_off = tmp.path().join("off");
    let (output, report) = scan(&source, &out_off, env, &["--classify-rules", off.to_str().unwrap()]);
    assert_eq!(report["status"], "succeeded", "{}{}", stdout(&output), stderr(&output));
    let log = cluster.log();
    assert!(log.contains("surveyor:objects"), "statements are logged: {log}");
    assert!(!log.contains("surveyor:sample"), "classification off, yet a sample query was sent: {log}");

    // On, with a 2-second limit per table, and the example classifier
    // plugin in the plugins folder: it runs on SQL columns too.
    let on = rules(tmp.path(), "sql_timeout_seconds = 2\n");
    let out = tmp.path().join("on");
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let example = Path::new(surveyor_engine::BUILD_OUT_DIR).join("employee-id-classifier.wasm");
    std::fs::copy(example, plugins.join("employee-id.wasm")).unwrap();
    let env_on = &[env[0], ("SURVEYOR_PLUGINS_DIR", plugins.to_str().unwrap())];
    let started = std::time::Instant::now();
    let (output, report) = scan(&source, &out, env_on, &["--classify-rules", on.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(report["status"], "completed_with_exceptions", "{}{}", stdout(&output), stderr(&output));
    assert!(cluster.log().contains("surveyor:sample"));

    // Three tables not classified, each an item error naming it; never a value.
    let errors = errors_by_item(&report);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let slow = &errors[&format!("{root}/slow")];
    assert_eq!(slow["kind"], "unreachable", "{slow}");
    assert!(
        slow["message"].as_str().unwrap().contains("sales.slow") && slow["message"].as_str().unwrap().contains("2s")
    );
    let vault = &errors[&format!("{root}/vault")];
    assert_eq!(vault["kind"], "permission-denied", "{vault}");
    assert!(vault["message"].as_str().unwrap().contains("42501"), "{vault}");
    let broken = &errors[&format!("{root}/broken")];
    assert!(broken["message"].as_str().unwrap().contains("withheld"), "{broken}");
    // The slow view's query was stopped on the server at the limit, not left sleeping there.
    assert!(took < std::time::Duration::from_secs(25), "the scan waited for the slow view: {took:?}");
    let active = cluster.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%surveyor:sample%' AND state = 'active' AND pid <> pg_backend_pid()",
    );
    assert_eq!(active.trim(), "0", "a sample query still runs on the server");

    // The rest is classified as planted, decoys not, the bytea column not sampled.
    let run = Run::latest(&out);
    let mut want = expected();
    want.insert("photo".into(), BTreeSet::new());
    assert_eq!(classified(&run, &format!("{root}/customers")), want);
    // The view with quoted names is sampled too.
    // The classifier plugin's label, on its column only (`badge` is one digit short).
    let staff = classified(&run, &format!("{root}/staff"));
    assert_eq!(staff["staff_id"], BTreeSet::from(["CONTOSO.EMPLOYEE_ID".to_string()]), "{staff:?}");
    assert!(staff["badge"].is_empty(), "{staff:?}");
    let odd = classified(&run, &format!("{root}/Odd%20\"Name"));
    assert_eq!(odd.get("E-Mail"), Some(&BTreeSet::from(["MICROSOFT.PERSONAL.EMAIL".to_string()])), "{odd:?}");
    // The table rolls its columns' classifications up; the share is an attribute.
    let by_name = run.by_name();
    let table = by_name[&format!("{root}/customers")];
    let rolled: BTreeSet<&str> =
        table["classifications"].as_array().unwrap().iter().map(|c| c["typeName"].as_str().unwrap()).collect();
    assert!(rolled.contains("MICROSOFT.PERSONAL.EMAIL") && rolled.len() == 8, "{rolled:?}");
    assert_eq!(report["classifications"]["MICROSOFT.PERSONAL.EMAIL"], 2, "{}", report["classifications"]);

    // Leak check: no sampled value in the output, the report or the logs at -vvv.
    assert!(stderr(&output).contains("TRACE"));
    let mut everything = String::new();
    all_text(&out, &mut everything);
    everything.push_str(&stdout(&output));
    everything.push_str(&stderr(&output));
    let leaks: Vec<&str> = everything.lines().filter(|l| l.contains(SENTINEL)).take(3).collect();
    assert!(leaks.is_empty(), "a sampled value left the process: {leaks:#?}");
}

/// The stand-in's answers: one database `crm` with `dbo.customers` (the
/// planted columns, as text and bigint) and `dbo.audit` (whose SELECT is
/// refused); every statement is recorded.
fn mssql_answer(req: &Request, seen: &Mutex<Vec<String>>) -> Reply {
    seen.lock().unwrap().push(req.sql.clone());
    let name = |n: &str| ColumnDef::not_null(n, SqlType::SysName);
    let s = |v: &str| SqlValue::str(v);
    let tag = req.sql.split("surveyor:").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or("");
    let columns = ["email", "card_number", "card_bad", "ssn", "phone", "notes", "token", "nothing"];
    match tag {
        "server" => Reply::rows(
            ResultSet::new(vec![
                ColumnDef::new("server_name", SqlType::NVarChar(Some(256))),
                ColumnDef::new("product_version", SqlType::NVarChar(Some(128))),
                ColumnDef::new("edition", SqlType::NVarChar(Some(128))),
                ColumnDef::new("engine_edition", SqlType::Int),
            ])
            .row(vec![
                s("SURVEYOR-TDS"),
                s("16.0.1000.6"),
                s("Developer Edition (64-bit)"),
                SqlValue::Int(3),
            ]),
        ),
        "databases" => Reply::rows(
            ResultSet::new(vec![name("name"), ColumnDef::not_null("database_id", SqlType::Int)])
                .row(vec![s("crm"), SqlValue::Int(5)]),
        ),
        "schemas" => Reply::rows(ResultSet::new(vec![name("schema_name")]).row(vec![s("dbo")])),
        "objects" => Reply::rows(
            ResultSet::new(vec![
                name("schema_name"),
                name("object_name"),
                ColumnDef::not_null("object_type", SqlType::Char(2)),
                ColumnDef::new("row_count", SqlType::BigInt),
            ])
            .row(vec![s("dbo"), s("audit"), s("U "), SqlValue::BigInt(3)])
            .row(vec![s("dbo"), s("customers"), s("U "), SqlValue::BigInt(ROWS as i64)]),
        ),
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
            let mut add = |table: &str, i: i32, column: &str, ty: &str, len: i16| {
                set.rows.push(vec![
                    s("dbo"),
                    s(table),
                    SqlValue::Int(i),
                    s(column),
                    s(ty),
                    SqlValue::SmallInt(len),
                    SqlValue::TinyInt(0),
                    SqlValue::TinyInt(0),
                    SqlValue::Bit(true),
                ]);
            };
            add("audit", 1, "entry", "nvarchar", 400);
            for (i, c) in columns.iter().enumerate() {
                let (ty, len) = if *c == "card_number" { ("bigint", 8) } else { ("nvarchar", 400) };
                add("customers", i as i32 + 1, c, ty, len);
            }
            add("customers", 99, "photo", "varbinary", -1);
            Reply::rows(set)
        }
        "keys" | "foreign_keys" | "view_definitions" | "view_dependencies" => {
            Reply::rows(ResultSet::new(vec![name("schema_name"), name("object_name")]))
        }
        "sample" if req.sql.contains("FROM [dbo].[audit]") => {
            Reply::Error(ServerError::permission_denied("audit", "crm", "dbo"))
        }
        "sample" if req.sql.contains("SELECT TOP (128) ") && req.sql.contains("FROM [dbo].[customers]") => {
            // The columns the host asked for, in its order (varbinary is not asked for).
            let asked: Vec<&str> = columns.iter().copied().filter(|c| req.sql.contains(&format!("[{c}]"))).collect();
            let mut set =
                ResultSet::new(asked.iter().map(|c| ColumnDef::new(*c, SqlType::NVarChar(None))).collect::<Vec<_>>());
            for p in planted(0xc0ffee).iter().take(128) {
                set = set.row(
                    asked
                        .iter()
                        .map(|c| match *c {
                            "email" => s(&p.email),
                            "card_number" => s(&p.card_number),
                            "card_bad" => s(&p.card_bad),
                            "ssn" => s(&p.ssn),
                            "phone" => s(&p.phone),
                            "notes" => s(&p.notes),
                            "token" => s(&p.token),
                            _ => SqlValue::Null,
                        })
                        .collect(),
                );
            }
            Reply::rows(set)
        }
        _ => Reply::Error(ServerError::invalid_object(tag)),
    }
}

#[test]
fn sql_server_tables_are_classified_from_their_top_128_rows() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = ServerConfig {
        user: "scanner".into(),
        password: "S3cret-Pa55!".into(),
        databases: vec!["master".into(), "crm".into()],
        tls: TlsMode::Optional,
        ..ServerConfig::default()
    };
    let recorder = seen.clone();
    let server =
        rt.block_on(TdsServer::start(config, Arc::new(move |req: &Request| mssql_answer(req, &recorder)))).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source.toml");
    std::fs::write(
        &source,
        format!(
            "name = \"tds\"\ntype = \"sql-server\"\n\n[connection]\nhost = \"127.0.0.1\"\nport = {}\nencryption = \"off\"\n\
             connect_timeout_seconds = 5\ncredential = {{ kind = \"password\", user = \"scanner\", password = {{ env = \"TEST_MSSQL_PASSWORD\" }} }}\n",
            server.addr().port()
        ),
    )
    .unwrap();
    let env = &[("TEST_MSSQL_PASSWORD", "S3cret-Pa55!")];

    // Without classification no sample query reaches the server.
    let (output, report) = scan(&source, &tmp.path().join("off"), env, &[]);
    assert_eq!(report["status"], "succeeded", "{}{}", stdout(&output), stderr(&output));
    assert!(!seen.lock().unwrap().iter().any(|q| q.contains("surveyor:sample")));

    let out = tmp.path().join("on");
    let (output, report) = scan(&source, &out, env, &["--classify"]);
    assert_eq!(report["status"], "completed_with_exceptions", "{}{}", stdout(&output), stderr(&output));
    let samples: Vec<String> = seen.lock().unwrap().iter().filter(|q| q.contains("surveyor:sample")).cloned().collect();
    assert_eq!(samples.len(), 2, "one sample query per table: {samples:#?}");
    assert!(!samples.iter().any(|q| q.contains("[photo]")), "binary columns are not sampled: {samples:#?}");

    let root = "mssql://127.0.0.1/crm/dbo".to_string();
    let errors = errors_by_item(&report);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let audit = &errors[&format!("{root}/audit")];
    assert_eq!(audit["kind"], "permission-denied", "{audit}");
    assert!(audit["message"].as_str().unwrap().contains("dbo.audit"), "{audit}");

    let run = Run::latest(&out);
    let want: BTreeMap<String, BTreeSet<String>> = expected()
        .into_iter()
        .filter(|(c, _)| {
            ["email", "card_number", "card_bad", "ssn", "phone", "notes", "token", "nothing"].contains(&c.as_str())
        })
        .chain([("photo".to_string(), BTreeSet::new())])
        .collect();
    assert_eq!(classified(&run, &format!("{root}/customers")), want);
    assert_eq!(report["classifications"]["MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER"], 1);

    let mut everything = String::new();
    all_text(&out, &mut everything);
    everything.push_str(&stdout(&output));
    everything.push_str(&stderr(&output));
    let leaks: Vec<&str> = everything.lines().filter(|l| l.contains(SENTINEL)).take(3).collect();
    assert!(leaks.is_empty(), "a sampled value left the process: {leaks:#?}");
}
