//! Rolling updates, as the service runs them: a runtime's nodes move to a
//! newer release one at a time, while the others keep working.
//!
//! Everything is decided in a node's heartbeat, from the database (so any
//! replica answers the same): a rollout starts when a node of an `auto`
//! runtime reports a version older than the newest release (inside the
//! maintenance window, if one is set), or when an administrator starts it;
//! the first node that asks while no other node has the go gets it
//! (compare-and-set); its step succeeds when it heartbeats with the new
//! version (from the switched binary: a release on trial only checks its
//! health, see [`super::updater`]), so the next node's turn comes once the
//! previous one works again; the step fails when it reports that it refused the release or rolled
//! back, or when it has not come back within [`STEP_TIMEOUT`]. A failed step
//! stops the rollout: no other node gets the go, the nodes it already moved
//! are told to return to the version all nodes shared ([`revert_to`]), and
//! an `auto` runtime does not try that release again (an administrator may,
//! with `surveyor ir update`).

use super::releases::{newer, platform};
use super::state::{Release, UpdateWindow};
use super::{Service, ServiceError, now_ms};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a node with the go may take to come back on the new version.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A newer release, in a heartbeat's reply.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateOffer {
    pub version: String,
    pub sha256: String,
    pub signature: String,
    pub size: i64,
    /// This node's turn: update now (stop claiming, finish or give back its
    /// units, download, verify, try, switch).
    pub go: bool,
}

fn offer(release: &Release, go: bool) -> UpdateOffer {
    UpdateOffer {
        version: release.version.clone(),
        sha256: release.sha256.clone(),
        signature: release.signature.clone(),
        size: release.size,
        go,
    }
}

/// Checks a maintenance window's fields; the message names the wrong one.
pub fn check_window(w: &UpdateWindow) -> Result<(), String> {
    for (field, value) in [("window.start", &w.start), ("window.end", &w.end)] {
        value.parse::<jiff::civil::Time>().map_err(|e| format!("{field}: '{value}' is not HH:MM ({e})"))?;
    }
    if let Some(tz) = &w.time_zone {
        jiff::tz::TimeZone::get(tz).map_err(|e| format!("window.time_zone: {e}"))?;
    }
    if w.start == w.end {
        return Err("window: start and end are the same time".into());
    }
    Ok(())
}

/// Whether `now` is inside the window (no window: always).
pub fn in_window(w: Option<&UpdateWindow>, now: jiff::Timestamp) -> bool {
    let Some(w) = w else { return true };
    let tz = w.time_zone.as_deref().and_then(|t| jiff::tz::TimeZone::get(t).ok()).unwrap_or(jiff::tz::TimeZone::UTC);
    let (Ok(start), Ok(end)) = (w.start.parse::<jiff::civil::Time>(), w.end.parse::<jiff::civil::Time>()) else {
        return false;
    };
    let t = now.to_zoned(tz).time();
    if start <= end { start <= t && t < end } else { t >= start || t < end }
}

/// The newest release for the service's platform (nodes run on the same).
pub async fn newest_release(s: &Service) -> Result<Option<Release>, ServiceError> {
    Ok(s.db.releases().await?.into_iter().find(|r| r.platform == platform()))
}

/// What a node's heartbeat reply says about updates; moves the runtime's
/// rollout along (see the module's documentation).
pub async fn on_heartbeat(s: &Service, node_id: &str, version: &str) -> Result<Option<UpdateOffer>, ServiceError> {
    let (ir_id, name) = s.db.node_ir(node_id).await?;
    let Some(newest) = newest_release(s).await? else { return Ok(None) };
    let policy = s.db.update_policy(&ir_id).await?;
    let window_open = policy.mode != "auto" || in_window(policy.window.as_ref(), jiff::Timestamp::now());
    let mut active = s.db.active_rollout(&ir_id).await?;
    if active.is_none()
        && policy.mode == "auto"
        && window_open
        && newer(&newest.version, version)
        && s.db.rollout(&ir_id, &newest.version).await?.is_none()
        && s.db.start_rollout(&ir_id, &newest.version, Some(version), false).await?
    {
        tracing::info!(ir = %ir_id, version = %newest.version, from = %version, "rollout started");
        active = s.db.active_rollout(&ir_id).await?;
    }
    let Some(rollout) = active else {
        return Ok(newer(&newest.version, version).then(|| offer(&newest, false)));
    };
    let Some(release) = s.db.release(&rollout.version).await? else { return Ok(None) };
    if let Some((state, started)) = s.db.rollout_step(&ir_id, &rollout.version, node_id).await?
        && state == "in_progress"
    {
        if version == rollout.version {
            if s.db.finish_step(&ir_id, &rollout.version, node_id, None).await? {
                tracing::info!(node = %name, version = %version, "node updated: it is back on the new version");
            }
            finish_if_done(s, &ir_id, &rollout.version).await?;
            return Ok(None);
        }
        if now_ms() - started > STEP_TIMEOUT.as_millis() as i64 {
            let error =
                format!("node {name} did not come back on {} within {} s", rollout.version, STEP_TIMEOUT.as_secs());
            s.db.finish_step(&ir_id, &rollout.version, node_id, Some(&error)).await?;
            tracing::error!(node = %name, "{error}: the rollout is stopped");
            return Ok(None);
        }
        return Ok(Some(offer(&release, true)));
    }
    if !newer(&rollout.version, version) {
        finish_if_done(s, &ir_id, &rollout.version).await?;
        return Ok(None);
    }
    if window_open && rollout.current_node.is_none() && s.db.take_turn(&ir_id, &rollout.version, node_id, &name).await?
    {
        tracing::info!(node = %name, version = %rollout.version, "node gets the go to update");
        return Ok(Some(offer(&release, true)));
    }
    Ok(Some(offer(&release, false)))
}

/// A node reports that it did not move to `version`: its step, and the rollout, fail.
pub async fn on_failure(s: &Service, node_id: &str, version: &str, error: &str) -> Result<(), ServiceError> {
    let (ir_id, name) = s.db.node_ir(node_id).await?;
    let error = format!("node {name}: {error}");
    if s.db.finish_step(&ir_id, version, node_id, Some(&error)).await? {
        tracing::error!(version = %version, "{error}; the rollout is stopped");
    }
    Ok(())
}

/// The version a node should return to: the one the nodes shared before the
/// runtime's latest rollout, when that rollout failed and this node is on its release.
pub async fn revert_to(s: &Service, node_id: &str, version: &str) -> Result<Option<String>, ServiceError> {
    let (ir_id, _) = s.db.node_ir(node_id).await?;
    let Some(rollout) = s.db.latest_rollout(&ir_id).await? else { return Ok(None) };
    Ok(rollout
        .from_version
        .filter(|from| rollout.state == "failed" && rollout.version == version && newer(version, from)))
}

/// Marks the rollout succeeded once every node of the runtime runs its version.
async fn finish_if_done(s: &Service, ir_id: &str, version: &str) -> Result<(), ServiceError> {
    let versions = s.db.node_versions(ir_id).await?;
    if versions.iter().all(|(_, v)| v.as_deref() == Some(version)) && s.db.succeed_rollout(ir_id, version).await? {
        tracing::info!(ir = %ir_id, version = %version, "rollout succeeded: every node runs it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str, tz: Option<&str>) -> UpdateWindow {
        UpdateWindow { start: start.into(), end: end.into(), time_zone: tz.map(str::to_string) }
    }

    #[test]
    fn a_window_may_span_midnight_and_has_a_time_zone() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let night = window("22:00", "04:00", None);
        assert!(in_window(Some(&night), at("2026-12-03T23:30:00Z")));
        assert!(in_window(Some(&night), at("2026-12-03T03:59:00Z")));
        assert!(!in_window(Some(&night), at("2026-12-03T04:00:00Z")));
        let berlin = window("01:00", "03:00", Some("Europe/Berlin"));
        assert!(in_window(Some(&berlin), at("2026-12-03T00:30:00Z")), "01:30 in Berlin");
        assert!(!in_window(Some(&berlin), at("2026-12-03T02:30:00Z")), "03:30 in Berlin");
        assert!(in_window(None, at("2026-12-03T12:00:00Z")));
    }

    #[test]
    fn a_bad_window_names_its_field() {
        assert!(check_window(&window("1am", "03:00", None)).unwrap_err().contains("window.start"));
        assert!(check_window(&window("01:00", "03:00", Some("Mars/Olympus"))).unwrap_err().contains("time_zone"));
        assert!(check_window(&window("01:00", "01:00", None)).is_err());
        check_window(&window("01:00", "03:00", Some("Europe/Berlin"))).unwrap();
    }
}
