//! Each source of groups, with the Jira stand-in answering the product lookups.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::Product;
use crate::principal::CredentialKind;
use crate::standin::jira::{JiraOptions, JiraStandin, StandinUser};

fn config(toml: &str) -> Config {
    crate::config::from_toml(toml).expect("config")
}

fn groups_for(cfg: &Config) -> Groups {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    build(cfg, &http, &Arc::new(Metrics::new()), None)
}

/// `Groups::new` with the config's own identity hand-off and the system clock.
fn build(
    cfg: &Config,
    http: &reqwest::Client,
    m: &Arc<Metrics>,
    previous: Option<&Groups>,
) -> Groups {
    let identity = Arc::new(UpstreamIdentity::new(&cfg.upstream.identity).expect("hand-off"));
    let clock: SharedClock = Arc::new(crate::clock::SystemClock);
    Groups::new(
        cfg,
        Lookups {
            http,
            identity_handoff: &identity,
            clock: &clock,
        },
        m,
        previous,
    )
}

fn upstream_toml(jira: &JiraStandin, product: &str, extra: &str) -> String {
    format!(
        "[upstream]\nurl = \"{}\"\nproduct = \"{product}\"\ntimeout = \"2s\"\n{extra}\n[groups]\nsource = \"upstream\"\ncache_ttl = \"5m\"\n",
        jira.url()
    )
}

fn principal(name: &str, claim_groups: &[&str]) -> Principal {
    Principal::new(
        name.into(),
        CredentialKind::Jwt,
        Some("idp".into()),
        Some("t".into()),
    )
    .with_groups(claim_groups.iter().map(|g| g.to_string()).collect())
}

fn lookups(jira: &JiraStandin, path: &str) -> usize {
    jira.requests().iter().filter(|r| r.path() == path).count()
}

#[tokio::test]
async fn claim_keeps_the_principals_groups() {
    let g = groups_for(&config("[groups]\nsource = \"claim\"\n"));
    let p = g
        .resolve(principal("alice", &["a", "b c"]))
        .await
        .expect("claim");
    assert_eq!(p.groups(), ["a".to_string(), "b c".to_string()]);
}

#[tokio::test]
async fn static_reads_the_table_and_replaces_claims() {
    let g = groups_for(&config(
        "[groups]\nsource = \"static\"\n[groups.static]\nalice = [\"jira-administrators\", \"jira-users\"]\n",
    ));
    let p = g
        .resolve(principal("alice", &["from-token"]))
        .await
        .expect("static");
    assert_eq!(
        p.groups(),
        ["jira-administrators".to_string(), "jira-users".to_string()]
    );
    let p = g
        .resolve(principal("mallory", &["jira-administrators"]))
        .await
        .expect("static");
    assert!(
        p.groups().is_empty(),
        "a user not in the table has no groups, whatever the token says"
    );
}

#[tokio::test]
async fn upstream_jira_asks_as_the_user_in_header_mode_and_caches() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let g = groups_for(&config(&upstream_toml(&jira, "jira", "")));
    let p = g
        .resolve(principal("bob", &["claimed-admins"]))
        .await
        .expect("bob");
    assert_eq!(
        p.groups(),
        ["jira-users".to_string(), "jira-readonly".to_string()]
    );
    let p = g.resolve(principal("bob", &[])).await.expect("bob again");
    assert_eq!(
        p.groups(),
        ["jira-users".to_string(), "jira-readonly".to_string()]
    );
    let carol = g.resolve(principal("carol", &["x"])).await.expect("carol");
    assert!(carol.groups().is_empty());
    let reqs: Vec<_> = jira
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/rest/api/2/user")
        .collect();
    assert_eq!(reqs.len(), 2, "one lookup per user, then the cache");
    assert_eq!(
        reqs[0].target,
        "/rest/api/2/user?username=bob&expand=groups"
    );
    assert_eq!(reqs[0].header("x-forwarded-user").as_deref(), Some("bob"));
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(g.cached_users().await, 2);
}

#[tokio::test]
async fn upstream_jira_uses_the_service_account_in_service_account_mode() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let extra = "[upstream.identity]\nmode = \"service_account\"\nheader = \"X-Forwarded-User\"\nauthorization = \"Basic YWRtaW46YWRtaW4tcHc=\"\n";
    let g = groups_for(&config(&upstream_toml(&jira, "jira", extra)));
    let p = g.resolve(principal("alice", &[])).await.expect("alice");
    assert_eq!(p.groups(), ["jira-users".to_string()]);
    let r = &jira.requests()[0];
    assert_eq!(
        r.header("authorization").as_deref(),
        Some("Basic YWRtaW46YWRtaW4tcHc=")
    );
    assert_eq!(r.header("x-forwarded-user").as_deref(), Some("alice"));
}

#[tokio::test]
async fn upstream_confluence_pages_through_memberof() {
    let many: Vec<String> = (0..450).map(|i| format!("g{i:03}")).collect();
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut opts = JiraOptions::confluence();
    opts.users.push(StandinUser::new("dave", &many_refs));
    let jira = JiraStandin::start(opts).await;
    assert_eq!(jira.options().product, Product::Confluence);
    let g = groups_for(&config(&upstream_toml(
        &jira,
        "confluence",
        "[upstream.identity]\nheader = \"X-Forwarded-User\"\n",
    )));
    let p = g.resolve(principal("dave", &[])).await.expect("dave");
    assert_eq!(p.groups(), many.as_slice());
    let targets: Vec<String> = jira.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/rest/api/user/memberof?username=dave&start=0&limit=200",
            "/rest/api/user/memberof?username=dave&start=200&limit=200",
            "/rest/api/user/memberof?username=dave&start=400&limit=200",
        ]
    );
    let p = g.resolve(principal("bob", &[])).await.expect("bob");
    assert_eq!(
        p.groups(),
        ["jira-users".to_string(), "jira-readonly".to_string()]
    );
}

#[tokio::test]
async fn a_failing_lookup_is_503_and_is_not_cached() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let g = groups_for(&config(&upstream_toml(&jira, "jira", "")));
    jira.set_failing(true);
    for _ in 0..2 {
        let r = g
            .resolve(principal("alice", &["jira-users"]))
            .await
            .expect_err("failing");
        assert_eq!(r.reason, Reason::GroupsUnavailable);
    }
    assert_eq!(
        lookups(&jira, "/rest/api/2/user"),
        2,
        "failures are not cached"
    );
    jira.set_failing(false);
    let p = g.resolve(principal("alice", &[])).await.expect("recovered");
    assert_eq!(p.groups(), ["jira-users".to_string()]);
    // An unknown user (404) is a failed lookup too, never "no groups".
    let r = g.resolve(principal("nobody", &[])).await.expect_err("404");
    assert_eq!(r.reason, Reason::GroupsUnavailable);
}

#[tokio::test]
async fn an_unreachable_product_is_503() {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let g = groups_for(&config(&format!(
        "[upstream]\nurl = \"{url}\"\n[groups]\nsource = \"upstream\"\n"
    )));
    let r = g
        .resolve(principal("alice", &[]))
        .await
        .expect_err("unreachable");
    assert_eq!(r.reason, Reason::GroupsUnavailable);
}

#[tokio::test]
async fn a_slow_product_gets_one_lookup_per_user_and_a_timeout_is_503() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let g = Arc::new(groups_for(&config(&upstream_toml(&jira, "jira", ""))));
    jira.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let g = Arc::clone(&g);
            tokio::spawn(async move { g.resolve(principal("alice", &[])).await })
        })
        .collect();
    for t in tasks {
        let p = t.await.expect("task").expect("slow but fine");
        assert_eq!(p.groups(), ["jira-users".to_string()]);
    }
    assert_eq!(
        lookups(&jira, "/rest/api/2/user"),
        1,
        "concurrent callers share one lookup"
    );
    // Slower than the lookup timeout (upstream.timeout = 2s): 503, not "no groups".
    jira.set_delay(Duration::from_secs(5));
    let r = g.resolve(principal("bob", &[])).await.expect_err("timeout");
    assert_eq!(r.reason, Reason::GroupsUnavailable);
}

#[tokio::test]
async fn a_reload_keeps_the_cache_only_when_lookups_are_unchanged() {
    let jira = JiraStandin::start(JiraOptions::jira()).await;
    let http = reqwest::Client::new();
    let m = Arc::new(Metrics::new());
    let first = build(&config(&upstream_toml(&jira, "jira", "")), &http, &m, None);
    first.resolve(principal("alice", &[])).await.expect("alice");
    let same = format!(
        "{}[access]\ndeny = [\"/x\"]\n",
        upstream_toml(&jira, "jira", "")
    );
    let second = build(&config(&same), &http, &m, Some(&first));
    second
        .resolve(principal("alice", &[]))
        .await
        .expect("cached");
    assert_eq!(lookups(&jira, "/rest/api/2/user"), 1);
    let other = upstream_toml(
        &jira,
        "jira",
        "[upstream.identity]\nheader = \"X-Remote-User\"\n",
    );
    let third = build(&config(&other), &http, &m, Some(&second));
    third
        .resolve(principal("alice", &[]))
        .await
        .expect_err("the stand-in reads another header");
    assert_eq!(
        lookups(&jira, "/rest/api/2/user"),
        2,
        "a changed hand-off is a new cache"
    );
}
