//! The `sql` capability: a connector's statements run on the source's server
//! by a backend the host built from the source's configuration (SQL Server
//! through tiberius, PostgreSQL). Results are buffered by the host, up to a
//! limit, and handed to the connector page by page.

use super::bindings::sql::{SqlColumn, SqlValue};
use super::bindings::types::{ConnectorError, ErrorKind};
use std::collections::VecDeque;

/// One result set, as returned by a backend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<SqlColumn>,
    pub rows: Vec<Vec<SqlValue>>,
}

/// Where a source's SQL goes. The backend holds the connection (a small
/// pool), the credentials and the target; nothing of them reaches the connector.
pub trait SqlBackend: Send + Sync {
    /// What the backend talks to, for messages (server and port, never credentials).
    fn describe(&self) -> String;
    /// Runs `statement` to completion on `database` (`None`: the default one).
    fn query(
        &self,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<Vec<ResultSet>, ConnectorError>;

    /// Runs a host-built, read-only `statement` (a classification sample)
    /// that must finish within `limit`; a backend that can stops it on the
    /// server too, not only stops waiting. By default: [`SqlBackend::query`]
    /// under the connection's own query timeout.
    fn query_within(
        &self,
        database: Option<&str>,
        statement: &str,
        limit: std::time::Duration,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        let _ = limit;
        self.query(database, statement, &[])
    }

    /// Runs host-built, read-only `statements` as [`SqlBackend::query_within`]
    /// does, each within `limit`, in as few round trips as the backend can;
    /// one result per statement, in order. By default: one at a time.
    fn query_each_within(
        &self,
        database: Option<&str>,
        statements: &[String],
        limit: std::time::Duration,
    ) -> Vec<Result<Vec<ResultSet>, ConnectorError>> {
        statements.iter().map(|s| self.query_within(database, s, limit)).collect()
    }

    /// Statements the backend runs at once on the connections it keeps
    /// (its pool): how many tables the host samples at a time.
    fn parallelism(&self) -> usize {
        1
    }
}

/// The `rows` resource: result sets waiting to be read by the connector.
#[derive(Debug, Default)]
pub struct BufferedRows {
    sets: VecDeque<ResultSet>,
    /// Rows of the current (front) set already handed over.
    read: usize,
}

impl BufferedRows {
    pub fn new(sets: Vec<ResultSet>) -> Self {
        BufferedRows { sets: sets.into(), read: 0 }
    }

    pub fn columns(&self) -> Vec<SqlColumn> {
        self.sets.front().map(|s| s.columns.clone()).unwrap_or_default()
    }

    pub fn next(&mut self, max: u32) -> Vec<Vec<SqlValue>> {
        let Some(set) = self.sets.front_mut() else { return Vec::new() };
        let end = (self.read + max.max(1) as usize).min(set.rows.len());
        let page: Vec<Vec<SqlValue>> = set.rows[self.read..end].iter_mut().map(std::mem::take).collect();
        self.read = end;
        page
    }

    pub fn next_result(&mut self) -> bool {
        self.sets.pop_front();
        self.read = 0;
        !self.sets.is_empty()
    }
}

pub fn not_granted(capability: &str) -> ConnectorError {
    ConnectorError {
        kind: ErrorKind::Refused,
        message: format!("no {capability} access is granted to this source (check the source type and its connection)"),
        item: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_paged_set_by_set() {
        let set = |n: i64| ResultSet {
            columns: vec![SqlColumn { name: "n".into(), type_name: "int".into() }],
            rows: (0..n).map(|i| vec![SqlValue::Integer(i)]).collect(),
        };
        let mut rows = BufferedRows::new(vec![set(5), set(1)]);
        assert_eq!(rows.next(2).len(), 2);
        assert_eq!(rows.next(10).len(), 3);
        assert!(rows.next(10).is_empty());
        assert!(rows.next_result());
        assert_eq!(rows.next(10), vec![vec![SqlValue::Integer(0)]]);
        assert!(!rows.next_result());
        assert!(rows.columns().is_empty());
    }
}
