use super::*;
use crate::pipeline::authz::Authz;
use crate::principal::Principal;
use governor::clock::FakeRelativeClock;
use http::{HeaderMap, Method};

/// `check` of the memory store, which decides without waiting.
trait CheckNow {
    fn check_now(
        &self,
        p: Option<&Permitted>,
        c: &RequestCtx,
    ) -> Result<Option<RateHeaders>, Rejection>;
}

impl<C: Clock + Clone> CheckNow for RateLimiter<C> {
    fn check_now(
        &self,
        p: Option<&Permitted>,
        c: &RequestCtx,
    ) -> Result<Option<RateHeaders>, Rejection> {
        futures_util::FutureExt::now_or_never(self.check(p, c))
            .expect("the memory store decides at once")
    }
}

fn settings(toml: &str) -> RateLimitSettings {
    crate::config::from_toml(toml).expect("config").rate_limit
}

const BASIC: &str = "[rate_limit]\nenabled = true\nrequests = 10\nper = \"1m\"\nburst = 3\n";

fn permit(p: Principal) -> Permitted {
    let access = crate::config::from_toml("").expect("config").access;
    Authz::new(&access)
        .check(
            p,
            &Method::GET,
            "/rest/api/2/myself",
            &HeaderMap::new(),
            None,
        )
        .expect("permitted")
}

fn token(user: &str, id: &str, groups: &[&str]) -> Permitted {
    permit(
        Principal::new(
            user.into(),
            CredentialKind::Jwt,
            Some("idp".into()),
            Some(id.into()),
        )
        .with_groups(groups.iter().map(|g| g.to_string()).collect()),
    )
}

fn basic(user: &str) -> Permitted {
    permit(Principal::new(
        user.into(),
        CredentialKind::Basic,
        None,
        None,
    ))
}

fn ctx(ip: &str) -> RequestCtx {
    let addr: IpAddr = ip.parse().expect("ip");
    let mut c = RequestCtx::new(
        "r".into(),
        (addr, 40000).into(),
        Method::GET,
        "/rest/api/2/x".into(),
    );
    c.client_ip = Some(ClientIp::Addr(addr));
    c
}

fn limiter(toml: &str) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (
        RateLimiter::with_clock(&settings(toml), clock.clone()),
        clock,
    )
}

fn hdr(remaining: u32, retry: u64) -> RateHeaders {
    RateHeaders {
        limit: 3,
        remaining,
        interval_secs: 60,
        fill_rate: 10,
        retry_after_secs: retry,
    }
}

#[test]
fn off_means_no_headers_and_no_keys() {
    let (l, _) = limiter("");
    assert_eq!(
        l.check_now(Some(&token("a", "t1", &[])), &ctx("10.0.0.1")),
        Ok(None)
    );
    assert_eq!(l.keys(), 0);
}

#[test]
fn exactly_burst_requests_then_429_with_jira_headers() {
    let (l, clock) = limiter(BASIC);
    let t = token("alice", "t1", &[]);
    let c = ctx("10.0.0.1");
    assert_eq!(l.check_now(Some(&t), &c), Ok(Some(hdr(2, 0))));
    assert_eq!(l.check_now(Some(&t), &c), Ok(Some(hdr(1, 0))));
    // The last token: none remain, the next is one refill period (60s / 10 = 6s) away.
    assert_eq!(l.check_now(Some(&t), &c), Ok(Some(hdr(0, 6))));
    let r = l.check_now(Some(&t), &c).expect_err("over the limit");
    assert_eq!(r.reason, Reason::RateLimited);
    assert_eq!(r.rate, Some(hdr(0, 6)));
    // 2.5s later the wait is 3.5s, reported as 4 whole seconds.
    clock.advance(Duration::from_millis(2500));
    assert_eq!(
        l.check_now(Some(&t), &c).expect_err("still empty").rate,
        Some(hdr(0, 4))
    );
    // After one period one token is back, and exactly one.
    clock.advance(Duration::from_millis(3500));
    assert_eq!(l.check_now(Some(&t), &c), Ok(Some(hdr(0, 6))));
    assert!(l.check_now(Some(&t), &c).is_err());
    // After a whole refill (3 tokens = 18s) the bucket is full again.
    clock.advance(Duration::from_secs(18));
    assert_eq!(l.check_now(Some(&t), &c), Ok(Some(hdr(2, 0))));
}

#[test]
fn keys_are_token_user_or_ip() {
    let c = ctx("10.0.0.1");
    let k = |p: Option<&Permitted>, c: &RequestCtx| key_for(p, c);
    assert_eq!(
        k(Some(&token("alice", "t1", &[])), &c),
        LimitKey::Token("t1".into())
    );
    assert_eq!(k(Some(&basic("alice")), &c), LimitKey::User("alice".into()));
    let session = permit(Principal::new(
        "bob".into(),
        CredentialKind::Session,
        None,
        None,
    ));
    assert_eq!(k(Some(&session), &c), LimitKey::User("bob".into()));
    let pat = permit(Principal::new(
        "bob".into(),
        CredentialKind::Pat,
        None,
        Some("h1".into()),
    ));
    assert_eq!(k(Some(&pat), &c), LimitKey::Token("h1".into()));
    assert_eq!(k(None, &c), LimitKey::Ip("10.0.0.1".parse().unwrap()));
    assert_eq!(
        k(None, &ctx("2001:db8:1:2:3:4:5:6")),
        LimitKey::Ip("2001:db8:1:2::".parse().unwrap())
    );
    let mut bad = ctx("10.9.9.9");
    bad.client_ip = Some(ClientIp::Malformed("0x7f.1".into()));
    assert_eq!(k(None, &bad), LimitKey::Ip("10.9.9.9".parse().unwrap()));
}

#[test]
fn callers_have_separate_buckets() {
    let (l, _) = limiter(BASIC);
    let c = ctx("10.0.0.1");
    let t1 = token("alice", "t1", &[]);
    for _ in 0..3 {
        l.check_now(Some(&t1), &c).expect("within burst");
    }
    assert!(l.check_now(Some(&t1), &c).is_err());
    // Another token of the same user, a Basic caller and an anonymous caller are unaffected.
    assert_eq!(
        l.check_now(Some(&token("alice", "t2", &[])), &c),
        Ok(Some(hdr(2, 0)))
    );
    assert_eq!(l.check_now(Some(&basic("alice")), &c), Ok(Some(hdr(2, 0))));
    assert_eq!(l.check_now(None, &c), Ok(Some(hdr(2, 0))));
    assert_eq!(l.check_now(None, &ctx("10.0.0.2")), Ok(Some(hdr(2, 0))));
    assert_eq!(l.keys(), 5);
}

const OVERRIDES: &str = r#"
[rate_limit]
enabled = true
requests = 10
per = "1m"
burst = 3
[[rate_limit.overrides]]
group = "ci-bots"
requests = 100
per = "10s"
burst = 5
[[rate_limit.overrides]]
group = "slow"
requests = 1
per = "1h"
[[rate_limit.overrides]]
group = "also-bots"
requests = 100
per = "10s"
burst = 5
"#;

#[test]
fn the_first_matching_override_wins() {
    let (l, _) = limiter(OVERRIDES);
    let c = ctx("10.0.0.1");
    let bot = token("ci", "b1", &["jira-users", "slow", "ci-bots"]);
    let h = l.check_now(Some(&bot), &c).expect("ok").expect("on");
    // "ci-bots" is listed before "slow" in the config, so it wins whatever the group order.
    assert_eq!(
        (h.limit, h.remaining, h.interval_secs, h.fill_rate),
        (5, 4, 10, 100)
    );
    let slow = token("s", "s1", &["slow"]);
    let h = l.check_now(Some(&slow), &c).expect("ok").expect("on");
    assert_eq!(
        (
            h.limit,
            h.remaining,
            h.interval_secs,
            h.fill_rate,
            h.retry_after_secs
        ),
        (1, 0, 3600, 1, 3600)
    );
    assert!(l.check_now(Some(&slow), &c).is_err());
    let plain = token("p", "p1", &["jira-users"]);
    assert_eq!(l.check_now(Some(&plain), &c), Ok(Some(hdr(2, 0))));
    // Equal quotas share one limiter: default, ci-bots(+also-bots), slow.
    assert_eq!(l.buckets.len(), 3);
}

#[test]
fn a_reload_keeps_counters_of_unchanged_quotas_only() {
    let (l, _) = limiter(OVERRIDES);
    let c = ctx("10.0.0.1");
    let plain = token("p", "p1", &[]);
    let bot = token("ci", "b1", &["ci-bots"]);
    let slow = token("s", "s1", &["slow"]);
    for _ in 0..3 {
        l.check_now(Some(&plain), &c).expect("within burst");
    }
    l.check_now(Some(&bot), &c).expect("ok");
    l.check_now(Some(&slow), &c).expect("ok");
    // Same default, ci-bots changed, slow unchanged.
    let changed = OVERRIDES.replacen("burst = 5", "burst = 7", 1);
    let l2 = l.rebuild(&settings(&changed));
    assert!(
        l2.check_now(Some(&plain), &c).is_err(),
        "default counter kept"
    );
    let h = l2.check_now(Some(&bot), &c).expect("ok").expect("on");
    assert_eq!((h.limit, h.remaining), (7, 6), "changed quota starts fresh");
    assert!(l2.check_now(Some(&slow), &c).is_err(), "slow counter kept");
    // The old limiter still works on the shared buckets (in-flight requests).
    assert!(l.check_now(Some(&plain), &c).is_err());
    // Turning it off and on again is a change of nothing for the quotas.
    let off = settings(&changed.replace("enabled = true", "enabled = false"));
    let l3 = l2.rebuild(&off);
    assert_eq!(l3.check_now(Some(&plain), &c), Ok(None));
    let l4 = l3.rebuild(&settings(&changed));
    assert!(l4.check_now(Some(&plain), &c).is_err());
}

#[test]
fn idle_keys_are_pruned_once_their_bucket_is_full_again() {
    let (l, clock) = limiter(BASIC);
    let c = ctx("10.0.0.1");
    for i in 0..1000 {
        l.check_now(Some(&token("u", &format!("t{i}"), &[])), &c)
            .expect("fresh key");
    }
    assert_eq!(l.keys(), 1000);
    l.prune();
    assert_eq!(l.keys(), 1000, "buckets not yet full again are kept");
    // One token refills in 6s; governor drops a key one more period after its bucket is
    // full again (its theoretical arrival time is `t` behind now).
    clock.advance(Duration::from_secs(11));
    l.prune();
    assert_eq!(l.keys(), 1000, "not yet");
    clock.advance(Duration::from_secs(1));
    let busy = token("u", "busy", &[]);
    for _ in 0..3 {
        l.check_now(Some(&busy), &c).expect("within burst");
    }
    l.prune();
    assert_eq!(l.keys(), 1, "only the busy key stays");
    assert!(
        l.check_now(Some(&busy), &c).is_err(),
        "its state survived pruning"
    );
}
