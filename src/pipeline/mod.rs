//! The request pipeline (docs/http.md#order-of-checks): one ordered list of stages in [`run`].
//!
//! Owns: the order of the stages and the [`Decision`] / [`Outcome`] types. Each stage lives
//! in its own module and decides one thing; none of them builds a response (that is
//! `reject.rs`) or touches the network except `authn` (IdP), `passthrough` and `groups`
//! (the product). Input: the request head and the peer address; output: an [`Outcome`] the
//! server turns into a forwarded request, a local answer, or a rejection.

pub mod authz;
pub mod credential;
pub mod ip_filter;
pub mod path;
pub mod rate_limit;
pub mod reserved;
pub mod scope;

use http::request::Parts;

pub use crate::request as ctx;
pub use crate::request::{RequestCtx, Stage};
pub use authz::Permitted;
pub use reserved::{LocalCall, LocalRoute, PageRoute};

use self::credential::{Credential, CredentialDecision};
use crate::body::{Form, RequestBody};
use crate::carriers::{self, Params};
use crate::config::Config;
use crate::reject::{Reason, Rejection};
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

/// How a request that passed is handed to the product (docs/http.md#what-reaches-the-product).
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

/// The end of the pipeline.
#[derive(Debug)]
pub enum Outcome {
    /// Forward to the product.
    Forward(Handoff),
    /// Answer from authgate itself, for the caller the pipeline identified.
    Local(LocalCall),
    /// The token page (`src/page/`): its viewer is a browser, identified by the page itself
    /// (its own session, the product's session cookie, or its sign-in form).
    Page(PageRoute),
    /// Refuse.
    Reject(Rejection),
}

/// Runs every stage in order. The order is the one in docs/http.md#order-of-checks, and each
/// position is a security choice, written next to the stage.
/// `body` is the request body; an API call's form body is read here (the product reads
/// credentials from it), and what was read stays in `body` for forwarding.
pub async fn run(
    rt: &Runtime,
    parts: &Parts,
    body: &mut RequestBody,
    ctx: &mut RequestCtx,
) -> Outcome {
    match run_stages(rt, parts, body, ctx).await {
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
    /// Settled without validating a credential (untouched or bypassed forward).
    Done(Outcome),
    /// One of authgate's own endpoints; its caller is identified next.
    Local(LocalRoute),
    /// An API call that goes on to stages 6–9 with this classified credential.
    Checked(Checked),
}

/// An API call past stage 5.
#[derive(Debug)]
pub struct Checked {
    /// The canonical path (what is forwarded, and what rules matched on).
    pub canonical: path::CanonicalPath,
    /// What the global switches made of the credential.
    pub decided: CredentialDecision,
    /// The credential parameters of the query and form body.
    pub params: Params,
}

/// Stages 1–5: canonical path, reserved paths, IP filter, scope and credential class. Pure
/// (no I/O), so it is also what the `pipeline` bench measures. `has_introspection` is true
/// when an introspection provider validates opaque tokens; `form` is the form body, if any.
pub fn prevalidate(
    cfg: &Config,
    has_introspection: bool,
    parts: &Parts,
    form: &Form,
    ctx: &mut RequestCtx,
) -> Result<Prevalidated, Rejection> {
    prevalidate_with(cfg, has_introspection, parts, form, ctx, IpCheck::Apply)
}

/// Whether stage 3 runs: `authgate test-token` has no client address, so it skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpCheck {
    /// The IP filter decides (every request).
    Apply,
    /// Not applied (`test-token`: no client).
    Skip,
}

/// [`prevalidate`] with the IP filter applied or not.
pub fn prevalidate_with(
    cfg: &Config,
    has_introspection: bool,
    parts: &Parts,
    form: &Form,
    ctx: &mut RequestCtx,
    ip: IpCheck,
) -> Result<Prevalidated, Rejection> {
    match scope_stages(cfg, parts, ctx, ip)? {
        Scoped::Done(outcome) => Ok(Prevalidated::Done(outcome)),
        Scoped::Local(route) => Ok(Prevalidated::Local(route)),
        Scoped::Api(canonical) => Ok(Prevalidated::Checked(credential_stage(
            cfg,
            has_introspection,
            parts,
            canonical,
            form,
            ctx,
        )?)),
    }
}

/// What stages 1–4 decided.
enum Scoped {
    /// Settled (untouched or bypassed forward).
    Done(Outcome),
    /// One of authgate's own endpoints, past the IP filter.
    Local(LocalRoute),
    /// An API call that goes on to the credential stage.
    Api(path::CanonicalPath),
}

/// Stages 1–4: canonical path, reserved paths, IP filter and scope.
fn scope_stages(
    cfg: &Config,
    parts: &Parts,
    ctx: &mut RequestCtx,
    ip: IpCheck,
) -> Result<Scoped, Rejection> {
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
    let local = relative
        .filter(|r| reserved::is_reserved(r))
        .or_else(|| Some(canonical.full.as_str()).filter(|f| reserved::is_reserved(f)));

    // 3. ip_filter: before any credential work, so a denied address costs nothing and
    //    learns nothing about tokens.
    ctx.stage = Stage::IpFilter;
    let client = cfg.ip.client_ip(ctx.peer.ip(), &parts.headers);
    let is_api = |r: &str| cfg.auth.api_paths.first_match(&parts.method, r).is_some();
    ctx.is_api = relative.is_some_and(is_api);
    // The product's resource URL rewrite serves `/s/<anything>/_/<target>` as `/<target>`:
    // such an alias of an API path would reach it unchecked, so it is refused.
    if let Some(target) = relative.and_then(|r| path::s_alias_targets(r).find(|t| is_api(t))) {
        return Err(Rejection::new(Reason::BadPath)
            .detail(format!("`/s/…/_/` alias of the API path {target}")));
    }
    // authgate's own endpoints mint API credentials: the allow-list always applies there.
    let guarded = ctx.is_api || local.is_some() || cfg.ip.scope() == ip_filter::IpScope::All;
    let ip_decision = if guarded && ip == IpCheck::Apply {
        cfg.ip.check(&client)
    } else {
        Decision::Continue
    };
    ctx.client_ip = Some(client);
    if let Decision::Reject(r) = ip_decision {
        return Err(r);
    }
    if let Some(own) = local {
        return Ok(Scoped::Local(reserved::route(
            own,
            &parts.method,
            &parts.headers,
        )?));
    }

    // 4. scope: what is not an API call, or is bypassed or denied, is settled before any
    //    credential is read.
    ctx.stage = Stage::Scope;
    match scope::check(cfg, &parts.method, relative, ctx) {
        Decision::Continue => {}
        Decision::Forward(h) => return Ok(Scoped::Done(Outcome::Forward(h))),
        Decision::Reject(r) => return Err(r),
    }
    Ok(Scoped::Api(canonical))
}

/// Stage 5: the credential, classified once; the global switches decide what happens to
/// each class. `form` is the form body when the request has one (read only for API calls).
fn credential_stage(
    cfg: &Config,
    has_introspection: bool,
    parts: &Parts,
    canonical: path::CanonicalPath,
    form: &Form,
    ctx: &mut RequestCtx,
) -> Result<Checked, Rejection> {
    let relative = canonical.relative().expect("scope forwards non-API paths");
    ctx.stage = Stage::Credential;
    let params = credential_params(parts.uri.query(), form)?;
    let credential = credential::classify(&parts.headers, &cfg.upstream.carriers, &params)?;
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
        &params,
    )?;
    Ok(Checked {
        canonical,
        decided,
        params,
    })
}

/// The credential parameters of the query and the form body. A form too large to read is
/// refused: what it carries cannot be known.
fn credential_params(query: Option<&str>, form: &Form) -> Result<Params, Rejection> {
    let mut params = Params::default();
    if let Some(q) = query {
        carriers::scan_params(q, &mut params);
    }
    match form {
        Form::None => {}
        Form::Read(body) => carriers::scan_params(&String::from_utf8_lossy(body), &mut params),
        Form::TooLarge => {
            return Err(Rejection::new(Reason::BodyTooLarge)
                .detail("a form body on an API path larger than authgate reads"))
        }
    }
    Ok(params)
}

async fn run_stages(
    rt: &Runtime,
    parts: &Parts,
    body: &mut RequestBody,
    ctx: &mut RequestCtx,
) -> Result<Outcome, Rejection> {
    // 1–4: path, reserved, ip_filter, scope (see `prevalidate`).
    let canonical = match scope_stages(&rt.config, parts, ctx, IpCheck::Apply)? {
        // An API call forwarded while authentication is on is a `bypass` match: nobody
        // is identified, but it is still an API call, limited per client IP (stage 8),
        // so a public endpoint is no open flood path to the product.
        Scoped::Done(Outcome::Forward(h)) if ctx.is_api && rt.config.auth.enabled => {
            ctx.stage = Stage::RateLimit;
            ctx.rate = rt.limiter.check(None, ctx).await?;
            return Ok(Outcome::Forward(h));
        }
        Scoped::Done(outcome) => return Ok(outcome),
        // The token page has browsers, not API clients, as callers: a page session, the
        // product's session cookie or the page's sign-in form (checked as Basic is, through
        // `reserved::basic`), which the page itself sorts out (`src/page/`).
        Scoped::Local(LocalRoute::Page(route)) => {
            ctx.stage = Stage::Authn;
            return Ok(Outcome::Page(route));
        }
        // authgate's own endpoints: the caller is identified by the same authn and groups
        // stages; what it may do there is the endpoint's rule (`tokens::api`).
        Scoped::Local(route) => {
            ctx.stage = Stage::Authn;
            let caller = reserved::caller(rt, &parts.headers, ctx).await?;
            ctx.credential = caller.credential();
            ctx.provider = caller.provider().map(str::to_string);
            ctx.username = Some(caller.username().to_string());
            ctx.stage = Stage::Authz;
            return Ok(Outcome::Local(LocalCall { route, caller }));
        }
        Scoped::Api(canonical) => canonical,
    };
    // 5. credential. The product reads credentials from a form body too (`getParameter`),
    //    so an API call's form is read first — only now, after the address and the rules
    //    had their say. Two `Content-Type` headers are refused: the product reads the first,
    //    so whether the body carries parameters would be a guess.
    if parts
        .headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
    {
        ctx.stage = Stage::Credential;
        return Err(Rejection::new(Reason::MalformedRequest).detail("two Content-Type headers"));
    }
    if carriers::is_form(&parts.headers) {
        body.read_form().await.map_err(|e| {
            if crate::body::body_too_large(e.as_ref()) {
                Rejection::new(Reason::BodyTooLarge)
            } else {
                Rejection::new(Reason::MalformedRequest)
                    .detail(format!("reading the form body: {e}"))
            }
        })?;
    }
    let Checked {
        canonical,
        decided,
        params,
    } = credential_stage(
        &rt.config,
        rt.authn.has_introspection(),
        parts,
        canonical,
        body.form(),
        ctx,
    )?;
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
        CredentialDecision::PassThrough(c) => {
            rt.passthrough
                .identify(
                    c,
                    &parts.headers,
                    &params,
                    &rt.config.upstream.carriers,
                    ctx,
                )
                .await?
        }
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
    ctx.rate = rt.limiter.check(permitted.as_ref(), ctx).await?;

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
