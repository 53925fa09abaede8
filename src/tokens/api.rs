//! `/_authgate/*` on `listen` (CONTRACT §5). Placeholder until issue 6: every path is 404.

use http::Response;
use hyper::body::Incoming;

use crate::body::Body;
use crate::pipeline::{LocalRoute, RequestCtx};
use crate::reject::{Reason, Rejection};
use crate::state::{AppState, Runtime};

/// Answers a request under `/_authgate`.
pub async fn serve(
    _state: &AppState,
    _rt: &Runtime,
    _route: LocalRoute,
    _parts: http::request::Parts,
    _body: Incoming,
    ctx: &mut RequestCtx,
) -> Response<Body> {
    Rejection::new(Reason::NotFound).into_response(&ctx.request_id)
}
