//! Three `authgate run` processes on loopback sharing one Redis and one Postgres, as the
//! sidecars of a three-node Jira Data Center: one token's requests spread round-robin over them
//! are limited as by one gateway; an override group gets its own quota; a gateway token revoked
//! through one replica is refused by the others within 5 s; every replica's rows land in the one
//! audit table. (Retention on one replica at a time: `audit::postgres_retention_skips_while_another_replica_holds_the_lock`.)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authgate::standin::jira::{JiraOptions, JiraStandin};
use authgate::standin::redis::Redis;

use crate::support::gateway::{jwt_provider, token_for};

/// A replica: the process, its client and operator addresses.
struct Replica {
    child: Child,
    url: String,
    admin: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn config(
    dir: &Path,
    i: usize,
    jira: &str,
    redis: &str,
    db: &str,
) -> (String, String, std::path::PathBuf) {
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin}"
shutdown_grace = "1s"

[upstream]
url = "{jira}"

[rate_limit]
enabled = true
requests = 60
per = "1m"
burst = 6
store = "redis"
redis_url = "{redis}"
redis_timeout = "500ms"
on_store_error = "deny"

[[rate_limit.overrides]]
group = "ci-bots"
requests = 60
per = "1m"
burst = 12

[groups]
source = "static"
[groups.static]
carol = ["ci-bots"]

[audit]
database_url = "{db}"
spool_dir = "{spool}"
log = "off"
{provider}
"#,
        spool = dir.join(format!("spool-{i}")).display(),
        provider = jwt_provider(),
    );
    let path = dir.join(format!("replica-{i}.toml"));
    std::fs::write(&path, text).expect("config");
    (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{admin}"),
        path,
    )
}

async fn start_replicas(
    n: usize,
    jira: &JiraStandin,
    redis: &Redis,
    db: &str,
    dir: &Path,
) -> Vec<Replica> {
    let mut replicas = Vec::new();
    for i in 0..n {
        let (url, admin, path) = config(dir, i, &jira.url(), &redis.url, db);
        let child = Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["run", "-c"])
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("authgate runs");
        replicas.push(Replica { child, url, admin });
    }
    let http = reqwest::Client::new();
    for r in &replicas {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{}/readyz", r.admin)).send().await;
            if ready.is_ok_and(|a| a.status() == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {} never became ready",
                r.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    replicas
}

/// Sends `n` requests with `token` round-robin over `replicas`; per replica, the statuses.
async fn round_robin(
    replicas: &[Replica],
    token: &str,
    n: usize,
    tag: &str,
) -> Vec<Vec<(u16, String, String)>> {
    let http = reqwest::Client::new();
    let mut per: Vec<Vec<(u16, String, String)>> = vec![Vec::new(); replicas.len()];
    for i in 0..n {
        let k = i % replicas.len();
        let r = http
            .get(format!("{}/rest/api/2/issue/DEMO-1", replicas[k].url))
            .bearer_auth(token)
            .header("x-request-id", format!("cluster-{tag}-r{k}-{i}"))
            .send()
            .await
            .expect("an answer");
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        per[k].push((
            r.status().as_u16(),
            h("x-ratelimit-limit"),
            h("x-ratelimit-remaining"),
        ));
    }
    per
}

fn allowed(per: &[Vec<(u16, String, String)>]) -> Vec<usize> {
    per.iter()
        .map(|v| v.iter().filter(|(s, _, _)| *s == 200).count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_redis_limit_as_one() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let jira = JiraStandin::start(JiraOptions::recorder()).await;
    let db = crate::support::pg::database();
    let dir = tempfile::tempdir().expect("dir");
    let replicas = start_replicas(3, &jira, &redis, &db, dir.path()).await;

    // Burst 6, then one token a second, whichever replica each request reaches.
    let alice = token_for("alice");
    let started = Instant::now();
    let first = round_robin(&replicas, &alice, 30, "burst").await;
    let spent = started.elapsed().as_secs_f64();
    let got = allowed(&first);
    let total: usize = got.iter().sum();
    eprintln!("cluster: 30 requests over 3 replicas in {spent:.2}s: allowed per replica {got:?}, total {total} (burst 6)");
    assert!(total >= 6 && total <= 6 + 1 + spent as usize, "{got:?}");
    for (s, limit, remaining) in first.iter().flatten().filter(|(s, _, _)| *s == 429) {
        assert_eq!((*s, limit.as_str(), remaining.as_str()), (429, "6", "0"));
    }
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let refill = allowed(&round_robin(&replicas, &alice, 12, "refill").await);
    let refilled: usize = refill.iter().sum();
    eprintln!(
        "cluster: after 3.2 s, allowed per replica {refill:?}, total {refilled} (refill 1/s)"
    );
    assert!((3..=4).contains(&refilled), "{refill:?}");

    // An override group has its own quota.
    let carol = allowed(&round_robin(&replicas, &token_for("carol"), 30, "override").await);
    let carol_total: usize = carol.iter().sum();
    eprintln!(
        "cluster: ci-bots member, allowed per replica {carol:?}, total {carol_total} (burst 12)"
    );
    assert!((12..=14).contains(&carol_total), "{carol:?}");

    // Every replica's rows are in the one audit table.
    let sent = 30 + 12 + 30;
    let pool = sqlx::PgPool::connect(&db).await.expect("postgres");
    let deadline = Instant::now() + Duration::from_secs(15);
    let per_replica = loop {
        let mut counts = Vec::new();
        for k in 0..3 {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE request_id LIKE $1")
                .bind(format!("cluster-%-r{k}-%"))
                .fetch_one(&pool)
                .await
                .expect("count");
            counts.push(n);
        }
        if counts.iter().sum::<i64>() == sent as i64 || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        per_replica,
        [24, 24, 24],
        "rows per replica in the shared table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_through_one_replica_is_refused_by_the_others_within_5s() {
    let redis = Redis::start().unwrap_or_else(|e| panic!("{e}"));
    let jira = JiraStandin::start(JiraOptions::recorder()).await;
    let db = crate::support::pg::database();
    let dir = tempfile::tempdir().expect("dir");
    let replicas = start_replicas(3, &jira, &redis, &db, dir.path()).await;
    let http = reqwest::Client::new();
    let made: serde_json::Value = http
        .post(format!("{}/_authgate/tokens", replicas[0].url))
        .bearer_auth(token_for("bob"))
        .json(&serde_json::json!({"name": "ci", "expires_in": "1d"}))
        .send()
        .await
        .expect("created")
        .json()
        .await
        .expect("json");
    let (id, secret) = (
        made["id"].as_str().expect("id"),
        made["token"].as_str().expect("token"),
    );
    for r in &replicas[1..] {
        let s = http
            .get(format!("{}/rest/api/2/myself", r.url))
            .bearer_auth(secret)
            .send()
            .await
            .expect("answer")
            .status();
        assert_eq!(s, 200, "{}", r.url);
    }
    let revoked = http
        .delete(format!("{}/_authgate/tokens/{id}", replicas[0].url))
        .bearer_auth(token_for("bob"))
        .send()
        .await
        .expect("revoked");
    assert_eq!(revoked.status(), 204);
    let at = Instant::now();
    for r in &replicas[1..] {
        loop {
            let s = http
                .get(format!("{}/rest/api/2/myself", r.url))
                .bearer_auth(secret)
                .send()
                .await
                .expect("answer")
                .status();
            if s == 401 {
                break;
            }
            assert!(
                at.elapsed() < Duration::from_secs(5),
                "{} still accepts after {:?}",
                r.url,
                at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "cluster: revocation honoured by every replica after {:?}",
        at.elapsed()
    );
}
