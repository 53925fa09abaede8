//! The identity hand-off (docs/http.md#what-reaches-the-product): a caller authgate
//! authenticated reaches the product with exactly one identity header and none of its own
//! credentials; pass-through callers keep theirs and get no identity header. The JWT callers
//! use the HS256 test provider.

use authgate::standin::jira::RecordedRequest;

use crate::support::gateway::{basic, token_for, Setup};

const PRODUCT_COOKIES: &str =
    "JSESSIONID=admin-session; seraph.rememberme.cookie=r; crowd.token_key=c; atlassian.xsrf.token=x; theme=dark";

/// Every value of every spelling of `identity` (any case, `_` or `-`) in `r`.
fn identity_values(r: &RecordedRequest, identity: &str) -> Vec<String> {
    let want = identity.to_ascii_lowercase().replace('_', "-");
    r.headers
        .iter()
        .filter(|(k, _)| k.as_str().replace('_', "-") == want)
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

#[tokio::test]
async fn an_authenticated_caller_reaches_the_product_as_exactly_one_identity_header() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let r = t
        .get("/rest/api/2/myself?expand=groups")
        .bearer(&token_for("alice"))
        .header("X-Forwarded-User", "admin")
        .header("x_forwarded_user", "admin")
        .header("X-FORWARDED-USER", "admin")
        .cookie(PRODUCT_COOKIES)
        .send()
        .await;
    assert_eq!(
        (r.status, r.header("x-ausername")),
        (200, Some("alice")),
        "{:?}",
        r.body
    );
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(identity_values(&seen[0], "X-Forwarded-User"), vec!["alice"]);
    assert!(
        seen[0].header("authorization").is_none(),
        "the client's token went through"
    );
    assert_eq!(seen[0].header_values("cookie"), vec!["theme=dark"]);
}

#[tokio::test]
async fn connection_cannot_strip_the_identity_header_authgate_sets() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("carol"))
        .header("connection", "X-Forwarded-User")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("carol"), "{:?}", r.body);
    assert_eq!(
        identity_values(&t.jira.requests()[0], "X-Forwarded-User"),
        vec!["carol"]
    );
}

#[tokio::test]
async fn a_custom_identity_header_is_the_one_set_and_stripped() {
    let t = Setup::jira()
        .identity_header("X-Remote-User")
        .with_jwt_provider()
        .start()
        .await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("bob"))
        .header("x_remote_user", "admin")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("bob"), "{:?}", r.body);
    let seen = &t.jira.requests()[0];
    assert_eq!(identity_values(seen, "X-Remote-User"), vec!["bob"]);
    assert!(seen.header("authorization").is_none());
}

#[tokio::test]
async fn service_account_mode_sets_the_configured_authorization_and_the_identity_header() {
    let service = basic("admin", "admin-pw");
    let t = Setup::jira()
        .with(&format!(
            "[upstream.identity]\nmode = \"service_account\"\nauthorization = \"{service}\""
        ))
        .with_jwt_provider()
        .start()
        .await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("alice"))
        .cookie(PRODUCT_COOKIES)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = &t.jira.requests()[0];
    assert_eq!(seen.header_values("authorization"), vec![service]);
    assert_eq!(identity_values(seen, "X-Forwarded-User"), vec!["alice"]);
    assert_eq!(seen.header_values("cookie"), vec!["theme=dark"]);
}

#[tokio::test]
async fn pass_through_callers_keep_their_credentials_and_get_no_identity_header() {
    let t = Setup::jira().without_identity_lookups().start().await;
    let bob = basic("bob", "bob-pw");
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &bob)
        .header("X-Forwarded-User", "admin")
        .header("x_forwarded_user", "admin")
        .send()
        .await;
    assert_eq!((r.status, r.header("x-ausername")), (200, Some("bob")));
    let r = t
        .get("/rest/api/2/myself")
        .cookie("JSESSIONID=carol-session")
        .header("X-Forwarded-User", "admin")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("carol"));
    let seen = t.jira.requests();
    assert_eq!(seen[0].header_values("authorization"), vec![bob]);
    assert!(identity_values(&seen[0], "X-Forwarded-User").is_empty());
    assert_eq!(
        seen[1].header_values("cookie"),
        vec!["JSESSIONID=carol-session"]
    );
    assert!(identity_values(&seen[1], "X-Forwarded-User").is_empty());
}

#[tokio::test]
async fn a_token_authgate_cannot_verify_is_refused_and_never_forwarded() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let mut forged = token_for("admin");
    forged.push('x');
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&forged)
        .header("X-Forwarded-User", "admin")
        .send()
        .await;
    assert_eq!(r.status, 401);
    assert!(t.jira.requests().is_empty());
}
