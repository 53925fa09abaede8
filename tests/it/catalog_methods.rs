//! Catalog §M (docs/catalog.md): methods and the read-only group. `ro` is in `jira-users` and
//! `jira-readonly`, `rw` in `jira-users`. These need JWT validation (authn) and the
//! group rules (authz): HS256 tokens from the fixture's `hmac_secret` provider.
//! The method-only cases (TRACE, CONNECT, anonymous OPTIONS) need neither.

use crate::support::harden::{token, Harness, T};

fn ro() -> String {
    format!(
        "Authorization: Bearer {}",
        token("ro", &["jira-users", "jira-readonly"])
    )
}

fn rw() -> String {
    format!("Authorization: Bearer {}", token("rw", &["jira-users"]))
}

#[tokio::test]
async fn m08_m09_trace_track_and_connect_are_never_allowed() {
    let h = Harness::catalog("").await;
    for m in ["TRACE", "TRACK"] {
        let resp = h.send(m, T, &[]).await;
        h.assert_denied(&resp, 405, "method_not_allowed", &format!("M-08 {m}"))
            .await;
        let resp = h.send(m, "/status", &[]).await;
        h.assert_denied(
            &resp,
            405,
            "method_not_allowed",
            &format!("M-08 {m} non-API"),
        )
        .await;
    }
    let resp = h.raw(b"CONNECT jira.internal:443 HTTP/1.1\r\nHost: jira.internal:443\r\nConnection: close\r\n\r\n").await;
    assert_eq!(resp.status, 405, "M-09 CONNECT: {}", resp.text);
    assert!(h.up.seen().is_empty(), "M-09: never tunnel");
}

#[tokio::test]
async fn m07_options_without_a_token_needs_auth() {
    // authgate has no CORS preflight bypass: every OPTIONS on an API path is a request
    // like any other (401 without a credential when `require_authentication`).
    let h = Harness::catalog("").await;
    let resp = h.send("OPTIONS", T, &[]).await;
    h.assert_denied(&resp, 401, "credential_required", "M-07 plain")
        .await;
    let resp = h
        .send(
            "OPTIONS",
            T,
            &[
                "Origin: https://evil.example",
                "Access-Control-Request-Method: DELETE",
            ],
        )
        .await;
    h.assert_denied(&resp, 401, "credential_required", "M-07 preflight")
        .await;
}

#[tokio::test]
async fn m03_a_lower_case_method_is_not_get() {
    let h = Harness::catalog("").await;
    // Anonymous: still an API call needing a credential.
    let resp = h.send("get", T, &[]).await;
    h.assert_denied(&resp, 401, "credential_required", "M-03 anonymous")
        .await;
    // Read-only: `get` is not in the read allow-list (methods are case-sensitive).
    let resp = h.send("get", T, &[&ro()]).await;
    h.assert_denied(&resp, 403, "read_only", "M-03 ro").await;
}

#[tokio::test]
async fn m01_m02_writes_and_unknown_methods_by_ro_are_refused() {
    let h = Harness::catalog("").await;
    let auth = ro();
    for m in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "MOVE", "FOO"] {
        let resp = h.send(m, T, &[&auth, "Content-Length: 0"]).await;
        h.assert_denied(&resp, 403, "read_only", &format!("M-01/M-02 ro {m}"))
            .await;
    }
    // `rw` may use them; each is forwarded once, with the identity.
    let auth = rw();
    for m in ["PUT", "PROPFIND", "FOO"] {
        let resp = h.send(m, T, &[&auth, "Content-Length: 0"]).await;
        let seen = h
            .assert_forwarded(&resp, T, Some("rw"), &format!("M-02 rw {m}"))
            .await;
        assert_eq!(seen.method, m);
    }
}

#[tokio::test]
async fn m04_method_override_headers_on_a_read_only_caller_are_refused() {
    let h = Harness::catalog("").await;
    let auth = ro();
    for hdr in [
        "X-HTTP-Method-Override: DELETE",
        "X-HTTP-Method: PUT",
        "X-Method-Override: PATCH",
    ] {
        let resp = h.get(T, &[&auth, hdr]).await;
        h.assert_denied(&resp, 403, "read_only", &format!("M-04 {hdr}"))
            .await;
    }
}

#[tokio::test]
async fn m05_the_read_post_allowance_matches_the_exact_canonical_path() {
    let h = Harness::catalog("").await;
    let auth = ro();
    let resp = h
        .send("POST", "/rest/api/2/search", &[&auth, "Content-Length: 0"])
        .await;
    h.assert_forwarded(&resp, "/rest/api/2/search", Some("ro"), "M-05 read post")
        .await;
    for target in [
        "/rest/api/2/search;/../issue/ABC-1",
        "/rest/api/2/search/%2e%2e/issue",
    ] {
        let resp = h.send("POST", target, &[&auth, "Content-Length: 0"]).await;
        h.assert_denied(&resp, 400, "bad_path", &format!("M-05 {target}"))
            .await;
    }
    let resp = h
        .send(
            "POST",
            "/rest/api/2/search",
            &[&auth, "Content-Length: 0", "X-HTTP-Method-Override: PUT"],
        )
        .await;
    h.assert_denied(&resp, 403, "read_only", "M-05 override")
        .await;
    let resp = h
        .send(
            "POST",
            "/rest/api/2/search/x",
            &[&auth, "Content-Length: 0"],
        )
        .await;
    h.assert_denied(&resp, 403, "read_only", "M-05 longer path")
        .await;
}

#[tokio::test]
async fn m06_m10_head_and_get_with_a_body_are_reads() {
    let h = Harness::catalog("").await;
    let auth = ro();
    let resp = h.send("HEAD", T, &[&auth]).await;
    // A HEAD response has no body; the status line is what matters.
    assert_eq!(resp.status, 200, "M-06: {}", resp.text);
    let seen = h.up.seen();
    assert_eq!(seen.len(), 1, "M-06");
    assert_eq!(seen[0].method, "HEAD");
    assert_eq!(
        seen[0].headers.get_all("x-forwarded-user").iter().count(),
        1
    );
    h.up.clear();
    let req = format!("GET {T} HTTP/1.1\r\nHost: jira.test\r\n{auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    let resp = h.raw(req.as_bytes()).await;
    let seen = h.assert_forwarded(&resp, T, Some("ro"), "M-10").await;
    assert_eq!(seen.method, "GET");
}

#[tokio::test]
async fn group_rules_deny_callers_outside_allowed_groups() {
    let h = Harness::catalog("").await;
    let auth = format!("Authorization: Bearer {}", token("carol", &["other"]));
    let resp = h.get(T, &[&auth]).await;
    h.assert_denied(&resp, 403, "group_denied", "allowed_groups")
        .await;
    // A groups claim that is one string is one group, never split.
    let t = crate::support::harden::token_with(serde_json::json!({
        "iss": "https://idp.test", "aud": "jira-gw", "exp": crate::support::harden::now() + 300,
        "iat": crate::support::harden::now(), "preferred_username": "dave", "groups": "jira-users,x",
    }));
    let resp = h.get(T, &[&format!("Authorization: Bearer {t}")]).await;
    h.assert_denied(&resp, 403, "group_denied", "groups as one string")
        .await;
}
