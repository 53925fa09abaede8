//! Upstream connections pinned to client connections (`src/proxy/pinned.rs`): a
//! keep-alive client costs one upstream connection, a connection the product closes is
//! replaced without a failed request, a client that leaves hands its connection on, and a
//! reload to another upstream is followed at once.

use std::collections::HashSet;
use std::net::SocketAddr;

use authgate::standin::jira::{JiraOptions, JiraStandin};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;

use crate::support::gateway::{Setup, TestGateway, CALL_LIMIT};

/// A keep-alive HTTP/1 client connection to the gateway, and the task driving it.
async fn client(t: &TestGateway) -> (SendRequest<Empty<Bytes>>, tokio::task::JoinHandle<()>) {
    let stream = tokio::net::TcpStream::connect(t.gateway.addr)
        .await
        .expect("connect to authgate");
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1 handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, task)
}

/// `GET path` on `sender`'s connection; the status.
async fn get(sender: &mut SendRequest<Empty<Bytes>>, path: &str) -> u16 {
    let req = http::Request::get(path)
        .header("host", "jira.example.com")
        .body(Empty::new())
        .expect("a request");
    let answer = tokio::time::timeout(CALL_LIMIT, async {
        sender.ready().await.expect("the connection is open");
        let resp = sender.send_request(req).await.expect("an answer");
        let status = resp.status().as_u16();
        resp.into_body().collect().await.expect("the whole body");
        status
    });
    answer.await.expect("answered within the call limit")
}

/// The distinct upstream connections (authgate's source addresses) `jira` was reached on.
fn upstream_connections(jira: &JiraStandin) -> HashSet<SocketAddr> {
    jira.requests().iter().map(|r| r.peer).collect()
}

#[tokio::test]
async fn a_keep_alive_client_sends_all_its_requests_over_one_upstream_connection() {
    let t = Setup::jira().start().await;
    let (mut sender, _task) = client(&t).await;
    for _ in 0..5 {
        assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    }
    assert_eq!(t.jira.requests().len(), 5);
    assert_eq!(upstream_connections(&t.jira).len(), 1);
}

#[tokio::test]
async fn two_keep_alive_clients_at_once_use_two_upstream_connections() {
    let t = Setup::jira().start().await;
    let (mut a, _ta) = client(&t).await;
    let (mut b, _tb) = client(&t).await;
    for _ in 0..3 {
        assert_eq!(get(&mut a, "/rest/api/2/serverInfo").await, 200);
        assert_eq!(get(&mut b, "/rest/api/2/serverInfo").await, 200);
    }
    assert_eq!(upstream_connections(&t.jira).len(), 2);
}

#[tokio::test]
async fn a_connection_the_product_closes_after_each_answer_is_replaced_without_a_failed_request() {
    let t = Setup::jira().start().await;
    t.jira.set_closing(true);
    let (mut sender, _task) = client(&t).await;
    for _ in 0..5 {
        assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    }
    // Every answer said `Connection: close`, so each request needed a new connection.
    assert_eq!(upstream_connections(&t.jira).len(), 5);
    assert_eq!(
        t.gateway.state.runtime.load().upstream.idle_connections(),
        0
    );
}

#[tokio::test]
async fn a_client_that_leaves_hands_its_upstream_connection_to_the_next_client() {
    let t = Setup::jira().start().await;
    let (mut first, task) = client(&t).await;
    assert_eq!(get(&mut first, "/rest/api/2/serverInfo").await, 200);
    drop(first);
    task.await.expect("the client connection task ends");
    // The gateway's side of the connection ends once it has seen the close.
    let upstream = t.gateway.state.runtime.load().upstream.clone();
    tokio::time::timeout(CALL_LIMIT, async {
        while upstream.idle_connections() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the upstream connection is handed back");
    let (mut second, _task) = client(&t).await;
    assert_eq!(get(&mut second, "/rest/api/2/serverInfo").await, 200);
    assert_eq!(upstream_connections(&t.jira).len(), 1);
    assert_eq!(upstream.idle_connections(), 0);
}

#[tokio::test]
async fn after_a_reload_to_another_upstream_an_open_client_connection_reaches_the_new_one() {
    let t = Setup::jira().start_from_file().await;
    let (mut sender, _task) = client(&t).await;
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    assert_eq!(t.jira.requests().len(), 1);

    let other = JiraStandin::start(JiraOptions::jira()).await;
    let moved = t.toml.replace(&t.jira.url(), &other.url());
    assert_ne!(moved, t.toml, "the config names the first stand-in");
    std::fs::write(t.config_path(), moved).expect("write the config");
    authgate::app::reload(&t.gateway.state)
        .await
        .expect("the new file reloads");

    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    assert_eq!(
        t.jira.requests().len(),
        1,
        "nothing more reaches the old one"
    );
    assert_eq!(other.requests().len(), 1);
}

#[tokio::test]
async fn a_reload_that_keeps_the_upstream_keeps_the_clients_upstream_connection() {
    let t = Setup::jira().start_from_file().await;
    let (mut sender, _task) = client(&t).await;
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);

    // Only a rule changes: the product must not see every client reconnect.
    let ruled = format!(
        "{}\n[access]\ndeny = [\"GET /rest/api/2/project\"]\n",
        t.toml
    );
    std::fs::write(t.config_path(), ruled).expect("write the config");
    authgate::app::reload(&t.gateway.state)
        .await
        .expect("the new file reloads");

    assert_eq!(get(&mut sender, "/rest/api/2/project").await, 403);
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    assert_eq!(t.jira.requests().len(), 2);
    assert_eq!(upstream_connections(&t.jira).len(), 1);
}

#[tokio::test]
async fn after_a_504_the_client_connection_goes_on_over_a_new_upstream_connection() {
    let t = Setup::jira()
        .with("[upstream]\ntimeout = \"1s\"")
        .start()
        .await;
    let (mut sender, _task) = client(&t).await;
    t.jira.set_delay(std::time::Duration::from_secs(30));
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 504);
    // The timed-out request may still be answered on its connection: that connection is
    // given up, never used for the next request.
    t.jira.set_delay(std::time::Duration::ZERO);
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    assert_eq!(get(&mut sender, "/rest/api/2/serverInfo").await, 200);
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 3);
    assert_ne!(seen[0].peer, seen[1].peer);
    assert_eq!(seen[1].peer, seen[2].peer);
}
