//! TLS to a PostgreSQL state database: `database_encryption` and
//! `database_ca_certificate` (same words and meaning as a PostgreSQL
//! source's `encryption` and `ca_certificate`) written into the database
//! URL as libpq's `sslmode` and `sslrootcert`, which sqlx reads. Without
//! them, the URL's own `sslmode` applies (libpq's default: `prefer`).

use std::path::Path;
use surveyor_engine::backends::pg_tls;
use surveyor_engine::sources::connection::SqlEncryption;

/// The database URL with the TLS settings applied; an error names what is wrong.
pub fn database_url(url: &str, encryption: Option<SqlEncryption>, ca: Option<&Path>) -> Result<String, String> {
    if encryption.is_none() && ca.is_none() {
        return Ok(url.to_string());
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(
            "database_encryption and database_ca_certificate apply to a PostgreSQL database_url (postgres://…)".into(),
        );
    }
    let mut parsed = url::Url::parse(url).map_err(|e| format!("database_url is not a URL: {e}"))?;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "sslmode" | "ssl-mode" | "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let encryption = encryption.unwrap_or(SqlEncryption::Required);
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        query.extend_pairs(kept);
        query.append_pair("sslmode", pg_tls::ssl_mode_name(encryption));
        if let Some(ca) = ca {
            pg_tls::read_ca_certificate(ca).map_err(|e| format!("database_ca_certificate: {e}"))?;
            let absolute = std::path::absolute(ca).map_err(|e| format!("database_ca_certificate: {e}"))?;
            query.append_pair("sslrootcert", &absolute.display().to_string());
        }
    }
    Ok(parsed.to_string())
}

/// The server a URL names, for messages ("PostgreSQL at db:5432"), without credentials.
pub fn server_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("PostgreSQL at {}:{}", u.host_str().unwrap_or("localhost"), u.port().unwrap_or(5432)),
        Err(_) => "the PostgreSQL state database".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_and_ca_become_sslmode_and_sslrootcert() {
        let url = "postgres://u:p@db.example.com:5432/state?sslmode=disable&application_name=x";
        assert_eq!(database_url(url, None, None).unwrap(), url, "nothing set: the URL as given");
        let full = database_url(url, Some(SqlEncryption::VerifyFull), None).unwrap();
        assert_eq!(full, "postgres://u:p@db.example.com:5432/state?application_name=x&sslmode=verify-full");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        // Refused by name; a real CA file is exercised in tests/service_postgres.rs.
        let e = database_url(url, None, Some(&ca)).unwrap_err();
        assert!(e.contains("database_ca_certificate") && e.contains("ca.pem"), "{e}");
        let e = database_url("sqlite://state.db", Some(SqlEncryption::Required), None).unwrap_err();
        assert!(e.contains("PostgreSQL database_url"), "{e}");
        assert_eq!(server_of(url), "PostgreSQL at db.example.com:5432");
    }
}
