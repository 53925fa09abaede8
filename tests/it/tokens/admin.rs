//! `/admin/tokens` (admin token) and `authgate token create|list|revoke` (the CLI).

use std::process::Command;

use serde_json::json;

use super::{status_json, toml, Env, ADMIN_TOKEN};

#[tokio::test]
async fn the_admin_api_creates_lists_and_revokes_for_any_user() {
    let env = Env::start("").await;
    let admin = |path: &str| format!("http://{}{path}", env.gw.admin_addr);
    let r = env.http.get(admin("/admin/tokens")).send().await.unwrap();
    assert_eq!(r.status(), 401, "no admin token");
    let r = env
        .http
        .post(admin("/admin/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"user": "carol", "name": "batch", "expires_in": "7d"}))
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 201, "{v}");
    let (id, secret) = (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(v["user"], "carol");
    let r = env
        .http
        .get(admin("/admin/tokens?user=carol"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let (status, list) = status_json(r).await;
    assert_eq!(status, 200);
    assert_eq!(list["tokens"][0]["created_by"], "admin-api");
    assert!(!list.to_string().contains(&secret[3..43]));
    let r = env
        .http
        .post(admin("/admin/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"user": "carol", "expires_in": "9999d"}))
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (400, Some("expiry_too_long")),
        "{v}"
    );
    assert_eq!(env.use_token(&env.gw, &secret).await.0, 200);
    let r = env
        .http
        .delete(admin(&format!("/admin/tokens/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = env.use_token(&env.gw, &secret).await;
    assert_eq!((status, v["reason"].as_str()), (401, Some("token_revoked")));
    let r = env
        .http
        .delete(admin("/admin/tokens/0000000000000000"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .env_remove("AUTHGATE_CONFIG")
        .output()
        .expect("the authgate binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_in_the_shared_database() {
    let env = Env::start("").await;
    let file = env.dir.path().join("authgate.toml");
    std::fs::write(
        &file,
        toml(&env.jira.url(), &env.db_url, true, env.dir.path(), ""),
    )
    .unwrap();
    let c = file.to_str().unwrap();
    let (ok, out, err) = cli(&[
        "token",
        "create",
        "-c",
        c,
        "--user",
        "alice",
        "--name",
        "ops",
        "--expires-in",
        "7d",
        "--read-only",
    ]);
    assert!(ok, "{out}{err}");
    let mut lines = out.lines();
    let head = lines.next().unwrap();
    let secret = lines.next().unwrap().trim().to_string();
    assert!(secret.starts_with("gw_") && secret.len() == 49, "{out}");
    assert!(
        head.contains("read-only") && head.contains("alice"),
        "{head}"
    );
    let id = head.split_whitespace().nth(1).unwrap().to_string();

    assert_eq!(
        env.use_token(&env.gw, &secret).await.0,
        200,
        "a gateway on the same database accepts it"
    );

    let (ok, out, err) = cli(&["token", "list", "-c", c, "--user", "alice"]);
    assert!(ok, "{err}");
    assert!(out.contains(&id) && out.contains("live"), "{out}");
    assert!(!out.contains(&secret[3..43]), "list never prints a secret");

    let (ok, out, err) = cli(&["token", "revoke", "-c", c, &id]);
    assert!(ok, "{out}{err}");
    let (_, out, _) = cli(&["token", "list", "-c", c]);
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, err) = cli(&["token", "revoke", "-c", c, "ffffffffffffffff"]);
    assert!(!ok);
    assert!(err.contains("no token has the id"), "{err}");
    let (ok, _, err) = cli(&[
        "token",
        "create",
        "-c",
        c,
        "--user",
        "alice",
        "--expires-in",
        "4000d",
    ]);
    assert!(!ok && err.contains("max_expiry"), "{err}");
}
