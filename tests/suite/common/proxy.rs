//! A fault-injecting proxy in front of a fake: it passes requests through, or breaks them
//! the way networks and servers break (no answer, a drip, a body cut short, a huge body,
//! an error status, an HTML page), and it can stop listening altogether (connection
//! refused) and come back on the same port. One proxy per source: Airflow's and dbt
//! Cloud's URLs each point at their own proxy in front of the same fake.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Accepts the request and never answers.
    Hang,
    /// 200 and JSON headers, then one byte every 200 ms, forever.
    Drip,
    /// This status, content type and body (and `Retry-After` when given).
    Answer { status: u16, content_type: &'static str, body: String, retry_after: Option<&'static str> },
    /// Promises 10 000 bytes, sends a few, and closes the connection.
    BrokenOff,
    /// 200 with a body of this many bytes, streamed without a length.
    Huge(usize),
    /// A redirect (301, 302, 307, 308) to this URL.
    Redirect { status: u16, location: String },
}

impl Fault {
    pub fn status(status: u16, body: &str) -> Fault {
        Fault::Answer { status, content_type: "application/json", body: body.to_string(), retry_after: None }
    }
}

#[derive(Debug, Clone)]
struct Armed {
    /// Only requests for this path; `None`: all.
    path: Option<&'static str>,
    fault: Fault,
    /// How many requests it breaks; `None`: until cleared.
    times: Option<usize>,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    armed: Mutex<Option<Armed>>,
}

pub struct FaultProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (a base URL).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            armed: Mutex::new(None),
        });
        let addr = listener.local_addr().unwrap();
        let mut proxy = FaultProxy { addr, inner, server: None };
        proxy.serve(listener);
        proxy
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Breaks every request until [`FaultProxy::clear`].
    pub fn arm(&self, fault: Fault) {
        *self.inner.armed.lock().unwrap() = Some(Armed { path: None, fault, times: None });
    }

    /// Breaks the next `times` requests, then passes them again.
    pub fn arm_times(&self, fault: Fault, times: usize) {
        *self.inner.armed.lock().unwrap() = Some(Armed { path: None, fault, times: Some(times) });
    }

    /// Breaks the requests for one path until [`FaultProxy::clear`].
    pub fn arm_path(&self, path: &'static str, fault: Fault) {
        *self.inner.armed.lock().unwrap() = Some(Armed { path: Some(path), fault, times: None });
    }

    pub fn clear(&self) {
        *self.inner.armed.lock().unwrap() = None;
    }

    /// Stops listening: connecting is refused until [`FaultProxy::resume`]. Every answer
    /// closes its connection, so no pooled connection outlives this.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new().fallback(handle).with_state(self.inner.clone());
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let fault = {
        let mut armed = inner.armed.lock().unwrap();
        let hit = armed.as_ref().filter(|a| a.path.is_none_or(|p| p == path)).map(|a| a.fault.clone());
        if hit.is_some() {
            if let Some(a) = armed.as_mut() {
                if let Some(times) = a.times.as_mut() {
                    *times -= 1;
                    if *times == 0 {
                        *armed = None;
                    }
                }
            }
        }
        hit
    };
    let mut response = match fault {
        None => forward(&inner, request).await,
        Some(fault) => broken(fault).await,
    };
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn forward(inner: &Inner, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let target = format!("{}{}", inner.upstream, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut outgoing = inner.client.request(parts.method, target).body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response
}

async fn broken(fault: Fault) -> Response {
    match fault {
        Fault::Hang => std::future::pending().await,
        Fault::Drip => {
            let drip = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
            });
            ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(drip)).into_response()
        }
        Fault::Answer { status, content_type, body, retry_after } => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(after) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(after));
            }
            response
        }
        Fault::BrokenOff => {
            let parts: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(br#"{"dags": [{"dag_id": "shop_da"#)),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut")),
            ];
            let mut response = Body::from_stream(futures::stream::iter(parts)).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("10000"));
            response
        }
        Fault::Redirect { status, location } => {
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
            response
        }
        Fault::Huge(total) => {
            static CHUNK: [u8; 1 << 20] = [b' '; 1 << 20];
            let chunks = total.div_ceil(CHUNK.len());
            let stream =
                futures::stream::iter((0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK))));
            ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response()
        }
    }
}
