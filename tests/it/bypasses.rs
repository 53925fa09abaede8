//! The identity authgate authorizes is the only one the product can act on, and every request
//! that reaches the product leaves an audit row. Each test is a way around that rule that
//! once worked; the Jira stand-in reads cookies, `os_username` and sessions as the product
//! does, so a test fails when the product would act as someone authgate did not authorize.

use std::time::Duration;

use authgate::audit::store::MAX_LIMIT;
use authgate::audit::{AuditEvent, Filter, Store};
use tokio::io::AsyncWriteExt;

use crate::support::gateway::{basic, token_for, Setup, TestGateway};

const READ_ONLY: &str = r#"
[access]
allowed_groups = ["jira-users"]
read_only_groups = ["jira-readonly"]
"#;

async fn rows(t: &TestGateway) -> Vec<AuditEvent> {
    let shared = &t.gateway.state.shared;
    shared.audit.flush().await;
    let filter = Filter {
        limit: MAX_LIMIT,
        ..Default::default()
    };
    Store::new(&shared.db)
        .query(&filter)
        .await
        .expect("audit query")
        .events
}

async fn row_of(t: &TestGateway, request_id: &str) -> AuditEvent {
    let all = rows(t).await;
    let mine: Vec<_> = all
        .into_iter()
        .filter(|e| e.request_id == request_id)
        .collect();
    assert_eq!(mine.len(), 1, "audit rows of {request_id}: {mine:?}");
    mine.into_iter().next().expect("one row")
}

/// Waits (at most 10 s) until the product has received a request.
async fn wait_until_forwarded(t: &TestGateway) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.jira.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never forwarded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most 10 s) for the audit row of `request_id`, written however the request ended.
async fn wait_for_row(t: &TestGateway, request_id: &str) -> AuditEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = rows(t)
            .await
            .into_iter()
            .find(|e| e.request_id == request_id)
        {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "no audit row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_read_only_user_cannot_mint_a_writable_gateway_token_and_tokens_carry_their_groups() {
    let t = Setup::jira().with(READ_ONLY).start().await;
    // bob is in jira-readonly: asking for a read-write token is refused.
    let r = t
        .post("/_authgate/tokens")
        .header("authorization", &basic("bob", "bob-pw"))
        .header("content-type", "application/json")
        .body(r#"{"name":"w","read_only":false}"#)
        .send()
        .await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "read_only".into()),
        "{:?}",
        r.body
    );
    // Without the field he gets a read-only token, which carries his groups.
    let r = t
        .post("/_authgate/tokens")
        .header("authorization", &basic("bob", "bob-pw"))
        .body("{}")
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.json()["read_only"], true);
    let bob = r.json()["token"].as_str().expect("a token").to_string();
    let r = t.get("/rest/api/2/myself").bearer(&bob).send().await;
    assert_eq!(
        r.status, 200,
        "allowed_groups applies to the token's groups: {:?}",
        r.body
    );
    let r = t
        .post("/rest/api/2/issue")
        .bearer(&bob)
        .body("{}")
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (403, "read_only".into()));
    // alice (jira-users) gets a read-write token that passes allowed_groups.
    let r = t
        .post("/_authgate/tokens")
        .header("authorization", &basic("alice", "alice-pw"))
        .body("{}")
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let alice = r.json()["token"].as_str().expect("a token").to_string();
    let r = t
        .post("/rest/api/2/issue")
        .bearer(&alice)
        .body("{}")
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("x-ausername"), Some("alice"));
}

#[tokio::test]
async fn a_non_ascii_byte_in_cookie_does_not_hide_the_session_from_authgate() {
    let t = Setup::jira().with(READ_ONLY).start().await;
    // bob is read-only; his session cookie sits behind a Latin-1 byte.
    let r = t
        .raw(
            b"POST /rest/api/2/issue HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
Cookie: pref=caf\xe9; JSESSIONID=bob-session\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("\"read_only\""), "{}", r.text);
    let posts: Vec<_> = t
        .jira
        .requests()
        .into_iter()
        .filter(|q| q.method == http::Method::POST)
        .collect();
    assert!(posts.is_empty(), "the write reached the product: {posts:?}");
    let row = row_of(&t, r.header("x-request-id").expect("request id")).await;
    assert_eq!(
        (row.credential.as_str(), row.username.as_deref()),
        ("session", Some("bob"))
    );
}

#[tokio::test]
async fn a_version_header_cannot_hide_a_comma_separated_session() {
    let t = Setup::jira().with(READ_ONLY).start().await;
    let r = t
        .raw(
            b"POST /rest/api/2/issue HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
Cookie: $Version=1, JSESSIONID=bob-session\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("\"read_only\""), "{}", r.text);
}

#[tokio::test]
async fn confluence_remember_me_is_a_session_for_every_rule() {
    let t = Setup::jira()
        .confluence()
        .with("[access]\nread_only_groups = [\"jira-readonly\"]")
        .with_jwt_provider()
        .start()
        .await;
    // Read as the session of read-only bob: the write is refused.
    let r = t
        .post("/rest/api/content")
        .cookie("seraph.confluence=bob-remember")
        .body("{}")
        .send()
        .await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "read_only".into()),
        "{:?}",
        r.body
    );
    // Removed for a JWT caller: the product acts as the token's user.
    let r = t
        .get("/rest/api/user/current")
        .bearer(&token_for("alice"))
        .cookie("seraph.confluence=admin-remember")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("alice"), "{:?}", r.body);
    let last = t.jira.requests().pop().expect("forwarded");
    assert!(
        last.header("cookie").is_none(),
        "{:?}",
        last.header("cookie")
    );
}

#[tokio::test]
async fn session_cookies_off_removes_the_confluence_remember_me_cookie() {
    let t = Setup::jira()
        .confluence()
        .with("[auth]\nallow_session_cookies = false")
        .start()
        .await;
    let r = t
        .get("/rest/api/space")
        .cookie("seraph.confluence=admin-remember; theme=dark")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("anonymous"), "{:?}", r.body);
    let last = t.jira.requests().pop().expect("forwarded");
    assert_eq!(last.header_values("cookie"), vec!["theme=dark"]);
}

#[tokio::test]
async fn a_client_that_goes_away_while_the_product_works_still_leaves_an_audit_row() {
    let t = Setup::jira().with_jwt_provider().start().await;
    t.jira.set_delay(Duration::from_millis(600));
    let rid = "gone-before-the-answer";
    let mut s = tokio::net::TcpStream::connect(t.gateway.addr)
        .await
        .expect("connect");
    let req = format!(
        "DELETE /rest/api/2/issue/ABC-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Request-Id: {rid}\r\n\r\n",
        token_for("alice")
    );
    s.write_all(req.as_bytes()).await.expect("send");
    // Wait until the product has the request, then hang up.
    wait_until_forwarded(&t).await;
    drop(s);
    let row = wait_for_row(&t, rid).await;
    assert_eq!(
        (row.status, row.reason.as_str(), row.username.as_deref()),
        (499, "client_closed", Some("alice"))
    );
    assert_eq!(
        row.decision, "allow",
        "the product had the request: {row:?}"
    );
}

#[tokio::test]
async fn an_http2_stream_reset_while_the_product_works_still_leaves_an_audit_row() {
    let t = Setup::jira().with_jwt_provider().start().await;
    t.jira.set_delay(Duration::from_millis(600));
    let tcp = tokio::net::TcpStream::connect(t.gateway.addr)
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let mut ready = client.ready().await.expect("h2 ready");
    let req = http::Request::delete("http://127.0.0.1/rest/api/2/issue/ABC-2")
        .header("authorization", format!("Bearer {}", token_for("alice")))
        .header("x-request-id", "reset-before-the-answer")
        .body(())
        .expect("request");
    let (_resp, mut stream) = ready.send_request(req, true).expect("send");
    wait_until_forwarded(&t).await;
    stream.send_reset(h2::Reason::CANCEL);
    let row = wait_for_row(&t, "reset-before-the-answer").await;
    assert_eq!(
        (row.status, row.reason.as_str(), row.decision.as_str()),
        (499, "client_closed", "allow")
    );
    assert_eq!(row.username.as_deref(), Some("alice"));
    conn.abort();
}

#[tokio::test]
async fn a_product_session_given_to_an_authenticated_caller_is_taken_off_the_answer() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for("alice"))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers.get_all("set-cookie").iter().count() == 0,
        "{:?}",
        r.headers
    );
    // Pass-through callers keep what the product gives them.
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &basic("alice", "alice-pw"))
        .send()
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connection_naming_authorization_cannot_swap_the_identity_after_the_lookup() {
    let t = Setup::jira().with(READ_ONLY).start().await;
    let r = t
        .raw(
            format!(
                "POST /rest/api/2/issue HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
Cookie: JSESSIONID=bob-session\r\nConnection: close, Authorization\r\nContent-Length: 2\r\n\r\n{{}}",
                basic("alice", "alice-pw")
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("\"malformed_request\""), "{}", r.text);
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn two_session_cookies_of_one_name_are_refused() {
    let t = Setup::jira().with(READ_ONLY).start().await;
    let r = t
        .post("/rest/api/2/issue")
        .cookie("JSESSIONID=alice-session; JSESSIONID=bob-session")
        .body("{}")
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (400, "malformed_request".into()));
    assert!(t.jira.requests().is_empty());
}

#[tokio::test]
async fn rest_suffixes_latest_and_resource_aliases_do_not_escape_rules() {
    let t = Setup::jira()
        .with("[access]\ndeny = [\"/rest/api/2/user/**\", \"GET /rest/api/2/groupuserpicker\"]")
        .start()
        .await;
    for target in [
        "/rest/api/2/user.json",
        "/rest/api/2/user.XML?username=admin",
        "/rest/api/latest/user",
        "/rest/api/2/user/.json",
    ] {
        let r = t.get(target).send().await;
        assert_eq!(
            (r.status, r.reason()),
            (403, "denied_path".into()),
            "{target}"
        );
    }
    let r = t
        .call(http::Method::HEAD, "/rest/api/latest/groupuserpicker")
        .send()
        .await;
    assert_eq!(r.status, 403, "HEAD is the GET resource");
    for alias in ["/s/x/_/rest/api/2/myself", "/S/x/_/rest/api/2/myself"] {
        let r = t.get(alias).send().await;
        assert_eq!((r.status, r.reason()), (400, "bad_path".into()), "{alias}");
    }
    assert!(t.jira.requests().is_empty(), "{:?}", t.jira.requests());
}

#[tokio::test]
async fn query_and_form_passwords_are_basic_credentials() {
    let t = Setup::jira()
        .with("[auth]\ndisable_basic = true")
        .start()
        .await;
    let r = t
        .get("/rest/api/2/myself?os_username=admin&os_password=admin-pw")
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (401, "basic_disabled".into()));
    let r = t
        .post("/rest/api/2/issue")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("os_username=admin&os_password=admin-pw")
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (401, "basic_disabled".into()));
    assert!(t.jira.requests().is_empty());

    // Beside another credential they are refused: the product could act on either.
    let t = Setup::jira().with(READ_ONLY).start().await;
    let r = t
        .call(http::Method::DELETE, "/rest/api/2/issue/ABC-1")
        .header("authorization", &basic("bob", "bob-pw"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("os_username=alice&os_password=alice-pw")
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (400, "malformed_request".into()));
    assert!(t.jira.requests().is_empty(), "{:?}", t.jira.requests());

    // With Basic allowed, the caller is who the product says and every rule applies.
    let t = Setup::jira().with(READ_ONLY).start().await;
    let r = t
        .post("/rest/api/2/issue?os_username=bob&os_password=bob-pw")
        .body("{}")
        .send()
        .await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "read_only".into()),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn credential_parameters_are_removed_for_authenticated_callers() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let r = t
        .post("/rest/api/2/issue?a=1&os_username=admin&oauth_token=x")
        .bearer(&token_for("alice"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("b=2&os_password=admin-pw")
        .send()
        .await;
    assert_eq!(r.header("x-ausername"), Some("alice"), "{:?}", r.body);
    let last = t.jira.requests().pop().expect("forwarded");
    assert_eq!(last.target, "/rest/api/2/issue?a=1");
    assert_eq!(&last.body[..], b"b=2");
}

#[tokio::test]
async fn usernames_and_group_names_compare_without_case() {
    let t = Setup::jira()
        .with_jwt_provider()
        .with(
            r#"
[groups]
source = "static"
[groups.static]
bob = ["Jira-ReadOnly", "jira-users"]
[access]
allowed_groups = ["jira-users"]
read_only_groups = ["jira-readonly"]
"#,
        )
        .start()
        .await;
    let r = t
        .post("/rest/api/2/issue")
        .bearer(&token_for("Bob"))
        .body("{}")
        .send()
        .await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "read_only".into()),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn unidentified_pass_through_callers_are_limited_per_credential() {
    let t = Setup::jira()
        .without_identity_lookups()
        .with("[rate_limit]\nenabled = true\nrequests = 1\nper = \"1h\"\nburst = 2")
        .start()
        .await;
    // Someone with a wrong password does not spend alice's bucket…
    for _ in 0..3 {
        t.get("/rest/api/2/myself")
            .header("authorization", &basic("alice", "wrong"))
            .send()
            .await;
    }
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &basic("alice", "alice-pw"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // …a junk cookie beside the credential does not make a fresh bucket…
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &basic("alice", "alice-pw"))
        .cookie("JSESSIONID=junk-1")
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // …so the third request of this credential finds its bucket empty.
    let r = t
        .get("/rest/api/2/myself")
        .header("authorization", &basic("alice", "alice-pw"))
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (429, "rate_limited".into()));
}

#[tokio::test]
async fn a_username_padded_with_spaces_is_refused() {
    let t = Setup::jira().with_jwt_provider().start().await;
    let r = t
        .get("/rest/api/2/myself")
        .bearer(&token_for(" admin"))
        .send()
        .await;
    assert_eq!((r.status, r.reason()), (401, "username_invalid".into()));
    assert!(t.jira.requests().is_empty());
}

#[test]
fn check_config_warns_about_policy_holes_that_are_easy_to_miss() {
    let warn = |toml: &str| authgate::config::from_toml(toml).expect("checks").warnings;
    let w = warn("[access]\nread_only_groups = [\"ro\"]");
    assert!(w.iter().any(|m| m.contains("/secure/**")), "{w:?}");
    let w = warn("[upstream]\nproduct = \"confluence\"\n[access]\nallowed_groups = [\"u\"]");
    assert!(w.iter().any(|m| m.contains("/rpc/**")), "{w:?}");
    let w = warn("[auth]\ndisable_basic = true");
    assert!(
        w.iter().any(|m| m.contains("/rest/auth/1/session")),
        "{w:?}"
    );
    let w = warn("[auth]\ndisable_basic = true\n[access]\ndeny = [\"POST /rest/auth/1/session\"]");
    assert!(
        !w.iter().any(|m| m.contains("/rest/auth/1/session")),
        "{w:?}"
    );
    let w =
        warn("[auth]\nresolve_passthrough_identity = false\n[access]\nread_only_groups = [\"ro\"]");
    assert!(
        w.iter().any(|m| m.contains("resolve_passthrough_identity")),
        "{w:?}"
    );
    let w = warn(
        "[auth]\napi_paths = [\"/rest/**\", \"/secure/**\"]\n[access]\nread_only_groups = [\"ro\"]",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[tokio::test]
async fn admin_listen_cuts_a_silent_connection_like_listen_does() {
    use tokio::io::AsyncReadExt;
    let t = Setup::jira()
        .with("[server]\nheader_timeout = \"300ms\"")
        .start()
        .await;
    let mut s = tokio::net::TcpStream::connect(t.gateway.admin_addr)
        .await
        .expect("connect");
    let mut buf = Vec::new();
    // A generous bound that proves the connection is not held for ever.
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "admin_listen held a silent connection");
    // It still serves.
    let r = reqwest::get(format!("http://{}/healthz", t.gateway.admin_addr))
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn token_names_with_bidi_or_invisible_characters_are_refused() {
    let t = Setup::jira().start().await;
    for name in ["ci\u{202E}gnp.exe", "ci\u{200B}", "\u{FEFF}ci"] {
        let r = t
            .post("/_authgate/tokens")
            .header("authorization", &basic("alice", "alice-pw"))
            .body(serde_json::json!({ "name": name }).to_string())
            .send()
            .await;
        assert_eq!(
            (r.status, r.reason()),
            (400, "malformed_request".into()),
            "{name:?}"
        );
    }
    assert_eq!(
        authgate::tokens::manage::visible("ci\u{202E}x\u{7}"),
        "ci\\u{202e}x\\u{0007}"
    );
}
