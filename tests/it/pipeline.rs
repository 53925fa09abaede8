//! The request pipeline against the Jira stand-in: every global switch on and off,
//! every rule kind, the reserved paths and `auth.enabled = false`. The IP cases are in
//! `pipeline/ip.rs`, the identity hand-off in `pipeline/handoff.rs`.

mod handoff;
mod ip;

use authgate::standin::jira::ALICE_PAT;

use crate::support::gateway::{raw_request, Setup, TestGateway};

/// Asserts `r` is a rejection with `status` and `reason`, and that nothing was forwarded.
fn assert_refused(t: &TestGateway, r: &crate::support::gateway::Answer, status: u16, reason: &str) {
    assert_eq!(
        (r.status, r.reason().as_str()),
        (status, reason),
        "{:?}",
        r.body
    );
    assert!(
        t.jira.requests().is_empty(),
        "forwarded: {:?}",
        t.jira.requests()
    );
    t.jira.clear();
}

#[tokio::test]
async fn disable_basic_refuses_basic_on_api_paths_and_off_passes_it_through() {
    let off = Setup::jira().start().await;
    let r = off
        .get("/rest/api/2/myself")
        .basic("alice", "alice-pw")
        .send()
        .await;
    assert_eq!((r.status, r.header("x-ausername")), (200, Some("alice")));

    let on = Setup::jira()
        .with("[auth]\ndisable_basic = true")
        .start()
        .await;
    let r = on
        .get("/rest/api/2/myself")
        .basic("alice", "alice-pw")
        .send()
        .await;
    assert_refused(&on, &r, 401, "basic_disabled");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    // Outside the API paths Basic is not authgate's business.
    assert_eq!(
        on.get("/secure/Dashboard.jspa")
            .basic("alice", "alice-pw")
            .send()
            .await
            .status,
        404
    );
    assert_eq!(on.jira.requests().len(), 1);
}

#[tokio::test]
async fn allow_pat_passes_product_pats_through_and_off_refuses_them() {
    let on = Setup::jira().start().await;
    let r = on.get("/rest/api/2/myself").bearer(ALICE_PAT).send().await;
    assert_eq!((r.status, r.header("x-ausername")), (200, Some("alice")));
    let auth = format!("Bearer {ALICE_PAT}");
    assert_eq!(
        on.jira.requests()[0].header_values("authorization"),
        vec![auth]
    );

    let off = Setup::jira()
        .with("[auth]\nallow_pat = false")
        .start()
        .await;
    let r = off.get("/rest/api/2/myself").bearer(ALICE_PAT).send().await;
    assert_refused(&off, &r, 401, "pat_disabled");
}

#[tokio::test]
async fn allow_native_oauth_passes_opaque_bearers_and_off_refuses_them() {
    let off = Setup::jira().start().await;
    let r = off
        .get("/rest/api/2/myself")
        .bearer("opaque-oauth-token")
        .send()
        .await;
    assert_refused(&off, &r, 401, "unknown_token");

    let on = Setup::jira()
        .without_identity_lookups()
        .with("[auth]\nallow_native_oauth = true")
        .start()
        .await;
    let r = on
        .get("/rest/api/2/myself")
        .bearer("opaque-oauth-token")
        .send()
        .await;
    // The product itself refuses the token; authgate passed it through untouched.
    assert_eq!(r.status, 401);
    assert_eq!(r.reason(), "", "the 401 is the product's, not authgate's");
    let seen = on.jira.requests();
    assert_eq!(
        seen[0].header_values("authorization"),
        vec!["Bearer opaque-oauth-token"]
    );
}

#[tokio::test]
async fn gateway_tokens_off_refuses_gw_tokens_before_any_lookup() {
    let off = Setup::jira()
        .with("[auth]\ngateway_tokens = false")
        .start()
        .await;
    let r = off
        .get("/rest/api/2/myself")
        .bearer("gw_abcdef0123456789")
        .send()
        .await;
    assert_refused(&off, &r, 401, "unknown_token");

    // On: the token is looked up (and this one does not exist); never forwarded either way.
    let on = Setup::jira().start().await;
    let r = on
        .get("/rest/api/2/myself")
        .bearer("gw_abcdef0123456789")
        .send()
        .await;
    assert_eq!(r.status, 401);
    assert_ne!(r.reason(), "unknown_token");
    assert!(on.jira.requests().is_empty());
}

#[tokio::test]
async fn session_cookies_pass_through_and_off_are_stripped_and_the_caller_is_anonymous() {
    let cookie = "JSESSIONID=alice-session; seraph.rememberme.cookie=r; theme=dark";
    let on = Setup::jira().without_identity_lookups().start().await;
    let r = on.get("/rest/api/2/myself").cookie(cookie).send().await;
    assert_eq!((r.status, r.header("x-ausername")), (200, Some("alice")));
    assert_eq!(
        on.jira.requests()[0].header("cookie").as_deref(),
        Some(cookie)
    );

    let off = Setup::jira()
        .without_identity_lookups()
        .with("[auth]\nallow_session_cookies = false")
        .start()
        .await;
    let r = off.get("/rest/api/2/myself").cookie(cookie).send().await;
    assert_eq!(
        (r.status, r.header("x-ausername")),
        (401, Some("anonymous"))
    );
    let seen = off.jira.requests();
    assert_eq!(seen[0].header_values("cookie"), vec!["theme=dark"]);

    // Anonymous, so `require_authentication` refuses it.
    let strict = Setup::jira()
        .without_identity_lookups()
        .with("[auth]\nallow_session_cookies = false\nrequire_authentication = true")
        .start()
        .await;
    let r = strict.get("/rest/api/2/myself").cookie(cookie).send().await;
    assert_refused(&strict, &r, 401, "credential_required");
}

#[tokio::test]
async fn require_authentication_refuses_anonymous_api_calls_only() {
    let off = Setup::jira().start().await;
    let r = off.get("/rest/api/2/serverInfo").send().await;
    assert_eq!(
        (r.status, r.header("x-ausername")),
        (200, Some("anonymous"))
    );

    let on = Setup::jira()
        .with("[auth]\nrequire_authentication = true")
        .start()
        .await;
    let r = on.get("/rest/api/2/serverInfo").send().await;
    assert_refused(&on, &r, 401, "credential_required");
    assert_eq!(
        on.get("/status").send().await.status,
        200,
        "non-API paths stay anonymous"
    );
    let r = on
        .get("/rest/api/2/serverInfo")
        .basic("bob", "bob-pw")
        .send()
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn public_restricted_needs_a_credential_where_anonymous_is_otherwise_allowed() {
    let t = Setup::jira()
        .without_identity_lookups()
        .with(
            "[access]\npublic_restricted = [\"POST /rest/api/2/search\", \"/rest/api/2/issue/*\"]",
        )
        .start()
        .await;
    let r = t.post("/rest/api/2/search").body("{}").send().await;
    assert_refused(&t, &r, 401, "credential_required");
    let r = t.get("/rest/api/2/issue/DEMO-1").send().await;
    assert_refused(&t, &r, 401, "credential_required");
    assert_eq!(t.get("/rest/api/2/serverInfo").send().await.status, 200);
    t.jira.clear();
    let r = t
        .post("/rest/api/2/search")
        .basic("alice", "alice-pw")
        .body("{}")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.jira.requests().len(), 1);
}

#[tokio::test]
async fn only_api_paths_are_checked() {
    let t = Setup::jira()
        .with("[auth]\napi_paths = [\"/rest/api/**\"]\nrequire_authentication = true")
        .start()
        .await;
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_refused(&t, &r, 401, "credential_required");
    // Outside api_paths: forwarded untouched, even with a scheme authgate would refuse.
    let r = t
        .get("/rest/other/1")
        .header("authorization", "JWT connect-token")
        .send()
        .await;
    assert_eq!(r.status, 401, "the product refuses the scheme itself");
    assert_eq!(r.reason(), "", "not authgate's refusal");
    assert_eq!(
        t.jira.requests()[0].header_values("authorization"),
        vec!["JWT connect-token"]
    );
}

#[tokio::test]
async fn deny_rules_are_403_whatever_the_credential() {
    let t = Setup::jira()
        .with("[access]\ndeny = [\"/rest/api/2/user\", \"PUT /rest/api/2/issue/*\"]")
        .start()
        .await;
    let r = t
        .get("/rest/api/2/user?username=bob")
        .basic("admin", "admin-pw")
        .send()
        .await;
    assert_refused(&t, &r, 403, "denied_path");
    let r = t
        .call(http::Method::PUT, "/rest/api/2/issue/DEMO-1")
        .basic("admin", "admin-pw")
        .body("{}")
        .send()
        .await;
    assert_refused(&t, &r, 403, "denied_path");
    // The method is part of the rule: GET on the same issue is not denied.
    assert_eq!(t.get("/rest/api/2/issue/DEMO-1").send().await.status, 200);
}

#[tokio::test]
async fn bypass_forwards_without_authentication_and_leaves_client_credentials_untouched() {
    let t = Setup::jira()
        .with("[auth]\nrequire_authentication = true\ndisable_basic = true\nallow_pat = false")
        .with("[access]\nbypass = [\"GET /rest/api/2/myself\"]")
        .start()
        .await;
    let basic = crate::support::gateway::basic("alice", "alice-pw");
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &basic)
        .cookie("JSESSIONID=x")
        .send()
        .await;
    assert_eq!((r.status, r.header("x-ausername")), (200, Some("alice")));
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", "JWT connect")
        .send()
        .await;
    assert_eq!(r.status, 401, "the product refuses; authgate did not");
    assert_eq!(r.reason(), "");
    let seen = t.jira.requests();
    assert_eq!(seen[0].header_values("authorization"), vec![basic]);
    assert_eq!(seen[0].header_values("cookie"), vec!["JSESSIONID=x"]);
    assert_eq!(seen[1].header_values("authorization"), vec!["JWT connect"]);
    // Not bypassed: the switches apply.
    t.jira.clear();
    let r = t
        .post("/rest/api/2/search")
        .basic("alice", "alice-pw")
        .body("{}")
        .send()
        .await;
    assert_refused(&t, &r, 401, "basic_disabled");
}

#[tokio::test]
async fn the_context_path_is_stripped_once_before_rules_match() {
    let t = Setup::jira()
        .without_identity_lookups()
        .with("[upstream]\ncontext_path = \"/jira\"")
        .with("[auth]\nrequire_authentication = true")
        .with("[access]\ndeny = [\"/rest/api/2/user\"]")
        .start()
        .await;
    let r = t.get("/jira/rest/api/2/serverInfo").send().await;
    assert_refused(&t, &r, 401, "credential_required");
    let r = t
        .get("/jira/rest/api/2/user")
        .basic("admin", "admin-pw")
        .send()
        .await;
    assert_refused(&t, &r, 403, "denied_path");
    // Outside the context path: a non-API path, forwarded as is.
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!(r.status, 200);
    // Inside, with a credential: forwarded with the context path.
    let r = t
        .get("/jira/rest/api/2/issue/DEMO-1")
        .basic("alice", "alice-pw")
        .send()
        .await;
    assert_eq!(r.status, 404, "the stand-in has no /jira context");
    let targets: Vec<String> = t.jira.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        vec!["/rest/api/2/serverInfo", "/jira/rest/api/2/issue/DEMO-1"]
    );
}

#[tokio::test]
async fn reserved_paths_are_never_forwarded() {
    let t = Setup::jira().with("[auth]\nenabled = false").start().await;
    for path in ["/_authgate/x", "/%5Fauthgate/x"] {
        let r = t.get(path).send().await;
        assert_refused(&t, &r, 404, "not_found");
    }
    // The bare prefix is the token page's, which sends the browser to `/_authgate/`.
    let r = t.get("/_authgate").send().await;
    assert_eq!((r.status, r.header("location")), (303, Some("/_authgate/")));
    assert!(t.jira.requests().is_empty());
    // The token API itself answers (here: who are you?), and is not forwarded either.
    let r = t.get("/_authgate/tokens").send().await;
    assert_refused(&t, &r, 401, "credential_required");
    // With a context path, both the root and the context-relative forms are authgate's.
    let t = Setup::jira()
        .with("[upstream]\ncontext_path = \"/jira\"")
        .start()
        .await;
    for path in ["/_authgate/x", "/jira/_authgate/x"] {
        let r = t.get(path).send().await;
        assert_refused(&t, &r, 404, "not_found");
    }
}

#[tokio::test]
async fn rules_match_the_decoded_path_so_escapes_cannot_dodge_them() {
    let t = Setup::jira()
        .with("[access]\ndeny = [\"/rest/api/2/user\"]")
        .start()
        .await;
    for path in [
        "/rest/api/2/%75ser",
        "/rest/%61pi/2/user",
        "/rest/api/%32/user",
    ] {
        let r = t.get(path).basic("admin", "admin-pw").send().await;
        assert_refused(&t, &r, 403, "denied_path");
    }
}

#[tokio::test]
async fn credential_edge_cases() {
    let t = Setup::jira().start().await;
    let r = t
        .raw_get(
            "/rest/api/2/myself",
            &[
                "Authorization: Bearer a.b.c",
                "Authorization: Basic YWxpY2U6YWxpY2UtcHc=",
            ],
        )
        .await;
    assert_eq!((r.status, r.reason().as_str()), (400, "malformed_request"));
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", "JWT connect")
        .send()
        .await;
    assert_refused(&t, &r, 401, "unsupported_scheme");
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", "Bearer ")
        .send()
        .await;
    assert_refused(&t, &r, 401, "malformed_token");
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", "bEaReR ")
        .send()
        .await;
    assert_refused(&t, &r, 401, "malformed_token");
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn auth_disabled_forwards_everything_but_reserved_paths_and_the_ip_filter_still_apply() {
    let t = Setup::jira()
        .with("[auth]\nenabled = false\nrequire_authentication = true\ndisable_basic = true")
        .with("[ip]\nallow = [\"127.0.0.1\"]")
        .start()
        .await;
    let r = t
        .get("/rest/api/2/myself")
        .basic("alice", "alice-pw")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("alice"));
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!(r.status, 200);
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", "JWT connect")
        .send()
        .await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (401, ""),
        "the product's 401"
    );
    assert_eq!(t.jira.requests().len(), 3);
    t.jira.clear();
    let r = t
        .get("/rest/api/2/serverInfo")
        .from("127.0.0.2")
        .send()
        .await;
    assert_refused(&t, &r, 403, "ip_denied");
    // The token API answers itself (who are you?) and is never forwarded.
    let raw = t
        .raw(raw_request("GET", "/_authgate/tokens", &[]).as_bytes())
        .await;
    assert_eq!(raw.status, 401);
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn with_session_cookies_off_a_session_cookie_never_rides_along_another_credential() {
    // Jira prefers a valid session over Basic or a PAT, so the cookie must go whatever else
    // the caller sends.
    let t = Setup::jira()
        .with("[auth]\nallow_session_cookies = false")
        .start()
        .await;
    let cookie = "JSESSIONID=admin-session; crowd.token_key=c; theme=dark";
    let r = t
        .get("/rest/api/2/myself")
        .basic("bob", "bob-pw")
        .cookie(cookie)
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("bob"));
    let r = t
        .get("/rest/api/2/myself")
        .bearer(ALICE_PAT)
        .cookie(cookie)
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("alice"));
    // Neither the forwarded requests nor authgate's identity lookups (made with the caller's
    // credential first) may carry a product session cookie.
    let seen = t.jira.requests();
    let forwarded: Vec<_> = seen
        .iter()
        .filter(|r| r.header("x-request-id").is_some())
        .collect();
    assert_eq!(forwarded.len(), 2, "two forwarded calls");
    for r in &forwarded {
        assert_eq!(
            r.header_values("cookie"),
            vec!["theme=dark"],
            "{}",
            r.target
        );
    }
    for r in &seen {
        for c in r.header_values("cookie") {
            assert!(
                !c.contains("JSESSIONID") && !c.contains("crowd.token_key"),
                "{}: {c}",
                r.target
            );
        }
    }
}
