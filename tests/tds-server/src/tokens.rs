//! Token encoders, [MS-TDS] 2.2.7 "Packet Data Token Stream Definition":
//! ENVCHANGE (2.2.7.9), ERROR (2.2.7.10), INFO (2.2.7.13), LOGINACK
//! (2.2.7.14), DONE / DONEPROC / DONEINPROC (2.2.7.6–2.2.7.8), RETURNSTATUS
//! (2.2.7.18), FEATUREEXTACK (2.2.7.11). COLMETADATA and ROW/NBCROW, which
//! depend on the data types, are in [`crate::types`].
//!
//! All formats are those of TDS 7.2 and later (8-byte DONE row counts,
//! 4-byte line numbers).

use crate::wire::{put_b_varchar, put_us_varchar, utf16_len};

/// Token type bytes, MS-TDS 2.2.7.
pub mod token {
    /// RETURNSTATUS.
    pub const RETURNSTATUS: u8 = 0x79;
    /// COLMETADATA.
    pub const COLMETADATA: u8 = 0x81;
    /// ERROR.
    pub const ERROR: u8 = 0xAA;
    /// INFO.
    pub const INFO: u8 = 0xAB;
    /// LOGINACK.
    pub const LOGINACK: u8 = 0xAD;
    /// FEATUREEXTACK.
    pub const FEATUREEXTACK: u8 = 0xAE;
    /// ROW.
    pub const ROW: u8 = 0xD1;
    /// NBCROW (null-bitmap compressed row, TDS 7.3B+).
    pub const NBCROW: u8 = 0xD2;
    /// ENVCHANGE.
    pub const ENVCHANGE: u8 = 0xE3;
    /// DONE.
    pub const DONE: u8 = 0xFD;
    /// DONEPROC.
    pub const DONEPROC: u8 = 0xFE;
    /// DONEINPROC.
    pub const DONEINPROC: u8 = 0xFF;
}

/// DONE status bits, MS-TDS 2.2.7.6.
pub mod done {
    /// The final DONE: no more results follow.
    pub const FINAL: u16 = 0x0000;
    /// More results follow in this response.
    pub const MORE: u16 = 0x0001;
    /// The statement failed.
    pub const ERROR: u16 = 0x0002;
    /// A transaction is in progress.
    pub const INXACT: u16 = 0x0004;
    /// The row count is valid.
    pub const COUNT: u16 = 0x0010;
    /// Acknowledges an ATTENTION.
    pub const ATTN: u16 = 0x0020;
    /// A severe error (class 20 or higher): the session ends.
    pub const SRVERROR: u16 = 0x0100;
}

/// `CurCmd` values a DONE carries (SQL Server's statement token numbers).
pub mod cur_cmd {
    /// No statement (login, a batch without results).
    pub const NONE: u16 = 0x0000;
    /// SELECT.
    pub const SELECT: u16 = 0x00C1;
    /// INSERT / UPDATE / DELETE reported as "rows affected".
    pub const DML: u16 = 0x00C3;
    /// EXECUTE of a procedure (DONEPROC).
    pub const EXECUTE: u16 = 0x00E0;
    /// USE database.
    pub const USE: u16 = 0x00E2;
}

/// ENVCHANGE types, MS-TDS 2.2.7.9.
pub mod env {
    /// Database.
    pub const DATABASE: u8 = 1;
    /// Language.
    pub const LANGUAGE: u8 = 2;
    /// Packet size.
    pub const PACKET_SIZE: u8 = 4;
    /// SQL collation.
    pub const SQL_COLLATION: u8 = 7;
}

/// ENVCHANGE with `B_VARCHAR` new and old values (database, language,
/// packet size).
pub fn env_change_string(dst: &mut Vec<u8>, ty: u8, new: &str, old: &str) {
    let new_len = utf16_len(new).min(255);
    let old_len = utf16_len(old).min(255);
    let len = 1 + 1 + new_len * 2 + 1 + old_len * 2;
    dst.push(token::ENVCHANGE);
    dst.extend_from_slice(&(len as u16).to_le_bytes());
    dst.push(ty);
    put_b_varchar(dst, new);
    put_b_varchar(dst, old);
}

/// ENVCHANGE with `B_VARBYTE` new and old values (SQL collation).
pub fn env_change_bytes(dst: &mut Vec<u8>, ty: u8, new: &[u8], old: &[u8]) {
    let len = 1 + 1 + new.len() + 1 + old.len();
    dst.push(token::ENVCHANGE);
    dst.extend_from_slice(&(len as u16).to_le_bytes());
    dst.push(ty);
    dst.push(new.len() as u8);
    dst.extend_from_slice(new);
    dst.push(old.len() as u8);
    dst.extend_from_slice(old);
}

/// The fields ERROR and INFO share, MS-TDS 2.2.7.10 / 2.2.7.13.
pub struct MessageToken<'a> {
    /// Message number (e.g. 18456).
    pub number: u32,
    /// Error state.
    pub state: u8,
    /// Class (severity); below 10 is informational.
    pub class: u8,
    /// Message text.
    pub message: &'a str,
    /// Server name.
    pub server: &'a str,
    /// Procedure name, empty outside procedures.
    pub procedure: &'a str,
    /// Line number (1-based; 0 when not applicable).
    pub line: u32,
}

/// ERROR (`is_error`) or INFO token.
pub fn message(dst: &mut Vec<u8>, is_error: bool, m: &MessageToken<'_>) {
    let mut body = Vec::new();
    body.extend_from_slice(&m.number.to_le_bytes());
    body.push(m.state);
    body.push(m.class);
    put_us_varchar(&mut body, m.message);
    put_b_varchar(&mut body, m.server);
    put_b_varchar(&mut body, m.procedure);
    body.extend_from_slice(&m.line.to_le_bytes());
    dst.push(if is_error { token::ERROR } else { token::INFO });
    dst.extend_from_slice(&(body.len().min(u16::MAX as usize) as u16).to_le_bytes());
    dst.extend_from_slice(&body);
}

/// LOGINACK, MS-TDS 2.2.7.14. `tds_version` is written big-endian (e.g.
/// `0x74000004` for TDS 7.4 is sent as `74 00 00 04`); the program version
/// is major, minor, build high byte, build low byte.
pub fn login_ack(dst: &mut Vec<u8>, tds_version: u32, prog_name: &str, version: (u8, u8, u16)) {
    let mut body = Vec::new();
    body.push(1); // Interface: SQL_TSQL
    body.extend_from_slice(&tds_version.to_be_bytes());
    put_b_varchar(&mut body, prog_name);
    let b = version.2.to_be_bytes();
    body.extend_from_slice(&[version.0, version.1, b[0], b[1]]);
    dst.push(token::LOGINACK);
    dst.extend_from_slice(&(body.len() as u16).to_le_bytes());
    dst.extend_from_slice(&body);
}

/// DONE, DONEPROC or DONEINPROC (`tok`), MS-TDS 2.2.7.6–2.2.7.8.
pub fn done(dst: &mut Vec<u8>, tok: u8, status: u16, cur_cmd: u16, rows: u64) {
    dst.push(tok);
    dst.extend_from_slice(&status.to_le_bytes());
    dst.extend_from_slice(&cur_cmd.to_le_bytes());
    dst.extend_from_slice(&rows.to_le_bytes());
}

/// RETURNSTATUS, MS-TDS 2.2.7.18.
pub fn return_status(dst: &mut Vec<u8>, value: i32) {
    dst.push(token::RETURNSTATUS);
    dst.extend_from_slice(&value.to_le_bytes());
}

/// FEATUREEXTACK acknowledging no feature (just the terminator),
/// MS-TDS 2.2.7.11.
pub fn feature_ext_ack_none(dst: &mut Vec<u8>) {
    dst.push(token::FEATUREEXTACK);
    dst.push(0xFF);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_ack_version_is_big_endian() {
        let mut b = Vec::new();
        login_ack(&mut b, 0x7400_0004, "X", (16, 0, 1000));
        assert_eq!(b[0], token::LOGINACK);
        assert_eq!(&b[4..8], &[0x74, 0x00, 0x00, 0x04]);
        assert_eq!(&b[b.len() - 4..], &[16, 0, 0x03, 0xE8]);
        assert_eq!(u16::from_le_bytes([b[1], b[2]]) as usize, b.len() - 3);
    }

    #[test]
    fn env_change_length_covers_body() {
        let mut b = Vec::new();
        env_change_string(&mut b, env::DATABASE, "sales", "master");
        assert_eq!(u16::from_le_bytes([b[1], b[2]]) as usize, b.len() - 3);
    }
}
