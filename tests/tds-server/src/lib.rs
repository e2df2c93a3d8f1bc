//! # surveyor-tds-server — a stand-in for SQL Server's TDS endpoint
//!
//! **This is not SQL Server.** It is a test server that speaks the wire
//! protocol of Microsoft SQL Server, Tabular Data Stream ([MS-TDS], TDS 7.4
//! and the 7.2/7.3 dialects), closely enough that an unmodified client
//! library — `tiberius` 0.12 with `rustls` — connects, logs in, runs
//! queries and reads results from it. It executes no SQL: every request is
//! handed to a fixture-supplied handler ([`Handler`]) that answers with
//! result sets, row counts, errors or messages ([`Reply`]). It exists so the
//! SQL Server connector's end-to-end tests can run where no SQL Server can.
//!
//! ```no_run
//! use surveyor_tds_server::*;
//! # async fn demo() -> std::io::Result<()> {
//! let server = TdsServer::start_with(ServerConfig::default(), |req: &Request| {
//!     if req.sql.contains("sys.tables") {
//!         Reply::rows(
//!             ResultSet::new(vec![ColumnDef::not_null("name", SqlType::SysName)])
//!                 .row(vec![SqlValue::str("orders")]),
//!         )
//!     } else {
//!         Reply::Error(ServerError::invalid_object("x"))
//!     }
//! })
//! .await?;
//! let addr = server.addr(); // point tiberius at this
//! # Ok(()) }
//! ```
//!
//! ## What it implements (MS-TDS section in brackets)
//! - Packets [2.2.3]: header, reassembly of client messages, splitting of
//!   responses at the negotiated packet size, bounds on packet and message
//!   sizes ([`packet`]).
//! - PRELOGIN [2.2.6.5] with the encryption negotiation table, MARS off,
//!   instance and thread id options ([`prelogin`]).
//! - TLS inside PRELOGIN packets [2.2.6.5, 3.3.5.2] with a self-signed
//!   certificate made at start; TLS for the whole session or for LOGIN7 only
//!   (`ENCRYPT_OFF`); refusal of clients that cannot encrypt when it is
//!   required ([`tls`]).
//! - LOGIN7 [2.2.6.4]: all strings, password de-obfuscation, packet size,
//!   TDS version; SQL authentication with SQL Server's errors (18456, 4060,
//!   18452) ([`login`]).
//! - The login response [3.3.5.5]: ENVCHANGE database, INFO 5701, ENVCHANGE
//!   collation and language, INFO 5703, LOGINACK (version big-endian),
//!   ENVCHANGE packet size, DONE ([`tokens`]).
//! - SQL_BATCH [2.2.6.7] and RPC [2.2.6.6] with ALL_HEADERS [2.2.5.3];
//!   `sp_executesql` by ProcID 10 or name, its declaration string and typed
//!   parameters of the types tiberius sends (INTN, BITN, FLTN, GUID,
//!   DECIMALN/NUMERICN, MONEYN, DATETIMN, DATEN, TIMEN, DATETIME2N,
//!   DATETIMEOFFSETN, NVARCHAR/NCHAR, BIGVARCHAR/BIGCHAR, BIGVARBINARY/
//!   BIGBINARY, PLP MAX values, XML, NULLTYPE) ([`rpc`], [`types`]).
//! - Results: COLMETADATA, ROW or NBCROW, DONE / DONEINPROC / DONEPROC
//!   with DONE_MORE / DONE_COUNT / DONE_ERROR, RETURNSTATUS, ERROR and INFO
//!   tokens, several result sets per response, NULL of every type in its
//!   own encoding ([`types`], [`tokens`]).
//! - `USE db` batches (ENVCHANGE + INFO 5701, or 911 / 916), the
//!   reset-connection status bit, ATTENTION answered with DONE_ATTN, fatal
//!   errors (class ≥ 20) that end the session.
//! - Robustness: every client byte is read through bounds checks; a
//!   malformed message closes that connection only.
//!
//! ## What it does not implement
//! No SQL parsing or execution (only `USE` is recognised); no transactions
//! (no transaction descriptors, transaction-manager requests are refused);
//! no TDS 8.0 / TLS-first ("strict") connections and no TLS 1.3; no
//! integrated (SSPI/Kerberos), Azure AD or federated authentication; no
//! MARS; no bulk load; no cursors (`sp_cursor*` reach the handler as plain
//! RPCs); no output parameters or RETURNVALUE tokens; no column encryption;
//! no TEXT/NTEXT/IMAGE, SQL_VARIANT, UDT, TVP parameters (answered with
//! error 8009); no session state beyond the current database; ATTENTION
//! cannot interrupt a response in progress (every response is complete
//! before the next message is read, so the acknowledgement follows it); no
//! SQL Browser (instance names) and no routing. `varchar` data is always
//! code page 1252 (collation `SQL_Latin1_General_CP1_CI_AS`).
//!
//! [MS-TDS]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-tds/

#![warn(missing_docs)]

mod api;
pub mod login;
pub mod packet;
pub mod prelogin;
pub mod raw_client;
pub mod rpc;
mod server;
pub mod tls;
pub mod tokens;
pub mod types;
mod wire;

pub use api::{
    Encryption, Handler, LoginRecord, Outcome, Param, Reply, Request, RequestKind, ServerConfig, ServerError, TlsMode,
};
pub use server::{FIXTURE_ERROR, TdsServer};
pub use types::{ColumnDef, ResultSet, SqlDateTime, SqlType, SqlValue};
pub use wire::ProtocolError;
