//! End-to-end tests with the real client: tiberius 0.12 (`tds73`,
//! `rustls`), unmodified, against the stand-in server.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use surveyor_tds_server::{
    ColumnDef, Encryption, Outcome, Param, Reply, Request, RequestKind, ResultSet, ServerConfig, ServerError,
    SqlDateTime, SqlType, SqlValue, TdsServer, TlsMode,
};
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime2, Time};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem, ToSql, Uuid};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type TdsClient = Client<Compat<TcpStream>>;

/// Runs a test body with a time limit, so a protocol bug fails instead of hanging.
async fn within<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body).await.expect("test did not finish within 60 s");
}

fn base_config(server: &TdsServer) -> Config {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(server.addr().port());
    config.authentication(AuthMethod::sql_server("sa", "Passw0rd!"));
    config.encryption(EncryptionLevel::NotSupported);
    config.trust_cert();
    config.application_name("surveyor-tests");
    config
}

async fn connect_with(server: &TdsServer, edit: impl FnOnce(&mut Config)) -> tiberius::Result<TdsClient> {
    let mut config = base_config(server);
    edit(&mut config);
    let tcp = TcpStream::connect(server.addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(server: &TdsServer) -> TdsClient {
    connect_with(server, |_| {}).await.expect("connect")
}

fn server_error(e: tiberius::error::Error) -> tiberius::error::TokenError {
    match e {
        tiberius::error::Error::Server(t) => t,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Runs a batch that must fail; tiberius reports the error either when the
/// query starts (no result set came first) or when the results are read.
async fn batch_error(client: &mut TdsClient, sql: &str) -> tiberius::error::TokenError {
    let res = match client.simple_query(sql).await {
        Ok(stream) => stream.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    server_error(res.expect_err("the batch should fail"))
}

/// Like [`batch_error`], through `sp_executesql`.
async fn rpc_error(client: &mut TdsClient, sql: &str) -> tiberius::error::TokenError {
    let res = match client.query(sql, &[]).await {
        Ok(stream) => stream.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    server_error(res.expect_err("the query should fail"))
}

fn guid_bytes() -> [u8; 16] {
    *Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap().as_bytes()
}

fn all_types_set() -> ResultSet {
    let dt = SqlDateTime::from_ymd_hms_nano(2024, 2, 29, 13, 45, 30, 123_456_700).unwrap();
    let long = "ä".repeat(6000);
    let columns = vec![
        ColumnDef::new("c_bit", SqlType::Bit),
        ColumnDef::new("c_tinyint", SqlType::TinyInt),
        ColumnDef::new("c_smallint", SqlType::SmallInt),
        ColumnDef::new("c_int", SqlType::Int),
        ColumnDef::new("c_bigint", SqlType::BigInt),
        ColumnDef::new("c_real", SqlType::Real),
        ColumnDef::new("c_float", SqlType::Float),
        ColumnDef::new("c_decimal", SqlType::Decimal(10, 2)),
        ColumnDef::new("c_nvarchar", SqlType::NVarChar(Some(50))),
        ColumnDef::new("c_nvarchar_max", SqlType::NVarChar(None)),
        ColumnDef::new("c_varchar", SqlType::VarChar(Some(20))),
        ColumnDef::new("c_varchar_max", SqlType::VarChar(None)),
        ColumnDef::new("c_nchar", SqlType::NChar(5)),
        ColumnDef::new("c_char", SqlType::Char(4)),
        ColumnDef::new("c_guid", SqlType::UniqueIdentifier),
        ColumnDef::new("c_date", SqlType::Date),
        ColumnDef::new("c_time", SqlType::Time(7)),
        ColumnDef::new("c_datetime", SqlType::DateTime),
        ColumnDef::new("c_datetime2", SqlType::DateTime2(7)),
        ColumnDef::new("c_dto", SqlType::DateTimeOffset(3)),
        ColumnDef::new("c_varbinary", SqlType::VarBinary(Some(16))),
        ColumnDef::new("c_varbinary_max", SqlType::VarBinary(None)),
        ColumnDef::new("c_binary", SqlType::Binary(4)),
        ColumnDef::new("c_sysname", SqlType::SysName),
        ColumnDef::not_null("c_id", SqlType::Int),
        ColumnDef::not_null("c_flag", SqlType::Bit),
        ColumnDef::not_null("c_created", SqlType::DateTime),
    ];
    let values = vec![
        SqlValue::Bit(true),
        SqlValue::TinyInt(200),
        SqlValue::SmallInt(-12345),
        SqlValue::Int(-2_000_000_000),
        SqlValue::BigInt(9_000_000_000_000),
        SqlValue::Real(1.5),
        SqlValue::Float(-2.25e100),
        SqlValue::Decimal(-1234567, 2),
        SqlValue::str("héllo wörld 😀"),
        SqlValue::str(long),
        SqlValue::str("café"),
        SqlValue::str("x".repeat(9000)),
        SqlValue::str("ab"),
        SqlValue::str("x"),
        SqlValue::Guid(guid_bytes()),
        SqlValue::Date(dt.days),
        SqlValue::Time(dt.nanos),
        SqlValue::DateTime(dt),
        SqlValue::DateTime(dt),
        SqlValue::DateTimeOffset(dt, -300),
        SqlValue::Binary(vec![0xDE, 0xAD, 0xBE, 0xEF]),
        SqlValue::Binary(vec![7u8; 20_000]),
        SqlValue::Binary(vec![1, 2]),
        SqlValue::str("dbo"),
        SqlValue::Int(1),
        SqlValue::Bit(false),
        SqlValue::DateTime(dt),
    ];
    let mut nulls = vec![SqlValue::Null; columns.len() - 3];
    nulls.extend([
        SqlValue::Int(2),
        SqlValue::Bit(true),
        SqlValue::DateTime(SqlDateTime::from_ymd(1900, 1, 1).unwrap()),
    ]);
    ResultSet::new(columns).row(values).row(nulls)
}

fn check_all_types(rows: &[tiberius::Row]) {
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    let dt = SqlDateTime::from_ymd_hms_nano(2024, 2, 29, 13, 45, 30, 123_456_700).unwrap();
    assert_eq!(r.get::<bool, _>("c_bit"), Some(true));
    assert_eq!(r.get::<u8, _>("c_tinyint"), Some(200));
    assert_eq!(r.get::<i16, _>("c_smallint"), Some(-12345));
    assert_eq!(r.get::<i32, _>("c_int"), Some(-2_000_000_000));
    assert_eq!(r.get::<i64, _>("c_bigint"), Some(9_000_000_000_000));
    assert_eq!(r.get::<f32, _>("c_real"), Some(1.5));
    assert_eq!(r.get::<f64, _>("c_float"), Some(-2.25e100));
    let d: Numeric = r.get("c_decimal").unwrap();
    assert_eq!((d.value(), d.scale()), (-1234567, 2));
    assert_eq!(r.get::<&str, _>("c_nvarchar"), Some("héllo wörld 😀"));
    assert_eq!(r.get::<&str, _>("c_nvarchar_max"), Some("ä".repeat(6000).as_str()));
    assert_eq!(r.get::<&str, _>("c_varchar"), Some("café"));
    assert_eq!(r.get::<&str, _>("c_varchar_max").map(str::len), Some(9000));
    assert_eq!(r.get::<&str, _>("c_nchar"), Some("ab   "));
    assert_eq!(r.get::<&str, _>("c_char"), Some("x   "));
    assert_eq!(r.get::<Uuid, _>("c_guid"), Some(Uuid::from_bytes(guid_bytes())));
    assert_eq!(r.get::<&[u8], _>("c_varbinary"), Some(&[0xDE, 0xAD, 0xBE, 0xEF][..]));
    assert_eq!(r.get::<&[u8], _>("c_varbinary_max").map(<[u8]>::len), Some(20_000));
    assert_eq!(r.get::<&[u8], _>("c_binary"), Some(&[1, 2, 0, 0][..]));
    assert_eq!(r.get::<&str, _>("c_sysname"), Some("dbo"));
    assert_eq!(r.get::<i32, _>("c_id"), Some(1));
    assert_eq!(r.get::<bool, _>("c_flag"), Some(false));

    // Date and time types, checked on tiberius' own representation.
    let cells: Vec<&ColumnData<'static>> = r.cells().map(|(_, v)| v).collect();
    let by_name = |name: &str| r.columns().iter().position(|c| c.name() == name).unwrap();
    match cells[by_name("c_date")] {
        ColumnData::Date(Some(d)) => assert_eq!(d.days(), dt.days),
        other => panic!("{other:?}"),
    }
    match cells[by_name("c_time")] {
        ColumnData::Time(Some(t)) => assert_eq!((t.increments(), t.scale()), (dt.nanos / 100, 7)),
        other => panic!("{other:?}"),
    }
    match cells[by_name("c_datetime")] {
        // 13:45:30.1234567 is 14 859 037 ticks of 1/300 s after midnight.
        ColumnData::DateTime(Some(d)) => {
            assert_eq!(d.days() as u32, dt.days - 693_595);
            assert_eq!(d.seconds_fragments(), 14_859_037);
        }
        other => panic!("{other:?}"),
    }
    match cells[by_name("c_datetime2")] {
        ColumnData::DateTime2(Some(d)) => {
            assert_eq!(d.date().days(), dt.days);
            assert_eq!(d.time().increments(), dt.nanos / 100);
        }
        other => panic!("{other:?}"),
    }
    match cells[by_name("c_dto")] {
        ColumnData::DateTimeOffset(Some(d)) => {
            assert_eq!(d.offset(), -300);
            assert_eq!(d.datetime2().time().increments(), dt.nanos / 1_000_000);
            assert_eq!(d.datetime2().time().scale(), 3);
        }
        other => panic!("{other:?}"),
    }

    // The NULL row: every nullable column is NULL, whatever its type.
    let n = &rows[1];
    for (col, value) in n.cells() {
        let is_null = matches!(
            value,
            ColumnData::U8(None)
                | ColumnData::I16(None)
                | ColumnData::I32(None)
                | ColumnData::I64(None)
                | ColumnData::F32(None)
                | ColumnData::F64(None)
                | ColumnData::Bit(None)
                | ColumnData::String(None)
                | ColumnData::Guid(None)
                | ColumnData::Binary(None)
                | ColumnData::Numeric(None)
                | ColumnData::DateTime(None)
                | ColumnData::Date(None)
                | ColumnData::Time(None)
                | ColumnData::DateTime2(None)
                | ColumnData::DateTimeOffset(None)
        );
        let not_null_col = ["c_id", "c_flag", "c_created"].contains(&col.name());
        assert_eq!(is_null, !not_null_col, "column {} = {value:?}", col.name());
    }
    assert_eq!(n.try_get::<i64, _>("c_bigint").unwrap(), None);
    assert_eq!(n.get::<&str, _>("c_nvarchar_max"), None);
    assert_eq!(n.get::<Numeric, _>("c_decimal"), None);
    assert_eq!(n.get::<Uuid, _>("c_guid"), None);
    assert_eq!(n.get::<i32, _>("c_id"), Some(2));
}

#[tokio::test]
async fn every_type_and_its_null_round_trips_through_a_batch() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |_| Reply::rows(all_types_set())).await.unwrap();
        let mut client = connect(&server).await;
        let rows = client.simple_query("SELECT * FROM dbo.all_types").await.unwrap().into_first_result().await.unwrap();
        check_all_types(&rows);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].kind, RequestKind::Batch);
        assert_eq!(reqs[0].sql, "SELECT * FROM dbo.all_types");
        assert_eq!(reqs[0].database, "master");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn nbcrow_rows_decode_the_same() {
    within(async {
        let config = ServerConfig { nbc_rows: true, ..Default::default() };
        let server = TdsServer::start_with(config, |_| Reply::rows(all_types_set())).await.unwrap();
        let mut client = connect(&server).await;
        let rows = client.query("SELECT * FROM dbo.all_types", &[]).await.unwrap().into_first_result().await.unwrap();
        check_all_types(&rows);
    })
    .await;
}

/// A parameter tiberius has no built-in `ToSql` for (without its `chrono`
/// feature): sends the `ColumnData` as is.
struct Raw(ColumnData<'static>);

impl ToSql for Raw {
    fn to_sql(&self) -> ColumnData<'_> {
        self.0.clone()
    }
}

#[tokio::test]
async fn sp_executesql_hands_statement_and_typed_parameters_to_the_handler() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |req: &Request| {
            let name = req.params.first().and_then(|p| p.value.as_str()).unwrap_or("?").to_string();
            Reply::rows(
                ResultSet::new(vec![ColumnDef::not_null("name", SqlType::SysName)]).row(vec![SqlValue::str(name)]),
            )
        })
        .await
        .unwrap();
        let mut client = connect(&server).await;

        let row = client
            .query("SELECT name FROM sys.tables WHERE name = @P1", &[&"orders"])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<&str, _>(0), Some("orders"));

        let long = "x".repeat(5000);
        let bytes: &[u8] = &[1u8, 2, 3];
        let numeric = Numeric::new_with_scale(-12345, 2);
        let uuid = Uuid::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        let dt2 = DateTime2::new(Date::new(738_944), Time::new(123_456_789, 7));
        let params: Vec<&dyn ToSql> = vec![
            &"orders",
            &42i64,
            &7i32,
            &-3i16,
            &200u8,
            &true,
            &1.5f64,
            &0.25f32,
            &numeric,
            &uuid,
            &long,
            &bytes,
            &Option::<&str>::None,
            &Option::<i32>::None,
            &"",
        ];
        let dt2_param = Raw(ColumnData::DateTime2(Some(dt2)));
        let date_param = Raw(ColumnData::Date(Some(Date::new(10))));
        let mut all = params.clone();
        all.push(&dt2_param);
        all.push(&date_param);
        let placeholders: Vec<String> = (1..=all.len()).map(|i| format!("@P{i}")).collect();
        let sql = format!("SELECT {}", placeholders.join(", "));
        client.query(sql.as_str(), &all).await.unwrap().into_results().await.unwrap();

        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        let first = &reqs[0];
        assert_eq!(first.kind, RequestKind::Rpc);
        assert_eq!(first.procedure, "sp_executesql");
        assert_eq!(first.sql, "SELECT name FROM sys.tables WHERE name = @P1");
        assert_eq!(first.param_declarations, "@P1 nvarchar(4000)");
        assert_eq!(
            first.params,
            vec![Param {
                name: "@P1".into(),
                value: SqlValue::str("orders"),
                declared_type: Some("nvarchar(4000)".into()),
                output: false,
            }]
        );

        let second = &reqs[1];
        assert_eq!(second.sql, sql);
        let values: Vec<SqlValue> = second.params.iter().map(|p| p.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                SqlValue::str("orders"),
                SqlValue::BigInt(42),
                SqlValue::Int(7),
                SqlValue::SmallInt(-3),
                SqlValue::TinyInt(200),
                SqlValue::Bit(true),
                SqlValue::Float(1.5),
                SqlValue::Real(0.25),
                SqlValue::Decimal(-12345, 2),
                SqlValue::Guid([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
                SqlValue::str(long.clone()),
                SqlValue::Binary(vec![1, 2, 3]),
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::str(""),
                SqlValue::DateTime(SqlDateTime { days: 738_944, nanos: 12_345_678_900 }),
                SqlValue::Date(10),
            ]
        );
        let declared: Vec<&str> = second.params.iter().map(|p| p.declared_type.as_deref().unwrap()).collect();
        assert_eq!(
            declared,
            vec![
                "nvarchar(4000)",
                "bigint",
                "int",
                "smallint",
                "tinyint",
                "bit",
                "float(53)",
                "float(24)",
                "numeric(5,2)",
                "uniqueidentifier",
                "nvarchar(max)",
                "varbinary(8000)",
                "nvarchar(4000)",
                "int",
                "nvarchar(4000)",
                "datetime2",
                "date",
            ]
        );
        assert_eq!(second.params[16].name, "@P17");
    })
    .await;
}

#[tokio::test]
async fn execute_reports_rows_affected() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |req: &Request| {
            if req.sql.starts_with("UPDATE") {
                Reply::RowsAffected(3)
            } else {
                Reply::Outcomes(vec![Outcome::RowsAffected(2), Outcome::RowsAffected(5)])
            }
        })
        .await
        .unwrap();
        let mut client = connect(&server).await;
        let res = client.execute("UPDATE t SET a = @P1", &[&1i32]).await.unwrap();
        assert_eq!(res.total(), 3);
        let res = client.execute("INSERT ...; INSERT ...", &[]).await.unwrap();
        assert_eq!(res.rows_affected(), &[2, 5]);
    })
    .await;
}

#[tokio::test]
async fn several_result_sets_in_one_response() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |_| {
            let set = |name: &str, n: i64| {
                let mut s = ResultSet::new(vec![ColumnDef::new(name, SqlType::BigInt)]);
                for i in 0..n {
                    s.rows.push(vec![SqlValue::BigInt(i)]);
                }
                s
            };
            Reply::Outcomes(vec![
                Outcome::ResultSet(set("a", 2)),
                Outcome::Info(ServerError::new(0, 1, 0, "a message between the sets")),
                Outcome::ResultSet(set("b", 0)),
                Outcome::ResultSet(set("c", 3)),
            ])
        })
        .await
        .unwrap();
        let mut client = connect(&server).await;

        // The stream API sees all three sets, the empty one included.
        let mut stream = client.simple_query("SELECT a; SELECT b; SELECT c").await.unwrap();
        let mut seen = Vec::new();
        while let Some(item) = stream.try_next().await.unwrap() {
            match item {
                QueryItem::Metadata(m) => seen.push((m.result_index(), m.columns()[0].name().to_string(), 0)),
                QueryItem::Row(_) => seen.last_mut().unwrap().2 += 1,
            }
        }
        drop(stream);
        assert_eq!(seen, vec![(0, "a".into(), 2), (1, "b".into(), 0), (2, "c".into(), 3)]);

        // into_results over RPC (tiberius drops empty sets here, its own quirk).
        let results = client.query("SELECT 1", &[]).await.unwrap().into_results().await.unwrap();
        let sizes: Vec<usize> = results.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 3]);
        assert_eq!(results[1][2].get::<i64, _>(0), Some(2));
    })
    .await;
}

fn big_set(rows: usize) -> ResultSet {
    let mut set = ResultSet::new(vec![
        ColumnDef::not_null("id", SqlType::BigInt),
        ColumnDef::new("payload", SqlType::NVarChar(Some(200))),
        ColumnDef::new("blob", SqlType::VarBinary(None)),
    ]);
    for i in 0..rows {
        set.rows.push(vec![
            SqlValue::BigInt(i as i64),
            SqlValue::str(format!("row {i:06} {}", "·".repeat(i % 97))),
            if i % 10 == 0 { SqlValue::Null } else { SqlValue::Binary(vec![(i % 251) as u8; i % 300]) },
        ]);
    }
    set
}

async fn check_big_result(client: &mut TdsClient, rows: usize) {
    let got = client.simple_query("SELECT * FROM big").await.unwrap().into_first_result().await.unwrap();
    assert_eq!(got.len(), rows);
    for (i, row) in got.iter().enumerate() {
        assert_eq!(row.get::<i64, _>(0), Some(i as i64));
        let expected = format!("row {i:06} {}", "·".repeat(i % 97));
        assert_eq!(row.get::<&str, _>(1), Some(expected.as_str()));
        let blob = row.get::<&[u8], _>(2);
        if i % 10 == 0 {
            assert_eq!(blob, None);
        } else {
            assert_eq!(blob.map(<[u8]>::len), Some(i % 300));
        }
    }
}

/// About 300 bytes a row on the wire: 1500 rows is ~450 KB, over 100 packets of 4096 bytes.
const BIG_ROWS: usize = 1500;

#[tokio::test]
async fn large_result_is_split_into_4096_byte_packets() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |_| Reply::rows(big_set(BIG_ROWS))).await.unwrap();
        let mut client = connect(&server).await;
        check_big_result(&mut client, BIG_ROWS).await;
        // The connection is still in step afterwards.
        check_big_result(&mut client, BIG_ROWS).await;
        assert_eq!(server.logins()[0].packet_size, 4096);
    })
    .await;
}

#[tokio::test]
async fn large_result_and_large_request_with_a_larger_negotiated_packet_size() {
    within(async {
        let config = ServerConfig { packet_size: Some(16_384), ..Default::default() };
        let server = TdsServer::start_with(config, |req: &Request| {
            if let Some(SqlValue::String(s)) = req.params.first().map(|p| &p.value) {
                Reply::rows(
                    ResultSet::new(vec![ColumnDef::new("len", SqlType::BigInt)])
                        .row(vec![SqlValue::BigInt(s.len() as i64)]),
                )
            } else {
                Reply::rows(big_set(BIG_ROWS))
            }
        })
        .await
        .unwrap();
        let mut client = connect(&server).await;
        check_big_result(&mut client, BIG_ROWS).await;
        let login = &server.logins()[0];
        assert_eq!((login.requested_packet_size, login.packet_size), (4096, 16_384));
        // tiberius now splits its own messages at 16384 bytes; a 300 KB
        // parameter arrives whole.
        let big_param = "p".repeat(300_000);
        let row = client.query("SELECT LEN(@P1)", &[&big_param]).await.unwrap().into_row().await.unwrap().unwrap();
        assert_eq!(row.get::<i64, _>(0), Some(300_000));
    })
    .await;
}

#[tokio::test]
async fn wrong_password_is_error_18456() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |_| Reply::empty()).await.unwrap();
        let err = connect_with(&server, |c| c.authentication(AuthMethod::sql_server("sa", "wrong"))).await.unwrap_err();
        let e = server_error(err);
        assert_eq!((e.code(), e.class(), e.state()), (18456, 14, 1));
        assert_eq!(e.message(), "Login failed for user 'sa'.");
        assert_eq!(e.server(), "SURVEYOR-TDS");
        let err = connect_with(&server, |c| c.authentication(AuthMethod::sql_server("nobody", "Passw0rd!")))
            .await
            .unwrap_err();
        assert_eq!(server_error(err).message(), "Login failed for user 'nobody'.");
        assert_eq!(server.logins().iter().map(|l| l.error).collect::<Vec<_>>(), vec![Some(18456), Some(18456)]);
        // A good login still works.
        connect(&server).await;
    })
    .await;
}

#[tokio::test]
async fn databases_unknown_and_forbidden() {
    within(async {
        let config = ServerConfig {
            databases: vec!["master".into(), "sales".into()],
            forbidden_databases: vec!["payroll".into()],
            ..Default::default()
        };
        let server = TdsServer::start_with(config, |_| Reply::empty()).await.unwrap();

        // At login SQL Server answers both with 4060 (then 18456).
        let e = server_error(connect_with(&server, |c| c.database("nosuchdb")).await.unwrap_err());
        assert_eq!(e.code(), 4060);
        assert_eq!(e.message(), "Cannot open database \"nosuchdb\" requested by the login. The login failed.");
        let e = server_error(connect_with(&server, |c| c.database("payroll")).await.unwrap_err());
        assert_eq!(e.code(), 4060);

        // A known database, named in another case.
        let mut client = connect_with(&server, |c| c.database("SALES")).await.unwrap();
        client.simple_query("SELECT 1").await.unwrap().into_results().await.unwrap();
        assert_eq!(server.requests().last().unwrap().database, "sales");

        // USE: 916 for a database the login may not open, 911 for none.
        let e = batch_error(&mut client, "USE payroll").await;
        assert_eq!(e.code(), 916);
        assert_eq!(
            e.message(),
            "The server principal \"sa\" is not able to access the database \"payroll\" under the current security context."
        );
        let e = batch_error(&mut client, "USE [nosuchdb]").await;
        assert_eq!(e.code(), 911);
        client.simple_query("USE master").await.unwrap().into_results().await.unwrap();
        client.simple_query("SELECT DB_NAME()").await.unwrap().into_results().await.unwrap();
        assert_eq!(server.requests().last().unwrap().database, "master");
    })
    .await;
}

#[tokio::test]
async fn programmable_login_failure() {
    within(async {
        let config = ServerConfig {
            login_failure: Some(ServerError::new(
                40613,
                1,
                17,
                "Database 'sales' on server 'x' is not currently available.",
            )),
            ..Default::default()
        };
        let server = TdsServer::start_with(config, |_| Reply::empty()).await.unwrap();
        let e = server_error(connect_with(&server, |_| {}).await.unwrap_err());
        assert_eq!(e.message(), "Database 'sales' on server 'x' is not currently available.");
        assert_eq!((e.code(), e.class()), (40613, 17));
    })
    .await;
}

#[tokio::test]
async fn tls_modes() {
    within(async {
        let big = |_: &Request| Reply::rows(big_set(400));
        for (mode, client_level, expected) in [
            (TlsMode::Off, EncryptionLevel::NotSupported, Encryption::None),
            (TlsMode::Optional, EncryptionLevel::NotSupported, Encryption::None),
            (TlsMode::Optional, EncryptionLevel::Off, Encryption::LoginOnly),
            (TlsMode::Optional, EncryptionLevel::On, Encryption::Full),
            (TlsMode::Optional, EncryptionLevel::Required, Encryption::Full),
            (TlsMode::Required, EncryptionLevel::Off, Encryption::Full),
            (TlsMode::Required, EncryptionLevel::Required, Encryption::Full),
        ] {
            let server = TdsServer::start_with(ServerConfig { tls: mode, ..Default::default() }, big).await.unwrap();
            let mut client = connect_with(&server, |c| c.encryption(client_level))
                .await
                .unwrap_or_else(|e| panic!("{mode:?} / {client_level:?}: {e}"));
            check_big_result(&mut client, 400).await;
            assert_eq!(server.logins()[0].encryption, expected, "{mode:?} / {client_level:?}");
            server.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn tls_required_but_client_cannot_encrypt() {
    within(async {
        let server =
            TdsServer::start_with(ServerConfig { tls: TlsMode::Required, ..Default::default() }, |_| Reply::empty())
                .await
                .unwrap();
        let err = connect_with(&server, |c| c.encryption(EncryptionLevel::NotSupported)).await.unwrap_err();
        eprintln!("client error: {err}");
        assert!(!matches!(err, tiberius::error::Error::Server(_)), "{err:?}");
        assert!(server.logins().is_empty(), "no LOGIN7 may be read in clear");
        let failures = server.connection_failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("requires encryption"), "{failures:?}");
    })
    .await;
}

#[tokio::test]
async fn handler_errors_reach_the_client() {
    within(async {
        let server = TdsServer::start_with(ServerConfig::default(), |req: &Request| match req.sql.as_str() {
            "SELECT * FROM missing" => Reply::Error(ServerError::invalid_object("missing")),
            "partial" => Reply::Outcomes(vec![
                Outcome::ResultSet(ResultSet::new(vec![ColumnDef::new("a", SqlType::Int)]).row(vec![SqlValue::Int(1)])),
                Outcome::Error(ServerError::permission_denied("secret", "master", "dbo")),
            ]),
            "bad fixture" => {
                Reply::rows(ResultSet::new(vec![ColumnDef::new("t", SqlType::TinyInt)]).row(vec![SqlValue::Int(1000)]))
            }
            "panic" => panic!("boom"),
            "fatal" => Reply::Error(ServerError::new(
                596,
                1,
                21,
                "Cannot continue the execution because the session is in the kill state.",
            )),
            _ => Reply::rows(ResultSet::new(vec![ColumnDef::new("ok", SqlType::Int)]).row(vec![SqlValue::Int(1)])),
        })
        .await
        .unwrap();
        let mut client = connect(&server).await;

        let e = batch_error(&mut client, "SELECT * FROM missing").await;
        assert_eq!((e.code(), e.class(), e.message()), (208, 16, "Invalid object name 'missing'."));
        let e = rpc_error(&mut client, "SELECT * FROM missing").await;
        assert_eq!(e.code(), 208);
        let e = rpc_error(&mut client, "partial").await;
        assert_eq!(e.code(), 229);
        let e = batch_error(&mut client, "bad fixture").await;
        assert_eq!(e.code(), surveyor_tds_server::FIXTURE_ERROR);
        assert!(e.message().contains("does not fit column 't'"), "{}", e.message());
        let e = batch_error(&mut client, "panic").await;
        assert!(e.message().contains("boom"));
        // After all that the session is still usable.
        let rows = client.simple_query("SELECT 1").await.unwrap().into_first_result().await.unwrap();
        assert_eq!(rows[0].get::<i32, _>(0), Some(1));

        // A fatal error (class >= 20) ends the session.
        let e = batch_error(&mut client, "fatal").await;
        assert_eq!(e.code(), 596);
        let after = client.simple_query("SELECT 1").await;
        let after = match after {
            Ok(stream) => stream.into_results().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(after.is_err(), "the session should be closed");
    })
    .await;
}

#[tokio::test]
async fn handler_sees_every_request_in_order() {
    within(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TdsServer::start_with(ServerConfig::default(), move |req: &Request| {
            log.lock().unwrap().push(req.sql.clone());
            Reply::empty()
        })
        .await
        .unwrap();
        let mut a = connect(&server).await;
        let mut b = connect(&server).await;
        a.simple_query("SET NOCOUNT ON").await.unwrap().into_results().await.unwrap();
        b.execute("SELECT 2", &[]).await.unwrap();
        a.simple_query("USE tempdb").await.unwrap().into_results().await.unwrap();
        a.query("SELECT 3", &[]).await.unwrap().into_results().await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["SET NOCOUNT ON", "SELECT 2", "SELECT 3"]);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 4, "USE is recorded too");
        assert_eq!(reqs[3].database, "tempdb");
        assert_eq!((reqs[0].connection_id, reqs[1].connection_id), (1, 2));
        assert_eq!(server.connection_count(), 2);
        assert_eq!(server.logins()[0].app_name, "surveyor-tests");
    })
    .await;
}
