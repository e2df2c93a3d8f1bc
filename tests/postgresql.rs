//! End-to-end tests of the `postgresql` connector and the host's PostgreSQL
//! backend against a real PostgreSQL 15 (Debian's `postgresql` package): a
//! throwaway cluster made by `initdb` in a temporary folder, run as the
//! unprivileged `postgres` user (PostgreSQL refuses to run as root) on
//! 127.0.0.1 and a free port, and stopped with `pg_ctl stop` at the end.

#[path = "support/postgres.rs"]
mod postgres;
mod support;
#[path = "support/test_ca.rs"]
mod test_ca;

use postgres::Cluster;
use std::path::{Path, PathBuf};
use support::{Run, stderr, stdout, surveyor};

fn setup() -> Cluster {
    let c = Cluster::start();
    // One statement per call: CREATE DATABASE cannot run in psql -c's transaction.
    for sql in [
        "CREATE ROLE scanner LOGIN PASSWORD 'pg-Sc4nner'",
        "CREATE DATABASE sales",
        "CREATE DATABASE locked",
        "REVOKE CONNECT ON DATABASE locked FROM PUBLIC",
    ] {
        c.psql("postgres", sql);
    }
    c.psql(
        "sales",
        "CREATE SCHEMA shop; \
         CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL, email varchar(200) UNIQUE); \
         COMMENT ON TABLE shop.customers IS 'Who buys'; \
         COMMENT ON COLUMN shop.customers.email IS 'Where invoices go'; \
         CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers(id), \
            amount numeric(12,2) DEFAULT 0, placed_at timestamptz NOT NULL DEFAULT now(), note text); \
         CREATE TABLE shop.order_lines (order_id bigint REFERENCES shop.orders(id), line_no smallint, sku text, PRIMARY KEY (order_id, line_no)); \
         CREATE VIEW shop.big_orders AS SELECT id, amount FROM shop.orders WHERE amount > 1000; \
         CREATE VIEW shop.customer_orders AS SELECT c.name, o.amount FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id; \
         CREATE VIEW shop.top_customers AS SELECT name FROM shop.customer_orders WHERE amount > 10; \
         CREATE MATERIALIZED VIEW shop.totals AS SELECT customer_id, sum(amount) AS total FROM shop.orders GROUP BY customer_id; \
         CREATE TABLE public.\"客户\" (\"名字\" text); \
         INSERT INTO shop.customers SELECT g, 'c' || g, 'c' || g || '@x' FROM generate_series(1, 300) g; \
         INSERT INTO shop.orders (customer_id, amount) SELECT 1 + g % 300, g FROM generate_series(1, 1200) g; \
         ANALYZE;",
    );
    c
}

fn source(dir: &Path, port: u16, config: &str) -> PathBuf {
    let file = dir.join("pg.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"pg\"\ntype = \"postgresql\"\n\n[connection]\nhost = \"127.0.0.1\"\nport = {port}\nencryption = \"off\"\nconnect_timeout_seconds = 5\n\
             credential = {{ kind = \"password\", user = \"scanner\", password = {{ env = \"TEST_PG_PASSWORD\" }} }}\n\n[config]\n{config}\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn scans_a_real_postgresql_with_keys_views_and_a_locked_database() {
    let cluster = setup();
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), cluster.port, "");

    // Wrong password: a clear auth error, without the password.
    let output = surveyor().env("TEST_PG_PASSWORD", "wrong-pw").arg("test-connection").arg(&file).output().unwrap();
    assert!(!output.status.success());
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("[auth]") && text.contains("28P01"), "{text}");
    assert!(!text.contains("wrong-pw"));

    let out = tmp.path().join("out");
    let output = surveyor()
        .env("TEST_PG_PASSWORD", "pg-Sc4nner")
        .args(["scan", "--source"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(report["status"], "completed_with_exceptions", "{}{}", stdout(&output), stderr(&output));
    // The database the login may not open: a per-item error; the rest is scanned.
    let errors = report["itemErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["item"], "locked");
    assert!(errors[0]["message"].as_str().unwrap().contains("42501"), "{}", errors[0]);

    let run = Run::latest(&out);
    let by = run.by_name();
    let root = format!("postgresql://127.0.0.1:{}", cluster.port);
    let q = |p: &str| format!("{root}/{p}");
    assert_eq!(by[&root]["typeName"], "postgresql_server");
    assert_eq!(by[&q("sales")]["typeName"], "postgresql_db");
    assert_eq!(by[&q("sales/shop")]["typeName"], "postgresql_schema");
    let orders = by[&q("sales/shop/orders")];
    assert_eq!(orders["attributes"]["rowCount"], 1200, "row estimate from ANALYZE");
    assert_eq!(orders["attributes"]["primaryKey"], serde_json::json!(["id"]));
    // The foreign key: an entity of its own, related to both tables and their columns.
    let fk = by[&q("sales/shop/orders#__foreign_key//orders_customer_id_fkey")];
    assert_eq!(fk["typeName"], "surveyor_foreign_key");
    assert_eq!(run.resolve(&fk["relationshipAttributes"]["table"]), q("sales/shop/orders"));
    assert_eq!(run.resolve(&fk["relationshipAttributes"]["referencedTable"]), q("sales/shop/customers"));
    assert_eq!(
        run.resolve(&fk["relationshipAttributes"]["columns"][0]),
        q("sales/shop/orders#__tabular_schema//customer_id")
    );
    assert_eq!(
        run.resolve(&fk["relationshipAttributes"]["referencedColumns"][0]),
        q("sales/shop/customers#__tabular_schema//id")
    );
    assert_eq!(fk["attributes"]["onDelete"], "NO_ACTION");
    assert!(orders["attributes"].get("foreignKeys").is_none(), "no opaque JSON copy");
    // View lineage: a process from the tables (and columns) each view reads to the view.
    let lineage = |view: &str| {
        let p = by[&q(&format!("sales/shop/{view}#__lineage"))];
        assert_eq!(p["typeName"], "surveyor_lineage");
        let names = |key: &str| {
            let mut v: Vec<String> = p["attributes"][key].as_array().unwrap().iter().map(|r| run.resolve(r)).collect();
            v.sort();
            v
        };
        (names("inputs"), names("outputs"), p["attributes"]["inputColumns"].clone())
    };
    let (inputs, outputs, columns) = lineage("customer_orders");
    assert_eq!(inputs, [q("sales/shop/customers"), q("sales/shop/orders")]);
    assert_eq!(outputs, [q("sales/shop/customer_orders")]);
    let columns: Vec<&str> = columns.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for c in
        ["customers#__tabular_schema//name", "orders#__tabular_schema//amount", "orders#__tabular_schema//customer_id"]
    {
        assert!(columns.contains(&q(&format!("sales/shop/{c}")).as_str()), "{c} in {columns:?}");
    }
    assert_eq!(lineage("top_customers").0, [q("sales/shop/customer_orders")], "a view of a view");
    assert_eq!(lineage("totals").0, [q("sales/shop/orders")], "materialized views too");
    assert!(!by.contains_key(&q("sales/shop/orders#__lineage")), "a table has no lineage");
    assert_eq!(report["counts"]["relationships"], 6, "two foreign keys, four views");
    assert_eq!(report["counts"]["unresolvedRelations"], 0);
    support::atlas::assert_atlas_accepts(&run);
    assert_eq!(by[&q("sales/shop/customers")]["attributes"]["description"], "Who buys");
    let email = run
        .entities()
        .find(|e| {
            e["attributes"]["name"] == "email"
                && e["attributes"]["qualifiedName"].as_str().unwrap_or("").starts_with(&q("sales/shop/customers#"))
        })
        .unwrap_or_else(|| panic!("the email column of customers"));
    assert_eq!(email["customAttributes"]["description"], "Where invoices go", "{email}");
    assert_eq!(
        by[&q("sales/shop/order_lines")]["attributes"]["primaryKey"],
        serde_json::json!(["order_id", "line_no"])
    );
    let cols = run.columns_of(&q("sales/shop/orders")).unwrap();
    assert_eq!(
        cols,
        vec![
            ("amount".to_string(), "decimal(12,2)".to_string()),
            ("customer_id".to_string(), "int32".to_string()),
            ("id".to_string(), "int64".to_string()),
            ("note".to_string(), "string".to_string()),
            ("placed_at".to_string(), "timestamp[us, UTC]".to_string()),
        ]
    );
    let view = by[&q("sales/shop/big_orders")];
    assert_eq!(view["typeName"], "postgresql_view");
    assert!(view["attributes"]["viewDefinition"].as_str().unwrap().contains("amount > "), "{view}");
    assert_eq!(by[&q("sales/shop/totals")]["attributes"]["objectType"], "MATERIALIZED VIEW");
    assert!(run.columns_of(&q("sales/public/客户")).unwrap().iter().any(|(p, _)| p == "名字"));
    assert!(!stdout(&output).contains("pg-Sc4nner") && !stderr(&output).contains("pg-Sc4nner"));
}

/// Relationships follow the source: a dropped foreign key or view takes its
/// entity with it (`deletions.json`), those of unchanged tables are written
/// again by every run, incremental or not.
#[test]
fn dropped_foreign_keys_and_views_are_deleted_and_the_rest_kept() {
    let cluster = setup();
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), cluster.port, "databases = [\"sales\"]");
    let out = tmp.path().join("out");
    let scan = |extra: &[&str]| {
        let output = surveyor()
            .env("TEST_PG_PASSWORD", "pg-Sc4nner")
            .args(["scan", "--source"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .args(["--json", "--no-progress"])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        Run::latest(&out)
    };
    let first = scan(&[]);
    let q = |p: &str| format!("postgresql://127.0.0.1:{}/sales/shop/{p}", cluster.port);
    assert!(first.by_name().contains_key(&q("big_orders#__lineage")));
    cluster.psql(
        "sales",
        "DROP VIEW shop.big_orders; ALTER TABLE shop.order_lines DROP CONSTRAINT order_lines_order_id_fkey;",
    );
    let second = scan(&["--incremental"]);
    support::atlas::assert_atlas_accepts(&second);
    let deletions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(second.dir.join("deletions.json")).unwrap()).unwrap();
    let mut gone: Vec<(String, String)> = deletions["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["typeName"].as_str().unwrap().to_string(),
                e["uniqueAttributes"]["qualifiedName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        [
            ("postgresql_view".to_string(), q("big_orders")),
            ("surveyor_foreign_key".to_string(), q("order_lines#__foreign_key//order_lines_order_id_fkey")),
            ("surveyor_lineage".to_string(), q("big_orders#__lineage")),
        ]
    );
    let by = second.by_name();
    assert!(by.contains_key(&q("orders#__foreign_key//orders_customer_id_fkey")), "unchanged key written again");
    assert!(by.contains_key(&q("customer_orders#__lineage")));
}

/// A source on `host` with the given `encryption` (and CA certificate file).
fn tls_source(dir: &Path, name: &str, host: &str, port: u16, encryption: &str, ca: Option<&Path>) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    let ca = ca.map(|p| format!("ca_certificate = {:?}\n", p.display().to_string())).unwrap_or_default();
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\ntype = \"postgresql\"\n\n[connection]\nhost = \"{host}\"\nport = {port}\ndatabase = \"sales\"\n\
             encryption = \"{encryption}\"\n{ca}connect_timeout_seconds = 5\n\
             credential = {{ kind = \"password\", user = \"scanner\", password = {{ env = \"TEST_PG_PASSWORD\" }} }}\n"
        ),
    )
    .unwrap();
    file
}

/// `surveyor <command> …` with the scanner's password; (success, stdout + stderr).
fn run_cli(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = surveyor().env("TEST_PG_PASSWORD", "pg-Sc4nner").args(args).output().unwrap();
    (output.status.success(), format!("{}{}", stdout(&output), stderr(&output)))
}

fn test_connection(file: &Path) -> (bool, String) {
    run_cli(&["test-connection".as_ref(), file.as_os_str()])
}

#[test]
fn tls_to_postgresql_checks_the_certificate_as_encryption_says() {
    // A server with a certificate for `localhost` from a test CA, refusing plain TCP.
    let ca = test_ca::TestCa::new("Surveyor PostgreSQL test CA");
    let (cert_pem, key_pem) = ca.issue(&["localhost"]);
    let cluster = Cluster::start_tls(&postgres::Tls { cert_pem, key_pem, ssl_only: true });
    cluster.psql("postgres", "ALTER SYSTEM SET log_connections = on");
    cluster.psql("postgres", "SELECT pg_reload_conf()");
    cluster.psql("postgres", "CREATE ROLE scanner LOGIN PASSWORD 'pg-Sc4nner'");
    cluster.psql("postgres", "CREATE DATABASE sales");
    cluster.psql("sales", "CREATE TABLE public.orders (id int PRIMARY KEY, amount numeric(12,2))");
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let other_ca = tmp.path().join("other-ca.pem");
    std::fs::write(&other_ca, test_ca::TestCa::new("Another CA").pem()).unwrap();
    let port = cluster.port;

    // The right CA and the right name: test-connection, then a scan, over TLS.
    let good = tls_source(tmp.path(), "good", "localhost", port, "verify-full", Some(&ca_file));
    let (ok, text) = test_connection(&good);
    assert!(ok, "{text}\nlog: {}", cluster.log());
    assert!(!text.contains("not validated"), "{text}");
    let out = tmp.path().join("out");
    let output = surveyor()
        .env("TEST_PG_PASSWORD", "pg-Sc4nner")
        .args(["scan", "--json", "--no-progress", "--source"])
        .arg(&good)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert!(
        report["status"].as_str().is_some_and(|s| s.starts_with("completed") || s == "succeeded"),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let run = Run::latest(&out);
    assert_eq!(
        run.by_name()[&format!("postgresql://localhost:{port}/sales/public/orders")]["typeName"],
        "postgresql_table"
    );
    // The server says the scanner's sessions were encrypted (and pg_hba.conf allows nothing else).
    let log = cluster.log();
    let sessions: Vec<&str> = log.lines().filter(|l| l.contains("connection authorized: user=scanner")).collect();
    assert!(!sessions.is_empty() && sessions.iter().all(|l| l.contains("SSL enabled")), "{log}");

    // `required` checks the chain, not the name: 127.0.0.1 is not in the certificate, and that is fine.
    let by_ip = tls_source(tmp.path(), "by-ip", "127.0.0.1", port, "required", Some(&ca_file));
    let (ok, text) = test_connection(&by_ip);
    assert!(ok, "{text}");

    // `verify-full` also checks the name: a precise error.
    let wrong_name = tls_source(tmp.path(), "wrong-name", "127.0.0.1", port, "verify-full", Some(&ca_file));
    let (ok, text) = test_connection(&wrong_name);
    assert!(!ok);
    assert!(text.contains("not valid for the host name '127.0.0.1'"), "{text}");

    // A CA we do not trust: without the CA file, and with another CA's.
    for (name, ca) in [("no-ca", None), ("other-ca", Some(other_ca.as_path()))] {
        let untrusted = tls_source(tmp.path(), name, "localhost", port, "required", ca);
        let (ok, text) = test_connection(&untrusted);
        assert!(!ok);
        assert!(text.contains("not signed by a trusted certificate authority"), "{name}: {text}");
    }
    // doctor says the same.
    let untrusted = tls_source(tmp.path(), "untrusted", "localhost", port, "verify-full", None);
    let (_, text) = run_cli(&[
        "doctor".as_ref(),
        "--source".as_ref(),
        untrusted.as_os_str(),
        "--data-dir".as_ref(),
        tmp.path().join("data").as_os_str(),
    ]);
    assert!(text.contains("not signed by a trusted certificate authority"), "{text}");

    // `trust-server-certificate`: TLS without checks, said once by test-connection.
    let trusting = tls_source(tmp.path(), "trusting", "127.0.0.1", port, "trust-server-certificate", None);
    let (ok, text) = test_connection(&trusting);
    assert!(ok, "{text}");
    assert_eq!(text.matches("not validated").count(), 1, "{text}");

    // `off` against a server that takes only TLS: a precise error.
    let plain = tls_source(tmp.path(), "plain", "127.0.0.1", port, "off", None);
    let (ok, text) = test_connection(&plain);
    assert!(!ok);
    assert!(text.contains("only over TLS") && text.contains("encryption = \"required\""), "{text}");

    // A CA file that is not one: refused by name before connecting.
    std::fs::write(tmp.path().join("junk.pem"), "hello").unwrap();
    let junk = tls_source(tmp.path(), "junk", "localhost", port, "required", Some(&tmp.path().join("junk.pem")));
    let (ok, text) = test_connection(&junk);
    assert!(!ok);
    assert!(text.contains("connection.ca_certificate") && text.contains("junk.pem"), "{text}");
}

#[test]
fn encryption_required_against_a_server_without_tls_is_a_precise_error() {
    let cluster = setup();
    let tmp = tempfile::tempdir().unwrap();
    let file = tls_source(tmp.path(), "needs-tls", "127.0.0.1", cluster.port, "required", None);
    let (ok, text) = test_connection(&file);
    assert!(!ok);
    assert!(text.contains("does not accept TLS connections"), "{text}");
}
