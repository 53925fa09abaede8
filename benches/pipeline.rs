//! Request-path speed (criterion): the parts every request pays before any token is validated.
//!
//! - `path/canonicalize_jira` — stage 1 on a typical Jira path (target < 1 µs).
//! - `headers/rewrite_authenticated` — the whole request-head rewrite towards the product for
//!   a caller authgate authenticated (target < 1 µs).
//! - `prevalidate/50_rules_20_cidrs` — stages 1–5 (path, reserved, IP filter, scope, credential
//!   class) for a config with 50 rule patterns and 20 CIDRs, with the request context created
//!   as the server does (target < 2 µs).
//!
//! Run: `cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};

use authgate::body::Form;
use authgate::headers::{rewrite_request, Caller, Origin};
use authgate::pipeline::{path, prevalidate, Prevalidated, RequestCtx};

const JIRA_TARGET: &str = "/rest/api/2/issue/PROJ-1234/comment?expand=renderedBody&maxResults=50";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lkcCIsInN1YiI6ImFsaWNlIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";

fn typical_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "jira.example.com"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("authorization", &format!("Bearer {TOKEN}")[..]),
        (
            "cookie",
            "JSESSIONID=ABCDEF0123456789; atlassian.xsrf.token=BWP3-NZB2; theme=dark",
        ),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-user", "admin"),
        ("connection", "keep-alive"),
        ("content-type", "application/json"),
        ("x-request-id", "bench-0001"),
    ] {
        h.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn config_50_rules_20_cidrs() -> authgate::config::Config {
    let q = |v: Vec<String>| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let api: Vec<String> = (0..5)
        .map(|i| format!("/rest/app{i}/**"))
        .chain(["/rest/**".into()])
        .collect();
    let deny: Vec<String> = (0..10)
        .map(|i| format!("DELETE /rest/api/2/thing{i}/*/sub/**"))
        .collect();
    let bypass: Vec<String> = (0..10)
        .map(|i| format!("GET /rest/plugin{i}/1.0/status"))
        .collect();
    let restricted: Vec<String> = (0..15)
        .map(|i| format!("/rest/api/2/project{i}/*/role/**"))
        .collect();
    let read_posts: Vec<String> = (0..9).map(|i| format!("POST /rest/search{i}")).collect();
    let cidrs: Vec<String> = (0..20).map(|i| format!("10.{i}.0.0/16")).collect();
    let text = format!(
        "[auth]\napi_paths = [{}]\n[access]\ndeny = [{}]\nbypass = [{}]\npublic_restricted = [{}]\nread_posts = [{}]\n[ip]\nallow = [{}]\ntrusted_proxies = [\"192.168.1.10\"]\n[[providers]]\nname = \"corp\"\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"jira\"]\npublic_key_file = \"k.pem\"\n",
        q(api), q(deny), q(bypass), q(restricted), q(read_posts), q(cidrs)
    );
    let rules = 6 + 10 + 10 + 15 + 9;
    assert_eq!(rules, 50);
    authgate::config::from_toml_with(&text, Path::new("."), &|_| None)
        .expect("bench config is valid")
}

fn bench_path(c: &mut Criterion) {
    let uri: Uri = JIRA_TARGET.parse().expect("uri");
    c.bench_function("path/canonicalize_jira", |b| {
        b.iter(|| {
            path::canonicalize(
                black_box(&Method::GET),
                black_box(&uri),
                Version::HTTP_11,
                "",
            )
        })
    });
}

fn bench_headers(c: &mut Criterion) {
    let identity = HeaderName::from_static("x-forwarded-user");
    let template = typical_headers();
    let origin = Origin {
        peer: "10.19.3.4".parse().expect("ip"),
        peer_trusted: false,
        proto: "https",
        request_id: "bench-0001",
        authority: None,
    };
    let carriers = authgate::carriers::Carriers::new(authgate::carriers::JIRA_SESSION_COOKIES, &[]);
    let caller = Caller::Authenticated {
        username: "alice",
        identity: authgate::headers::IdentityHeader::Named {
            authorization: None,
        },
    };
    c.bench_function("headers/rewrite_authenticated", |b| {
        b.iter_batched_ref(
            || template.clone(),
            |h| rewrite_request(h, &identity, &carriers, caller, origin),
            BatchSize::SmallInput,
        )
    });
}

fn bench_prevalidate(c: &mut Criterion) {
    let cfg = config_50_rules_20_cidrs();
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(JIRA_TARGET)
        .body(())
        .expect("request");
    *req.headers_mut() = typical_headers();
    let (parts, ()) = req.into_parts();
    // A peer in the last CIDR: the allow-list is walked to its end.
    let peer: SocketAddr = "10.19.3.4:50000".parse().expect("peer");
    // Sanity: this request goes all the way to "authenticate the JWT".
    let mut ctx = RequestCtx::new("bench".into(), peer, Method::GET, JIRA_TARGET.into());
    assert!(matches!(
        prevalidate(&cfg, false, &parts, &Form::None, &mut ctx),
        Ok(Prevalidated::Checked(_))
    ));
    c.bench_function("prevalidate/50_rules_20_cidrs", |b| {
        b.iter(|| {
            let mut ctx = RequestCtx::new(
                "bench-0001".into(),
                peer,
                parts.method.clone(),
                String::new(),
            );
            let out = prevalidate(
                black_box(&cfg),
                false,
                black_box(&parts),
                &Form::None,
                &mut ctx,
            );
            black_box((out.is_ok(), ctx.stage))
        })
    });
}

criterion_group!(benches, bench_path, bench_headers, bench_prevalidate);
criterion_main!(benches);
