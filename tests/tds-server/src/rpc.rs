//! Client requests: SQL_BATCH ([MS-TDS] 2.2.6.7), RPC (2.2.6.6) with its
//! ProcID table and parameters, and the ALL_HEADERS prefix both carry
//! (2.2.5.3). `sp_executesql` calls are unpacked into statement,
//! declaration string and typed parameter values.

use crate::api::Param;
use crate::types::{SqlValue, WireType, parse_type_info, read_value};
use crate::wire::{PResult, ProtocolError, Reader, utf16le_to_string};

/// Skips ALL_HEADERS (MS-TDS 2.2.5.3), mandatory from TDS 7.2 on: a total
/// length, then headers that each start with their own length.
pub(crate) fn skip_all_headers(r: &mut Reader<'_>) -> PResult<()> {
    let start = r.position();
    let total = r.u32_le()? as usize;
    if total < 4 || total - 4 > r.remaining() {
        return Err(ProtocolError::new(format!("ALL_HEADERS length {total} is invalid")));
    }
    let mut left = total - 4;
    while left > 0 {
        let len = r.u32_le()? as usize;
        if len < 6 || len > left {
            return Err(ProtocolError::new(format!("ALL_HEADERS header length {len} is invalid")));
        }
        let _ty = r.u16_le()?; // 1 query notifications, 2 transaction descriptor, 3 trace activity
        r.skip(len - 6)?;
        left -= len;
    }
    debug_assert_eq!(r.position() - start, total);
    Ok(())
}

/// Parses a SQL_BATCH payload: ALL_HEADERS, then the UCS-2 SQL text.
pub(crate) fn parse_sql_batch(payload: &[u8]) -> PResult<String> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r)?;
    let text = r.bytes(r.remaining())?;
    utf16le_to_string(text)
}

/// Names of the special procedures callable by ProcID (MS-TDS 2.2.6.6).
pub fn proc_name(id: u16) -> Option<&'static str> {
    Some(match id {
        1 => "sp_cursor",
        2 => "sp_cursoropen",
        3 => "sp_cursorprepare",
        4 => "sp_cursorexecute",
        5 => "sp_cursorprepexec",
        6 => "sp_cursorunprepare",
        7 => "sp_cursorfetch",
        8 => "sp_cursoroption",
        9 => "sp_cursorclose",
        10 => "sp_executesql",
        11 => "sp_prepare",
        12 => "sp_execute",
        13 => "sp_prepexec",
        14 => "sp_prepexecrpc",
        15 => "sp_unprepare",
        _ => return None,
    })
}

/// A parameter as it came off the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawParam {
    pub name: String,
    pub output: bool,
    pub value: SqlValue,
}

/// A parameter whose type this server cannot decode; the rest of the
/// message cannot be parsed either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownParam {
    /// 1-based position.
    pub position: usize,
    pub name: String,
    pub type_code: u8,
}

/// One procedure call of an RPC message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcCall {
    pub procedure: String,
    pub params: Vec<RawParam>,
    pub unknown: Option<UnknownParam>,
}

/// `fByRefValue`, `fDefaultValue` and `fEncrypted` of the parameter status
/// byte (MS-TDS 2.2.6.6).
const PARAM_BY_REF: u8 = 0x01;
const PARAM_DEFAULT: u8 = 0x02;
const PARAM_ENCRYPTED: u8 = 0x08;

/// The byte that separates calls in one RPC message: BatchFlag (0xFF, TDS
/// 7.2+), NoExecFlag (0xFE), or the TDS 7.1 BatchFlag (0x80).
fn is_batch_separator(b: u8) -> bool {
    matches!(b, 0xFF | 0xFE | 0x80)
}

/// Parses an RPC payload into its calls.
pub(crate) fn parse_rpc(payload: &[u8]) -> PResult<Vec<RpcCall>> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r)?;
    let mut calls = Vec::new();
    loop {
        let name_len = r.u16_le()?;
        let procedure = if name_len == 0xFFFF {
            let id = r.u16_le()?;
            proc_name(id).map(str::to_string).ok_or_else(|| ProtocolError::new(format!("unknown RPC ProcID {id}")))?
        } else {
            if name_len == 0 || name_len > 1046 {
                return Err(ProtocolError::new(format!("RPC procedure name of {name_len} characters")));
            }
            r.utf16(name_len as usize)?
        };
        let _option_flags = r.u16_le()?; // fWithRecomp, fNoMetaData, fReuseMetaData
        let mut call = RpcCall { procedure, params: Vec::new(), unknown: None };
        while let Some(b) = r.peek_u8() {
            if is_batch_separator(b) {
                break;
            }
            let name = r.b_varchar()?;
            let status = r.u8()?;
            if status & PARAM_ENCRYPTED != 0 {
                return Err(ProtocolError::new("Always Encrypted parameters are not supported"));
            }
            let wire = match parse_type_info(&mut r)? {
                Ok(t) => t,
                Err(type_code) => {
                    call.unknown = Some(UnknownParam { position: call.params.len() + 1, name, type_code });
                    calls.push(call);
                    return Ok(calls);
                }
            };
            let value = if status & PARAM_DEFAULT != 0 && wire == WireType::Null {
                SqlValue::Null
            } else {
                read_value(&mut r, &wire)?
            };
            call.params.push(RawParam { name, output: status & PARAM_BY_REF != 0, value });
        }
        calls.push(call);
        match r.peek_u8() {
            None => return Ok(calls),
            Some(_) => {
                r.u8()?; // the separator
                if r.is_empty() {
                    return Ok(calls);
                }
            }
        }
    }
}

/// Splits an `sp_executesql` declaration string (`@P1 int,@P2
/// nvarchar(4000) OUTPUT`) into `(name, type)` pairs, commas inside
/// parentheses kept.
pub(crate) fn parse_declarations(decl: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in decl.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter_map(|p| {
            let p = p.trim();
            let (name, ty) = p.split_once(char::is_whitespace)?;
            let mut ty = ty.trim().to_string();
            for suffix in [" OUTPUT", " output", " OUT", " out"] {
                if let Some(stripped) = ty.strip_suffix(suffix) {
                    ty = stripped.trim_end().to_string();
                }
            }
            Some((name.to_string(), ty))
        })
        .collect()
}

/// What an `sp_executesql` call carries.
pub(crate) struct ExecuteSql {
    pub sql: String,
    pub declarations: String,
    pub params: Vec<Param>,
}

/// Unpacks `sp_executesql`: `@stmt` (first), `@params` (second, optional),
/// then the values, matched to the declarations by name or position.
pub(crate) fn unpack_execute_sql(params: &[RawParam]) -> Result<ExecuteSql, String> {
    let mut it = params.iter();
    let sql = match it.next().map(|p| &p.value) {
        Some(SqlValue::String(s)) => s.clone(),
        Some(other) => return Err(format!("sp_executesql's statement is not a string: {other:?}")),
        None => return Err("sp_executesql without a statement".into()),
    };
    let declarations = match it.next().map(|p| &p.value) {
        Some(SqlValue::String(s)) => s.clone(),
        Some(SqlValue::Null) | None => String::new(),
        Some(other) => return Err(format!("sp_executesql's declarations are not a string: {other:?}")),
    };
    let decls = parse_declarations(&declarations);
    let params = it
        .enumerate()
        .map(|(i, p)| {
            let declared = decls
                .iter()
                .find(|(n, _)| !p.name.is_empty() && n.eq_ignore_ascii_case(&p.name))
                .or_else(|| if p.name.is_empty() { decls.get(i) } else { None })
                .map(|(_, t)| t.clone());
            Param { name: p.name.clone(), value: p.value.clone(), declared_type: declared, output: p.output }
        })
        .collect();
    Ok(ExecuteSql { sql, declarations, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_headers() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&22u32.to_le_bytes());
        b.extend_from_slice(&18u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&1u32.to_le_bytes());
        b
    }

    fn nvarchar(dst: &mut Vec<u8>, name: &str, value: &str) {
        crate::wire::put_b_varchar(dst, name);
        dst.push(0);
        dst.extend_from_slice(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0]);
        let units: Vec<u8> = value.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        dst.extend_from_slice(&(units.len() as u16).to_le_bytes());
        dst.extend_from_slice(&units);
    }

    #[test]
    fn batch_text_after_all_headers() {
        let mut b = all_headers();
        crate::wire::put_utf16(&mut b, "SELECT 1");
        assert_eq!(parse_sql_batch(&b).unwrap(), "SELECT 1");
        assert!(parse_sql_batch(&[0xFF, 0xFF, 0xFF, 0x7F, 1, 2]).is_err());
        assert!(parse_sql_batch(&[2, 0, 0, 0]).is_err());
    }

    #[test]
    fn execute_sql_by_proc_id() {
        let mut b = all_headers();
        b.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        nvarchar(&mut b, "stmt", "SELECT * FROM t WHERE a = @P1");
        nvarchar(&mut b, "params", "@P1 int");
        crate::wire::put_b_varchar(&mut b, "@P1");
        b.extend_from_slice(&[0, 0x26, 4, 4, 7, 0, 0, 0]);
        let calls = parse_rpc(&b).unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].procedure, "sp_executesql");
        let unpacked = unpack_execute_sql(&calls[0].params).unwrap();
        assert_eq!(unpacked.sql, "SELECT * FROM t WHERE a = @P1");
        assert_eq!(unpacked.params.len(), 1);
        assert_eq!(unpacked.params[0].value, SqlValue::Int(7));
        assert_eq!(unpacked.params[0].declared_type.as_deref(), Some("int"));
    }

    #[test]
    fn execute_sql_by_name_and_batched_calls() {
        let mut b = all_headers();
        let name: Vec<u8> = "sp_executesql".encode_utf16().flat_map(u16::to_le_bytes).collect();
        b.extend_from_slice(&13u16.to_le_bytes());
        b.extend_from_slice(&name);
        b.extend_from_slice(&[0, 0]);
        nvarchar(&mut b, "@stmt", "SELECT 1");
        b.push(0xFF); // BatchFlag: a second call follows
        b.extend_from_slice(&[0xFF, 0xFF, 12, 0, 0, 0]); // sp_execute
        crate::wire::put_b_varchar(&mut b, "@handle");
        b.extend_from_slice(&[0, 0x38, 5, 0, 0, 0]); // INT4 5
        let calls = parse_rpc(&b).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].procedure, "sp_executesql");
        assert_eq!(unpack_execute_sql(&calls[0].params).unwrap().sql, "SELECT 1");
        assert_eq!(calls[1].procedure, "sp_execute");
        assert_eq!(calls[1].params[0].value, SqlValue::Int(5));
    }

    #[test]
    fn unknown_parameter_type_is_reported() {
        let mut b = all_headers();
        b.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        nvarchar(&mut b, "stmt", "x");
        crate::wire::put_b_varchar(&mut b, "@v");
        b.extend_from_slice(&[0, 0x62, 1, 2, 3]);
        let calls = parse_rpc(&b).unwrap();
        let unknown = calls[0].unknown.clone().unwrap();
        assert_eq!((unknown.position, unknown.name.as_str(), unknown.type_code), (2, "@v", 0x62));
    }

    #[test]
    fn declarations_split_at_top_level_commas() {
        assert_eq!(
            parse_declarations("@P1 decimal(10,2),@P2 nvarchar(max) OUTPUT, @P3 bigint"),
            vec![
                ("@P1".to_string(), "decimal(10,2)".to_string()),
                ("@P2".to_string(), "nvarchar(max)".to_string()),
                ("@P3".to_string(), "bigint".to_string()),
            ]
        );
        assert!(parse_declarations("").is_empty());
    }
}
