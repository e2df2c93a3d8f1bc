//! How the host reaches a source, by connection kind, and the capabilities
//! it grants the connector for it.
//!
//! The connection's `kind` defaults to the source's type; a third-party
//! source connector names the kind of connection it needs (`kind =
//! "azure-blob"`) and gets the same, host-built capabilities.

use super::{SourceDefinition, SourceError};
use crate::host::http::HttpBackend;
use crate::host::sql::SqlBackend;
use crate::storage::azure::{AzureAccount, AzureConnection, AzureCredential, BlobStorage, DfsStorage};
use crate::storage::{LocalStorage, Storage};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

use super::SecretRef;

/// A source's connection, typed by kind.
#[derive(Debug, Clone)]
pub enum Connection {
    LocalFolder(LocalConnection),
    AzureBlob(AzureConnectionDef),
    AdlsGen2(AzureConnectionDef),
    SqlServer(SqlConnectionDef),
    Postgresql(SqlConnectionDef),
    /// Outgoing HTTP(S) to allowed hosts, with host-side authentication (Power BI).
    Http(HttpConnectionDef),
}

/// A database server (SQL Server / Azure SQL Database, PostgreSQL).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlConnectionDef {
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
    pub host: String,
    /// 1433 for SQL Server, 5432 for PostgreSQL unless set.
    pub port: Option<u16>,
    /// SQL Server named instance.
    pub instance: Option<String>,
    /// The database to connect to first (`master` / `postgres` unless set).
    pub database: Option<String>,
    pub credential: SqlCredentialDef,
    /// `required` (default: TLS, the certificate checked against the trust
    /// store), `verify-full` (also the host name), `trust-server-certificate`
    /// (TLS, no checks), or `off`.
    pub encryption: Option<SqlEncryption>,
    /// A CA certificate file (PEM) trusted for the server's certificate (a
    /// private CA): for PostgreSQL besides the system's trust store, for
    /// SQL Server instead of it (tiberius's choice).
    pub ca_certificate: Option<PathBuf>,
    /// Seconds (default 15).
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds per statement (default 120).
    pub query_timeout_seconds: Option<u64>,
    /// Connections kept open per source (default 2, at most 16); also how
    /// many tables are sampled at once when the scan classifies.
    pub pool_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SqlEncryption {
    Required,
    /// `required`, and the certificate must name the host connected to.
    VerifyFull,
    Off,
    TrustServerCertificate,
}

/// The words of the configuration (`verify-full`), for command-line flags.
impl std::str::FromStr for SqlEncryption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SqlEncryption::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).map_err(|_| {
            format!("'{s}' is not an encryption: use required, verify-full, trust-server-certificate or off")
        })
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SqlCredentialDef {
    /// SQL authentication (user and password).
    Password { user: String, password: SecretRef },
    /// An Entra ID service principal's token (Azure SQL Database).
    ClientSecret { tenant_id: String, client_id: String, secret: SecretRef, authority: Option<String> },
}

/// Outgoing HTTP for API sources (Power BI).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConnectionDef {
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
    /// Host names (or `*.suffix` wildcards) the connector may reach; anything else is refused.
    pub allowed_hosts: Vec<String>,
    /// OAuth 2.0 client-credentials authentication added by the host.
    pub oauth: Option<OAuthClientCredentialsDef>,
    /// Largest response body accepted, in bytes (default 64 MiB).
    pub max_response_bytes: Option<u64>,
    /// Seconds per request (default 60).
    pub timeout_seconds: Option<u64>,
    /// Retries after a 429, a 5xx or a connection failure (default 4).
    pub max_retries: Option<u32>,
    /// First wait before retrying a 5xx or a connection failure, in
    /// milliseconds (default 500; doubles at each retry). A 429 waits for its `Retry-After`.
    pub retry_backoff_ms: Option<u64>,
    /// The source's root URI in qualified names (default `https://<first allowed host>`).
    pub root_uri: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientCredentialsDef {
    /// Token endpoint base (default `https://login.microsoftonline.com`).
    pub authority: Option<String>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    /// e.g. `https://analysis.windows.net/powerbi/api/.default`.
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalConnection {
    /// The connection kind (defaults to the source type); read by [`Connection::parse`].
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
    /// The folder to scan (the only one the connector may read).
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureConnectionDef {
    /// The connection kind (defaults to the source type); read by [`Connection::parse`].
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
    /// Storage account name.
    pub account: String,
    /// Blob endpoint override: Azurite, private endpoints, sovereign clouds.
    pub endpoint: Option<String>,
    pub dfs_endpoint: Option<String>,
    pub queue_endpoint: Option<String>,
    /// `core.windows.net` unless set (`core.usgovcloudapi.net`, `core.chinacloudapi.cn`).
    pub endpoint_suffix: Option<String>,
    pub credential: AzureCredentialDef,
    /// The containers (file systems) the source may read; all when unset.
    pub containers: Option<Vec<String>>,
    /// ADLS Gen2 only: list through the `dfs` API (default; owners,
    /// permissions and ACLs need it) or through the Blob API (accounts and
    /// emulators without a hierarchical namespace).
    pub api: Option<AdlsApi>,
    /// ADLS Gen2 only: read each path's ACL (one more request per path).
    #[serde(default)]
    pub acls: bool,
    /// Per-request timeout, in seconds (default 30).
    pub timeout_seconds: Option<u64>,
    /// Retries on 5xx, 429 and timeouts (default 4).
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdlsApi {
    Dfs,
    Blob,
}

/// How the host authenticates to Azure Storage.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AzureCredentialDef {
    AccountKey { key: SecretRef },
    Sas { token: SecretRef },
    ClientSecret { tenant_id: String, client_id: String, secret: SecretRef, authority: Option<String> },
    ManagedIdentity { client_id: Option<String> },
    Anonymous,
}

fn typed<T: serde::de::DeserializeOwned>(kind: &str, table: &toml::Table) -> Result<T, String> {
    T::deserialize(toml::Value::Table(table.clone())).map_err(|e| format!("invalid [connection] for {kind}: {e}"))
}

impl Connection {
    pub fn parse(source_type: &str, table: &toml::Table) -> Result<Connection, String> {
        let kind = table.get("kind").and_then(|v| v.as_str()).unwrap_or(source_type);
        Ok(match kind {
            "local-folder" => Connection::LocalFolder(typed(kind, table)?),
            "azure-blob" => Connection::AzureBlob(typed(kind, table)?),
            "adls-gen2" => Connection::AdlsGen2(typed(kind, table)?),
            "sql-server" => Connection::SqlServer(typed(kind, table)?),
            "postgresql" => Connection::Postgresql(typed(kind, table)?),
            "http" | "power-bi" => Connection::Http(typed(kind, table)?),
            other => {
                return Err(format!(
                    "the host does not know how to connect to '{other}': set [connection] kind to one of local-folder, azure-blob, adls-gen2, sql-server, postgresql, http"
                ));
            }
        })
    }
}

/// The JSON Schema (draft 2020-12, subschemas inlined) of the `[connection]`
/// table for a connection kind: the console builds its forms from it, so
/// the form and the parser cannot disagree. Secrets are marked `writeOnly`.
pub fn connection_schema(kind: &str) -> Option<serde_json::Value> {
    fn of<T: JsonSchema>() -> serde_json::Value {
        let generator =
            schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true).into_generator();
        generator.into_root_schema_for::<T>().to_value()
    }
    Some(match kind {
        "local-folder" => of::<LocalConnection>(),
        "azure-blob" | "adls-gen2" => of::<AzureConnectionDef>(),
        "sql-server" | "postgresql" => of::<SqlConnectionDef>(),
        "http" | "power-bi" => of::<HttpConnectionDef>(),
        _ => return None,
    })
}

/// The capabilities granted to a source's connector, built from its
/// connection. Nothing is granted that the connection does not name.
pub struct Grants {
    pub storage: Option<Arc<dyn Storage>>,
    pub sql: Option<Arc<dyn SqlBackend>>,
    pub http: Option<Arc<dyn HttpBackend>>,
    /// URI of the source's root; qualified names start with it.
    pub root_uri: String,
}

impl Grants {
    /// Storage only (a folder, an account), with the source's root URI.
    pub fn storage(storage: Arc<dyn Storage>, root_uri: impl Into<String>) -> Self {
        Grants { storage: Some(storage), sql: None, http: None, root_uri: root_uri.into() }
    }
}

/// The host's client for one storage account, from a connection definition.
pub fn azure_account(c: &AzureConnectionDef) -> Result<Arc<AzureAccount>, SourceError> {
    let invalid = |m: String| SourceError::Invalid(m);
    let credential = match &c.credential {
        AzureCredentialDef::AccountKey { key } => {
            AzureCredential::AccountKey(key.resolve("connection.credential.key").map_err(invalid)?)
        }
        AzureCredentialDef::Sas { token } => {
            AzureCredential::Sas(token.resolve("connection.credential.token").map_err(invalid)?)
        }
        AzureCredentialDef::ClientSecret { tenant_id, client_id, secret, authority } => AzureCredential::ClientSecret {
            tenant_id: tenant_id.clone(),
            client_id: client_id.clone(),
            secret: secret.resolve("connection.credential.secret").map_err(invalid)?,
            authority: authority.clone(),
        },
        AzureCredentialDef::ManagedIdentity { client_id } => {
            AzureCredential::ManagedIdentity { client_id: client_id.clone() }
        }
        AzureCredentialDef::Anonymous => AzureCredential::Anonymous,
    };
    let url = |field: &str, value: &Option<String>| -> Result<Option<url::Url>, SourceError> {
        value
            .as_deref()
            .map(|v| url::Url::parse(v).map_err(|e| SourceError::Invalid(format!("connection.{field}: {e}"))))
            .transpose()
    };
    let mut conn = AzureConnection::new(c.account.clone(), credential);
    conn.blob_endpoint = url("endpoint", &c.endpoint)?;
    conn.dfs_endpoint = url("dfs_endpoint", &c.dfs_endpoint)?;
    conn.queue_endpoint = url("queue_endpoint", &c.queue_endpoint)?;
    conn.endpoint_suffix = c.endpoint_suffix.clone();
    if let Some(seconds) = c.timeout_seconds {
        conn.timeout = std::time::Duration::from_secs(seconds.max(1));
    }
    if let Some(retries) = c.max_retries {
        conn.max_retries = retries;
    }
    AzureAccount::new(conn).map_err(|e| SourceError::Invalid(format!("connection: {}", e.message)))
}

/// This node's host name, as it appears in local qualified names (`file://<host>/…`).
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().to_string()
}

/// Builds the capabilities for a source. Fails with a message naming what
/// is wrong (a folder that does not exist, an unreadable secret...).
pub fn grant(def: &SourceDefinition) -> Result<Grants, SourceError> {
    match def.connection()? {
        Connection::LocalFolder(c) => {
            let storage = LocalStorage::open(&c.path)
                .map_err(|e| SourceError::Invalid(format!("connection.path {}: {}", c.path.display(), e.message)))?;
            let root =
                storage.root().to_str().ok_or_else(|| SourceError::Invalid("the folder's path is not UTF-8".into()))?;
            let root_uri = surveyor_sdk::qualified_name::join(&format!("file://{}", hostname()), root);
            Ok(Grants { storage: Some(Arc::new(storage)), sql: None, http: None, root_uri })
        }
        Connection::AzureBlob(c) => {
            let account = azure_account(&c)?;
            let root_uri = account.blob_url().as_str().trim_end_matches('/').to_string();
            Ok(Grants::storage(Arc::new(BlobStorage::new(account, c.containers.clone())), root_uri))
        }
        Connection::AdlsGen2(c) => {
            let account = azure_account(&c)?;
            // Qualified names are on the dfs endpoint, as Purview names them.
            let root_uri = account.dfs_url().as_str().trim_end_matches('/').to_string();
            let storage: Arc<dyn Storage> = match c.api.unwrap_or(AdlsApi::Dfs) {
                AdlsApi::Dfs => Arc::new(DfsStorage::new(account, c.containers.clone()).with_acls(c.acls)),
                AdlsApi::Blob => Arc::new(BlobStorage::new(account, c.containers.clone())),
            };
            Ok(Grants::storage(storage, root_uri))
        }
        Connection::SqlServer(c) => {
            let (backend, root_uri) = crate::backends::sql_server::backend(&c)?;
            Ok(Grants { storage: None, sql: Some(backend), http: None, root_uri })
        }
        Connection::Postgresql(c) => {
            let (backend, root_uri) = crate::backends::postgres::backend(&c)?;
            Ok(Grants { storage: None, sql: Some(backend), http: None, root_uri })
        }
        Connection::Http(c) => {
            let (backend, root_uri) = crate::backends::http::backend(&c)?;
            Ok(Grants { storage: None, sql: None, http: Some(backend), root_uri })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_schemas_describe_what_the_parser_takes() {
        let azure = connection_schema("azure-blob").unwrap();
        let required: Vec<&str> = azure["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(required, ["account", "credential"], "{azure}");
        let variants = azure["properties"]["credential"]["oneOf"].as_array().unwrap();
        let kinds: Vec<&str> = variants.iter().map(|v| v["properties"]["kind"]["const"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["account-key", "sas", "client-secret", "managed-identity", "anonymous"]);
        assert_eq!(variants[0]["properties"]["key"]["writeOnly"], true, "secrets are write-only");
        let sql = connection_schema("postgresql").unwrap();
        assert!(sql["properties"]["credential"]["oneOf"][0]["properties"]["password"]["writeOnly"] == true, "{sql}");
        assert_eq!(connection_schema("local-folder").unwrap()["required"][0], "path");
        assert!(connection_schema("ftp").is_none());
    }
}
