//! `mode = "oauth1"` against the Jira / Confluence stand-in's application link: the product
//! acts as the user authgate authenticated, with nothing installed in it; a client cannot
//! name another user; groups and token self-service need no service account; every refusal
//! of the link is 502 `upstream_identity_rejected` with its `oauth_problem`.

use std::time::Duration;

use authgate::audit::store::MAX_LIMIT;
use authgate::audit::{Filter, Store};
use authgate::clock::{ManualClock, SharedClock};
use authgate::config::Product;
use authgate::standin::jira::oauth1::OAuthLink;
use authgate::standin::jira::JiraOptions;

use crate::support::gateway::{token_for, Setup, TestGateway};

const CONSUMER: &str = "authgate-test";
const BASE_URL: &str = "https://jira.example.com";

use crate::support::applink::key;

fn link() -> OAuthLink {
    OAuthLink::new(CONSUMER, key().1.to_public_key(), BASE_URL)
}

fn oauth1_toml(base_url: &str) -> String {
    format!(
        "[upstream.identity]\nmode = \"oauth1\"\nconsumer_key = \"{CONSUMER}\"\nprivate_key_file = \"{}\"\nbase_url = \"{base_url}\"\n",
        key().0.display()
    )
}

/// authgate in oauth1 mode in front of `options` (whose link is `link`).
async fn start(options: JiraOptions, extra: &str) -> TestGateway {
    let product = options.product;
    let mut setup = Setup::jira()
        .jira_options(options)
        .with_jwt_provider()
        .with(&oauth1_toml(BASE_URL))
        .with(extra);
    if product == Product::Confluence {
        setup = setup.with("[upstream]\nproduct = \"confluence\"");
    }
    setup.start().await
}

#[tokio::test]
async fn the_product_acts_as_the_authenticated_user_and_a_client_cannot_name_another() {
    let t = start(JiraOptions::jira().with_oauth1(link()), "").await;
    let r = t
        .get("/rest/api/2/myself?xoauth_requestor_id=admin&user_id=admin&expand=groups")
        .bearer(&token_for("alice"))
        .header("X-Forwarded-User", "admin")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "alice");
    let seen = t.jira.requests();
    let last = seen.last().expect("forwarded");
    let auth = last.header("authorization").expect("signed");
    assert!(
        auth.starts_with("OAuth ") && auth.contains("oauth_token=\"\""),
        "{auth}"
    );
    assert!(
        auth.contains("oauth_signature_method=\"RSA-SHA1\""),
        "{auth}"
    );
    assert_eq!(
        last.target,
        "/rest/api/2/myself?expand=groups&xoauth_requestor_id=alice"
    );
    assert!(last.header("x-forwarded-user").is_none());

    // A form body naming another user loses that parameter; the form is signed.
    let r = t
        .post("/rest/api/2/search")
        .bearer(&token_for("bob"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("jql=project+%3D+DEMO&xoauth_requestor_id=admin&user_id=admin")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["x-ausername"], "bob");
    let last = t.jira.requests().pop().expect("forwarded");
    assert_eq!(&last.body[..], b"jql=project+%3D+DEMO");
    assert_eq!(last.header("content-length").as_deref(), Some("20"));

    // A JSON body is streamed as it came and not signed; the user is still bob.
    let r = t
        .call(http::Method::PUT, "/rest/api/2/issue/DEMO-1")
        .bearer(&token_for("bob"))
        .header("content-type", "application/json")
        .body(r#"{"fields":{"summary":"x"}}"#)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["x-ausername"], "bob");

    // The stand-in remembers nonces: the same signed request sent again is refused.
    let replay = t.jira.requests().pop().expect("forwarded");
    let mut again = reqwest::Client::new()
        .put(format!("{}{}", t.jira.url(), replay.target))
        .body(replay.body.clone());
    for (k, v) in &replay.headers {
        if k != "host" && k != "content-length" {
            again = again.header(k, v);
        }
    }
    let again = again.send().await.expect("replay");
    assert_eq!(again.status(), 401);
    assert!(again.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("oauth_problem=\"nonce_used\""));
}

#[tokio::test]
async fn groups_and_token_self_service_need_no_service_account() {
    let t = start(
        JiraOptions::jira().with_oauth1(link()),
        "[groups]\nsource = \"upstream\"\n[access]\nallowed_groups = [\"jira-users\"]\n",
    )
    .await;
    let r = t
        .get("/rest/api/2/issue/DEMO-1")
        .bearer(&token_for("alice"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = t
        .get("/rest/api/2/issue/DEMO-1")
        .bearer(&token_for("carol"))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["reason"], "group_denied");
    // The group lookup itself was signed for the user.
    let lookup = t
        .jira
        .requests()
        .into_iter()
        .find(|q| q.path() == "/rest/api/2/user")
        .expect("a group lookup");
    assert!(lookup
        .header("authorization")
        .is_some_and(|a| a.starts_with("OAuth ")));
    assert!(lookup.target.ends_with("&xoauth_requestor_id=alice"));

    let r = t
        .post("/_authgate/tokens")
        .bearer(&token_for("alice"))
        .header("content-type", "application/json")
        .body(r#"{"name":"ci","expires_in":"1d"}"#)
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let gw = r.json()["token"].as_str().expect("a token").to_string();
    let r = t.get("/rest/api/2/myself").bearer(&gw).send().await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "alice");
}

#[tokio::test]
async fn confluence_reads_the_signed_user_from_its_own_endpoints() {
    let t = start(
        JiraOptions::confluence().with_oauth1(link()),
        "[groups]\nsource = \"upstream\"\n[access]\nallowed_groups = [\"jira-users\"]\n",
    )
    .await;
    let r = t
        .get("/rest/api/user/current")
        .bearer(&token_for("alice"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["username"], "alice");
    assert!(t
        .jira
        .requests()
        .iter()
        .any(|q| q.path() == "/rest/api/user/memberof"
            && q.target.contains("xoauth_requestor_id=alice")));
}

async fn audit_row(t: &TestGateway, request_id: &str) -> authgate::audit::AuditEvent {
    let shared = &t.gateway.state.shared;
    shared.audit.flush().await;
    let rows = Store::new(&shared.db)
        .query(&Filter {
            limit: MAX_LIMIT,
            ..Default::default()
        })
        .await
        .expect("audit query")
        .events;
    let row = rows
        .into_iter()
        .find(|e| e.request_id == request_id)
        .expect("an audit row");
    assert_eq!(row.reason, "upstream_identity_rejected");
    assert_eq!(row.status, 502);
    assert_eq!(row.upstream_status, Some(401));
    row
}

/// Each way the link can refuse becomes 502 with the problem in the message and the audit;
/// a refusal that names no problem (impersonation not allowed: the challenge echoes the
/// signature) is 502 too, and the echo never reaches the client.
#[tokio::test]
async fn every_refusal_of_the_link_is_a_502_naming_the_oauth_problem() {
    let ahead = ManualClock::new(std::time::SystemTime::now() + Duration::from_secs(600));
    let other_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("a key");
    let cases: Vec<(&str, OAuthLink, &str, &str)> = vec![
        (
            "timestamp_refused",
            OAuthLink {
                clock: std::sync::Arc::new(ahead) as SharedClock,
                ..link()
            },
            "alice",
            "",
        ),
        (
            "signature_invalid",
            OAuthLink {
                public_key: other_key.to_public_key(),
                ..link()
            },
            "alice",
            "",
        ),
        (
            "signature_invalid",
            link(),
            "alice",
            "https://jira.other.example.com",
        ),
        (
            "consumer_key_unknown",
            OAuthLink {
                consumer_key: "someone-else".into(),
                ..link()
            },
            "alice",
            "",
        ),
        (
            "unnamed",
            OAuthLink {
                impersonation: false,
                ..link()
            },
            "alice",
            "",
        ),
    ];
    for (problem, link, user, base_url) in cases {
        let mut setup = Setup::jira()
            .jira_options(JiraOptions::jira().with_oauth1(link))
            .with_jwt_provider()
            .with(&oauth1_toml(BASE_URL));
        if !base_url.is_empty() {
            setup = setup.with(&oauth1_toml(base_url));
        }
        let t = setup.start().await;
        let rid = format!("refused-{problem}-{user}");
        let r = t
            .get("/rest/api/2/myself")
            .bearer(&token_for(user))
            .header("x-request-id", &rid)
            .send()
            .await;
        assert_eq!(
            r.status,
            502,
            "{problem}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.json()["reason"],
            "upstream_identity_rejected",
            "{problem}"
        );
        let message = r.json()["errorMessages"].to_string();
        assert_eq!(
            message.contains(&format!("oauth_problem={problem}")),
            problem != "unnamed",
            "{problem}: {message}"
        );
        assert!(r
            .headers
            .get("www-authenticate")
            .is_none_or(|v| !v.to_str().unwrap_or("").contains("oauth_signature")));
        let row = audit_row(&t, &rid).await;
        let detail = row.detail.unwrap_or_default();
        assert!(
            detail.contains(&format!("oauth_problem={problem}")),
            "{problem}: {detail}"
        );
        // Never retried, never sent unsigned.
        let sent = t.jira.requests();
        assert_eq!(sent.len(), 1, "{problem}");
        assert!(sent[0]
            .header("authorization")
            .is_some_and(|a| a.starts_with("OAuth ")));
    }
}

/// A username the product does not know: the signature is fine and the request runs as
/// nobody (as the products do), so the product's own 401 for an anonymous caller comes back.
#[tokio::test]
async fn an_unknown_user_runs_as_nobody_in_the_product() {
    let t = start(JiraOptions::jira().with_oauth1(link()), "").await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("mallory"))
        .send()
        .await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["x-ausername"], "anonymous");
    assert!(r.json()["errorMessages"][0]
        .as_str()
        .is_some_and(|m| m.contains("not authenticated")));
}

#[tokio::test]
async fn pass_through_callers_are_never_signed() {
    let t = start(
        JiraOptions::jira().with_oauth1(link()),
        "[auth]\nresolve_passthrough_identity = false\n",
    )
    .await;
    let r = t
        .get("/rest/api/2/myself")
        .basic("bob", "bob-pw")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "bob");
    let last = t.jira.requests().pop().expect("forwarded");
    assert!(last
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
    assert_eq!(last.target, "/rest/api/2/myself");
}
