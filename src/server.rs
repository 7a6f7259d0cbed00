//! The HTTP server: `/metrics`, `/-/healthy`, `/-/ready`, a landing page at `/`, and
//! the increase receiver's endpoints ([`crate::increase::http`]).
//!
//! `/metrics` negotiates the format from `Accept` (OpenMetrics 1.0 or the text format
//! 0.0.4, the fallback) and serves the pre-compressed body when the client accepts
//! gzip. It only reads the last rendered exposition: it never calls AWS.

use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::body::{Body, Frame};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::exposition::Format;
use crate::snapshot::Hub;

type HttpResponse = Response<UnsyncBoxBody<Bytes, std::io::Error>>;

/// Serves until `shutdown` completes, then lets in-flight requests finish. The
/// increase receiver's endpoints answer when `receiver` is set.
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    receiver: Option<Arc<crate::increase::receiver::Receiver>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        continue;
                    }
                };
                let hub = hub.clone();
                let receiver = receiver.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let hub = hub.clone();
                    let receiver = receiver.clone();
                    async move {
                        if crate::increase::http::is_receiver_path(req.uri().path()) {
                            let reply = crate::increase::http::handle(receiver.as_deref(), req).await;
                            let (parts, body) = reply.into_parts();
                            return Ok::<_, Infallible>(Response::from_parts(parts, full(body)));
                        }
                        Ok::<_, Infallible>(route(&hub, &req))
                    }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    // In-flight scrapes get a moment to finish; then the process exits anyway.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

fn route(hub: &Hub, req: &Request<Incoming>) -> HttpResponse {
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
        "/metrics" => metrics(hub, req),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n".into()),
        "/-/ready" if hub.is_ready() => text(StatusCode::OK, "Ready\n".into()),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: waiting for the first full refresh of every target\n".into(),
        ),
        _ => landing(),
    };
    if req.method() == Method::HEAD { without_body(response) } else { response }
}

fn metrics(hub: &Hub, req: &Request<Incoming>) -> HttpResponse {
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = negotiate(header_str(header::ACCEPT));
    let gzip = accepts_gzip(header_str(header::ACCEPT_ENCODING));
    let exposition = hub.exposition();
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::VARY, "Accept, Accept-Encoding");
    let compressed = exposition.gzip(format).clone();
    let response = if gzip {
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
