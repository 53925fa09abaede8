//! Rate limiting end to end (docs/http.md step 8): Jira's headers on every API response,
//! 429 after exactly `burst`, one bucket per token / user / IP, per-group overrides, reloads,
//! and no limiter keys for junk credentials.

use authgate::pipeline::{self, Outcome, RequestCtx};
use authgate::standin::jira::{JiraOptions, ADMIN_PAT, ALICE_PAT, BOB_PAT};

use crate::authz::fixture::{basic, reason, Gate};

const SLOW: &str = "[rate_limit]\nenabled = true\nrequests = 1\nper = \"1h\"\nburst = 3\n";
const ISSUE: &str = "/rest/api/2/issue/DEMO-1";

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_else(|| panic!("no {name}"))
}

/// (limit, remaining, interval, fill rate, retry-after)
fn rate(resp: &reqwest::Response) -> (u64, u64, u64, u64, u64) {
    let n = |h: &str| header(resp, h).parse::<u64>().expect("a number");
    (
        n("x-ratelimit-limit"),
        n("x-ratelimit-remaining"),
        n("x-ratelimit-interval-seconds"),
        n("x-ratelimit-fillrate"),
        n("retry-after"),
    )
}

#[tokio::test]
async fn exactly_burst_requests_then_429_with_jira_headers() {
    let g = Gate::start(JiraOptions::jira(), SLOW).await;
    let alice = format!("Bearer {ALICE_PAT}");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let resp = g.send("GET", ISSUE, &[("authorization", &alice)]).await;
        assert_eq!(resp.status(), 200);
        seen.push(rate(&resp));
    }
    assert_eq!(
        seen,
        [
            (3, 2, 3600, 1, 0),
            (3, 1, 3600, 1, 0),
            (3, 0, 3600, 1, 3600)
        ]
    );
    let resp = g.send("GET", ISSUE, &[("authorization", &alice)]).await;
    assert_eq!(resp.status(), 429);
    let (limit, remaining, interval, fill, retry) = rate(&resp);
    assert_eq!((limit, remaining, interval, fill), (3, 0, 3600, 1));
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    assert_eq!(reason(resp).await, "rate_limited");
    assert_eq!(
        g.forwarded("GET", ISSUE),
        3,
        "the 429 never reached the product"
    );
    // Other callers have their own buckets: another PAT, and alice with Basic (keyed by user).
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &format!("Bearer {BOB_PAT}"))],
        )
        .await;
    assert_eq!(rate(&resp), (3, 2, 3600, 1, 0));
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &basic("alice", "alice-pw"))],
        )
        .await;
    assert_eq!(rate(&resp), (3, 2, 3600, 1, 0));
}

#[tokio::test]
async fn basic_and_session_callers_share_the_users_bucket() {
    let g = Gate::start(JiraOptions::jira(), SLOW).await;
    let a = g
        .send("GET", ISSUE, &[("authorization", &basic("bob", "bob-pw"))])
        .await;
    assert_eq!(rate(&a).1, 2);
    let b = g
        .send("GET", ISSUE, &[("cookie", "JSESSIONID=bob-session")])
        .await;
    assert_eq!(rate(&b).1, 1);
    let c = g
        .send("GET", ISSUE, &[("authorization", &basic("bob", "bob-pw"))])
        .await;
    assert_eq!(rate(&c).1, 0);
    let d = g
        .send("GET", ISSUE, &[("cookie", "JSESSIONID=bob-session")])
        .await;
    assert_eq!(d.status(), 429);
}

#[tokio::test]
async fn anonymous_callers_are_limited_by_ip_and_every_api_answer_has_the_headers() {
    let g = Gate::start(JiraOptions::jira(), SLOW).await;
    for remaining in [2, 1, 0] {
        let resp = g.send("GET", "/rest/api/2/serverInfo", &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(rate(&resp).1, remaining);
    }
    let resp = g.send("GET", "/rest/api/2/nothing-here", &[]).await;
    assert_eq!(resp.status(), 429);
    // A product error on an API path carries them too (a fresh caller: bob).
    let resp = g
        .send(
            "GET",
            "/rest/api/2/nothing-here",
            &[("authorization", &format!("Bearer {BOB_PAT}"))],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(rate(&resp), (3, 2, 3600, 1, 0));
}

#[tokio::test]
async fn a_group_override_gives_its_members_their_own_quota() {
    let extra = format!("{SLOW}[[rate_limit.overrides]]\ngroup = \"jira-administrators\"\nrequests = 10\nper = \"1m\"\nburst = 5\n");
    let g = Gate::start(JiraOptions::jira(), &extra).await;
    let admin = format!("Bearer {ADMIN_PAT}");
    for remaining in (0..5).rev() {
        let resp = g.send("GET", ISSUE, &[("authorization", &admin)]).await;
        let want_retry = if remaining == 0 { 6 } else { 0 };
        assert_eq!(rate(&resp), (5, remaining, 60, 10, want_retry));
    }
    assert_eq!(
        g.send("GET", ISSUE, &[("authorization", &admin)])
            .await
            .status(),
        429
    );
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &format!("Bearer {ALICE_PAT}"))],
        )
        .await;
    assert_eq!(rate(&resp), (3, 2, 3600, 1, 0));
}

#[tokio::test]
async fn limits_apply_after_group_rules() {
    let extra = format!("{SLOW}[access]\nread_only_groups = [\"jira-readonly\"]\n");
    let g = Gate::start(JiraOptions::jira(), &extra).await;
    let bob = format!("Bearer {BOB_PAT}");
    // Refused writes do not spend tokens.
    for _ in 0..5 {
        assert_eq!(
            g.send("PUT", ISSUE, &[("authorization", &bob)])
                .await
                .status(),
            403
        );
    }
    let resp = g.send("GET", ISSUE, &[("authorization", &bob)]).await;
    assert_eq!(rate(&resp).1, 2);
}

#[tokio::test]
async fn a_reload_keeps_counters_when_the_quota_is_unchanged() {
    let g = Gate::start(JiraOptions::jira(), SLOW).await;
    let alice = format!("Bearer {ALICE_PAT}");
    for _ in 0..2 {
        g.send("GET", ISSUE, &[("authorization", &alice)]).await;
    }
    g.reload(&format!(
        "{SLOW}[access]\ndeny = [\"/rest/api/2/dashboard\"]\n"
    ))
    .await;
    let resp = g.send("GET", ISSUE, &[("authorization", &alice)]).await;
    assert_eq!(rate(&resp).1, 0, "the count survived the reload");
    assert_eq!(
        g.send("GET", ISSUE, &[("authorization", &alice)])
            .await
            .status(),
        429
    );
    g.reload(&SLOW.replace("burst = 3", "burst = 4")).await;
    let resp = g.send("GET", ISSUE, &[("authorization", &alice)]).await;
    assert_eq!(
        rate(&resp),
        (4, 3, 3600, 1, 0),
        "a changed quota starts fresh"
    );
}

#[tokio::test]
async fn junk_credentials_create_no_limiter_keys() {
    let g = Gate::start(JiraOptions::jira(), SLOW).await;
    let rt = g.gw.state.runtime.load_full();
    let peer = "127.0.0.1:50000".parse().expect("addr");
    // 100 000 distinct junk credentials through the pipeline itself (no sockets needed).
    for i in 0..100_000u32 {
        let auth = match i % 4 {
            0 => format!("Bearer junk-opaque-{i}"),
            1 => format!("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ7aX0ifQ.c2ln{i}"),
            2 => format!("Basic !!{i}"),
            _ => format!("Digest {i}"),
        };
        let (parts, ()) = http::Request::builder()
            .uri(ISSUE)
            .header("authorization", auth)
            .body(())
            .expect("request")
            .into_parts();
        let mut ctx = RequestCtx::new(
            format!("r{i}"),
            peer,
            parts.method.clone(),
            ISSUE.to_string(),
        );
        match pipeline::run(
            &rt,
            &parts,
            &mut authgate::body::RequestBody::new(authgate::body::empty()),
            &mut ctx,
        )
        .await
        {
            Outcome::Reject(r) => assert_eq!(r.reason.status(), 401, "{i}: {:?}", r.reason),
            other => panic!("{i}: junk got through: {other:?}"),
        }
    }
    // And junk the product has to judge: unknown PATs and wrong passwords, over the wire.
    for i in 0..200u32 {
        let pat = format!("N{:043}", i);
        let resp = g
            .send("GET", ISSUE, &[("authorization", &format!("Bearer {pat}"))])
            .await;
        assert_eq!(resp.status(), 401);
        let resp = g
            .send(
                "GET",
                ISSUE,
                &[("authorization", &basic("alice", &format!("guess{i}")))],
            )
            .await;
        assert_eq!(resp.status(), 401);
    }
    assert_eq!(rt.limiter.keys(), 0, "no key for any junk credential");
    assert_eq!(g.forwarded("GET", ISSUE), 0);
    let resp = g
        .send(
            "GET",
            ISSUE,
            &[("authorization", &format!("Bearer {ALICE_PAT}"))],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(g.gw.state.runtime.load().limiter.keys(), 1);
}
