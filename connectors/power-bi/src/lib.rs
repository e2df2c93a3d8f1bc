//! # power-bi — Power BI tenant metadata through the admin scanner API
//!
//! The flow (Microsoft's "metadata scanning" of the Power BI REST API):
//!
//! 1. `GET admin/workspaces/modified` (optionally `excludePersonalWorkspaces`,
//!    and `modifiedSince` for incremental runs) lists workspace ids;
//! 2. `POST admin/workspaces/getInfo?lineage=True&datasourceDetails=True&datasetSchema=True&datasetExpressions=True`
//!    starts a scan of at most 100 workspaces;
//! 3. `GET admin/workspaces/scanStatus/{id}` is polled until `Succeeded`;
//! 4. `GET admin/workspaces/scanResult/{id}` returns the metadata.
//!
//! The service allows 100 workspaces per `getInfo`, 16 scans in flight and
//! 500 `getInfo` + `scanResult` calls per hour: the connector plans its
//! batches within those limits before the first call ([`plan`]). The host
//! adds the OAuth token, retries 429 (`Retry-After`) and 5xx, and refuses any
//! host not on the source's allow-list; the connector never sees a credential.
//!
//! Emitted: workspaces, datasets (tables with columns and measures, storage
//! mode, endorsement), reports, dashboards (tiles), dataflows and
//! datasources, with lineage (dataflow → dataset → report → dashboard, and
//! datasource → dataset / dataflow) as relations and as `upstream`
//! attributes. A dataset the service could not describe
//! (`schemaRetrievalError`) is emitted without its tables and reported as a
//! per-item warning.

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, VecDeque};
use surveyor_sdk::{
    Asset, BrowseEntry, Column, Emitter, Error, ErrorKind, HttpRequest, LogLevel, PluginInfo, PluginKind, Result,
    ScanRequest, ScanSummary, Source, SourceHost, Value,
};

pub struct PowerBi;

/// The service's limits (Power BI REST API, admin "WorkspaceInfo" operations).
pub const MAX_WORKSPACES_PER_CALL: usize = 100;
pub const MAX_SCANS_IN_FLIGHT: usize = 16;
pub const CALLS_PER_HOUR: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The API base (default `https://api.powerbi.com/v1.0/myorg`; sovereign clouds differ).
    pub api_base: String,
    /// Base of qualified names (default `https://app.powerbi.com`).
    pub portal_base: String,
    pub exclude_personal_workspaces: bool,
    /// Milliseconds between `scanStatus` polls (default 5000).
    pub poll_interval_ms: u64,
    /// Give up on a scan after this many polls (default 120).
    pub max_polls: u32,
    /// `getInfo` + `scanResult` calls this run may make (default 500: one hour's allowance).
    pub max_calls: u32,
    /// Workspaces per `getInfo` (1–100, default 100).
    pub batch_size: usize,
    /// Scans in flight at once (1–16, default 16).
    pub max_in_flight: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_base: "https://api.powerbi.com/v1.0/myorg".into(),
            portal_base: "https://app.powerbi.com".into(),
            exclude_personal_workspaces: true,
            poll_interval_ms: 5000,
            max_polls: 120,
            max_calls: CALLS_PER_HOUR,
            batch_size: MAX_WORKSPACES_PER_CALL,
            max_in_flight: MAX_SCANS_IN_FLIGHT,
        }
    }
}

const CONFIG_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "api_base": {"type": "string", "pattern": "^https?://"},
    "portal_base": {"type": "string", "pattern": "^https?://"},
    "exclude_personal_workspaces": {"type": "boolean"},
    "poll_interval_ms": {"type": "integer", "minimum": 1, "maximum": 600000},
    "max_polls": {"type": "integer", "minimum": 1},
    "max_calls": {"type": "integer", "minimum": 2, "maximum": 500},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 100},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 16}
  },
  "additionalProperties": false
}"#;

/// The batches of workspace ids to scan now, and the ids left for a later
/// run because the call budget does not cover them (each batch costs one
/// `getInfo` and one `scanResult`).
pub fn plan(ids: &[String], batch_size: usize, max_calls: u32) -> (Vec<Vec<String>>, Vec<String>) {
    let batch_size = batch_size.clamp(1, MAX_WORKSPACES_PER_CALL);
    let affordable = (max_calls / 2) as usize;
    let batches: Vec<Vec<String>> = ids.chunks(batch_size).map(|c| c.to_vec()).collect();
    let (now, later) = if batches.len() > affordable { batches.split_at(affordable) } else { (&batches[..], &[][..]) };
    (now.to_vec(), later.iter().flatten().cloned().collect())
}

fn api_error(status: u16, url: &str, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let detail = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|j| {
            let e = &j["error"];
            let code = e["code"].as_str().unwrap_or("");
            let message = e["message"].as_str().unwrap_or("");
            (!code.is_empty() || !message.is_empty()).then(|| format!("{code} {message}").trim().to_string())
        })
        .unwrap_or_else(|| text.chars().take(300).collect());
    let kind = match status {
        401 => ErrorKind::Auth,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::Refused,
        _ => ErrorKind::Unreachable,
    };
    let hint = match status {
        401 => {
            " (check the service principal and that the tenant allows service principals to use read-only admin APIs)"
        }
        403 => {
            " (the service principal needs the Fabric/Power BI admin API permission, and no admin-consent-required scopes)"
        }
        429 => " (the service throttled this client beyond the host's retries; the next run will go on)",
        _ => "",
    };
    Error::new(kind, format!("Power BI API {url}: HTTP {status}: {detail}{hint}"))
}

struct Api<'h> {
    host: &'h dyn SourceHost,
    base: String,
    /// `getInfo` + `scanResult` calls made (the budgeted ones).
    budgeted_calls: u32,
    calls: u32,
}

impl Api<'_> {
    fn call(&mut self, method: &str, path: &str, body: Option<Json>) -> Result<Json> {
        let url = format!("{}/{}", self.base, path);
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let request = HttpRequest {
            method: method.into(),
            url: url.clone(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
        };
        self.calls += 1;
        if path.contains("getInfo") || path.contains("scanResult") {
            self.budgeted_calls += 1;
        }
        let response = self.host.http_send(&request)?;
        if !(200..300).contains(&response.status) {
            return Err(api_error(response.status, &url, &response.body));
        }
        if response.body.is_empty() {
            return Ok(Json::Null);
        }
        serde_json::from_slice(&response.body)
            .map_err(|e| Error::malformed(format!("Power BI API {url}: the answer is not JSON: {e}")))
    }
}

fn iso_millis(ms: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm): no clock or time crate needed.
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, ms.rem_euclid(1000))
}

fn s(j: &Json, key: &str) -> Option<String> {
    j.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string)
}

fn list<'a>(j: &'a Json, key: &str) -> &'a [Json] {
    j.get(key).and_then(|v| v.as_array()).map(Vec::as_slice).unwrap_or(&[])
}

/// Qualified names, as Purview names Power BI assets.
struct Names {
    portal: String,
}

impl Names {
    fn workspace(&self, ws: &str) -> String {
        format!("{}/groups/{ws}", self.portal)
    }
    fn item(&self, ws: &str, kind: &str, id: &str) -> String {
        format!("{}/groups/{ws}/{kind}/{id}", self.portal)
    }
    fn table(&self, ws: &str, dataset: &str, table: &str) -> String {
        format!(
            "{}/groups/{ws}/datasets/{dataset}/tables/{}",
            self.portal,
            table.replace(['/', '#', '?', '%', ' '], "_")
        )
    }
    fn datasource(&self, id: &str) -> String {
        format!("{}/datasources/{id}", self.portal)
    }
}

fn lineage(mut asset: Asset, upstream: &[(String, String)]) -> Asset {
    if upstream.is_empty() {
        return asset;
    }
    for (type_name, qn) in upstream {
        asset = asset.relation("lineage", type_name.clone(), qn.clone());
    }
    asset.attr("upstream", upstream.iter().map(|(_, qn)| qn.clone()).collect::<Vec<_>>())
}

fn endorsement(j: &Json) -> Option<String> {
    j.get("endorsementDetails").and_then(|e| s(e, "endorsement"))
}

/// Emits everything in one `scanResult`. Returns the per-item warnings reported.
fn emit_result(host: &dyn SourceHost, out: &mut Emitter<'_>, names: &Names, result: &Json) -> Result<u64> {
    let mut warnings = 0;
    // Datasources first: datasets and dataflows point at them.
    let mut datasource_qn: BTreeMap<String, String> = BTreeMap::new();
    for ds in list(result, "datasourceInstances").iter().chain(list(result, "misconfiguredDatasourceInstances")) {
        let Some(id) = s(ds, "datasourceId") else { continue };
        let qn = names.datasource(&id);
        let details = ds.get("connectionDetails").cloned().unwrap_or(Json::Null);
        let display = ["server", "database", "url", "path", "account", "domain"]
            .iter()
            .filter_map(|k| s(&details, k))
            .collect::<Vec<_>>()
            .join("/");
        let kind = s(ds, "datasourceType").unwrap_or_default();
        out.push(
            Asset::new(
                "powerbi_datasource",
                qn.clone(),
                if display.is_empty() { id.clone() } else { format!("{kind} {display}") },
            )
            .attr("datasourceType", kind)
            .attr("connectionDetails", Value::Json(details.to_string()))
            .attr_opt("gatewayId", s(ds, "gatewayId")),
        )?;
        datasource_qn.insert(id, qn);
    }
    let usages = |item: &Json| -> Vec<(String, String)> {
        list(item, "datasourceUsages")
            .iter()
            .filter_map(|u| s(u, "datasourceInstanceId"))
            .filter_map(|id| datasource_qn.get(&id).map(|qn| ("powerbi_datasource".to_string(), qn.clone())))
            .collect()
    };
    for ws in list(result, "workspaces") {
        let Some(ws_id) = s(ws, "id") else { continue };
        let ws_qn = names.workspace(&ws_id);
        out.push(
            Asset::new("powerbi_workspace", ws_qn.clone(), s(ws, "name").unwrap_or_else(|| ws_id.clone()))
                .attr_opt("workspaceType", s(ws, "type"))
                .attr_opt("state", s(ws, "state"))
                .attr_opt("description", s(ws, "description"))
                .attr_opt("isOnDedicatedCapacity", ws.get("isOnDedicatedCapacity").and_then(|v| v.as_bool()))
                .attr_opt("capacityId", s(ws, "capacityId")),
        )?;
        let upstream_dataflows = |item: &Json| -> Vec<(String, String)> {
            list(item, "upstreamDataflows")
                .iter()
                .filter_map(|u| {
                    let id = s(u, "targetDataflowId")?;
                    let group = s(u, "groupId").unwrap_or_else(|| ws_id.clone());
                    Some(("powerbi_dataflow".to_string(), names.item(&group, "dataflows", &id)))
                })
                .collect()
        };
        for df in list(ws, "dataflows") {
            let Some(id) = s(df, "objectId") else { continue };
            let mut up = upstream_dataflows(df);
            up.extend(usages(df));
            let asset = Asset::new(
                "powerbi_dataflow",
                names.item(&ws_id, "dataflows", &id),
                s(df, "name").unwrap_or(id.clone()),
            )
            .parent("powerbi_workspace", ws_qn.clone())
            .attr_opt("description", s(df, "description"))
            .attr_opt("configuredBy", s(df, "configuredBy"))
            .attr_opt("modifiedDateTime", s(df, "modifiedDateTime"))
            .attr_opt("endorsement", endorsement(df));
            out.push(lineage(asset, &up))?;
        }
        for dataset in list(ws, "datasets") {
            let Some(id) = s(dataset, "id") else { continue };
            let ds_qn = names.item(&ws_id, "datasets", &id);
            let ds_name = s(dataset, "name").unwrap_or(id.clone());
            let mut up = upstream_dataflows(dataset);
            up.extend(usages(dataset));
            let tables = list(dataset, "tables");
            let expressions = list(dataset, "expressions");
            let asset = Asset::new("powerbi_dataset", ds_qn.clone(), ds_name.clone())
                .parent("powerbi_workspace", ws_qn.clone())
                .attr_opt("configuredBy", s(dataset, "configuredBy"))
                .attr_opt("createdDate", s(dataset, "createdDate"))
                .attr_opt("targetStorageMode", s(dataset, "targetStorageMode"))
                .attr_opt("contentProviderType", s(dataset, "contentProviderType"))
                .attr_opt("endorsement", endorsement(dataset))
                .attr_opt("sensitivityLabel", dataset.get("sensitivityLabel").and_then(|l| s(l, "labelId")))
                .attr("tableCount", tables.len() as u64)
                .attr_opt(
                    "expressions",
                    (!expressions.is_empty()).then(|| Value::Json(Json::Array(expressions.to_vec()).to_string())),
                );
            out.push(lineage(asset, &up))?;
            if let Some(err) = s(dataset, "schemaRetrievalError") {
                warnings += 1;
                host.item_error(
                    &Error::new(
                        ErrorKind::Unsupported,
                        format!("dataset '{ds_name}': the service could not describe its schema: {err}"),
                    )
                    .with_item(ds_qn.clone()),
                );
            }
            for table in tables {
                let Some(t_name) = s(table, "name") else { continue };
                let mut asset = Asset::new("powerbi_table", names.table(&ws_id, &id, &t_name), t_name.clone())
                    .parent("powerbi_dataset", ds_qn.clone())
                    .attr_opt("isHidden", table.get("isHidden").and_then(|v| v.as_bool()))
                    .attr_opt("storageMode", s(table, "storageMode"));
                let sources: Vec<String> = list(table, "source").iter().filter_map(|x| s(x, "expression")).collect();
                if !sources.is_empty() {
                    asset = asset.attr("sourceExpressions", sources);
                }
                for (i, c) in list(table, "columns").iter().enumerate() {
                    let Some(c_name) = s(c, "name") else { continue };
                    let data_type = s(c, "dataType").unwrap_or_else(|| "Unknown".into());
                    let mut col = Column::new([c_name], data_type.clone(), normalized(&data_type)).ordinal(i as u32);
                    if let Some(kind) = s(c, "columnType") {
                        col = col.attr("columnType", kind);
                    }
                    if let Some(expr) = s(c, "expression") {
                        col = col.attr("expression", expr);
                    }
                    if c.get("isHidden").and_then(|v| v.as_bool()) == Some(true) {
                        col = col.attr("isHidden", true);
                    }
                    asset = asset.column(col);
                }
                let measures: Vec<Json> = list(table, "measures").to_vec();
                if !measures.is_empty() {
                    let names_: Vec<String> = measures.iter().filter_map(|m| s(m, "name")).collect();
                    asset = asset
                        .attr("measures", names_)
                        .attr("measureDefinitions", Value::Json(Json::Array(measures).to_string()));
                }
                out.push(asset)?;
            }
        }
        for report in list(ws, "reports") {
            let Some(id) = s(report, "id") else { continue };
            let mut up = Vec::new();
            if let Some(dataset) = s(report, "datasetId") {
                let group = s(report, "datasetWorkspaceId").unwrap_or_else(|| ws_id.clone());
                up.push(("powerbi_dataset".to_string(), names.item(&group, "datasets", &dataset)));
            }
            let asset = Asset::new(
                "powerbi_report",
                names.item(&ws_id, "reports", &id),
                s(report, "name").unwrap_or(id.clone()),
            )
            .parent("powerbi_workspace", ws_qn.clone())
            .attr_opt("reportType", s(report, "reportType"))
            .attr_opt("createdDateTime", s(report, "createdDateTime"))
            .attr_opt("modifiedDateTime", s(report, "modifiedDateTime"))
            .attr_opt("modifiedBy", s(report, "modifiedBy"))
            .attr_opt("endorsement", endorsement(report));
            out.push(lineage(asset, &up))?;
        }
        for dash in list(ws, "dashboards") {
            let Some(id) = s(dash, "id") else { continue };
            let mut up: Vec<(String, String)> = Vec::new();
            let mut tiles = Vec::new();
            for tile in list(dash, "tiles") {
                tiles.push(s(tile, "title").unwrap_or_else(|| s(tile, "id").unwrap_or_default()));
                let target = if let Some(r) = s(tile, "reportId") {
                    Some(("powerbi_report".to_string(), names.item(&ws_id, "reports", &r)))
                } else {
                    s(tile, "datasetId").map(|d| ("powerbi_dataset".to_string(), names.item(&ws_id, "datasets", &d)))
                };
                if let Some(t) = target
                    && !up.contains(&t)
                {
                    up.push(t);
                }
            }
            let asset = Asset::new(
                "powerbi_dashboard",
                names.item(&ws_id, "dashboards", &id),
                s(dash, "displayName").unwrap_or(id.clone()),
            )
            .parent("powerbi_workspace", ws_qn.clone())
            .attr_opt("isReadOnly", dash.get("isReadOnly").and_then(|v| v.as_bool()))
            .attr("tiles", tiles);
            out.push(lineage(asset, &up))?;
        }
    }
    Ok(warnings)
}

/// Tabular model types (`Int64`, `String`, `DateTime`...) to the normalised names.
pub fn normalized(data_type: &str) -> String {
    match data_type.to_ascii_lowercase().as_str() {
        "int64" => "int64".into(),
        "double" => "float64".into(),
        "decimal" => "decimal(19,4)".into(),
        "boolean" => "boolean".into(),
        "string" => "string".into(),
        "datetime" => "timestamp[us]".into(),
        "binary" => "binary".into(),
        other => other.to_string(),
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

impl Source for PowerBi {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("power-bi", env!("CARGO_PKG_VERSION"), PluginKind::Source)
            .handles(["power-bi"])
            .description("Power BI (admin scanner API): workspaces, datasets, reports, dashboards, dataflows, lineage")
            .config_schema(CONFIG_SCHEMA)
    }

    fn test_connection(host: &dyn SourceHost, config: Config) -> Result<()> {
        let mut api =
            Api { host, base: config.api_base.trim_end_matches('/').to_string(), budgeted_calls: 0, calls: 0 };
        api.call("GET", "admin/workspaces/modified?excludePersonalWorkspaces=True", None).map(|_| ())
    }

    fn browse(host: &dyn SourceHost, config: Config, path: &str) -> Result<Vec<BrowseEntry>> {
        if !path.trim_matches('/').is_empty() {
            return Err(Error::not_found("Power BI sources are browsed at the top level only (workspace ids)"));
        }
        let mut api =
            Api { host, base: config.api_base.trim_end_matches('/').to_string(), budgeted_calls: 0, calls: 0 };
        let ids = api.call(
            "GET",
            &format!(
                "admin/workspaces/modified?excludePersonalWorkspaces={}",
                if config.exclude_personal_workspaces { "True" } else { "False" }
            ),
            None,
        )?;
        Ok(ids
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|w| s(w, "id"))
            .map(|id| BrowseEntry { path: id.clone(), name: id, is_container: false, size: None })
            .collect())
    }

    fn scan(host: &dyn SourceHost, config: Config, request: &ScanRequest) -> Result<ScanSummary> {
        let base = config.api_base.trim_end_matches('/').to_string();
        let names = Names { portal: config.portal_base.trim_end_matches('/').to_string() };
        let mut api = Api { host, base, budgeted_calls: 0, calls: 0 };
        let mut query = format!(
            "admin/workspaces/modified?excludePersonalWorkspaces={}",
            if config.exclude_personal_workspaces { "True" } else { "False" }
        );
        if let Some(since) = request.modified_since {
            query.push_str(&format!("&modifiedSince={}", iso_millis(since)));
        }
        let modified = api.call("GET", &query, None)?;
        let mut ids: Vec<String> =
            modified.as_array().map(Vec::as_slice).unwrap_or(&[]).iter().filter_map(|w| s(w, "id")).collect();
        if !request.scope.is_empty() {
            ids.retain(|id| request.scope.iter().any(|s| s.trim_matches('/').eq_ignore_ascii_case(id)));
        }
        let (batches, deferred) = plan(&ids, config.batch_size, config.max_calls);
        host.log(
            LogLevel::Info,
            &format!(
                "{} workspaces to scan in {} getInfo calls ({} budgeted calls of {}), {} deferred",
                ids.len(),
                batches.len(),
                batches.len() * 2,
                config.max_calls,
                deferred.len()
            ),
        );
        let mut failed = 0u64;
        if !deferred.is_empty() {
            failed += deferred.len() as u64;
            for id in &deferred {
                host.item_error(
                    &Error::new(
                        ErrorKind::Refused,
                        format!(
                            "workspace not scanned: scanning all {} workspaces needs more than the {} getInfo/scanResult calls allowed per hour; scan it in a later run (or narrow the scope)",
                            ids.len(),
                            config.max_calls
                        ),
                    )
                    .with_item(id.clone()),
                );
            }
        }
        let mut out = Emitter::new(host);
        let mut queue: VecDeque<Vec<String>> = batches.into();
        // Scans submitted and not read yet: (scan id, its workspaces, polls so far).
        let mut in_flight: Vec<(String, Vec<String>, u32)> = Vec::new();
        let total = queue.len() as u64;
        let mut done = 0u64;
        let path =
            "admin/workspaces/getInfo?lineage=True&datasourceDetails=True&datasetSchema=True&datasetExpressions=True";
        while !queue.is_empty() || !in_flight.is_empty() {
            while in_flight.len() < config.max_in_flight.clamp(1, MAX_SCANS_IN_FLIGHT)
                && let Some(batch) = queue.pop_front()
            {
                match api.call("POST", path, Some(serde_json::json!({ "workspaces": batch }))) {
                    Ok(scan) => match s(&scan, "id") {
                        Some(id) => in_flight.push((id, batch, 0)),
                        None => {
                            failed += batch.len() as u64;
                            host.item_error(
                                &Error::malformed("getInfo answered without a scan id").with_item(batch.join(",")),
                            );
                        }
                    },
                    Err(e) if matches!(e.kind, ErrorKind::Auth | ErrorKind::PermissionDenied | ErrorKind::Canceled) => {
                        return Err(e);
                    }
                    Err(e) => {
                        failed += batch.len() as u64;
                        host.item_error(&e.with_item(batch.join(",")));
                    }
                }
            }
            if in_flight.is_empty() {
                continue;
            }
            sleep_ms(config.poll_interval_ms);
            let mut still = Vec::new();
            for (scan_id, batch, polls) in std::mem::take(&mut in_flight) {
                let status = match api.call("GET", &format!("admin/workspaces/scanStatus/{scan_id}"), None) {
                    Ok(s_) => s(&s_, "status").unwrap_or_default(),
                    Err(e) if e.kind == ErrorKind::Canceled => return Err(e),
                    Err(e) => {
                        failed += batch.len() as u64;
                        host.item_error(&e.with_item(batch.join(",")));
                        continue;
                    }
                };
                match status.as_str() {
                    "Succeeded" => {
                        match api.call("GET", &format!("admin/workspaces/scanResult/{scan_id}"), None) {
                            Ok(result) => failed += emit_result(host, &mut out, &names, &result)?,
                            Err(e) if e.kind == ErrorKind::Canceled => return Err(e),
                            Err(e) => {
                                failed += batch.len() as u64;
                                host.item_error(&e.with_item(batch.join(",")));
                            }
                        }
                        done += 1;
                        host.progress(done, Some(total), "workspace batches");
                    }
                    "Failed" => {
                        failed += batch.len() as u64;
                        host.item_error(
                            &Error::new(ErrorKind::Unreachable, format!("scan {scan_id} failed on the service side"))
                                .with_item(batch.join(",")),
                        );
                    }
                    _ if polls + 1 >= config.max_polls => {
                        failed += batch.len() as u64;
                        host.item_error(
                            &Error::new(
                                ErrorKind::Unreachable,
                                format!("scan {scan_id} still '{status}' after {} polls", polls + 1),
                            )
                            .with_item(batch.join(",")),
                        );
                    }
                    _ => still.push((scan_id, batch, polls + 1)),
                }
            }
            in_flight = still;
        }
        host.log(LogLevel::Info, &format!("{} API calls ({} getInfo/scanResult)", api.calls, api.budgeted_calls));
        Ok(ScanSummary { assets: out.finish()?, items_failed: failed })
    }
}

surveyor_sdk::export_source!(PowerBi);

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use surveyor_sdk::HttpResponse;
    use surveyor_sdk::testing::MemoryHost;

    fn ok(body: Json) -> Result<HttpResponse> {
        Ok(HttpResponse { status: 200, headers: vec![], body: body.to_string().into_bytes() })
    }

    #[test]
    fn incremental_runs_ask_for_workspaces_modified_since_the_last_run() {
        let host = MemoryHost::new().with_http(|req| {
            assert!(
                req.url.contains(
                    "/admin/workspaces/modified?excludePersonalWorkspaces=True&modifiedSince=2024-03-01T12:00:00.123Z"
                ),
                "{}",
                req.url
            );
            ok(serde_json::json!([]))
        });
        let request = ScanRequest { root_uri: String::new(), scope: vec![], modified_since: Some(1_709_294_400_123) };
        let summary = PowerBi::scan(&host, Config::default(), &request).unwrap();
        assert_eq!(summary.assets, 0);
        assert_eq!(host.http_requests.borrow().len(), 1, "nothing modified: no getInfo");
    }

    #[test]
    fn plans_within_the_budget() {
        let ids: Vec<String> = (0..1050).map(|i| i.to_string()).collect();
        let (now, later) = plan(&ids, 100, 500);
        assert_eq!(now.len(), 11);
        assert!(later.is_empty());
        let (now, later) = plan(&ids, 100, 10);
        assert_eq!(now.len(), 5);
        assert_eq!(later.len(), 550);
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(1_709_294_400_123), "2024-03-01T12:00:00.123Z");
    }

    #[test]
    fn scans_in_batches_and_emits_lineage() {
        let polls = Rc::new(RefCell::new(0));
        let p = polls.clone();
        let host = MemoryHost::new().with_http(move |req| {
            let url = req.url.as_str();
            if url.contains("/modified") {
                ok(serde_json::json!([{"id": "w1"}, {"id": "w2"}, {"id": "w3"}]))
            } else if url.contains("/getInfo") {
                let body: Json = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
                assert!(body["workspaces"].as_array().unwrap().len() <= 2);
                ok(serde_json::json!({"id": format!("scan-{}", body["workspaces"][0].as_str().unwrap()), "status": "NotStarted"}))
            } else if url.contains("/scanStatus/") {
                *p.borrow_mut() += 1;
                let status = if *p.borrow() < 3 { "Running" } else { "Succeeded" };
                ok(serde_json::json!({"status": status}))
            } else if url.contains("/scanResult/scan-w1") {
                ok(serde_json::json!({
                    "workspaces": [{"id": "w1", "name": "Sales", "type": "Workspace", "state": "Active",
                        "datasets": [{"id": "d1", "name": "Orders", "tables": [{"name": "Orders", "columns": [{"name": "Amount", "dataType": "Double"}], "measures": [{"name": "Total", "expression": "SUM(Orders[Amount])"}]}],
                                      "datasourceUsages": [{"datasourceInstanceId": "src1"}]},
                                     {"id": "d2", "name": "Broken", "schemaRetrievalError": "The model is too large"}],
                        "reports": [{"id": "r1", "name": "Orders report", "datasetId": "d1"}],
                        "dashboards": [{"id": "b1", "displayName": "KPIs", "tiles": [{"id": "t1", "title": "Total", "reportId": "r1"}]}]}],
                    "datasourceInstances": [{"datasourceType": "Sql", "connectionDetails": {"server": "sql1", "database": "sales"}, "datasourceId": "src1"}]
                }))
            } else if url.contains("/scanResult/") {
                ok(serde_json::json!({"workspaces": [{"id": "w3", "name": "HR"}]}))
            } else {
                panic!("unexpected {url}")
            }
        });
        let config = Config { batch_size: 2, poll_interval_ms: 1, ..Config::default() };
        let summary = PowerBi::scan(
            &host,
            config,
            &ScanRequest { root_uri: "https://api.powerbi.com".into(), scope: vec![], modified_since: None },
        )
        .unwrap();
        assert_eq!(summary.items_failed, 1, "the dataset without a schema");
        let report = host.asset("https://app.powerbi.com/groups/w1/reports/r1").unwrap();
        assert_eq!(report.relations[0].target, "https://app.powerbi.com/groups/w1/datasets/d1");
        let dataset = host.asset("https://app.powerbi.com/groups/w1/datasets/d1").unwrap();
        assert_eq!(dataset.relations[0].target, "https://app.powerbi.com/datasources/src1");
        let table = host.asset("https://app.powerbi.com/groups/w1/datasets/d1/tables/Orders").unwrap();
        assert_eq!(table.columns[0].data_type, "float64");
        assert!(host.asset("https://app.powerbi.com/groups/w3").is_some());
        let errors = host.errors();
        assert!(errors[0].message.contains("too large"));
        let gets = host.http_requests.borrow().iter().filter(|(_, u)| u.contains("getInfo")).count();
        assert_eq!(gets, 2);
    }
}
