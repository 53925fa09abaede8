use super::*;
use crate::carriers::{Carriers, Params};
use http::HeaderValue;

fn jira() -> Carriers {
    Carriers::new(crate::carriers::JIRA_SESSION_COOKIES, &[])
}

fn params(query: &str) -> Params {
    let mut p = Params::default();
    crate::carriers::scan_params(query, &mut p);
    p
}

fn switches() -> AuthSwitches {
    crate::config::from_toml("").unwrap().auth
}

fn h(auth: &[&str], cookie: Option<&str>) -> HeaderMap {
    let mut m = HeaderMap::new();
    for a in auth {
        m.append(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
    }
    if let Some(c) = cookie {
        m.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
    }
    m
}

const PAT: &str = "NjE4MzQ5NTg3NjQ0OkZ3c2t0bG9xYm5vZ2RwYmRrZmRz";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

#[test]
fn classification_order() {
    assert_eq!(PAT.len(), 44);
    let cases: Vec<(HeaderMap, Result<Credential, Reason>)> = vec![
        (
            h(&["Basic YWxpY2U6cHc="], None),
            Ok(Credential::Basic {
                username: "alice".into(),
            }),
        ),
        (
            h(&["basic YWxpY2U6cHc="], None),
            Ok(Credential::Basic {
                username: "alice".into(),
            }),
        ),
        (
            h(&["Bearer gw_abc"], None),
            Ok(Credential::GatewayToken("gw_abc".into())),
        ),
        (
            h(&[&format!("Bearer {JWT}")], None),
            Ok(Credential::Jwt(JWT.into())),
        ),
        (
            h(&[&format!("BEARER {JWT}")], None),
            Ok(Credential::Jwt(JWT.into())),
        ),
        (
            h(&["Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."], None),
            Ok(Credential::Jwt(
                "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
            )),
        ),
        (
            h(&[&format!("Bearer {PAT}")], None),
            Ok(Credential::Pat(PAT.into())),
        ),
        (
            h(&["Bearer opaque-123"], None),
            Ok(Credential::Opaque("opaque-123".into())),
        ),
        (h(&[], Some("JSESSIONID=abc")), Ok(Credential::Session)),
        (
            h(&[], Some("a=b; seraph.rememberme.cookie=x")),
            Ok(Credential::Session),
        ),
        (h(&[], Some("atlassian.xsrf.token=x")), Ok(Credential::None)),
        (h(&[], None), Ok(Credential::None)),
        (
            h(&["Bearer a", "Bearer b"], None),
            Err(Reason::MalformedRequest),
        ),
        (h(&["JWT abc"], None), Err(Reason::UnsupportedScheme)),
        (h(&["Digest x"], None), Err(Reason::UnsupportedScheme)),
        (h(&["Negotiate x"], None), Err(Reason::UnsupportedScheme)),
        (h(&["Bearer"], None), Err(Reason::MalformedToken)),
        (h(&["Bearer   "], None), Err(Reason::MalformedToken)),
        (
            h(
                &[&format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1))],
                None,
            ),
            Err(Reason::MalformedToken),
        ),
    ];
    for (headers, want) in cases {
        let got = classify(&headers, &jira(), &Params::default()).map_err(|r| r.reason);
        assert_eq!(got, want, "{headers:?}");
    }
}

#[test]
fn switches_table() {
    let base = switches();
    let with = |f: &dyn Fn(&mut AuthSwitches)| {
        let mut s = base.clone();
        f(&mut s);
        s
    };
    let basic = Credential::Basic {
        username: "a".into(),
    };
    let r = |c: Credential, s: &AuthSwitches, restricted: bool, intro: bool| {
        decide(c, s, restricted, intro, &Params::default()).map_err(|r| r.reason)
    };
    assert_eq!(
        r(basic.clone(), &base, false, false),
        Ok(CredentialDecision::PassThrough(basic.clone()))
    );
    assert_eq!(
        r(
            basic.clone(),
            &with(&|s| s.disable_basic = true),
            false,
            false
        ),
        Err(Reason::BasicDisabled)
    );
    let gw = Credential::GatewayToken("gw_x".into());
    assert_eq!(
        r(gw.clone(), &base, false, false),
        Ok(CredentialDecision::Authenticate(gw.clone()))
    );
    assert_eq!(
        r(gw, &with(&|s| s.gateway_tokens = false), false, false),
        Err(Reason::UnknownToken)
    );
    let pat = Credential::Pat(PAT.into());
    assert_eq!(
        r(pat.clone(), &base, false, false),
        Ok(CredentialDecision::PassThrough(pat.clone()))
    );
    assert_eq!(
        r(pat, &with(&|s| s.allow_pat = false), false, false),
        Err(Reason::PatDisabled)
    );
    let op = Credential::Opaque("x".into());
    assert_eq!(
        r(op.clone(), &base, false, false),
        Err(Reason::UnknownToken)
    );
    assert_eq!(
        r(op.clone(), &base, false, true),
        Ok(CredentialDecision::Authenticate(op.clone()))
    );
    assert_eq!(
        r(
            op.clone(),
            &with(&|s| s.allow_native_oauth = true),
            false,
            false
        ),
        Ok(CredentialDecision::PassThrough(op))
    );
    assert_eq!(
        r(Credential::Session, &base, false, false),
        Ok(CredentialDecision::PassThrough(Credential::Session))
    );
    assert_eq!(
        r(
            Credential::Session,
            &with(&|s| s.allow_session_cookies = false),
            false,
            false
        ),
        Ok(CredentialDecision::Anonymous)
    );
    assert_eq!(
        r(
            Credential::Session,
            &with(&|s| s.allow_session_cookies = false),
            true,
            false
        ),
        Err(Reason::CredentialRequired)
    );
    assert_eq!(
        r(Credential::None, &base, false, false),
        Ok(CredentialDecision::Anonymous)
    );
    assert_eq!(
        r(Credential::None, &base, true, false),
        Err(Reason::CredentialRequired)
    );
    assert_eq!(
        r(
            Credential::None,
            &with(&|s| s.require_authentication = true),
            false,
            false
        ),
        Err(Reason::CredentialRequired)
    );
}

/// The plain reading of "three base64url parts, the last may be empty", to hold the
/// block-wise [`is_jwt`] to.
fn is_jwt_reference(t: &str) -> bool {
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = t.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => b64(h) && b64(p) && (s.is_empty() || b64(s)),
        _ => false,
    }
}

#[test]
fn is_jwt_agrees_with_the_plain_reading_on_every_shape() {
    let fixed = [
        "",
        ".",
        "..",
        "...",
        "a..",
        ".a.",
        "..a",
        "a.b.",
        "a.b.c",
        "a.b.c.",
        "a.b.c.d",
        "a.b",
        "a..c",
        ".b.c",
        "a.b.c=",
        "a+b.c.d",
        "a/b.c.d",
        "a b.c.d",
        "é.b.c",
        "a.b.\u{0}",
        "eyJ.eyJ.",
        JWT,
    ];
    for t in fixed {
        assert_eq!(is_jwt(t), is_jwt_reference(t), "{t:?}");
    }
    // Every string over a small alphabet up to 6 bytes, and long tokens with one odd byte at
    // every position (the block-wise check must see a bad byte in any block).
    let alphabet = [b'a', b'Z', b'9', b'-', b'_', b'.', b'=', b'+', b' ', 0xff];
    let mut shapes = vec![Vec::new()];
    for _ in 0..6 {
        let longer: Vec<Vec<u8>> = shapes
            .iter()
            .flat_map(|s| {
                alphabet.iter().map(move |&c| {
                    let mut n = s.clone();
                    n.push(c);
                    n
                })
            })
            .collect();
        for s in &longer {
            let t = String::from_utf8_lossy(s);
            assert_eq!(is_jwt(&t), is_jwt_reference(&t), "{t:?}");
        }
        shapes = longer;
    }
    let long = format!("{}.{}.{}", "h".repeat(70), "p".repeat(300), "s".repeat(342));
    assert!(is_jwt(&long));
    for i in 0..long.len() {
        for odd in ["=", "+", "/", " ", "."] {
            let mut t = long.clone();
            t.replace_range(i..i + 1, odd);
            assert_eq!(is_jwt(&t), is_jwt_reference(&t), "{odd:?} at {i}");
        }
    }
}

#[test]
fn credentials_the_product_could_read_differently_are_refused() {
    let mut h = h(&["Basic YTpi"], Some("JSESSIONID=bob"));
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close, Authorization"),
    );
    let got = classify(&h, &jira(), &Params::default()).map_err(|r| r.reason);
    assert_eq!(got, Err(Reason::MalformedRequest));
    let two = h_cookies(&["JSESSIONID=a", "JSESSIONID=b"]);
    let got = classify(&two, &jira(), &Params::default()).map_err(|r| r.reason);
    assert_eq!(got, Err(Reason::MalformedRequest));
    let got = classify(
        &HeaderMap::new(),
        &jira(),
        &params("os_username=a&os_username=b"),
    )
    .map_err(|r| r.reason);
    assert_eq!(got, Err(Reason::MalformedRequest));
}

fn h_cookies(values: &[&str]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for v in values {
        m.append(
            http::header::COOKIE,
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

#[test]
fn hidden_session_cookies_are_still_sessions() {
    for v in [
        &b"pref=caf\xe9; JSESSIONID=abc"[..],
        b"$Version=1, JSESSIONID=abc",
        b"$Version=0,JSESSIONID=abc",
        b"$Version=\"1\", JSESSIONID=abc",
        b"$Version=1; a=b, JSESSIONID=abc",
        b"  $Version=1 ,JSESSIONID=abc",
    ] {
        let mut m = HeaderMap::new();
        m.insert(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(v).unwrap(),
        );
        assert_eq!(
            classify(&m, &jira(), &Params::default()),
            Ok(Credential::Session),
            "{}",
            String::from_utf8_lossy(v)
        );
    }
}

#[test]
fn query_passwords_count_as_basic_and_oauth_parameters_as_a_scheme() {
    let p = params("os_username=bob&os_password=x");
    let c = classify(&HeaderMap::new(), &jira(), &p).unwrap();
    assert_eq!(
        c,
        Credential::Basic {
            username: "bob".into()
        }
    );
    let mut s = switches();
    assert_eq!(
        decide(c.clone(), &s, false, false, &p),
        Ok(CredentialDecision::PassThrough(c.clone()))
    );
    s.disable_basic = true;
    assert_eq!(
        decide(c, &s, false, false, &p).map_err(|r| r.reason),
        Err(Reason::BasicDisabled)
    );
    // Beside a credential the product checks, or a session, they are refused: the
    // product could act on either.
    for (auth, cookie) in [
        (vec![&*format!("Bearer {PAT}")], None),
        (vec!["Basic YTpi"], None),
        (vec![], Some("JSESSIONID=x")),
    ] {
        let got = classify(&h(&auth, cookie), &jira(), &p).map_err(|r| r.reason);
        assert_eq!(got, Err(Reason::MalformedRequest), "{auth:?} {cookie:?}");
    }
    // Beside a JWT authgate checks, they are removed before forwarding instead.
    let jwt = Credential::Jwt("a.b.c".into());
    assert_eq!(
        decide(jwt.clone(), &s, false, false, &p),
        Ok(CredentialDecision::Authenticate(jwt))
    );
    let o = params("oauth_token=&oauth_consumer_key=k");
    assert_eq!(
        decide(Credential::None, &switches(), false, false, &o).map_err(|r| r.reason),
        Err(Reason::UnsupportedScheme)
    );
}

#[test]
fn an_authorization_value_without_a_scheme_is_never_logged() {
    for v in [
        "ghp_secretsecretsecret",
        "Bearer\tsecret-token",
        "abc.def.ghi",
    ] {
        let m = h(&[v], None);
        let r = classify(&m, &jira(), &Params::default()).unwrap_err();
        assert_eq!(r.reason, Reason::UnsupportedScheme);
        let detail = r.detail.unwrap_or_default();
        assert!(
            !detail.contains("secret") && !detail.contains("abc"),
            "{detail}"
        );
    }
    let r = classify(&h(&["Digest x"], None), &jira(), &Params::default()).unwrap_err();
    assert_eq!(r.detail.as_deref(), Some("scheme `Digest`"));
}
