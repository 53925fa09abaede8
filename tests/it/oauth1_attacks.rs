//! `mode = "oauth1"` under attack: the user authgate authorized must be the only one the
//! product can act on, and what authgate signs must be what the product reads.
//!
//! Besides the stand-in's verdict, every forwarded request is checked by [`tomcat_reads`], an
//! oracle written from a real Tomcat 10.1.60 with a `getParameter` servlet (first
//! `Content-Type` header only, mime compared without regard to case, body read for POST only,
//! a broken `%` escape drops the pair, UTF-8 decoded as Java decodes it: an encoded surrogate
//! `ED A0..BF [80..BF]` is one U+FFFD) and from net.oauth's `HttpRequestMessage.getParameters`
//! (`realm` left out of the header only). The stand-in decodes with authgate's own decoder and
//! reads a form under any `Content-Type` header, so it cannot see those differences. The
//! oracle's verdicts were cross-checked against the real Tomcat behind a running authgate
//! (signatures verified independently over the parameters the servlet got).
//!
//! Each of `every_os_parameter_is_removed`, `two_content_types_sign_only_what_tomcat_reads`,
//! `an_encoded_surrogate_is_signed_as_tomcat_decodes_it`,
//! `a_refusal_echoing_the_signature_is_a_502_and_never_reaches_the_client` (authgate) and
//! `a_realm_query_parameter_is_signed_and_the_product_accepts_it` (the stand-in) failed before
//! its fix.

use std::io::{Read, Write};

use authgate::oauth1::base;
use authgate::standin::jira::oauth1::OAuthLink;
use authgate::standin::jira::{JiraOptions, RecordedRequest};
use base64::Engine;
use rsa::signature::Verifier;

use crate::support::gateway::{basic, token_for, Setup, TestGateway};

const CONSUMER: &str = "authgate-attacks";
const BASE_URL: &str = "https://jira.example.com";

use crate::support::applink::key;

fn oauth1_setup() -> Setup {
    let link = OAuthLink::new(CONSUMER, key().1.to_public_key(), BASE_URL);
    Setup::jira()
        .jira_options(JiraOptions::jira().with_oauth1(link))
        .with_jwt_provider()
        .with(&format!(
            "[upstream.identity]\nmode = \"oauth1\"\nconsumer_key = \"{CONSUMER}\"\nprivate_key_file = \"{}\"\nbase_url = \"{BASE_URL}\"\n",
            key().0.display()
        ))
}

/// A raw HTTP/1.1 request from alice (`head` is the request line and extra header lines).
fn as_alice(head: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{head}\r\nHost: jira.test\r\nConnection: close\r\nAuthorization: Bearer {}\r\n",
        token_for("alice")
    );
    if !body.is_empty() && !head.to_ascii_lowercase().contains("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    [out.into_bytes(), body.to_vec()].concat()
}

/// Bytes as Java's UTF-8 decoder replaces them (the JDK and Rust differ only on surrogates).
fn java_utf8(b: &[u8]) -> String {
    let (mut out, mut start, mut i) = (String::new(), 0, 0);
    while i < b.len() {
        if b[i] == 0xED && b.get(i + 1).is_some_and(|c| (0xA0..=0xBF).contains(c)) {
            out.push_str(&String::from_utf8_lossy(&b[start..i]));
            out.push('\u{FFFD}');
            i += 2 + usize::from(b.get(i + 2).is_some_and(|c| (0x80..=0xBF).contains(c)));
            start = i;
        } else {
            i += 1;
        }
    }
    out + &String::from_utf8_lossy(&b[start..])
}

/// One name or value as Tomcat decodes it; `None` for a broken escape (the pair is dropped).
fn tomcat_decode(raw: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            c => {
                bytes.push(if c == b'+' { b' ' } else { c });
                i += 1;
            }
        }
    }
    Some(java_utf8(&bytes))
}

fn tomcat_params(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|&c| c == b'&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let eq = p.iter().position(|&c| c == b'=').unwrap_or(p.len());
            let (k, v) = (&p[..eq], p.get(eq + 1..).unwrap_or(b""));
            (!k.is_empty()).then_some(())?;
            Some((tomcat_decode(k)?, tomcat_decode(v)?))
        })
        .collect()
}

/// The user a real Jira acts as for `req` (net.oauth over Tomcat's parameters), or why it
/// refuses the signature.
fn tomcat_reads(req: &RecordedRequest) -> Result<Option<String>, String> {
    let (_, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut params = tomcat_params(query.as_bytes());
    let first_type = req.header("content-type").unwrap_or_default();
    let mime = first_type.split(';').next().unwrap_or("").trim();
    if req.method == http::Method::POST
        && mime.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        params.extend(tomcat_params(&req.body));
    }
    let requestor = params
        .iter()
        .find(|(k, _)| k == "xoauth_requestor_id")
        .or_else(|| params.iter().find(|(k, _)| k == "user_id"))
        .map(|(_, v)| v.clone());
    let auth = req.header("authorization").ok_or("unsigned")?;
    let mut signature = None;
    let mut signed: Vec<(String, String)> = Vec::new();
    for part in auth.strip_prefix("OAuth ").ok_or("not OAuth")?.split(',') {
        let (k, v) = part.split_once('=').ok_or("bad header")?;
        let v = tomcat_decode(v.trim().trim_matches('"').as_bytes()).ok_or("bad escape")?;
        match k.trim() {
            "oauth_signature" => signature = Some(v),
            "realm" => {}
            k => signed.push((k.to_string(), v)),
        }
    }
    signed.extend(params.into_iter().filter(|(k, _)| k != "oauth_signature"));
    let text = base::base_string(
        req.method.as_str(),
        &format!("{BASE_URL}{}", req.path()),
        &signed,
    );
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature.ok_or("no oauth_signature")?)
        .map_err(|e| e.to_string())?;
    let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|e| e.to_string())?;
    rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(key().1.to_public_key())
        .verify(text.as_bytes(), &sig)
        .map_err(|_| format!("signature_invalid: Tomcat reads base string {text}"))?;
    Ok(requestor)
}

fn last(t: &TestGateway) -> RecordedRequest {
    t.jira.requests().pop().expect("forwarded")
}

/// Every spelling of a user parameter, in the query and in form bodies of every method, under
/// every `Content-Type` spelling Tomcat reads as a form: the product reads alice, and the
/// signature is over what Tomcat reads.
#[tokio::test]
async fn no_spelling_of_a_user_parameter_reaches_the_product() {
    let t = oauth1_setup().start().await;
    let names = [
        "xoauth_requestor_id",
        "XOAUTH_REQUESTOR_ID",
        "x%6Fauth_requestor_id",
        "%78oauth%5Frequestor%5Fid",
        "user_id",
        "USER%5FID",
        "xoauth_requestor_id%00",
        "xoauth_requestor_id%zz",
        "xoauth+requestor_id",
        "xoauth_requestor_id%C0%80",
        "%EF%BD%98oauth_requestor_id",
    ];
    for name in names {
        for pair in [format!("{name}=admin"), name.to_string()] {
            let r = t
                .raw(&as_alice(
                    &format!("GET /rest/api/2/myself?{pair}&expand=groups HTTP/1.1"),
                    b"",
                ))
                .await;
            if r.status == 400 {
                // A name that is not UTF-8 once decoded is refused rather than signed.
                assert_eq!(r.json()["reason"], "malformed_request", "{pair}");
                assert!(!base::decodes_as_utf8(&pair), "{pair}: {}", r.body());
                continue;
            }
            assert_eq!(
                (r.status, r.json()["name"].clone()),
                (200, "alice".into()),
                "{pair}: {}",
                r.body()
            );
            assert_eq!(tomcat_reads(&last(&t)), Ok(Some("alice".into())), "{pair}");
        }
    }
    let forms = ["POST", "PUT", "PATCH", "DELETE", "GET"];
    let types = [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=ISO-8859-1",
    ];
    for method in forms {
        for ct in types {
            let body =
                b"jql=project+%3D+DEMO&xoauth_requestor_id=admin&USER_ID=admin&oauth_token=x";
            let head =
                format!("{method} /rest/api/2/search?user_id=admin HTTP/1.1\r\nContent-Type: {ct}");
            let r = t.raw(&as_alice(&head, body)).await;
            assert_ne!(r.status, 502, "{method} {ct}: {}", r.body());
            let fw = last(&t);
            assert_eq!(&fw.body[..], b"jql=project+%3D+DEMO", "{method} {ct}");
            assert_eq!(tomcat_reads(&fw), Ok(Some("alice".into())), "{method} {ct}");
        }
    }
    // A chunked form is read whole, cleaned and signed like any other.
    let head = "POST /rest/api/2/search HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked";
    let r = t
        .raw(&as_alice(
            head,
            b"b\r\njql=x&xoaut\r\nf\r\nh_requestor_id=\r\n5\r\nadmin\r\n0\r\n\r\n",
        ))
        .await;
    assert_eq!(r.header("x-ausername"), Some("alice"), "{}", r.body());
    let fw = last(&t);
    assert_eq!(&fw.body[..], b"jql=x");
    assert_eq!(tomcat_reads(&fw), Ok(Some("alice".into())));
}

/// docs/oauth1.md step 1: every `os_*` parameter is removed. `carriers::param_kind` knows only
/// `os_username` / `os_password`: `os_authType`, `os_cookie`, `os_destination` reach Seraph.
#[tokio::test]
async fn every_os_parameter_is_removed() {
    let t = oauth1_setup().start().await;
    let r = t
        .raw(&as_alice("GET /rest/api/2/myself?os_authType=basic&OS_COOKIE=true&os%5Fdestination=%2Fx HTTP/1.1", b""))
        .await;
    assert_eq!(r.status, 200, "{}", r.body());
    let head =
        "POST /rest/api/2/search HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded";
    let r = t.raw(&as_alice(head, b"jql=x&os_authType=any")).await;
    assert_eq!(r.status, 200, "{}", r.body());
    for fw in t.jira.requests() {
        let (_, q) = fw.target.split_once('?').unwrap_or_default();
        let mut names = tomcat_params(q.as_bytes());
        names.extend(tomcat_params(&fw.body));
        assert!(
            !names
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase().starts_with("os_")),
            "forwarded {} {:?} with an os_* parameter",
            fw.target,
            String::from_utf8_lossy(&fw.body)
        );
    }
}

/// Tomcat reads the first `Content-Type` only; authgate's `carriers::is_form` takes any. A
/// POST with `text/plain` then the form type has its body signed, which Tomcat does not read:
/// the real product answers 401 signature_invalid (502 to alice). The stand-in, reading any
/// header, accepts it.
#[tokio::test]
async fn two_content_types_sign_only_what_tomcat_reads() {
    let t = oauth1_setup().start().await;
    for types in [
        ["text/plain", "application/x-www-form-urlencoded"],
        [
            "application/json",
            "application/x-www-form-urlencoded;charset=UTF-8",
        ],
    ] {
        let head = format!(
            "POST /rest/api/2/search HTTP/1.1\r\nContent-Type: {}\r\nContent-Type: {}",
            types[0], types[1]
        );
        let r = t.raw(&as_alice(&head, b"jql=project+%3D+DEMO")).await;
        if r.status == 400 {
            continue; // refusing two Content-Type headers is a fix too
        }
        assert_eq!(
            tomcat_reads(&last(&t)),
            Ok(Some("alice".into())),
            "{types:?}"
        );
    }
}

/// Java decodes an encoded UTF-16 surrogate (`%ED%A0%80`, CESU-8) as one U+FFFD, Rust's lossy
/// decoding as three: the base string authgate signs is not the one the product computes, and
/// alice's request fails with signature_invalid on the real product (the stand-in shares
/// authgate's decoder and accepts it).
#[tokio::test]
async fn an_encoded_surrogate_is_signed_as_tomcat_decodes_it() {
    let t = oauth1_setup().start().await;
    for target in [
        "/rest/api/2/search?jql=text~%22%ED%A0%80%22",
        "/rest/api/2/search?jql=%ED%BF%BFx",
    ] {
        let r = t
            .raw(&as_alice(&format!("GET {target} HTTP/1.1"), b""))
            .await;
        if r.status == 400 {
            continue; // refusing invalid UTF-8 in parameters is a fix too
        }
        assert_eq!(
            tomcat_reads(&last(&t)),
            Ok(Some("alice".into())),
            "{target}"
        );
    }
    let head =
        "POST /rest/api/2/search HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded";
    let r = t.raw(&as_alice(head, b"jql=%ED%A0%80")).await;
    if r.status != 400 {
        assert_eq!(tomcat_reads(&last(&t)), Ok(Some("alice".into())), "form");
    }
}

/// A `realm` query parameter is a parameter like any other to net.oauth (only the header's
/// `realm` is left out of the base string): authgate signs it and the product accepts it. The
/// stand-in leaves `realm` out wherever it comes from, and refuses (stand-in bug).
#[tokio::test]
async fn a_realm_query_parameter_is_signed_and_the_product_accepts_it() {
    let t = oauth1_setup().start().await;
    let r = t
        .raw(&as_alice("GET /rest/api/2/myself?realm=x HTTP/1.1", b""))
        .await;
    assert_eq!(tomcat_reads(&last(&t)), Ok(Some("alice".into())));
    assert_eq!(r.status, 200, "the stand-in refused: {}", r.body());
}

/// Callers authgate does not authenticate are never signed and cannot bring OAuth of their own:
/// no "Execute as" request, no replay of a signature, no user parameter.
#[tokio::test]
async fn callers_authgate_does_not_sign_cannot_bring_oauth() {
    let t = oauth1_setup()
        .with("[auth]\nresolve_passthrough_identity = false\n")
        .start()
        .await;
    let oauth = "oauth_consumer_key=authgate-attacks&oauth_token=&oauth_signature_method=RSA-SHA1\
                 &oauth_signature=AAAA&oauth_timestamp=1&oauth_nonce=n";
    for (cred, q) in [
        (basic("bob", "bob-pw"), oauth.to_string()),
        (
            basic("bob", "bob-pw"),
            "XOAUTH_REQUESTOR_ID=admin".to_string(),
        ),
        (String::new(), "xoauth_requestor_id=admin".to_string()),
        (
            String::new(),
            "OAuth_Consumer_Key=authgate-attacks".to_string(),
        ),
    ] {
        let mut c = t.get(&format!("/rest/api/2/myself?{q}"));
        if !cred.is_empty() {
            c = c.header("authorization", &cred);
        }
        let r = c.send().await;
        assert!(
            r.status == 401 || r.status == 400,
            "{q}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = t
        .get("/rest/api/2/myself")
        .header(
            "authorization",
            "OAuth oauth_consumer_key=\"authgate-attacks\", oauth_token=\"\"",
        )
        .send()
        .await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert!(t.jira.requests().iter().all(|q| q
        .header("authorization")
        .is_none_or(|a| !a.starts_with("OAuth"))));
}

/// A product that answers as the real one does where the stand-in does not: a session cookie on
/// every signed request it accepts (Seraph establishes a session for the OAuth user), and for
/// `/rest/api/2/denied` net.oauth's `sendError`: 401 whose `WWW-Authenticate` echoes every
/// `oauth_*` parameter of the request, the signature included, and names no `oauth_problem`
/// (AuthenticatorImpl: impersonation not allowed, or the user may not log in).
fn start_echoing_product() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let auth = head
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .unwrap_or("");
            let resp = if head.starts_with("GET /rest/api/2/denied") {
                let echo = auth.trim_start_matches("OAuth ");
                format!("HTTP/1.1 401 \r\nWWW-Authenticate: OAuth realm=\"https%3A%2F%2Fjira.example.com\", {echo}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            } else {
                "HTTP/1.1 200 \r\nSet-Cookie: JSESSIONID=alice-session; Path=/; HttpOnly\r\nSet-Cookie: seraph.rememberme.cookie=1%3Aabc; Path=/\r\nSet-Cookie: atlassian.xsrf.token=t_lin; Path=/\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"name\":\"alice\"}".to_string()
            };
            let _ = s.write_all(resp.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn a_session_the_product_opens_for_the_signed_user_is_taken_off_the_answer() {
    let t = oauth1_setup()
        .upstream_url(&start_echoing_product())
        .start()
        .await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("alice"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cookies: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    assert_eq!(cookies, ["atlassian.xsrf.token=t_lin; Path=/"]);
}

/// The product's 401 echo of the signed parameters is a refusal of the link: it must become the
/// documented 502 `upstream_identity_rejected`, and authgate's signature, nonce and timestamp
/// must not be handed to the caller (who could replay them straight to a node of the cluster
/// that has not seen the nonce, with any JSON body: the body is not signed).
#[tokio::test]
async fn a_refusal_echoing_the_signature_is_a_502_and_never_reaches_the_client() {
    let t = oauth1_setup()
        .upstream_url(&start_echoing_product())
        .start()
        .await;
    let r = t
        .get("/rest/api/2/denied")
        .bearer(&token_for("alice"))
        .send()
        .await;
    let challenge: Vec<_> = r
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .collect();
    assert!(
        challenge.iter().all(|c| !c.contains("oauth_signature=")),
        "the product's echo of authgate's signature reached the client: {challenge:?}"
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (502, "upstream_identity_rejected".into())
    );
}
