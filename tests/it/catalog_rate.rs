//! Catalog §R (docs/catalog.md): rate limiting (governor), R-01..R-08.
//!
//! Oracles (docs/catalog.md#oracles): a 429 is a deny — status 429 with `Retry-After`, reason
//! `rate_limited` in the Jira-shaped body, nothing upstream, one audit row
//! `deny`/`rate_limited`; an allow is exactly one upstream request with exactly one identity
//! header, and its audit row. Deterministic: the gateway cases use a quota a short burst
//! exceeds (5 per hour, never refilled during a test; the catalog's "5 req/s" would depend on
//! speed), and everything about time (recovery, pruning) runs the gateway's `RateLimiter` on
//! governor's `FakeRelativeClock`.

use std::time::Duration;

use authgate::config::RateLimitSettings;
use authgate::pipeline::rate_limit::{LimitKey, RateLimiter};
use authgate::pipeline::{self, Outcome, RequestCtx};
use authgate::standin::idp::{Endpoint, IdpStandin};
use governor::clock::FakeRelativeClock;

use crate::catalog_audit::{manual_clock, start_with, Opts};
use crate::support::harden::{fixture, now, token, token_with, Harness, RawResponse, P, T};

/// 5 requests per hour, burst 5: the 6th in a burst is refused; nothing refills in a test.
const FIVE: &str = "[rate_limit]\nenabled = true\nrequests = 5\nper = \"1h\"\nburst = 5\n";
/// 1 per hour, burst 1.
const ONE: &str = "[rate_limit]\nenabled = true\nrequests = 1\nper = \"1h\"\nburst = 1\n";

fn bearer(t: &str) -> String {
    format!("Authorization: Bearer {t}")
}

fn remaining(resp: &RawResponse) -> u32 {
    resp.header("x-ratelimit-remaining")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-RateLimit-Remaining:\n{}", resp.text))
}

/// The machine reason of a refusal (to audit-check refusals whose exact reason is not the
/// point of the case).
pub fn reason_of(resp: &RawResponse) -> String {
    let body = resp.body();
    let at = body
        .find("\"reason\":\"")
        .unwrap_or_else(|| panic!("no reason in {body}"));
    body[at + 10..].split('"').next().unwrap_or("").to_string()
}

/// Asserts the 429 oracle, `Retry-After` in 1..=`max_retry` seconds.
async fn assert_limited(h: &Harness, resp: &RawResponse, max_retry: u64, case: &str) {
    h.assert_denied(resp, 429, "rate_limited", case).await;
    let retry: u64 = resp
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{case}: 429 without Retry-After:\n{}", resp.text));
    assert!(
        (1..=max_retry).contains(&retry),
        "{case}: Retry-After {retry}"
    );
}

fn settings(toml: &str) -> RateLimitSettings {
    authgate::config::from_toml(toml)
        .expect("rate limit config")
        .rate_limit
}

#[tokio::test]
async fn r01_r08_the_sixth_request_is_429_audited_and_never_forwarded() {
    let h = Harness::catalog(FIVE).await;
    let alice = bearer(&token("alice", &["jira-users"]));
    for i in 1..=5u32 {
        let resp = h.get(T, &[&alice]).await;
        assert_eq!(remaining(&resp), 5 - i, "R-01 request {i}");
        h.assert_forwarded(&resp, T, Some("alice"), &format!("R-01 request {i}"))
            .await;
    }
    let resp = h.get(T, &[&alice]).await;
    // One token every 3600 s / 5 = 720 s.
    assert_limited(&h, &resp, 720, "R-01/R-08 6th request").await;
    // the 429 row names the caller (limits apply after authentication).
    h.assert_audited(
        &resp,
        Some(("deny", "rate_limited")),
        Some("alice"),
        "R-08 row",
    )
    .await;
    // Other users are unaffected.
    let resp = h.get(T, &[&bearer(&token("bob", &["jira-users"]))]).await;
    assert_eq!(remaining(&resp), 4, "R-01 bob has his own bucket");
    h.assert_forwarded(&resp, T, Some("bob"), "R-01 other user")
        .await;
}

#[test]
fn r01_recovery_after_the_window_on_an_injected_clock() {
    let clock = FakeRelativeClock::default();
    let limiter = RateLimiter::with_clock(&settings(FIVE), clock.clone());
    let key = LimitKey::Token("alice-token".into());
    for left in (0..5).rev() {
        let h = limiter.take(&key, &[]).expect("R-01 within the burst");
        assert_eq!(h.remaining, left);
    }
    let r = limiter.take(&key, &[]).expect_err("R-01 6th");
    assert_eq!(r.rate.map(|h| h.retry_after_secs), Some(720), "R-01");
    clock.advance(Duration::from_secs(719));
    assert!(limiter.take(&key, &[]).is_err(), "R-01 not yet");
    clock.advance(Duration::from_secs(1));
    assert!(limiter.take(&key, &[]).is_ok(), "R-01 one token back");
    assert!(limiter.take(&key, &[]).is_err(), "R-01 exactly one");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(limiter.take(&key, &[]).map(|h| h.remaining).ok(), Some(4));
}

/// `t` with its signature changed in a way a lenient base64url decoder would not notice.
fn variants(t: &str) -> Vec<(&'static str, String)> {
    let (signed, sig) = t.rsplit_once('.').expect("three parts");
    let last = sig.chars().last().expect("signature");
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let v = B64.find(last).expect("base64url");
    // 32 signature bytes use 4 of the last character's 6 bits: flip an unused one.
    let flipped = B64.as_bytes()[v ^ 1] as char;
    let mut out = vec![
        ("padding", format!("{t}=")),
        (
            "non-zero trailing bits",
            format!("{signed}.{}{flipped}", &sig[..sig.len() - 1]),
        ),
        ("tab inside", t.replacen('.', ".\t", 1)),
    ];
    if sig.contains(['-', '_']) {
        out.push(("standard alphabet", t.replace('-', "+").replace('_', "/")));
    }
    out
}

#[tokio::test]
async fn r02_spellings_of_one_token_share_a_bucket_or_are_refused() {
    let h = Harness::catalog(FIVE).await;
    // A token whose signature has `-` or `_`, so the `+`/`/` spelling exists (each try is a
    // new `jti`; three in four signatures qualify).
    let t = (0..200)
        .map(|i| {
            token_with(serde_json::json!({
                "iss": "https://idp.test", "aud": "jira-gw", "exp": now() + 300, "iat": now(),
                "jti": format!("r02-{i}"), "preferred_username": "alice", "groups": ["jira-users"],
            }))
        })
        .find(|t| t.rsplit('.').next().is_some_and(|s| s.contains(['-', '_'])))
        .expect("a signature with - or _");
    let mut left = 5;
    for (case, auth) in [
        ("Bearer t", format!("Authorization: Bearer {t}")),
        ("bearer t", format!("Authorization: bearer {t}")),
        ("Bearer  t", format!("Authorization: Bearer  {t}")),
        (
            "Bearer t + trailing space",
            format!("Authorization: Bearer {t} "),
        ),
    ] {
        let resp = h.get(T, &[&auth]).await;
        left -= 1;
        assert_eq!(remaining(&resp), left, "R-02 {case}: same bucket");
        h.assert_forwarded(&resp, T, Some("alice"), &format!("R-02 {case}"))
            .await;
    }
    for (case, v) in variants(&t) {
        let resp = h.get(T, &[&bearer(&v)]).await;
        assert_eq!(resp.status, 401, "R-02 {case}: {}", resp.text);
        let reason = reason_of(&resp);
        h.assert_denied(&resp, 401, &reason, &format!("R-02 {case}"))
            .await;
    }
    let rt = h.gw.state.runtime.load_full();
    assert_eq!(rt.limiter.keys(), 1, "R-02: never a fresh bucket");
    let resp = h.get(T, &[&bearer(&t)]).await;
    assert_eq!(remaining(&resp), 0, "R-02 the variants took nothing");
    h.assert_forwarded(&resp, T, Some("alice"), "R-02 last")
        .await;
    let resp = h.get(T, &[&format!("Authorization: BEARER {t}")]).await;
    assert_limited(&h, &resp, 720, "R-02 BEARER t, bucket empty").await;
}

#[tokio::test]
async fn r03_a_flood_of_invalid_tokens_creates_no_limiter_keys() {
    let h = Harness::catalog(FIVE).await;
    let rt = h.gw.state.runtime.load_full();
    let valid = token("alice", &["jira-users"]);
    let signed = valid.rsplit_once('.').expect("three parts").0;
    let peer = "127.0.0.1:50000".parse().expect("addr");
    // 100 000 distinct invalid tokens through the gateway's own pipeline (no sockets).
    for i in 0..100_000u32 {
        let auth = match i % 4 {
            0 => format!("Bearer {signed}.{i:043}"),
            1 => format!(
                "Bearer {}",
                token_with(serde_json::json!({"iss": "https://other.test", "jti": i}))
            ),
            2 => format!("Bearer opaque-{i}"),
            _ => format!("Bearer eyJ{i}.eyJ{i}.{i}"),
        };
        let (parts, ()) = http::Request::builder()
            .uri(T)
            .header("authorization", auth)
            .body(())
            .expect("request")
            .into_parts();
        let mut ctx = RequestCtx::new(format!("r{i}"), peer, parts.method.clone(), T.into());
        match pipeline::run(
            &rt,
            &parts,
            &mut authgate::body::RequestBody::new(authgate::body::empty()),
            &mut ctx,
        )
        .await
        {
            Outcome::Reject(r) => assert_eq!(r.reason.status(), 401, "R-03 {i}: {:?}", r.reason),
            other => panic!("R-03 {i}: junk got through: {other:?}"),
        }
    }
    assert_eq!(rt.limiter.keys(), 0, "R-03: no key for any invalid token");
    // Over the wire: each is a full deny (401, nothing upstream, audited).
    for i in 0..20u32 {
        let resp = h
            .get(T, &[&format!("Authorization: Bearer {signed}.{i:043}")])
            .await;
        let reason = reason_of(&resp);
        h.assert_denied(&resp, 401, &reason, &format!("R-03 wire {i}"))
            .await;
    }
    assert_eq!(rt.limiter.keys(), 0, "R-03");
    let resp = h.get(T, &[&bearer(&valid)]).await;
    h.assert_forwarded(&resp, T, Some("alice"), "R-03 a valid caller still passes")
        .await;
    assert_eq!(rt.limiter.keys(), 1);
}

#[test]
fn r04_churned_keys_are_pruned_once_their_bucket_is_full_again() {
    let clock = FakeRelativeClock::default();
    let limiter = RateLimiter::with_clock(&settings(FIVE), clock.clone());
    for i in 0..50_000u32 {
        limiter
            .take(&LimitKey::Token(format!("t{i}").into()), &[])
            .expect("R-04 first use");
    }
    assert_eq!(limiter.keys(), 50_000, "R-04");
    // The pruner (every `PRUNE_EVERY` in the gateway) drops only full buckets.
    clock.advance(Duration::from_secs(719));
    limiter.prune();
    assert_eq!(limiter.keys(), 50_000, "R-04 one token still owed");
    // governor drops a key one emission interval (720 s) after its bucket is full again.
    clock.advance(Duration::from_secs(721));
    limiter.prune();
    assert_eq!(limiter.keys(), 0, "R-04 idle keys are gone");
}

#[tokio::test]
async fn r05_unauthenticated_floods_meet_no_pre_auth_limiter_but_idp_calls_are_cached() {
    // docs/http.md step 8: the rate limit comes after authentication, keyed by token / user /
    // IP; there is no pre-auth limiter (the catalog's first option). What bounds the work:
    // keys are never made for junk, and introspection refusals are cached (10 s), so
    // one token polled again and again costs one IdP call.
    let idp = IdpStandin::start().await.expect("idp");
    let clock = manual_clock();
    let rest = fixture(&format!(
        "{FIVE}\n[[providers]]\nname = \"intro\"\nkind = \"introspection\"\nintrospection_url = \"{}\"\nclient_id = \"gw\"\nclient_secret = \"intro-secret\"\ncache_ttl = \"1h\"\n",
        idp.introspection_url()
    ));
    let h = start_with(
        &rest,
        Opts {
            clock: Some(clock),
            ..Opts::default()
        },
    )
    .await;
    for i in 0..30 {
        let resp = h
            .get(
                T,
                &[&bearer(&format!(
                    "{}.{}.x{i}",
                    "eyJhbGciOiJIUzI1NiJ9", "e30"
                ))],
            )
            .await;
        let reason = reason_of(&resp);
        h.assert_denied(&resp, 401, &reason, &format!("R-05 JWT flood {i}"))
            .await;
    }
    for i in 0..20 {
        let resp = h.get(T, &[&bearer("opaque-polled-token")]).await;
        h.assert_denied(&resp, 401, "token_inactive", &format!("R-05 polled {i}"))
            .await;
    }
    assert_eq!(idp.count(Endpoint::Introspection), 1, "R-05 negative cache");
    assert_eq!(h.gw.state.runtime.load().limiter.keys(), 0, "R-05");
}

#[tokio::test]
async fn r06_a_public_path_is_limited_per_ip_and_non_api_paths_are_not_ours() {
    let h = Harness::catalog(FIVE).await;
    for i in 1..=5u32 {
        let resp = h.get(P, &[]).await;
        assert_eq!(remaining(&resp), 5 - i, "R-06 {i}: {}", resp.text);
        h.assert_forwarded(&resp, P, None, &format!("R-06 bypass {i}"))
            .await;
    }
    let resp = h.get(P, &[]).await;
    assert_limited(&h, &resp, 720, "R-06 bypass flood").await;
    // docs/http.md step 4: a path outside `api_paths` (`/status`) is forwarded untouched
    // and not audited; the product's own limiter governs it (catalog: per-IP limit).
    for i in 0..8 {
        let resp = h.get("/status", &[]).await;
        h.assert_forwarded(&resp, "/status", None, &format!("R-06 /status {i}"))
            .await;
    }
}

#[tokio::test]
async fn r07_one_bucket_per_token_not_per_user() {
    // docs/http.md step 8: one bucket per token — 20 tokens of one user are 20 buckets.
    let h = Harness::catalog(ONE).await;
    let tokens: Vec<String> = (0..20)
        .map(|i| {
            token_with(serde_json::json!({
                "iss": "https://idp.test", "aud": "jira-gw", "exp": now() + 300, "iat": now(),
                "jti": format!("r07-{i}"), "preferred_username": "alice", "groups": ["jira-users"],
            }))
        })
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        let resp = h.get(T, &[&bearer(t)]).await;
        h.assert_forwarded(&resp, T, Some("alice"), &format!("R-07 token {i}"))
            .await;
    }
    let resp = h.get(T, &[&bearer(&tokens[0])]).await;
    assert_limited(&h, &resp, 3600, "R-07 token 0 again").await;
    assert_eq!(h.gw.state.runtime.load().limiter.keys(), 20, "R-07");
}
