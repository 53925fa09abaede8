//! Stage 4, `scope`: is this an API call authgate must check, and do the path rules settle it?
//!
//! Owns: `auth.enabled`, `auth.api_paths`, `access.deny` and `access.bypass`. Input: the
//! canonical path relative to the context path (`None` when outside it).

use http::Method;

use super::{Decision, Handoff, RequestCtx};
use crate::config::Config;
use crate::reject::{Reason, Rejection};

/// Decides the scope of a request; records the matched rule on `ctx`.
pub fn check(
    cfg: &Config,
    method: &Method,
    relative: Option<&str>,
    ctx: &mut RequestCtx,
) -> Decision {
    let Some(rel) = relative else {
        ctx.rule = Some("outside upstream.context_path".into());
        return Decision::Forward(Handoff::Untouched);
    };
    if !ctx.is_api {
        return Decision::Forward(Handoff::Untouched);
    }
    if !cfg.auth.enabled {
        ctx.rule = Some("auth.enabled = false".into());
        return Decision::Forward(Handoff::Untouched);
    }
    if let Some(rule) = cfg.access.deny.first_match(method, rel) {
        ctx.rule = Some(format!("deny: {}", rule.text));
        return Decision::Reject(
            Rejection::new(Reason::DeniedPath).detail(format!("deny rule `{}`", rule.text)),
        );
    }
    if let Some(rule) = cfg.access.bypass.first_match(method, rel) {
        ctx.rule = Some(format!("bypass: {}", rule.text));
        return Decision::Forward(Handoff::Untouched);
    }
    Decision::Continue
}
