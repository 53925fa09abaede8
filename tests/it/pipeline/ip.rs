//! The IP filter end to end: clients act as different addresses by binding 127.0.0.x source
//! addresses; only a trusted peer's `X-Forwarded-For` counts, and then its rightmost
//! untrusted entry is the client.

use crate::support::gateway::{raw_request, Setup};

#[tokio::test]
async fn the_allow_list_admits_listed_clients_and_refuses_others() {
    let t = Setup::jira().with("[ip]\nallow = [\"127.0.0.1/32\", \"::1\"]").start().await;
    let r = t.get("/rest/api/2/serverInfo").from("127.0.0.1").send().await;
    assert_eq!(r.status, 200);
    let r = t.get("/rest/api/2/serverInfo").from("127.0.0.2").send().await;
    assert_eq!((r.status, r.reason().as_str()), (403, "ip_denied"));
    assert_eq!(t.jira.requests().len(), 1);
    // scope = "api" (the default): other paths are not guarded.
    let r = t.get("/status").from("127.0.0.2").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(t.jira.requests().len(), 2);
}

#[tokio::test]
async fn scope_all_guards_every_path() {
    let t = Setup::jira()
        .with("[ip]\nallow = [\"127.0.0.0/31\"]\nscope = \"all\"")
        .start()
        .await;
    assert_eq!(t.get("/status").from("127.0.0.1").send().await.status, 200);
    let r = t.get("/status").from("127.0.0.2").send().await;
    assert_eq!((r.status, r.reason().as_str()), (403, "ip_denied"));
    assert_eq!(t.jira.requests().len(), 1);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let t = Setup::jira().with("[ip]\nallow = [\"127.0.0.1\"]").start().await;
    let r = t
        .get("/rest/api/2/serverInfo")
        .from("127.0.0.2")
        .header("x-forwarded-for", "127.0.0.1")
        .send()
        .await;
    assert_eq!((r.status, r.reason().as_str()), (403, "ip_denied"));
    assert!(t.jira.requests().is_empty());

    // And what the product sees is the peer alone, never the client's claim.
    let open = Setup::jira().start().await;
    let r = open
        .get("/rest/api/2/serverInfo")
        .from("127.0.0.2")
        .header("x-forwarded-for", "10.9.9.9")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(open.jira.requests()[0].header_values("x-forwarded-for"), vec!["127.0.0.2"]);
}

#[tokio::test]
async fn from_a_trusted_peer_the_rightmost_untrusted_entry_is_the_client() {
    let t = Setup::jira()
        .with("[ip]\nallow = [\"10.1.2.3\"]\ntrusted_proxies = [\"127.0.0.3/32\", \"10.0.0.0/24\"]")
        .start()
        .await;
    let ask = |lines: &'static [&'static str]| {
        let t = &t;
        async move {
            let mut headers: Vec<String> = lines.iter().map(|l| format!("X-Forwarded-For: {l}")).collect();
            headers.push("X-Probe: 1".into());
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            t.raw_from(Some("127.0.0.3"), raw_request("GET", "/rest/api/2/serverInfo", &refs).as_bytes())
                .await
                .status
        }
    };
    // The rightmost untrusted entry is the client.
    assert_eq!(ask(&["6.6.6.6, 10.1.2.3"]).await, 200);
    assert_eq!(ask(&["10.1.2.3, 6.6.6.6"]).await, 403);
    // Trusted proxies in the chain are skipped.
    assert_eq!(ask(&["6.6.6.6, 10.1.2.3, 10.0.0.7"]).await, 200);
    // Every line counts, joined in order.
    assert_eq!(ask(&["10.1.2.3", "6.6.6.6"]).await, 403);
    assert_eq!(ask(&["6.6.6.6", "10.1.2.3"]).await, 200);
    // A malformed entry stops the walk and matches no rule.
    assert_eq!(ask(&["10.1.2.3, 010.1.2.3"]).await, 403);
    assert_eq!(ask(&["10.1.2.3, garbage"]).await, 403);
    // IPv4-mapped IPv6 compares as IPv4.
    assert_eq!(ask(&["::ffff:10.1.2.3"]).await, 200);
    // With no header the trusted peer itself is the client.
    assert_eq!(ask(&[]).await, 403);

    // The product sees the chain with the peer appended.
    t.jira.clear();
    assert_eq!(ask(&["6.6.6.6, 10.1.2.3"]).await, 200);
    let seen = t.jira.requests();
    assert_eq!(seen[0].header_values("x-forwarded-for"), vec!["6.6.6.6, 10.1.2.3, 127.0.0.3"]);
}
