//! End-to-end tests of the `power-bi` connector and the host's HTTP backend,
//! through the real `surveyor` binary.
//!
//! **There is no Power BI service here.** The server below is a stand-in,
//! written for these tests: a plain HTTP/1.1 server on 127.0.0.1 that
//! implements the token endpoint (Entra ID client credentials) and the admin
//! scanner API (`workspaces/modified`, `getInfo`, `scanStatus`, `scanResult`)
//! with the JSON shapes of Microsoft's documentation, and enforces the API's
//! limits (≤ 100 workspaces per `getInfo`, ≤ 16 scans in flight). It answers
//! one 429 with `Retry-After`, expires the first token once, reports one
//! dataset with a `schemaRetrievalError`, and keeps every scan `Running` for
//! two polls.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use support::{Run, stderr, stdout, surveyor};

const SECRET: &str = "pbi-client-s3cret";

#[derive(Default)]
struct State {
    /// Every request: (method, path with query).
    log: Vec<(String, String)>,
    tokens_issued: u32,
    /// The token currently valid ("tok-N").
    valid_token: String,
    /// Admin API calls answered with the current token.
    calls_with_token: u32,
    modified_calls: u32,
    /// scan id → (workspace ids, polls so far, result read)
    scans: HashMap<String, (Vec<String>, u32, bool)>,
    max_in_flight: usize,
    max_batch: usize,
    unauthorized: u32,
}

struct StandIn {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    workspaces: usize,
}

fn workspace_id(i: usize) -> String {
    format!("00000000-0000-0000-0000-{i:012}")
}

fn scan_result(ids: &[String]) -> Value {
    let workspaces: Vec<Value> = ids
        .iter()
        .map(|id| {
            if id == &workspace_id(0) {
                // The documented shape of a WorkspaceInfo with lineage and schema.
                json!({
                    "id": id, "name": "Sales", "type": "Workspace", "state": "Active", "isOnDedicatedCapacity": false,
                    "dataflows": [{
                        "objectId": "df-1", "name": "Orders ETL", "configuredBy": "etl@contoso.com",
                        "modifiedDateTime": "2024-03-01T12:00:00Z",
                        "datasourceUsages": [{"datasourceInstanceId": "src-sql"}]
                    }],
                    "datasets": [{
                        "id": "ds-1", "name": "Orders", "configuredBy": "analyst@contoso.com",
                        "targetStorageMode": "Abf", "createdDate": "2024-01-01T00:00:00Z",
                        "endorsementDetails": {"endorsement": "Certified", "certifiedBy": "bi-team"},
                        "upstreamDataflows": [{"targetDataflowId": "df-1", "groupId": id}],
                        "datasourceUsages": [{"datasourceInstanceId": "src-sql"}],
                        "expressions": [{"name": "ServerName", "expression": "\"sql1\""}],
                        "tables": [{
                            "name": "Orders", "isHidden": false,
                            "source": [{"expression": "let Source = Sql.Database(\"sql1\", \"sales\") in Source"}],
                            "columns": [
                                {"name": "OrderId", "dataType": "Int64", "isHidden": false, "columnType": "Data"},
                                {"name": "Amount", "dataType": "Decimal", "isHidden": false, "columnType": "Data"},
                                {"name": "Margin", "dataType": "Double", "isHidden": true, "columnType": "Calculated", "expression": "[Amount] * 0.1"}
                            ],
                            "measures": [{"name": "Total Amount", "expression": "SUM(Orders[Amount])", "isHidden": false}]
                        }]
                    }, {
                        "id": "ds-2", "name": "Legacy cube", "targetStorageMode": "Abf",
                        "schemaRetrievalError": "Dataset schema could not be retrieved: the model uses unsupported features.",
                        "tables": []
                    }],
                    "reports": [{
                        "id": "rp-1", "name": "Orders overview", "datasetId": "ds-1", "reportType": "PowerBIReport",
                        "createdDateTime": "2024-01-02T00:00:00Z", "modifiedDateTime": "2024-03-02T00:00:00Z"
                    }],
                    "dashboards": [{
                        "id": "db-1", "displayName": "Sales KPIs", "isReadOnly": false,
                        "tiles": [{"id": "t-1", "title": "Total", "reportId": "rp-1", "datasetId": "ds-1"}]
                    }]
                })
            } else {
                json!({"id": id, "name": format!("Team {}", &id[id.len() - 4..]), "type": "Workspace", "state": "Active",
                       "reports": [], "datasets": [], "dashboards": [], "dataflows": []})
            }
        })
        .collect();
    json!({
        "workspaces": workspaces,
        "datasourceInstances": [{
            "datasourceType": "Sql", "connectionDetails": {"server": "sql1.contoso.com", "database": "sales"},
            "datasourceId": "src-sql", "gatewayId": "gw-1"
        }],
        "misconfiguredDatasourceInstances": []
    })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &Value) {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn handle(mut stream: TcpStream, state: &Mutex<State>, workspaces: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut st = state.lock().unwrap();
    st.log.push((method.clone(), target.clone()));

    if path == "/tenant-1/oauth2/v2.0/token" {
        let form = String::from_utf8_lossy(&body).to_string();
        if !form.contains("grant_type=client_credentials") || !form.contains("client_secret=pbi-client-s3cret") {
            return respond(
                &mut stream,
                401,
                &[],
                &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        st.tokens_issued += 1;
        st.valid_token = format!("tok-{}", st.tokens_issued);
        st.calls_with_token = 0;
        let token = st.valid_token.clone();
        return respond(
            &mut stream,
            200,
            &[],
            &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token}),
        );
    }
    let Some(api) = path.strip_prefix("/v1.0/myorg/admin/workspaces/") else {
        return respond(&mut stream, 404, &[], &json!({"error": {"code": "NotFound", "message": path}}));
    };
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    if auth != format!("Bearer {}", st.valid_token) {
        st.unauthorized += 1;
        return respond(
            &mut stream,
            401,
            &[],
            &json!({"error": {"code": "TokenExpired", "message": "Access token has expired, resubmit with a new access token"}}),
        );
    }
    st.calls_with_token += 1;
    // The first token "expires" after five calls: the host must renew it.
    if st.tokens_issued == 1 && st.calls_with_token > 5 {
        st.valid_token = "expired".into();
        st.unauthorized += 1;
        return respond(
            &mut stream,
            401,
            &[],
            &json!({"error": {"code": "TokenExpired", "message": "Access token has expired, resubmit with a new access token"}}),
        );
    }
    match (method.as_str(), api) {
        ("GET", "modified") => {
            st.modified_calls += 1;
            if st.modified_calls == 1 {
                return respond(
                    &mut stream,
                    429,
                    &[("retry-after", "1".into())],
                    &json!({"error": {"code": "TooManyRequests"}}),
                );
            }
            let ids: Vec<Value> = (0..workspaces).map(|i| json!({"id": workspace_id(i)})).collect();
            let ids = if query.contains("modifiedSince=") { ids[..1].to_vec() } else { ids };
            respond(&mut stream, 200, &[], &Value::Array(ids))
        }
        ("POST", "getInfo") => {
            for flag in ["lineage=True", "datasourceDetails=True", "datasetSchema=True", "datasetExpressions=True"] {
                assert!(query.contains(flag), "getInfo without {flag}: {query}");
            }
            let req: Value = serde_json::from_slice(&body).unwrap();
            let ids: Vec<String> =
                req["workspaces"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
            if ids.len() > 100 {
                return respond(
                    &mut stream,
                    400,
                    &[],
                    &json!({"error": {"code": "InvalidRequest", "message": "more than 100 workspaces"}}),
                );
            }
            st.max_batch = st.max_batch.max(ids.len());
            let id = format!("scan-{}", st.scans.len() + 1);
            st.scans.insert(id.clone(), (ids, 0, false));
            let in_flight = st.scans.values().filter(|s| !s.2).count();
            st.max_in_flight = st.max_in_flight.max(in_flight);
            if in_flight > 16 {
                return respond(
                    &mut stream,
                    429,
                    &[("retry-after", "1".into())],
                    &json!({"error": {"code": "TooManyRequests"}}),
                );
            }
            respond(
                &mut stream,
                202,
                &[],
                &json!({"id": id, "createdDateTime": "2024-03-01T12:00:00.000Z", "status": "NotStarted"}),
            )
        }
        ("GET", rest) if rest.starts_with("scanStatus/") => {
            let id = &rest["scanStatus/".len()..];
            let Some(scan) = st.scans.get_mut(id) else {
                return respond(&mut stream, 404, &[], &json!({"error": {"code": "NotFound"}}));
            };
            scan.1 += 1;
            let status = if scan.1 <= 2 { "Running" } else { "Succeeded" };
            respond(
                &mut stream,
                200,
                &[],
                &json!({"id": id, "createdDateTime": "2024-03-01T12:00:00.000Z", "status": status}),
            )
        }
        ("GET", rest) if rest.starts_with("scanResult/") => {
            let id = &rest["scanResult/".len()..];
            let Some(scan) = st.scans.get_mut(id) else {
                return respond(&mut stream, 404, &[], &json!({"error": {"code": "NotFound"}}));
            };
            scan.2 = true;
            let ids = scan.0.clone();
            respond(&mut stream, 200, &[], &scan_result(&ids))
        }
        _ => respond(&mut stream, 404, &[], &json!({"error": {"code": "NotFound", "message": api}})),
    }
}

fn start(workspaces: usize) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(State::default()));
    let s = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || handle(stream, &s, workspaces));
        }
    });
    StandIn { addr, state, workspaces }
}

fn source(dir: &Path, stand_in: &StandIn, allowed: &str, config: &str) -> PathBuf {
    let file = dir.join("powerbi.toml");
    let port = stand_in.addr.port();
    std::fs::write(
        &file,
        format!(
            r#"name = "contoso-powerbi"
type = "power-bi"

[connection]
allowed_hosts = [{allowed}]
retry_backoff_ms = 50
oauth = {{ authority = "http://127.0.0.1:{port}", tenant_id = "tenant-1", client_id = "app-1", client_secret = {{ env = "TEST_PBI_SECRET" }}, scope = "https://analysis.windows.net/powerbi/api/.default" }}

[config]
api_base = "http://127.0.0.1:{port}/v1.0/myorg"
poll_interval_ms = 20
{config}
"#
        ),
    )
    .unwrap();
    file
}

fn scan(file: &Path, out: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let output = surveyor()
        .env("TEST_PBI_SECRET", SECRET)
        .env("SURVEYOR_DATA_DIR", out.join("no-data-dir"))
        .args(["scan", "--source"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(["--json", "--no-progress"])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, report)
}

#[test]
fn scans_a_tenant_in_batches_with_lineage_throttling_and_token_renewal() {
    let stand_in = start(250);
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), &stand_in, "\"127.0.0.1\"", "");
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, &[]);
    assert_eq!(report["status"], "completed_with_exceptions", "{}{}", stdout(&output), stderr(&output));

    let run = Run::latest(&out);
    let by = run.by_name();
    let portal = "https://app.powerbi.com/groups";
    let ws0 = workspace_id(0);
    // Every workspace, in three getInfo batches (100 + 100 + 50).
    assert_eq!(run.entities().filter(|e| e["typeName"] == "powerbi_workspace").count(), stand_in.workspaces);
    let st = stand_in.state.lock().unwrap();
    assert_eq!(st.scans.len(), 3);
    assert_eq!(st.max_batch, 100);
    assert!(st.max_in_flight <= 16);
    let budgeted = st.log.iter().filter(|(_, p)| p.contains("getInfo") || p.contains("scanResult")).count();
    assert_eq!(budgeted, 6, "the minimum: one getInfo and one scanResult per 100 workspaces");
    // The 429 was waited out, and the expired token renewed by the host.
    assert_eq!(st.modified_calls, 2);
    assert_eq!(st.tokens_issued, 2, "one token, renewed once after the service said it expired");
    assert!(st.unauthorized >= 1);
    drop(st);

    // Datasets with tables, columns and measures, storage mode and endorsement.
    let dataset = by[&format!("{portal}/{ws0}/datasets/ds-1")];
    assert_eq!(dataset["typeName"], "powerbi_dataset");
    assert_eq!(dataset["attributes"]["targetStorageMode"], "Abf");
    assert_eq!(dataset["attributes"]["endorsement"], "Certified");
    let table_qn = format!("{portal}/{ws0}/datasets/ds-1/tables/Orders");
    assert_eq!(by[&table_qn]["attributes"]["measures"], json!(["Total Amount"]));
    let cols = run.columns_of(&table_qn).unwrap();
    assert_eq!(
        cols,
        vec![
            ("Amount".to_string(), "decimal(19,4)".to_string()),
            ("Margin".to_string(), "float64".to_string()),
            ("OrderId".to_string(), "int64".to_string())
        ]
    );
    // Lineage: datasource → dataflow → dataset → report → dashboard.
    let up = |qn: &str| by[qn]["attributes"]["upstream"].clone();
    let source_qn = "https://app.powerbi.com/datasources/src-sql";
    assert_eq!(by[source_qn]["typeName"], "powerbi_datasource");
    assert_eq!(up(&format!("{portal}/{ws0}/dataflows/df-1")), json!([source_qn]));
    assert_eq!(
        up(&format!("{portal}/{ws0}/datasets/ds-1")),
        json!([format!("{portal}/{ws0}/dataflows/df-1"), source_qn])
    );
    assert_eq!(up(&format!("{portal}/{ws0}/reports/rp-1")), json!([format!("{portal}/{ws0}/datasets/ds-1")]));
    assert_eq!(up(&format!("{portal}/{ws0}/dashboards/db-1")), json!([format!("{portal}/{ws0}/reports/rp-1")]));
    // The same lineage as processes the catalog draws: inputs → process → output.
    let process = |qn: &str| {
        let p = by[&format!("{qn}#__lineage")];
        assert_eq!(p["typeName"], "surveyor_lineage");
        let names = |key: &str| {
            let mut v: Vec<String> = p["attributes"][key].as_array().unwrap().iter().map(|r| run.resolve(r)).collect();
            v.sort();
            v
        };
        (names("inputs"), names("outputs"))
    };
    let dataset_qn = format!("{portal}/{ws0}/datasets/ds-1");
    assert_eq!(
        process(&dataset_qn),
        (vec![source_qn.to_string(), format!("{portal}/{ws0}/dataflows/df-1")], vec![dataset_qn.clone()])
    );
    let report_qn = format!("{portal}/{ws0}/reports/rp-1");
    assert_eq!(process(&report_qn).0, [dataset_qn]);
    assert_eq!(process(&format!("{portal}/{ws0}/dashboards/db-1")).0, [report_qn]);
    support::atlas::assert_atlas_accepts(&run);
    // The dataset the service could not describe: emitted, and a per-item warning.
    assert!(by.contains_key(&format!("{portal}/{ws0}/datasets/ds-2")));
    let errors = report["itemErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["message"].as_str().unwrap().contains("unsupported features"));
    assert_eq!(errors[0]["item"], format!("{portal}/{ws0}/datasets/ds-2"));
    // Neither the secret nor a token appears anywhere.
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!all.contains(SECRET) && !all.contains("tok-"));
    for batch in &run.batches {
        let text = serde_json::to_string(batch).unwrap();
        assert!(!text.contains(SECRET) && !text.contains("tok-"));
    }
}

#[test]
fn incremental_run_asks_only_for_workspaces_modified_since_the_last_one() {
    let stand_in = start(3);
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), &stand_in, "\"127.0.0.1\"", "");
    let out = tmp.path().join("out");
    let (output, _) = scan(&file, &out, &["--incremental"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let (output, report) = scan(&file, &out, &["--incremental"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let st = stand_in.state.lock().unwrap();
    let modified: Vec<&String> = st.log.iter().filter(|(_, p)| p.contains("/modified")).map(|(_, p)| p).collect();
    assert!(!modified.first().unwrap().contains("modifiedSince"), "{modified:?}");
    let last = modified.last().unwrap();
    assert!(last.contains("modifiedSince=20"), "{last}");
    assert!(last.contains("excludePersonalWorkspaces=True"), "{last}");
    drop(st);
    let run = Run::latest(&out);
    assert_eq!(run.entities().filter(|e| e["typeName"] == "powerbi_workspace").count(), 1, "{report}");
    support::atlas::assert_atlas_accepts(&run);
    // Workspaces not modified since are not gone: nothing of theirs is deleted.
    let deletions: Value = serde_json::from_slice(&std::fs::read(run.dir.join("deletions.json")).unwrap()).unwrap();
    assert_eq!(deletions["entities"], serde_json::json!([]), "{deletions}");
    // Nor by the next run: the state kept them.
    let (output, _) = scan(&file, &out, &["--incremental"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let third = Run::latest(&out);
    let deletions: Value = serde_json::from_slice(&std::fs::read(third.dir.join("deletions.json")).unwrap()).unwrap();
    assert_eq!(deletions["entities"], serde_json::json!([]), "{deletions}");
}

#[test]
fn a_host_off_the_allow_list_is_refused() {
    let stand_in = start(3);
    let tmp = tempfile::tempdir().unwrap();
    // The API base points at 127.0.0.1, which this source does not allow.
    let file = source(tmp.path(), &stand_in, "\"api.powerbi.com\"", "");
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, &[]);
    assert!(!output.status.success());
    let text = format!("{report}{}", stderr(&output));
    assert!(text.contains("host '127.0.0.1' is not on this source's allow-list"), "{text}");
    // Nothing reached the stand-in's API (the token endpoint is the host's own business).
    assert!(stand_in.state.lock().unwrap().log.iter().all(|(_, p)| !p.contains("/admin/")));
}

#[test]
fn an_oversized_response_is_refused() {
    let stand_in = start(30_000); // the workspace list alone is over 1 MB
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), &stand_in, "\"127.0.0.1\"", "");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("retry_backoff_ms = 50", "retry_backoff_ms = 50\nmax_response_bytes = 1000000");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("out");
    let (output, report) = scan(&file, &out, &[]);
    assert!(!output.status.success());
    let text = format!("{report}{}", stderr(&output));
    assert!(text.contains("exceeds the limit of 1000000 bytes"), "{text}");
}

/// Benchmark (run with `--ignored --nocapture`): a tenant of 500 workspaces
/// through the stand-in; prints the API calls made against the minimum the
/// API allows (one `getInfo` and one `scanResult` per 100 workspaces).
#[test]
#[ignore = "benchmark"]
fn benchmark_500_workspaces() {
    let stand_in = start(500);
    let tmp = tempfile::tempdir().unwrap();
    let file = source(tmp.path(), &stand_in, "\"127.0.0.1\"", "");
    let out = tmp.path().join("out");
    let started = std::time::Instant::now();
    let (output, report) = scan(&file, &out, &[]);
    let elapsed = started.elapsed();
    assert_ne!(report["status"], "failed", "{}{}", stdout(&output), stderr(&output));
    let st = stand_in.state.lock().unwrap();
    let count = |needle: &str| st.log.iter().filter(|(_, p)| p.contains(needle)).count();
    println!(
        "500 workspaces: {} getInfo + {} scanResult (minimum 5 + 5), {} scanStatus polls, {} modified (1 answered 429), {} token requests, {} assets in {:.2}s",
        count("getInfo"),
        count("scanResult"),
        count("scanStatus"),
        count("/modified"),
        st.tokens_issued,
        report["counts"]["assets"],
        elapsed.as_secs_f64()
    );
}

/// The Atlas checker used above refuses what Atlas refuses (so that its
/// silence on the runs above means something).
#[test]
fn the_atlas_checker_finds_what_atlas_would_refuse() {
    use support::atlas::{check_batches, type_system};
    let typedefs = json!({
        "entityDefs": [{"name": "t_fk", "superTypes": ["Asset"], "attributeDefs": [
            {"name": "cols", "typeName": "array<string>", "cardinality": "LIST"},
            {"name": "name", "typeName": "string", "cardinality": "SINGLE"}]}],
        "relationshipDefs": [
            {"name": "r_no_container", "relationshipCategory": "COMPOSITION",
             "endDef1": {"type": "DataSet", "name": "a", "cardinality": "SET"},
             "endDef2": {"type": "t_fk", "name": "b", "cardinality": "SINGLE"}},
            {"name": "r_unknown_end", "relationshipCategory": "ASSOCIATION",
             "endDef1": {"type": "nowhere", "name": "c", "cardinality": "SET"},
             "endDef2": {"type": "t_fk", "name": "d", "cardinality": "LIST"}},
            {"name": "r_ok", "relationshipCategory": "ASSOCIATION",
             "endDef1": {"type": "t_fk", "name": "target", "cardinality": "SINGLE"},
             "endDef2": {"type": "DataSet", "name": "targetedBy", "cardinality": "SET"}}]
    });
    let (ts, problems) = type_system(&typedefs);
    let text = problems.join("\n");
    for expected in [
        ".name: already defined by a super-type",
        "COMPOSITION needs a container end",
        "'nowhere' is not an entity type",
        "cardinality 'LIST'",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    let batches = vec![
        vec![json!({"typeName": "mssql_table", "guid": "-1", "attributes": {"qualifiedName": "t1", "name": "t1"}})],
        vec![
            json!({"typeName": "t_fk", "guid": "-2", "attributes": {"qualifiedName": "k", "name": "k", "cols": "x", "other": 1},
                   "relationshipAttributes": {"target": {"typeName": "mssql_table", "uniqueAttributes": {"qualifiedName": "t2"}},
                                              "nope": {"guid": "-1", "typeName": "mssql_table"}}}),
            json!({"typeName": "surveyor_lineage_missing", "guid": "-3", "attributes": {"qualifiedName": "p", "name": "p"}}),
            json!({"typeName": "Process", "guid": "-1", "attributes": {"qualifiedName": "p2", "name": "p2",
                   "inputs": [{"guid": "-9", "typeName": "mssql_table"}], "outputs": [{"typeName": "mssql_schema_x", "uniqueAttributes": {"qualifiedName": "t1"}}]}}),
        ],
    ];
    let text = check_batches(&ts, &batches).join("\n");
    for expected in [
        "'cols' = \"x\" is not a array<string>",
        "'other' is not defined",
        "mssql_table t2 is neither posted before nor in the batch",
        "'nope' matches 0 relationships",
        "surveyor_lineage_missing p: unknown type",
        "guid '-1' is not a fresh placeholder",
        "inputs guid -9 is not in the batch",
        "outputs points at a 'mssql_schema_x', not a 'DataSet'",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
}
