//! Group check + rate limiter per request (target: well under 1 µs).
//!
//! Run: `cargo bench --bench authz`.

use std::hint::black_box;

use authgate::pipeline::authz::{Authz, Caller};
use authgate::pipeline::rate_limit::{LimitKey, RateLimiter};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Method};

const CONFIG: &str = r#"
[access]
allowed_groups = ["jira-users", "jira-bots"]
read_only_groups = ["jira-readonly"]
[rate_limit]
enabled = true
requests = 1000000000
per = "1s"
burst = 1000000000
[[rate_limit.overrides]]
group = "ci-bots"
requests = 1000000000
per = "1s"
burst = 1000000000
"#;

fn bench(c: &mut Criterion) {
    let cfg = authgate::config::from_toml(CONFIG).expect("config");
    let authz = Authz::new(&cfg.access);
    let limiter = RateLimiter::new(&cfg.rate_limit);
    let headers = HeaderMap::new();
    let rw: Vec<String> = [
        "confluence-users",
        "developers",
        "team-a",
        "team-b",
        "jira-users",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut ro = rw.clone();
    ro.push("jira-readonly".into());

    c.bench_function("authz+limit: read-write GET, one token", |b| {
        let caller = Caller {
            username: "alice",
            groups: &rw,
            read_only_token: false,
        };
        b.iter(|| {
            let read_only = authz
                .decide(
                    &caller,
                    &Method::GET,
                    "/rest/api/2/issue/ABC-1",
                    &headers,
                    Some("fields=summary"),
                )
                .expect("allowed");
            let key = LimitKey::Token("0123456789abcdef".into());
            black_box((
                read_only,
                limiter.take(&key, caller.groups).expect("within limit"),
            ))
        })
    });

    c.bench_function("authz+limit: read-only POST search, 10k tokens", |b| {
        let caller = Caller {
            username: "bob",
            groups: &ro,
            read_only_token: false,
        };
        let keys: Vec<LimitKey> = (0..10_000)
            .map(|i| LimitKey::Token(format!("{i:016x}").into()))
            .collect();
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % keys.len();
            let read_only = authz
                .decide(
                    &caller,
                    &Method::POST,
                    "/rest/api/2/search",
                    &headers,
                    Some("validate=true"),
                )
                .expect("a read POST");
            black_box((
                read_only,
                limiter.take(&keys[i], caller.groups).expect("within limit"),
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
