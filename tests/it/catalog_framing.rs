//! Catalog §S (docs/catalog.md): HTTP framing and smuggling through hyper (front) and the pooled
//! client (back). S-07, S-08, S-11 and S-12 are in `hostile.rs`. Oracles: the refusal, and
//! that the upstream saw exactly the requests authgate judged, each with one framing.

use crate::support::harden::{Harness, P, T};

fn assert_400_nothing_forwarded(
    h: &Harness,
    resp: &crate::support::harden::RawResponse,
    case: &str,
) {
    assert_eq!(resp.status, 400, "{case}: {}", resp.text);
    let seen = h.up.seen();
    assert!(seen.is_empty(), "{case}: forwarded {seen:?}");
}

#[tokio::test]
async fn s01_s14_cl_plus_te_smuggling_reaches_the_upstream_as_one_request() {
    let h = Harness::catalog("").await;
    let req = format!(
        "POST /status HTTP/1.1\r\nHost: jira.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {T} HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n\r\n"
    );
    let resp = h.raw(req.as_bytes()).await;
    let seen = h.up.seen();
    // Either hyper refuses the conflicting framing (400), or the POST is forwarded with one
    // framing and the smuggled GET is judged on its own (401) — never forwarded.
    assert!(
        seen.iter().all(|s| s.target != T),
        "S-01: the smuggled request reached the upstream"
    );
    assert!(seen.len() <= 1, "S-01: {seen:?}");
    for s in &seen {
        assert!(
            !(s.headers.contains_key("content-length")
                && s.headers.contains_key("transfer-encoding")),
            "S-01: both framings forwarded"
        );
    }
    if resp.status != 400 {
        assert!(
            resp.text.contains("credential_required") || seen.len() == 1,
            "S-01: {}",
            resp.text
        );
    }
    // S-14: the next client's request is not prefixed or altered.
    h.up.clear();
    let resp = h.get(P, &[]).await;
    let s = h.assert_forwarded(&resp, P, None, "S-14").await;
    assert_eq!(s.method, "GET");
}

#[tokio::test]
async fn s02_invalid_transfer_codings_are_refused() {
    let h = Harness::catalog("").await;
    for te in ["gzip", "chunked, gzip", "xchunked", "identity"] {
        let req = format!(
            "POST /status HTTP/1.1\r\nHost: jira.test\r\nTransfer-Encoding: {te}\r\nConnection: close\r\n\r\n0\r\n\r\n"
        );
        let resp = h.raw(req.as_bytes()).await;
        assert_400_nothing_forwarded(&h, &resp, &format!("S-02 {te}"));
    }
    let req = "POST /status HTTP/1.1\r\nHost: jira.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nConnection: close\r\n\r\n0\r\n\r\n";
    let resp = h.raw(req.as_bytes()).await;
    assert_400_nothing_forwarded(&h, &resp, "S-02 two TE lines ending identity");
}

#[tokio::test]
async fn s03_odd_content_lengths_are_refused() {
    let h = Harness::catalog("").await;
    for cl in [
        "Content-Length: +5",
        "Content-Length: 0x5",
        "Content-Length: 5, 6",
        "Content-Length: -1",
    ] {
        let req = format!(
            "POST /status HTTP/1.1\r\nHost: jira.test\r\n{cl}\r\nConnection: close\r\n\r\nhello"
        );
        let resp = h.raw(req.as_bytes()).await;
        assert_400_nothing_forwarded(&h, &resp, &format!("S-03 {cl}"));
    }
    let req = "POST /status HTTP/1.1\r\nHost: jira.test\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!";
    let resp = h.raw(req.as_bytes()).await;
    assert_400_nothing_forwarded(&h, &resp, "S-03 two differing");
}

#[tokio::test]
async fn s04_broken_chunks_never_reach_the_upstream_as_a_complete_request() {
    let h = Harness::catalog("").await;
    for body in [
        "ffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        "5;a=\rb\r\nhello\r\n0\r\n\r\n",
    ] {
        let req = format!(
            "POST /status HTTP/1.1\r\nHost: jira.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        );
        let resp = h.raw(req.as_bytes()).await;
        // The head is valid, so the request is already on its way when the body breaks:
        // the upstream request fails (502) or hyper answers 400; the upstream recorder,
        // which only records complete requests, saw none.
        assert!(
            matches!(resp.status, 400 | 502 | 0),
            "S-04 {body:?}: {}",
            resp.text
        );
        assert!(
            h.up.seen().is_empty(),
            "S-04 {body:?}: a broken body was forwarded whole"
        );
    }
    // A bare LF in a chunk line: hyper reads it leniently. authgate re-frames every body
    // it forwards, so the product sees one well-formed request with exactly the decoded
    // body — no desync is possible downstream (the catalog's concern); or it is refused.
    let req = "POST /status HTTP/1.1\r\nHost: jira.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\nhello\r\n0\r\n\r\n";
    let resp = h.raw(req.as_bytes()).await;
    if resp.status == 200 {
        let s = h
            .assert_forwarded(&resp, "/status", None, "S-04 bare LF")
            .await;
        assert_eq!(&s.body[..], b"hello");
    } else {
        assert!(
            matches!(resp.status, 400 | 502),
            "S-04 bare LF: {}",
            resp.text
        );
        assert!(h.up.seen().is_empty());
    }
    // No desync: the next request is clean.
    let resp = h.get(P, &[]).await;
    h.assert_forwarded(&resp, P, None, "S-04 after").await;
}

#[tokio::test]
async fn s05_s06_malformed_heads_are_refused() {
    let h = Harness::catalog("").await;
    for req in [
        "POST /status HTTP/1.1\r\nHost: jira.test\r\nContent-Length : 5\r\nConnection: close\r\n\r\nhello",
        "GET /status HTTP/1.1\r\nHost: jira.test\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n",
        "GET /status HTTP/1.1\r\nHost: jira.test\r\nX-A: a\0b\r\nConnection: close\r\n\r\n",
        "POST /status HTTP/1.0\r\nHost: jira.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let resp = h.raw(req.as_bytes()).await;
        assert_400_nothing_forwarded(&h, &resp, &format!("S-05/S-06 {req:?}"));
    }
}

#[tokio::test]
async fn s09_a_slow_body_is_cut_by_the_request_timeout() {
    let h = Harness::start(
        "request_timeout = \"1s\"",
        &crate::support::harden::fixture(""),
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(h.gw.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"POST /status HTTP/1.1\r\nHost: jira.test\r\nContent-Length: 100\r\n\r\nab")
        .await
        .expect("write");
    let mut buf = Vec::new();
    // The rest of the body never comes. The answer must come within a generous bound (the
    // connection may stay open after it, so the read itself may run to the bound).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    let resp = crate::support::client::RawResponse::parse(&buf);
    assert_eq!(resp.status, 504, "S-09: no 504 within 15 s: {}", resp.text);
    assert!(
        resp.body().contains("\"reason\":\"upstream_timeout\""),
        "S-09: {}",
        resp.text
    );
    assert!(
        h.up.seen().is_empty(),
        "S-09: an incomplete body was recorded as a request"
    );
}

#[tokio::test]
async fn s10_a_declared_body_over_the_limit_is_refused_unread() {
    let h = Harness::start(
        "max_body_bytes = 1024",
        &crate::support::harden::fixture(""),
    )
    .await;
    let req = "POST /status HTTP/1.1\r\nHost: jira.test\r\nContent-Length: 2147483648\r\nConnection: close\r\n\r\nxxxx";
    let resp = h.raw(req.as_bytes()).await;
    h.assert_denied(&resp, 413, "body_too_large", "S-10 2 GB declared")
        .await;
    // An endless chunked body under the limit is cut at the cap: never forwarded whole.
    let mut req = b"POST /status HTTP/1.1\r\nHost: jira.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..64 {
        req.extend_from_slice(b"400\r\n");
        req.extend(std::iter::repeat_n(b'x', 0x400));
        req.extend_from_slice(b"\r\n");
    }
    let resp = h.raw(&req).await;
    h.assert_denied(&resp, 413, "body_too_large", "S-10 chunked over the limit")
        .await;
    assert!(
        h.up.seen().is_empty(),
        "S-10: an over-limit body was forwarded whole"
    );
}

#[tokio::test]
async fn s13_pipelined_requests_are_judged_on_their_own() {
    let h = Harness::catalog("").await;
    // A pass-through Basic caller, then an anonymous request on the same connection.
    let req = format!(
        "GET {T} HTTP/1.1\r\nHost: jira.test\r\nAuthorization: Basic YWxpY2U6YWxpY2UtcHc=\r\n\r\nGET {T} HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n\r\n"
    );
    let resp = h.raw(req.as_bytes()).await;
    assert!(
        resp.text.starts_with("HTTP/1.1 200"),
        "S-13 first: {}",
        resp.text
    );
    let second = resp
        .text
        .match_indices("HTTP/1.1 ")
        .nth(1)
        .map(|(i, _)| &resp.text[i..]);
    let second = second.expect("S-13: a second response");
    assert!(second.starts_with("HTTP/1.1 401"), "S-13 second: {second}");
    assert!(
        second.contains("credential_required"),
        "S-13 second: {second}"
    );
    let seen = h.up.seen();
    assert_eq!(seen.len(), 1, "S-13: only the first request is forwarded");
    assert_eq!(
        seen[0].headers["authorization"],
        "Basic YWxpY2U6YWxpY2UtcHc="
    );
}
