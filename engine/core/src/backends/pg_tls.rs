//! TLS to PostgreSQL, shared by PostgreSQL sources and the service's state
//! database: the connection's `encryption` mapped onto libpq's `sslmode`
//! (as sqlx implements it), the trusted roots, and TLS failures explained
//! in plain words.
//!
//! | `encryption`               | sslmode       | checks                                  |
//! |----------------------------|---------------|-----------------------------------------|
//! | `required` (default)       | `verify-ca`   | chain to a trusted CA                   |
//! | `verify-full`              | `verify-full` | chain, and the host name in the certificate |
//! | `trust-server-certificate` | `require`     | none (TLS only)                          |
//! | `off`                      | `disable`     | plain connection                         |
//!
//! Trusted: the system's trust store (as for SQL Server), Mozilla's roots
//! (sqlx's), and `ca_certificate` when given.

use crate::sources::connection::SqlEncryption;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::path::Path;
use std::sync::OnceLock;

/// libpq's `sslmode` for an `encryption`.
pub fn ssl_mode(encryption: SqlEncryption) -> PgSslMode {
    match encryption {
        SqlEncryption::Required => PgSslMode::VerifyCa,
        SqlEncryption::VerifyFull => PgSslMode::VerifyFull,
        SqlEncryption::TrustServerCertificate => PgSslMode::Require,
        SqlEncryption::Off => PgSslMode::Disable,
    }
}

/// The `sslmode` URL value for an `encryption` (the service's database URL).
pub fn ssl_mode_name(encryption: SqlEncryption) -> &'static str {
    match ssl_mode(encryption) {
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
        PgSslMode::Require => "require",
        _ => "disable",
    }
}

/// Reads a CA certificate file, refusing one without a PEM certificate in it.
pub fn read_ca_certificate(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA certificate {}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).collect();
    if certs.is_empty() || certs.iter().any(Result::is_err) {
        return Err(format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
    }
    Ok(pem)
}

/// The system's trust store as PEM, read once per process (sqlx takes extra
/// roots as PEM only).
fn system_roots_pem() -> &'static [u8] {
    static ROOTS: OnceLock<Vec<u8>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        use base64::Engine;
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!(error = %e, "a certificate of the system's trust store was not read");
        }
        let mut pem = Vec::new();
        for cert in loaded.certs {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem
    })
}

/// Sets the TLS options of a connection: mode, and the roots (system store
/// plus `ca`, the content of a CA certificate file) when the certificate is checked.
pub fn apply(options: PgConnectOptions, encryption: SqlEncryption, ca: Option<&[u8]>) -> PgConnectOptions {
    let mode = ssl_mode(encryption);
    let options = options.ssl_mode(mode);
    if !matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) {
        return options;
    }
    let mut roots = system_roots_pem().to_vec();
    if let Some(ca) = ca {
        roots.push(b'\n');
        roots.extend_from_slice(ca);
    }
    if roots.is_empty() { options } else { options.ssl_root_cert_from_pem(roots) }
}

/// A TLS failure in plain words, or `None` when `e` is not about TLS.
/// `server` names the server ("PostgreSQL at db:5432"), `host` the name
/// connected to, `ca_setting` the setting that takes a CA file.
pub fn explain(e: &sqlx::Error, server: &str, host: &str, ca_setting: &str) -> Option<String> {
    use rustls::{CertificateError, Error as Tls};
    if let sqlx::Error::Tls(inner) = e
        && inner.to_string().contains("server does not support TLS")
    {
        return Some(format!(
            "{server} does not accept TLS connections (ssl = off on the server), and encryption requires TLS: \
             turn ssl on at the server, or set encryption = \"off\""
        ));
    }
    if let sqlx::Error::Database(db) = e
        && db.message().contains("no encryption")
    {
        return Some(format!(
            "{server} accepts this connection only over TLS (pg_hba.conf has no plain entry for it): {} \
             — set encryption = \"required\" or \"verify-full\"",
            db.message()
        ));
    }
    let tls = find_rustls_error(e)?;
    let why = match tls {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate is not signed by a trusted certificate authority: \
             give the CA's certificate ({ca_setting}), or encryption = \"trust-server-certificate\" to skip the check"
        ),
        Tls::InvalidCertificate(CertificateError::NotValidForName)
        | Tls::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "the server's certificate is not valid for the host name '{host}' (encryption = \"verify-full\" checks it): \
             connect with a name the certificate holds, or use encryption = \"required\""
        ),
        Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_string()
        }
        Tls::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check the clocks)".to_string()
        }
        Tls::InvalidCertificate(other) => format!("the server's certificate was refused: {other:?}"),
        other => format!("the TLS handshake failed: {other}"),
    };
    Some(format!("TLS with {server} failed: {why}"))
}

/// The rustls error in an error's chain (sqlx wraps it in an I/O error).
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_maps_to_the_libpq_mode_of_the_same_meaning() {
        assert_eq!(ssl_mode_name(SqlEncryption::Required), "verify-ca");
        assert_eq!(ssl_mode_name(SqlEncryption::VerifyFull), "verify-full");
        assert_eq!(ssl_mode_name(SqlEncryption::TrustServerCertificate), "require");
        assert_eq!(ssl_mode_name(SqlEncryption::Off), "disable");
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = read_ca_certificate(&path).unwrap_err();
        assert!(err.contains("ca.pem") && err.contains("no PEM certificate"), "{err}");
        let err = read_ca_certificate(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.contains("cannot read the CA certificate"), "{err}");
    }
}
