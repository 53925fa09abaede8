//! `Bearer gw_…` through the gateway (stage 6): hand-off, expiry, revocation, typos, secrecy.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use authgate::clock::ManualClock;
use serde_json::json;

use super::{basic, dump, gateway, status_json, Env};

#[tokio::test]
async fn the_product_sees_the_identity_header_and_never_the_token() {
    let env = Env::start("").await;
    let (id, secret) = env.alice_token(json!({"name": "ci"})).await;
    env.jira.clear();
    let (status, v) = env.use_token(&env.gw, &secret).await;
    assert_eq!(status, 200, "{v}");
    let sent = env.jira.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-forwarded-user").as_deref(), Some("alice"));
    assert!(
        sent[0].header("authorization").is_none(),
        "the token is not forwarded"
    );
    for (name, value) in sent[0].headers.iter() {
        assert!(
            !value
                .as_bytes()
                .windows(20)
                .any(|w| secret.as_bytes().windows(20).any(|s| s == w)),
            "{name} carries the token"
        );
    }
    assert_eq!(
        env.gw.state.runtime.load().tokens.db_lookups(),
        1,
        "one lookup for one use"
    );
    assert_eq!(id.len(), 16);
}

#[tokio::test]
async fn a_read_only_token_may_read_but_not_write() {
    let env = Env::start("").await;
    let (_, secret) = env.alice_token(json!({"read_only": true})).await;
    let (status, _) = env.use_token(&env.gw, &secret).await;
    assert_eq!(status, 200);
    let r = env
        .http
        .post(env.url("/rest/api/2/issue"))
        .bearer_auth(&secret)
        .json(&json!({"fields": {}}))
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (403, Some("read_only")),
        "{v}"
    );
}

#[tokio::test]
async fn a_token_expires_by_the_injected_clock() {
    let env = Env::start("").await;
    let (_, secret) = env.alice_token(json!({"expires_in": "1h"})).await;
    let (status, _) = env.use_token(&env.gw, &secret).await;
    assert_eq!(status, 200);
    env.clock.advance(Duration::from_secs(3_600));
    let (status, v) = env.use_token(&env.gw, &secret).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("token_expired")),
        "{v}"
    );
    assert_eq!(v["errorMessages"][0], "The token has expired.");
}

#[tokio::test]
async fn a_revocation_is_honoured_at_once_here_and_within_5s_on_a_replica() {
    let env = Env::start("").await;
    let other = env.replica().await;
    let (id, secret) = env.alice_token(json!({})).await;
    // Both replicas have now looked the token up (and cached it).
    assert_eq!(env.use_token(&env.gw, &secret).await.0, 200);
    assert_eq!(env.use_token(&other, &secret).await.0, 200);
    let r = env
        .http
        .delete(env.url(&format!("/_authgate/tokens/{id}")))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let revoked_at = Instant::now();
    let (status, v) = env.use_token(&env.gw, &secret).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("token_revoked")),
        "the revoking replica at once"
    );
    // The other replica: its cached answer lives at most 5 s. Poll (bounded) until it
    // refuses; the last request it still accepted must have been sent within 5 s.
    let mut last_accepted = Duration::ZERO;
    let mut refused = None;
    for _ in 0..40 {
        let sent = revoked_at.elapsed();
        let (status, v) = env.use_token(&other, &secret).await;
        if status == 401 {
            refused = Some(v);
            break;
        }
        assert_eq!(status, 200);
        last_accepted = sent;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = refused.expect("the replica refused the revoked token");
    assert_eq!(v["reason"], "token_revoked");
    assert!(
        last_accepted < Duration::from_secs(5),
        "still accepted {last_accepted:?} after the revocation"
    );
    other.shutdown().await;
}

#[tokio::test]
async fn unknown_tokens_are_token_unknown_and_repeats_are_served_from_the_cache() {
    let env = Env::start("").await;
    let junk = authgate::tokens::format::generate();
    let (status, v) = env.use_token(&env.gw, &junk).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("token_unknown")),
        "{v}"
    );
    let (status, _) = env.use_token(&env.gw, &junk).await;
    assert_eq!(status, 401);
    assert_eq!(
        env.gw.state.runtime.load().tokens.db_lookups(),
        1,
        "the miss was cached"
    );
}

#[tokio::test]
async fn a_checksum_typo_is_refused_without_a_database_query() {
    // The database is a closed port: any query would fail, and fail closed (503).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let jira =
        authgate::standin::jira::JiraStandin::start(authgate::standin::jira::JiraOptions::jira())
            .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(SystemTime::now());
    let db = format!("postgres://authgate@127.0.0.1:{port}/none");
    let gw = gateway(&jira.url(), &db, false, dir.path(), "", &clock).await;
    let http = reqwest::Client::new();
    let call = |token: String| {
        let http = http.clone();
        let url = format!("http://{}/rest/api/2/myself", gw.addr);
        async move { status_json(http.get(url).bearer_auth(token).send().await.unwrap()).await }
    };
    let good = authgate::tokens::format::generate();
    let mut typo = good.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let (status, v) = call(typo).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("malformed_token")),
        "{v}"
    );
    let (status, v) = call(good[..40].to_string()).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("malformed_token")),
        "a truncated paste: {v}"
    );
    assert_eq!(gw.state.runtime.load().tokens.db_lookups(), 0);
    // The control: a well-formed token does reach for the database, which is down.
    let (status, v) = call(good).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (503, Some("idp_unavailable")),
        "{v}"
    );
    assert!(jira.requests().is_empty(), "nothing was forwarded");
}

/// A `MakeWriter` that keeps every log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// One thread, so the thread-local subscriber sees the gateway's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn the_secret_never_appears_in_logs_or_the_database() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info",
        ))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = Env::start("").await;
    let (id, secret) = env.alice_token(json!({"name": "secret-test"})).await;
    assert_eq!(env.use_token(&env.gw, &secret).await.0, 200);
    let mut typo = secret.clone().into_bytes();
    typo[10] = if typo[10] == b'Q' { b'R' } else { b'Q' };
    assert_eq!(
        env.use_token(&env.gw, &String::from_utf8(typo).unwrap())
            .await
            .0,
        401
    );
    let r = env
        .http
        .delete(env.url(&format!("/_authgate/tokens/{id}")))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.use_token(&env.gw, &secret).await.0, 401);
    let db_url = env.db_url.clone();
    let Env { gw, .. } = env;
    gw.shutdown().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("gateway token created"),
        "the capture works: {}",
        &text[..text.len().min(2000)]
    );
    let random = &secret[3..43];
    assert!(!text.contains(random), "the token appears in the logs");
    let rows = dump(&db_url, "gateway_tokens").await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains(&authgate::tokens::format::hash(&secret)));
    assert!(!rows[0].contains(random), "only the hash is stored");
    let audit = dump(&db_url, "audit").await;
    assert!(
        audit.iter().any(|r| r.contains("token_create")),
        "the create is audited: {audit:?}"
    );
    assert!(
        audit.iter().any(|r| r.contains("token_revoke")),
        "the revoke is audited"
    );
    assert!(
        audit.iter().any(|r| r.contains("malformed_token")),
        "the failed attempt is audited"
    );
    assert!(
        audit.iter().all(|r| !r.contains(random)),
        "the token appears in the audit table"
    );
}

#[tokio::test]
async fn the_sqlite_store_creates_finds_lists_and_revokes_too() {
    let jira =
        authgate::standin::jira::JiraStandin::start(authgate::standin::jira::JiraOptions::jira())
            .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(SystemTime::now());
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("authgate.db").display()
    );
    let gw = gateway(&jira.url(), &db, true, dir.path(), "", &clock).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", gw.addr);
    let r = http
        .post(format!("{base}/_authgate/tokens"))
        .header("authorization", basic("alice", "alice-pw"))
        .json(&json!({"name": "lite", "expires_in": "2h"}))
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 201, "{v}");
    let (id, secret) = (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    );
    let myself = |t: String| {
        let http = http.clone();
        let url = format!("{base}/rest/api/2/myself");
        async move { status_json(http.get(url).bearer_auth(t).send().await.unwrap()).await }
    };
    assert_eq!(myself(secret.clone()).await.0, 200);
    let r = http
        .get(format!("{base}/_authgate/tokens"))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    let (_, list) = status_json(r).await;
    assert_eq!(list["tokens"][0]["name"], "lite", "{list}");
    assert_eq!(
        list["tokens"][0]["expires_at"], v["expires_at"],
        "times survive the round trip"
    );
    let r = http
        .delete(format!("{base}/_authgate/tokens/{id}"))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = myself(secret).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (401, Some("token_revoked")),
        "{v}"
    );
    gw.shutdown().await;
}
