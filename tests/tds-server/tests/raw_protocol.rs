//! Protocol-level tests with the crate's raw client: packet sizes and
//! status bits, token order of the login response, ATTENTION, the
//! reset-connection bit, and malformed input.

use std::time::Duration;

use surveyor_tds_server::packet::{PacketHeader, packet_type, status};
use surveyor_tds_server::raw_client::{RawClient, RawResponse, all_headers};
use surveyor_tds_server::tokens::{done, token};
use surveyor_tds_server::{ColumnDef, Reply, Request, ResultSet, ServerConfig, SqlType, SqlValue, TdsServer};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

async fn within<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body).await.expect("test did not finish within 60 s");
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn big_handler(req: &Request) -> Reply {
    if req.sql.starts_with("SELECT big") {
        let mut set = ResultSet::new(vec![
            ColumnDef::not_null("id", SqlType::Int),
            ColumnDef::new("text", SqlType::NVarChar(None)),
        ]);
        for i in 0..2000 {
            set.rows.push(vec![SqlValue::Int(i), SqlValue::str(format!("{i:>100}"))]);
        }
        Reply::rows(set)
    } else {
        Reply::rows(ResultSet::new(vec![ColumnDef::new("x", SqlType::Int)]).row(vec![SqlValue::Int(1)]))
    }
}

fn assert_split_at(resp: &RawResponse, size: u16) {
    let n = resp.packets.len();
    assert!(n > 10, "expected many packets, got {n}");
    for (i, p) in resp.packets.iter().enumerate() {
        assert_eq!(p.ty, packet_type::TABULAR_RESULT);
        if i + 1 < n {
            assert_eq!((p.length, p.status), (size, 0), "packet {i}");
        } else {
            assert!(p.length <= size);
            assert_eq!(p.status, status::EOM);
        }
        // Packet ids count up modulo 256 across the message.
        assert_eq!(p.packet_id, resp.packets[0].packet_id.wrapping_add(i as u8));
        assert_eq!(p.spid, resp.packets[0].spid);
    }
}

#[tokio::test]
async fn responses_are_split_at_the_packet_size_the_login_asked_for() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();
        for requested in [4096u32, 8192, 32767] {
            let mut c = RawClient::connect(server.addr()).await.unwrap();
            let login = c.login("sa", "Passw0rd!", "", requested).await.unwrap();
            // ENVCHANGE(packet size): new value, then the old one.
            let mut envchange = vec![token::ENVCHANGE];
            let new = requested.to_string();
            envchange.extend_from_slice(&((1 + 1 + 2 * new.len() + 1 + 2 * new.len()) as u16).to_le_bytes());
            envchange.push(4);
            envchange.push(new.len() as u8);
            envchange.extend_from_slice(&utf16(&new));
            assert!(login.contains(&envchange), "ENVCHANGE packet size {requested} missing");
            let resp = c.batch("SELECT big").await.unwrap();
            assert!(resp.payload.len() > 200_000);
            assert_split_at(&resp, requested as u16);
            assert_eq!(resp.final_done(), Some((token::DONE, done::COUNT, 2000)));
        }
        // Out-of-range requests are clamped to what SQL Server accepts.
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        c.login("sa", "Passw0rd!", "", 100).await.unwrap();
        let logins = server.logins();
        assert_eq!(logins.last().unwrap().packet_size, 512);
    })
    .await;
}

/// Walks the tokens of a login response (the token kinds it can hold).
fn login_token_kinds(payload: &[u8]) -> Vec<u8> {
    let mut kinds = Vec::new();
    let mut pos = 0;
    while pos < payload.len() {
        let t = payload[pos];
        kinds.push(t);
        pos += 1;
        pos += match t {
            token::ENVCHANGE | token::INFO | token::ERROR | token::LOGINACK => {
                2 + u16::from_le_bytes([payload[pos], payload[pos + 1]]) as usize
            }
            token::DONE | token::DONEPROC | token::DONEINPROC => 12,
            other => panic!("unexpected token {other:#04x}"),
        };
    }
    assert_eq!(pos, payload.len());
    kinds
}

#[tokio::test]
async fn login_response_has_sql_servers_token_order() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        let pre = c.prelogin(2).await.unwrap();
        assert_eq!(pre.version, 0x1000_03E8, "16.0.1000");
        assert_eq!(pre.encryption, 2, "ENCRYPT_NOT_SUP");
        drop(c);

        let mut c = RawClient::connect(server.addr()).await.unwrap();
        let resp = c.login("sa", "Passw0rd!", "tempdb", 4096).await.unwrap();
        assert_eq!(
            login_token_kinds(&resp.payload),
            vec![
                token::ENVCHANGE, // database
                token::INFO,      // 5701
                token::ENVCHANGE, // collation
                token::ENVCHANGE, // language
                token::INFO,      // 5703
                token::LOGINACK,
                token::ENVCHANGE, // packet size
                token::DONE,
            ]
        );
        // LOGINACK carries the TDS version big-endian and the program name.
        let mut ack = vec![token::LOGINACK];
        let prog = utf16("Microsoft SQL Server");
        ack.extend_from_slice(&((1 + 4 + 1 + prog.len() + 4) as u16).to_le_bytes());
        ack.extend_from_slice(&[1, 0x74, 0x00, 0x00, 0x04, 20]);
        ack.extend_from_slice(&prog);
        ack.extend_from_slice(&[16, 0, 0x03, 0xE8]);
        assert!(resp.contains(&ack));
        assert_eq!(resp.final_done(), Some((token::DONE, 0, 0)));
        assert_eq!(resp.packets[0].spid, resp.packets.last().unwrap().spid);

        // A refused login: ERROR 18456, then DONE with the error bit; then
        // the server closes the connection.
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        let resp = c.login("sa", "nope", "", 4096).await.unwrap();
        assert_eq!(login_token_kinds(&resp.payload), vec![token::ERROR, token::DONE]);
        assert!(resp.contains(&18456u32.to_le_bytes()));
        assert_eq!(resp.final_done(), Some((token::DONE, done::ERROR, 0)));
        let mut buf = [0u8; 1];
        assert_eq!(c.stream.read(&mut buf).await.unwrap_or(0), 0);
    })
    .await;
}

#[tokio::test]
async fn attention_is_acknowledged_with_done_attn() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        c.login("sa", "Passw0rd!", "", 4096).await.unwrap();
        // Ask for a large result and cancel straight away: the server may
        // have sent it all already, then acknowledges the ATTENTION.
        c.send(packet_type::SQL_BATCH, &surveyor_tds_server::raw_client::batch_payload("SELECT big")).await.unwrap();
        c.send(packet_type::ATTENTION, &[]).await.unwrap();
        let first = c.read_response().await.unwrap();
        let ack = if first.final_done().is_some_and(|d| d.1 & done::ATTN != 0) {
            first
        } else {
            c.read_response().await.unwrap()
        };
        assert_eq!(ack.final_done(), Some((token::DONE, done::ATTN, 0)));
        // The session goes on.
        let resp = c.batch("SELECT 1").await.unwrap();
        assert_eq!(resp.final_done(), Some((token::DONE, done::COUNT, 1)));
    })
    .await;
}

#[tokio::test]
async fn reset_connection_bit_returns_to_the_login_database() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        c.login("sa", "Passw0rd!", "master", 4096).await.unwrap();
        let resp = c.batch("USE tempdb").await.unwrap();
        assert!(resp.contains(&utf16("Changed database context to 'tempdb'.")));
        // One packet, status EOM | RESET_CONNECTION.
        let payload = surveyor_tds_server::raw_client::batch_payload("SELECT 1");
        let header = PacketHeader {
            ty: packet_type::SQL_BATCH,
            status: status::EOM | status::RESET_CONNECTION,
            length: (payload.len() + 8) as u16,
            spid: 0,
            packet_id: 9,
            window: 0,
        };
        c.stream.write_all(&header.encode()).await.unwrap();
        c.stream.write_all(&payload).await.unwrap();
        let resp = c.read_response().await.unwrap();
        assert_eq!(&resp.payload[..5], &[token::ENVCHANGE, 3, 0, 18, 0], "reset acknowledgement first");
        let reqs = server.requests();
        assert_eq!(reqs.last().unwrap().database, "master");
    })
    .await;
}

fn rpc_payload(params: &[u8]) -> Vec<u8> {
    let mut b = all_headers();
    b.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]); // ProcID 10 = sp_executesql, no option flags
    // @stmt nvarchar(4000) = N'SELECT @v'
    b.extend_from_slice(&[0, 0]); // unnamed, status 0
    b.extend_from_slice(&[0xE7, 0x40, 0x1F, 0x09, 0x04, 0xD0, 0x00, 0x34]);
    let stmt = utf16("SELECT @v");
    b.extend_from_slice(&(stmt.len() as u16).to_le_bytes());
    b.extend_from_slice(&stmt);
    b.extend_from_slice(params);
    b
}

#[tokio::test]
async fn unknown_parameter_type_is_answered_with_error_8009() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();
        let mut c = RawClient::connect(server.addr()).await.unwrap();
        c.login("sa", "Passw0rd!", "", 4096).await.unwrap();
        // A sql_variant (0x62) parameter.
        let mut param = vec![2];
        param.extend_from_slice(&utf16("@v"));
        param.extend_from_slice(&[0, 0x62, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        c.send(packet_type::RPC, &rpc_payload(&param)).await.unwrap();
        let resp = c.read_response().await.unwrap();
        assert_eq!(resp.payload[0], token::ERROR);
        assert!(resp.contains(&8009u32.to_le_bytes()));
        assert_eq!(resp.final_done(), Some((token::DONEPROC, done::ERROR, 0)));
        // Still usable.
        let resp = c.batch("SELECT 1").await.unwrap();
        assert_eq!(resp.final_done().map(|d| d.1), Some(done::COUNT));
    })
    .await;
}

/// Sends `bytes` on a fresh connection (after a login if `login`, then
/// closing the sending side if `half_close`) and expects the server to
/// close it.
async fn expect_closed(server: &TdsServer, login: bool, bytes: &[u8], half_close: bool) {
    let mut c = RawClient::connect(server.addr()).await.unwrap();
    if login {
        c.login("sa", "Passw0rd!", "", 4096).await.unwrap();
    }
    c.stream.write_all(bytes).await.unwrap();
    if half_close {
        c.stream.shutdown().await.unwrap();
    }
    let mut sink = vec![0u8; 65536];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // e.g. a PRELOGIN answer before the bad part
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server kept the connection open after {:02x?}", &bytes[..bytes.len().min(32)]);
}

fn packet(ty: u8, status_bits: u8, payload: &[u8]) -> Vec<u8> {
    let h =
        PacketHeader { ty, status: status_bits, length: (payload.len() + 8) as u16, spid: 0, packet_id: 1, window: 0 };
    let mut b = h.encode().to_vec();
    b.extend_from_slice(payload);
    b
}

#[tokio::test]
async fn malformed_input_closes_that_connection_and_nothing_else() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), big_handler).await.unwrap();

        // A pseudo-random byte soup.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let soup: Vec<u8> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let good_prelogin =
            packet(packet_type::PRELOGIN, status::EOM, &surveyor_tds_server::raw_client::prelogin_payload(2));
        let mut bad_login = good_prelogin.clone();
        let mut login7 = vec![0u8; 100];
        login7[..4].copy_from_slice(&100u32.to_le_bytes());
        login7[40..44].copy_from_slice(&[0xF0, 0xFF, 0x10, 0x00]); // user name far outside the record
        bad_login.extend_from_slice(&packet(packet_type::LOGIN7, status::EOM, &login7));
        let mut truncated_message = good_prelogin.clone();
        truncated_message.extend_from_slice(&packet(packet_type::LOGIN7, 0, &[1, 2, 3]));

        let before_login: Vec<(&str, Vec<u8>)> = vec![
            ("byte soup", soup),
            ("oversized packet", vec![0x12, 0x01, 0xFF, 0xFF, 0, 0, 1, 0]),
            ("packet shorter than its header", vec![0x12, 0x01, 0x00, 0x04, 0, 0, 1, 0]),
            ("PRELOGIN option out of bounds", packet(packet_type::PRELOGIN, status::EOM, &[0, 0x10, 0, 0, 6, 0xFF])),
            ("PRELOGIN without VERSION first", packet(packet_type::PRELOGIN, status::EOM, &[1, 0, 6, 0, 1, 0xFF, 0])),
            ("LOGIN7 first", packet(packet_type::LOGIN7, status::EOM, &[0; 40])),
            ("TLS ClientHello first (TDS 8 strict)", vec![0x16, 0x03, 0x01, 0x00, 0x50, 0x01, 0, 0, 0x4C, 3, 3]),
            ("LOGIN7 with a bad offset", bad_login),
            ("message cut off", truncated_message),
        ];
        for (what, bytes) in &before_login {
            eprintln!("case: {what}");
            expect_closed(&server, false, bytes, *what == "message cut off").await;
        }

        let mut odd_batch = all_headers();
        odd_batch.extend_from_slice(&[b'S', 0, b'E']);
        let mut truncated_param = vec![2];
        truncated_param.extend_from_slice(&utf16("@v"));
        truncated_param.extend_from_slice(&[0, 0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 0x00, 0x10, b'a']);
        let after_login: Vec<(&str, Vec<u8>)> = vec![
            ("odd-length SQL text", packet(packet_type::SQL_BATCH, status::EOM, &odd_batch)),
            ("bad ALL_HEADERS", packet(packet_type::SQL_BATCH, status::EOM, &[0xFF, 0xFF, 0, 0, 1, 2])),
            ("truncated RPC parameter", packet(packet_type::RPC, status::EOM, &rpc_payload(&truncated_param))),
            (
                "unknown ProcID",
                packet(packet_type::RPC, status::EOM, &{
                    let mut b = all_headers();
                    b.extend_from_slice(&[0xFF, 0xFF, 99, 0, 0, 0]);
                    b
                }),
            ),
            ("unknown packet type", packet(0x55, status::EOM, &[1, 2, 3])),
            ("a second LOGIN7", packet(packet_type::LOGIN7, status::EOM, &[0; 120])),
            ("mixed packet types in one message", {
                let mut b = packet(packet_type::SQL_BATCH, 0, &all_headers());
                b.extend_from_slice(&packet(packet_type::RPC, status::EOM, &[0, 0]));
                b
            }),
        ];
        for (what, bytes) in &after_login {
            eprintln!("case: {what}");
            expect_closed(&server, true, bytes, false).await;
        }

        let failures = server.connection_failures();
        eprintln!("{failures:#?}");
        assert!(failures.len() >= before_login.len() + after_login.len() - 1, "{failures:#?}");

        // The server is fine: a real client connects and queries.
        let mut config = Config::new();
        config.host("127.0.0.1");
        config.port(server.addr().port());
        config.authentication(AuthMethod::sql_server("sa", "Passw0rd!"));
        config.encryption(EncryptionLevel::NotSupported);
        let tcp = TcpStream::connect(server.addr()).await.unwrap();
        let mut client = Client::connect(config, tcp.compat_write()).await.unwrap();
        let rows = client.simple_query("SELECT 1").await.unwrap().into_first_result().await.unwrap();
        assert_eq!(rows[0].get::<i32, _>(0), Some(1));
    })
    .await;
}
