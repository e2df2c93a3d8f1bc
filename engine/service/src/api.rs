//! The HTTP API: JSON, versioned under `/v1`, described by an OpenAPI spec
//! generated from this module ([`ApiDoc`], checked in as `docs/openapi.json`).
//!
//! Authentication: management calls take the admin token (`Authorization:
//! Bearer <token>`, from `<data-dir>/admin-token`); `POST /v1/nodes/register`
//! takes one of an integration runtime's two keys; `POST /v1/nodes/heartbeat`
//! takes the credential issued to the node at registration. `/healthz`,
//! `/metrics` and `/v1/version` are open (the service binds to loopback by
//! default).
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with a precise
//! status: 400 for bad input (naming the field), 401 for a missing or wrong
//! credential, 404, 409 for conflicts, 415 for a body that is not JSON.

use super::agent::UnitRef;
use super::crypto::{constant_time_eq, hash_key, new_token};
use super::schedule::Trigger;
use super::state::RunAsset;
use super::state::{IntegrationRuntime, Node, RunView, ScanRow, ScanView, SourceRow, SourceView};
use super::units::UnitJob;
use super::version::VersionInfo;
use super::{Service, ServiceError, new_id};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use surveyor_engine::scan::units::{PlanCursor, UnitSpec};
use surveyor_engine::sources::SourceDefinition;
use surveyor_engine::sources::probe::{self, Entry, ProbeError};
use utoipa::OpenApi;

mod releases;

type Svc = State<Arc<Service>>;

// ---------- errors ----------

/// An error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `not_found`, `conflict`, `unsupported_media_type`,
    /// `payload_too_large`, `source_error` (the source refused or could not be reached), `internal`.
    pub code: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) | ServiceError::Locked(_) => StatusCode::CONFLICT,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Io { .. } | ServiceError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed");
        }
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = match self.0 {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::BAD_GATEWAY => "source_error",
            _ => "internal",
        };
        let mut response =
            (self.0, Json(ErrorBody { error: ErrorDetail { code: code.into(), message: self.1 } })).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections are API errors (malformed JSON, unknown or
/// missing fields → 400 naming them; another content type → 415).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON (Content-Type: application/json)".into(),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad(format!("malformed JSON: {}", e.body_text()))),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad(format!("invalid request: {}", e.body_text()))),
            Err(e) => Err(ApiError(e.status(), e.body_text())),
        }
    }
}

// ---------- authentication ----------

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "missing Authorization: Bearer <token>".into()))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "the Authorization header must be 'Bearer <token>'".into()))
}

/// The caller presented the admin token.
pub struct Admin;

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if constant_time_eq(token, &service.admin_token) {
            Ok(Admin)
        } else {
            Err(ApiError(StatusCode::UNAUTHORIZED, "invalid admin token".into()))
        }
    }
}

/// The caller presented one of an integration runtime's keys: (runtime id, max nodes).
pub struct IrKey(String, i64);

impl FromRequestParts<Arc<Service>> for IrKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let key = bearer(parts)?;
        match service.db.ir_by_key_hash(&hash_key(key)).await? {
            Some((id, max)) => Ok(IrKey(id, max)),
            None => Err(ApiError(StatusCode::UNAUTHORIZED, "invalid or regenerated integration runtime key".into())),
        }
    }
}

/// The caller presented a registered node's credential.
pub struct NodeAuth(String);

impl FromRequestParts<Arc<Service>> for NodeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?;
        match service.db.node_by_credential(&hash_key(credential)).await? {
            Some(id) => Ok(NodeAuth(id)),
            None => Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "invalid node credential (the node may have been removed)".into(),
            )),
        }
    }
}

// ---------- validation ----------

pub const MAX_NAME: usize = 64;

/// Names: 1-64 of letters, digits, `.`, `_`, `-`, starting with a letter or digit.
pub fn check_name(field: &str, name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(ApiError::bad(format!("{field} is empty")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::bad(format!("{field} is longer than {MAX_NAME} characters")));
    }
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(ApiError::bad(format!(
            "{field} '{name}' may hold only letters, digits, '.', '_' and '-', and start with a letter or digit"
        )));
    }
    Ok(())
}

// ---------- version, health, metrics ----------

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: VersionInfo,
    pub runs_in_progress: usize,
    pub concurrency: usize,
}

/// Liveness and version (no authentication).
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz(State(s): Svc) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: s.version(),
        runs_in_progress: s.running.lock().unwrap().len(),
        concurrency: s.concurrency,
    })
}

/// This build's version, release date and expiry (no authentication).
#[utoipa::path(get, path = "/v1/version", responses((status = 200, body = VersionInfo)))]
async fn version(State(s): Svc) -> Json<VersionInfo> {
    Json(s.version())
}

/// Prometheus metrics, text format (no authentication).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
async fn metrics(State(s): Svc) -> ApiResult<Response> {
    use std::fmt::Write;
    let mut out = String::new();
    let m = &s.metrics;
    let info = s.version();
    let _ = writeln!(
        out,
        "# HELP surveyor_build_info The build's version and expiry status.\n# TYPE surveyor_build_info gauge"
    );
    let _ = writeln!(
        out,
        "surveyor_build_info{{version=\"{}\",release_date=\"{}\",expires_on=\"{}\",status=\"{}\"}} 1",
        info.version, info.release_date, info.expires_on, info.status
    );
    let _ = writeln!(
        out,
        "# HELP surveyor_build_expiry_days Days until this build expires (negative once expired).\n# TYPE surveyor_build_expiry_days gauge\nsurveyor_build_expiry_days {}",
        info.days_left
    );
    let _ = writeln!(out, "# HELP surveyor_runs Runs in the history, by state.\n# TYPE surveyor_runs gauge");
    for (state, n) in s.db.runs_by_state().await? {
        let _ = writeln!(out, "surveyor_runs{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP surveyor_runs_finished_total Runs finished by this process, by state.\n# TYPE surveyor_runs_finished_total counter"
    );
    for (state, n) in m.runs_finished.lock().unwrap().iter() {
        let _ = writeln!(out, "surveyor_runs_finished_total{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP surveyor_runs_in_progress Runs in progress.\n# TYPE surveyor_runs_in_progress gauge\nsurveyor_runs_in_progress {}",
        s.running.lock().unwrap().len()
    );
    for (name, help, v) in [
        ("surveyor_assets_total", "Assets discovered.", &m.assets),
        ("surveyor_files_total", "Files discovered.", &m.files),
        ("surveyor_item_errors_total", "Per-item errors.", &m.item_errors),
        ("surveyor_bytes_read_total", "Bytes read from sources.", &m.bytes_read),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
    }
    let d = m.durations.lock().unwrap();
    let _ = writeln!(
        out,
        "# HELP surveyor_run_duration_seconds Duration of finished runs.\n# TYPE surveyor_run_duration_seconds histogram"
    );
    for (i, b) in super::DURATION_BUCKETS.iter().enumerate() {
        let _ =
            writeln!(out, "surveyor_run_duration_seconds_bucket{{le=\"{b}\"}} {}", d.0.get(i).copied().unwrap_or(0));
    }
    let _ = writeln!(out, "surveyor_run_duration_seconds_bucket{{le=\"+Inf\"}} {}", d.2);
    let _ = writeln!(out, "surveyor_run_duration_seconds_sum {}\nsurveyor_run_duration_seconds_count {}", d.1, d.2);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

// ---------- integration runtimes ----------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIr {
    pub name: String,
    pub description: Option<String>,
    /// Nodes allowed (default: the service's `--max-nodes`, 4).
    pub max_nodes: Option<i64>,
}

/// An integration runtime's two authentication keys.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IrKeys {
    pub key1: String,
    pub key2: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedIr {
    pub integration_runtime: IntegrationRuntime,
    pub keys: IrKeys,
}

fn ir_key(ir_id: &str, slot: i64) -> String {
    new_token(&format!("IR@{ir_id}@{slot}"))
}

/// Create an integration runtime; returns its two keys.
#[utoipa::path(post, path = "/v1/integration-runtimes", request_body = CreateIr, security(("admin" = [])),
    responses((status = 201, body = CreatedIr), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_ir(
    State(s): Svc,
    _: Admin,
    ApiJson(req): ApiJson<CreateIr>,
) -> ApiResult<(StatusCode, Json<CreatedIr>)> {
    check_name("name", &req.name)?;
    if req.description.as_ref().is_some_and(|d| d.len() > 1024) {
        return Err(ApiError::bad("description is longer than 1024 characters"));
    }
    let max_nodes = req.max_nodes.unwrap_or(s.config.max_nodes);
    if !(1..=100).contains(&max_nodes) {
        return Err(ApiError::bad("max_nodes must be 1-100"));
    }
    let id = new_id("ir");
    let (k1, k2) = (ir_key(&id, 1), ir_key(&id, 2));
    let sealed = |k: &str| (hash_key(k), s.secrets.seal(k.as_bytes()));
    s.db.create_ir(&id, &req.name, req.description.as_deref(), max_nodes, [sealed(&k1), sealed(&k2)]).await?;
    tracing::info!(name = %req.name, id = %id, "integration runtime created");
    let ir = s.db.ir(&id).await?;
    Ok((StatusCode::CREATED, Json(CreatedIr { integration_runtime: ir, keys: IrKeys { key1: k1, key2: k2 } })))
}

/// List integration runtimes.
#[utoipa::path(get, path = "/v1/integration-runtimes", security(("admin" = [])),
    responses((status = 200, body = Vec<IntegrationRuntime>), (status = 401, body = ErrorBody)))]
async fn list_irs(State(s): Svc, _: Admin) -> ApiResult<Json<Vec<IntegrationRuntime>>> {
    Ok(Json(s.db.list_irs().await?))
}

/// Show an integration runtime (by name or id).
#[utoipa::path(get, path = "/v1/integration-runtimes/{name}", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = IntegrationRuntime), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_ir(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<IntegrationRuntime>> {
    Ok(Json(s.db.ir(&name).await?))
}

/// What can change of an integration runtime.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIr {
    /// Empty or unset: no description.
    pub description: Option<String>,
}

/// Update an integration runtime's description.
#[utoipa::path(put, path = "/v1/integration-runtimes/{name}", request_body = UpdateIr, security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = IntegrationRuntime), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_ir(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateIr>,
) -> ApiResult<Json<IntegrationRuntime>> {
    let ir = s.db.ir(&name).await?;
    let description = req.description.as_deref().map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(ApiError::bad("description: longer than 1000 characters"));
    }
    s.db.set_ir_description(&ir.id, description).await?;
    Ok(Json(s.db.ir(&ir.id).await?))
}

/// Delete an integration runtime, its keys and its nodes.
#[utoipa::path(delete, path = "/v1/integration-runtimes/{name}", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_ir(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let ir = s.db.ir(&name).await?;
    s.db.delete_ir(&ir.id).await?;
    tracing::info!(name = %ir.name, "integration runtime deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Where an integration runtime's runs are written.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ingestion {
    pub integration_runtime: String,
    /// The sink definition (secrets redacted); unset: the service's own output folder.
    #[schema(value_type = Option<Object>)]
    pub target: Option<serde_json::Value>,
}

/// Set where an integration runtime's runs are written: the same sink
/// definition as `surveyor scan --sink` (JSON). The target is tried first (a
/// test blob written and deleted); a target that refuses is not saved, and
/// the storage's error is named. Credentials are stored encrypted and never returned.
#[utoipa::path(put, path = "/v1/integration-runtimes/{name}/ingestion", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")), request_body = Object,
    responses((status = 200, body = Ingestion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_ingestion(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(def): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Ingestion>> {
    let ir = s.db.ir(&name).await?;
    let definition: surveyor_engine::sink::SinkDefinition =
        serde_json::from_value(def.clone()).map_err(|e| ApiError::bad(format!("invalid ingestion target: {e}")))?;
    // The storage clients block: built, used and dropped off the async threads.
    let described = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let sink = definition.build().map_err(|e| ApiError::bad(format!("invalid ingestion target: {e}")))?;
        let described = sink.describe();
        sink.check().map_err(|e| ApiError::bad(format!("the ingestion target {described} refused: {e}")))?;
        Ok(described)
    })
    .await
    .map_err(|e| ApiError::bad(format!("checking the target: {e}")))??;
    let sealed = s.secrets.seal(def.to_string().as_bytes());
    let redacted = redact(&def);
    s.db.set_ingestion(&ir.id, &redacted.to_string(), &sealed).await?;
    tracing::info!(ir = %ir.name, target = %described, "ingestion target set");
    Ok(Json(Ingestion { integration_runtime: ir.name, target: Some(redacted) }))
}

/// Where an integration runtime's runs are written.
#[utoipa::path(get, path = "/v1/integration-runtimes/{name}/ingestion", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = Ingestion), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_ingestion(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<Ingestion>> {
    let ir = s.db.ir(&name).await?;
    let target = s.db.ingestion(&ir.id).await?.map(|(redacted, _)| serde_json::from_str(&redacted).unwrap_or_default());
    Ok(Json(Ingestion { integration_runtime: ir.name, target }))
}

/// Write the runtime's runs to the service's own output folder again.
#[utoipa::path(delete, path = "/v1/integration-runtimes/{name}/ingestion", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn clear_ingestion(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let ir = s.db.ir(&name).await?;
    s.db.clear_ingestion(&ir.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn keys_of(s: &Service, ir_id: &str) -> ApiResult<IrKeys> {
    let mut keys =
        s.db.ir_keys_sealed(ir_id)
            .await?
            .into_iter()
            .map(|(_, sealed)| s.secrets.open(&sealed).map(|k| String::from_utf8_lossy(&k).to_string()));
    let key1 = keys.next().ok_or_else(|| ServiceError::Database("key 1 is missing".into()))??;
    let key2 = keys.next().ok_or_else(|| ServiceError::Database("key 2 is missing".into()))??;
    Ok(IrKeys { key1, key2 })
}

/// Show an integration runtime's two keys.
#[utoipa::path(get, path = "/v1/integration-runtimes/{name}/keys", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = IrKeys), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_keys(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<IrKeys>> {
    let ir = s.db.ir(&name).await?;
    Ok(Json(keys_of(&s, &ir.id).await?))
}

/// Regenerate one key (1 or 2): the old value stops working at once, the other key keeps working.
#[utoipa::path(post, path = "/v1/integration-runtimes/{name}/keys/{slot}/regenerate", security(("admin" = [])),
    params(("name" = String, Path, description = "name or id"), ("slot" = String, Path, description = "1 or 2")),
    responses((status = 200, body = IrKeys), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn regenerate_key(
    State(s): Svc,
    _: Admin,
    Path((name, slot)): Path<(String, String)>,
) -> ApiResult<Json<IrKeys>> {
    let slot: i64 = match slot.as_str() {
        "1" => 1,
        "2" => 2,
        other => return Err(ApiError::bad(format!("key '{other}' does not exist: use 1 or 2"))),
    };
    let ir = s.db.ir(&name).await?;
    let key = ir_key(&ir.id, slot);
    s.db.replace_ir_key(&ir.id, slot, &hash_key(&key), &s.secrets.seal(key.as_bytes())).await?;
    tracing::info!(name = %ir.name, slot, "integration runtime key regenerated");
    Ok(Json(keys_of(&s, &ir.id).await?))
}

// ---------- nodes ----------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterNode {
    /// The node's name, unique in its runtime (default: the node's id; `surveyor node register` sends the host name).
    pub name: Option<String>,
    /// The node's own API URL, if it serves one.
    pub url: Option<String>,
    pub version: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegisteredNode {
    pub node: Node,
    /// The node's credential for heartbeats: shown once, stored hashed.
    pub credential: String,
    /// The public key (base64) that signs releases, for the node to trust; unset until the first publish.
    pub release_public_key: Option<String>,
}

/// Register a node (authenticated with one of the runtime's keys).
#[utoipa::path(post, path = "/v1/nodes/register", request_body = RegisterNode, security(("ir_key" = [])),
    responses((status = 201, body = RegisteredNode), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn register_node(
    State(s): Svc,
    IrKey(ir_id, max_nodes): IrKey,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<RegisterNode>,
) -> ApiResult<(StatusCode, Json<RegisteredNode>)> {
    let id = new_id("node");
    let name = req.name.clone().unwrap_or_else(|| id.clone());
    check_name("name", &name)?;
    if let Some(url) = &req.url {
        url::Url::parse(url).map_err(|e| ApiError::bad(format!("url: {e}")))?;
    }
    let credential = new_token(&format!("NODE@{id}"));
    let ip = peer.ip().to_string();
    s.db.register_node(
        &id,
        &ir_id,
        max_nodes,
        &name,
        Some(&ip),
        req.url.as_deref(),
        req.version.as_deref(),
        &hash_key(&credential),
    )
    .await?;
    tracing::info!(node = %name, id = %id, ir = %ir_id, "node registered");
    let node = s.db.list_nodes(Some(&ir_id), offline_ms(&s)).await?.into_iter().find(|n| n.id == id);
    let node = node.ok_or_else(|| ServiceError::NotFound("the node vanished".into()))?;
    let release_public_key = s.db.setting(releases::PUBLIC_KEY_SETTING).await?;
    Ok((StatusCode::CREATED, Json(RegisteredNode { node, credential, release_public_key })))
}

fn offline_ms(s: &Service) -> i64 {
    s.config.node_offline_after.as_millis() as i64
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub version: String,
    #[serde(default)]
    pub running_jobs: i64,
    pub cpu_percent: Option<f64>,
    pub memory_used_bytes: Option<i64>,
    pub memory_total_bytes: Option<i64>,
    /// The units this node has in progress: their leases are renewed.
    #[serde(default)]
    pub units: Vec<UnitRef>,
    /// Sent by a release on trial (a node updating): a health check only;
    /// the node's row, leases and rollout step are left as they are.
    #[serde(default)]
    pub trial: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HeartbeatReply {
    pub node_id: String,
    /// Units of this node to stop: their run was canceled or failed, or they
    /// are no longer this node's (their lease expired).
    pub stop_units: Vec<UnitRef>,
    /// The service's version; a node older than it should be upgraded.
    pub service_version: VersionInfo,
    /// A newer release for this node, and whether it is its turn to update.
    pub update: Option<super::rollout::UpdateOffer>,
    /// Return to this version (the one the nodes shared): the rollout that moved this node failed.
    pub revert_to: Option<String>,
    /// The public key (base64) that signs releases: a node registered before the first publish takes it from here.
    pub release_public_key: Option<String>,
}

/// A node's heartbeat (authenticated with its credential).
#[utoipa::path(post, path = "/v1/nodes/heartbeat", request_body = Heartbeat, security(("node" = [])),
    responses((status = 200, body = HeartbeatReply), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn heartbeat(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(hb): ApiJson<Heartbeat>,
) -> ApiResult<Json<HeartbeatReply>> {
    if hb.cpu_percent.is_some_and(|c| !(0.0..=100.0).contains(&c)) {
        return Err(ApiError::bad("cpu_percent must be 0-100"));
    }
    if hb.running_jobs < 0
        || hb.memory_used_bytes.is_some_and(|m| m < 0)
        || hb.memory_total_bytes.is_some_and(|m| m < 0)
    {
        return Err(ApiError::bad("running_jobs and memory must not be negative"));
    }
    if hb.trial {
        return Ok(Json(HeartbeatReply {
            node_id: node,
            stop_units: Vec::new(),
            service_version: s.version(),
            update: None,
            revert_to: None,
            release_public_key: None,
        }));
    }
    let ip = peer.ip().to_string();
    s.db.heartbeat(
        &node,
        Some(&ip),
        &hb.version,
        hb.running_jobs,
        hb.cpu_percent,
        hb.memory_used_bytes,
        hb.memory_total_bytes,
    )
    .await?;
    let held: Vec<(String, i64, i64)> = hb.units.iter().map(|u| (u.run_id.clone(), u.seq, u.attempt)).collect();
    let stop = s.db.renew_leases(&node, &held, super::now_ms() + offline_ms(&s)).await?;
    let stop_units = hb.units.into_iter().filter(|u| stop.iter().any(|(r, q)| *r == u.run_id && *q == u.seq)).collect();
    let (update, revert_to, release_public_key) = releases::heartbeat_update(&s, &node, &hb.version).await?;
    Ok(Json(HeartbeatReply {
        node_id: node,
        stop_units,
        service_version: s.version(),
        update,
        revert_to,
        release_public_key,
    }))
}

/// Take the next queued unit of this node's integration runtime (a run's
/// plan, or a slice of its source): 200 with the job (the source's
/// definition with its connection), 204 when none is queued.
#[utoipa::path(post, path = "/v1/nodes/units/claim", security(("node" = [])),
    responses((status = 200, body = UnitJob), (status = 204), (status = 401, body = ErrorBody)))]
async fn claim_unit(State(s): Svc, NodeAuth(node): NodeAuth) -> ApiResult<Response> {
    let (ir_id, name) = s.db.node_ir(&node).await?;
    let Some(unit) = s.db.claim_unit(Some(&ir_id), &node, &name, offline_ms(&s)).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    match super::runner::prepare(&s, &unit).await {
        Ok(job) => {
            tracing::info!(run = %unit.run_id, unit = unit.seq, node = %name, "unit given to a node");
            Ok(Json(job).into_response())
        }
        Err(e) => {
            // The run cannot start (its scan or source is gone): it fails.
            tracing::warn!(run = %unit.run_id, error = %e, "the run cannot start");
            s.db.fail_plan(&node, &unit.run_id, unit.attempt, &e).await.ok();
            s.db.stop_run_units(&unit.run_id).await?;
            s.wake.notify_one();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// The claim's attempt, as the job gave it.
    pub attempt: i64,
}

/// What a plan found so far.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanReport {
    #[serde(default)]
    pub units: Vec<UnitSpec>,
    /// Where the plan stands, to resume it elsewhere.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub cursor: Option<PlanCursor>,
    /// The source's root as the node names it.
    #[serde(default)]
    pub root_uri: Option<String>,
    /// Every unit is known.
    #[serde(default)]
    pub done: bool,
    /// The plan could not list the source: the run fails with this error.
    #[serde(default)]
    pub failed: Option<String>,
}

/// Report the slices a plan (unit 0) found; refused (409) when the plan is no longer this node's.
#[utoipa::path(post, path = "/v1/nodes/units/{run}/{seq}/plan", request_body = PlanReport, security(("node" = [])),
    params(("run" = String, Path), ("seq" = i64, Path), Attempt),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unit_plan(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    Path((run, seq)): Path<(String, i64)>,
    Query(a): Query<Attempt>,
    ApiJson(plan): ApiJson<PlanReport>,
) -> ApiResult<StatusCode> {
    if seq != 0 {
        return Err(ApiError::bad(format!("unit {seq} is not a plan (the plan is unit 0)")));
    }
    if let Some(error) = &plan.failed {
        s.db.fail_plan(&node, &run, a.attempt, error).await?;
        tracing::warn!(run = %run, error = %error, "the run's plan failed");
    } else {
        let ir_id = s.db.run_ir(&run).await?;
        let cursor = serde_json::to_string(&plan.cursor.unwrap_or_default()).expect("serializes");
        let root_uri = plan.root_uri.as_deref().ok_or_else(|| ApiError::bad("root_uri is missing"))?;
        s.db.add_planned(&node, &run, a.attempt, ir_id.as_deref(), &plan.units, &cursor, root_uri, plan.done).await?;
    }
    s.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Upload a finished unit's result (the body: the unit result stream,
/// `application/octet-stream`). It is checked whole before it is kept:
/// truncated, damaged or oversized (413) uploads are refused and the unit
/// stays as it was; one from a node that no longer holds the unit gets 409.
#[utoipa::path(put, path = "/v1/nodes/units/{run}/{seq}/result", security(("node" = [])),
    params(("run" = String, Path), ("seq" = i64, Path), Attempt),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn unit_result(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    Path((run, seq)): Path<(String, i64)>,
    Query(a): Query<Attempt>,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let dir = s.data.root.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ServiceError::Io { path: dir.display().to_string(), source: e })?;
    let path = dir.join(format!("upload-{}", super::crypto::hex(&super::crypto::random_bytes(8))));
    let _cleanup = RemoveFile(path.clone());
    let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
    let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    let limit = s.config.max_unit_result;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a unit result may be at most {limit} bytes (serve --max-unit-result)"),
            ));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    drop(file);
    let checked = path.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&checked)?;
        Ok::<_, std::io::Error>(surveyor_engine::scan::unit::validate(std::io::BufReader::new(file)))
    })
    .await
    .map_err(|e| ApiError::bad(format!("checking the upload: {e}")))?
    .map_err(io)?
    .map_err(|e| ApiError::bad(format!("the unit result is not valid: {e}")))?;
    super::runner::commit::store_unit_result(&s, &node, &run, seq, a.attempt, &path, &summary).await?;
    Ok(StatusCode::NO_CONTENT)
}

struct RemoveFile(std::path::PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Give a unit back (the node is stopping): queued again at once, for any node.
#[utoipa::path(post, path = "/v1/nodes/units/{run}/{seq}/release", security(("node" = [])),
    params(("run" = String, Path), ("seq" = i64, Path), Attempt),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unit_release(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    Path((run, seq)): Path<(String, i64)>,
    Query(a): Query<Attempt>,
) -> ApiResult<StatusCode> {
    s.db.release_unit(&node, &run, seq, a.attempt).await?;
    tracing::info!(run = %run, unit = seq, node = %node, "unit given back by its node; queued again");
    s.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NodeFilter {
    /// Only the nodes of this integration runtime (name or id).
    pub integration_runtime: Option<String>,
}

/// List nodes with their status.
#[utoipa::path(get, path = "/v1/nodes", params(NodeFilter), security(("admin" = [])),
    responses((status = 200, body = Vec<Node>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_nodes(State(s): Svc, _: Admin, Query(f): Query<NodeFilter>) -> ApiResult<Json<Vec<Node>>> {
    let ir = match &f.integration_runtime {
        Some(name) => Some(s.db.ir(name).await?.id),
        None => None,
    };
    Ok(Json(s.db.list_nodes(ir.as_deref(), offline_ms(&s)).await?))
}

/// Remove a node (by id, or by name when unique); its credential stops working at once.
#[utoipa::path(delete, path = "/v1/nodes/{node}", security(("admin" = [])), params(("node" = String, Path, description = "id or name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_node(State(s): Svc, _: Admin, Path(node): Path<String>) -> ApiResult<StatusCode> {
    s.db.remove_node(&node).await?;
    tracing::info!(node = %node, "node removed");
    Ok(StatusCode::NO_CONTENT)
}

// ---------- sources ----------

/// A source definition: the same fields as a source's TOML file (`name`,
/// `type`, `connection`, `config`, `resource_sets`), as JSON.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SourceDefinitionDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    /// How the host reaches the source, with its credentials (stored encrypted, never returned).
    #[schema(value_type = Object)]
    pub connection: serde_json::Value,
    /// The connector's settings, checked against its JSON Schema.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub resource_sets: Option<serde_json::Value>,
}

/// Fields of a connection whose string values are secrets.
const SECRET_FIELDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "client_secret",
    "account_key",
    "sas",
    "connection_string",
    "credential_secret",
];

/// The connection with every inline secret replaced by `<redacted>`
/// (references to an environment variable or a file are kept).
pub fn redact(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if v.is_string() && SECRET_FIELDS.contains(&k.as_str()) {
                        serde_json::Value::String("<redacted>".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// A secret sent back as `<redacted>` (what `GET` showed) keeps the stored
/// value: a client can edit a source without ever holding its secrets.
fn keep_redacted_secrets(connection: &mut toml::Table, stored: &toml::Table) {
    for (key, value) in connection.iter_mut() {
        let Some(old) = stored.get(key) else { continue };
        if value.as_str() == Some("<redacted>") && SECRET_FIELDS.contains(&key.as_str()) {
            *value = old.clone();
        } else if let (toml::Value::Table(table), toml::Value::Table(old)) = (value, old) {
            keep_redacted_secrets(table, old);
        }
    }
}

fn source_row(s: &Service, id: String, def: &SourceDefinition) -> ApiResult<(SourceRow, serde_json::Value)> {
    check_name("name", &def.name)?;
    def.check(&s.registry()).map_err(|e| ApiError::bad(e.to_string()))?;
    let connection = serde_json::to_value(&def.connection).map_err(|e| ApiError::bad(format!("connection: {e}")))?;
    let definition = serde_json::json!({
        "name": def.name,
        "type": def.source_type,
        "config": serde_json::to_value(&def.config).map_err(|e| ApiError::bad(format!("config: {e}")))?,
        "resource_sets": serde_json::to_value(&def.resource_sets).unwrap_or_default(),
    });
    let sealed = s.secrets.seal(connection.to_string().as_bytes());
    Ok((
        SourceRow {
            id,
            name: def.name.clone(),
            source_type: def.source_type.clone(),
            definition,
            connection_sealed: sealed,
        },
        redact(&connection),
    ))
}

/// Create a source (validated against its connector's JSON Schema; credentials stored encrypted).
#[utoipa::path(post, path = "/v1/sources", request_body = SourceDefinitionDoc, security(("admin" = [])),
    responses((status = 201, body = SourceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_source(
    State(s): Svc,
    _: Admin,
    ApiJson(def): ApiJson<SourceDefinition>,
) -> ApiResult<(StatusCode, Json<SourceView>)> {
    let (row, redacted) = source_row(&s, new_id("src"), &def)?;
    s.db.put_source(&row, &redacted, true).await?;
    tracing::info!(source = %row.name, "source created");
    Ok((StatusCode::CREATED, Json(s.db.source_view_by_name(&row.id).await?)))
}

/// Replace a source's definition.
#[utoipa::path(put, path = "/v1/sources/{name}", request_body = SourceDefinitionDoc, security(("admin" = [])),
    params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = SourceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_source(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(def): ApiJson<SourceDefinition>,
) -> ApiResult<Json<SourceView>> {
    let existing = s.db.source_row(&name).await?;
    if def.name != existing.name {
        return Err(ApiError::bad(format!(
            "name: '{}' does not match the source's name '{}'",
            def.name, existing.name
        )));
    }
    let mut def = def;
    let stored = s.secrets.open(&existing.connection_sealed)?;
    let stored: toml::Table = serde_json::from_slice(&stored)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the stored connection: {e}")))?;
    keep_redacted_secrets(&mut def.connection, &stored);
    let (row, redacted) = source_row(&s, existing.id, &def)?;
    s.db.put_source(&row, &redacted, false).await?;
    Ok(Json(s.db.source_view_by_name(&row.id).await?))
}

/// List sources (secrets redacted).
#[utoipa::path(get, path = "/v1/sources", security(("admin" = [])), responses((status = 200, body = Vec<SourceView>), (status = 401, body = ErrorBody)))]
async fn list_sources(State(s): Svc, _: Admin) -> ApiResult<Json<Vec<SourceView>>> {
    Ok(Json(s.db.list_sources().await?))
}

/// Show a source (secrets redacted).
#[utoipa::path(get, path = "/v1/sources/{name}", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = SourceView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_source(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<SourceView>> {
    Ok(Json(s.db.source_view_by_name(&name).await?))
}

/// Delete a source (refused while scans use it).
#[utoipa::path(delete, path = "/v1/sources/{name}", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_source(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let row = s.db.source_row(&name).await?;
    s.db.delete_source(&row.id, &row.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The verdict of a connection test.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionTest {
    /// Whether the service reached the source and its credentials work.
    pub ok: bool,
    /// Why not: `kind` as in run reports (`auth`, `unreachable`, `not-found`, `config`…).
    pub error: Option<ProbeError>,
}

/// Runs a probe of a stored source on a blocking thread (connector calls are synchronous).
async fn probe<T: Send + 'static>(
    s: &Arc<Service>,
    name: &str,
    call: impl FnOnce(
        &surveyor_engine::host::Runtime,
        &surveyor_engine::host::Registry,
        &SourceDefinition,
    ) -> Result<T, ProbeError>
    + Send
    + 'static,
) -> ApiResult<Result<T, ProbeError>> {
    let definition = s.source_definition(name).await?;
    let (runtime, registry) = (s.runtime.clone(), s.registry());
    tokio::task::spawn_blocking(move || call(&runtime, &registry, &definition))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the probe crashed: {e}")))
}

/// Test a source's connection from the service: reach it and check the
/// credentials, as `surveyor test-connection` does. A failed test is a 200
/// with `ok: false` and the reason.
#[utoipa::path(post, path = "/v1/sources/{name}/test-connection", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = ConnectionTest), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test_source(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<ConnectionTest>> {
    let verdict = probe(&s, &name, probe::test_connection).await?;
    if let Err(e) = &verdict {
        tracing::info!(source = %name, error = %e, "connection test failed");
    }
    Ok(Json(ConnectionTest { ok: verdict.is_ok(), error: verdict.err() }))
}

/// A source connector the service can scan with, and the forms of its settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectorInfo {
    /// The source type it handles (a source's `type`).
    #[serde(rename = "type")]
    pub source_type: String,
    pub plugin: String,
    pub version: String,
    pub description: String,
    /// JSON Schema of the source's `config` (the connector's own).
    #[schema(value_type = Object)]
    pub config_schema: serde_json::Value,
    /// JSON Schema of the source's `connection` (read by the host; secrets are `writeOnly`).
    #[schema(value_type = Option<Object>)]
    pub connection_schema: Option<serde_json::Value>,
}

/// List the source types this service can scan, with the JSON Schemas of their settings.
#[utoipa::path(get, path = "/v1/connectors", security(("admin" = [])),
    responses((status = 200, body = Vec<ConnectorInfo>), (status = 401, body = ErrorBody)))]
async fn list_connectors(State(s): Svc, _: Admin) -> Json<Vec<ConnectorInfo>> {
    use surveyor_engine::host::bindings::types::PluginKind;
    let registry = s.registry();
    let mut connectors: Vec<ConnectorInfo> = registry
        .plugins()
        .filter(|p| p.info.kind == PluginKind::Source)
        .flat_map(|p| {
            p.info.handles.iter().map(move |handles| ConnectorInfo {
                source_type: handles.clone(),
                plugin: p.info.name.clone(),
                version: p.info.version.clone(),
                description: p.info.description.clone(),
                config_schema: serde_json::from_str(&p.info.config_schema).unwrap_or_default(),
                connection_schema: surveyor_engine::sources::connection_schema(handles),
            })
        })
        .collect();
    connectors.sort_by(|a, b| a.source_type.cmp(&b.source_type));
    Json(connectors)
}

/// The next fire times of a trigger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TriggerPreview {
    /// Up to five, RFC 3339; empty for a manual trigger or one whose runs are all past.
    pub next: Vec<String>,
}

/// Check a trigger and show its next five fire times, before saving it (the console's trigger editor).
#[utoipa::path(post, path = "/v1/triggers/preview", request_body = Trigger, security(("admin" = [])),
    responses((status = 200, body = TriggerPreview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn preview_trigger(_: Admin, ApiJson(trigger): ApiJson<Trigger>) -> ApiResult<Json<TriggerPreview>> {
    let now = jiff::Timestamp::now();
    let (_, schedule) = trigger.normalize(now).map_err(ApiError::bad)?;
    let mut next = Vec::new();
    let mut at = schedule.first_at_or_after(now);
    while let Some(t) = at
        && next.len() < 5
    {
        next.push(format!("{t:.3}"));
        at = schedule.next_after(t);
    }
    Ok(Json(TriggerPreview { next }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BrowseQuery {
    /// Where to look, relative to the source's root (a container, a folder, a schema); the top when unset.
    #[serde(default)]
    pub path: String,
}

/// List what is in a source, to choose a scan's scope (as `surveyor browse`).
/// The source's own errors are 404 (`not-found`) or 502 with the reason.
#[utoipa::path(get, path = "/v1/sources/{name}/browse", params(("name" = String, Path, description = "name or id"), BrowseQuery), security(("admin" = [])),
    responses((status = 200, body = Vec<Entry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn browse_source(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    q: Result<Query<BrowseQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<Entry>>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let path = q.path.clone();
    match probe(&s, &name, move |runtime, registry, def| probe::browse(runtime, registry, def, &path)).await? {
        Ok(entries) => Ok(Json(entries)),
        Err(e) => {
            let status = match e.kind.as_str() {
                "not-found" => StatusCode::NOT_FOUND,
                "config" => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            Err(ApiError(status, format!("cannot browse '{name}' at '{}': {e}", q.path)))
        }
    }
}

// ---------- scans ----------

/// The scan rule set.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Resource-set grouping rules (docs/resource-sets.md), overriding the source's.
    #[schema(value_type = Option<Object>)]
    pub resource_sets: Option<serde_json::Value>,
    /// The format connectors (`parquet`, `csv`, `json`…) whose files get a
    /// schema read; all when unset. Other files are catalogued without one.
    pub schema_formats: Option<Vec<String>>,
    /// Classification of sampled values (docs/classification.md): unset or
    /// `enabled: false` reads metadata only; otherwise the system
    /// classifications to apply or exclude, custom rules, and sample limits.
    pub classification: Option<surveyor_engine::classify::ClassificationConfig>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScan {
    pub name: String,
    /// The source's name.
    pub source: String,
    /// Paths under the source's root to scan (default: all).
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub rule_set: RuleSet,
    /// Default: `{"kind": "manual"}`.
    pub trigger: Option<Trigger>,
    /// Read schemas only of files modified since the last complete run.
    #[serde(default)]
    pub incremental: bool,
    /// Run on the nodes of this integration runtime (name or id) rather than
    /// on the service itself (docs/service.md, "Nodes").
    pub integration_runtime: Option<String>,
}

/// Checks a scan's definition and makes its row (`next_run_at` from now).
async fn scan_row(s: &Service, id: String, req: CreateScan) -> ApiResult<ScanRow> {
    check_name("name", &req.name)?;
    for (i, path) in req.scope.iter().enumerate() {
        if path.starts_with('/') || path.split('/').any(|p| p == "..") || path.is_empty() {
            return Err(ApiError::bad(format!(
                "scope[{i}]: '{path}' must be a path relative to the source's root, without '..'"
            )));
        }
    }
    if let Some(rules) = &req.rule_set.resource_sets {
        let grouping: surveyor_engine::scan::resource_sets::GroupingConfig =
            serde_json::from_value(rules.clone()).map_err(|e| ApiError::bad(format!("rule_set.resource_sets: {e}")))?;
        surveyor_engine::scan::resource_sets::Grouper::new(&grouping)
            .map_err(|e| ApiError::bad(format!("rule_set.resource_sets: {e}")))?;
    }
    if let Some(classification) = &req.rule_set.classification {
        surveyor_engine::classify::Classifier::new(classification)
            .map_err(|e| ApiError::bad(format!("rule_set.classification: {e}")))?;
    }
    for (i, name) in req.rule_set.schema_formats.iter().flatten().enumerate() {
        if s.registry().get(name).is_none_or(|p| p.kind() != surveyor_engine::host::bindings::types::PluginKind::Format)
        {
            return Err(ApiError::bad(format!("rule_set.schema_formats[{i}]: no format connector is named '{name}'")));
        }
    }
    let source =
        s.db.source_row(&req.source).await.map_err(|_| ApiError::bad(format!("source: no source '{}'", req.source)))?;
    let ir = match &req.integration_runtime {
        Some(name) => Some(
            s.db.ir(name)
                .await
                .map_err(|_| ApiError::bad(format!("integration_runtime: no integration runtime '{name}'")))?,
        ),
        None => None,
    };
    let now = jiff::Timestamp::now();
    let (trigger, schedule) = req.trigger.unwrap_or_else(Trigger::manual).normalize(now).map_err(ApiError::bad)?;
    Ok(ScanRow {
        id,
        name: req.name,
        source_id: source.id,
        source_name: source.name,
        scope: req.scope,
        rule_set: serde_json::to_value(&req.rule_set).unwrap_or_default(),
        trigger,
        incremental: req.incremental,
        next_run_at: schedule.first_at_or_after(now).map(|t| t.as_millisecond()),
        ir_id: ir.as_ref().map(|r| r.id.clone()),
        ir_name: ir.map(|r| r.name),
    })
}

/// Create a scan of a source, with its trigger.
#[utoipa::path(post, path = "/v1/scans", request_body = CreateScan, security(("admin" = [])),
    responses((status = 201, body = ScanView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_scan(
    State(s): Svc,
    _: Admin,
    ApiJson(req): ApiJson<CreateScan>,
) -> ApiResult<(StatusCode, Json<ScanView>)> {
    let row = scan_row(&s, new_id("scan"), req).await?;
    s.db.put_scan(&row, true).await?;
    s.wake.notify_one();
    tracing::info!(scan = %row.name, "scan created");
    let (row, created) = s.db.scan(&row.id).await?;
    Ok((StatusCode::CREATED, Json(super::state::Db::scan_view(&row, created))))
}

/// Replace a scan's definition (the same body as for creating it; the name
/// cannot change). Its next run is computed again from now; runs queued or in
/// progress are not affected.
#[utoipa::path(put, path = "/v1/scans/{name}", request_body = CreateScan, security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = ScanView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_scan(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<CreateScan>,
) -> ApiResult<Json<ScanView>> {
    let (existing, _) = s.db.scan(&name).await?;
    if req.name != existing.name {
        return Err(ApiError::bad(format!("name: '{}' does not match the scan's name '{}'", req.name, existing.name)));
    }
    let row = scan_row(&s, existing.id, req).await?;
    s.db.put_scan(&row, false).await?;
    s.wake.notify_one();
    tracing::info!(scan = %row.name, "scan updated");
    let (row, created) = s.db.scan(&row.id).await?;
    Ok(Json(super::state::Db::scan_view(&row, created)))
}

/// List scans.
#[utoipa::path(get, path = "/v1/scans", security(("admin" = [])), responses((status = 200, body = Vec<ScanView>), (status = 401, body = ErrorBody)))]
async fn list_scans(State(s): Svc, _: Admin) -> ApiResult<Json<Vec<ScanView>>> {
    Ok(Json(s.db.list_scans().await?))
}

/// Show a scan.
#[utoipa::path(get, path = "/v1/scans/{name}", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 200, body = ScanView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_scan(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<ScanView>> {
    let (row, created) = s.db.scan(&name).await?;
    Ok(Json(super::state::Db::scan_view(&row, created)))
}

/// Delete a scan; its run history stays until retention removes it.
#[utoipa::path(delete, path = "/v1/scans/{name}", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_scan(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let (row, _) = s.db.scan(&name).await?;
    s.db.delete_scan(&row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a scan now.
#[utoipa::path(post, path = "/v1/scans/{name}/runs", security(("admin" = [])), params(("name" = String, Path, description = "name or id")),
    responses((status = 202, body = RunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn trigger_scan(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<(StatusCode, Json<RunView>)> {
    let (row, _) = s.db.scan(&name).await?;
    let id = super::new_run_id();
    s.db.queue_run(&id, &row, "manual").await?;
    s.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(s.db.run(&id).await?)))
}

// ---------- runs ----------

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// A scan's name or id.
    pub scan: Option<String>,
    /// `queued`, `in_progress`, `succeeded`, `completed_with_exceptions`, `failed` or `canceled`.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

const STATES: &[&str] = &["queued", "in_progress", "succeeded", "completed_with_exceptions", "failed", "canceled"];

/// List runs, newest first.
#[utoipa::path(get, path = "/v1/runs", params(RunFilter), security(("admin" = [])),
    responses((status = 200, body = Vec<RunView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_runs(
    State(s): Svc,
    _: Admin,
    q: Result<Query<RunFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<RunView>>> {
    let Query(f) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    if let Some(state) = &f.state
        && !STATES.contains(&state.as_str())
    {
        return Err(ApiError::bad(format!("state: '{state}' is not one of {}", STATES.join(", "))));
    }
    let limit = f.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be 1-1000"));
    }
    Ok(Json(s.db.list_runs(f.scan.as_deref(), f.state.as_deref(), limit).await?))
}

/// Show a run, with its counts.
#[utoipa::path(get, path = "/v1/runs/{id}", security(("admin" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_run(State(s): Svc, _: Admin, Path(id): Path<String>) -> ApiResult<Json<RunView>> {
    let mut run = s.db.run(&id).await?;
    run.units = Some(s.db.unit_progress(&id).await?);
    Ok(Json(run))
}

/// A committed run's report (`report.json`), also for runs that failed.
#[utoipa::path(get, path = "/v1/runs/{id}/report", security(("admin" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn run_report(State(s): Svc, _: Admin, Path(id): Path<String>) -> ApiResult<Response> {
    match s.db.report(&id).await? {
        Some(report) => Ok(([(header::CONTENT_TYPE, "application/json")], report).into_response()),
        None => {
            Err(ApiError(StatusCode::CONFLICT, format!("run {id} has no report yet ({})", s.db.run(&id).await?.state)))
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssetQuery {
    /// Only assets of this type (e.g. `azure_blob_resource_set`).
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Only assets whose name or qualified name contains this (case-insensitive).
    pub q: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssetPage {
    pub assets: Vec<RunAsset>,
    /// The cursor of the next page; unset on the last one.
    pub next: Option<i64>,
}

/// A page of a committed run's assets, in output order (qualified name).
#[utoipa::path(get, path = "/v1/runs/{id}/assets", security(("admin" = [])), params(("id" = String, Path), AssetQuery),
    responses((status = 200, body = AssetPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn run_assets(
    State(s): Svc,
    _: Admin,
    Path(id): Path<String>,
    q: Result<Query<AssetQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AssetPage>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    s.db.run(&id).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be 1-1000"));
    }
    let (assets, next) =
        s.db.run_assets(&id, q.type_name.as_deref(), q.q.as_deref(), q.cursor.unwrap_or(-1), limit).await?;
    Ok(Json(AssetPage { assets, next }))
}

/// Cancel a run: a queued run at once, a run in progress at its next item.
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", security(("admin" = [])), params(("id" = String, Path)),
    responses((status = 202, body = RunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_run(State(s): Svc, _: Admin, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<RunView>)> {
    let run = s.db.run(&id).await?;
    if s.db.cancel_queued(&id).await? {
        return Ok((StatusCode::ACCEPTED, Json(s.db.run(&id).await?)));
    }
    if run.state != "in_progress" {
        return Err(ApiError(StatusCode::CONFLICT, format!("run {id} has already ended ({})", run.state)));
    }
    // Queued units are canceled; units in progress stop at their next item
    // (nodes learn it from their heartbeat's reply); then the run commits as canceled.
    s.db.stop_run_units(&id).await?;
    for unit in s.running.lock().unwrap().values() {
        if unit.run_id == id {
            unit.cancel.store(true, Ordering::SeqCst);
        }
    }
    s.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(s.db.run(&id).await?)))
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such endpoint (the API is under /v1)".into())
}

// ---------- router and spec ----------

pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/version", get(version))
        .route("/v1/integration-runtimes", post(create_ir).get(list_irs))
        .route("/v1/integration-runtimes/{name}", get(show_ir).put(update_ir).delete(delete_ir))
        .route("/v1/integration-runtimes/{name}/keys", get(show_keys))
        .route(
            "/v1/integration-runtimes/{name}/ingestion",
            get(show_ingestion).put(put_ingestion).delete(clear_ingestion),
        )
        .route("/v1/integration-runtimes/{name}/keys/{slot}/regenerate", post(regenerate_key))
        .route("/v1/nodes/register", post(register_node))
        .route("/v1/nodes/heartbeat", post(heartbeat))
        .route("/v1/nodes/units/claim", post(claim_unit))
        .route("/v1/nodes/units/{run}/{seq}/plan", post(unit_plan))
        .route("/v1/nodes/units/{run}/{seq}/result", axum::routing::put(unit_result))
        .route("/v1/nodes/units/{run}/{seq}/release", post(unit_release))
        .route("/v1/nodes/releases/{version}", get(releases::download_release))
        .route("/v1/nodes/update-failed", post(releases::update_failed))
        .route("/v1/releases", get(releases::list_releases))
        .route("/v1/releases/{version}", axum::routing::put(releases::publish_release))
        .route("/v1/integration-runtimes/{name}/update", get(releases::show_update).post(releases::start_update))
        .route("/v1/integration-runtimes/{name}/update-policy", axum::routing::put(releases::put_update_policy))
        .route("/v1/nodes", get(list_nodes))
        .route("/v1/nodes/{node}", axum::routing::delete(remove_node))
        .route("/v1/connectors", get(list_connectors))
        .route("/v1/triggers/preview", post(preview_trigger))
        .route("/v1/sources", post(create_source).get(list_sources))
        .route("/v1/sources/{name}", get(show_source).put(update_source).delete(delete_source))
        .route("/v1/sources/{name}/test-connection", post(test_source))
        .route("/v1/sources/{name}/browse", get(browse_source))
        .route("/v1/scans", post(create_scan).get(list_scans))
        .route("/v1/scans/{name}", get(show_scan).put(update_scan).delete(delete_scan))
        .route("/v1/scans/{name}/runs", post(trigger_scan))
        .route("/v1/runs", get(list_runs))
        .route("/v1/runs/{id}", get(show_run))
        .route("/v1/runs/{id}/report", get(run_report))
        .route("/v1/runs/{id}/assets", get(run_assets))
        .route("/v1/runs/{id}/cancel", post(cancel_run))
        .merge(super::console::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .with_state(service)
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("admin", "The admin token (<data-dir>/admin-token)."),
            ("ir_key", "One of the integration runtime's two keys."),
            ("node", "The credential issued to the node at registration."),
        ] {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(what.to_string());
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Surveyor service API", description = "Integration runtimes, nodes, sources, scans and runs of a Surveyor service."),
    paths(
        healthz, metrics, version,
        create_ir, list_irs, show_ir, update_ir, delete_ir, show_keys, regenerate_key, put_ingestion, show_ingestion, clear_ingestion,
        register_node, heartbeat, claim_unit, unit_plan, unit_result, unit_release, list_nodes, remove_node,
        list_connectors, preview_trigger,
        releases::publish_release, releases::list_releases, releases::download_release, releases::update_failed,
        releases::show_update, releases::put_update_policy, releases::start_update,
        create_source, list_sources, show_source, update_source, delete_source, test_source, browse_source,
        create_scan, list_scans, show_scan, update_scan, delete_scan, trigger_scan,
        list_runs, show_run, run_report, run_assets, cancel_run,
    ),
    components(schemas(ErrorBody, ErrorDetail, super::schedule::TriggerKind, super::schedule::Interval, super::schedule::WeekDay, super::state::RunCounts, super::state::UnitProgress)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The OpenAPI spec, as checked in (`docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    // The spec does not change with each release: the version is the API's.
    doc.info.version = "v1".into();
    doc.to_pretty_json().expect("the spec serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SURVEYOR_UPDATE_OPENAPI=1 cargo test -p surveyor-service --lib openapi` rewrites it.
    #[test]
    fn the_checked_in_openapi_spec_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let generated = openapi_json();
        if std::env::var_os("SURVEYOR_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "docs/openapi.json differs from the API's code: run SURVEYOR_UPDATE_OPENAPI=1 cargo test -p surveyor-service --lib openapi"
        );
        assert!(generated.contains("/v1/integration-runtimes/{name}/keys/{slot}/regenerate"));
    }

    #[test]
    fn a_secret_sent_back_redacted_keeps_the_stored_one() {
        let stored: toml::Table =
            toml::from_str("account = \"a\"\ncredential = { kind = \"account-key\", key = \"s3cr3t\" }").unwrap();
        let mut sent: toml::Table =
            toml::from_str("account = \"b\"\ncredential = { kind = \"account-key\", key = \"<redacted>\" }").unwrap();
        keep_redacted_secrets(&mut sent, &stored);
        assert_eq!(sent["credential"]["key"].as_str(), Some("s3cr3t"));
        assert_eq!(sent["account"].as_str(), Some("b"), "other fields are the sent ones");
        let mut replaced: toml::Table =
            toml::from_str("credential = { kind = \"account-key\", key = \"n3w\" }").unwrap();
        keep_redacted_secrets(&mut replaced, &stored);
        assert_eq!(replaced["credential"]["key"].as_str(), Some("n3w"));
        let mut not_a_secret: toml::Table = toml::from_str("account = \"<redacted>\"").unwrap();
        keep_redacted_secrets(&mut not_a_secret, &stored);
        assert_eq!(not_a_secret["account"].as_str(), Some("<redacted>"), "only secret fields are filled in");
    }

    #[test]
    fn names_are_checked_and_secrets_redacted() {
        assert!(check_name("name", "sales-lake_1.x").is_ok());
        assert!(check_name("name", &"a".repeat(65)).unwrap_err().1.contains("longer than 64"));
        assert!(check_name("name", "../etc").is_err());
        assert!(check_name("name", "").is_err());
        let conn = serde_json::json!({"account": "acct", "credential": {"kind": "account-key", "key": "s3cr3t"},
            "other": {"password": {"env": "PW"}}});
        let r = redact(&conn);
        assert_eq!(r["credential"]["key"], "<redacted>");
        assert_eq!(r["account"], "acct");
        assert_eq!(r["other"]["password"]["env"], "PW");
        assert!(!r.to_string().contains("s3cr3t"));
    }
}
