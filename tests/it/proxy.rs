//! The proxy: what reaches the Jira stand-in, what never does, and how upstream
//! faults and limits are answered.

use std::time::Duration;

use crate::support::gateway::{raw_request, Setup, CALL_LIMIT};

/// True when `name` is `X-Forwarded-User` in any case and with `_` or `-`.
fn is_identity_spelling(name: &str) -> bool {
    name.to_ascii_lowercase().replace('_', "-") == "x-forwarded-user"
}

#[tokio::test]
async fn a_request_is_forwarded_with_its_method_query_and_body_intact() {
    let t = Setup::jira().without_identity_lookups().start().await;
    let body = br#"{"fields":{"summary":"changed"}}"#.to_vec();
    let r = t
        .call(
            http::Method::PUT,
            "/rest/api/2/issue/DEMO-1?notifyUsers=false&x=%C3%A9",
        )
        .basic("alice", "alice-pw")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(r.header("x-ausername"), Some("alice"));
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::PUT);
    assert_eq!(
        seen[0].target,
        "/rest/api/2/issue/DEMO-1?notifyUsers=false&x=%C3%A9"
    );
    assert_eq!(seen[0].body.to_vec(), body);
    assert_eq!(
        seen[0].header("content-type").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn an_upload_is_streamed_the_first_bytes_arrive_before_the_client_sent_the_last() {
    let t = Setup::jira().without_identity_lookups().start().await;
    let mut first = t.jira.first_body_bytes();
    let auth = crate::support::gateway::basic("alice", "alice-pw");
    let upload = t
        .upload(
            "POST",
            "/rest/api/2/issue",
            &[("authorization", auth.as_str())],
        )
        .await;
    let chunk = vec![b'a'; 64 * 1024];
    upload.send(chunk.clone()).await;
    // The stand-in sees the first bytes while the client still holds back the rest.
    tokio::time::timeout(CALL_LIMIT, first.wait_for(|n| *n >= 1))
        .await
        .expect("the first bytes reach the stand-in before the upload ends")
        .expect("the stand-in is running");
    assert!(t.jira.requests().is_empty(), "the body is not complete yet");
    for _ in 0..15 {
        upload.send(chunk.clone()).await;
    }
    let answer = upload.finish().await;
    assert_eq!(answer.status(), 201);
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body.len(), 16 * 64 * 1024);
}

/// Every path rejection of docs/http.md step 1, as raw request targets.
const BAD_TARGETS: &[(&str, &str)] = &[
    ("GET", "/rest/api/2/issue;jsessionid=x"),
    ("GET", "/rest/api/2/issue%3Bx"),
    ("GET", "/rest/api/2/issue%3bx"),
    ("GET", "/rest/api%2F2/myself"),
    ("GET", "/rest/api%2f2/myself"),
    ("GET", "/rest/api%5C2/myself"),
    ("GET", "/rest/api%002/myself"),
    ("GET", "/rest/api%252F2/myself"),
    ("GET", "/rest/api\\2/myself"),
    ("GET", "/rest/api%01/myself"),
    ("GET", "/rest/api%7F/myself"),
    ("GET", "/rest/api%C3%28/myself"),
    ("GET", "/rest/api%FF/myself"),
    ("GET", "//rest/api/2/myself"),
    ("GET", "/rest//api/2/myself"),
    ("GET", "/rest/./api/2/myself"),
    ("GET", "/rest/api/2/../2/myself"),
    ("GET", "/rest/%2e%2e/secure/admin"),
    ("GET", "/rest/%2E/api"),
    ("GET", "/rest/.%2e/secure"),
    ("GET", "/rest/api/2/${jndi:ldap://x}"),
    ("GET", "/rest/api/2/%24%7Bjndi"),
    ("GET", "/rest/api/2/$%7Bjndi"),
    ("GET", "/WEB-INF/web.xml"),
    ("GET", "/rest/web-inf/web.xml"),
    ("GET", "/rest/Meta-Inf/MANIFEST.MF"),
    ("GET", "/rest/%57EB-INF/web.xml"),
    ("GET", "http://jira.test/rest/api/2/myself"),
    ("OPTIONS", "*"),
];

#[tokio::test]
async fn every_path_rejection_is_400_bad_path_and_never_reaches_the_product() {
    let t = Setup::jira().start().await;
    let mut wrong = Vec::new();
    for (method, target) in BAD_TARGETS {
        let r = t.raw(raw_request(method, target, &[]).as_bytes()).await;
        if r.status != 400 || r.reason() != "bad_path" {
            wrong.push(format!(
                "{method} {target} -> {} {:?}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as bad_path:\n{}",
        wrong.join("\n")
    );
    assert!(
        t.jira.requests().is_empty(),
        "forwarded: {:?}",
        t.jira.requests()
    );
}

#[tokio::test]
async fn a_raw_control_byte_in_the_target_never_reaches_the_product() {
    // httparse refuses a raw control byte before authgate sees the request; it must still be
    // a 400 and nothing may be forwarded.
    let t = Setup::jira().start().await;
    let r = t
        .raw(b"GET /rest/api\x01/myself HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.status, 400);
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn unreserved_escapes_are_decoded_and_forwarded_as_checked() {
    let t = Setup::jira().start().await;
    let r = t.raw_get("/rest/api/2/issue/DEMO%2D1%7E?a=%2F", &[]).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let seen = t.jira.requests();
    assert_eq!(seen[0].target, "/rest/api/2/issue/DEMO-1~?a=%2F");
}

#[tokio::test]
async fn trace_track_and_connect_are_405() {
    let t = Setup::jira().start().await;
    for (method, target) in [
        ("TRACE", "/rest/api/2/myself"),
        ("TRACK", "/"),
        ("CONNECT", "jira.test:443"),
    ] {
        let r = t.raw(raw_request(method, target, &[]).as_bytes()).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.reason(), "method_not_allowed", "{method}");
    }
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn a_clients_identity_header_never_reaches_the_product_in_any_spelling() {
    let t = Setup::jira().start().await;
    let spoof = [
        "X-Forwarded-User: admin",
        "x_forwarded_user: admin",
        "X-FORWARDED-USER: admin",
        "X_Forwarded-User: admin",
    ];
    for path in ["/rest/api/2/myself", "/secure/Dashboard.jspa", "/status"] {
        let r = t.raw_get(path, &spoof).await;
        assert_ne!(r.header("x-ausername"), Some("admin"), "{path}");
    }
    let seen = t.jira.requests();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        let names: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
        assert!(
            !names.iter().any(|n| is_identity_spelling(n)),
            "{} carried an identity header: {names:?}",
            r.target
        );
    }
}

#[tokio::test]
async fn connection_cannot_strip_the_headers_authgate_sets() {
    let t = Setup::jira().start().await;
    let r = t
        .raw_get(
            "/rest/api/2/serverInfo",
            &[
                "Connection: X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, X-Custom",
                "X-Custom: goes",
                "X-Kept: stays",
                "X-Request-Id: client-id-1",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAAQAAP__",
                "Keep-Alive: timeout=5",
                "TE: trailers",
                "Proxy-Authorization: Basic eDp5",
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = &t.jira.requests()[0];
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host").as_deref(),
        Some("jira.test")
    );
    assert!(seen.header("x-request-id").is_some());
    assert_eq!(
        seen.header("x-custom"),
        None,
        "a header named in Connection is hop-by-hop"
    );
    assert_eq!(seen.header("x-kept").as_deref(), Some("stays"));
    for hop in [
        "connection",
        "upgrade",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert_eq!(seen.header(hop), None, "{hop} is hop-by-hop");
    }
}

#[tokio::test]
async fn forwarded_headers_reach_the_product_and_spoofed_ones_are_replaced() {
    let t = Setup::jira().start().await;
    let r = t
        .get("/rest/api/2/serverInfo")
        .header("host", "jira.example.com")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=6.6.6.6")
        .send()
        .await;
    assert_eq!(r.status, 200);
    let seen = &t.jira.requests()[0];
    assert_eq!(seen.header_values("x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(seen.header_values("x-forwarded-proto"), vec!["http"]);
    assert_eq!(
        seen.header_values("x-forwarded-host"),
        vec!["jira.example.com"]
    );
    assert!(seen.header("forwarded").is_none());
}

#[tokio::test]
async fn a_valid_client_request_id_is_kept_and_an_invalid_one_replaced() {
    let t = Setup::jira().start().await;
    let r = t
        .get("/rest/api/2/serverInfo")
        .header("x-request-id", "abc.DEF-123_x")
        .send()
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc.DEF-123_x"));
    assert_eq!(
        t.jira.requests()[0].header("x-request-id").as_deref(),
        Some("abc.DEF-123_x")
    );
    t.jira.clear();

    let long = "a".repeat(129);
    for bad in ["has space", "semi;colon", long.as_str()] {
        let r = t
            .get("/rest/api/2/serverInfo")
            .header("x-request-id", bad)
            .send()
            .await;
        let id = r
            .header("x-request-id")
            .expect("every answer has an id")
            .to_string();
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128);
        let seen = t.jira.requests();
        assert_eq!(
            seen.last().unwrap().header("x-request-id"),
            Some(id),
            "the product sees the same id"
        );
    }

    // Rejections carry it too, in the header and in the body.
    let r = t.raw_get("/rest/a;b", &["X-Request-Id: rej-1"]).await;
    assert_eq!(r.header("x-request-id"), Some("rej-1"));
    assert_eq!(r.json()["requestId"], "rej-1");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_in_jiras_error_shape() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let t = Setup::jira()
        .upstream_url(&format!("http://{closed}"))
        .start()
        .await;
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!(r.status, 502);
    let body = r.json();
    assert_eq!(body["reason"], "upstream_unreachable");
    assert!(!body["errorMessages"][0].as_str().unwrap_or("").is_empty());
    assert_eq!(body["errors"], serde_json::json!({}));
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains(&closed.port().to_string()),
        "the upstream address leaked: {text}"
    );
}

#[tokio::test]
async fn an_upstream_slower_than_upstream_timeout_is_504() {
    let t = Setup::jira()
        .with("[upstream]\ntimeout = \"1s\"")
        .start()
        .await;
    t.jira.set_delay(Duration::from_secs(30));
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!(r.status, 504);
    assert_eq!(r.reason(), "upstream_timeout");
    assert!(r.json()["errorMessages"].is_array());
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_is_431() {
    let t = Setup::jira()
        .with("[server]\nmax_header_bytes = 8192")
        .start()
        .await;
    let big = format!("X-Big: {}", "b".repeat(12_000));
    let r = t.raw_get("/rest/api/2/serverInfo", &[big.as_str()]).await;
    assert_eq!(r.status, 431);
    assert!(t.jira.requests().is_empty());
    // A head under the limit still goes through.
    let small = format!("X-Big: {}", "b".repeat(4_000));
    assert_eq!(
        t.raw_get("/rest/api/2/serverInfo", &[small.as_str()])
            .await
            .status,
        200
    );
    // More than 100 header fields is 431 too.
    let many: Vec<String> = (0..120).map(|i| format!("X-H{i}: v")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(t.raw_get("/rest/api/2/serverInfo", &refs).await.status, 431);
    assert_eq!(t.jira.requests().len(), 1);
}

#[tokio::test]
async fn a_target_over_8_kib_is_414() {
    let t = Setup::jira()
        .with("[server]\nmax_header_bytes = 65536")
        .start()
        .await;
    let target = format!("/rest/api/2/search?jql={}", "a".repeat(9000));
    let r = t.raw_get(&target, &[]).await;
    assert_eq!((r.status, r.reason().as_str()), (414, "target_too_long"));
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn a_request_slower_than_server_request_timeout_is_504() {
    let t = Setup::jira()
        .with("[server]\nrequest_timeout = \"1s\"")
        .start()
        .await;
    t.jira.set_delay(Duration::from_secs(30));
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!((r.status, r.reason().as_str()), (504, "upstream_timeout"));
}

#[tokio::test]
async fn reload_swaps_a_good_file_and_keeps_serving_with_a_broken_one() {
    let t = Setup::jira().start_from_file().await;
    assert_eq!(t.get("/rest/api/2/serverInfo").send().await.status, 200);

    // A good file: the new deny rule applies.
    let good = format!(
        "{}\n[access]\ndeny = [\"GET /rest/api/2/serverInfo\"]\n",
        t.toml
    );
    std::fs::write(t.config_path(), good).unwrap();
    authgate::app::reload(&t.gateway.state)
        .await
        .expect("a good file reloads");
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!((r.status, r.reason().as_str()), (403, "denied_path"));

    // A broken file: refused with the key at fault, the last good config keeps serving.
    let broken = format!("{}\n[auth]\nenabeld = false\n", t.toml);
    std::fs::write(t.config_path(), broken).unwrap();
    let err = authgate::app::reload(&t.gateway.state)
        .await
        .expect_err("a broken file is refused");
    assert!(err.contains("enabeld"), "{err}");
    let r = t.get("/rest/api/2/serverInfo").send().await;
    assert_eq!((r.status, r.reason().as_str()), (403, "denied_path"));
    assert_eq!(t.get("/status").send().await.status, 200);
}

#[tokio::test]
async fn a_request_with_both_framings_reaches_the_product_with_one() {
    let t = Setup::jira().start().await;
    let req = "POST /rest/api/2/search HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\
               Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let r = t.raw(req.as_bytes()).await;
    let seen = t.jira.requests();
    // hyper reads the chunked body (RFC 9112 §6.3: Transfer-Encoding wins); authgate drops
    // Content-Length so the product cannot read the body another way.
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(seen.len(), 1);
    let framings = seen[0].header_values("content-length").len()
        + seen[0].header_values("transfer-encoding").len();
    assert_eq!(framings, 1, "{:?}", seen[0].headers);
    assert_eq!(&seen[0].body[..], b"hello");
}

#[tokio::test]
async fn http2_clients_are_served_and_the_product_gets_http1() {
    let t = Setup::jira().start().await;
    let stream = tokio::net::TcpStream::connect(t.gateway.addr)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("http://jira.example.com/rest/api/2/serverInfo?a=1")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(CALL_LIMIT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let seen = t.jira.requests();
    assert_eq!(seen[0].target, "/rest/api/2/serverInfo?a=1");
    assert_eq!(
        seen[0].header("x-forwarded-host").as_deref(),
        Some("jira.example.com")
    );
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413_declared_or_streamed() {
    let t = Setup::jira()
        .with("[server]\nmax_body_bytes = 1024")
        .start()
        .await;
    let r = t
        .post("/rest/api/2/search")
        .body(vec![b'x'; 2048])
        .send()
        .await;
    assert_eq!((r.status, r.reason().as_str()), (413, "body_too_large"));
    assert!(t.jira.requests().is_empty());

    // Chunked, so the size is only known while streaming.
    let upload = t.upload("POST", "/rest/api/2/search", &[]).await;
    upload.send(vec![b'x'; 800]).await;
    upload.send(vec![b'x'; 800]).await;
    let answer = upload.finish().await;
    assert_eq!(answer.status(), 413, "{:?}", answer.body());
    let body: serde_json::Value = serde_json::from_slice(answer.body()).unwrap_or_default();
    assert_eq!(body["reason"], "body_too_large");

    // Under the limit it goes through.
    let r = t
        .post("/rest/api/2/search")
        .body(vec![b'x'; 512])
        .send()
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off_after_header_timeout() {
    let t = Setup::jira()
        .with("[server]\nheader_timeout = \"1s\"")
        .start()
        .await;
    // No blank line: the head never ends. `raw` fails the test unless authgate closes the
    // connection (within CALL_LIMIT, far above the 1 s header timeout).
    let r = t
        .raw(b"GET /rest/api/2/serverInfo HTTP/1.1\r\nHost: j\r\nX-Slow: 1\r\n")
        .await;
    assert_ne!(r.status, 200);
    assert!(t.jira.requests().is_empty());
}
