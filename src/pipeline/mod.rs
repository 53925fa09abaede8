//! The request pipeline (CONTRACT §3.1): one ordered list of stages in [`run`].
//!
//! Owns: the order of the stages and the [`Decision`] / [`Outcome`] types. Each stage lives
//! in its own module and decides one thing; none of them builds a response (that is
//! `reject.rs`) or touches the network except `authn` (IdP), `passthrough` and `groups`
//! (the product). Input: the request head and the peer address; output: an [`Outcome`] the
//! server turns into a forwarded request, a local answer, or a rejection.

pub mod authz;
pub mod credential;
pub mod ctx;
pub mod ip_filter;
pub mod path;
pub mod rate_limit;
pub mod scope;

use http::request::Parts;

pub use authz::Permitted;
pub use ctx::{RequestCtx, Stage};

use self::credential::{Credential, CredentialDecision};
use crate::config::Config;
use crate::reject::Rejection;
use crate::state::Runtime;

/// What one stage decided.
#[derive(Debug)]
pub enum Decision {
    /// Go on to the next stage.
    Continue,
    /// Stop checking and forward as described.
    Forward(Handoff),
    /// Refuse.
    Reject(Rejection),
}

/// How a request that passed is handed to the product (CONTRACT §4).
#[derive(Debug)]
pub enum Handoff {
    /// Not an API call (or auth disabled, or `bypass`): forwarded as is, credentials untouched.
    Untouched,
    /// An API call with no credential.
    Anonymous,
    /// The caller's own credential goes to the product; the identity, when learnt from the
    /// product, was authorized like any other.
    PassThrough(Option<Permitted>),
    /// Authenticated by authgate: the identity header carries the user.
    Authenticated(Permitted),
}

/// authgate's own endpoints under `/_authgate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRoute {
    /// `/_authgate/tokens[/{id}]` (CONTRACT §5).
    Tokens,
}

/// The end of the pipeline.
#[derive(Debug)]
pub enum Outcome {
    /// Forward to the product.
    Forward(Handoff),
    /// Answer from authgate itself.
    Local(LocalRoute),
    /// Refuse.
    Reject(Rejection),
}

/// Runs every stage in order. The order is the contract's (§3.1) and each position is a
/// security choice, written next to the stage.
pub async fn run(rt: &Runtime, parts: &Parts, ctx: &mut RequestCtx) -> Outcome {
    match run_stages(rt, parts, ctx).await {
        Ok(outcome) => outcome,
        Err(rejection) => {
            ctx.detail.clone_from(&rejection.detail);
            Outcome::Reject(rejection)
        }
    }
}

/// What stages 1–5 (everything before a credential is validated) decided.
#[derive(Debug)]
pub enum Prevalidated {
    /// Settled without validating a credential (local route, untouched forward).
    Done(Outcome),
    /// An API call that goes on to stages 6–9 with this classified credential.
    Checked {
        /// The canonical path (what is forwarded, and what rules matched on).
        canonical: path::CanonicalPath,
        /// What the global switches made of the credential.
        decided: CredentialDecision,
    },
}

/// Stages 1–5: canonical path, reserved paths, IP filter, scope and credential class. Pure
/// (no I/O), so it is also what the `pipeline` bench measures. `has_introspection` is true
/// when an introspection provider validates opaque tokens.
pub fn prevalidate(
    cfg: &Config,
    has_introspection: bool,
    parts: &Parts,
    ctx: &mut RequestCtx,
) -> Result<Prevalidated, Rejection> {
    // 1. path: first, because every later stage matches rules on the canonical path, and
    //    a path Tomcat could read differently must never reach a rule at all.
    ctx.stage = Stage::Path;
    path::check_method(&parts.method)?;
    let canonical = path::canonicalize(
        &parts.method,
        &parts.uri,
        parts.version,
        &cfg.upstream.context_path,
    )?;
    ctx.path.clone_from(&canonical.full);
    let relative = canonical.relative();

    // 2. reserved: authgate's own paths are never forwarded, whatever the rules say — at the
    //    root and under the context path alike (a path outside the context path would
    //    otherwise be forwarded untouched).
    ctx.stage = Stage::Reserved;
    let reserved = |p: &str| p == "/_authgate" || p.starts_with("/_authgate/");
    if reserved(&canonical.full) || relative.is_some_and(reserved) {
        return Ok(Prevalidated::Done(Outcome::Local(LocalRoute::Tokens)));
    }

    // 3. ip_filter: before any credential work, so a denied address costs nothing and
    //    learns nothing about tokens.
    ctx.stage = Stage::IpFilter;
    let client = cfg.ip.client_ip(ctx.peer.ip(), &parts.headers);
    ctx.is_api =
        relative.is_some_and(|r| cfg.auth.api_paths.first_match(&parts.method, r).is_some());
    let guarded = ctx.is_api || cfg.ip.scope() == ip_filter::IpScope::All;
    let ip_decision = if guarded {
        cfg.ip.check(&client)
    } else {
        Decision::Continue
    };
    ctx.client_ip = Some(client);
    if let Decision::Reject(r) = ip_decision {
        return Err(r);
    }

    // 4. scope: what is not an API call, or is bypassed or denied, is settled before any
    //    credential is read.
    ctx.stage = Stage::Scope;
    match scope::check(cfg, &parts.method, relative, ctx) {
        Decision::Continue => {}
        Decision::Forward(h) => return Ok(Prevalidated::Done(Outcome::Forward(h))),
        Decision::Reject(r) => return Err(r),
    }
    let relative = relative.expect("scope forwards non-API paths");

    // 5. credential: classify once; the global switches decide what happens to each class.
    ctx.stage = Stage::Credential;
    let credential = credential::classify(&parts.headers)?;
    ctx.credential = credential.kind();
    let restricted = cfg
        .access
        .public_restricted
        .first_match(&parts.method, relative);
    if let Some(rule) = restricted {
        ctx.rule = Some(format!("public_restricted: {}", rule.text));
    }
    let decided = credential::decide(
        credential,
        &cfg.auth,
        restricted.is_some(),
        has_introspection,
    )?;
    Ok(Prevalidated::Checked { canonical, decided })
}

async fn run_stages(
    rt: &Runtime,
    parts: &Parts,
    ctx: &mut RequestCtx,
) -> Result<Outcome, Rejection> {
    // 1–5: path, reserved, ip_filter, scope, credential (see `prevalidate`).
    let (canonical, decided) =
        match prevalidate(&rt.config, rt.authn.has_introspection(), parts, ctx)? {
            // An API call forwarded while authentication is on is a `bypass` match: nobody
            // is identified, but it is still an API call, limited per client IP (stage 8),
            // so a public endpoint is no open flood path to the product.
            Prevalidated::Done(Outcome::Forward(h)) if ctx.is_api && rt.config.auth.enabled => {
                ctx.stage = Stage::RateLimit;
                ctx.rate = rt.limiter.check(None, ctx)?;
                return Ok(Outcome::Forward(h));
            }
            Prevalidated::Done(outcome) => return Ok(outcome),
            Prevalidated::Checked { canonical, decided } => (canonical, decided),
        };
    let relative = canonical.relative().expect("scope forwards non-API paths");

    // 6. authn: only credentials authgate itself checks; pass-through callers are identified
    //    by asking the product with their own credential (when switched on).
    ctx.stage = Stage::Authn;
    let principal = match &decided {
        CredentialDecision::Anonymous => {
            ctx.credential = crate::principal::CredentialKind::Anonymous;
            None
        }
        CredentialDecision::Authenticate(Credential::GatewayToken(t)) => {
            Some(rt.tokens.authenticate(t).await?)
        }
        CredentialDecision::Authenticate(c) => Some(rt.authn.authenticate(c).await?),
        CredentialDecision::PassThrough(c) => rt.passthrough.identify(c, &parts.headers).await?,
    };
    if let Some(p) = &principal {
        ctx.credential = p.credential();
        ctx.provider = p.provider().map(str::to_string);
        ctx.username = Some(p.username().to_string());
        ctx.token_id = p.token_id().map(str::to_string);
    }

    // 7. authz: groups come after the identity is known; a principal becomes `Permitted`
    //    only here, and only a `Permitted` can be handed to the product with an identity.
    ctx.stage = Stage::Authz;
    let permitted = match principal {
        Some(p) => {
            // Pass-through callers already carry the product's groups (asked once, cached).
            let p = match &decided {
                CredentialDecision::PassThrough(_) => p,
                _ => rt.groups.resolve(p).await?,
            };
            Some(rt.authz.check(
                p,
                &parts.method,
                relative,
                &parts.headers,
                parts.uri.query(),
            )?)
        }
        None => None,
    };

    // 8. rate_limit: after authn so keys exist only for identified callers (junk tokens cannot
    //    grow the key set), and after authz so refused calls do not spend tokens.
    ctx.stage = Stage::RateLimit;
    ctx.rate = rt.limiter.check(permitted.as_ref(), ctx)?;

    // 9. forward.
    ctx.stage = Stage::Forward;
    Ok(Outcome::Forward(match decided {
        CredentialDecision::Anonymous => Handoff::Anonymous,
        CredentialDecision::PassThrough(_) => Handoff::PassThrough(permitted),
        CredentialDecision::Authenticate(_) => {
            Handoff::Authenticated(permitted.expect("authenticated callers have a principal"))
        }
    }))
}
