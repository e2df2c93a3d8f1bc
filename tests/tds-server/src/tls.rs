//! TLS inside TDS, [MS-TDS] 2.2.6.5 ("this message stream is also used to
//! wrap the SSL handshake payload") and 3.3.5.2 "TLS/SSL Negotiation State":
//! during the handshake every TLS record travels as the payload of PRELOGIN
//! (0x12) packets; once the handshake is done TLS records flow directly on
//! the TCP stream, with the TDS packets inside them.
//!
//! The server certificate is self-signed, generated with `rcgen` when the
//! server starts. Only TLS 1.2 is offered, as SQL Server does for TDS 7.x
//! (TLS 1.3 needs TDS 8.0's TLS-first mode, which this stand-in lacks);
//! TLS 1.2 also ends the handshake with a server flight, so nothing of the
//! handshake follows once the client has switched to raw records.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;

use crate::packet::{DEFAULT_PACKET_SIZE, HEADER_LEN, PacketHeader, frame_message, packet_type};

/// Builds the rustls server configuration with a fresh self-signed
/// certificate for `localhost` / `127.0.0.1` / the server name.
pub(crate) fn self_signed_config(server_name: &str) -> io::Result<Arc<rustls::ServerConfig>> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !server_name.is_empty() && !names.iter().any(|n| n == server_name) {
        names.push(server_name.to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let cert = rustls::Certificate(certified.cert.der().to_vec());
    let key = rustls::PrivateKey(certified.key_pair.serialize_der());
    let config = rustls::ServerConfig::builder()
        .with_safe_default_cipher_suites()
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// Sits between rustls and the TCP stream. While the handshake runs it
/// unwraps the PRELOGIN packets the client sends and wraps what the server
/// writes into PRELOGIN packets (one message per flush); afterwards it
/// passes bytes through untouched.
pub(crate) struct PreloginWrapper<S> {
    inner: S,
    handshaking: bool,
    // Reading: the header of the packet being read, and what is left of its payload.
    header: [u8; HEADER_LEN],
    header_pos: usize,
    payload_left: usize,
    // Writing: TLS bytes not framed yet, and framed bytes not written yet.
    pending: Vec<u8>,
    framed: Vec<u8>,
    framed_pos: usize,
    packet_id: u8,
}

impl<S> PreloginWrapper<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            handshaking: true,
            header: [0; HEADER_LEN],
            header_pos: 0,
            payload_left: 0,
            pending: Vec::new(),
            framed: Vec::new(),
            framed_pos: 0,
            packet_id: 1,
        }
    }

    /// Switches to pass-through once the TLS handshake has completed.
    pub(crate) fn handshake_complete(&mut self) {
        self.handshaking = false;
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginWrapper<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.handshaking {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        while this.payload_left == 0 {
            // Read the next PRELOGIN packet header.
            while this.header_pos < HEADER_LEN {
                let mut rb = ReadBuf::new(&mut this.header[this.header_pos..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    if this.header_pos == 0 {
                        return Poll::Ready(Ok(())); // EOF
                    }
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                this.header_pos += n;
            }
            let h = PacketHeader::decode(&this.header);
            this.header_pos = 0;
            if h.ty != packet_type::PRELOGIN {
                return Poll::Ready(Err(invalid(format!(
                    "expected a PRELOGIN packet carrying TLS, got packet type {:#04x}",
                    h.ty
                ))));
            }
            let len = h.length as usize;
            if !(HEADER_LEN..=DEFAULT_PACKET_SIZE).contains(&len) {
                return Poll::Ready(Err(invalid(format!("TLS handshake packet of invalid length {len}"))));
            }
            this.payload_left = len - HEADER_LEN;
        }
        let want = this.payload_left.min(buf.remaining());
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(want));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.advance(n);
        this.payload_left -= n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> PreloginWrapper<S> {
    fn poll_write_framed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.framed_pos < self.framed.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.framed[self.framed_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.framed_pos += n;
        }
        self.framed.clear();
        self.framed_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginWrapper<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.handshaking {
            ready!(this.poll_write_framed(cx))?;
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.pending.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_framed(cx))?;
        if !this.pending.is_empty() {
            let pending = std::mem::take(&mut this.pending);
            this.packet_id = frame_message(
                packet_type::PRELOGIN,
                &pending,
                DEFAULT_PACKET_SIZE,
                0,
                this.packet_id,
                &mut this.framed,
            );
            ready!(this.poll_write_framed(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_framed(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
