//! `/_authgate/tokens` on `listen`: who may create, list and revoke, and what they get.

use serde_json::{json, Value};

use super::{basic, jwt, status_json, Env};

#[tokio::test]
async fn basic_caller_creates_a_token_the_product_accepts_and_sees_it_listed_without_the_secret() {
    let env = Env::start("").await;
    let (status, v) = env
        .create(
            &basic("alice", "alice-pw"),
            json!({"name": "ci", "expires_in": "30d", "read_only": true}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let token = v["token"].as_str().unwrap();
    assert!(token.starts_with("gw_") && token.len() == 49, "{token}");
    assert_eq!(v["name"], "ci");
    assert_eq!(v["read_only"], true);
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(authgate::clock::Clock::now(&env.clock));
    assert_eq!(
        (expires.with_timezone(&chrono::Utc) - now).num_days(),
        29,
        "30 days minus the part second"
    );
    // The product was asked who alice is, with her own Basic header.
    let asked = env.jira.requests();
    assert!(
        asked
            .iter()
            .any(|r| r.target == "/rest/api/2/myself?expand=groups"),
        "{asked:?}"
    );

    let r = env
        .http
        .get(env.url("/_authgate/tokens"))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    let (status, list) = status_json(r).await;
    assert_eq!(status, 200);
    let items = list["tokens"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], v["id"]);
    assert_eq!(items[0]["revoked_at"], Value::Null);
    assert!(
        !list.to_string().contains(token),
        "the list never shows the secret"
    );
    assert!(!list.to_string().contains(&token[3..43]));
}

#[tokio::test]
async fn jwt_caller_creates_a_token() {
    let env = Env::start("").await;
    let (status, v) = env
        .create(&jwt("alice", &["jira-users"]), json!({"name": "laptop"}))
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = env.use_token(&env.gw, v["token"].as_str().unwrap()).await;
    assert_ne!(status, 401);
    let sent = env.jira.requests();
    assert_eq!(
        sent.last().unwrap().header("x-forwarded-user").as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn basic_is_accepted_here_even_with_disable_basic() {
    let env = Env::start("[auth]\ndisable_basic = true").await;
    let (status, v) = env.create(&basic("alice", "alice-pw"), json!({})).await;
    assert_eq!(status, 201, "{v}");
    assert!(
        v["name"].as_str().unwrap().starts_with("token-"),
        "a default name: {v}"
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited_per_user() {
    let env = Env::start("").await;
    for _ in 0..5 {
        let (status, v) = env.create(&basic("alice", "wrong"), json!({})).await;
        assert_eq!(status, 401, "{v}");
        assert_eq!(v["reason"], "credential_rejected");
    }
    env.jira.clear();
    let (status, v) = env.create(&basic("alice", "alice-pw"), json!({})).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["reason"], "rate_limited");
    assert!(
        env.jira.requests().is_empty(),
        "a blocked attempt does not reach the product"
    );
    // Another user from the same address is not blocked yet (the per-IP limit is higher).
    let (status, _) = env.create(&basic("bob", "bob-pw"), json!({})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn no_credential_or_the_wrong_kind_is_refused() {
    let env = Env::start("").await;
    let r = env
        .http
        .post(env.url("/_authgate/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("credential_required"))
    );
    let (_, secret) = env.alice_token(json!({})).await;
    let (status, v) = env.create(&format!("Bearer {secret}"), json!({})).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("credential_rejected")),
        "a gateway token cannot mint more"
    );
}

#[tokio::test]
async fn allow_user_creation_off_leaves_creation_to_admins() {
    let env = Env::start(
        "[tokens]\nallow_user_creation = false\n[access]\nadmin_groups = [\"jira-administrators\"]",
    )
    .await;
    let (status, v) = env.create(&basic("alice", "alice-pw"), json!({})).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (403, Some("token_creation_denied")),
        "{v}"
    );
    assert_eq!(
        v["errorMessages"][0],
        "You are not allowed to create tokens."
    );
    let (status, v) = env.create(&basic("admin", "admin-pw"), json!({})).await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn token_creation_groups_limit_who_may_create() {
    let env = Env::start("[access]\ntoken_creation_groups = [\"jira-readonly\"]").await;
    let (status, v) = env.create(&basic("alice", "alice-pw"), json!({})).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (403, Some("token_creation_denied")),
        "{v}"
    );
    let (status, v) = env.create(&basic("bob", "bob-pw"), json!({})).await;
    assert_eq!(status, 201, "bob is in jira-readonly: {v}");
}

#[tokio::test]
async fn a_lifetime_past_max_expiry_is_400_naming_the_maximum() {
    let env = Env::start("[tokens]\nmax_expiry = \"90d\"\ndefault_expiry = \"30d\"").await;
    let (status, v) = env
        .create(&basic("alice", "alice-pw"), json!({"expires_in": "91d"}))
        .await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (400, Some("expiry_too_long")),
        "{v}"
    );
    assert!(
        v["errorMessages"]
            .to_string()
            .contains("The maximum is 90d."),
        "{v}"
    );
    let (status, v) = env
        .create(&basic("alice", "alice-pw"), json!({"expires_in": "0s"}))
        .await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (400, Some("malformed_request")),
        "{v}"
    );
    let (status, v) = env
        .create(&basic("alice", "alice-pw"), json!({"expires_in": "90d"}))
        .await;
    assert_eq!(status, 201, "exactly the maximum is fine: {v}");
}

#[tokio::test]
async fn max_per_user_is_409_and_revoked_tokens_do_not_count() {
    let env = Env::start("[tokens]\nmax_per_user = 2").await;
    let (first, _) = env.alice_token(json!({"name": "a"})).await;
    env.alice_token(json!({"name": "b"})).await;
    let (status, v) = env
        .create(&basic("alice", "alice-pw"), json!({"name": "c"}))
        .await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (409, Some("token_limit")),
        "{v}"
    );
    let r = env
        .http
        .delete(env.url(&format!("/_authgate/tokens/{first}")))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = env
        .create(&basic("alice", "alice-pw"), json!({"name": "c"}))
        .await;
    assert_eq!(status, 201, "{v}");
    // Names are unique per user.
    let (status, v) = env
        .create(&basic("bob", "bob-pw"), json!({"name": "c"}))
        .await;
    assert_eq!(status, 201, "another user may reuse a name: {v}");
}

#[tokio::test]
async fn bodies_over_16_kib_and_bad_json_are_refused() {
    let env = Env::start("").await;
    let big = json!({"name": "x".repeat(17 * 1024)});
    let (status, v) = env.create(&basic("alice", "alice-pw"), big).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
    let r = env
        .http
        .post(env.url("/_authgate/tokens"))
        .header("authorization", basic("alice", "alice-pw"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (400, Some("malformed_request")),
        "{v}"
    );
    assert!(
        v["errors"].is_object() && v["requestId"].is_string(),
        "Jira's error shape: {v}"
    );
}

#[tokio::test]
async fn another_users_token_is_404_and_admins_may_list_and_revoke_anyones() {
    let env = Env::start("[access]\nadmin_groups = [\"jira-administrators\"]").await;
    let (id, _) = env.alice_token(json!({"name": "mine"})).await;
    let del = |who: &'static str| {
        let env = &env;
        let id = id.clone();
        async move {
            let r = env
                .http
                .delete(env.url(&format!("/_authgate/tokens/{id}")))
                .header("authorization", basic(who, &format!("{who}-pw")))
                .send()
                .await
                .unwrap();
            status_json(r).await
        }
    };
    let (status, v) = del("bob").await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    let r = env
        .http
        .get(env.url("/_authgate/tokens?user=alice"))
        .header("authorization", basic("bob", "bob-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "bob cannot list alice's tokens");
    let r = env
        .http
        .get(env.url("/_authgate/tokens?user=alice"))
        .header("authorization", basic("admin", "admin-pw"))
        .send()
        .await
        .unwrap();
    let (status, list) = status_json(r).await;
    assert_eq!(status, 200);
    assert_eq!(list["tokens"][0]["id"].as_str(), Some(id.as_str()));
    let (status, _) = del("admin").await;
    assert_eq!(status, 204);
    let r = env
        .http
        .get(env.url("/_authgate/tokens"))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    let (_, list) = status_json(r).await;
    assert!(
        list["tokens"][0]["revoked_at"].is_string(),
        "revoked tokens stay listed: {list}"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_under_authgate() {
    let env = Env::start("").await;
    let r = env
        .http
        .get(env.url("/_authgate/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = env
        .http
        .put(env.url("/_authgate/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(
        env.jira.requests().is_empty(),
        "/_authgate is never forwarded"
    );
}
