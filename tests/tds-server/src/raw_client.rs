//! A minimal raw TDS client for protocol-level tests: it speaks PRELOGIN
//! and LOGIN7 without TLS, sends SQL batches and ATTENTION, and hands back
//! the server's packets as they arrived, so a test can check packet sizes,
//! status bits and token bytes that a full client library hides.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::login::{Login7, TDS_7_4, encode_login7};
use crate::packet::{DEFAULT_PACKET_SIZE, HEADER_LEN, PacketHeader, frame_message, packet_type, status};
use crate::prelogin::{ClientPrelogin, parse_client_prelogin};
use crate::tokens::token;

/// One server message: the headers of its packets and the joined payload.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Header of every packet, in order.
    pub packets: Vec<PacketHeader>,
    /// The payloads joined.
    pub payload: Vec<u8>,
}

impl RawResponse {
    /// The last token of a response, if it is a DONE/DONEPROC/DONEINPROC
    /// (every complete response ends with one): `(token, status, rows)`.
    pub fn final_done(&self) -> Option<(u8, u16, u64)> {
        let p = &self.payload;
        if p.len() < 13 {
            return None;
        }
        let t = &p[p.len() - 13..];
        matches!(t[0], token::DONE | token::DONEPROC | token::DONEINPROC).then(|| {
            (t[0], u16::from_le_bytes([t[1], t[2]]), u64::from_le_bytes(t[5..13].try_into().unwrap_or_default()))
        })
    }

    /// True if `needle` occurs in the payload.
    pub fn contains(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.payload.windows(needle.len()).any(|w| w == needle)
    }
}

/// A raw connection.
pub struct RawClient {
    /// The TCP stream (tests may write garbage to it directly).
    pub stream: TcpStream,
    /// Packet size used to split outgoing messages.
    pub packet_size: usize,
    next_id: u8,
}

/// ALL_HEADERS with a transaction descriptor (0) and one outstanding
/// request, as clients send it before SQL_BATCH and RPC (MS-TDS 2.2.5.3).
pub fn all_headers() -> Vec<u8> {
    let mut b = Vec::with_capacity(22);
    b.extend_from_slice(&22u32.to_le_bytes());
    b.extend_from_slice(&18u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&1u32.to_le_bytes());
    b
}

/// A SQL_BATCH payload.
pub fn batch_payload(sql: &str) -> Vec<u8> {
    let mut b = all_headers();
    crate::wire::put_utf16(&mut b, sql);
    b
}

/// A client PRELOGIN payload: VERSION, ENCRYPTION, THREADID, MARS.
pub fn prelogin_payload(encryption: u8) -> Vec<u8> {
    let mut b = vec![
        0x00, 0x00, 0x15, 0x00, 0x06, 0x01, 0x00, 0x1b, 0x00, 0x01, 0x03, 0x00, 0x1c, 0x00, 0x04, 0x04, 0x00, 0x20,
        0x00, 0x01, 0xff,
    ];
    b.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00]);
    b.push(encryption);
    b.extend_from_slice(&[0, 0, 0, 1]);
    b.push(0);
    b
}

impl RawClient {
    /// Connects over TCP.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, packet_size: DEFAULT_PACKET_SIZE, next_id: 1 })
    }

    /// Sends a message split at [`RawClient::packet_size`].
    pub async fn send(&mut self, ty: u8, payload: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        self.next_id = frame_message(ty, payload, self.packet_size, 0, self.next_id, &mut out);
        self.stream.write_all(&out).await
    }

    /// Reads one server message.
    pub async fn read_response(&mut self) -> io::Result<RawResponse> {
        let mut packets = Vec::new();
        let mut payload = Vec::new();
        loop {
            let mut h = [0u8; HEADER_LEN];
            self.stream.read_exact(&mut h).await?;
            let header = PacketHeader::decode(&h);
            let len = (header.length as usize)
                .checked_sub(HEADER_LEN)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short packet"))?;
            let start = payload.len();
            payload.resize(start + len, 0);
            self.stream.read_exact(&mut payload[start..]).await?;
            packets.push(header);
            if header.status & status::EOM != 0 {
                return Ok(RawResponse { packets, payload });
            }
        }
    }

    /// PRELOGIN with the given encryption byte; returns the server's answer.
    pub async fn prelogin(&mut self, encryption: u8) -> io::Result<ClientPrelogin> {
        self.send(packet_type::PRELOGIN, &prelogin_payload(encryption)).await?;
        let resp = self.read_response().await?;
        parse_client_prelogin(&resp.payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// PRELOGIN (no encryption) and LOGIN7 with SQL authentication; on
    /// success the client's packet size becomes the one requested.
    pub async fn login(
        &mut self,
        user: &str,
        password: &str,
        database: &str,
        packet_size: u32,
    ) -> io::Result<RawResponse> {
        self.prelogin(crate::prelogin::encrypt::NOT_SUP).await?;
        let login = Login7 {
            tds_version: TDS_7_4,
            packet_size,
            host_name: "raw-client".into(),
            user_name: user.into(),
            password: password.into(),
            app_name: "surveyor-raw".into(),
            library_name: "raw".into(),
            database: database.into(),
            ..Default::default()
        };
        self.send(packet_type::LOGIN7, &encode_login7(&login)).await?;
        let resp = self.read_response().await?;
        if resp.payload.contains(&token::LOGINACK) && packet_size >= 512 {
            self.packet_size = packet_size as usize;
        }
        Ok(resp)
    }

    /// Sends a SQL batch and reads the response.
    pub async fn batch(&mut self, sql: &str) -> io::Result<RawResponse> {
        self.send(packet_type::SQL_BATCH, &batch_payload(sql)).await?;
        self.read_response().await
    }
}
