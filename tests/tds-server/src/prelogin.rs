//! PRELOGIN, [MS-TDS] 2.2.6.5: the option table the client opens with and
//! the server's answer, including the encryption negotiation of the
//! `ENCRYPTION` option (the table in 2.2.6.5) and 3.3.5.1 "Initial State".

use crate::wire::{PResult, ProtocolError, Reader};

/// PRELOGIN option tokens, MS-TDS 2.2.6.5.
pub mod option {
    /// `UL_VERSION` + `US_SUBBUILD`.
    pub const VERSION: u8 = 0x00;
    /// `B_FENCRYPTION`.
    pub const ENCRYPTION: u8 = 0x01;
    /// `B_INSTVALIDITY`: instance name, NUL-terminated.
    pub const INSTOPT: u8 = 0x02;
    /// `UL_THREADID`.
    pub const THREADID: u8 = 0x03;
    /// `B_MARS`.
    pub const MARS: u8 = 0x04;
    /// `GUID_CONNID` + `ACTIVITYID`.
    pub const TRACEID: u8 = 0x05;
    /// `B_FEDAUTHREQUIRED`.
    pub const FEDAUTHREQUIRED: u8 = 0x06;
    /// `NONCE`.
    pub const NONCEOPT: u8 = 0x07;
    /// End of the option table.
    pub const TERMINATOR: u8 = 0xFF;
}

/// `B_FENCRYPTION` values, MS-TDS 2.2.6.5.
pub mod encrypt {
    /// Encryption available but off (only LOGIN7 is encrypted).
    pub const OFF: u8 = 0x00;
    /// Encryption on.
    pub const ON: u8 = 0x01;
    /// Encryption not available.
    pub const NOT_SUP: u8 = 0x02;
    /// Encryption required.
    pub const REQ: u8 = 0x03;
    /// Client-certificate authentication flag (TDS 7.4), OR-ed in.
    pub const CLIENT_CERT: u8 = 0x80;
}

/// What the client said in its PRELOGIN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientPrelogin {
    /// Client library version (`UL_VERSION`, big-endian) and sub-build.
    pub version: u32,
    /// `US_SUBBUILD`.
    pub sub_build: u16,
    /// `B_FENCRYPTION` with the client-certificate bit masked off.
    pub encryption: u8,
    /// Requested instance name, if any.
    pub instance: Option<String>,
    /// Client thread id.
    pub thread_id: Option<u32>,
    /// The client asked for MARS.
    pub mars: bool,
    /// The client sent `FEDAUTHREQUIRED`.
    pub fed_auth_required: Option<bool>,
}

/// Parses a client PRELOGIN payload. The `VERSION` option must come first
/// (MS-TDS 3.3.5.1); every offset and length is checked against the payload.
pub fn parse_client_prelogin(payload: &[u8]) -> PResult<ClientPrelogin> {
    let mut table = Reader::new(payload);
    let mut out = ClientPrelogin { encryption: encrypt::NOT_SUP, ..Default::default() };
    let mut first = true;
    let mut seen_encryption = false;
    loop {
        let token = table.u8()?;
        if token == option::TERMINATOR {
            break;
        }
        let offset = table.u16_be()? as usize;
        let len = table.u16_be()? as usize;
        let data = payload
            .get(offset..offset.saturating_add(len))
            .ok_or_else(|| ProtocolError::new("PRELOGIN option points outside the message"))?;
        if first && token != option::VERSION {
            return Err(ProtocolError::new("PRELOGIN does not start with the VERSION option"));
        }
        first = false;
        let mut r = Reader::new(data);
        match token {
            option::VERSION => {
                out.version = r.u32_be()?;
                out.sub_build = r.u16_be()?;
            }
            option::ENCRYPTION => {
                let v = r.u8()? & !encrypt::CLIENT_CERT;
                if v > encrypt::REQ {
                    return Err(ProtocolError::new(format!("invalid PRELOGIN encryption value {v:#04x}")));
                }
                out.encryption = v;
                seen_encryption = true;
            }
            option::INSTOPT => {
                let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                let name = String::from_utf8_lossy(&data[..end]).into_owned();
                if !name.is_empty() {
                    out.instance = Some(name);
                }
            }
            option::THREADID if len >= 4 => out.thread_id = Some(r.u32_be()?),
            option::MARS => out.mars = r.u8()? != 0,
            option::FEDAUTHREQUIRED => out.fed_auth_required = Some(r.u8()? != 0),
            // TRACEID, NONCEOPT and options of later versions: accepted, unused.
            _ => {}
        }
    }
    if first {
        return Err(ProtocolError::new("PRELOGIN without options"));
    }
    if !seen_encryption {
        // MS-TDS: a missing ENCRYPTION option is ENCRYPT_NOT_SUP... but
        // every real client sends it; treat its absence as "not supported".
        out.encryption = encrypt::NOT_SUP;
    }
    Ok(out)
}

/// How the transport is protected after PRELOGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// No TLS at all.
    None,
    /// TLS for the LOGIN7 message only, then plain TCP (client and server
    /// both `ENCRYPT_OFF`).
    LoginOnly,
    /// TLS for the whole session.
    Full,
    /// The server requires encryption the client cannot do: the server
    /// answers and closes the connection.
    Reject,
}

/// The server's encryption setting, as in the `B_FENCRYPTION` it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEncryption {
    /// `ENCRYPT_NOT_SUP`: no certificate, no TLS.
    NotSupported,
    /// `ENCRYPT_OFF`: TLS available; at least LOGIN7 is encrypted unless the
    /// client cannot do TLS.
    Off,
    /// `ENCRYPT_REQ`: the whole session must be encrypted.
    Required,
}

/// The negotiation table of MS-TDS 2.2.6.5: returns the `B_FENCRYPTION`
/// value the server answers with and what follows from it.
pub fn negotiate(server: ServerEncryption, client: u8) -> (u8, Negotiated) {
    use encrypt::*;
    match server {
        ServerEncryption::NotSupported => (NOT_SUP, Negotiated::None),
        ServerEncryption::Off => match client {
            NOT_SUP => (NOT_SUP, Negotiated::None),
            OFF => (OFF, Negotiated::LoginOnly),
            _ => (ON, Negotiated::Full),
        },
        ServerEncryption::Required => match client {
            NOT_SUP => (REQ, Negotiated::Reject),
            _ => (REQ, Negotiated::Full),
        },
    }
}

/// Builds the server's PRELOGIN response payload (sent in a tabular-result
/// packet, MS-TDS 3.3.5.1): VERSION, ENCRYPTION, INSTOPT (0x00, "instance
/// matches"), THREADID (empty, as servers send it), MARS (off), and
/// FEDAUTHREQUIRED (0) only if the client sent that option.
pub fn encode_server_prelogin(version: (u8, u8, u16), encryption: u8, echo_fed_auth: bool) -> Vec<u8> {
    let (major, minor, build) = version;
    let b = build.to_be_bytes();
    let mut options: Vec<(u8, Vec<u8>)> = vec![
        (option::VERSION, vec![major, minor, b[0], b[1], 0, 0]),
        (option::ENCRYPTION, vec![encryption]),
        (option::INSTOPT, vec![0]),
        (option::THREADID, vec![]),
        (option::MARS, vec![0]),
    ];
    if echo_fed_auth {
        options.push((option::FEDAUTHREQUIRED, vec![0]));
    }
    let table_len = options.len() * 5 + 1;
    let mut head = Vec::with_capacity(table_len);
    let mut data = Vec::new();
    for (token, value) in &options {
        head.push(*token);
        head.extend_from_slice(&((table_len + data.len()) as u16).to_be_bytes());
        head.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    head.push(option::TERMINATOR);
    head.extend_from_slice(&data);
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_own_kind_of_table() {
        // VERSION, ENCRYPTION(ON), THREADID, MARS, as tiberius sends them.
        let payload = [
            0x00, 0x00, 0x15, 0x00, 0x06, 0x01, 0x00, 0x1b, 0x00, 0x01, 0x03, 0x00, 0x1c, 0x00, 0x04, 0x04, 0x00, 0x20,
            0x00, 0x01, 0xff, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00,
        ];
        let p = parse_client_prelogin(&payload).unwrap();
        assert_eq!(p.version, 0x0c00_0001);
        assert_eq!(p.encryption, encrypt::ON);
        assert_eq!(p.thread_id, Some(7));
        assert!(!p.mars);
    }

    #[test]
    fn rejects_out_of_bounds_and_missing_version() {
        assert!(parse_client_prelogin(&[0x00, 0x00, 0x40, 0x00, 0x06, 0xff]).is_err());
        assert!(parse_client_prelogin(&[0x01, 0x00, 0x06, 0x00, 0x01, 0xff, 0x00]).is_err());
        assert!(parse_client_prelogin(&[]).is_err());
        assert!(parse_client_prelogin(&[0xff]).is_err());
    }

    #[test]
    fn negotiation_table() {
        use encrypt::*;
        assert_eq!(negotiate(ServerEncryption::NotSupported, ON), (NOT_SUP, Negotiated::None));
        assert_eq!(negotiate(ServerEncryption::Off, NOT_SUP), (NOT_SUP, Negotiated::None));
        assert_eq!(negotiate(ServerEncryption::Off, OFF), (OFF, Negotiated::LoginOnly));
        assert_eq!(negotiate(ServerEncryption::Off, ON), (ON, Negotiated::Full));
        assert_eq!(negotiate(ServerEncryption::Off, REQ), (ON, Negotiated::Full));
        assert_eq!(negotiate(ServerEncryption::Required, OFF), (REQ, Negotiated::Full));
        assert_eq!(negotiate(ServerEncryption::Required, NOT_SUP), (REQ, Negotiated::Reject));
    }

    #[test]
    fn server_response_round_trips_through_the_parser() {
        let payload = encode_server_prelogin((16, 0, 1000), encrypt::OFF, false);
        let p = parse_client_prelogin(&payload).unwrap();
        assert_eq!(p.version, 0x1000_03e8);
        assert_eq!(p.encryption, encrypt::OFF);
        assert_eq!(p.thread_id, None);
    }
}
