//! Token validation end to end: a real gateway in front of the Jira stand-in, keys from the
//! IdP stand-in; `POST /admin/test-token`; the `authgate test-token` binary.

use authgate::authn::keys::public_jwk_from_pem;
use authgate::standin::idp::{Endpoint, IdpStandin, Mode};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::support::gateway::Setup;
use crate::support::tokens::{key_bytes, key_path, sign_with};

const ISS: &str = "https://idp.e2e.test";
const ADMIN: &str = "admin-token-for-tests-0123456789";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token(user: &str, exp_in: i64, extra: Value) -> String {
    let mut c = json!({"iss": ISS, "aud": "jira", "preferred_username": user, "groups": ["jira-users"], "iat": now(), "exp": now() + exp_in});
    if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": "a"}), &c)
}

fn providers(idp: &IdpStandin) -> String {
    format!(
        r#"
[server]
admin_token = "{ADMIN}"

[[providers]]
name = "corp"
kind = "jwt"
issuer = "{ISS}"
audiences = ["jira"]
algorithms = ["RS256"]
jwks_url = "{jwks}"
groups_claim = "groups"

[[providers]]
name = "oauth"
kind = "introspection"
introspection_url = "{intro}"
client_id = "gw"
client_secret = "gw-secret"
username_claim = "username"
"#,
        jwks = idp.jwks_url(),
        intro = idp.introspection_url()
    )
}

async fn idp() -> IdpStandin {
    let idp = IdpStandin::start().await.expect("idp");
    idp.set_keys(vec![public_jwk_from_pem(
        &key_bytes("test-rsa-a.pub.pem"),
        "a",
        Algorithm::RS256,
    )
    .unwrap()]);
    idp
}

#[tokio::test]
async fn jwt_and_introspection_through_the_gateway() {
    let idp = idp().await;
    let t = Setup::jira().with(&providers(&idp)).start().await;

    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token("alice", 600, json!({})))
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header_values("x-forwarded-user"),
        vec!["alice".to_string()]
    );
    assert!(
        seen[0].header_values("authorization").is_empty(),
        "the token never reaches the product"
    );

    for (tok, status, reason) in [
        (token("alice", -600, json!({})), 401, "token_expired"),
        (
            token("alice", 600, json!({"aud": "other"})),
            401,
            "wrong_audience",
        ),
        (
            token("alice", 600, json!({"iss": "https://evil.test"})),
            401,
            "unknown_issuer",
        ),
        (
            sign_with(
                "test-rsa-b",
                Algorithm::RS256,
                json!({"kid": "a"}),
                &json!({"iss": ISS, "aud": "jira", "preferred_username": "admin", "exp": now() + 600}),
            ),
            401,
            "bad_signature",
        ),
        (
            token("alice", 600, json!({"nbf": now() + 3600})),
            401,
            "token_not_yet_valid",
        ),
        (token("", 600, json!({})), 401, "username_missing"),
    ] {
        t.jira.clear();
        let r = t.get("/rest/api/2/myself").bearer(&tok).send().await;
        assert_eq!((r.status, r.reason().as_str()), (status, reason));
        assert!(r
            .header("www-authenticate")
            .is_some_and(|v| v.contains("invalid_token")));
        assert!(
            t.jira.requests().is_empty(),
            "{reason}: nothing reaches the product"
        );
    }

    idp.set_introspection(
        "opaque-alice",
        json!({"active": true, "username": "alice", "exp": now() + 600}),
    );
    t.jira.clear();
    let r = t
        .get("/rest/api/2/myself")
        .bearer("opaque-alice")
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        t.jira.requests()[0].header_values("x-forwarded-user"),
        vec!["alice".to_string()]
    );
    let r = t
        .get("/rest/api/2/myself")
        .bearer("opaque-unknown")
        .send()
        .await;
    assert_eq!((r.status, r.reason().as_str()), (401, "token_inactive"));
    idp.set_mode(Endpoint::Introspection, Mode::Unavailable);
    let r = t
        .get("/rest/api/2/myself")
        .bearer("opaque-other")
        .send()
        .await;
    assert_eq!((r.status, r.reason().as_str()), (503, "idp_unavailable"));
}

#[tokio::test]
async fn no_jwks_means_503_and_not_ready() {
    let idp = idp().await;
    idp.set_mode(Endpoint::Jwks, Mode::Unavailable);
    let t = Setup::jira().with(&providers(&idp)).start().await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token("alice", 600, json!({})))
        .send()
        .await;
    assert_eq!((r.status, r.reason().as_str()), (503, "idp_unavailable"));
    assert!(t.jira.requests().is_empty());
    let ready = reqwest::get(format!("http://{}/readyz", t.gateway.admin_addr))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body.to_string().contains("corp"), "{body}");
}

#[tokio::test]
async fn admin_test_token_reports_each_step() {
    let idp = idp().await;
    let t = Setup::jira().with(&providers(&idp)).start().await;
    let tok = token("alice", 600, json!({}));
    let ask = |body: Value| {
        let url = format!("http://{}/admin/test-token", t.gateway.admin_addr);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, text) =
        ask(json!({"token": tok, "method": "GET", "path": "/rest/api/2/myself"})).await;
    assert_eq!(status, 200);
    assert!(
        !text.contains(&tok) && !text.contains(tok.split('.').nth(2).unwrap()),
        "the token is never echoed"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["decision"], "allow", "{report:#}");
    assert_eq!(report["username"], "alice");
    let checks: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["check"].as_str())
        .collect();
    for want in [
        "canonical",
        "provider",
        "alg",
        "signature",
        "exp",
        "aud",
        "username",
        "groups",
    ] {
        assert!(checks.contains(&want), "{want} missing in {checks:?}");
    }
    let (_, text) = ask(json!({"token": token("alice", -600, json!({}))})).await;
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            report["decision"].as_str(),
            report["reason"].as_str(),
            report["status"].as_u64()
        ),
        (Some("deny"), Some("token_expired"), Some(401))
    );
    assert!(t.jira.requests().is_empty(), "test-token forwards nothing");
    let r = reqwest::Client::new()
        .post(format!("http://{}/admin/test-token", t.gateway.admin_addr))
        .json(&json!({"token": tok}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "needs the admin token");
}

#[tokio::test]
async fn test_token_command_exit_codes_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("authgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n[audit]\ndatabase_url = \"sqlite::memory:\"\nlog = \"off\"\nmigrate = false\n[[providers]]\nname = \"corp\"\nkind = \"jwt\"\nissuer = \"{ISS}\"\naudiences = [\"jira\"]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{}\"\n",
            key_path("test-rsa-a.pub.pem").display()
        ),
    )
    .unwrap();
    let run = |args: Vec<String>, stdin: Option<String>| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["test-token", "-c"])
            .arg(&cfg)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let good = token("alice", 600, json!({}));
    let (code, out) = run(vec!["--json".into(), good.clone()], None);
    assert_eq!(code, Some(0), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["decision"], "allow");
    assert!(!out.contains(&good));
    let (code, out) = run(
        vec![
            "--method".into(),
            "POST".into(),
            "--path".into(),
            "/rest/api/2/issue".into(),
            "-".into(),
        ],
        Some(token("alice", -600, json!({}))),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("token_expired") && out.contains("FAIL"),
        "{out}"
    );
}
