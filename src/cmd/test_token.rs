//! `authgate test-token` and `POST /admin/test-token`: one credential through the real
//! checks for a method and path, with every step and its verdict.
//!
//! Owns: [`report`] (the stages of docs/http.md#order-of-checks that apply to a token: path, scope,
//! credential, authn with its full trace, groups, authz; the IP filter and the rate limit
//! are not applied, and say so), [`Report`] (text and JSON), and the command. It never
//! forwards anything and never prints the token (only its short hash).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde::Serialize;

use crate::authn::trace::{Step, Verdict};
use crate::body::Form;
use crate::pipeline::credential::{Credential, CredentialDecision};
use crate::pipeline::{self, Checked, IpCheck, Prevalidated, RequestCtx};
use crate::principal::short_hash;
use crate::state::Runtime;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Method checked.
    pub method: String,
    /// Path checked (as given).
    pub path: String,
    /// Short hash of the token (how it appears in logs and audit).
    pub token_id: String,
    /// Every step, in order.
    pub steps: Vec<ReportStep>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The machine reason (`token_expired`…), or the allow reason.
    pub reason: String,
    /// The HTTP status a client would get (200 = forwarded).
    pub status: u16,
    /// The username handed to the product, when allowed.
    pub username: Option<String>,
    /// The groups used for the decision.
    pub groups: Vec<String>,
}

/// One step with its stage.
#[derive(Debug, Clone, Serialize)]
pub struct ReportStep {
    /// Pipeline stage (`path`, `scope`, `credential`, `authn`, `groups`, `authz`…).
    pub stage: &'static str,
    /// The check within the stage.
    pub check: String,
    /// pass / fail / info.
    pub verdict: Verdict,
    /// What was seen.
    pub detail: String,
}

impl Report {
    /// True when the request would be forwarded.
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }

    /// Human-readable, one step a line.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "test-token {} {}  (token {})\n",
            self.method, self.path, self.token_id
        );
        for st in &self.steps {
            let mark = match st.verdict {
                Verdict::Pass => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Info => "    ",
            };
            s.push_str(&format!(
                "  {mark} {:<10} {:<18} {}\n",
                st.stage, st.check, st.detail
            ));
        }
        s.push_str(&format!(
            "decision: {} ({}, HTTP {})",
            self.decision.to_uppercase(),
            self.reason,
            self.status
        ));
        if let Some(u) = &self.username {
            s.push_str(&format!(" as {u} groups {:?}", self.groups));
        }
        s.push('\n');
        s
    }
}

struct Builder {
    steps: Vec<ReportStep>,
}

impl Builder {
    fn step(
        &mut self,
        stage: &'static str,
        check: &str,
        verdict: Verdict,
        detail: impl Into<String>,
    ) {
        self.steps.push(ReportStep {
            stage,
            check: check.to_string(),
            verdict,
            detail: detail.into(),
        });
    }
    fn authn(&mut self, steps: Vec<Step>) {
        for s in steps {
            self.steps.push(ReportStep {
                stage: "authn",
                check: s.check,
                verdict: s.verdict,
                detail: s.detail,
            });
        }
    }
}

/// Runs `token` (a bare token, or a whole `Authorization` value) through `rt` for `method`
/// and `path`.
pub async fn report(rt: &Runtime, token: &str, method: &str, target: &str) -> Report {
    let token = token.trim();
    let mut b = Builder { steps: Vec::new() };
    let mut out = Report {
        method: method.to_string(),
        path: target.to_string(),
        token_id: short_hash(token.as_bytes()),
        steps: Vec::new(),
        decision: "deny",
        reason: String::new(),
        status: 0,
        username: None,
        groups: Vec::new(),
    };
    let result = run(rt, token, method, target, &mut b, &mut out).await;
    match result {
        Ok(reason) => {
            out.decision = "allow";
            out.reason = reason.to_string();
            out.status = 200;
        }
        Err(r) => {
            out.reason = r.reason.as_str().to_string();
            out.status = r.reason.status().as_u16();
            if let Some(d) = &r.detail {
                b.step("decision", "detail", Verdict::Fail, d.clone());
            }
        }
    }
    out.steps = b.steps;
    out
}

async fn run(
    rt: &Runtime,
    token: &str,
    method: &str,
    target: &str,
    b: &mut Builder,
    out: &mut Report,
) -> Result<&'static str, crate::reject::Rejection> {
    use crate::reject::{Reason, Rejection};
    let cfg = &rt.config;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Rejection::new(Reason::MalformedRequest).detail("not an HTTP method"))?;
    let uri: Uri = target
        .parse()
        .map_err(|_| Rejection::new(Reason::BadPath).detail("not a request target"))?;
    let mut headers = HeaderMap::new();
    let value = if token.contains(' ') {
        token.to_string()
    } else {
        format!("Bearer {token}")
    };
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&value)
            .map_err(|_| Rejection::new(Reason::MalformedToken).detail("token is not ASCII"))?,
    );
    let mut request = http::Request::new(());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    let (parts, ()) = request.into_parts();
    let mut ctx = RequestCtx::new(
        "test-token".into(),
        ([127, 0, 0, 1], 0).into(),
        method.clone(),
        uri.path().to_string(),
    );
    b.step(
        "ip_filter",
        "client_ip",
        Verdict::Info,
        "not applied by test-token (no client address)",
    );
    // Stages 1–5 are the pipeline's own code, exactly as a request runs them.
    let checked = pipeline::prevalidate_with(
        cfg,
        rt.authn.has_introspection(),
        &parts,
        &Form::None,
        &mut ctx,
        IpCheck::Skip,
    )
    .inspect_err(|r| {
        b.step(
            ctx.stage.as_str(),
            "rule",
            Verdict::Fail,
            ctx.rule
                .clone()
                .unwrap_or_else(|| r.reason.as_str().to_string()),
        )
    })?;
    let Checked {
        canonical, decided, ..
    } = match checked {
        Prevalidated::Checked(c) => c,
        Prevalidated::Local(_) => {
            b.step(
                "reserved",
                "route",
                Verdict::Info,
                "authgate's own endpoint (/_authgate)",
            );
            return Ok("local");
        }
        Prevalidated::Done(_) => {
            b.step(
                "scope",
                "rule",
                Verdict::Info,
                ctx.rule.clone().unwrap_or_else(|| "not an API path".into()),
            );
            return Ok(if ctx.is_api { "bypass" } else { "not_api" });
        }
    };
    b.step("path", "canonical", Verdict::Pass, canonical.full.clone());
    b.step("scope", "api_paths", Verdict::Info, "an API path");
    let relative = canonical
        .relative()
        .expect("an API path is under the context path");
    b.step(
        "credential",
        "class",
        Verdict::Info,
        ctx.credential.as_str(),
    );
    let headers = &parts.headers;
    let principal = match decided {
        CredentialDecision::Anonymous => {
            b.step(
                "credential",
                "anonymous",
                Verdict::Info,
                "no credential: forwarded anonymously",
            );
            return Ok("anonymous");
        }
        CredentialDecision::PassThrough(c) => {
            b.step(
                "credential",
                "pass-through",
                Verdict::Info,
                format!("{}: the product checks it", c.kind().as_str()),
            );
            return Ok("pass_through");
        }
        CredentialDecision::Authenticate(Credential::GatewayToken(t)) => {
            let p = rt.tokens.authenticate(&t).await;
            match &p {
                Ok(p) => b.step(
                    "authn",
                    "gateway_token",
                    Verdict::Pass,
                    format!("user {}", p.username()),
                ),
                Err(r) => b.step("authn", "gateway_token", Verdict::Fail, r.reason.as_str()),
            }
            p?
        }
        CredentialDecision::Authenticate(c) => {
            let (steps, p) = rt.authn.explain(&c).await;
            b.authn(steps);
            p?
        }
    };
    let principal = rt.groups.resolve(principal).await.inspect_err(|r| {
        b.step("groups", "resolve", Verdict::Fail, r.reason.as_str());
    })?;
    b.step(
        "groups",
        "resolved",
        Verdict::Info,
        format!("{:?}", principal.groups()),
    );
    out.username = Some(principal.username().to_string());
    out.groups = principal.groups().to_vec();
    let permitted = rt
        .authz
        .check(principal, &method, relative, headers, uri.query())
        .inspect_err(|r| b.step("authz", "groups", Verdict::Fail, r.reason.as_str()))?;
    b.step(
        "authz",
        "groups",
        Verdict::Pass,
        format!(
            "{} may {method} {relative}",
            permitted.principal().username()
        ),
    );
    b.step(
        "rate_limit",
        "bucket",
        Verdict::Info,
        "not applied by test-token",
    );
    Ok("authenticated")
}

/// `authgate test-token`: exit 0 when the request would be allowed, 1 otherwise.
pub async fn test_token(
    config: &Path,
    token: Option<&str>,
    method: &str,
    path: &str,
    json: bool,
) -> Result<ExitCode> {
    let token = match token {
        Some("-") | None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the token from stdin")?;
            s
        }
        Some(t) => t.to_string(),
    };
    if token.trim().is_empty() {
        anyhow::bail!("no token given (pass it as an argument, or `-` to read stdin)");
    }
    let cfg = crate::config::load(config)?;
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    let db = crate::db::Db::connect_lazy(cfg.audit.database_kind, &cfg.audit.database_url)
        .map_err(|e| anyhow::anyhow!("audit.database_url: {e}"))?;
    // `default()` is `AuditSink::Off`: test-token records no audit row.
    #[allow(clippy::default_constructed_unit_structs)]
    let audit = crate::audit::AuditSink::default();
    let shared = crate::state::Shared::new(audit, clock, db);
    let rt = Runtime::build(Arc::new(cfg), &shared, None).await?;
    for w in rt.authn.warnings() {
        eprintln!("warning: {w}");
    }
    let r = report(&rt, &token, method, path).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.to_text());
    }
    Ok(if r.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
