//! The HTTP server under every HTTP surface (the feature service, `strata run`'s metrics and
//! dashboard, `strata ingest`'s metrics, the schema registry): limits a client cannot talk its
//! way around. Headers must arrive within a deadline (no
//! slowloris), a connection idle too long is closed, a request (body included) has a
//! deadline, connections are capped — with a small reserve that answers only health and
//! metrics, so probes keep working while the cap is reached — and past the reserve a
//! connection gets a JSON 503 and is closed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

/// Limits of an HTTP server (`serve.http_*`).
#[derive(Debug, Clone)]
pub struct HttpServerLimits {
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
    /// A connection with no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// A request, body and answer included, must finish within this.
    pub request_timeout: Duration,
    /// Connections at once; a few more are let in for health and metrics only.
    pub max_connections: usize,
    /// Longest request target (URI) accepted (414 above).
    pub max_uri_bytes: usize,
    /// Largest header section accepted (431 above).
    pub max_header_bytes: usize,
}

impl Default for HttpServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            max_connections: 1024,
            max_uri_bytes: 8192,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Connections beyond the cap that may still ask for health and metrics.
const PROBE_RESERVE: usize = 8;

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"error": message}))
}

/// Every 4xx/5xx that left a handler without a JSON body (axum's 405, a rejected
/// extractor, ...) gets one, naming the status.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        let mut r = json_error(status, &reason);
        for (k, v) in response.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                r.headers_mut().insert(k.clone(), v.clone());
            }
        }
        return r;
    }
    response
}

/// Request-level limits: URI and header size (before anything is read), and the deadline.
async fn request_limits(
    axum::extract::State(limits): axum::extract::State<Arc<HttpServerLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let uri_len = req.uri().to_string().len();
    if uri_len > limits.max_uri_bytes {
        return json_error(
            StatusCode::URI_TOO_LONG,
            &format!(
                "request target of {uri_len} bytes; the limit is {}",
                limits.max_uri_bytes
            ),
        );
    }
    let header_len: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_len > limits.max_header_bytes {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!(
                "headers of {header_len} bytes; the limit is {}",
                limits.max_header_bytes
            ),
        );
    }
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => json_error(
            StatusCode::REQUEST_TIMEOUT,
            &format!("the request took longer than {:?}", limits.request_timeout),
        ),
    }
}

/// A readiness answer: 200 `{"status":"ready"}`, or 503 with the reason.
pub fn readiness(not_ready: Option<String>) -> Response {
    let (status, body) = match not_ready {
        None => (StatusCode::OK, json!({"status": "ready"})),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not ready", "reason": reason}),
        ),
    };
    json_response(status, &body)
}

/// Wrap a router with the JSON error bodies and request limits.
pub fn with_limits(router: Router, limits: &HttpServerLimits) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(limits.clone()),
            request_limits,
        ))
        .layer(axum::middleware::from_fn(json_errors))
}

/// Only health and metrics: what a connection in the probe reserve may ask for.
fn probes_only(full: Router) -> Router {
    full.layer(axum::middleware::from_fn(
        |req: Request, next: Next| async move {
            match req.uri().path() {
                "/healthz" | "/readyz" | "/metrics" => next.run(req).await,
                _ => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections (serve.http_max_connections); try again",
                ),
            }
        },
    ))
}

/// Serve `router` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, router: Router, limits: HttpServerLimits) {
    let router = with_limits(router, &limits);
    let probes = probes_only(router.clone());
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(PROBE_RESERVE));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (service, permit) = match slots.clone().try_acquire_owned() {
            Ok(p) => (router.clone(), p),
            Err(_) => match reserve.clone().try_acquire_owned() {
                Ok(p) => (probes.clone(), p),
                Err(_) => {
                    debug!(%peer, "HTTP connection refused: at the cap");
                    tokio::spawn(refuse(socket));
                    continue;
                }
            },
        };
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = TokioIo::new(IdleTimeout::new(socket, limits.idle_timeout));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(io, TowerToHyperService::new(service));
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
}

async fn refuse(mut socket: TcpStream) {
    let body = json!({"error": "too many connections (serve.http_max_connections); try again"})
        .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(answer.as_bytes())).await;
}

/// A socket that fails with `TimedOut` once nothing has moved either way for `idle`.
struct IdleTimeout {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touched(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touched();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.touched();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl std::fmt::Debug for IdleTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleTimeout")
            .field("idle", &self.idle)
            .finish()
    }
}
