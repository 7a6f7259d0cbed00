//! A relay on loopback in front of a real server (moto's DynamoDB here): it forwards
//! every request unchanged, records which operation each was (`X-Amz-Target`), and can
//! lose an answer: forward a request, let the server carry it out, and answer the
//! client with a 500 instead, as a network that drops a response would.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Default)]
struct State {
    operations: Vec<String>,
    lose: Option<String>,
}

pub struct Relay {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    pub async fn start(upstream: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
        let state = Arc::new(Mutex::new(State::default()));
        let (upstream, shared) = (upstream.to_owned(), state.clone());
        let task = tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (client, upstream, state) = (client.clone(), upstream.clone(), shared.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<Incoming>| {
                        let (client, upstream, state) = (client.clone(), upstream.clone(), state.clone());
                        async move { Ok::<_, std::convert::Infallible>(forward(&client, &upstream, &state, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Relay { endpoint, state, task }
    }

    /// The operations relayed so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.state.lock().expect("not poisoned").operations.clone()
    }

    /// The next request of `operation` reaches the server; its answer is lost.
    pub fn lose_next_answer(&self, operation: &str) {
        self.state.lock().expect("not poisoned").lose = Some(operation.to_owned());
    }
}

async fn forward(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: &str,
    state: &Mutex<State>,
    req: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let lose = {
        let mut s = state.lock().expect("not poisoned");
        s.operations.push(operation.clone());
        (s.lose.as_deref() == Some(operation.as_str())).then(|| s.lose.take()).is_some()
    };
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut out = http::Request::builder().method(parts.method).uri(format!("{upstream}{}", parts.uri));
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    let answer = client.request(out.body(Full::new(body)).expect("a valid request")).await.expect("upstream answers");
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if lose {
        let mut r = http::Response::new(Full::new(Bytes::from_static(
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"the answer was lost"}"#,
        )));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/x-amz-json-1.0"));
        return r;
    }
    http::Response::from_parts(parts, Full::new(body))
}
