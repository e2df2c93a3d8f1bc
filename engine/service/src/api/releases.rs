//! The API of releases and updates: publishing and listing releases
//! (admin), downloading one and reporting a failed update (a node), and a
//! runtime's update policy, status and rollouts (admin).

use super::{Admin, ApiError, ApiJson, ApiResult, ErrorBody, NodeAuth, RemoveFile, Svc, offline_ms};
use crate::releases::{self, ReleaseError, newer, parse_version, platform, running_version};
use crate::rollout::{self, UpdateOffer};
use crate::state::{Release, RolloutView, UpdatePolicy};
use crate::{ServiceError, crypto};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The setting that holds the public half of the release signing key.
pub const PUBLIC_KEY_SETTING: &str = "release_public_key";
/// The largest release the service accepts.
const MAX_RELEASE: u64 = 1 << 30;

impl From<ReleaseError> for ApiError {
    fn from(e: ReleaseError) -> Self {
        match e {
            ReleaseError::Io { .. } => ServiceError::Invalid(e.to_string()).into(),
            _ => ApiError::bad(e.to_string()),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    /// SHA-256 of the binary (hex), as signed.
    pub sha256: String,
    /// Ed25519 signature (base64) of `surveyor-release\n<version>\n<sha256>\n`.
    pub signature: String,
    /// The signing key's public half (base64). The first publish makes it
    /// the key the service and its nodes trust; later ones must use it.
    pub public_key: String,
}

/// Writes a request's body to a file in the data directory, at most `limit` bytes.
async fn save_body(
    s: &crate::Service,
    body: axum::body::Body,
    limit: u64,
) -> ApiResult<(std::path::PathBuf, RemoveFile)> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let dir = s.data.root.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ServiceError::Io { path: dir.display().to_string(), source: e })?;
    let path = dir.join(format!("release-{}", crypto::hex(&crypto::random_bytes(8))));
    let cleanup = RemoveFile(path.clone());
    let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
    let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("a release may be at most {limit} bytes")));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok((path, cleanup))
}

/// Publish a release (the body: the `surveyor` binary). It is stored only
/// when it is an executable for the service's platform, its version is
/// higher than the newest release's and the service's, its SHA-256 is the
/// one given and the signature verifies with the trusted key; otherwise 400
/// (409 for another key, or a version published already) and nothing changes.
#[utoipa::path(put, path = "/v1/releases/{version}", security(("admin" = [])),
    params(("version" = String, Path, description = "semantic version, e.g. 1.4.0"), PublishQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Release), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn publish_release(
    State(s): Svc,
    _: Admin,
    Path(version): Path<String>,
    Query(q): Query<PublishQuery>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Release>)> {
    // The body is read first, whatever the verdict: a client cut off mid-upload
    // would see a broken connection instead of the reason.
    let (path, _cleanup) = save_body(&s, body, MAX_RELEASE).await?;
    parse_version(&version)?;
    if let Some(newest) = rollout::newest_release(&s).await?
        && !newer(&version, &newest.version)
    {
        return Err(ApiError::bad(format!(
            "version {version} is not higher than the newest release, {}: publish a higher version",
            newest.version
        )));
    }
    let current = running_version();
    if !newer(&version, &current) {
        return Err(ApiError::bad(format!(
            "version {version} is not higher than the service's own version, {current}: publish a higher version"
        )));
    }
    let trusted = s.db.setting(PUBLIC_KEY_SETTING).await?;
    if let Some(trusted) = &trusted
        && trusted.trim() != q.public_key.trim()
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "the release is signed with the key {}, but the service and its nodes trust the key {}: sign with that key",
                releases::fingerprint(&q.public_key),
                releases::fingerprint(trusted)
            ),
        ));
    }
    let checked = path.clone();
    let what = format!("release {version}");
    let (sha256, size) = tokio::task::spawn_blocking(move || {
        releases::check_executable_file(&checked).map_err(|e| match e {
            ReleaseError::Invalid(m) => ReleaseError::Invalid(m.replace(&checked.display().to_string(), &what)),
            e => e,
        })?;
        let size = std::fs::metadata(&checked).map(|m| m.len()).unwrap_or(0);
        Ok::<_, ReleaseError>((releases::sha256_file(&checked)?, size))
    })
    .await
    .map_err(|e| ApiError::bad(format!("checking the upload: {e}")))??;
    if !sha256.eq_ignore_ascii_case(q.sha256.trim()) {
        return Err(ApiError::bad(format!(
            "the uploaded binary's SHA-256 is {sha256}, not {} as given: the upload was damaged, or the hash is wrong",
            q.sha256.trim()
        )));
    }
    releases::verify(&q.public_key, &version, &sha256, &q.signature)?;
    if trusted.is_none() {
        s.db.set_setting(PUBLIC_KEY_SETTING, q.public_key.trim()).await?;
        tracing::info!(key = %releases::fingerprint(&q.public_key), "release signing key trusted (first publish)");
    }
    let release = Release {
        version: version.clone(),
        sha256,
        signature: q.signature.trim().to_string(),
        size: size as i64,
        platform: platform(),
        published_at: String::new(),
    };
    s.db.add_release(&release, &path).await?;
    tracing::info!(version = %version, size, "release published");
    let stored = s.db.release(&version).await?.ok_or_else(|| ServiceError::NotFound("the release vanished".into()))?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The releases, newest first, and the key that signs them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReleaseList {
    /// The trusted signing key's public half (base64); unset until the first publish.
    pub public_key: Option<String>,
    pub releases: Vec<Release>,
}

/// List the releases.
#[utoipa::path(get, path = "/v1/releases", security(("admin" = [])),
    responses((status = 200, body = ReleaseList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_releases(State(s): Svc, _: Admin) -> ApiResult<Json<ReleaseList>> {
    Ok(Json(ReleaseList { public_key: s.db.setting(PUBLIC_KEY_SETTING).await?, releases: s.db.releases().await? }))
}

/// Download a release's binary (a node that has the go; it checks the hash and signature itself).
#[utoipa::path(get, path = "/v1/nodes/releases/{version}", security(("node" = [])), params(("version" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn download_release(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    Path(version): Path<String>,
) -> ApiResult<Response> {
    let dir = s.data.root.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ServiceError::Io { path: dir.display().to_string(), source: e })?;
    let path = dir.join(format!("download-{}", crypto::hex(&crypto::random_bytes(8))));
    let _cleanup = RemoveFile(path.clone());
    if !s.db.release_to_file(&version, &path).await? {
        return Err(ServiceError::NotFound(format!("no release {version}")).into());
    }
    let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
    // Open, then let the file go: the open handle keeps its bytes until the response is sent.
    let file = tokio::fs::File::open(&path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    tracing::info!(node = %node, version = %version, bytes = len, "release sent to a node");
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 16));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_LENGTH, len.to_string())],
        body,
    )
        .into_response())
}

/// A node's report that it did not move to a release.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFailure {
    pub version: String,
    /// What went wrong (a refused hash or signature, a new binary that did not come up…).
    pub error: String,
}

/// Report a failed update (the node is still on its old version): the rollout stops.
#[utoipa::path(post, path = "/v1/nodes/update-failed", request_body = UpdateFailure, security(("node" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn update_failed(
    State(s): Svc,
    NodeAuth(node): NodeAuth,
    ApiJson(f): ApiJson<UpdateFailure>,
) -> ApiResult<StatusCode> {
    rollout::on_failure(&s, &node, &f.version, &f.error).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A node's version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeVersion {
    pub node: String,
    pub node_id: String,
    pub version: Option<String>,
    /// `online`, `limited` or `offline`.
    pub status: String,
}

/// A runtime's versions, update policy and latest rollout.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateStatus {
    pub integration_runtime: String,
    pub policy: UpdatePolicy,
    /// The oldest version its nodes run (the one all share once a rollout is done).
    pub current_version: Option<String>,
    /// The newest release, when it is newer than `current_version`.
    pub available_version: Option<String>,
    pub nodes: Vec<NodeVersion>,
    /// The latest rollout: its progress, one step per node, and its outcome.
    pub rollout: Option<RolloutView>,
}

async fn update_status(s: &crate::Service, name: &str) -> ApiResult<UpdateStatus> {
    let ir = s.db.ir(name).await?;
    let nodes = s.db.list_nodes(Some(&ir.id), offline_ms(s)).await?;
    let current = nodes
        .iter()
        .filter_map(|n| n.version.clone())
        .min_by(|a, b| if newer(a, b) { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Less });
    let newest = rollout::newest_release(s).await?.map(|r| r.version);
    let available = newest.filter(|v| current.as_ref().is_none_or(|c| newer(v, c)));
    Ok(UpdateStatus {
        integration_runtime: ir.name.clone(),
        policy: s.db.update_policy(&ir.id).await?,
        current_version: current,
        available_version: available,
        nodes: nodes
            .into_iter()
            .map(|n| NodeVersion { node: n.name, node_id: n.id, version: n.version, status: n.status })
            .collect(),
        rollout: s.db.latest_rollout(&ir.id).await?,
    })
}

/// A runtime's versions, update policy and rollout.
#[utoipa::path(get, path = "/v1/integration-runtimes/{name}/update", security(("admin" = [])), params(("name" = String, Path)),
    responses((status = 200, body = UpdateStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn show_update(State(s): Svc, _: Admin, Path(name): Path<String>) -> ApiResult<Json<UpdateStatus>> {
    Ok(Json(update_status(&s, &name).await?))
}

/// Set a runtime's update policy: `auto` (optionally inside a daily window) or `manual`.
#[utoipa::path(put, path = "/v1/integration-runtimes/{name}/update-policy", request_body = UpdatePolicy, security(("admin" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = UpdateStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn put_update_policy(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(policy): ApiJson<UpdatePolicy>,
) -> ApiResult<Json<UpdateStatus>> {
    if policy.mode != "auto" && policy.mode != "manual" {
        return Err(ApiError::bad(format!("mode: '{}' is neither 'auto' nor 'manual'", policy.mode)));
    }
    if let Some(w) = &policy.window {
        rollout::check_window(w).map_err(ApiError::bad)?;
    }
    let ir = s.db.ir(&name).await?;
    s.db.set_update_policy(&ir.id, &policy).await?;
    tracing::info!(ir = %ir.name, mode = %policy.mode, "update policy set");
    Ok(Json(update_status(&s, &name).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUpdate {
    /// The release to roll out (default: the newest).
    #[serde(default)]
    pub version: Option<String>,
}

/// Start a rollout now (whatever the policy and window), or again after one failed.
#[utoipa::path(post, path = "/v1/integration-runtimes/{name}/update", request_body = StartUpdate, security(("admin" = [])),
    params(("name" = String, Path)),
    responses((status = 202, body = UpdateStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn start_update(
    State(s): Svc,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<StartUpdate>,
) -> ApiResult<(StatusCode, Json<UpdateStatus>)> {
    let ir = s.db.ir(&name).await?;
    let release = match &req.version {
        Some(v) => s.db.release(v).await?.ok_or_else(|| ServiceError::NotFound(format!("no release {v}")))?,
        None => {
            rollout::newest_release(&s).await?.ok_or_else(|| ServiceError::NotFound("no release published".into()))?
        }
    };
    let status = update_status(&s, &name).await?;
    if !status.nodes.iter().any(|n| n.version.as_ref().is_none_or(|v| newer(&release.version, v))) {
        return Err(ApiError::bad(format!("every node of {} already runs {} or newer", ir.name, release.version)));
    }
    if !s.db.start_rollout(&ir.id, &release.version, status.current_version.as_deref(), true).await? {
        return Err(ApiError(StatusCode::CONFLICT, format!("a rollout to {} is in progress", ir.name)));
    }
    tracing::info!(ir = %ir.name, version = %release.version, "rollout started by an administrator");
    Ok((StatusCode::ACCEPTED, Json(update_status(&s, &name).await?)))
}

/// What a heartbeat's reply says about updates: the offer, the version to
/// return to (after a failed rollout), and the trusted key.
pub(super) async fn heartbeat_update(
    s: &crate::Service,
    node: &str,
    version: &str,
) -> ApiResult<(Option<UpdateOffer>, Option<String>, Option<String>)> {
    let offer = rollout::on_heartbeat(s, node, version).await?;
    let revert = rollout::revert_to(s, node, version).await?;
    Ok((offer, revert, s.db.setting(PUBLIC_KEY_SETTING).await?))
}
