//! The client side of the gateway tests: reqwest calls ([`Call`] -> [`Answer`]), raw request
//! bytes read back as a [`RawResponse`], and a streamed [`Upload`]. Re-exported by
//! `support::gateway`, which builds them.

use std::net::IpAddr;

use bytes::Bytes;
use hyper::body::Frame;
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

/// An answer read from a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code (0 when nothing parsable came back).
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as text (lossy), for assertions and messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses a whole HTTP/1.1 answer as read from the socket.
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let text_end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
        let Some(end) = text_end else {
            return RawResponse {
                status: 0,
                headers: Vec::new(),
                body: bytes.to_vec(),
            };
        };
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
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
        }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `reason` of a rejection body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
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
