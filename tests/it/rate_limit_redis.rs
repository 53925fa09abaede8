//! `rate_limit.store = "redis"` against a real Redis: the same counts and headers as the memory
//! store, and every fault (Redis killed, restarted, frozen, full) decided by `on_store_error`
//! within `redis_timeout`, counted in `/metrics`, named by `/readyz`, recovered from alone.

use std::time::{Duration, Instant};

use authgate::standin::redis::Redis;

use crate::support::gateway::{token_for, Setup, TestGateway};

/// Burst 4, one token every 15 s (so nothing refills during a test).
fn limits(store: &str) -> String {
    format!("[rate_limit]\nenabled = true\nrequests = 4\nper = \"1m\"\nburst = 4\n{store}")
}

fn redis_store(r: &Redis, on_error: &str) -> String {
    format!(
        "store = \"redis\"\nredis_url = \"{}\"\nredis_timeout = \"100ms\"\non_store_error = \"{on_error}\"\n",
        r.url
    )
}

async fn gateway(extra: &str) -> TestGateway {
    Setup::jira()
        .with_jwt_provider()
        .with(extra)
        .with("[groups]\nsource = \"static\"\n[groups.static]\ncarol = [\"ci-bots\"]\n[[rate_limit.overrides]]\ngroup = \"ci-bots\"\nrequests = 8\nper = \"1m\"\nburst = 8\n")
        .start()
        .await
}

/// Status and the five rate-limit headers of one request.
async fn hit(t: &TestGateway, token: &str) -> (u16, [String; 5], Duration) {
    let started = Instant::now();
    let r = t.get("/rest/api/2/issue/DEMO-1").bearer(token).send().await;
    let h = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    (
        r.status,
        [
            h("x-ratelimit-limit"),
            h("x-ratelimit-remaining"),
            h("x-ratelimit-interval-seconds"),
            h("x-ratelimit-fillrate"),
            h("retry-after"),
        ],
        started.elapsed(),
    )
}

async fn admin(t: &TestGateway, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", t.gateway.admin_addr))
        .await
        .expect("admin answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_client_cannot_tell_the_redis_store_from_the_memory_store() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let memory = gateway(&limits("")).await;
    let shared = gateway(&limits(&redis_store(&redis, "deny"))).await;
    for (user, n) in [("alice", 6), ("carol", 10)] {
        let token = token_for(user);
        for i in 0..n {
            let (s1, h1, _) = hit(&memory, &token).await;
            let (s2, h2, _) = hit(&shared, &token).await;
            // Retry-After of a refusal counts down in whole seconds on both; compare the rest.
            assert_eq!((s1, &h1[..4]), (s2, &h2[..4]), "{user} request {i}");
            assert_eq!(
                h1[4] == "0",
                h2[4] == "0",
                "{user} request {i}: {h1:?} {h2:?}"
            );
        }
    }
    // Keys are hashes: no token, no username in Redis.
    let keys = redis.cli(&["KEYS", "*"]).expect("keys");
    assert!(
        keys.lines().all(|k| k.starts_with("authgate:rl:")),
        "{keys}"
    );
    assert!(!keys.contains("alice") && !keys.contains("carol"));
    assert_eq!(redis.dbsize(), 2, "one bucket per token: {keys}");
    // A key expires once its bucket would be full again (4 tokens at 15 s: within 60 s).
    let ttl: i64 = redis
        .cli(&["PTTL", keys.lines().next().expect("a key")])
        .expect("pttl")
        .trim()
        .parse()
        .expect("a number");
    assert!(ttl > 0 && ttl <= 60_000 + 15_000, "{ttl}");
}

#[tokio::test]
async fn redis_killed_then_restarted_local_decides_meanwhile_and_limits_resume() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let t = gateway(&limits(&redis_store(&redis, "local"))).await;
    let token = token_for("alice");
    for _ in 0..4 {
        assert_eq!(hit(&t, &token).await.0, 200);
    }
    assert_eq!(hit(&t, &token).await.0, 429, "Redis's bucket is empty");
    redis.kill();
    // This replica's own bucket decides: it has seen none of those requests (fresh), then 429.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (s, h, took) = hit(&t, &token).await;
        assert!(
            took < Duration::from_secs(1),
            "answered within 1 s: {took:?}"
        );
        assert_eq!(h[0], "4", "same headers from the fallback: {h:?}");
        statuses.push(s);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    let (ready, body) = admin(&t, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    assert!(body.contains("rate_limit store redis"), "{body}");
    let (_, metrics) = admin(&t, "/metrics").await;
    assert!(
        counter(&metrics, "authgate_rate_limit_store_errors_total") >= 6.0,
        "{metrics}"
    );
    assert!(metrics.contains("decided_by=\"local\""), "{metrics}");

    redis.restart().unwrap_or_else(|e| panic!("{e}"));
    // Back on Redis (empty after the restart: a fresh bucket of 4), within the backoff.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut first_ok = None;
    while Instant::now() < deadline {
        let before = counter(
            &admin(&t, "/metrics").await.1,
            "authgate_rate_limit_store_errors_total",
        );
        let (s, _, _) = hit(&t, &token).await;
        let after = counter(
            &admin(&t, "/metrics").await.1,
            "authgate_rate_limit_store_errors_total",
        );
        if after == before {
            first_ok = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(first_ok, Some(200), "Redis decides again after its restart");
    assert_eq!(redis.dbsize(), 1);
    let (ready, body) = admin(&t, "/readyz").await;
    assert!(ready == 200 && !body.contains("degraded"), "{body}");
}

#[tokio::test]
async fn a_frozen_redis_costs_at_most_redis_timeout_and_deny_refuses_with_503() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let t = gateway(&limits(&redis_store(&redis, "deny"))).await;
    let token = token_for("bob");
    assert_eq!(hit(&t, &token).await.0, 200);
    redis.pause();
    for _ in 0..3 {
        let r = t
            .get("/rest/api/2/issue/DEMO-1")
            .bearer(&token)
            .send()
            .await;
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["reason"], "rate_limit_unavailable");
    }
    let started = Instant::now();
    let (s, _, took) = hit(&t, &token).await;
    assert_eq!(s, 503);
    assert!(
        took < Duration::from_secs(1),
        "within redis_timeout (100 ms) and change: {took:?}"
    );
    let (ready, body) = admin(&t, "/readyz").await;
    assert_eq!(ready, 503, "deny makes the gateway not ready: {body}");
    assert!(body.contains("rate_limit store redis"), "{body}");
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    while hit(&t, &token).await.0 != 200 {
        assert!(Instant::now() < deadline, "recovers by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(admin(&t, "/readyz").await.0, 200);
}

#[tokio::test]
async fn a_full_redis_is_a_store_error_and_allow_lets_requests_through() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let t = gateway(&limits(&redis_store(&redis, "allow"))).await;
    let token = token_for("alice");
    assert_eq!(hit(&t, &token).await.0, 200);
    // Used memory is over a 1-byte limit at once: every write is refused (OOM).
    redis
        .cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .expect("policy");
    redis
        .cli(&["CONFIG", "SET", "maxmemory", "1"])
        .expect("maxmemory");
    for _ in 0..8 {
        let (s, h, took) = hit(&t, &token).await;
        assert_eq!(s, 200, "allow: not limited while Redis refuses writes");
        assert_eq!(h[0], "4");
        assert!(took < Duration::from_secs(1));
    }
    let (_, metrics) = admin(&t, "/metrics").await;
    assert!(metrics.contains("decided_by=\"allow\""), "{metrics}");
    let (_, body) = admin(&t, "/readyz").await;
    assert!(
        body.contains("OOM") || body.contains("Oom") || body.contains("memory"),
        "{body}"
    );
    redis
        .cli(&["CONFIG", "SET", "maxmemory", "0"])
        .expect("no limit");
    // Redis decides again: the bucket it kept has 3 of 4 tokens left.
    let (s, h, _) = hit(&t, &token).await;
    assert_eq!((s, h[1].as_str()), (200, "2"));
}

/// A password from the environment (`${VAR}`) reaches Redis; a wrong one is a store error
/// whose message never shows it.
#[tokio::test]
async fn a_redis_password_comes_from_the_environment_and_is_never_shown() {
    use authgate::pipeline::rate_limit::{LimitKey, RateLimiter};
    let redis = Redis::start_with_password("s3cret-pw").unwrap_or_else(|e| panic!("{e}"));
    let text = "[rate_limit]\nenabled = true\nrequests = 4\nper = \"1m\"\nburst = 4\nstore = \"redis\"\nredis_url = \"${AUTHGATE_TEST_REDIS}\"\nredis_timeout = \"200ms\"\non_store_error = \"deny\"\n";
    let limiter_for = |url: String| {
        let config = authgate::config::from_toml_with(text, std::path::Path::new("/tmp"), &|n| {
            (n == "AUTHGATE_TEST_REDIS").then(|| url.clone())
        })
        .expect("config");
        let metrics = std::sync::Arc::new(authgate::metrics::Metrics::new());
        RateLimiter::new(&config.rate_limit)
            .with_store(&config.rate_limit, None, &metrics)
            .expect("a store")
    };
    let key = LimitKey::User("alice".into());
    let good = limiter_for(redis.url.clone());
    let h = good
        .decide(&key, &[])
        .await
        .expect("the password is accepted");
    assert_eq!(h.remaining, 3);
    assert_eq!(redis.dbsize(), 1);
    let bad = limiter_for(redis.url.replace("s3cret-pw", "not-the-pw"));
    let err = bad
        .decide(&key, &[])
        .await
        .expect_err("a wrong password is a store error");
    assert_eq!(err.reason.as_str(), "rate_limit_unavailable");
    let shown = format!("{:?} {:?}", err.detail, bad.store_health());
    assert!(
        !shown.contains("s3cret") && !shown.contains("not-the-pw"),
        "{shown}"
    );
}

/// Requests sent at once are decided in batches (one script call for all that queued): one
/// bucket's requests in a batch are decided one after the other, so exactly `burst` pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_one_bucket_are_decided_one_after_the_other() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let t = Setup::jira()
        .with_jwt_provider()
        .with(&format!(
            "[rate_limit]\nenabled = true\nrequests = 20\nper = \"10m\"\nburst = 20\n{}",
            redis_store(&redis, "deny")
        ))
        .start()
        .await;
    let token = token_for("alice");
    let calls = (0..120).map(|_| t.get("/rest/api/2/issue/DEMO-1").bearer(&token).send());
    let answers = futures_util::future::join_all(calls).await;
    let allowed = answers.iter().filter(|a| a.status == 200).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!((allowed, limited), (20, 100));
}

#[test]
fn check_config_names_redis_keys_that_do_not_fit() {
    let errors = |text: &str| match authgate::config::from_toml(text) {
        Ok(_) => panic!("refused expected:\n{text}"),
        Err(e) => e.to_string(),
    };
    let e = errors("[rate_limit]\nstore = \"redis\"\n");
    assert!(
        e.contains("rate_limit.redis_url") && e.contains("required"),
        "{e}"
    );
    let e = errors("[rate_limit]\nstore = \"redis\"\nredis_url = \"http://x\"\n");
    assert!(e.contains("redis:// or rediss://"), "{e}");
    let e = errors("[rate_limit]\nredis_url = \"redis://127.0.0.1\"\n");
    assert!(e.contains("applies only to store = \"redis\""), "{e}");
    let e = errors("[rate_limit]\nstore = \"redis\"\nredis_url = \"redis://:pw@127.0.0.1\"\non_store_error = \"maybe\"\nredis_timeout = \"10s\"\n");
    assert!(
        e.contains("on_store_error") && e.contains("redis_timeout"),
        "{e}"
    );
    assert!(
        !e.contains(":pw@"),
        "the URL's password is never shown: {e}"
    );
    let e = errors("[rate_limit]\nstore = \"valkey\"\n");
    assert!(e.contains("rate_limit.store"), "{e}");
}
