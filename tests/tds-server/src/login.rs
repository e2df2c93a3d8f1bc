//! LOGIN7, [MS-TDS] 2.2.6.4: the fixed header, the OffsetLength table and
//! its UCS-2 strings, the password obfuscation, and an encoder used by the
//! crate's raw test client.

use crate::wire::{PResult, ProtocolError, Reader, put_utf16, utf16_len};

/// Length of the fixed part of LOGIN7 up to and including `cbSSPILong`.
const FIXED_LEN: usize = 94;

/// Longest accepted name (SQL Server's identifiers and logins are at most
/// 128 characters).
const MAX_NAME_CHARS: usize = 128;

/// `OptionFlags2.fIntSecurity`: integrated (SSPI) authentication.
pub const FLAG2_INTEGRATED_SECURITY: u8 = 0x80;
/// `OptionFlags3.fExtension`: `ibExtension` points at FeatureExt data.
pub const FLAG3_EXTENSION: u8 = 0x10;

/// TDS 7.4, as a client sends it in LOGIN7 and the server in LOGINACK.
pub const TDS_7_4: u32 = 0x7400_0004;

/// A parsed LOGIN7 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Login7 {
    /// Highest TDS version the client speaks (`0x74000004` = 7.4).
    pub tds_version: u32,
    /// Requested packet size (0: the server's default).
    pub packet_size: u32,
    /// Client program version.
    pub client_prog_version: u32,
    /// Client process id.
    pub client_pid: u32,
    /// OptionFlags1.
    pub option_flags1: u8,
    /// OptionFlags2.
    pub option_flags2: u8,
    /// TypeFlags.
    pub type_flags: u8,
    /// OptionFlags3.
    pub option_flags3: u8,
    /// Client host name.
    pub host_name: String,
    /// SQL login name.
    pub user_name: String,
    /// Password, de-obfuscated.
    pub password: String,
    /// Application name.
    pub app_name: String,
    /// Server name the client connected to.
    pub server_name: String,
    /// Client interface library name.
    pub library_name: String,
    /// Initial language.
    pub language: String,
    /// Initial database.
    pub database: String,
    /// SSPI data, when integrated security is used.
    pub sspi: Vec<u8>,
}

impl Login7 {
    /// True if the client asks for integrated (Windows/Kerberos) login.
    pub fn integrated_security(&self) -> bool {
        self.option_flags2 & FLAG2_INTEGRATED_SECURITY != 0
    }

    /// True if the record carries FeatureExt data.
    pub fn uses_feature_ext(&self) -> bool {
        self.option_flags3 & FLAG3_EXTENSION != 0
    }
}

/// Undoes the LOGIN7 password obfuscation (MS-TDS 2.2.6.4: the client
/// swaps the nibbles of every byte, then XORs it with 0xA5; so the server
/// XORs with 0xA5, then swaps).
pub fn deobfuscate_password(b: u8) -> u8 {
    (b ^ 0xA5).rotate_left(4)
}

/// The client side of [`deobfuscate_password`].
pub fn obfuscate_password(b: u8) -> u8 {
    b.rotate_left(4) ^ 0xA5
}

/// Parses a LOGIN7 payload, checking every offset and length.
pub fn parse_login7(payload: &[u8]) -> PResult<Login7> {
    let mut r = Reader::new(payload);
    let length = r.u32_le()? as usize;
    if length < FIXED_LEN || length > payload.len() {
        return Err(ProtocolError::new(format!(
            "LOGIN7 length {length} does not fit the {} byte message",
            payload.len()
        )));
    }
    let record = &payload[..length];
    let mut out = Login7 {
        tds_version: r.u32_le()?,
        packet_size: r.u32_le()?,
        client_prog_version: r.u32_le()?,
        client_pid: r.u32_le()?,
        ..Default::default()
    };
    let _connection_id = r.u32_le()?;
    out.option_flags1 = r.u8()?;
    out.option_flags2 = r.u8()?;
    out.type_flags = r.u8()?;
    out.option_flags3 = r.u8()?;
    let _time_zone = r.i32_le()?;
    let _lcid = r.u32_le()?;

    let string = |r: &mut Reader<'_>, what: &str, obfuscated: bool| -> PResult<String> {
        let offset = r.u16_le()? as usize;
        let chars = r.u16_le()? as usize;
        if chars > MAX_NAME_CHARS {
            return Err(ProtocolError::new(format!("LOGIN7 {what} longer than {MAX_NAME_CHARS} characters")));
        }
        let bytes = record
            .get(offset..offset + chars * 2)
            .ok_or_else(|| ProtocolError::new(format!("LOGIN7 {what} points outside the record")))?;
        let plain: Vec<u8> =
            if obfuscated { bytes.iter().map(|b| deobfuscate_password(*b)).collect() } else { bytes.to_vec() };
        crate::wire::utf16le_to_string(&plain)
    };
    out.host_name = string(&mut r, "host name", false)?;
    out.user_name = string(&mut r, "user name", false)?;
    out.password = string(&mut r, "password", true)?;
    out.app_name = string(&mut r, "application name", false)?;
    out.server_name = string(&mut r, "server name", false)?;
    // ibExtension / cbExtension: a pointer to the FeatureExt block, which
    // this server does not act on; only its bounds are checked.
    let ext_offset = r.u16_le()? as usize;
    let ext_len = r.u16_le()? as usize;
    if ext_len > 0 && record.get(ext_offset..ext_offset + ext_len).is_none() {
        return Err(ProtocolError::new("LOGIN7 extension points outside the record"));
    }
    out.library_name = string(&mut r, "library name", false)?;
    out.language = string(&mut r, "language", false)?;
    out.database = string(&mut r, "database", false)?;
    r.skip(6)?; // ClientID
    let sspi_offset = r.u16_le()? as usize;
    let sspi_len = r.u16_le()? as usize;
    let _attach_db_file = string(&mut r, "attach-db file", false)?;
    let _change_password = string(&mut r, "new password", true)?;
    let sspi_long = r.u32_le()? as usize;
    let sspi_len = if sspi_len == 0xFFFF { sspi_long } else { sspi_len };
    out.sspi = record
        .get(sspi_offset..sspi_offset.saturating_add(sspi_len))
        .ok_or_else(|| ProtocolError::new("LOGIN7 SSPI data points outside the record"))?
        .to_vec();
    Ok(out)
}

/// Encodes a LOGIN7 record for SQL authentication (used by
/// [`crate::raw_client`]).
pub fn encode_login7(login: &Login7) -> Vec<u8> {
    let strings: [(&str, bool); 9] = [
        (&login.host_name, false),
        (&login.user_name, false),
        (&login.password, true),
        (&login.app_name, false),
        (&login.server_name, false),
        ("", false), // extension
        (&login.library_name, false),
        (&login.language, false),
        (&login.database, false),
    ];
    let mut head = Vec::with_capacity(FIXED_LEN);
    let mut data = Vec::new();
    head.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
    head.extend_from_slice(&login.tds_version.to_le_bytes());
    head.extend_from_slice(&login.packet_size.to_le_bytes());
    head.extend_from_slice(&login.client_prog_version.to_le_bytes());
    head.extend_from_slice(&login.client_pid.to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes()); // connection id
    head.extend_from_slice(&[login.option_flags1, login.option_flags2, login.type_flags, login.option_flags3]);
    head.extend_from_slice(&0i32.to_le_bytes()); // time zone
    head.extend_from_slice(&0x0409u32.to_le_bytes()); // LCID
    for (s, obfuscated) in strings {
        head.extend_from_slice(&((FIXED_LEN + data.len()) as u16).to_le_bytes());
        head.extend_from_slice(&(utf16_len(s) as u16).to_le_bytes());
        let start = data.len();
        put_utf16(&mut data, s);
        if obfuscated {
            for b in &mut data[start..] {
                *b = obfuscate_password(*b);
            }
        }
    }
    head.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ClientID
    for _ in 0..3 {
        // ibSSPI/cbSSPI, ibAtchDBFile/cchAtchDBFile, ibChangePassword/cchChangePassword
        head.extend_from_slice(&((FIXED_LEN + data.len()) as u16).to_le_bytes());
        head.extend_from_slice(&0u16.to_le_bytes());
    }
    head.extend_from_slice(&0u32.to_le_bytes()); // cbSSPILong
    debug_assert_eq!(head.len(), FIXED_LEN);
    head.extend_from_slice(&data);
    let len = head.len() as u32;
    head[..4].copy_from_slice(&len.to_le_bytes());
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_obfuscation_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(deobfuscate_password(obfuscate_password(b)), b);
        }
        // MS-TDS 2.2.6.4's example: 'a' (0x61) → swap 0x16 → XOR 0xA5 = 0xB3.
        assert_eq!(obfuscate_password(0x61), 0xB3);
    }

    #[test]
    fn login7_round_trips() {
        let login = Login7 {
            tds_version: TDS_7_4,
            packet_size: 8192,
            host_name: "host".into(),
            user_name: "reader".into(),
            password: "s3cret!é".into(),
            app_name: "surveyor".into(),
            database: "sales".into(),
            ..Default::default()
        };
        let bytes = encode_login7(&login);
        assert_eq!(parse_login7(&bytes).unwrap(), login);
    }

    #[test]
    fn login7_bounds_are_checked() {
        let login = Login7 { user_name: "u".into(), ..Default::default() };
        let mut bytes = encode_login7(&login);
        // Point the user name far outside the record.
        bytes[40] = 0xFF;
        bytes[41] = 0x7F;
        assert!(parse_login7(&bytes).is_err());
        assert!(parse_login7(&bytes[..50]).is_err());
        assert!(parse_login7(&[0xFF; 200]).is_err());
    }
}
