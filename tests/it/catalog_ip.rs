//! Catalog §N (docs/catalog.md): the IP allow-list and client-IP derivation. Peers are picked by
//! binding 127.0.0.x as the source address. The upstream must see nothing for a denial.

use std::net::IpAddr;

use crate::support::harden::{get_text, raw_from, Harness, RawResponse, P, T};

const ALLOW_1: &str = "[ip]\nallow = [\"127.0.0.1/32\"]\n";
const ALLOW_1_TP: &str = "[ip]\nallow = [\"127.0.0.1/32\"]\ntrusted_proxies = [\"127.0.0.3/32\"]\n";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

async fn from(h: &Harness, src: &str, target: &str, headers: &[&str]) -> RawResponse {
    raw_from(ip(src), h.gw.addr, get_text(target, headers).as_bytes()).await
}

#[tokio::test]
async fn n01_n02_spoofed_forwarding_headers_are_ignored_without_a_trusted_proxy() {
    let h = Harness::catalog(ALLOW_1).await;
    for hdr in [
        "X-Forwarded-For: 127.0.0.1",
        "X-Real-IP: 127.0.0.1",
        "Forwarded: for=127.0.0.1",
        "True-Client-IP: 127.0.0.1",
        "CF-Connecting-IP: 127.0.0.1",
        "X-Client-IP: 127.0.0.1",
    ] {
        let resp = from(&h, "127.0.0.9", P, &[hdr]).await;
        h.assert_denied(&resp, 403, "ip_denied", &format!("N-01/N-02 {hdr}"))
            .await;
    }
    // The allowed peer itself passes (the bypassed public path is an API path: guarded).
    let resp = from(&h, "127.0.0.1", P, &[]).await;
    h.assert_forwarded(&resp, P, None, "N-01 allowed peer")
        .await;
}

#[tokio::test]
async fn n03_n04_the_rightmost_untrusted_entry_is_the_client() {
    let h = Harness::catalog(ALLOW_1_TP).await;
    let resp = from(
        &h,
        "127.0.0.3",
        P,
        &["X-Forwarded-For: 127.0.0.1, 127.0.0.9"],
    )
    .await;
    h.assert_denied(&resp, 403, "ip_denied", "N-03").await;
    let resp = from(
        &h,
        "127.0.0.3",
        P,
        &["X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: 127.0.0.9"],
    )
    .await;
    h.assert_denied(&resp, 403, "ip_denied", "N-04 two lines")
        .await;
    // Reversed lines: the rightmost entry is now the allowed one.
    let resp = from(
        &h,
        "127.0.0.3",
        P,
        &["X-Forwarded-For: 127.0.0.9", "X-Forwarded-For: 127.0.0.1"],
    )
    .await;
    let seen = h.assert_forwarded(&resp, P, None, "N-04 reversed").await;
    // The trusted peer's chain is kept and the peer appended
    // (docs/http.md#what-reaches-the-product).
    assert_eq!(
        seen.headers["x-forwarded-for"],
        "127.0.0.9, 127.0.0.1, 127.0.0.3"
    );
    // Trusted proxies are skipped from the right.
    let resp = from(
        &h,
        "127.0.0.3",
        P,
        &["X-Forwarded-For: 127.0.0.1, 127.0.0.3"],
    )
    .await;
    h.assert_forwarded(&resp, P, None, "N-03 trusted hop skipped")
        .await;
}

#[tokio::test]
async fn n05_a_trusted_proxy_without_xff_is_judged_by_its_own_address() {
    // docs/http.md step 3: with no entry to walk, the client is the peer. The proxy is not
    // in `ip.allow`, so everyone behind it is refused (the catalog's preferred outcome).
    let h = Harness::catalog(ALLOW_1_TP).await;
    let resp = from(&h, "127.0.0.3", P, &[]).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-05").await;
}

#[tokio::test]
async fn n06_malformed_entries_at_the_deciding_position_are_denied() {
    let h = Harness::catalog(ALLOW_1_TP).await;
    for entry in [
        "unknown",
        "127.0.0.1:8080",
        "[::1]:80",
        "fe80::1%eth0",
        "0177.0.0.1",
        "127.000.000.001",
        "127.1",
        "2130706433",
        "0x7f000001",
        "127.0.0.1, ",
        "127.0.0.1,,",
        "127.0.0.1/32",
    ] {
        let resp = from(&h, "127.0.0.3", P, &[&format!("X-Forwarded-For: {entry}")]).await;
        h.assert_denied(&resp, 403, "ip_denied", &format!("N-06 {entry:?}"))
            .await;
    }
    // Surrounding spaces are list whitespace, not part of the address.
    let resp = from(
        &h,
        "127.0.0.3",
        P,
        &["X-Forwarded-For: 127.0.0.9 ,  127.0.0.1 "],
    )
    .await;
    h.assert_forwarded(&resp, P, None, "N-06 spaces").await;
    // 1 000 entries: bounded parsing; the rightmost decides.
    let long = format!("X-Forwarded-For: {}127.0.0.1", "127.0.0.9, ".repeat(999));
    let resp = from(&h, "127.0.0.3", P, &[&long]).await;
    h.assert_forwarded(&resp, P, None, "N-06 1000 entries")
        .await;
    // A 60 KB line does not fit the head limit: hyper's 431, nothing forwarded.
    let huge = format!("X-Forwarded-For: {}127.0.0.1", "1".repeat(60_000));
    let resp = from(&h, "127.0.0.3", P, &[&huge]).await;
    assert_eq!(resp.status, 431, "N-06 60 KB");
    assert!(h.up.seen().is_empty());
}

#[tokio::test]
async fn n07_ipv4_mapped_ipv6_peers_compare_as_ipv4() {
    // A dual-stack listener: the peer arrives as ::ffff:127.0.0.1.
    async fn mapped(extra: &str) -> Option<(Harness, std::net::SocketAddr)> {
        // No IPv6 on this host: the mapping is still covered by the ip_filter unit tests.
        let listener = tokio::net::TcpListener::bind("[::]:0").await.ok()?;
        let port = listener.local_addr().ok()?.port();
        let h = Harness::catalog_on(listener, extra).await;
        Some((h, format!("[::ffff:127.0.0.1]:{port}").parse().ok()?))
    }
    let Some((h, target)) = mapped(ALLOW_1).await else {
        return;
    };
    let resp = crate::support::harden::raw(target, get_text(P, &[]).as_bytes()).await;
    h.assert_forwarded(&resp, P, None, "N-07 mapped allowed")
        .await;
    // Deny-list variant: an allow-list that excludes 127.0.0.1 still excludes its mapped form.
    let Some((h, target)) = mapped("[ip]\nallow = [\"127.0.0.2/32\"]\n").await else {
        return;
    };
    let resp = crate::support::harden::raw(target, get_text(P, &[]).as_bytes()).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-07 mapped denied")
        .await;
}

#[tokio::test]
async fn n08_cidr_edges() {
    let h = Harness::catalog("[ip]\nallow = [\"127.0.0.4/30\"]\n").await;
    for (src, ok) in [
        ("127.0.0.3", false),
        ("127.0.0.4", true),
        ("127.0.0.7", true),
        ("127.0.0.8", false),
    ] {
        let resp = from(&h, src, P, &[]).await;
        if ok {
            h.assert_forwarded(&resp, P, None, &format!("N-08 {src}"))
                .await;
        } else {
            h.assert_denied(&resp, 403, "ip_denied", &format!("N-08 {src}"))
                .await;
        }
    }
    // Host bits set in the config are masked (documented in ip_filter::parse_net).
    let h = Harness::catalog("[ip]\nallow = [\"127.0.0.5/30\"]\n").await;
    let resp = from(&h, "127.0.0.4", P, &[]).await;
    h.assert_forwarded(&resp, P, None, "N-08 masked").await;
}

#[tokio::test]
async fn n10_the_ip_check_comes_before_any_token_work() {
    let h = Harness::catalog(ALLOW_1).await;
    let resp = from(&h, "127.0.0.9", T, &["Authorization: Bearer not.a.token"]).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-10 bad token")
        .await;
    let resp = from(&h, "127.0.0.9", T, &["Authorization: Digest x"]).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-10 unsupported scheme")
        .await;
}

#[tokio::test]
async fn n11_public_and_non_api_paths_follow_ip_scope() {
    // scope = "api" (default): a non-API path is not guarded; the bypassed API path is.
    let h = Harness::catalog(ALLOW_1).await;
    let resp = from(&h, "127.0.0.9", "/status", &[]).await;
    h.assert_forwarded(&resp, "/status", None, "N-11 /status scope=api")
        .await;
    let resp = from(&h, "127.0.0.9", P, &[]).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-11 P scope=api")
        .await;
    // scope = "all": every path is guarded.
    let h = Harness::catalog("[ip]\nallow = [\"127.0.0.1/32\"]\nscope = \"all\"\n").await;
    let resp = from(&h, "127.0.0.9", "/status", &[]).await;
    h.assert_denied(&resp, 403, "ip_denied", "N-11 /status scope=all")
        .await;
}
