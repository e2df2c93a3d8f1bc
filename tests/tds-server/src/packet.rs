//! The TDS packet layer: [MS-TDS] 2.2.3 "Packets" (the 8-byte packet header,
//! 2.2.3.1.1 packet types, 2.2.3.1.2 status bits) and 2.2.1 "Message
//! Types" — a message is one or more packets of the same type, the last one
//! flagged end-of-message (EOM).
//!
//! Incoming packets are checked against the current packet size (4096 before
//! LOGIN7, the negotiated size afterwards, MS-TDS 2.2.6.4 `PacketSize`) and a
//! whole message against a byte limit; outgoing messages are split into
//! packets of exactly the negotiated size, only the last one shorter and
//! carrying EOM.

use std::fmt;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::wire::ProtocolError;

/// Length of the packet header, MS-TDS 2.2.3.1.
pub const HEADER_LEN: usize = 8;

/// The packet size a connection starts with (MS-TDS 2.2.6.4: the client's
/// PRELOGIN and LOGIN7 use 4096-byte packets until the server confirms
/// another size with an ENVCHANGE).
pub const DEFAULT_PACKET_SIZE: usize = 4096;

/// Smallest and largest packet size a LOGIN7 may request (SQL Server
/// accepts 512 to 32767 bytes).
pub const MIN_PACKET_SIZE: usize = 512;
/// See [`MIN_PACKET_SIZE`].
pub const MAX_PACKET_SIZE: usize = 32767;

/// Packet types, MS-TDS 2.2.3.1.1.
pub mod packet_type {
    /// SQL batch (client).
    pub const SQL_BATCH: u8 = 0x01;
    /// Pre-TDS7 login (client, unsupported).
    pub const PRE_TDS7_LOGIN: u8 = 0x02;
    /// Remote procedure call (client).
    pub const RPC: u8 = 0x03;
    /// Tabular result (server).
    pub const TABULAR_RESULT: u8 = 0x04;
    /// Attention signal (client).
    pub const ATTENTION: u8 = 0x06;
    /// Bulk load data (client, unsupported).
    pub const BULK_LOAD: u8 = 0x07;
    /// Federated authentication token (client, unsupported).
    pub const FEDAUTH_TOKEN: u8 = 0x08;
    /// Transaction manager request (client, unsupported).
    pub const TRANSACTION_MANAGER: u8 = 0x0E;
    /// TDS 7 login (client).
    pub const LOGIN7: u8 = 0x10;
    /// SSPI message (client, unsupported).
    pub const SSPI: u8 = 0x11;
    /// PRELOGIN, also the carrier of the TLS handshake (client and server).
    pub const PRELOGIN: u8 = 0x12;
}

/// Packet status bits, MS-TDS 2.2.3.1.2.
pub mod status {
    /// Last packet of the message.
    pub const EOM: u8 = 0x01;
    /// The client asks the server to ignore this message (with EOM).
    pub const IGNORE: u8 = 0x02;
    /// Reset the session before processing the request.
    pub const RESET_CONNECTION: u8 = 0x08;
    /// Reset the session, keeping the transaction state.
    pub const RESET_CONNECTION_SKIP_TRAN: u8 = 0x10;
}

/// The 8-byte packet header, MS-TDS 2.2.3.1. Length and SPID are big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Packet type, see [`packet_type`].
    pub ty: u8,
    /// Status bits, see [`status`].
    pub status: u8,
    /// Length of the packet including this header.
    pub length: u16,
    /// Server process id (the server puts the session's SPID here).
    pub spid: u16,
    /// Packet number within the message, modulo 256.
    pub packet_id: u8,
    /// Unused, 0.
    pub window: u8,
}

impl PacketHeader {
    /// Parses the 8 header bytes.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Self {
        Self {
            ty: b[0],
            status: b[1],
            length: u16::from_be_bytes([b[2], b[3]]),
            spid: u16::from_be_bytes([b[4], b[5]]),
            packet_id: b[6],
            window: b[7],
        }
    }

    /// The 8 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let l = self.length.to_be_bytes();
        let s = self.spid.to_be_bytes();
        [self.ty, self.status, l[0], l[1], s[0], s[1], self.packet_id, self.window]
    }
}

/// A reassembled client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Packet type of every packet in the message.
    pub ty: u8,
    /// Status bits of the first packet (reset-connection flags live there).
    pub first_status: u8,
    /// The concatenated packet payloads.
    pub payload: Vec<u8>,
}

/// Why a connection ended abnormally.
#[derive(Debug)]
pub enum ConnError {
    /// The transport failed.
    Io(io::Error),
    /// The client sent something the protocol does not allow.
    Protocol(ProtocolError),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "I/O error: {e}"),
            ConnError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

impl From<ProtocolError> for ConnError {
    fn from(e: ProtocolError) -> Self {
        ConnError::Protocol(e)
    }
}

/// True for the packet types a client may send (MS-TDS 2.2.3.1.1).
pub fn is_client_packet_type(ty: u8) -> bool {
    use packet_type::*;
    matches!(
        ty,
        SQL_BATCH
            | PRE_TDS7_LOGIN
            | RPC
            | ATTENTION
            | BULK_LOAD
            | FEDAUTH_TOKEN
            | TRANSACTION_MANAGER
            | LOGIN7
            | SSPI
            | PRELOGIN
    )
}

/// Splits `payload` into packets of at most `packet_size` bytes (header
/// included), MS-TDS 2.2.3.1: every packet but the last is exactly
/// `packet_size` long, the last carries EOM. `first_id` numbers the first
/// packet; the returned value is the next free id.
pub fn frame_message(ty: u8, payload: &[u8], packet_size: usize, spid: u16, first_id: u8, out: &mut Vec<u8>) -> u8 {
    let packet_size = packet_size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
    let chunk = packet_size - HEADER_LEN;
    let mut id = first_id;
    let mut chunks = payload.chunks(chunk).peekable();
    if chunks.peek().is_none() {
        // An empty message is still one (header-only) packet.
        let h = PacketHeader { ty, status: status::EOM, length: HEADER_LEN as u16, spid, packet_id: id, window: 0 };
        out.extend_from_slice(&h.encode());
        return id.wrapping_add(1);
    }
    while let Some(part) = chunks.next() {
        let last = chunks.peek().is_none();
        let h = PacketHeader {
            ty,
            status: if last { status::EOM } else { 0 },
            length: (part.len() + HEADER_LEN) as u16,
            spid,
            packet_id: id,
            window: 0,
        };
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(part);
        id = id.wrapping_add(1);
    }
    id
}

/// A transport carrying TDS packets in both directions.
pub(crate) struct PacketStream<S> {
    pub(crate) io: S,
    /// Largest packet the client may send, and the size outgoing messages
    /// are split at.
    pub(crate) packet_size: usize,
    /// Largest client message accepted, in payload bytes.
    pub(crate) max_message: usize,
    /// SPID written into outgoing headers.
    pub(crate) spid: u16,
    next_id: u8,
}

impl<S> PacketStream<S> {
    pub(crate) fn new(io: S, spid: u16, max_message: usize) -> Self {
        Self { io, packet_size: DEFAULT_PACKET_SIZE, max_message, spid, next_id: 1 }
    }

    /// Takes the transport out (to put TLS on or off), keeping the packet
    /// state in the returned placeholder.
    pub(crate) fn take_io(self) -> (S, PacketStream<()>) {
        let rest = PacketStream {
            io: (),
            packet_size: self.packet_size,
            max_message: self.max_message,
            spid: self.spid,
            next_id: self.next_id,
        };
        (self.io, rest)
    }

    /// Puts a transport in, keeping the packet state.
    pub(crate) fn with_io<T>(self, io: T) -> PacketStream<T> {
        PacketStream {
            io,
            packet_size: self.packet_size,
            max_message: self.max_message,
            spid: self.spid,
            next_id: self.next_id,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketStream<S> {
    /// Reads one packet. `Ok(None)` is a clean end of stream before any
    /// header byte.
    pub(crate) async fn read_packet(&mut self) -> Result<Option<(PacketHeader, Vec<u8>)>, ConnError> {
        let mut hdr = [0u8; HEADER_LEN];
        let first = self.io.read(&mut hdr[..1]).await?;
        if first == 0 {
            return Ok(None);
        }
        self.io.read_exact(&mut hdr[1..]).await?;
        let header = PacketHeader::decode(&hdr);
        if !is_client_packet_type(header.ty) {
            return Err(ProtocolError::new(format!("{:#04x} is not a client packet type", header.ty)).into());
        }
        let len = header.length as usize;
        if len < HEADER_LEN {
            return Err(ProtocolError::new(format!("packet length {len} is shorter than its header")).into());
        }
        // A client may not exceed the negotiated size (MS-TDS 2.2.3.1); the
        // TLS handshake before LOGIN7 is held to the default size as well.
        if len > self.packet_size.max(DEFAULT_PACKET_SIZE) {
            return Err(ProtocolError::new(format!(
                "packet length {len} exceeds the packet size {}",
                self.packet_size
            ))
            .into());
        }
        let mut payload = vec![0u8; len - HEADER_LEN];
        self.io.read_exact(&mut payload).await?;
        Ok(Some((header, payload)))
    }

    /// Reads one whole message (packets up to EOM), MS-TDS 2.2.1. Messages
    /// the client flagged IGNORE are dropped. `Ok(None)` is a clean end of
    /// stream between messages.
    pub(crate) async fn read_message(&mut self) -> Result<Option<Message>, ConnError> {
        loop {
            let Some((first, mut payload)) = self.read_packet().await? else {
                return Ok(None);
            };
            let mut last_status = first.status;
            while last_status & status::EOM == 0 {
                let Some((next, more)) = self.read_packet().await? else {
                    return Err(ProtocolError::new("end of stream inside a message").into());
                };
                if next.ty != first.ty {
                    return Err(ProtocolError::new(format!(
                        "packet of type {:#04x} inside a message of type {:#04x}",
                        next.ty, first.ty
                    ))
                    .into());
                }
                if payload.len() + more.len() > self.max_message {
                    return Err(ProtocolError::new(format!("message larger than {} bytes", self.max_message)).into());
                }
                payload.extend_from_slice(&more);
                last_status = next.status;
            }
            if last_status & status::IGNORE != 0 {
                continue;
            }
            return Ok(Some(Message { ty: first.ty, first_status: first.status, payload }));
        }
    }

    /// Sends one message, split at the current packet size.
    pub(crate) async fn write_message(&mut self, ty: u8, payload: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + payload.len() / 512 * HEADER_LEN + HEADER_LEN);
        self.next_id = frame_message(ty, payload, self.packet_size, self.spid, self.next_id, &mut out);
        self.io.write_all(&out).await?;
        self.io.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_packet_size_with_eom_last() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let next = frame_message(packet_type::TABULAR_RESULT, &payload, 4096, 51, 1, &mut out);
        assert_eq!(next, 4);
        // 4088 + 4088 + 1824 payload bytes.
        let mut pos = 0;
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while pos < out.len() {
            let h = PacketHeader::decode(out[pos..pos + 8].try_into().unwrap());
            sizes.push((h.length, h.status, h.packet_id, h.spid));
            got.extend_from_slice(&out[pos + 8..pos + h.length as usize]);
            pos += h.length as usize;
        }
        assert_eq!(sizes, vec![(4096, 0, 1, 51), (4096, 0, 2, 51), (1832, 1, 3, 51)]);
        assert_eq!(got, payload);
    }

    #[test]
    fn empty_message_is_one_header() {
        let mut out = Vec::new();
        frame_message(4, &[], 4096, 0, 255, &mut out);
        assert_eq!(out, vec![4, 1, 0, 8, 0, 0, 255, 0]);
    }
}
