//! Proxy settings of the runtime: *none*, *system* (the standard
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` variables) or
//! *custom* (address, port, optional user and password, bypass list).
//!
//! They apply to every outbound HTTP connection of the runtime (the `http`
//! capability, token requests, the Azure Storage clients and the sink, which
//! build their clients with [`apply`] or [`crate::net::http_client_builder`]).
//! SQL (TDS) connections do not go through a proxy.
//!
//! The settings live in `<data-dir>/proxy.json` (written by `surveyor proxy
//! set`). The password is stored encrypted (ChaCha20-Poly1305) with a key
//! kept in `<data-dir>/proxy.key`, created with mode 0600; it is never
//! printed or logged. [`current`] re-reads the file when it changes, so a
//! change applies to new connections without restarting the runtime.
//!
//! A bypass list entry is a host name (`intranet.contoso.com`), a wildcard
//! (`*.contoso.com`, or `.contoso.com`, matching the domain and its
//! sub-domains), an IP address, a CIDR block (`10.0.0.0/8`, `fd00::/8`) or
//! `*` (everything goes direct). `localhost` and loopback addresses are not
//! bypassed implicitly: list them if they should be.

use crate::sources::Secret;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// The settings file in the data folder.
pub const SETTINGS_FILE: &str = "proxy.json";
/// The key that encrypts the proxy password.
pub const KEY_FILE: &str = "proxy.key";

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// How outbound HTTP connections reach the network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySettings {
    /// Direct connections; environment variables are ignored.
    #[default]
    None,
    /// The standard environment variables of the runtime's process.
    System,
    Custom(CustomProxy),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomProxy {
    /// Host name or IP address (`proxy.contoso.com`; an `http://` prefix is accepted).
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Destinations that go direct.
    pub bypass: Vec<String>,
}

impl CustomProxy {
    /// `http://host:port`, without credentials (safe to print).
    pub fn url(&self) -> String {
        let host = self.address.trim_start_matches("http://").trim_end_matches('/');
        if host.contains(':') && !host.starts_with('[') {
            format!("http://[{host}]:{}", self.port)
        } else {
            format!("http://{host}:{}", self.port)
        }
    }
}

/// The file's shape: the password only as ciphertext.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// base64(nonce ‖ ciphertext) of the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_encrypted: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bypass: Vec<String>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ProxyError + '_ {
    move |e| ProxyError::Io { path: path.display().to_string(), message: e.to_string() }
}

/// The data folder the settings are read from: the one set with
/// [`set_data_dir`], else `SURVEYOR_DATA_DIR`, else `./surveyor-data`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = DATA_DIR.get() {
        return dir.clone();
    }
    std::env::var_os("SURVEYOR_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("surveyor-data"))
}

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the data folder for this process (the service and the CLI call it
/// once at start with `--data-dir`).
pub fn set_data_dir(dir: impl Into<PathBuf>) {
    let _ = DATA_DIR.set(dir.into());
}

type Cached = Option<(PathBuf, Option<SystemTime>, ProxySettings)>;
static CACHE: Mutex<Cached> = Mutex::new(None);

/// The settings in force now: re-read from the data folder when its file
/// changed. A file that cannot be read means no proxy, with a warning.
pub fn current() -> ProxySettings {
    let dir = data_dir();
    let file = dir.join(SETTINGS_FILE);
    let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((d, m, settings)) = cache.as_ref()
        && *d == dir
        && *m == modified
    {
        return settings.clone();
    }
    let settings = match load(&dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("proxy settings unreadable, connecting directly: {e}");
            ProxySettings::None
        }
    };
    *cache = Some((dir, modified, settings.clone()));
    settings
}

/// Reads the settings of a data folder (none when there is no file).
pub fn load(dir: &Path) -> Result<ProxySettings, ProxyError> {
    let file = dir.join(SETTINGS_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProxySettings::None),
        Err(e) => return Err(io_err(&file)(e)),
    };
    let stored: Stored =
        serde_json::from_str(&text).map_err(|e| ProxyError::Invalid(format!("{}: {e}", file.display())))?;
    match stored.mode.as_str() {
        "none" => Ok(ProxySettings::None),
        "system" => Ok(ProxySettings::System),
        "custom" => {
            let password = match &stored.password_encrypted {
                Some(sealed) => Some(open(dir, sealed)?),
                None => None,
            };
            Ok(ProxySettings::Custom(CustomProxy {
                address: stored
                    .address
                    .ok_or_else(|| ProxyError::Invalid(format!("{}: no address", file.display())))?,
                port: stored.port.ok_or_else(|| ProxyError::Invalid(format!("{}: no port", file.display())))?,
                user: stored.user,
                password,
                bypass: stored.bypass,
            }))
        }
        other => Err(ProxyError::Invalid(format!("{}: unknown mode '{other}'", file.display()))),
    }
}

/// Writes the settings (the file is replaced atomically).
pub fn save(dir: &Path, settings: &ProxySettings) -> Result<(), ProxyError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let stored = match settings {
        ProxySettings::None => Stored { mode: "none".into(), ..Default::default() },
        ProxySettings::System => Stored { mode: "system".into(), ..Default::default() },
        ProxySettings::Custom(c) => {
            validate(c)?;
            Stored {
                mode: "custom".into(),
                address: Some(c.address.clone()),
                port: Some(c.port),
                user: c.user.clone(),
                password_encrypted: c.password.as_ref().map(|p| seal(dir, p)).transpose()?,
                bypass: c.bypass.clone(),
            }
        }
    };
    let file = dir.join(SETTINGS_FILE);
    let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
    let text = serde_json::to_string_pretty(&stored).expect("serialize settings");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &file).map_err(io_err(&file))?;
    Ok(())
}

fn validate(c: &CustomProxy) -> Result<(), ProxyError> {
    let host = c.address.trim_start_matches("http://");
    if host.is_empty() || host.contains('/') || host.contains('@') || host.contains(char::is_whitespace) {
        return Err(ProxyError::Invalid(format!(
            "proxy address '{}' is not a host name or IP address (give the port separately)",
            c.address
        )));
    }
    if c.port == 0 {
        return Err(ProxyError::Invalid("proxy port must be 1-65535".into()));
    }
    if c.password.is_some() && c.user.is_none() {
        return Err(ProxyError::Invalid("a proxy password needs a user".into()));
    }
    for entry in &c.bypass {
        Bypass::parse(entry)?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ProxyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io_err(path))
}

/// The data folder's key, created (32 random bytes, mode 0600) if missing.
fn key(dir: &Path, create: bool) -> Result<ChaCha20Poly1305, ProxyError> {
    let path = dir.join(KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k).map_err(|e| ProxyError::Invalid(format!("no randomness for the key: {e}")))?;
            write_private(&path, &k)?;
            k.to_vec()
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    ChaCha20Poly1305::new_from_slice(&bytes)
        .map_err(|_| ProxyError::Invalid(format!("{}: not a 32-byte key", path.display())))
}

fn seal(dir: &Path, password: &Secret) -> Result<String, ProxyError> {
    use base64::Engine;
    let cipher = key(dir, true)?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| ProxyError::Invalid(format!("no randomness for the nonce: {e}")))?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), password.expose().as_bytes())
        .map_err(|_| ProxyError::Invalid("cannot encrypt the proxy password".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

fn open(dir: &Path, sealed: &str) -> Result<Secret, ProxyError> {
    use base64::Engine;
    let bad = || {
        ProxyError::Invalid(format!(
            "the stored proxy password cannot be decrypted with {} (set the proxy again)",
            dir.join(KEY_FILE).display()
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| bad())?;
    if bytes.len() < 12 + 16 {
        return Err(bad());
    }
    let cipher = key(dir, false)?;
    let nonce: [u8; 12] = bytes[..12].try_into().expect("12 bytes");
    let plain = cipher.decrypt(&Nonce::from(nonce), &bytes[12..]).map_err(|_| bad())?;
    String::from_utf8(plain).map(Secret::new).map_err(|_| bad())
}

/// One bypass list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// `*`: everything goes direct.
    All,
    /// An exact host name (lowercase).
    Host(String),
    /// `*.contoso.com` / `.contoso.com`: the domain and its sub-domains.
    Domain(String),
    /// An address or a block.
    Cidr(IpAddr, u8),
}

impl Bypass {
    pub fn parse(entry: &str) -> Result<Bypass, ProxyError> {
        let e = entry.trim().to_ascii_lowercase();
        if e.is_empty() {
            return Err(ProxyError::Invalid("empty bypass entry".into()));
        }
        if e == "*" {
            return Ok(Bypass::All);
        }
        if let Some((addr, bits)) = e.split_once('/') {
            let ip: IpAddr =
                addr.parse().map_err(|_| ProxyError::Invalid(format!("bypass entry '{entry}': not an IP block")))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits: u8 = bits
                .parse()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| ProxyError::Invalid(format!("bypass entry '{entry}': prefix length 0-{max}")))?;
            return Ok(Bypass::Cidr(ip, bits));
        }
        if let Ok(ip) = e.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(Bypass::Cidr(ip, if ip.is_ipv4() { 32 } else { 128 }));
        }
        if let Some(domain) = e.strip_prefix("*.").or_else(|| e.strip_prefix('.')) {
            return Ok(Bypass::Domain(domain.to_string()));
        }
        if e.contains('*') {
            return Err(ProxyError::Invalid(format!("bypass entry '{entry}': a wildcard may only lead (*.domain)")));
        }
        Ok(Bypass::Host(e))
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match self {
            Bypass::All => true,
            Bypass::Host(h) => host == *h,
            Bypass::Domain(d) => host == *d || host.ends_with(&format!(".{d}")),
            Bypass::Cidr(net, bits) => match host.parse::<IpAddr>() {
                Ok(ip) => in_block(ip, *net, *bits),
                Err(_) => false,
            },
        }
    }
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Where a request to `url` goes: `Some(proxy URL)` or direct (`None`).
/// The proxy URL carries no credentials.
pub fn route(settings: &ProxySettings, url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    match settings {
        ProxySettings::None => None,
        ProxySettings::Custom(c) => {
            let bypass: Vec<Bypass> = c.bypass.iter().filter_map(|b| Bypass::parse(b).ok()).collect();
            (!bypass.iter().any(|b| b.matches(host))).then(|| c.url())
        }
        ProxySettings::System => {
            let var =
                |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
            let no_proxy = var(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
            let bypassed = no_proxy.split(',').filter_map(|e| Bypass::parse(e).ok()).any(|b| b.matches(host));
            if bypassed {
                return None;
            }
            let proxy = match url.scheme() {
                "https" => var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
                _ => var(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]),
            }?;
            Some(if proxy.contains("://") { proxy } else { format!("http://{proxy}") })
        }
    }
}

/// The `reqwest` proxy for these settings, or `None` for direct connections.
/// Give it to a client builder after `.no_proxy()` (which [`apply`] does).
pub fn reqwest_proxy(settings: &ProxySettings) -> Option<reqwest::Proxy> {
    match settings {
        ProxySettings::None => None,
        ProxySettings::System => {
            let s = settings.clone();
            Some(reqwest::Proxy::custom(move |url| route(&s, url)))
        }
        ProxySettings::Custom(c) => {
            let s = settings.clone();
            let proxy = reqwest::Proxy::custom(move |url| route(&s, url));
            Some(match (&c.user, &c.password) {
                (Some(user), Some(password)) => proxy.basic_auth(user, password.expose()),
                (Some(user), None) => proxy.basic_auth(user, ""),
                _ => proxy,
            })
        }
    }
}

/// A client builder with these settings: direct connections, or through the
/// proxy (the bypass list and `NO_PROXY` going direct).
pub fn apply(builder: reqwest::blocking::ClientBuilder, settings: &ProxySettings) -> reqwest::blocking::ClientBuilder {
    let builder = builder.no_proxy();
    match reqwest_proxy(settings) {
        Some(p) => builder.proxy(p),
        None => builder,
    }
}

/// A one-line description for `surveyor proxy show` and messages (no password).
pub fn describe(settings: &ProxySettings) -> String {
    match settings {
        ProxySettings::None => "none (direct connections)".into(),
        ProxySettings::System => "system (HTTPS_PROXY / HTTP_PROXY / NO_PROXY of the runtime's environment)".into(),
        ProxySettings::Custom(c) => {
            let auth = match (&c.user, &c.password) {
                (Some(u), Some(_)) => format!(", user {u}, password set (encrypted at rest)"),
                (Some(u), None) => format!(", user {u}"),
                _ => String::new(),
            };
            let bypass = if c.bypass.is_empty() { String::new() } else { format!(", bypass {}", c.bypass.join(",")) };
            format!("custom {}{auth}{bypass}", c.url())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(bypass: &[&str]) -> ProxySettings {
        ProxySettings::Custom(CustomProxy {
            address: "proxy.local".into(),
            port: 3128,
            user: Some("u".into()),
            password: Some(Secret::new("s3cret")),
            bypass: bypass.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn bypass_names_wildcards_and_blocks() {
        let s = custom(&["intranet.contoso.com", "*.corp.example", "10.0.0.0/8", "fd00::/8", "127.0.0.1"]);
        let r = |u: &str| route(&s, &url::Url::parse(u).unwrap());
        assert_eq!(r("https://api.powerbi.com/x"), Some("http://proxy.local:3128".into()));
        assert_eq!(r("https://intranet.contoso.com/"), None);
        assert_eq!(r("https://other.contoso.com/"), Some("http://proxy.local:3128".into()));
        assert_eq!(r("https://a.b.corp.example/"), None);
        assert_eq!(r("https://corp.example/"), None);
        assert_eq!(r("http://10.1.2.3:8080/"), None);
        assert_eq!(r("http://11.1.2.3/"), Some("http://proxy.local:3128".into()));
        assert_eq!(r("http://[fd12::1]/"), None);
        assert_eq!(r("http://127.0.0.1/"), None);
        assert!(Bypass::parse("a*b.com").is_err());
        assert!(Bypass::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn password_is_encrypted_at_rest_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &custom(&["*.local"])).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SETTINGS_FILE)).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("password_encrypted"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(dir.path()).unwrap(), custom(&["*.local"]));
        // Another key cannot open it.
        std::fs::write(dir.path().join(KEY_FILE), [7u8; 32]).unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("cannot be decrypted"));
        assert!(!format!("{:?}", custom(&[])).contains("s3cret"));
        assert!(!describe(&custom(&[])).contains("s3cret"));
    }
}
