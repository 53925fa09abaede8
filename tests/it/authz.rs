//! Authorization end to end (docs/http.md step 7): pass-through PAT, Basic and cookie callers
//! identified by the Jira stand-in, allowed and read-only groups across methods, read POSTs,
//! method overrides, refused credentials and failing lookups.

use authgate::standin::jira::{JiraOptions, ALICE_PAT, BOB_PAT};
use fixture::{basic, Gate};

/// A gateway in front of a Jira stand-in, shared by the authz and rate-limit tests.
pub mod fixture {
    use authgate::app::Gateway;
    use authgate::config::Product;
    use authgate::standin::jira::{JiraOptions, JiraStandin};
    use base64::Engine;

    /// `Basic base64(user:pw)`.
    pub fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    /// The stand-in, the gateway in front of it, and a client.
    pub struct Gate {
        pub jira: JiraStandin,
        pub gw: Gateway,
        pub http: reqwest::Client,
        pub dir: tempfile::TempDir,
    }

    /// The config text for `extra` (which must not contain `[server]`, `[upstream]` or `[audit]`).
    pub fn config_text(jira: &JiraStandin, extra: &str) -> String {
        let product = match jira.options().product {
            Product::Jira => "jira",
            Product::Confluence => "confluence",
        };
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{}\"\nproduct = \"{product}\"\ntimeout = \"5s\"\n\
             [audit]\ndatabase_url = \"sqlite://audit.db?mode=rwc\"\nlog = \"off\"\n{extra}\n",
            jira.url()
        )
    }

    impl Gate {
        /// Starts both.
        pub async fn start(options: JiraOptions, extra: &str) -> Gate {
            let jira = JiraStandin::start(options).await;
            let dir = tempfile::tempdir().expect("tempdir");
            let config =
                authgate::config::from_toml_with(&config_text(&jira, extra), dir.path(), &|_| None)
                    .expect("config");
            let gw = crate::support::launch::launch(config, None, None)
                .await
                .expect("gateway starts");
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            Gate {
                jira,
                gw,
                http,
                dir,
            }
        }

        /// Swaps in a config made from `extra`.
        pub async fn reload(&self, extra: &str) {
            let config = authgate::config::from_toml_with(
                &config_text(&self.jira, extra),
                self.dir.path(),
                &|_| None,
            )
            .expect("config");
            self.gw.reload_with(config).await.expect("reload");
        }

        /// Sends one request through the gateway.
        pub async fn send(
            &self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
        ) -> reqwest::Response {
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut rb = self
                .http
                .request(m, format!("http://{}{path}", self.gw.addr));
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            if method == "POST" || method == "PUT" || method == "PATCH" {
                rb = rb.header("content-type", "application/json").body("{}");
            }
            rb.send().await.expect("the gateway answers")
        }

        /// How many requests with this method and path reached the product.
        pub fn forwarded(&self, method: &str, path: &str) -> usize {
            self.jira
                .requests()
                .iter()
                .filter(|r| r.method.as_str() == method && r.path() == path)
                .count()
        }
    }

    /// The `reason` of a Jira-shaped rejection body.
    pub async fn reason(resp: reqwest::Response) -> String {
        let v: serde_json::Value = resp.json().await.expect("a JSON body");
        v["reason"].as_str().unwrap_or("").to_string()
    }
}

const RULES: &str =
    "[access]\nallowed_groups = [\"jira-users\"]\nread_only_groups = [\"jira-readonly\"]\n";
const ISSUE: &str = "/rest/api/2/issue/DEMO-1";
const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

#[tokio::test]
async fn allowed_and_read_only_groups_for_pass_through_callers_across_methods() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    let alice = format!("Bearer {ALICE_PAT}");
    let bob = format!("Bearer {BOB_PAT}");
    let carol = basic("carol", "carol-pw");
    let admin = basic("admin", "admin-pw");
    for method in METHODS {
        let read = matches!(method, "GET" | "HEAD" | "OPTIONS");
        for (who, auth, allowed) in [
            ("alice", alice.as_str(), true),
            ("admin", admin.as_str(), true),
            ("bob", bob.as_str(), read),
            ("carol", carol.as_str(), false),
        ] {
            let before = g.forwarded(method, ISSUE);
            let resp = g.send(method, ISSUE, &[("authorization", auth)]).await;
            let status = resp.status().as_u16();
            if allowed {
                assert_ne!(status, 403, "{who} {method}");
                assert_eq!(
                    g.forwarded(method, ISSUE),
                    before + 1,
                    "{who} {method} forwarded"
                );
            } else {
                assert_eq!(status, 403, "{who} {method}");
                let want = if who == "carol" {
                    "group_denied"
                } else {
                    "read_only"
                };
                if method != "HEAD" {
                    assert_eq!(fixture::reason(resp).await, want, "{who} {method}");
                }
                assert_eq!(
                    g.forwarded(method, ISSUE),
                    before,
                    "{who} {method} not forwarded"
                );
            }
        }
    }
    // Four identities, each asked about once however many requests they made.
    assert_eq!(g.forwarded("GET", "/rest/api/2/myself"), 4);
}

#[tokio::test]
async fn post_search_is_a_read_and_post_issue_is_not() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    let bob = format!("Bearer {BOB_PAT}");
    let resp = g
        .send("POST", "/rest/api/2/search", &[("authorization", &bob)])
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(g.forwarded("POST", "/rest/api/2/search"), 1);
    let resp = g
        .send("POST", "/rest/api/2/issue", &[("authorization", &bob)])
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fixture::reason(resp).await, "read_only");
    assert_eq!(g.forwarded("POST", "/rest/api/2/issue"), 0);
    let resp = g
        .send(
            "POST",
            "/rest/api/2/issue",
            &[("authorization", &format!("Bearer {ALICE_PAT}"))],
        )
        .await;
    assert_eq!(resp.status(), 201);
    // The read-POST allowance is for the exact path only.
    let resp = g
        .send("POST", "/rest/api/2/search/x", &[("authorization", &bob)])
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn method_overrides_refuse_read_only_callers() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    let bob = format!("Bearer {BOB_PAT}");
    for h in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ] {
        let resp = g
            .send("GET", ISSUE, &[("authorization", &bob), (h, "DELETE")])
            .await;
        assert_eq!(resp.status(), 403, "{h}");
        assert_eq!(fixture::reason(resp).await, "read_only");
        let resp = g
            .send(
                "POST",
                "/rest/api/2/search",
                &[("authorization", &bob), (h, "PUT")],
            )
            .await;
        assert_eq!(resp.status(), 403, "{h} on a read POST");
    }
    for q in [
        "_method=DELETE",
        "x-http-method-override=PUT",
        "%5Fmethod=PATCH",
    ] {
        let resp = g
            .send("GET", &format!("{ISSUE}?{q}"), &[("authorization", &bob)])
            .await;
        assert_eq!(resp.status(), 403, "{q}");
    }
    assert_eq!(g.forwarded("GET", ISSUE), 0);
    assert_eq!(g.forwarded("POST", "/rest/api/2/search"), 0);
    let resp = g
        .send(
            "GET",
            &format!("{ISSUE}?fields=summary"),
            &[("authorization", &bob)],
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_refused_credential_is_401_and_never_forwarded() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    let wrong = basic("alice", "guess");
    for _ in 0..3 {
        let resp = g.send("PUT", ISSUE, &[("authorization", &wrong)]).await;
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("www-authenticate"));
        assert_eq!(fixture::reason(resp).await, "credential_rejected");
    }
    assert_eq!(g.forwarded("PUT", ISSUE), 0);
    assert_eq!(
        g.forwarded("GET", "/rest/api/2/myself"),
        1,
        "the wrong password was tried once"
    );
}

#[tokio::test]
async fn a_failing_lookup_is_503_and_never_forwarded() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    g.jira.set_failing(true);
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &format!("Bearer {ALICE_PAT}"))],
        )
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(fixture::reason(resp).await, "groups_unavailable");
    assert_eq!(g.forwarded("GET", ISSUE), 0);
    g.jira.set_failing(false);
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &format!("Bearer {ALICE_PAT}"))],
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn pass_through_groups_come_from_the_product_once_whatever_the_source() {
    let extra = format!("{RULES}[groups]\nsource = \"upstream\"\n");
    let g = Gate::start(JiraOptions::jira(), &extra).await;
    for _ in 0..3 {
        let resp = g
            .send(
                "GET",
                ISSUE,
                &[("authorization", &format!("Bearer {ALICE_PAT}"))],
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(g.forwarded("GET", ISSUE), 3);
    assert_eq!(g.forwarded("GET", "/rest/api/2/myself"), 1);
    assert_eq!(
        g.forwarded("GET", "/rest/api/2/user"),
        0,
        "no second lookup by username"
    );
    // The pass-through credential reaches the product untouched, with no identity header.
    let r = g
        .jira
        .requests()
        .into_iter()
        .rfind(|r| r.path() == ISSUE)
        .expect("forwarded");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {ALICE_PAT}"))
    );
    assert_eq!(r.header("x-forwarded-user"), None);
}

#[tokio::test]
async fn session_cookie_callers_are_read_only_too() {
    let g = Gate::start(JiraOptions::jira(), RULES).await;
    let resp = g
        .send("PUT", ISSUE, &[("cookie", "JSESSIONID=bob-session")])
        .await;
    assert_eq!(resp.status(), 403);
    let resp = g
        .send("PUT", ISSUE, &[("cookie", "JSESSIONID=alice-session")])
        .await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn confluence_callers_are_identified_through_memberof() {
    let g = Gate::start(JiraOptions::confluence(), RULES).await;
    let bob = basic("bob", "bob-pw");
    assert_eq!(
        g.send("GET", "/rest/api/user/current", &[("authorization", &bob)])
            .await
            .status(),
        200
    );
    let resp = g.send("PUT", ISSUE, &[("authorization", &bob)]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fixture::reason(resp).await, "read_only");
    assert_eq!(g.forwarded("GET", "/rest/api/user/memberof"), 1);
}

#[tokio::test]
async fn with_the_switch_off_pass_through_callers_are_not_identified() {
    let extra = format!("{RULES}[auth]\nresolve_passthrough_identity = false\n");
    let g = Gate::start(JiraOptions::jira(), &extra).await;
    // carol is in no allowed group, but authgate does not know who she is: the product decides.
    let resp = g
        .send(
            "PUT",
            ISSUE,
            &[("authorization", &basic("carol", "carol-pw"))],
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(g.forwarded("GET", "/rest/api/2/myself"), 0);
}
