//! The feature service against hostile clients: slow and idle connections are cut off,
//! connections past the cap are refused while health checks keep answering, and every error
//! has a JSON body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::serve::start;

/// Send raw bytes, read the whole answer: (status, body as JSON).
fn raw(addr: &str, request: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Seconds until the server closes a connection that never finishes its request.
fn closed_after(addr: &str, first_bytes: &[u8]) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    s.write_all(first_bytes).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return t0.elapsed(),
            Ok(_) => continue,
        }
    }
}

#[test]
fn slow_idle_and_excess_connections_are_cut_off_and_errors_are_json() {
    let env = Env::new(1);
    env.simulate(&["--count", "300", "--seed", "81", "--backdate-days", "1"]);
    succeed(env.strata().args(["run", "--once"]));
    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "[serve]\nhttp_header_timeout_ms = 1000\nhttp_idle_timeout_ms = 2000\nmax_body_bytes = 2000\n",
    )
    .unwrap();
    let server = start(&env, &config);
    let addr = server.http.clone();

    // A slowloris client (headers never finish) and an idle one are closed by the server.
    let slow = closed_after(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n");
    let idle = closed_after(&addr, b"");
    eprintln!("slow client cut off after {slow:?}, idle one after {idle:?}");
    assert!(slow < Duration::from_secs(60) && idle < Duration::from_secs(60));

    // Every error answer is JSON, with the status the client expects.
    let long_uri = format!(
        "GET /features/player_features/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "x".repeat(20_000)
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "y".repeat(100_000)
    );
    let big_body = format!(
        "POST /training-set HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{}",
        " ".repeat(5000)
    );
    for (request, status) in [
        (
            "GET /get-online-features HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            405,
        ),
        (
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            404,
        ),
        (long_uri, 414),
        (big_header, 431),
        (big_body, 413),
    ] {
        let (st, body) = raw(&addr, request.as_bytes());
        assert_eq!(st, status, "{}: {body}", &request[..40]);
        assert!(
            body["error"].is_string(),
            "status {st} without a JSON error: {body}"
        );
    }
    drop(server);

    // Past the cap: probes still answer from the reserve, other requests get a JSON 503,
    // and past the reserve connections are refused with one.
    std::fs::write(
        &config,
        "[serve]\nhttp_max_connections = 4\nhttp_header_timeout_ms = 60000\nhttp_idle_timeout_ms = 60000\n",
    )
    .unwrap();
    let server = start(&env, &config);
    let addr = server.http.clone();
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // The server has taken every held connection once a probe lands in the reserve.
    let (st, body) = wait_until(
        "a probe answered from the reserve",
        Duration::from_secs(60),
        || {
            let (st, body) = raw(
                &addr,
                b"GET /get-online-features HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            (st == 503).then_some((st, body))
        },
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too many connections"),
        "{st}: {body}"
    );
    let (st, _) = raw(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, 200, "/healthz while at the cap");
    let reserve: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let (st, body) = wait_until(
        "a connection past the reserve refused",
        Duration::from_secs(60),
        || {
            let (st, body) = raw(
                &addr,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            (st == 503).then_some((st, body))
        },
    );
    assert!(body["error"].is_string(), "{st}: {body}");
    drop(reserve);
    drop(held);
    wait_until(
        "/healthz once connections are closed",
        Duration::from_secs(60),
        || {
            (raw(
                &addr,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .0 == 200)
                .then_some(())
        },
    );
}
