//! The token page's HTTP behaviour (docs/tokens.md#the-token-page) without a browser: routes under the root
//! and the context path, the headers, the session cookie, sign-in checked by the product and
//! limited, recognition by the product's session cookie, CSRF and origin checks, and the
//! audit rows of its actions. The browser drives it end to end in `page_browser`.

use crate::support::gateway::{Setup, TestGateway};

/// The config every page test starts from: bob is read-only, admin is an admin.
pub fn page_setup() -> Setup {
    Setup::jira().with(
        "[access]\nread_only_groups = [\"jira-readonly\"]\nadmin_groups = [\"jira-administrators\"]",
    )
}

/// The page's own origin for the Origin header.
fn origin(gw: &TestGateway) -> String {
    gw.url("")
}

fn text(a: &crate::support::client::Answer) -> String {
    String::from_utf8_lossy(&a.body).into_owned()
}

/// Signs `user` in through the form; the page cookie (`authgate_page=…`).
pub async fn sign_in(gw: &TestGateway, user: &str) -> String {
    let a = gw
        .post("/_authgate/sign-in")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &origin(gw))
        .body(format!("username={user}&password={user}-pw"))
        .send()
        .await;
    assert_eq!(a.status, 303, "{}", text(&a));
    let cookie = a
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

#[tokio::test]
async fn page_is_served_with_its_security_headers_at_the_root_and_under_the_context_path() {
    let gw = page_setup()
        .with("[upstream]\ncontext_path = \"/jira\"")
        .start()
        .await;
    for path in ["/_authgate/", "/jira/_authgate/"] {
        let a = gw.get(path).send().await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
        let csp = a.header("content-security-policy").unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("referrer-policy"), Some("same-origin"));
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
        let html = text(&a);
        assert!(html.contains("id=\"sign-in\"") && html.contains("<label for=\"password\">"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no asset from elsewhere"
        );
    }
    let css = gw.get("/jira/_authgate/page.css").send().await;
    assert_eq!(
        (css.status, css.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
    let bare = gw.get("/jira/_authgate").send().await;
    assert_eq!(
        (bare.status, bare.header("location")),
        (303, Some("/jira/_authgate/"))
    );
    // Never forwarded to the product.
    assert!(gw
        .jira
        .requests()
        .iter()
        .all(|r| !r.target.contains("_authgate")));
}

#[tokio::test]
async fn sign_in_starts_a_strict_session_that_sign_out_ends() {
    // (Under a context path the cookie's Path is `/<context>/_authgate/`: `page::security` tests.)
    let gw = page_setup().start().await;
    let a = gw
        .post("/_authgate/sign-in")
        .header("origin", &origin(&gw))
        .body("username=alice&password=alice-pw")
        .send()
        .await;
    assert_eq!((a.status, a.header("location")), (303, Some("/_authgate/")));
    let set = a.header("set-cookie").unwrap();
    assert!(set.starts_with("authgate_page="), "{set}");
    assert!(
        set.ends_with("; Path=/_authgate/; HttpOnly; SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let page = gw.get("/_authgate/").cookie(&cookie).send().await;
    assert!(text(&page).contains("Signed in as <strong>alice</strong>"));
    let csrf = csrf_of(&text(&page));

    let out = gw
        .post("/_authgate/sign-out")
        .cookie(&cookie)
        .body(format!("csrf={csrf}"))
        .send()
        .await;
    assert_eq!(out.status, 200, "{}", text(&out));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = gw.get("/_authgate/").cookie(&cookie).send().await;
    assert!(
        text(&after).contains("id=\"sign-in\""),
        "the session is over"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_https() {
    let gw = page_setup()
        .with("[ip]\ntrusted_proxies = [\"127.0.0.1\"]")
        .start()
        .await;
    let a = gw
        .post("/_authgate/sign-in")
        .header("x-forwarded-proto", "https")
        .body("username=alice&password=alice-pw")
        .send()
        .await;
    assert!(
        a.header("set-cookie").unwrap().ends_with("; Secure"),
        "{:?}",
        a.headers
    );
}

#[tokio::test]
async fn failed_sign_ins_are_refused_then_limited_like_failed_basic() {
    let gw = page_setup().start().await;
    for _ in 0..5 {
        let a = gw
            .post("/_authgate/sign-in")
            .body("username=carol&password=wrong")
            .send()
            .await;
        assert_eq!(a.status, 401);
        let html = text(&a);
        assert!(
            html.contains("did not accept that username and password"),
            "{html}"
        );
        assert!(html.contains("value=\"carol\""), "the username is kept");
        assert!(!html.contains("wrong"), "never the password");
    }
    let a = gw
        .post("/_authgate/sign-in")
        .body("username=carol&password=carol-pw")
        .send()
        .await;
    assert_eq!(a.status, 429);
    assert!(text(&a).contains("Too many failed sign-ins"));
    // The same counters as Basic at /_authgate/tokens.
    let api = gw
        .get("/_authgate/tokens")
        .basic("carol", "carol-pw")
        .send()
        .await;
    assert_eq!(api.status, 429);
}

#[tokio::test]
async fn the_products_session_cookie_is_recognised() {
    let gw = page_setup().start().await;
    let a = gw
        .get("/_authgate/")
        .cookie("JSESSIONID=alice-session")
        .send()
        .await;
    assert_eq!(a.status, 200);
    assert!(text(&a).contains("Signed in as <strong>alice</strong>"));
    assert!(a
        .header("set-cookie")
        .unwrap()
        .starts_with("authgate_page="));
    let unknown = gw
        .get("/_authgate/")
        .cookie("JSESSIONID=nobody")
        .send()
        .await;
    assert!(text(&unknown).contains("id=\"sign-in\""));
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_the_pages_own_origin() {
    let gw = page_setup().start().await;
    let cookie = sign_in(&gw, "alice").await;
    let csrf = csrf_of(&text(&gw.get("/_authgate/").cookie(&cookie).send().await));
    let post = |body: String, origin: Option<&str>| {
        let mut c = gw.post("/_authgate/create").cookie(&cookie).body(body);
        if let Some(o) = origin {
            c = c.header("origin", o);
        }
        c.send()
    };
    let no_token = post("name=a&expires_in=30d".into(), None).await;
    assert_eq!(no_token.status, 403);
    assert!(text(&no_token).contains("did not come from this page"));
    let wrong = post(format!("csrf={}&name=a", "0".repeat(64)), None).await;
    assert_eq!(wrong.status, 403);
    for foreign in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let a = post(format!("csrf={csrf}&name=a"), Some(foreign)).await;
        assert_eq!(a.status, 403, "{foreign}");
    }
    let none = gw
        .get("/_authgate/tokens")
        .basic("alice", "alice-pw")
        .send()
        .await;
    assert_eq!(
        none.json()["tokens"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    let ok = post(
        format!("csrf={csrf}&name=my+laptop&expires_in=7d"),
        Some(&origin(&gw)),
    )
    .await;
    assert_eq!(ok.status, 200);
    let html = text(&ok);
    let at = html.find("id=\"secret\"").unwrap();
    let secret = &html[at..][html[at..].find("value=\"gw_").unwrap() + 7..][..49];
    assert!(secret.starts_with("gw_"), "{secret}");
    let use_it = gw.get("/rest/api/2/myself").bearer(secret).send().await;
    assert_eq!(use_it.status, 200);
    // The list never shows it again.
    let again = text(&gw.get("/_authgate/").cookie(&cookie).send().await);
    assert!(again.contains("my laptop") && !again.contains(secret));
}

#[tokio::test]
async fn every_rule_of_the_api_holds_with_a_readable_message() {
    let gw = page_setup()
        .with("[tokens]\nmax_per_user = 1\nmax_expiry = \"90d\"\ndefault_expiry = \"30d\"")
        .start()
        .await;
    let cookie = sign_in(&gw, "bob").await;
    let page = text(&gw.get("/_authgate/").cookie(&cookie).send().await);
    assert!(
        page.contains("<option value=\"30d\" selected>30 days</option>"),
        "{page}"
    );
    assert!(
        !page.contains("value=\"180d\""),
        "nothing past max_expiry is offered"
    );
    assert!(
        page.contains("checked disabled"),
        "a read-only user's box is fixed"
    );
    let csrf = csrf_of(&page);
    let create = |body: String| {
        gw.post("/_authgate/create")
            .cookie(&cookie)
            .body(body)
            .send()
    };
    let long = create(format!("csrf={csrf}&name=a&expires_in=365d")).await;
    assert_eq!(long.status, 400);
    assert!(text(&long).contains("The maximum is 90d."));
    let ro = create(format!("csrf={csrf}&name=a")).await;
    assert_eq!(ro.status, 200);
    assert!(
        text(&ro).contains("Read-only"),
        "a read-only user gets a read-only token"
    );
    let limit = create(format!("csrf={csrf}&name=b")).await;
    assert_eq!(limit.status, 409);
    assert!(text(&limit).contains("The maximum is 1 tokens per user."));
    let dup_name = gw
        .post("/_authgate/revoke")
        .cookie(&cookie)
        .body(format!("csrf={csrf}&id=nope"))
        .send()
        .await;
    assert_eq!(dup_name.status, 404);
    assert!(text(&dup_name).contains("does not exist, or is not yours"));
}

#[tokio::test]
async fn creation_off_for_users_says_so_instead_of_the_form() {
    let gw = page_setup()
        .with("[tokens]\nallow_user_creation = false")
        .start()
        .await;
    let cookie = sign_in(&gw, "alice").await;
    let page = text(&gw.get("/_authgate/").cookie(&cookie).send().await);
    assert!(page.contains("You are not allowed to create tokens"));
    assert!(!page.contains("id=\"create\""));
    let csrf = csrf_of(&page);
    let a = gw
        .post("/_authgate/create")
        .cookie(&cookie)
        .body(format!("csrf={csrf}&name=x"))
        .send()
        .await;
    assert_eq!(a.status, 403);
}

#[tokio::test]
async fn admins_see_and_revoke_everyones_tokens_with_a_filter() {
    let gw = page_setup().start().await;
    let alice = sign_in(&gw, "alice").await;
    let csrf = csrf_of(&text(&gw.get("/_authgate/").cookie(&alice).send().await));
    let made = gw
        .post("/_authgate/create")
        .cookie(&alice)
        .body(format!("csrf={csrf}&name=alices"))
        .send()
        .await;
    assert_eq!(made.status, 200);
    let admin = sign_in(&gw, "admin").await;
    let all = text(&gw.get("/_authgate/").cookie(&admin).send().await);
    assert!(all.contains("Tokens of every user") && all.contains("alices"));
    let bobs = text(&gw.get("/_authgate/?user=bob").cookie(&admin).send().await);
    assert!(!bobs.contains("alices"));
    let id_at = all.find("data-id=\"").unwrap() + 9;
    let id = &all[id_at..id_at + 16];
    let confirm = text(
        &gw.get(&format!("/_authgate/?revoke={id}"))
            .cookie(&admin)
            .send()
            .await,
    );
    assert!(confirm.contains("Revoke “alices” of alice?"), "{confirm}");
    let csrf = csrf_of(&confirm);
    let done = gw
        .post("/_authgate/revoke")
        .cookie(&admin)
        .body(format!("csrf={csrf}&id={id}"))
        .send()
        .await;
    assert_eq!(done.status, 200);
    assert!(text(&done).contains("Token “alices” revoked."));
    // Alice cannot revoke the admin's tokens: not even their existence is confirmed.
    let csrf = csrf_of(&text(&gw.get("/_authgate/").cookie(&admin).send().await));
    let made = text(
        &gw.post("/_authgate/create")
            .cookie(&admin)
            .body(format!("csrf={csrf}&name=admins"))
            .send()
            .await,
    );
    let at = made[..made.find(">admins<").unwrap()]
        .rfind("data-id=\"")
        .unwrap()
        + 9;
    let admin_id = &made[at..at + 16];
    let csrf = csrf_of(&text(&gw.get("/_authgate/").cookie(&alice).send().await));
    let refused = gw
        .post("/_authgate/revoke")
        .cookie(&alice)
        .body(format!("csrf={csrf}&id={admin_id}"))
        .send()
        .await;
    assert_eq!(refused.status, 404);
}
