//! The one body type every response uses, and helpers to make small ones.
//!
//! Owns: [`Body`] (a boxed, streaming body: upstream responses pass through it unbuffered)
//! and constructors for fixed bodies (rejections, JSON answers).

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

/// Error type carried by streaming bodies.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A response (or forwarded request) body.
pub type Body = BoxBody<Bytes, BodyError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with `status`.
pub fn json_response(status: http::StatusCode, value: &serde_json::Value) -> http::Response<Body> {
    let mut resp = http::Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}

/// `prefix` (already read from a request body) followed by the rest of that body.
pub fn prefixed(prefix: Bytes, rest: Body) -> Body {
    Prefixed {
        prefix: Some(prefix),
        rest,
    }
    .boxed()
}

struct Prefixed {
    prefix: Option<Bytes>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        if let Some(p) = self.prefix.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(p))));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }
}

/// True when `e` was caused by the request body going over its limit (`proxy::request_body`).
pub fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // The chain is short (client error -> hyper error -> body error); bound it anyway.
    for _ in 0..8 {
        let Some(c) = cause else { return false };
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A body read up to a limit (a form for the credential check, a token request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// Not a form (or not read).
    None,
    /// The whole body.
    Read(Bytes),
    /// Longer than the bytes read; the body still streams on.
    TooLarge,
}

/// Reads `body` up to `limit` bytes. Returns what was read ([`Form::TooLarge`] past the
/// limit) and the body to forward (the same bytes, then the rest when there is more).
pub async fn read_limited(mut body: Body, limit: usize) -> Result<(Form, Body), BodyError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
        }
        if buf.len() > limit {
            return Ok((Form::TooLarge, prefixed(buf.freeze(), body)));
        }
    }
    let bytes = buf.freeze();
    Ok((Form::Read(bytes.clone()), full(bytes)))
}

/// The most of a form body read to find credential parameters in it. A larger form on an
/// API path is refused (413): what it carries could not be known.
pub const FORM_READ_LIMIT: usize = 1 << 20;

/// A request body on its way through the pipeline: streamed untouched, unless the pipeline
/// reads it as a form (then the bytes read are kept and forwarded as they came).
pub struct RequestBody {
    body: Body,
    form: Form,
}

impl RequestBody {
    /// A body not read yet.
    pub fn new(body: Body) -> Self {
        RequestBody {
            body,
            form: Form::None,
        }
    }

    /// Reads the body as a form, up to [`FORM_READ_LIMIT`] (once). The error is the body's
    /// own (use [`body_too_large`] to tell a body over `server.max_body_bytes`).
    pub async fn read_form(&mut self) -> Result<(), BodyError> {
        if self.form != Form::None {
            return Ok(());
        }
        let body = std::mem::replace(&mut self.body, empty());
        let (form, body) = read_limited(body, FORM_READ_LIMIT).await?;
        self.form = form;
        self.body = body;
        Ok(())
    }

    /// What was read as a form ([`Form::None`] when nothing was).
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The body to forward and the form read from it.
    pub fn into_parts(self) -> (Body, Form) {
        (self.body, self.form)
    }
}
