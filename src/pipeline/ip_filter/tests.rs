use super::*;
use http::HeaderValue;

fn filter(allow: &[&str], trusted: &[&str]) -> IpFilter {
    IpFilter::new(
        allow.iter().map(|a| parse_net(a).unwrap()).collect(),
        IpScope::Api,
        trusted.iter().map(|a| parse_net(a).unwrap()).collect(),
        HeaderName::from_static("x-forwarded-for"),
    )
}

fn headers(lines: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for l in lines {
        h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
    }
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn client_ip_derivation_table() {
    let f = filter(&[], &["127.0.0.3/32", "10.0.0.0/8"]);
    let cases: &[(&str, &[&str], ClientIp)] = &[
        // untrusted peer: header ignored
        ("127.0.0.9", &["1.2.3.4"], ClientIp::Addr(ip("127.0.0.9"))),
        // trusted peer: rightmost untrusted wins
        (
            "127.0.0.3",
            &["6.6.6.6, 1.2.3.4"],
            ClientIp::Addr(ip("1.2.3.4")),
        ),
        (
            "127.0.0.3",
            &["6.6.6.6, 1.2.3.4, 10.1.1.1"],
            ClientIp::Addr(ip("1.2.3.4")),
        ),
        // all lines joined, later lines further right
        (
            "127.0.0.3",
            &["6.6.6.6", "1.2.3.4"],
            ClientIp::Addr(ip("1.2.3.4")),
        ),
        // malformed entries stop the walk
        (
            "127.0.0.3",
            &["1.2.3.4, 010.0.0.1"],
            ClientIp::Malformed("010.0.0.1".into()),
        ),
        (
            "127.0.0.3",
            &["1.2.3.4, fe80::1%eth0"],
            ClientIp::Malformed("fe80::1%eth0".into()),
        ),
        (
            "127.0.0.3",
            &["1.2.3.4:80"],
            ClientIp::Malformed("1.2.3.4:80".into()),
        ),
        (
            "127.0.0.3",
            &["garbage"],
            ClientIp::Malformed("garbage".into()),
        ),
        // mapped IPv6 folds to IPv4
        (
            "127.0.0.3",
            &["::ffff:1.2.3.4"],
            ClientIp::Addr(ip("1.2.3.4")),
        ),
        ("::ffff:127.0.0.9", &[], ClientIp::Addr(ip("127.0.0.9"))),
        // trusted peer, no header: the peer
        ("127.0.0.3", &[], ClientIp::Addr(ip("127.0.0.3"))),
    ];
    for (peer, lines, want) in cases {
        assert_eq!(
            &f.client_ip(ip(peer), &headers(lines)),
            want,
            "{peer} {lines:?}"
        );
    }
}

#[test]
fn allow_list_table() {
    let f = filter(&["127.0.0.1/32", "2001:db8::/32"], &[]);
    let allowed = |c: ClientIp| matches!(f.check(&c), Decision::Continue);
    assert!(allowed(ClientIp::Addr(ip("127.0.0.1"))));
    assert!(allowed(ClientIp::Addr(ip("2001:db8::5"))));
    assert!(!allowed(ClientIp::Addr(ip("127.0.0.2"))));
    assert!(!allowed(ClientIp::Malformed("127.0.0.1 ".into())));
    let open = filter(&[], &[]);
    assert!(matches!(
        open.check(&ClientIp::Addr(ip("9.9.9.9"))),
        Decision::Continue
    ));
}

#[test]
fn strict_parsing() {
    for bad in [
        "01.2.3.4",
        "1.2.3",
        "0x7f.0.0.1",
        "fe80::1%1",
        "1.2.3.4/033",
        "1.2.3.4/",
        "1.2.3.4/33",
    ] {
        assert!(parse_net(bad).is_none(), "{bad}");
    }
    assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
}
