//! A node installing a release, once the service gave it the go and its
//! units are finished or given back.
//!
//! The design keeps a process that works alive until the new binary has
//! proved itself, so that a release that does not start never replaces
//! anything:
//!
//! 1. download the release through the service (and the runtime's proxy)
//!    next to the running binary, as `<exe>.new`;
//! 2. check it: its SHA-256 is the release's, the signature of version and
//!    hash verifies with the key the node trusts since registration, and it
//!    is an executable for this platform — else it is deleted and refused;
//! 3. try it: start `<exe>.new` with the same arguments in trial mode
//!    ([`TRIAL_ENV`]): it only sends heartbeats marked `trial` (health
//!    checks, which change nothing on the service) and, after the first one
//!    answered, says it is healthy. If it exits or does not say so within the
//!    trial time, it is stopped and deleted: the node rolls back to what it
//!    never left, and reports why;
//! 4. switch: the running binary is kept as `<exe>.previous`, `<exe>.new`
//!    is renamed over `<exe>` (atomic), and the process re-executes itself
//!    (same process id, so systemd sees no restart), now in the new binary.
//!
//! The node's user must be able to write the binary's folder.

use super::client::{Client, seg};
use super::releases;
use super::rollout::UpdateOffer;
use std::convert::Infallible;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set (to the file to create once healthy) on a release started on trial.
pub const TRIAL_ENV: &str = "SURVEYOR_UPDATE_TRIAL";

/// `<exe>` with a suffix added to its file name.
fn sibling(exe: &Path, suffix: &str) -> PathBuf {
    let mut name = exe.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    exe.with_file_name(name)
}

/// Deletes a file when dropped, unless disarmed.
struct Discard(Option<PathBuf>);

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Installs `offer` and re-executes into it; returns only on failure (the
/// reason, for the service), with the node still on its binary.
pub fn install(
    client: &Client,
    data_dir: &Path,
    public_key: Option<&str>,
    offer: &UpdateOffer,
    trial_time: Duration,
    stop: &AtomicBool,
) -> Result<Infallible, String> {
    let version = &offer.version;
    let key = public_key.ok_or_else(|| {
        format!("refused release {version}: this node trusts no release signing key (register it again)")
    })?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this node's binary: {e}"))?;
    let new = sibling(&exe, ".new");
    let mut discard = Discard(Some(new.clone()));
    tracing::info!(version = %version, to = %new.display(), "downloading the release");
    let _ = std::fs::remove_file(&new);
    client
        .download(&format!("/v1/nodes/releases/{}", seg(version)), &new)
        .map_err(|e| format!("downloading release {version}: {e}"))?;
    let sha256 = releases::sha256_file(&new).map_err(|e| e.to_string())?;
    if !sha256.eq_ignore_ascii_case(&offer.sha256) {
        return Err(format!(
            "refused release {version}: the downloaded binary's SHA-256 is {sha256}, the release's is {}",
            offer.sha256
        ));
    }
    releases::verify(key, version, &sha256, &offer.signature).map_err(|e| format!("refused release {version}: {e}"))?;
    releases::check_executable_file(&new).map_err(|e| format!("refused release {version}: {e}"))?;
    std::fs::set_permissions(&new, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", new.display()))?;
    tracing::info!(version = %version, "release verified (hash, signature, platform); trying it");
    try_release(&new, data_dir, version, trial_time, stop)?;
    if stop.load(Ordering::SeqCst) {
        return Err(format!("the node is stopping (SIGTERM): release {version} was not installed"));
    }

    let previous = sibling(&exe, ".previous");
    let _ = std::fs::remove_file(&previous);
    std::fs::hard_link(&exe, &previous)
        .or_else(|_| std::fs::copy(&exe, &previous).map(|_| ()))
        .map_err(|e| format!("keeping the previous binary as {}: {e}", previous.display()))?;
    std::fs::rename(&new, &exe).map_err(|e| format!("replacing {}: {e}", exe.display()))?;
    discard.0 = None;
    if let Some(dir) = exe.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    tracing::info!(version = %version, binary = %exe.display(), previous = %previous.display(),
        "release installed; restarting into it");
    let error = Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    // Still here: the new binary could not be executed. Put the old one back.
    let restored = std::fs::rename(&previous, &exe);
    Err(format!(
        "starting release {version}: {error}; {}",
        match restored {
            Ok(()) => "the previous binary is back".to_string(),
            Err(e) => format!("restoring the previous binary failed too: {e}"),
        }
    ))
}

/// Returns to the previous binary (`<exe>.previous`, which must report
/// `version`) and re-executes into it; returns only on failure.
pub fn revert(version: &str) -> Result<Infallible, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this node's binary: {e}"))?;
    let previous = sibling(&exe, ".previous");
    let out = Command::new(&previous)
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("no previous binary to return to at {}: {e}", previous.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let found = text.split_whitespace().nth(1).unwrap_or_default();
    if !out.status.success() || found != version {
        return Err(format!("the previous binary {} is version '{found}', not {version}", previous.display()));
    }
    std::fs::rename(&previous, &exe).map_err(|e| format!("replacing {}: {e}", exe.display()))?;
    tracing::warn!(version = %version, binary = %exe.display(), "previous binary restored; restarting into it");
    let error = Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    Err(format!("starting the previous binary: {error}"))
}

/// Spawns `command`, retrying while its just-written executable is "busy"
/// (ETXTBSY): a process started by another thread at the moment the file
/// was still open for writing holds a copy of that descriptor until it
/// calls exec, a few milliseconds at most. Without the retry, a release
/// would be rolled back for a race in this process, not for a fault of its own.
pub fn spawn_when_not_busy(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Starts the new binary on trial and waits for it to say it is healthy.
fn try_release(
    new: &Path,
    data_dir: &Path,
    version: &str,
    trial_time: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    let healthy = data_dir.join("update-trial.ok");
    let _ = std::fs::remove_file(&healthy);
    let mut child = spawn_when_not_busy(
        Command::new(new).args(std::env::args_os().skip(1)).env(TRIAL_ENV, &healthy).stdin(Stdio::null()),
    )
    .map_err(|e| format!("release {version} does not start: {e}"))?;
    let deadline = Instant::now() + trial_time;
    let outcome = loop {
        if healthy.exists() {
            break Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => break Err(format!("release {version} exited at start ({status}); rolled back")),
            Err(e) => break Err(format!("release {version}: {e}; rolled back")),
            Ok(None) => {}
        }
        if stop.load(Ordering::SeqCst) {
            break Err(format!("the node is stopping (SIGTERM): release {version} was not installed"));
        }
        if Instant::now() > deadline {
            break Err(format!(
                "release {version} did not report healthy within {} s; rolled back",
                trial_time.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    end_trial(&mut child);
    let _ = std::fs::remove_file(&healthy);
    match &outcome {
        Ok(()) => tracing::info!(version = %version, "the release came up healthy"),
        Err(e) => tracing::error!("{e}"),
    }
    outcome
}

/// SIGTERM, then SIGKILL after 10 s.
fn end_trial(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(child), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A release on trial: heartbeats only (no claims), and `healthy` created
/// after the first one the service answered; until `stop`.
pub fn trial(client: &Client, healthy: &Path, poll: Duration, stop: &AtomicBool) -> Result<(), super::ServiceError> {
    tracing::info!(version = %releases::running_version(), "on trial: heartbeats only");
    let mut said = false;
    while !stop.load(Ordering::SeqCst) {
        let mut body = super::agent::heartbeat_body(&[]);
        body["trial"] = true.into();
        match client.post("/v1/nodes/heartbeat", &body) {
            Ok(_) if !said => {
                std::fs::write(healthy, b"ok\n")
                    .map_err(|e| super::ServiceError::Io { path: healthy.display().to_string(), source: e })?;
                said = true;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "heartbeat on trial"),
        }
        let round = Instant::now();
        while round.elapsed() < poll && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}
