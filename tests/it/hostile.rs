//! Hostile clients against a real gateway (catalog §S, docs/catalog.md): slowloris,
//! idle-connection floods, unread uploads to denied paths, oversized heads, HTTP/2 rapid reset
//! and CONTINUATION floods. Every loop is bounded in count and time; what is asserted is the
//! outcome (closed, refused, still serving), never a speed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::harden::Harness;

const SERVER: &str = r#"header_timeout = "1s"
max_connections = 64"#;

const DENY: &str = r#"
[access]
deny = ["/rest/deny/**"]
"#;

/// Reads with a bound; true when the peer closed (EOF or reset).
async fn closed_within(s: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(bound, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        // Bytes (e.g. a 408) are fine as long as the close follows.
        Ok(Ok(_)) => matches!(
            tokio::time::timeout(bound, s.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        ),
        Err(_) => false,
    }
}

#[tokio::test]
async fn slowloris_is_cut_off_by_the_header_timeout() {
    let h = Harness::start(SERVER, DENY).await;
    let mut s = TcpStream::connect(h.gw.addr).await.expect("connect");
    s.write_all(b"GET /rest/api/2/serverInfo HTTP/1.1\r\nHost: a\r\n")
        .await
        .expect("first bytes");
    // Dribble one header byte every 200 ms; bounded at 50 bytes (10 s) — far past the 1 s
    // timeout, so an open connection at the end means the timeout does not work.
    let mut closed = false;
    for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .iter()
        .take(50)
    {
        if s.write_all(&[*b]).await.is_err()
            || closed_within(&mut s, Duration::from_millis(200)).await
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a client dribbling its head kept the connection past server.header_timeout"
    );
    assert!(h.up.seen().is_empty(), "nothing reaches the upstream");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let h = Harness::start(SERVER, DENY).await;
    let mut s = TcpStream::connect(h.gw.addr).await.expect("connect");
    assert!(
        closed_within(&mut s, Duration::from_secs(10)).await,
        "a silent connection was held past server.header_timeout (it would pin a max_connections slot)"
    );
}

#[tokio::test]
async fn idle_connections_do_not_stop_service() {
    // 64 slots, 1 000 silent connections (bounded), then one normal client. The idle ones are
    // cut by the 1 s header timeout, 64 at a time, so the normal client is served once the
    // backlog ahead of it drains (`server.max_connections`: accepted connections beyond the cap
    // wait in the kernel backlog).
    let h = Harness::start(SERVER, DENY).await;
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(h.gw.addr)).await {
            Ok(Ok(s)) => idle.push(s),
            _ => break,
        }
    }
    assert!(
        idle.len() >= 500,
        "the test could open only {} idle connections",
        idle.len()
    );
    // The normal client: its handshake completes in the kernel backlog; it is answered once
    // the idle connections ahead of it have been cut (64 per second here). Bounded at 90 s.
    let mut s = TcpStream::connect(h.gw.addr)
        .await
        .expect("connect normal client");
    s.write_all(b"GET /rest/api/2/serverInfo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .expect("write request");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), s.read_to_end(&mut buf))
        .await
        .expect("the normal client was served within 90 s")
        .expect("read response");
    let resp = crate::support::client::RawResponse::parse(&buf);
    assert_eq!(
        resp.status, 200,
        "normal client after an idle flood: {}",
        resp.text
    );
    assert_eq!(h.up.seen().len(), 1);
    drop(idle);
}

#[tokio::test]
async fn an_endless_upload_to_a_denied_path_is_refused_before_the_body_is_read() {
    let h = Harness::start(SERVER, DENY).await;
    let s = TcpStream::connect(h.gw.addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    // "10 GiB" with no Content-Length, generated lazily; bounded at 256 MiB in this test.
    const CAP: u64 = 256 << 20;
    let written = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&written);
    let writer = tokio::spawn(async move {
        let head = b"POST /rest/deny/attachments HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        if wr.write_all(head).await.is_err() {
            return false;
        }
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(b'x', 0x10000));
        chunk.extend_from_slice(b"\r\n");
        while w.load(Ordering::Relaxed) < CAP {
            if wr.write_all(&chunk).await.is_err() {
                return false; // the server closed the connection: it stopped reading
            }
            w.fetch_add(0x10000, Ordering::Relaxed);
        }
        true
    });
    let mut buf = Vec::new();
    let mut at_response = None;
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 4096];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if at_response.is_none() && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        at_response = Some(written.load(Ordering::Relaxed));
                    }
                }
            }
        }
    })
    .await;
    let wrote_everything = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("writer ends once the server stops reading")
        .expect("writer task");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 403"),
        "expected 403, got: {text}"
    );
    assert!(text.contains("denied_path"), "{text}");
    let sent = at_response.expect("a response head arrived");
    assert!(
        sent < 32 << 20,
        "the response came only after {sent} body bytes: the body was read"
    );
    assert!(
        !wrote_everything,
        "the server read the whole {CAP}-byte body"
    );
    assert!(h.up.seen().is_empty(), "nothing reaches the upstream");
}

#[tokio::test]
async fn a_one_megabyte_header_set_gets_431() {
    let h = Harness::start(SERVER, DENY).await;
    let mut req =
        b"GET /rest/api/2/serverInfo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n".to_vec();
    let value = "v".repeat(1000);
    for i in 0..1000 {
        req.extend_from_slice(format!("X-Big-{i}: {value}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert!(req.len() > 1_000_000);
    let resp = h.raw(&req).await;
    assert_eq!(
        resp.status,
        431,
        "{}",
        resp.text.chars().take(200).collect::<String>()
    );
    assert!(h.up.seen().is_empty());
}

#[tokio::test]
async fn more_than_100_header_fields_get_431() {
    let h = Harness::start(SERVER, DENY).await;
    let headers: Vec<String> = (0..101).map(|i| format!("X-H{i}: v")).collect();
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let resp = h.get("/rest/api/2/serverInfo", &refs).await;
    assert_eq!(resp.status, 431, "{}", resp.text);
    assert!(h.up.seen().is_empty());
    // 90 fields are fine (the limit is the count, not a side effect of size).
    let headers: Vec<String> = (0..90).map(|i| format!("X-H{i}: v")).collect();
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    assert_eq!(h.get("/rest/api/2/serverInfo", &refs).await.status, 200);
}

#[tokio::test]
async fn a_target_over_8_kib_gets_414() {
    let h = Harness::start(SERVER, DENY).await;
    let target = format!("/rest/api/2/search?jql={}", "a".repeat(9000));
    let resp = h.get(&target, &[]).await;
    assert_eq!(
        resp.status,
        414,
        "{}",
        resp.text.chars().take(300).collect::<String>()
    );
    assert!(resp.body().contains("target_too_long"), "{}", resp.body());
    assert!(h.up.seen().is_empty());
    let ok = format!("/rest/api/2/search?jql={}", "a".repeat(7000));
    assert_eq!(h.get(&ok, &[]).await.status, 200);
}

async fn h2_get(addr: std::net::SocketAddr, path: &str) -> Result<u16, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (client, conn) = h2::client::handshake(tcp)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let req = http::Request::get(format!("http://127.0.0.1{path}"))
        .body(())
        .map_err(|e| e.to_string())?;
    let (resp, _) = client.send_request(req, true).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .map_err(|_| "no h2 response in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    task.abort();
    Ok(resp.status().as_u16())
}

#[tokio::test]
async fn http2_rapid_reset_does_not_kill_the_server() {
    let h = Harness::start(SERVER, DENY).await;
    assert_eq!(
        h2_get(h.gw.addr, "/rest/api/2/serverInfo").await,
        Ok(200),
        "h2 works at all"
    );
    let tcp = TcpStream::connect(h.gw.addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let mut client = client;
    let mut opened = 0;
    // Open and immediately reset up to 5 000 streams (bounded), until the server says stop.
    for _ in 0..5000 {
        let Ok(Ok(mut ready)) =
            tokio::time::timeout(Duration::from_secs(5), client.clone().ready()).await
        else {
            break;
        };
        let req = http::Request::post("http://127.0.0.1/rest/deny/x")
            .body(())
            .expect("request");
        match ready.send_request(req, false) {
            Ok((_resp, mut stream)) => {
                stream.send_reset(h2::Reason::CANCEL);
                opened += 1;
            }
            Err(_) => break,
        }
        client = ready;
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(opened > 0, "the flood did not start");
    // The server is alive and serves both protocols.
    let resp = h.get("/rest/api/2/serverInfo", &[]).await;
    assert_eq!(
        resp.status, 200,
        "HTTP/1 after the rapid-reset flood: {}",
        resp.text
    );
    assert_eq!(
        h2_get(h.gw.addr, "/rest/api/2/serverInfo").await,
        Ok(200),
        "HTTP/2 after the flood"
    );
}

/// One HTTP/2 frame header.
fn frame(len: usize, kind: u8, flags: u8, stream: u32) -> [u8; 9] {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    [l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]
}

#[tokio::test]
async fn http2_continuation_flood_is_bounded() {
    let h = Harness::start(SERVER, DENY).await;
    let s = TcpStream::connect(h.gw.addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    const CAP: u64 = 64 << 20;
    let written = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&written);
    let writer = tokio::spawn(async move {
        let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        start.extend_from_slice(&frame(0, 0x4, 0, 0)); // SETTINGS
                                                       // HEADERS on stream 1: GET http://a/ — END_STREAM, but never END_HEADERS.
        let block: &[u8] = &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'];
        start.extend_from_slice(&frame(block.len(), 0x1, 0x1, 1));
        start.extend_from_slice(block);
        if wr.write_all(&start).await.is_err() {
            return false;
        }
        // CONTINUATION frames of 16 KiB, each full of literal header fields, without end.
        let mut entry = vec![0x00, 0x06];
        entry.extend_from_slice(b"x-aaaa");
        entry.push(100);
        entry.extend(std::iter::repeat_n(b'a', 100));
        let payload: Vec<u8> = entry.iter().copied().cycle().take(16384).collect();
        let mut cont = frame(payload.len(), 0x9, 0, 1).to_vec();
        cont.extend_from_slice(&payload);
        while w.load(Ordering::Relaxed) < CAP {
            if wr.write_all(&cont).await.is_err() {
                return false;
            }
            w.fetch_add(cont.len() as u64, Ordering::Relaxed);
        }
        true
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = rd.read(&mut chunk).await {
            if n == 0 || got.len() > 1 << 20 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let wrote_everything = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("writer ends once the server closes")
        .expect("writer task");
    assert!(
        !wrote_everything,
        "the server kept reading an endless header block"
    );
    // Walk the server's frames: a GOAWAY (type 7) is how h2 refuses the flood.
    let mut i = 0;
    let mut goaway = false;
    while i + 9 <= got.len() {
        let len = u32::from_be_bytes([0, got[i], got[i + 1], got[i + 2]]) as usize;
        goaway |= got[i + 3] == 0x7;
        i += 9 + len;
    }
    assert!(
        goaway,
        "expected a GOAWAY from the server, got {} bytes",
        got.len()
    );
    assert!(h.up.seen().is_empty());
    assert_eq!(
        h.get("/rest/api/2/serverInfo", &[]).await.status,
        200,
        "still serving"
    );
}
