//! Sending an encoded export request: OTLP/gRPC as a unary call to
//! `MetricsService/Export` through tonic (with a codec that passes the encoded bytes
//! through), or OTLP/HTTP with a protobuf body through hyper; gzip, headers, timeout and
//! TLS (the system's roots, or `SSL_CERT_FILE` / `SSL_CERT_DIR`) as the settings say.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::settings::{OtlpSettings, Protocol};

/// Why the OTLP output could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
pub struct OtlpStartError {
    endpoint: String,
    message: String,
}

/// Why one request was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the collector answered gRPC status {code:?}: {message}")]
    Grpc { code: tonic::Code, message: String },
    #[error("the collector answered HTTP {status}: {body}")]
    Http { status: http::StatusCode, body: String },
    #[error("{0}")]
    Connection(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A client for the configured collector. One per process: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Transport {
    Grpc { client: tonic::client::Grpc<tonic::transport::Channel>, metadata: tonic::metadata::MetadataMap },
    Http(HttpTransport),
}

#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: HttpClient,
    endpoint: http::Uri,
    headers: http::HeaderMap,
    gzip: bool,
    timeout: Duration,
}

#[derive(Debug, Clone)]
enum HttpClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Transport {
    /// A client for `settings`; connects on first use. Must be called inside the Tokio
    /// runtime.
    pub fn new(settings: &OtlpSettings) -> Result<Transport, OtlpStartError> {
        let fail =
            |e: &dyn std::fmt::Display| OtlpStartError { endpoint: settings.endpoint.clone(), message: e.to_string() };
        let mut headers = http::HeaderMap::new();
        for (k, v) in &settings.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| fail(&e))?;
            headers.insert(name, http::HeaderValue::from_str(v).map_err(|e| fail(&e))?);
        }
        let tls = settings.endpoint.starts_with("https://");
        match settings.protocol {
            Protocol::Grpc => {
                let mut endpoint = tonic::transport::Endpoint::from_shared(settings.endpoint.clone())
                    .map_err(|e| fail(&e))?
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout);
                if tls {
                    endpoint = endpoint
                        .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
                        .map_err(|e| fail(&e))?;
                }
                let mut client = tonic::client::Grpc::new(endpoint.connect_lazy());
                if settings.gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Ok(Transport::Grpc { client, metadata: tonic::metadata::MetadataMap::from_headers(headers) })
            }
            Protocol::HttpProtobuf => {
                let endpoint: http::Uri = settings.endpoint.parse().map_err(|e| fail(&e))?;
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(settings.timeout));
                connector.enforce_http(!tls);
                let client = if tls {
                    let https = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                        .map_err(|e| fail(&format!("no trusted root certificates: {e}")))?
                        .https_only()
                        .enable_http1()
                        .wrap_connector(connector);
                    HttpClient::Tls(Client::builder(TokioExecutor::new()).build(https))
                } else {
                    HttpClient::Plain(Client::builder(TokioExecutor::new()).build(connector))
                };
                Ok(Transport::Http(HttpTransport {
                    client,
                    endpoint,
                    headers,
                    gzip: settings.gzip,
                    timeout: settings.timeout,
                }))
            }
        }
    }

    /// Sends one encoded `ExportMetricsServiceRequest` and waits for the collector's answer.
    pub async fn send(&self, request: Vec<u8>) -> Result<(), SendError> {
        match self {
            Transport::Grpc { client, metadata } => {
                let mut client = client.clone();
                client.ready().await.map_err(|e| SendError::Connection(crate::errors::chain(&e)))?;
                let mut call = tonic::Request::new(Bytes::from(request));
                *call.metadata_mut() = metadata.clone();
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                match client.unary(call, path, Raw).await {
                    Ok(_) => Ok(()),
                    Err(status) => Err(SendError::Grpc { code: status.code(), message: status.message().to_owned() }),
                }
            }
            Transport::Http(http) => http.send(request).await,
        }
    }
}

impl HttpTransport {
    async fn send(&self, request: Vec<u8>) -> Result<(), SendError> {
        let mut body = request;
        let mut builder = http::Request::post(self.endpoint.clone()).header("content-type", "application/x-protobuf");
        if self.gzip {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
            gz.write_all(&body).map_err(|e| SendError::Connection(e.to_string()))?;
            body = gz.finish().map_err(|e| SendError::Connection(e.to_string()))?;
            builder = builder.header("content-encoding", "gzip");
        }
        let mut req = builder.body(Full::new(Bytes::from(body))).map_err(|e| SendError::Connection(e.to_string()))?;
        req.headers_mut().extend(self.headers.clone());
        let exchange = async {
            let response = match &self.client {
                HttpClient::Plain(c) => c.request(req).await,
                HttpClient::Tls(c) => c.request(req).await,
            }
            .map_err(|e| SendError::Connection(crate::errors::chain(&e)))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|e| SendError::Connection(e.to_string()))?;
            if status.is_success() {
                Ok(())
            } else {
                let text = String::from_utf8_lossy(&body.to_bytes()).chars().take(200).collect();
                Err(SendError::Http { status, body: text })
            }
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| SendError::Timeout(self.timeout))?
    }
}

/// The gRPC method of an OTLP metrics export.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// A tonic codec for bytes already encoded: the request goes out as it is, and the
/// answer (an `ExportMetricsServiceResponse`, whose partial success the SDK's exporter
/// does not act on either) is read and dropped.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        let remaining = bytes::Buf::remaining(src);
        bytes::Buf::advance(src, remaining);
        Ok(Some(()))
    }
}
