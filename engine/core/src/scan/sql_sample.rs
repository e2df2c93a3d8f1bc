//! Classification of SQL tables and views (scan level L3 for the
//! `postgresql` and `sql-server` sources).
//!
//! The HOST samples, not the connector: after the source emits a table with
//! its columns, one `SELECT` of at most `max_rows` rows, every column cast
//! to text, runs through the source's own `sql` backend (which holds the
//! connection), within the rule set's time limit. The values are classified
//! with the run's [`Classifier`] and dropped here; only the labels go on, on
//! the column, as for files. Sampled values therefore never cross into a
//! connector, and a connector cannot make the host read anything but the
//! columns of a table it catalogued.

use crate::classify::Classifier;
use crate::classify::plugins::{PluginClassifiers, PluginFailure, classify_column};
use crate::host::bindings::sql::SqlValue;
use crate::host::bindings::types::{Asset, ConnectorError, ErrorKind, Value};
use crate::host::kind_name;
use crate::host::sql::{ResultSet, SqlBackend};
use std::sync::Arc;
use surveyor_sdk::sampling::Selection;

/// A sampled value is cut to this many characters on the server (the
/// classifier looks at no more than 4096 characters of a value either).
const MAX_VALUE_CHARS: u32 = 4000;

/// How the server's SQL is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    TSql,
}

/// The dialect of a table or view asset; `None` for any other asset.
fn dialect(type_name: &str) -> Option<Dialect> {
    match type_name {
        "postgresql_table" | "postgresql_view" => Some(Dialect::Postgres),
        "mssql_table" | "mssql_view" | "azure_sql_table" | "azure_sql_view" => Some(Dialect::TSql),
        _ => None,
    }
}

/// Columns whose values cannot be classified as text (binary data,
/// spatial and CLR types): not selected at all.
fn skipped(data_type: &str, physical_type: &str) -> bool {
    let physical = physical_type.to_ascii_lowercase();
    data_type == "binary"
        || ["geometry", "geography", "hierarchyid", "sql_variant", "image", "bytea"]
            .iter()
            .any(|t| physical == *t || physical.starts_with(&format!("{t}(")))
}

fn quote_pg(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How a PostgreSQL column is selected as text. The server's own text
/// form is what a custom rule sees, so the host decodes a column itself
/// only where that form is exactly what the host would write: strings, and
/// integers in decimal. Everything else goes through `format('%s')`, the
/// type's output function (an `inet` cast to text would gain a netmask, a
/// `boolean` would read `true` instead of `t`); NULL becomes ''.
/// `format` and `left` were 40% of the server's CPU for a sample of text
/// columns (1,000 tables of 200 rows: 0.41 → 0.25 s of backend CPU).
fn pg_select(column: &str, physical_type: &str) -> String {
    let name = quote_pg(column);
    let text = physical_type == "text"
        || physical_type == "name"
        || physical_type.starts_with("character varying")
        || physical_type == "character"
        || physical_type.starts_with("character(");
    if text {
        // `left` counts characters; a value of at most 4000 bytes has at most 4000 of them.
        format!(
            "CASE WHEN octet_length({name}) <= {MAX_VALUE_CHARS} THEN {name} ELSE left({name}, {MAX_VALUE_CHARS}) END"
        )
    } else if matches!(physical_type, "smallint" | "integer" | "bigint") {
        name
    } else {
        format!("left(format('%s', {name}), {MAX_VALUE_CHARS})")
    }
}

/// The sample statement of one table, from its columns' names and
/// physical types. PostgreSQL: `LIMIT`, not `TABLESAMPLE SYSTEM`: a page
/// sample of a small table is often empty, it does not apply to views, and
/// `LIMIT` reads only the first pages, which is what the reference
/// product's "top 128 rows" means too.
fn statement(dialect: Dialect, schema: &str, table: &str, columns: &[(&str, &str)], rows: u32) -> String {
    match dialect {
        Dialect::Postgres => {
            let cols: Vec<String> = columns.iter().map(|(c, physical)| pg_select(c, physical)).collect();
            format!(
                "/* surveyor:sample */ SELECT {} FROM {}.{} LIMIT {rows}",
                cols.join(", "),
                quote_pg(schema),
                quote_pg(table)
            )
        }
        Dialect::TSql => {
            use crate::backends::sql_server::quote_name;
            let cols: Vec<String> = columns
                .iter()
                .map(|(c, _)| format!("LEFT(CAST({} AS nvarchar(max)), {MAX_VALUE_CHARS})", quote_name(c)))
                .collect();
            format!(
                "/* surveyor:sample */ SELECT TOP ({rows}) {} FROM {}.{}",
                cols.join(", "),
                quote_name(schema),
                quote_name(table)
            )
        }
    }
}

/// One table's sample query.
struct Plan {
    /// Its index among the assets being classified.
    asset: usize,
    database: String,
    schema: String,
    /// The columns selected, by index in the asset's columns.
    sampled: Vec<usize>,
    statement: String,
}

/// Samples and classifies the tables of one SQL source.
pub(super) struct SqlSampler {
    pub backend: Arc<dyn SqlBackend>,
    pub classifier: Arc<Classifier>,
    /// The source's root URI: a table's database is the first segment of
    /// its qualified name after it.
    pub root: String,
}

/// Why a table was not classified; the message names the table and the
/// server's error, never a sampled value.
#[derive(Debug)]
pub(super) struct SampleError {
    pub kind: &'static str,
    pub message: String,
}

impl SqlSampler {
    /// Whether `asset` is a table or view this sampler classifies.
    pub fn samples(asset: &Asset) -> bool {
        dialect(&asset.type_name).is_some()
    }

    /// Classifies the columns of `assets` (tables and views of a SQL
    /// source; anything else is left alone) from one sample query each,
    /// sent together (one round trip per batch where the backend can):
    /// the system classifications and custom rules, then `plugins`. The
    /// labels are set on the columns; the values are dropped here. Per
    /// asset: why it was not classified, and the plugins that failed on it.
    pub fn classify_all(
        &self,
        assets: &mut [Asset],
        mut plugins: Option<&mut PluginClassifiers<'_>>,
    ) -> Vec<(Option<SampleError>, Vec<PluginFailure>)> {
        let mut outcomes: Vec<_> = assets.iter().map(|_| (None, Vec::new())).collect();
        let selection = self.classifier.selection(plugins.is_some());
        let plans: Vec<Plan> = assets.iter().enumerate().filter_map(|(i, a)| self.plan(i, a, selection)).collect();
        let limit = self.classifier.sql_timeout();
        for group in plans.chunk_by(|a, b| a.database == b.database) {
            let statements: Vec<String> = group.iter().map(|p| p.statement.clone()).collect();
            let results = self.backend.query_each_within(Some(&group[0].database), &statements, limit);
            for (plan, result) in group.iter().zip(results) {
                let asset = &mut assets[plan.asset];
                let (error, failures) = &mut outcomes[plan.asset];
                match result {
                    Ok(sets) => self.apply(asset, plan, sets, plugins.as_deref_mut(), failures),
                    Err(e) => *error = Some(self.error(&plan.schema, &asset.name, e)),
                }
            }
        }
        outcomes
    }

    /// The sample statement of a table or view with columns to sample (of
    /// those `selection` wants).
    fn plan(&self, index: usize, asset: &Asset, selection: &Selection) -> Option<Plan> {
        let dialect = dialect(&asset.type_name)?;
        let (database, schema) = self.locate(asset)?;
        let sampled: Vec<usize> = (0..asset.columns.len())
            .filter(|&i| {
                let c = &asset.columns[i];
                c.path.len() == 1
                    && !skipped(&c.data_type, &c.physical_type)
                    && selection.wants(&c.data_type, &c.path[0])
            })
            .collect();
        if sampled.is_empty() {
            return None;
        }
        let columns: Vec<(&str, &str)> = sampled
            .iter()
            .map(|&i| (asset.columns[i].path[0].as_str(), asset.columns[i].physical_type.as_str()))
            .collect();
        let (max_rows, _) = self.classifier.limits();
        let statement = statement(dialect, &schema, &asset.name, &columns, max_rows);
        Some(Plan { asset: index, database, schema, sampled, statement })
    }

    /// Classifies a table's columns from its sample rows.
    fn apply(
        &self,
        asset: &mut Asset,
        plan: &Plan,
        sets: Vec<ResultSet>,
        mut plugins: Option<&mut PluginClassifiers<'_>>,
        failures: &mut Vec<PluginFailure>,
    ) {
        let (_, max_bytes) = self.classifier.limits();
        let sampled = &plan.sampled;
        let rows = sets.into_iter().next().map(|s| s.rows).unwrap_or_default();
        let mut values: Vec<Vec<String>> = vec![Vec::new(); sampled.len()];
        let mut bytes = vec![0u64; sampled.len()];
        let mut nulls = vec![0u32; sampled.len()];
        for row in rows {
            for (j, value) in row.into_iter().enumerate().take(sampled.len()) {
                let text = match value {
                    // PostgreSQL's format('%s', NULL) is ''.
                    SqlValue::Null => {
                        nulls[j] += 1;
                        continue;
                    }
                    SqlValue::Text(t) if t.is_empty() => {
                        nulls[j] += 1;
                        continue;
                    }
                    SqlValue::Text(t) | SqlValue::Decimal(t) | SqlValue::Uuid(t) => t,
                    SqlValue::Integer(i) => i.to_string(),
                    SqlValue::Float(f) => f.to_string(),
                    SqlValue::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                bytes[j] += text.len() as u64;
                if bytes[j] <= max_bytes {
                    values[j].push(text);
                }
            }
        }
        for (j, &i) in sampled.iter().enumerate() {
            let column = &mut asset.columns[i];
            if let Some(labels) = classify_column(
                &self.classifier,
                plugins.as_deref_mut(),
                &column.path,
                &column.data_type,
                &values[j],
                nulls[j],
                failures,
            ) {
                column.attributes.push(labels.to_attribute());
            }
        }
    }

    /// The table's database (from its qualified name) and schema (its
    /// `schemaName` attribute, as both SQL connectors set it).
    fn locate(&self, asset: &Asset) -> Option<(String, String)> {
        let rest = asset.qualified_name.strip_prefix(self.root.trim_end_matches('/'))?.strip_prefix('/')?;
        let segment = rest.split('/').next().filter(|s| !s.is_empty())?;
        let database = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?.into_owned();
        let schema = asset.attributes.iter().find(|a| a.key == "schemaName").and_then(|a| match &a.value {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        })?;
        Some((database, schema))
    }

    /// A failed sample as an item error. The server's message is kept only
    /// where it cannot quote a value (permission, missing object, timeout,
    /// connection); a data error's text (a failed cast in a view, say) may,
    /// so only its kind and code are told.
    fn error(&self, schema: &str, table: &str, e: ConnectorError) -> SampleError {
        let what = format!("table {schema}.{table}: not classified");
        // The server stopped it at `statement_timeout` (PostgreSQL), or the
        // backend stopped waiting (both backends' own wording).
        let timed_out = e.message.contains("(SQLSTATE 57014)") || e.message.contains("did not finish within");
        if timed_out {
            return SampleError {
                kind: "unreachable",
                message: format!(
                    "{what}: the sample query did not finish within {:?} (classification sql_timeout_seconds)",
                    self.classifier.sql_timeout()
                ),
            };
        }
        let message = match e.kind {
            ErrorKind::PermissionDenied | ErrorKind::NotFound | ErrorKind::Auth | ErrorKind::Unreachable => {
                format!("{what}: {}", e.message)
            }
            kind => {
                let code = e
                    .message
                    .rsplit_once("(SQLSTATE ")
                    .map(|(_, c)| format!(" (SQLSTATE {c}"))
                    .or_else(|| {
                        let n = e.message.split("error ").nth(1)?.split(':').next()?;
                        n.chars().all(|c| c.is_ascii_digit()).then(|| format!(" (error {n})"))
                    })
                    .unwrap_or_default();
                format!(
                    "{what}: the sample query failed{code}; the server's message is withheld since it may quote sampled values ({})",
                    kind_name(kind)
                )
            }
        };
        SampleError { kind: kind_name(e.kind), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_names_and_cast_to_text() {
        let pg = statement(
            Dialect::Postgres,
            "sh\"op",
            "or ders",
            &[("e\"mail", "character varying(200)"), ("id", "integer"), ("ip", "inet")],
            128,
        );
        assert_eq!(
            pg,
            "/* surveyor:sample */ SELECT CASE WHEN octet_length(\"e\"\"mail\") <= 4000 THEN \"e\"\"mail\" ELSE left(\"e\"\"mail\", 4000) END, \"id\", left(format('%s', \"ip\"), 4000) FROM \"sh\"\"op\".\"or ders\" LIMIT 128"
        );
        let ms = statement(Dialect::TSql, "dbo", "we]ird", &[("a]b", "nvarchar(20)")], 128);
        assert_eq!(
            ms,
            "/* surveyor:sample */ SELECT TOP (128) LEFT(CAST([a]]b] AS nvarchar(max)), 4000) FROM [dbo].[we]]ird]"
        );
    }

    #[test]
    fn binary_and_spatial_columns_are_not_sampled() {
        assert!(skipped("binary", "varbinary(max)"));
        assert!(skipped("geography", "geography"));
        assert!(!skipped("string", "nvarchar(50)"));
        assert!(!skipped("int64", "bigint"));
        assert_eq!(dialect("postgresql_view"), Some(Dialect::Postgres));
        assert_eq!(dialect("azure_sql_table"), Some(Dialect::TSql));
        assert_eq!(dialect("postgresql_schema"), None);
    }
}
