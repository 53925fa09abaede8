//! Catalog §H (docs/catalog.md): identity-header spoofing, hop-by-hop abuse and credential
//! smuggling. Cases with a valid JWT use HS256 tokens from the fixture's `hmac_secret`
//! provider.

use crate::support::harden::{token, Harness, IDENTITY, P, T};

#[tokio::test]
async fn h01_spoofed_identity_on_a_public_path_is_removed() {
    let h = Harness::catalog("").await;
    let resp = h.get(P, &["X-Forwarded-User: admin"]).await;
    h.assert_forwarded(&resp, P, None, "H-01").await;
}

#[tokio::test]
async fn h03_underscore_and_case_variants_are_removed() {
    let h = Harness::catalog("").await;
    for hdr in [
        "X_Forwarded_User: admin",
        "X-Forwarded_User: admin",
        "x-forwarded-user: admin",
        "X-FORWARDED-USER: admin",
    ] {
        let resp = h.get(P, &[hdr, "X-Forwarded-User: root"]).await;
        h.assert_forwarded(&resp, P, None, &format!("H-03 {hdr}"))
            .await;
    }
    // docs/http.md#what-reaches-the-product strips the configured identity header in every
    // spelling; other names (`Remote-User`, `X-Remote-User`, `REMOTE_USER`) are not read by
    // Jira's header authenticator, which reads exactly the configured name, so they are not
    // authgate's to remove. The catalog lists them; the documented behaviour wins (not
    // applicable).
}

#[tokio::test]
async fn h04_connection_cannot_remove_what_authgate_sets() {
    let h = Harness::catalog("").await;
    let resp = h
        .get(
            P,
            &["Connection: close, X-Forwarded-For, X-Forwarded-Proto, X-Request-Id"],
        )
        .await;
    let seen = h
        .assert_forwarded(&resp, P, None, "H-04 Connection naming gateway headers")
        .await;
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert!(seen.headers.contains_key("x-request-id"));
    // `Connection: Authorization` never makes a credential disappear after authgate read
    // it: the request is refused whatever the credential (400 since the product would see
    // another one than authgate checked).
    let resp = h.get(T, &["Connection: close, Authorization"]).await;
    h.assert_denied(
        &resp,
        400,
        "malformed_request",
        "H-04 Connection: Authorization",
    )
    .await;
    let resp = h
        .get(
            T,
            &[
                "Connection: close, Authorization",
                "Authorization: Digest abc",
            ],
        )
        .await;
    h.assert_denied(
        &resp,
        400,
        "malformed_request",
        "H-04 Connection: Authorization + Digest",
    )
    .await;
}

#[tokio::test]
async fn h05_h06_hop_by_hop_and_h2c_upgrade_are_not_forwarded() {
    let h = Harness::catalog("").await;
    let resp = h
        .get(
            P,
            &[
                "Keep-Alive: timeout=5",
                "Proxy-Connection: keep-alive",
                "Proxy-Authorization: Basic YTpi",
                "TE: trailers",
                "Trailer: X-Foo",
                "X-Custom: kept",
            ],
        )
        .await;
    let seen = h.assert_forwarded(&resp, P, None, "H-05").await;
    for name in [
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert!(
            !seen.headers.contains_key(name),
            "H-05: {name} was forwarded"
        );
    }
    assert_eq!(seen.headers["x-custom"], "kept");
    let req = format!(
        "GET {P} HTTP/1.1\r\nHost: jira.test\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\r\n"
    );
    let resp = h.raw(req.as_bytes()).await;
    assert_ne!(resp.status, 101, "H-06: never switch protocols");
    if resp.status == 200 {
        let seen = h.up.seen();
        assert_eq!(seen.len(), 1, "H-06");
        for name in ["upgrade", "http2-settings", "connection"] {
            assert!(
                !seen[0].headers.contains_key(name),
                "H-06: {name} was forwarded"
            );
        }
    } else {
        assert_eq!(resp.status, 400, "H-06: {}", resp.text);
    }
}

#[tokio::test]
async fn h08_forwarding_headers_are_replaced() {
    let h = Harness::catalog("").await;
    let resp = h
        .get(
            P,
            &[
                "X-Forwarded-For: 6.6.6.6",
                "X-Forwarded-Host: evil.example",
                "X-Forwarded-Proto: https",
                "Forwarded: for=6.6.6.6;host=evil.example;proto=https",
            ],
        )
        .await;
    let seen = h.assert_forwarded(&resp, P, None, "H-08").await;
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    // docs/http.md#what-reaches-the-product: X-Forwarded-Host is the client's Host.
    assert_eq!(seen.headers["x-forwarded-host"], "jira.test");
    assert!(
        !seen.headers.contains_key("forwarded"),
        "H-08: Forwarded passed through"
    );
}

#[tokio::test]
async fn h12_bypass_keeps_the_callers_own_credentials() {
    // docs/http.md step 4: a bypass match is forwarded without authentication, the client's
    // own credentials, if any, reach the product untouched. The catalog wants them stripped on
    // public paths; the documented behaviour wins: the product's own auth still applies, and no
    // identity header is ever added, so Jira's identity is the caller's own.
    let h = Harness::catalog("").await;
    let resp = h
        .get(
            P,
            &[
                "Authorization: Basic YWxpY2U6YWxpY2UtcHc=",
                "Cookie: JSESSIONID=abc",
            ],
        )
        .await;
    let seen = h.assert_forwarded(&resp, P, None, "H-12 public").await;
    assert_eq!(seen.headers["authorization"], "Basic YWxpY2U6YWxpY2UtcHc=");
}

// --- cases that need JWT validation (authn) ---

#[tokio::test]
async fn h02_spoofed_identity_next_to_a_valid_token_is_replaced() {
    let h = Harness::catalog("").await;
    let auth = format!("Authorization: Bearer {}", token("alice", &["jira-users"]));
    for spoof in [
        "X-Forwarded-User: admin",
        "x-forwarded-user: admin",
        "X-FORWARDED-USER: admin",
        "X_Forwarded_User: admin",
    ] {
        let resp = h.get(T, &[&auth, spoof, "X-Forwarded-User: root"]).await;
        h.assert_forwarded(&resp, T, Some("alice"), &format!("H-02 {spoof}"))
            .await;
    }
}

#[tokio::test]
async fn h04_connection_naming_the_identity_header_does_not_lose_it() {
    let h = Harness::catalog("").await;
    let auth = format!("Authorization: Bearer {}", token("alice", &["jira-users"]));
    let resp = h
        .get(T, &[&auth, "Connection: close, X-Forwarded-User"])
        .await;
    h.assert_forwarded(&resp, T, Some("alice"), "H-04 Connection: X-Forwarded-User")
        .await;
}

#[tokio::test]
async fn h09_h11_hostile_usernames_are_refused() {
    let h = Harness::catalog("").await;
    for name in [
        "alice\r\nX-Admin: 1",
        "alice\u{0}",
        "alice, admin",
        " alice",
        "alice ",
        "alice;admin",
        "josé",
        "Alice",
    ] {
        let auth = format!("Authorization: Bearer {}", token(name, &["jira-users"]));
        let resp = h.get(T, &[&auth]).await;
        h.assert_denied(
            &resp,
            401,
            "username_invalid",
            &format!("H-09..H-11 {name:?}"),
        )
        .await;
    }
}

#[tokio::test]
async fn h12_authgate_authenticated_callers_lose_their_other_credentials() {
    let h = Harness::catalog("").await;
    let auth = format!("Authorization: Bearer {}", token("alice", &["jira-users"]));
    let resp = h
        .get(
            T,
            &[
                &auth,
                "Cookie: JSESSIONID=abc; seraph.rememberme.cookie=x; crowd.token_key=y; theme=dark",
            ],
        )
        .await;
    let seen = h
        .assert_forwarded(&resp, T, Some("alice"), "H-12 protected")
        .await;
    assert!(
        !seen.headers.contains_key("authorization"),
        "H-12: Authorization forwarded"
    );
    let cookies: Vec<_> = seen.headers.get_all("cookie").iter().collect();
    assert_eq!(cookies.len(), 1);
    assert_eq!(cookies[0], "theme=dark");
    assert_eq!(seen.headers.get_all(IDENTITY).iter().count(), 1);
}
