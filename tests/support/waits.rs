//! Waiting without assuming a machine's speed, and ports without races.
//! Self-contained, so that each helper file can include it
//! (`#[path = "waits.rs"] mod waits;`) whatever else a test includes.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// `SURVEYOR_TEST_TIME_SCALE` (default 1): multiplies every time limit of
/// the helpers, for a machine much slower than a loaded 2-core one.
pub fn time_scale() -> f64 {
    std::env::var("SURVEYOR_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

/// `limit`, scaled by [`time_scale`].
pub fn scaled(limit: Duration) -> Duration {
    limit.mul_f64(time_scale())
}

/// Polls `probe` until it gives a value, and returns it. The limit is
/// scaled by [`time_scale`]; when it passes, the test fails naming `what`
/// was awaited and the last thing `probe` said (its `Err`).
pub fn wait_until_explained<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let limit = scaled(limit);
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let last = match probe() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if started.elapsed() > limit {
            panic!("waited {:.0} s for {what}, in vain; last seen: {last}", limit.as_secs_f64());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// As [`wait_until_explained`], for a probe with nothing to say while it waits.
pub fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    wait_until_explained(what, limit, || probe().ok_or_else(|| "not yet".to_string()))
}

/// A port on 127.0.0.1 where nothing listens, and nothing else will while
/// this value lives: a bound socket that never listens holds it, so a
/// connection to it is refused. (A port read from a released listener can
/// be taken by any other process of a parallel test run.)
pub struct ClosedPort {
    socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        Self::reserve(0).expect("bind a socket on 127.0.0.1")
    }

    /// Holds `port` (one a stopped server just let go), if no one has taken it.
    pub fn reserve(port: u16) -> std::io::Result<ClosedPort> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        // Connections of the stopped server may linger in TIME_WAIT on the port.
        socket.set_reuse_address(true)?;
        socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
        let port = socket.local_addr()?.as_socket().map(|a| a.port()).unwrap_or(port);
        Ok(ClosedPort { socket, port })
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}
