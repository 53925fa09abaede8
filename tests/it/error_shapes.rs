//! Rejections come in the error shape of the product behind authgate, so clients read them
//! as they read the product's own errors (docs/http.md).

use crate::support::gateway::Setup;

#[tokio::test]
async fn jira_rejections_have_jiras_error_shape() {
    let t = Setup::jira()
        .with("[auth]\nrequire_authentication = true")
        .start()
        .await;
    let r = t.get("/rest/api/2/myself").send().await;
    assert_eq!(r.status, 401);
    let body = r.json();
    assert_eq!(body["reason"], "credential_required");
    assert!(body["errorMessages"][0].as_str().is_some(), "{body}");
    assert_eq!(body["errors"], serde_json::json!({}));
    assert_eq!(body["requestId"].as_str(), r.header("x-request-id"));
}

#[tokio::test]
async fn confluence_rejections_have_confluences_error_shape() {
    let t = Setup::jira()
        .confluence()
        .with("[auth]\nrequire_authentication = true\n[access]\ndeny = [\"/rest/api/space/**\"]")
        .start()
        .await;
    let r = t.get("/rest/api/content").send().await;
    assert_eq!(r.status, 401);
    let body = r.json();
    assert_eq!(body["statusCode"], 401, "{body}");
    assert_eq!(body["data"]["authorized"], false);
    assert_eq!(body["data"]["successful"], false);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["reason"], "credential_required");
    assert_eq!(body["requestId"].as_str(), r.header("x-request-id"));
    assert!(body.get("errorMessages").is_none(), "{body}");
    let r = t.get("/rest/api/space/X").send().await;
    assert_eq!(
        (r.status, r.json()["statusCode"].clone()),
        (403, 403.into())
    );
    assert_eq!(r.json()["reason"], "denied_path");
}
