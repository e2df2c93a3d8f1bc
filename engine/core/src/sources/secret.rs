//! Secrets in source definitions: given inline, from an environment
//! variable, or from a file, and never printed.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A secret value (account key, SAS token, password, client secret). Its
/// `Debug` and `Display` print `<redacted>`: it cannot end up in a log line,
/// an error message or a report by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the one place that needs it (signing a request,
    /// logging in).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from, as written in a source definition:
/// `key = "inline value"`, `key = { env = "VAR" }` or `key = { file = "/path" }`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SecretRef {
    Inline(String),
    Env { env: String },
    File { file: PathBuf },
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Inline(_) => f.write_str("<inline secret>"),
            SecretRef::Env { env } => write!(f, "<secret from ${env}>"),
            SecretRef::File { file } => write!(f, "<secret from {}>", file.display()),
        }
    }
}

impl schemars::JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A secret: the value itself (stored encrypted, shown as <redacted>), {\"env\": \"VAR\"} or {\"file\": \"/path\"}.",
            "writeOnly": true,
            "anyOf": [
                {"type": "string"},
                {"type": "object", "properties": {"env": {"type": "string"}}, "required": ["env"], "additionalProperties": false},
                {"type": "object", "properties": {"file": {"type": "string"}}, "required": ["file"], "additionalProperties": false}
            ]
        })
    }
}

impl SecretRef {
    /// Reads the secret; `field` names it in the error (`connection.credential.key`).
    pub fn resolve(&self, field: &str) -> Result<Secret, String> {
        match self {
            SecretRef::Inline(v) if v.is_empty() => Err(format!("{field} is empty")),
            SecretRef::Inline(v) => Ok(Secret(v.clone())),
            SecretRef::Env { env } => match std::env::var(env) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(format!("{field}: environment variable {env} is not set")),
            },
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map(|v| Secret(v.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| format!("{field}: cannot read {}: {e}", file.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert!(!format!("{:?}", SecretRef::Inline("hunter2".into())).contains("hunter2"));
    }

    #[test]
    fn secrets_come_inline_from_env_or_from_a_file() {
        let r: SecretRef = toml::from_str::<toml::Table>("k = { env = \"SURVEYOR_TEST_SECRET_X\" }").unwrap()["k"]
            .clone()
            .try_into()
            .unwrap();
        assert!(r.resolve("k").unwrap_err().contains("SURVEYOR_TEST_SECRET_X is not set"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "s3cr3t\n").unwrap();
        let r = SecretRef::File { file: dir.path().join("key") };
        assert_eq!(r.resolve("k").unwrap().expose(), "s3cr3t");
        assert!(
            SecretRef::Inline(String::new())
                .resolve("connection.password")
                .unwrap_err()
                .contains("connection.password")
        );
    }
}
