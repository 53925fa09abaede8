//! Audit end to end through a real `Gateway`: client requests on loopback produce rows that
//! `GET /admin/audit` returns with its filters, JSON lines sharing the response's request
//! id, metrics, `/readyz`; a database down at start (gateway still serves and spools) and a
//! gateway restarted with events in the spool (replayed); `audit.enabled = false`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use authgate::app::Gateway;
use serde_json::Value;

use crate::support::harden::Recorder;
use crate::support::pg;

const ADMIN: &str = "admin-token-for-the-audit-tests";

fn config(
    upstream: SocketAddr,
    database_url: &str,
    dir: &Path,
    enabled: bool,
) -> authgate::config::Config {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
admin_token = "{ADMIN}"

[upstream]
url = "http://{upstream}"

[access]
bypass = ["GET /rest/api/2/serverInfo"]
deny = ["/rest/api/2/issue/**"]

[audit]
enabled = {enabled}
database_url = "{database_url}"
spool_dir = "{spool}"
log = "{log}"
"#,
        spool = dir.join("spool").display(),
        log = dir.join("audit.jsonl").display(),
    );
    authgate::config::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"))
}

async fn start(config: authgate::config::Config) -> Gateway {
    crate::support::launch::launch(config, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `GET path`; returns status and request id.
async fn get(gw: &Gateway, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", gw.addr))
        .await
        .unwrap();
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let status = r.status().as_u16();
    let _ = r.bytes().await.unwrap();
    (status, rid)
}

async fn admin(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{}{path}", gw.admin_addr))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `/admin/audit` until it lists `n` events (bounded: 100 × 100 ms).
async fn wait_events(gw: &Gateway, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..100 {
        let (status, body) = admin(gw, "/admin/audit?limit=1000").await;
        if status == 200 {
            events = body["events"].as_array().cloned().unwrap_or_default();
            if events.len() >= n {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_audited_queryable_and_logged_with_the_same_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("audit.db").display()
    );
    let up = Recorder::start().await;
    let gw = start(config(up.addr, &url, dir.path(), true)).await;
    let (s1, allowed) = get(&gw, "/rest/api/2/serverInfo").await;
    let (s2, denied) = get(
        &gw,
        "/rest/api/2/issue/ABC-1?jql=project%3DX&token=s3cret&os_password=pw",
    )
    .await;
    assert_eq!((s1, s2), (200, 403));
    let events = wait_events(&gw, 2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let (deny, allow) = (&events[0], &events[1]);
    assert_eq!(deny["request_id"], denied.as_str());
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["status"], 403);
    assert_eq!(deny["path"], "/rest/api/2/issue/ABC-1");
    assert_eq!(deny["query"], "jql=project%3DX&token=***&os_password=***");
    assert_eq!(allow["request_id"], allowed.as_str());
    assert_eq!(
        (&allow["decision"], &allow["reason"]),
        (&Value::from("allow"), &Value::from("bypass"))
    );
    assert_eq!(allow["upstream_status"], 200);
    // The upstream answers `ok`: every byte of it reached the client.
    assert_eq!(allow["bytes_sent"], "ok".len());
    for k in [
        "ts",
        "client_ip",
        "method",
        "credential",
        "provider",
        "username",
        "token_id",
        "latency_us",
        "upstream_latency_us",
    ] {
        assert!(deny.get(k).is_some(), "{k} missing");
    }

    // The same filters as the command line.
    let (_, b) = admin(&gw, "/admin/audit?decision=deny").await;
    assert_eq!(b["events"].as_array().unwrap().len(), 1);
    let (_, b) = admin(&gw, "/admin/audit?status=200&since=1h").await;
    assert_eq!(b["events"][0]["request_id"], allowed.as_str());
    let (_, b) = admin(&gw, "/admin/audit?limit=1").await;
    assert_eq!(b["events"][0]["request_id"], denied.as_str());
    let next = b["next"].as_str().unwrap().to_string();
    let (_, b) = admin(&gw, &format!("/admin/audit?limit=1&cursor={next}")).await;
    assert_eq!(b["events"][0]["request_id"], allowed.as_str());
    assert_eq!(b["next"], Value::Null);
    let (status, b) = admin(&gw, "/admin/audit?decision=maybe").await;
    assert_eq!(
        (status, b["errorMessages"][0].as_str()),
        (400, Some("decision: use allow or deny"))
    );
    let anon = reqwest::get(format!("http://{}/admin/audit", gw.admin_addr))
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    // The JSON lines carry the same request ids as the responses.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let ids: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, [allowed, denied]);

    let (status, ready) = {
        let r = reqwest::get(format!("http://{}/readyz", gw.admin_addr))
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(
        (status, &ready["audit"]),
        (200, &Value::from("database reachable"))
    );
    let metrics = reqwest::get(format!("http://{}/metrics", gw.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("authgate_audit_rows_written_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("authgate_audit_queue_depth"));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_at_start_spools_and_a_restarted_gateway_replays() {
    let server = pg::private();
    let url = server.fresh_database().unwrap();
    server.stop();
    let dir = tempfile::tempdir().unwrap();
    let up = Recorder::start().await;
    let gw = start(config(up.addr, &url, dir.path(), true)).await;
    let r = reqwest::get(format!("http://{}/readyz", gw.admin_addr))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["audit"],
        "database unreachable, spooling"
    );
    let mut sent = Vec::new();
    for i in 0..5 {
        let (status, rid) = get(&gw, &format!("/rest/api/2/issue/ABC-{i}")).await;
        assert_eq!(
            status, 403,
            "requests are served while the database is down"
        );
        sent.push(rid);
    }
    let audit = gw.state.shared.audit.clone();
    gw.shutdown().await;
    assert_eq!(audit.stats().spooled, 5);
    assert_eq!(audit.stats().written, 0);
    drop(audit);

    server.restart().unwrap();
    let gw = start(config(up.addr, &url, dir.path(), true)).await;
    let events = wait_events(&gw, 5).await;
    let mut got: Vec<String> = events
        .iter()
        .map(|e| e["request_id"].as_str().unwrap().to_string())
        .collect();
    got.reverse();
    assert_eq!(got, sent, "replayed after the restart, oldest first");
    gw.shutdown().await;
}

#[tokio::test]
async fn audit_disabled_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("audit.db").display()
    );
    let up = Recorder::start().await;
    let gw = start(config(up.addr, &url, dir.path(), false)).await;
    let (status, _) = get(&gw, "/rest/api/2/issue/ABC-1").await;
    assert_eq!(status, 403);
    assert_eq!(gw.state.shared.audit.describe(), "disabled");
    let (_, b) = admin(&gw, "/admin/audit").await;
    assert_eq!(b["events"], serde_json::json!([]));
    assert!(!dir.path().join("audit.jsonl").exists());
    gw.shutdown().await;
}
