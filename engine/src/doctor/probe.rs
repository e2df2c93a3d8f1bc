//! The network checks of one endpoint: DNS, TCP (direct or through an HTTP
//! proxy's `CONNECT` tunnel) and the TLS handshake, each with a one-line
//! hint when it fails.

use super::ProxyHop;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a TCP connect, a proxy's answer or a TLS handshake may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A failed check: what the column shows, and the hint.
pub struct Failed {
    pub detail: String,
    pub hint: String,
}

fn failed(detail: impl Into<String>, hint: impl Into<String>) -> Failed {
    Failed { detail: detail.into(), hint: hint.into() }
}

/// Resolves `host`; the addresses, or why not.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failed> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(failed(
                    "no address",
                    format!("DNS: {host} has no address — check the name, or your DNS server / private DNS zone"),
                ))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => {
            let text = e.to_string();
            let lower = text.to_lowercase();
            if lower.contains("temporary failure") || lower.contains("try again") {
                Err(failed(
                    "no answer",
                    format!(
                        "DNS: no answer for {host} ({text}) — the DNS server is unreachable or slow; check /etc/resolv.conf"
                    ),
                ))
            } else {
                Err(failed(
                    "not found",
                    format!(
                        "DNS: name {host} not found — check the name (account, server, URL) or your DNS server / private DNS zone"
                    ),
                ))
            }
        }
    }
}

/// Addresses as the DNS column shows them.
pub fn show_addresses(addrs: &[SocketAddr]) -> String {
    let mut ips: Vec<String> = Vec::new();
    for a in addrs {
        let ip = a.ip().to_string();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    match ips.len() {
        0..=2 => ips.join(","),
        n => format!("{},{} +{}", ips[0], ips[1], n - 2),
    }
}

/// Connects to the first address that answers.
pub fn connect(host: &str, port: u16, addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr, Duration), Failed> {
    let mut last: Option<std::io::Error> = None;
    for addr in addrs {
        let started = Instant::now();
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(TIMEOUT));
                let _ = stream.set_write_timeout(Some(TIMEOUT));
                return Ok((stream, *addr, started.elapsed()));
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no address to connect to"));
    let hp = format!("{host}:{port}");
    use std::io::ErrorKind as K;
    Err(match e.kind() {
        K::ConnectionRefused => failed(
            "refused",
            format!("TCP: connection refused — nothing listens on {hp} (wrong port, or the service is down)"),
        ),
        K::TimedOut | K::WouldBlock => failed(
            "timed out",
            format!("TCP: timed out after {} s — a firewall drops the traffic; allow {hp}", TIMEOUT.as_secs()),
        ),
        K::HostUnreachable | K::NetworkUnreachable => {
            failed("unreachable", format!("TCP: no route to {hp} ({e}) — check routing, VPN or private endpoint"))
        }
        _ => failed("failed", format!("TCP: cannot connect to {hp}: {e}")),
    })
}

/// A `CONNECT host:port` tunnel through an HTTP proxy, on a connected stream.
pub fn tunnel(stream: &mut TcpStream, proxy: &ProxyHop, host: &str, port: u16) -> Result<(), Failed> {
    use base64::Engine as _;
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, password)) = &proxy.basic {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let p = proxy.shown();
    let broken = |e: std::io::Error| {
        failed("proxy failed", format!("proxy: {p} broke the connection during CONNECT {authority}: {e}"))
    };
    stream.write_all(request.as_bytes()).map_err(broken)?;
    // The answer's head, byte by byte: nothing of the tunnel may be read past it.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(failed("proxy failed", format!("proxy: {p} answered CONNECT with an oversized header")));
        }
        match stream.read(&mut byte) {
            Ok(0) => {
                return Err(failed(
                    "proxy closed",
                    format!("proxy: {p} closed the connection on CONNECT {authority} — is it an HTTP proxy?"),
                ));
            }
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(broken(e)),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or("").trim().to_string();
    let code: u16 = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    match code {
        200..=299 => Ok(()),
        // 407 is the standard answer; some proxies (tinyproxy) say 401.
        401 | 407 => Err(failed(
            format!("proxy {code}"),
            if proxy.basic.is_some() {
                format!("proxy: {p} refused the user/password ({code}) — set them again with `surveyor proxy set`")
            } else {
                format!("proxy: {p} needs authentication ({code}) — set a user and password with `surveyor proxy set`")
            },
        )),
        403 => Err(failed(
            "proxy 403",
            format!(
                "proxy: {p} does not allow {authority} (403) — ask for {authority} to be allowed through the proxy"
            ),
        )),
        502..=504 => Err(failed(
            format!("proxy {code}"),
            format!("proxy: {p} cannot reach {authority} ({status_line}) — the proxy's own DNS or firewall blocks it"),
        )),
        _ => Err(failed(format!("proxy {code}"), format!("proxy: {p} refused CONNECT {authority}: {status_line}"))),
    }
}

/// The TLS client configuration of the runtime's HTTP clients: rustls with
/// the platform's certificate verifier (the system's trust store).
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| format!("cannot load the system's trust store: {e}"))?
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS handshake with `host` on a connected stream (or tunnel); the
/// protocol version, or what is wrong with the certificate.
pub fn handshake(config: &Arc<rustls::ClientConfig>, stream: &mut TcpStream, host: &str) -> Result<String, Failed> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(bare.to_string())
        .map_err(|_| failed("bad name", format!("TLS: '{host}' is not a valid server name")))?;
    let mut conn = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| failed("failed", format!("TLS: cannot start a handshake: {e}")))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(stream) {
            return Err(tls_failure(host, &e));
        }
    }
    let version = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    Ok(version.replace("TLSv1_", "TLS 1.").replace("TLSv1", "TLS 1"))
}

fn tls_failure(host: &str, e: &std::io::Error) -> Failed {
    use rustls::{CertificateError as C, Error as R};
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<R>()) else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => failed(
                "closed",
                format!(
                    "TLS: {host} closed the connection during the handshake — not a TLS port, or something in between cuts TLS"
                ),
            ),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => failed(
                "timed out",
                format!("TLS: no handshake answer from {host} within {} s — is this a TLS port?", TIMEOUT.as_secs()),
            ),
            _ => failed("failed", format!("TLS: handshake with {host} failed: {e}")),
        };
    };
    let date = |t: &rustls::pki_types::UnixTime| {
        jiff::Timestamp::from_second(t.as_secs() as i64).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
    };
    match tls {
        R::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => failed(
                "unknown issuer",
                format!(
                    "TLS: the certificate of {host} is signed by an unknown issuer (self-signed or a private CA) — add the CA to the system trust store (update-ca-certificates), or a TLS-inspecting proxy/firewall is in the way"
                ),
            ),
            C::NotValidForNameContext { expected, presented } => failed(
                "wrong name",
                format!(
                    "TLS: the certificate for {} is not valid for {} — use a name the certificate was issued for",
                    if presented.is_empty() {
                        "(no names)".to_string()
                    } else {
                        presented.iter().map(|n| subject_name(n)).collect::<Vec<_>>().join(", ")
                    },
                    expected.to_str()
                ),
            ),
            C::NotValidForName => failed(
                "wrong name",
                format!("TLS: the certificate is not valid for {host} — use a name the certificate was issued for"),
            ),
            C::ExpiredContext { not_after, .. } => failed(
                "expired",
                format!("TLS: the certificate of {host} expired on {} — the server must renew it", date(not_after)),
            ),
            C::Expired => {
                failed("expired", format!("TLS: the certificate of {host} has expired — the server must renew it"))
            }
            C::NotValidYetContext { not_before, .. } => failed(
                "not yet valid",
                format!(
                    "TLS: the certificate of {host} is valid only from {} — check this machine's clock",
                    date(not_before)
                ),
            ),
            C::NotValidYet => failed(
                "not yet valid",
                format!("TLS: the certificate of {host} is not valid yet — check this machine's clock"),
            ),
            C::Revoked => failed("revoked", format!("TLS: the certificate of {host} has been revoked")),
            other => failed("bad certificate", format!("TLS: the certificate of {host} was refused: {other:?}")),
        },
        R::InvalidMessage(_) | R::InappropriateMessage { .. } | R::InappropriateHandshakeMessage { .. } => failed(
            "not TLS",
            format!("TLS: {host} did not answer with TLS — is it plain HTTP (http://), or the wrong port?"),
        ),
        R::AlertReceived(alert) => failed(
            "refused",
            format!(
                "TLS: {host} refused the handshake (alert {alert:?}) — no common protocol version or cipher, or it wants a client certificate"
            ),
        ),
        other => failed("failed", format!("TLS: handshake with {host} failed: {other}")),
    }
}

/// `DnsName("a.example")` / `IpAddress(10.0.0.1)` (webpki's names) → `a.example` / `10.0.0.1`.
fn subject_name(name: &str) -> String {
    for prefix in ["DnsName(", "IpAddress(", "UniformResourceIdentifier("] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.trim_end_matches(')').trim_matches('"').to_string();
        }
    }
    name.to_string()
}
