//! The stand-in answers like Jira: anonymous endpoints, each way of authenticating, the
//! error shape, recording, and the first-body-bytes signal.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value;

use super::*;

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

async fn get(s: &JiraStandin, target: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let client = reqwest::Client::new();
    let mut rb = client.get(format!("{}{target}", s.url()));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.send().await.expect("the stand-in answers");
    let status = resp.status().as_u16();
    let who = resp
        .headers()
        .get("x-ausername")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, who, body)
}

#[test]
fn default_pats_look_like_jira_pats() {
    let re = regex::Regex::new("^[MNO][A-Za-z0-9+/]{43}$").unwrap();
    for pat in [ALICE_PAT, BOB_PAT, ADMIN_PAT] {
        assert!(re.is_match(pat), "{pat}");
    }
    let alice = JiraOptions::jira().users.into_iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(alice.pats, vec![ALICE_PAT.to_string()]);
    assert_eq!(alice.password, "alice-pw");
}

#[tokio::test]
async fn anonymous_endpoints_and_the_401_shape() {
    let s = JiraStandin::start(JiraOptions::jira()).await;
    let (status, who, body) = get(&s, "/status", &[]).await;
    assert_eq!((status, who.as_str()), (200, "anonymous"));
    assert_eq!(body["state"], "RUNNING");
    assert_eq!(get(&s, "/rest/api/2/serverInfo", &[]).await.0, 200);
    let (status, who, body) = get(&s, "/rest/api/2/myself?expand=groups", &[]).await;
    assert_eq!((status, who.as_str()), (401, "anonymous"));
    assert!(body["errorMessages"][0].as_str().unwrap().contains("not authenticated"));
    assert_eq!(body["errors"], serde_json::json!({}));
}

#[tokio::test]
async fn each_way_of_authenticating() {
    let s = JiraStandin::start(JiraOptions::jira().identity_header("X-Remote-User")).await;
    let t = "/rest/api/2/myself?expand=groups";
    let alice_basic = basic("alice", "alice-pw");
    let (status, who, body) = get(&s, t, &[("Authorization", &alice_basic)]).await;
    assert_eq!((status, who.as_str()), (200, "alice"));
    assert_eq!(body["groups"]["items"][0]["name"], "jira-users");
    assert_eq!(body["groups"]["size"], 1);
    let wrong = basic("alice", "nope");
    assert_eq!(get(&s, t, &[("Authorization", &wrong)]).await.0, 401);
    let bearer = format!("Bearer {BOB_PAT}");
    assert_eq!(get(&s, t, &[("Authorization", &bearer)]).await.1, "bob");
    assert_eq!(get(&s, t, &[("Authorization", "Bearer nope")]).await.0, 401);
    assert_eq!(get(&s, t, &[("x-remote-USER", "carol")]).await.1, "carol");
    assert_eq!(get(&s, t, &[("x-remote-user", "mallory")]).await.0, 401);
    assert_eq!(get(&s, t, &[("Cookie", "a=b; JSESSIONID=admin-session")]).await.1, "admin");
    // An unknown session is ignored, as Jira does: anonymous.
    let (status, who, _) = get(&s, t, &[("Cookie", "JSESSIONID=zzz")]).await;
    assert_eq!((status, who.as_str()), (401, "anonymous"));
}

#[tokio::test]
async fn user_lookup_and_failing_switch() {
    let s = JiraStandin::start(JiraOptions::jira()).await;
    let admin = basic("admin", "admin-pw");
    let (status, _, body) = get(&s, "/rest/api/2/user?username=bob&expand=groups", &[("Authorization", &admin)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "bob");
    assert_eq!(body["groups"]["items"].as_array().unwrap().len(), 2);
    let (status, _, _) = get(&s, "/rest/api/2/user?username=nobody", &[("Authorization", &admin)]).await;
    assert_eq!(status, 404);
    s.set_failing(true);
    let (status, _, _) = get(&s, "/rest/api/2/user?username=bob&expand=groups", &[("Authorization", &admin)]).await;
    assert_eq!(status, 500);
    assert_eq!(get(&s, "/status", &[]).await.0, 200);
}

#[tokio::test]
async fn confluence_memberof_is_paged() {
    let s = JiraStandin::start(JiraOptions::confluence()).await;
    let admin = basic("admin", "admin-pw");
    let (status, _, body) = get(&s, "/rest/api/user/memberof?username=admin&start=0&limit=1", &[("Authorization", &admin)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["name"], "jira-administrators");
    assert!(body["_links"]["next"].as_str().unwrap().contains("start=1"));
    let (_, _, body) = get(&s, "/rest/api/user/memberof?username=admin&start=1&limit=1", &[("Authorization", &admin)]).await;
    assert_eq!(body["results"][0]["name"], "jira-users");
    assert!(body["_links"].get("next").is_none());
    let (status, _, body) = get(&s, "/rest/api/user/current", &[]).await;
    assert_eq!((status, body["type"].as_str()), (200, Some("anonymous")));
}

#[tokio::test]
async fn records_method_target_headers_and_body_and_signals_first_bytes_early() {
    let s = JiraStandin::start(JiraOptions::jira()).await;
    let mut first = s.first_body_bytes();
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(4);
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|f| (f, rx))
    }));
    let req = http::Request::post("/rest/api/2/issue?notifyUsers=false")
        .header("host", "jira")
        .header("x-forwarded-user", "alice")
        .body(body)
        .unwrap();
    let pending = tokio::spawn(sender.send_request(req));
    tx.send(Ok(Frame::data(Bytes::from_static(b"{\"fields\":")))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), first.wait_for(|n| *n >= 1))
        .await
        .expect("the first bytes are signalled before the body ends")
        .unwrap();
    assert!(s.requests().is_empty(), "recorded only once the body is whole");
    tx.send(Ok(Frame::data(Bytes::from_static(b"{}}")))).await.unwrap();
    drop(tx);
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 201);
    let _ = resp.into_body().collect().await;
    let r = &s.requests()[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.target, "/rest/api/2/issue?notifyUsers=false");
    assert_eq!(r.path(), "/rest/api/2/issue");
    assert_eq!(r.header("X-Forwarded-User").as_deref(), Some("alice"));
    assert_eq!(&r.body[..], b"{\"fields\":{}}");
    s.clear();
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn set_delay_delays_the_answer_after_recording() {
    let s = JiraStandin::start(JiraOptions::jira()).await;
    s.set_delay(Duration::from_secs(30));
    let url = format!("{}/status", s.url());
    let call = tokio::spawn(async move { reqwest::get(url).await });
    let mut recorded = false;
    for _ in 0..200 {
        if !s.requests().is_empty() {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(recorded, "the request is recorded while its answer waits");
    assert!(!call.is_finished(), "the answer is held back by the delay");
    call.abort();
}
