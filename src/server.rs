//! The HTTP server: `/metrics`, `/-/healthy`, `/-/ready`, a landing page at `/`, and
//! the increase receiver's endpoints ([`crate::increase::http`]).
//!
//! `/metrics` negotiates the format from `Accept` (OpenMetrics 1.0 or the text format
//! 0.0.4, the fallback) and serves the pre-compressed body when the client accepts
//! gzip. It only reads the last rendered exposition: it never calls AWS.
//!
//! No client can starve it ([`HttpLimits`]):
//! * a connection that has not sent a complete request head within the header timeout
//!   is closed, whether it is new or idle after a response (hyper's header timeout);
//! * a response must be sent within the send timeout, and a write the client does not
//!   take for that long ends the connection;
//! * at most `max_connections` connections are held, and one address (other than
//!   loopback) holds at most an eighth of them; at the cap the one idle the longest is
//!   closed to make room, and when none is idle new connections wait in the listen
//!   backlog until one closes;
//! * `accept` errors (file descriptors running out) back off instead of spinning.

use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::body::{Body, Frame};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::exposition::{Format, Renderer};
use crate::increase::http::Endpoint;
use crate::selfmetrics::SelfMetrics;

pub use crate::config::HttpLimits;

type HttpResponse = Response<UnsyncBoxBody<Bytes, std::io::Error>>;

/// What the server needs.
#[derive(Debug, Clone)]
pub struct Server {
    pub renderer: Arc<Renderer>,
    /// The increase receiver behind its gate, when it is on.
    pub endpoint: Option<Arc<Endpoint>>,
    pub limits: HttpLimits,
    pub metrics: Arc<SelfMetrics>,
}

impl Server {
    /// Serves until `shutdown` completes, then lets in-flight requests finish (at most
    /// 5 seconds).
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Connections::new(self.limits.max_connections, self.metrics.clone()));
        let server = Arc::new(self);
        let mut backoff = Duration::ZERO;
        tokio::pin!(shutdown);
        loop {
            // At the cap: make room by closing the connection idle the longest, or wait
            // for one to close; new connections wait in the backlog meanwhile.
            while !connections.has_room() {
                let closed = connections.closed.notified();
                connections.evict_longest_idle();
                tokio::select! {
                    () = &mut shutdown => return finish(graceful).await,
                    () = closed => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors or memory: back off, do not spin.
                            backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                            if backoff == Duration::from_millis(10) {
                                tracing::warn!(error = %e, "accepting a connection failed; backing off");
                            }
                            tokio::time::sleep(backoff).await;
                            continue;
                        }
                    };
                    backoff = Duration::ZERO;
                    // One address may not take every place: a client reading slowly
                    // holds its connections while it sends, and is refused beyond its share.
                    if !peer.ip().is_loopback() && connections.from(peer.ip()) >= connections.per_client() {
                        server.metrics.count_http_connection_closed("per_client_limit");
                        drop(stream);
                        continue;
                    }
                    let conn = connections.open(peer.ip());
                    let server = server.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move { server.connection(stream, peer, conn, watcher).await });
                }
            }
        }
        finish(graceful).await;
    }

    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        conn: Connection,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let state = conn.state.clone();
        let service = {
            let (server, state) = (self.clone(), state.clone());
            service_fn(move |req: Request<Incoming>| {
                let (server, state) = (server.clone(), state.clone());
                async move {
                    state.set(Phase::Handling);
                    let response = server.respond(peer.ip(), req).await;
                    let (parts, body) = response.into_parts();
                    let body = Deadline { body, state, started: false };
                    Ok::<_, Infallible>(Response::from_parts(parts, UnsyncBoxBody::new(body)))
                }
            })
        };
        let io = TokioIo::new(Guarded { inner: stream, state: state.clone() });
        let served = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .serve_connection(io, service);
        let served = watcher.watch(served);
        let send_timeout = self.limits.send_timeout;
        let reason = tokio::select! {
            result = served => match result {
                Err(e) if e.is_timeout() => Some("header_timeout"),
                Err(e) => {
                    tracing::debug!(error = %e, "connection ended with an error");
                    None
                }
                Ok(()) => None,
            },
            () = conn.evicted.notified() => Some("evicted"),
            () = state.overdue(send_timeout) => Some("send_timeout"),
        };
        if let Some(reason) = reason {
            self.metrics.count_http_connection_closed(reason);
        }
    }

    async fn respond(&self, peer: IpAddr, req: Request<Incoming>) -> HttpResponse {
        if crate::increase::http::is_receiver_path(req.uri().path()) {
            let reply = crate::increase::http::handle(self.endpoint.as_deref(), peer, req).await;
            let (parts, body) = reply.into_parts();
            return Response::from_parts(parts, full(body));
        }
        route(&self.renderer, &req)
    }
}

async fn finish(graceful: GracefulShutdown) {
    // In-flight scrapes get a moment to finish; then the process exits anyway.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Reading a request head, or waiting for one: may be closed to make room.
    Idle = 0,
    /// Handling a request or sending its response.
    Handling = 1,
}

/// A connection's shared state: its phase and since when, whether a response is being
/// sent and since when, and whether a write is blocked and since when.
#[derive(Debug)]
struct ConnState {
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds since `epoch` at the last phase change.
    phase_since: AtomicU64,
    /// Milliseconds since `epoch` when the current response began to be sent, plus one;
    /// 0 when none is.
    sending_since: AtomicU64,
    /// Milliseconds since `epoch` when writes started waiting for the client, plus one;
    /// 0 when they are not.
    blocked_since: AtomicU64,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            epoch: Instant::now(),
            phase: AtomicU8::new(Phase::Idle as u8),
            phase_since: AtomicU64::new(0),
            sending_since: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
        self.phase_since.store(self.now_ms(), Ordering::SeqCst);
    }

    /// The response is sent (or abandoned): the connection is idle again.
    fn sent(&self) {
        self.sending_since.store(0, Ordering::SeqCst);
        self.set(Phase::Idle);
    }

    /// Since when the connection has been idle, if it is.
    fn idle_since(&self) -> Option<u64> {
        (self.phase.load(Ordering::SeqCst) == Phase::Idle as u8).then(|| self.phase_since.load(Ordering::SeqCst))
    }

    /// Completes once a response has taken longer than `limit` to send, or a write has
    /// waited that long for the client.
    async fn overdue(&self, limit: Duration) {
        let limit = limit.as_millis() as u64;
        loop {
            let now = self.now_ms();
            let oldest = [&self.sending_since, &self.blocked_since]
                .iter()
                .map(|a| a.load(Ordering::SeqCst))
                .filter(|t| *t > 0)
                .map(|t| t - 1)
                .min();
            match oldest {
                Some(t) if now.saturating_sub(t) >= limit => return,
                Some(t) => {
                    tokio::time::sleep(Duration::from_millis(limit - (now - t)).max(Duration::from_millis(10))).await
                }
                None => tokio::time::sleep(Duration::from_millis(limit.clamp(10, 1000))).await,
            }
        }
    }
}

/// A response body that marks when it starts and finishes being sent.
struct Deadline {
    body: UnsyncBoxBody<Bytes, std::io::Error>,
    state: Arc<ConnState>,
    started: bool,
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if !self.started {
            self.started = true;
            let now = self.state.now_ms() + 1;
            self.state.sending_since.store(now, Ordering::SeqCst);
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.state.sent();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.state.sent();
    }
}

/// The socket, noting when writes wait for a client that does not read.
struct Guarded {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl Guarded {
    fn note(&self, blocked: bool) {
        if blocked {
            let now = self.state.now_ms() + 1;
            let _ = self.state.blocked_since.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
        } else {
            self.state.blocked_since.store(0, Ordering::SeqCst);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(polled.is_pending());
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An open connection as the registry sees it: its id, state, eviction signal and
/// client address.
type Open = (u64, Arc<ConnState>, Arc<Notify>, IpAddr);

/// The open connections, for the cap and for eviction.
#[derive(Debug)]
struct Connections {
    max: usize,
    open: Mutex<Vec<Open>>,
    next_id: AtomicU64,
    closed: Notify,
    metrics: Arc<SelfMetrics>,
}

/// One open connection; closing it (dropping this) frees its place.
struct Connection {
    id: u64,
    state: Arc<ConnState>,
    evicted: Arc<Notify>,
    all: Arc<Connections>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let open = {
            let mut open = self.all.open.lock().unwrap_or_else(|p| p.into_inner());
            open.retain(|(id, ..)| *id != self.id);
            open.len()
        };
        self.all.metrics.set_http_connections(open);
        self.all.closed.notify_waiters();
    }
}

impl Connections {
    fn new(max: usize, metrics: Arc<SelfMetrics>) -> Connections {
        metrics.set_http_connections(0);
        Connections { max, open: Mutex::new(Vec::new()), next_id: AtomicU64::new(0), closed: Notify::new(), metrics }
    }

    fn has_room(&self) -> bool {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len() < self.max
    }

    /// The most connections one address may hold.
    fn per_client(&self) -> usize {
        (self.max / 8).max(8)
    }

    /// Connections `peer` holds.
    fn from(&self, peer: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(.., ip)| *ip == peer).count()
    }

    fn open(self: &Arc<Self>, peer: IpAddr) -> Connection {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (state, evicted) = (Arc::new(ConnState::new()), Arc::new(Notify::new()));
        let open = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.push((id, state.clone(), evicted.clone(), peer));
            open.len()
        };
        self.metrics.set_http_connections(open);
        Connection { id, state, evicted, all: self.clone() }
    }

    /// Asks the connection idle the longest to close.
    fn evict_longest_idle(&self) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = open
            .iter()
            .filter_map(|(_, state, evicted, _)| {
                Some((state.epoch + Duration::from_millis(state.idle_since()?), evicted))
            })
            .min_by_key(|(since, _)| *since);
        if let Some((_, evicted)) = oldest {
            evicted.notify_one();
        }
    }
}

fn route(renderer: &Renderer, req: &Request<Incoming>) -> HttpResponse {
    let path = req.uri().path();
    let known = matches!(path, "/" | "/metrics" | "/-/healthy" | "/-/ready");
    if !known {
        return text(StatusCode::NOT_FOUND, format!("not found: {path}; the endpoints are listed at /\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} not allowed on {path}; use GET or HEAD\n", req.method()),
        );
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let response = match path {
        "/metrics" => metrics(renderer, req),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n".into()),
        "/-/ready" if renderer.is_ready() => text(StatusCode::OK, "Ready\n".into()),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: waiting for the first full refresh of every target\n".into(),
        ),
        _ => landing(),
    };
    if req.method() == Method::HEAD { without_body(response) } else { response }
}

fn metrics(renderer: &Renderer, req: &Request<Incoming>) -> HttpResponse {
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = negotiate(header_str(header::ACCEPT));
    let gzip = accepts_gzip(header_str(header::ACCEPT_ENCODING));
    let exposition = renderer.exposition();
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::VARY, "Accept, Accept-Encoding");
    let compressed = exposition.gzip(format).clone();
    let response = if gzip {
        // One frame: hyper writes it as the client takes it, and the socket wrapper's
        // stall deadline covers a client that stops taking it.
        builder.header(header::CONTENT_ENCODING, "gzip").body(full(compressed))
    } else {
        // Inflated as it is sent, so an uncompressed scrape holds one chunk, not the whole body.
        builder.body(UnsyncBoxBody::new(Inflate::new(compressed)))
    };
    response.unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "invalid response\n".into()))
}

/// A body that inflates a stored gzip exposition chunk by chunk.
struct Inflate {
    decoder: Option<flate2::read::GzDecoder<bytes::buf::Reader<Bytes>>>,
}

impl Inflate {
    const CHUNK: usize = 64 * 1024;

    fn new(gzip: Bytes) -> Inflate {
        Inflate { decoder: Some(flate2::read::GzDecoder::new(gzip.reader())) }
    }
}

impl Body for Inflate {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Some(decoder) = self.decoder.as_mut() else { return Poll::Ready(None) };
        let mut chunk = vec![0u8; Self::CHUNK];
        let mut filled = 0;
        while filled < chunk.len() {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.decoder = None;
                    tracing::error!(error = %e, "inflating the stored exposition failed");
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        if filled == 0 {
            self.decoder = None;
            return Poll::Ready(None);
        }
        chunk.truncate(filled);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_none()
    }
}

fn full(bytes: Bytes) -> UnsyncBoxBody<Bytes, std::io::Error> {
    UnsyncBoxBody::new(Full::new(bytes).map_err(|never: Infallible| match never {}))
}

/// Picks the format from an `Accept` header: the acceptable media range with the highest
/// `q` that names a format served here; the text format 0.0.4 when none does.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Text };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut version: Option<String> = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let format = match (media.as_str(), version.as_deref()) {
            ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => Format::OpenMetrics,
            ("text/plain", None | Some("0.0.4")) | ("text/*" | "*/*", _) => Format::Text,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text, |(_, f)| f)
}

/// Whether an `Accept-Encoding` header allows gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else { return false };
    let mut gzip: Option<bool> = None;
    let mut star = false;
    for coding in value.split(',') {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|v| v.parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = q > 0.0,
            _ => {}
        }
    }
    gzip.unwrap_or(star)
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn without_body(response: HttpResponse) -> HttpResponse {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, full(Bytes::new()))
}

fn landing() -> HttpResponse {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>AWS quota exporter</title></head>\n<body>\n\
         <h1>AWS quota exporter</h1>\n<p>Version {}. Every AWS service quota's limit, usage and utilisation.</p>\n\
         <ul>\n<li><a href=\"/metrics\">/metrics</a>: the metrics (Prometheus text 0.0.4 or OpenMetrics 1.0)</li>\n\
         <li><a href=\"/-/healthy\">/-/healthy</a>: the process is up</li>\n\
         <li><a href=\"/-/ready\">/-/ready</a>: every target has completed its first refresh</li>\n</ul>\n\
         </body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut r = Response::new(full(Bytes::from(body)));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_an_eighth_of_the_cap_and_eviction_picks_the_longest_idle() {
        let all = Arc::new(Connections::new(64, Arc::new(SelfMetrics::new())));
        let attacker: IpAddr = "192.0.2.7".parse().expect("ip");
        let held: Vec<Connection> = (0..8).map(|_| all.open(attacker)).collect();
        assert_eq!((all.from(attacker), all.per_client()), (8, 8), "an eighth of 64");
        assert_eq!(all.from("192.0.2.8".parse().expect("ip")), 0);
        // The first one becomes busy: the next longest idle is the one asked to close.
        held[0].state.set(Phase::Handling);
        all.evict_longest_idle();
        let evicted = held.iter().position(|c| {
            let notified = c.evicted.notified();
            tokio::pin!(notified);
            notified.as_mut().enable()
        });
        assert_eq!(evicted, Some(1));
        drop(held);
        assert_eq!(all.from(attacker), 0, "closing frees the places");
    }

    #[test]
    fn prometheus_default_accept_header_gets_openmetrics() {
        let accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                      application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
                      text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(Some(accept)), Format::OpenMetrics);
    }

    #[test]
    fn text_is_the_fallback() {
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("application/json")), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=1.0.0")), Format::Text);
    }

    #[test]
    fn the_highest_q_wins_and_q_zero_excludes() {
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0.2, text/plain;q=0.9")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4;q=0.3,application/openmetrics-text")), Format::OpenMetrics);
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(None));
    }
}
