//! `authgate demo`: what it prints is what happens. Each test starts the real demo (stand-in,
//! generated key pair, gateway on free loopback ports), takes a printed curl command, parses
//! it back and sends exactly that request.

use authgate::cmd::{Demo, DemoOptions};

/// A request read back from a printed curl command.
struct Parsed {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    times: u32,
}

/// Splits on spaces outside quotes (single or double, the quoting the demo prints).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match c {
            '\'' | '"' if quote.is_none() => quote = Some(c),
            c if quote == Some(c) => quote = None,
            ' ' if quote.is_none() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses a printed curl command, expanding `$TOKEN` / `$RO_TOKEN` as the shell would after
/// the printed `export` lines.
fn parse_curl(demo: &Demo, cmd: &str) -> Parsed {
    let (times, inner) = match cmd.strip_prefix("for i in $(seq ") {
        Some(rest) => {
            let (n, rest) = rest.split_once("); do ").expect("loop form");
            (
                n.parse().expect("count"),
                rest.strip_suffix("; done").expect("loop end"),
            )
        }
        None => (1, cmd),
    };
    let w = words(inner);
    assert_eq!(w[0], "curl", "{cmd}");
    let mut p = Parsed {
        method: "GET".into(),
        url: String::new(),
        headers: Vec::new(),
        body: None,
        times,
    };
    let mut i = 1;
    while i < w.len() {
        match w[i].as_str() {
            "-s" => {}
            "-o" | "-w" => i += 1,
            "-X" => {
                p.method = w[i + 1].clone();
                i += 1;
            }
            "-H" => {
                let (k, v) = w[i + 1].split_once(": ").expect("header");
                p.headers.push((k.to_string(), demo.expand(v)));
                i += 1;
            }
            "-d" => {
                p.body = Some(w[i + 1].clone());
                if p.method == "GET" {
                    p.method = "POST".into();
                }
                i += 1;
            }
            url if url.starts_with("http://") => p.url = url.to_string(),
            other => panic!("unexpected curl word {other:?} in {cmd}"),
        }
        i += 1;
    }
    p
}

/// Sends the parsed request `times` times; returns every status.
async fn send(p: &Parsed) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    let mut statuses = Vec::new();
    for _ in 0..p.times {
        let mut req = client.request(p.method.parse().expect("method"), &p.url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &p.body {
            req = req.body(b.clone());
        }
        statuses.push(
            req.send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16(),
        );
    }
    statuses
}

async fn start() -> Demo {
    Demo::start(DemoOptions {
        preferred_ports: false,
        identity: authgate::cmd::DemoIdentity::Header,
    })
    .await
    .expect("the demo starts on a machine with nothing else running")
}

/// The printed command for the example whose title starts with `prefix`, parsed back.
fn printed(demo: &Demo, prefix: &str) -> (Parsed, u16) {
    let ex = demo
        .examples
        .iter()
        .find(|e| e.title.starts_with(prefix))
        .unwrap_or_else(|| panic!("no example {prefix}"));
    let text = demo.instructions();
    let cmd = ex.command();
    assert!(text.contains(&cmd), "the command is printed:\n{text}");
    assert!(
        text.contains(&format!("export TOKEN={}", demo.token)),
        "{text}"
    );
    assert!(
        text.contains(&format!("export RO_TOKEN={}", demo.read_only_token)),
        "{text}"
    );
    (parse_curl(demo, &cmd), ex.expect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_allow_curl_returns_200_through_the_gateway() {
    let demo = start().await;
    let text = demo.instructions();
    assert!(text.contains(&demo.token), "prints the token");
    assert!(
        text.contains(&format!("http://{}", demo.gateway.addr)),
        "prints the gateway URL"
    );
    let (req, expect) = printed(&demo, "allowed");
    assert_eq!(expect, 200);
    assert_eq!(send(&req).await, [200]);
    // Jira saw alice through the identity header, never the token.
    let seen = demo.jira.requests();
    let last = seen.last().expect("the stand-in got the request");
    assert_eq!(
        last.headers.get("x-forwarded-user").map(|v| v.as_bytes()),
        Some(&b"alice"[..])
    );
    assert!(last.headers.get("authorization").is_none());
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_401_curl_returns_401() {
    let demo = start().await;
    let (req, expect) = printed(&demo, "401");
    assert_eq!(send(&req).await, [expect]);
    assert!(demo.jira.requests().is_empty(), "never reached Jira");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_deny_rule_curl_returns_403() {
    let demo = start().await;
    let (req, expect) = printed(&demo, "403: a deny rule");
    assert_eq!(send(&req).await, [expect]);
    assert!(demo.jira.requests().is_empty(), "never reached Jira");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_read_only_curl_returns_403() {
    let demo = start().await;
    let (req, expect) = printed(&demo, "403: bob");
    assert_eq!(send(&req).await, [expect]);
    assert!(demo.jira.requests().is_empty(), "never reached Jira");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_rate_limit_curl_ends_in_429() {
    let demo = start().await;
    let (req, expect) = printed(&demo, "429");
    let statuses = send(&req).await;
    assert_eq!(statuses.len(), 7);
    assert_eq!(&statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [expect, expect], "{statuses:?}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_only_into_its_temp_dir() {
    let demo = start().await;
    let dir = demo.dir().to_path_buf();
    assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());
    assert!(dir.join("demo-idp-public.pem").is_file());
    let pem = std::fs::read_to_string(dir.join("demo-idp-public.pem")).expect("pem");
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "only the public key is written"
    );
    demo.shutdown().await;
    assert!(!dir.exists(), "removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_identity_oauth1_signs_for_the_user_with_nothing_installed() {
    let demo = Demo::start(DemoOptions {
        preferred_ports: false,
        identity: authgate::cmd::DemoIdentity::Oauth1,
    })
    .await
    .expect("the oauth1 demo starts");
    let (req, expect) = printed(&demo, "allowed");
    assert_eq!(expect, 200);
    assert_eq!(send(&req).await, [200]);
    let seen = demo.jira.requests();
    let last = seen.last().expect("the stand-in got the request");
    assert!(last.headers.get("x-forwarded-user").is_none());
    let auth = last.header("authorization").expect("the request is signed");
    assert!(
        auth.starts_with("OAuth ") && auth.contains("oauth_token=\"\""),
        "{auth}"
    );
    assert!(
        last.target.ends_with("xoauth_requestor_id=alice"),
        "{}",
        last.target
    );
    // The stand-in's link accepted it: the product acted as alice.
    let (read_only, _) = printed(&demo, "403: bob");
    assert_eq!(send(&read_only).await, [403]);
    demo.shutdown().await;
}
