//! Pass-through identity with the Jira stand-in answering `myself` / `user/current`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use super::*;
use crate::standin::jira::{JiraOptions, JiraStandin, ALICE_PAT, BOB_PAT};

fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

fn passthrough(url: &str, product: &str, extra: &str) -> Passthrough {
    let cfg = crate::config::from_toml(&format!(
        "[upstream]\nurl = \"{url}\"\nproduct = \"{product}\"\ntimeout = \"2s\"\n{extra}"
    ))
    .expect("config");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Passthrough::new(&cfg, &http, &Arc::new(Metrics::new()), None)
}

fn jira_carriers() -> Carriers {
    Carriers::new(crate::carriers::JIRA_SESSION_COOKIES, &[])
}

/// Classifies like the pipeline does.
async fn identify(p: &Passthrough, headers: &HeaderMap) -> Result<Option<Principal>, Rejection> {
    let params = Params::default();
    let carriers = jira_carriers();
    let c = crate::pipeline::credential::classify(headers, &carriers, &params).expect("classified");
    let mut ctx = RequestCtx::new(
        "t".into(),
        "127.0.0.1:1".parse().unwrap(),
        http::Method::GET,
        "/rest/api/2/myself".into(),
    );
    p.identify(&c, headers, &params, &carriers, &mut ctx).await
}

fn credential_headers(headers: &HeaderMap, with_cookies: bool) -> HeaderMap {
    Lookup::of(headers, &Params::default(), &jira_carriers(), with_cookies).headers
}

fn cache_key(headers: &HeaderMap) -> [u8; 32] {
    Lookup {
        headers: headers.clone(),
        query: String::new(),
    }
    .key()
}

fn count(jira: &JiraStandin, path: &str) -> usize {
    jira.requests().iter().filter(|r| r.path() == path).count()
}

#[test]
fn only_credential_headers_are_sent_and_hashed() {
    let a = credential_headers(
        &h(&[
            ("authorization", "Basic YTpi"),
            ("cookie", "atlassian.xsrf.token=1; JSESSIONID=abc"),
            ("cookie", "seraph.rememberme.cookie=r"),
            ("x-forwarded-user", "admin"),
        ]),
        true,
    );
    assert_eq!(a.len(), 2);
    assert_eq!(a[header::AUTHORIZATION], "Basic YTpi");
    assert_eq!(
        a[header::COOKIE],
        "JSESSIONID=abc; seraph.rememberme.cookie=r"
    );
    // Other cookies do not change the key; the credential and its order (what the product
    // sees) do.
    let b = credential_headers(
        &h(&[
            ("cookie", "JSESSIONID=abc; other=2"),
            ("cookie", "seraph.rememberme.cookie=r"),
            ("authorization", "Basic YTpi"),
        ]),
        true,
    );
    assert_eq!(cache_key(&a), cache_key(&b));
    let reordered = credential_headers(
        &h(&[
            ("cookie", "seraph.rememberme.cookie=r; JSESSIONID=abc"),
            ("authorization", "Basic YTpi"),
        ]),
        true,
    );
    assert_ne!(cache_key(&a), cache_key(&reordered));
    let c = credential_headers(
        &h(&[
            ("authorization", "Basic YTpj"),
            ("cookie", "JSESSIONID=abc; seraph.rememberme.cookie=r"),
        ]),
        true,
    );
    assert_ne!(cache_key(&a), cache_key(&c));
    let d = credential_headers(&h(&[("authorization", "Basic YTpi")]), true);
    assert_ne!(cache_key(&a), cache_key(&d));
    // With allow_session_cookies off the cookies are stripped before forwarding, so the
    // lookup must not send them either (regression: a session cookie rode along with Basic).
    let e = credential_headers(
        &h(&[
            ("authorization", "Basic YTpi"),
            ("cookie", "JSESSIONID=admin-session"),
        ]),
        false,
    );
    assert_eq!(e.len(), 1);
    assert!(!e.contains_key(header::COOKIE));
}

#[tokio::test]
async fn pat_basic_and_session_callers_are_identified_by_the_product() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let p = passthrough(&jira.url(), "jira", "");
    let pat = identify(&p, &h(&[("authorization", &format!("Bearer {BOB_PAT}"))]))
        .await
        .expect("ok")
        .expect("identified");
    assert_eq!(pat.username(), "bob");
    assert_eq!(
        pat.groups(),
        ["jira-users".to_string(), "jira-readonly".to_string()]
    );
    assert_eq!(pat.credential(), CredentialKind::Pat);
    assert_eq!(
        pat.token_id(),
        Some(short_hash(BOB_PAT.as_bytes()).as_str())
    );
    let b = identify(&p, &h(&[("authorization", &basic("alice", "alice-pw"))]))
        .await
        .expect("ok")
        .expect("identified");
    assert_eq!(
        (b.username(), b.credential(), b.token_id()),
        ("alice", CredentialKind::Basic, None)
    );
    assert_eq!(b.groups(), ["jira-users".to_string()]);
    let s = identify(
        &p,
        &h(&[("cookie", "JSESSIONID=admin-session; atlassian.xsrf.token=z")]),
    )
    .await
    .expect("ok")
    .expect("identified");
    assert_eq!(
        (s.username(), s.credential()),
        ("admin", CredentialKind::Session)
    );
    let reqs = jira.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.target, "/rest/api/2/myself?expand=groups");
        assert_eq!(
            r.header("x-forwarded-user"),
            None,
            "no identity header on a pass-through lookup"
        );
    }
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Bearer {BOB_PAT}"))
    );
    assert_eq!(
        reqs[2].header("cookie").as_deref(),
        Some("JSESSIONID=admin-session")
    );
    // Cached by credential: asking again costs nothing.
    identify(&p, &h(&[("authorization", &format!("Bearer {BOB_PAT}"))]))
        .await
        .expect("ok");
    assert_eq!(jira.requests().len(), 3);
}

#[tokio::test]
async fn a_refused_credential_is_401_and_replayed_at_most_once_per_ttl() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let p = passthrough(&jira.url(), "jira", "");
    let wrong = h(&[("authorization", &basic("alice", "guess"))]);
    for _ in 0..5 {
        let r = identify(&p, &wrong).await.expect_err("refused");
        assert_eq!(r.reason, Reason::CredentialRejected);
    }
    assert_eq!(
        count(&jira, "/rest/api/2/myself"),
        1,
        "one failing Basic login reaches the product"
    );
    let junk_pat = "NjE4MzQ5NTg3NjQ0OkZ3c2t0bG9xYm5vZ2RwYmRrZmRz";
    let r = identify(&p, &h(&[("authorization", &format!("Bearer {junk_pat}"))]))
        .await
        .expect_err("unknown PAT");
    assert_eq!(r.reason, Reason::CredentialRejected);
    // The right password is another credential and works at once.
    let ok = identify(&p, &h(&[("authorization", &basic("alice", "alice-pw"))]))
        .await
        .expect("ok");
    assert_eq!(ok.expect("identified").username(), "alice");
}

#[tokio::test]
async fn concurrent_failing_basic_callers_share_one_lookup() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let p = Arc::new(passthrough(&jira.url(), "jira", ""));
    jira.set_delay(Duration::from_millis(200));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                identify(&p, &h(&[("authorization", &basic("bob", "nope"))])).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.expect("task").expect_err("refused").reason,
            Reason::CredentialRejected
        );
    }
    assert_eq!(count(&jira, "/rest/api/2/myself"), 1);
}

#[tokio::test]
async fn an_unavailable_product_is_503_and_not_cached() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let p = passthrough(&jira.url(), "jira", "");
    let pat = h(&[("authorization", &format!("Bearer {ALICE_PAT}"))]);
    jira.set_failing(true);
    assert_eq!(
        identify(&p, &pat).await.expect_err("5xx").reason,
        Reason::GroupsUnavailable
    );
    jira.set_failing(false);
    let ok = identify(&p, &pat)
        .await
        .expect("recovered")
        .expect("identified");
    assert_eq!(ok.username(), "alice");
    assert_eq!(count(&jira, "/rest/api/2/myself"), 2);
    jira.set_delay(Duration::from_secs(5));
    let slow = h(&[("authorization", &basic("bob", "bob-pw"))]);
    assert_eq!(
        identify(&p, &slow).await.expect_err("timeout").reason,
        Reason::GroupsUnavailable
    );
}

#[tokio::test]
async fn confluence_asks_current_then_memberof() {
    let jira = JiraStandin::start(JiraOptions::confluence()).await;
    let p = passthrough(&jira.url(), "confluence", "");
    let b = identify(&p, &h(&[("authorization", &basic("bob", "bob-pw"))]))
        .await
        .expect("ok")
        .expect("identified");
    assert_eq!(b.username(), "bob");
    assert_eq!(
        b.groups(),
        ["jira-users".to_string(), "jira-readonly".to_string()]
    );
    let targets: Vec<String> = jira.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/rest/api/user/current",
            "/rest/api/user/memberof?username=bob&start=0&limit=200"
        ]
    );
    // Confluence answers 200 "anonymous" to a cookie it does not know: not an identity.
    let r = identify(&p, &h(&[("cookie", "JSESSIONID=stale")]))
        .await
        .expect_err("anonymous");
    assert_eq!(r.reason, Reason::CredentialRejected);
}

#[tokio::test]
async fn switched_off_callers_stay_unidentified_and_nothing_is_asked() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let p = passthrough(
        &jira.url(),
        "jira",
        "[auth]\nresolve_passthrough_identity = false\n",
    );
    assert!(!p.enabled());
    let got = identify(&p, &h(&[("authorization", &basic("alice", "wrong"))]))
        .await
        .expect("ok");
    assert_eq!(got, None);
    assert!(jira.requests().is_empty());
}

#[tokio::test]
async fn a_reload_keeps_the_cache_when_the_product_is_the_same() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let cfg = |extra: &str| {
        crate::config::from_toml(&format!("[upstream]\nurl = \"{}\"\n{extra}", jira.url()))
            .expect("config")
    };
    let http = reqwest::Client::new();
    let m = Arc::new(Metrics::new());
    let first = Passthrough::new(&cfg(""), &http, &m, None);
    let wrong = h(&[("authorization", &basic("alice", "guess"))]);
    assert!(identify(&first, &wrong).await.is_err());
    let second = Passthrough::new(&cfg("[access]\ndeny = [\"/x\"]\n"), &http, &m, Some(&first));
    assert_eq!(
        identify(&second, &wrong).await.expect_err("cached").reason,
        Reason::CredentialRejected
    );
    assert_eq!(
        count(&jira, "/rest/api/2/myself"),
        1,
        "the refusal survived the reload"
    );
    let third = Passthrough::new(
        &cfg("[groups]\ncache_ttl = \"10s\"\n"),
        &http,
        &m,
        Some(&second),
    );
    assert!(identify(&third, &wrong).await.is_err());
    assert_eq!(
        count(&jira, "/rest/api/2/myself"),
        2,
        "another TTL is a new cache"
    );
}
