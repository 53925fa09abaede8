//! The client side of the gateway tests: reqwest calls ([`Call`] -> [`Answer`]), raw request
//! bytes read back as a [`RawResponse`], and a streamed [`Upload`]. Re-exported by
//! `support::gateway`, which builds them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

use super::gateway::{basic, CALL_LIMIT};
/// A `GET`-style request head with `Connection: close`.
pub fn raw_request(method: &str, target: &str, extra: &[&str]) -> String {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n");
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s
}

/// An upload in progress (see [`TestGateway::upload`]).
pub struct Upload {
    /// Feeds the body; drop it to end the body.
    pub chunks: mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>,
    /// The answer, once the gateway answers.
    pub answer: tokio::task::JoinHandle<Result<http::Response<Bytes>, String>>,
}

impl Upload {
    /// Sends one chunk of the body.
    pub async fn send(&self, chunk: impl Into<Bytes>) {
        self.chunks
            .send(Ok(Frame::data(chunk.into())))
            .await
            .expect("the gateway still reads the body");
    }

    /// Ends the body and waits for the answer.
    pub async fn finish(self) -> http::Response<Bytes> {
        drop(self.chunks);
        tokio::time::timeout(CALL_LIMIT, self.answer)
            .await
            .expect("the answer arrives")
            .expect("the client task ends")
            .expect("the request succeeds")
    }
}

/// A reqwest call being built.
pub struct Call {
    method: http::Method,
    url: String,
    from: Option<IpAddr>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Call {
    /// A call of `method` to `url` from 127.0.0.1 with no header and no body.
    pub fn new(method: http::Method, url: String) -> Call {
        Call {
            method,
            url,
            from: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header line (repeatable).
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Basic …`
    pub fn basic(self, user: &str, password: &str) -> Call {
        let v = basic(user, password);
        self.header("authorization", &v)
    }

    /// `Authorization: Bearer {token}`
    pub fn bearer(self, token: &str) -> Call {
        let v = format!("Bearer {token}");
        self.header("authorization", &v)
    }

    /// `Cookie: {cookie}`
    pub fn cookie(self, cookie: &str) -> Call {
        self.header("cookie", cookie)
    }

    /// A body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Call {
        self.body = Some(body.into());
        self
    }

    /// Sends from source address `ip` (e.g. `127.0.0.2`) to act as another client.
    pub fn from(mut self, ip: &str) -> Call {
        self.from = Some(ip.parse().expect("a source address"));
        self
    }

    /// Sends and reads the whole answer.
    pub async fn send(self) -> Answer {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(self.from)
            .timeout(CALL_LIMIT)
            .build()
            .expect("a client");
        let mut rb = client.request(self.method, &self.url);
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(b) = self.body {
            rb = rb.body(b);
        }
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.url));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("the whole body");
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `reason` of a rejection body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer read from a raw socket (the one raw client of the tests: [`exchange`]).
#[derive(Debug)]
pub struct RawResponse {
    /// Status code (0 when no status line came back).
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
    /// The whole answer (head and body) as read, lossily decoded: for messages and searches.
    pub text: String,
}

impl RawResponse {
    /// Parses what was read from the socket (an answer cut short still has its status).
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| text.strip_prefix("HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return RawResponse {
                status,
                headers: Vec::new(),
                body: Vec::new(),
                text,
            };
        };
        let head = String::from_utf8_lossy(&bytes[..end]);
        let headers: Vec<(String, String)> = head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = bytes[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        RawResponse {
            status,
            headers,
            body,
            text,
        }
    }

    /// The body as text (lossy).
    pub fn body(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `reason` of a rejection body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `bytes` on a new connection to `addr` (from the local address `from`, any
/// 127.0.0.x, when given) and reads until the server closes it or `limit` passes. The write
/// runs beside the read, so an answer sent before the server reads everything (431, 403
/// before the body) is seen. Returns the answer and whether the server closed the connection.
pub async fn exchange(
    addr: SocketAddr,
    from: Option<IpAddr>,
    bytes: &[u8],
    limit: Duration,
) -> (RawResponse, bool) {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .expect("a socket");
    if let Some(ip) = from {
        socket
            .bind(SocketAddr::new(ip, 0))
            .expect("bind the source address");
    }
    let stream = socket.connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let data = bytes.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&data).await;
        // Keep the write half open until the reader is done (no half-close surprises).
        wr
    });
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 8192];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 4 << 20 {
                break;
            }
        }
    })
    .await
    .is_ok();
    writer.abort();
    (RawResponse::parse(&buf), closed)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}
