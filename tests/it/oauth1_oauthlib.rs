//! `mode = "oauth1"` against an implementation nobody here wrote: every request authgate
//! signs for the product is verified by Python's `oauthlib` (tests/oauth1/verify.py).
//!
//! A seeded generator sends 1 250 varied requests through a gateway in front of a recording
//! stand-in (every method, percent-encoded paths, queries with empty values, names without
//! `=`, repeated names, `+` / `%2B` / `%20`, encoded reserved characters, UTF-8 up to four
//! bytes, long JQL, client-sent `xoauth_requestor_id` / `user_id` / `oauth_*`, form and JSON bodies,
//! users with `'` and `ü`). What the product received is written as JSON lines and handed to
//! `verify.py`, which checks each signature with oauthlib's `collect_parameters` and
//! `verify_rsa_sha1`, and the rest of what the product relies on (empty `oauth_token`, one
//! `xoauth_requestor_id` naming the user, fresh timestamp, unique nonce).
//!
//! oauthlib is installed into `target/oauth1-py` by `./scripts/test.sh`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::standin::jira::JiraOptions;
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::gateway::{token_for, Setup, CALL_LIMIT};

const BASE_URL: &str = "https://jira.example.com:8443";
const CONSUMER_KEY: &str = "authgate-test";
const USERS: &[&str] = &["alice", "bob", "o'brien", "jürgen", "a.b-c_d"];
const COUNT: usize = 1250;
const CONCURRENCY: usize = 16;
/// Bound on sending everything (each call is also bounded by [`CALL_LIMIT`]).
const SEND_LIMIT: Duration = Duration::from_secs(300);
/// Bound on the Python verifier.
const VERIFY_LIMIT: Duration = Duration::from_secs(180);

const FORM: &str = "application/x-www-form-urlencoded";

/// One generated request.
#[derive(Debug, Clone)]
struct Planned {
    id: String,
    user: &'static str,
    method: Method,
    /// Path and query as sent.
    target: String,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

/// Percent-encodes `s` as a form value: unreserved kept, space as `+` or `%20`, the rest
/// `%XX` (upper-case hex, sometimes lower-case); with `lenient`, the characters a query
/// may hold literally (`:/?@!$()*,`) are kept too.
fn enc(rng: &mut StdRng, s: &str, lenient: bool) -> String {
    let plus_for_space = rng.gen_bool(0.5);
    let lower = rng.gen_bool(0.1);
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus_for_space => out.push('+'),
            b':' | b'/' | b'?' | b'@' | b'!' | b'$' | b'(' | b')' | b'*' | b',' if lenient => {
                out.push(b as char)
            }
            _ if lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &[&'a T]) -> &'a T {
    items[rng.gen_range(0..items.len())]
}

/// Parameter names (decoded).
const NAMES: &[&str] = &[
    "jql",
    "expand",
    "fields",
    "startAt",
    "maxResults",
    "a",
    "b",
    "x y",
    "é",
    "€",
    "q+r",
    "[k]",
    "a=b",
    "a&b",
    "😀",
    "~-._",
    "validateQuery",
    "o'n",
];

/// Parameter values (decoded).
const VALUES: &[&str] = &[
    "",
    "1",
    "a b",
    "a+b",
    "a b+c",
    "=",
    "&",
    "?",
    "/",
    "#",
    "%",
    ";",
    "%20",
    "%2B",
    "é",
    "€",
    "😀",
    "naïve café €5",
    "o'brien",
    "<x>",
    "\"q\"",
    "a,b:c@d!$'()*",
    "~-._",
    "renderedFields,names",
    "line\nbreak\ttab",
];

/// A long JQL query (decoded).
fn jql(rng: &mut StdRng) -> String {
    let clauses = [
        "project = \"PRJ\"",
        "summary ~ \"naïve café € 😀\"",
        "labels in (a, b, \"c d\")",
        "created >= -30d",
        "assignee = \"o'brien\"",
        "text ~ \"50% & more?\"",
        "status != Done",
        "reporter in (jürgen, \"a.b-c_d\")",
        "cf[10010] = \"x=y;z\"",
    ];
    let n = rng.gen_range(4..24);
    let mut q = String::new();
    for i in 0..n {
        if i > 0 {
            q.push_str(if rng.gen_bool(0.5) { " AND " } else { " OR " });
        }
        q.push_str(pick(rng, &clauses));
    }
    q.push_str(" ORDER BY priority DESC, key ASC");
    q
}

/// OAuth parameters a client might send to name a user or carry a signature; authgate drops
/// them all. At most one per request: a credential parameter sent twice is refused (400).
const OAUTH_PARAMS: &[&str] = &[
    "xoauth_requestor_id=admin",
    "Xoauth_Requestor_Id=admin",
    "xoauth%5Frequestor%5Fid=admin",
    "xoauth_requestor_id",
    "oauth_token=abc",
    "OAUTH_SIGNATURE=x%3D",
];

/// The deprecated user parameter; authgate drops it too (repeats allowed).
const LEGACY_PARAMS: &[&str] = &["user_id=root", "USER_ID=root", "%75ser_id=root", "user_id="];

/// `&`-joined parameters: `n=v`, `n=`, `n`, repeated names, sometimes a long JQL.
fn params(rng: &mut StdRng, with_user_params: bool) -> String {
    let lenient = rng.gen_bool(0.2);
    let mut pairs: Vec<String> = Vec::new();
    for _ in 0..rng.gen_range(1..9) {
        let name = pick(rng, NAMES);
        let name = enc(rng, name, lenient);
        match rng.gen_range(0..10) {
            0 => pairs.push(format!("{name}=")),
            1 => pairs.push(name),
            2 => {
                for _ in 0..rng.gen_range(2..4) {
                    let v = pick(rng, VALUES);
                    let v = enc(rng, v, lenient);
                    pairs.push(format!("{name}={v}"));
                }
            }
            3 => {
                let q = jql(rng);
                pairs.push(format!("jql={}", enc(rng, &q, lenient)));
            }
            _ => {
                let v = pick(rng, VALUES);
                let v = enc(rng, v, lenient);
                pairs.push(format!("{name}={v}"));
            }
        }
    }
    if with_user_params {
        let mut extra = Vec::new();
        if rng.gen_bool(0.7) {
            extra.push(pick(rng, OAUTH_PARAMS));
        }
        for _ in 0..rng.gen_range(usize::from(extra.is_empty())..3) {
            extra.push(pick(rng, LEGACY_PARAMS));
        }
        for p in extra {
            let at = rng.gen_range(0..=pairs.len());
            pairs.insert(at, p.to_string());
        }
    }
    if rng.gen_bool(0.05) {
        // An empty pair, which both sides skip.
        let at = rng.gen_range(0..=pairs.len());
        pairs.insert(at, String::new());
    }
    pairs.join("&")
}

/// Paths under `/jira/rest/api/2/`, as sent (authgate forwards its canonical form).
const PATHS: &[&str] = &[
    "issue/ABC-{n}",
    "issue/ABC-{n}/comment",
    "issue/ABC-{n}.json",
    "search",
    "myself",
    "project/P%C3%89",
    "filter/a%20b",
    "x/%E2%82%AC-{n}",
    "x/%F0%9F%98%80",
    "x/caf%c3%a9",
    "x/a%40b",
    "x/a@b",
    "x/it%27s",
    "x/a+b",
    "x/(1)",
    "x/%5Bq%5D",
    "x/%7Euser",
    "x/a%2Cb",
    "x/%22q%22",
    "x/%3C%3E",
    "user/j%C3%BCrgen/",
];

fn json_body(rng: &mut StdRng) -> Vec<u8> {
    let v = pick(rng, VALUES);
    serde_json::to_vec(&serde_json::json!({"fields": {"summary": v, "n": rng.gen::<u32>()}}))
        .expect("JSON")
}

fn plan(rng: &mut StdRng, i: usize) -> Planned {
    let user = USERS[rng.gen_range(0..USERS.len())];
    let method = match rng.gen_range(0..100) {
        0..=29 => Method::GET,
        30..=59 => Method::POST,
        60..=71 => Method::PUT,
        72..=79 => Method::DELETE,
        80..=89 => Method::PATCH,
        _ => Method::HEAD,
    };
    let path = pick(rng, PATHS).replace("{n}", &rng.gen_range(1..10_000).to_string());
    let mut target = format!("/jira/rest/api/2/{path}");
    if rng.gen_bool(0.85) {
        let with_user_params = rng.gen_bool(0.15);
        target.push('?');
        target.push_str(&params(rng, with_user_params));
    }
    let form_type = |rng: &mut StdRng| {
        if rng.gen_bool(0.5) {
            FORM.to_string()
        } else {
            format!("{FORM}; charset=UTF-8")
        }
    };
    let (content_type, body) = match method {
        Method::POST => match rng.gen_range(0..20) {
            0..=10 => (Some(form_type(rng)), Some(params(rng, false).into_bytes())),
            11..=16 => (Some("application/json".into()), Some(json_body(rng))),
            17..=18 => (Some(form_type(rng)), Some(Vec::new())),
            _ => (Some("text/plain".into()), Some(b"a=b&c=d".to_vec())),
        },
        Method::PUT | Method::PATCH => {
            if rng.gen_bool(0.5) {
                (Some(form_type(rng)), Some(params(rng, false).into_bytes()))
            } else {
                (Some("application/json".into()), Some(json_body(rng)))
            }
        }
        _ => (None, None),
    };
    Planned {
        id: format!("oauth1-{i:05}"),
        user,
        method,
        target,
        content_type,
        body,
    }
}

/// Where `scripts/test.sh` installs oauthlib.
fn python_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oauth1-py")
}

async fn python(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.args(args)
        .env("PYTHONPATH", python_path())
        .kill_on_drop(true);
    tokio::time::timeout(VERIFY_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("python3 did not finish within {VERIFY_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run ./scripts/test.sh"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthlib_verifies_every_signature_authgate_sends() {
    // oauthlib first: without it nothing below can be judged.
    let probe = python(&["-c".as_ref(), "import oauthlib, jwt, cryptography".as_ref()]).await;
    assert!(
        probe.status.success(),
        "python3 cannot import oauthlib/PyJWT/cryptography from {}: run ./scripts/test.sh, \
         which installs them there\n{}",
        python_path().display(),
        String::from_utf8_lossy(&probe.stderr)
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let key_path = dir.path().join("applink.pem");
    let key = authgate::oauth1::key::generate(&key_path, 2048).expect("a 2048-bit key");
    let pub_path = dir.path().join("applink.pub.pem");
    std::fs::write(&pub_path, authgate::oauth1::key::public_pem(&key)).expect("write the .pem");

    let t = Setup::jira()
        .jira_options(JiraOptions::recorder())
        .with_jwt_provider()
        .with("[auth]\nresolve_passthrough_identity = false")
        .with("[upstream]\ncontext_path = \"/jira\"")
        .with(&format!(
            "[upstream.identity]\nmode = \"oauth1\"\nconsumer_key = \"{CONSUMER_KEY}\"\n\
             private_key_file = \"{}\"\nbase_url = \"{BASE_URL}\"",
            key_path.display()
        ))
        .start()
        .await;

    let mut rng = StdRng::seed_from_u64(0x0a17_1a7e);
    let planned: Vec<Planned> = (0..COUNT).map(|i| plan(&mut rng, i)).collect();
    let tokens: HashMap<&str, String> = USERS.iter().map(|u| (*u, token_for(u))).collect();

    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CALL_LIMIT)
        .build()
        .expect("a client");
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for p in &planned {
        let url = reqwest::Url::parse(&t.url(&p.target)).expect("a URL");
        // The generator's targets go out byte for byte (reqwest would re-encode some).
        let sent = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        assert_eq!(sent, p.target, "reqwest changed the target of {}", p.id);
        let mut rb = client
            .request(p.method.clone(), url)
            .header("authorization", format!("Bearer {}", tokens[p.user]))
            .header("x-request-id", &p.id);
        if let Some(ct) = &p.content_type {
            rb = rb.header("content-type", ct);
        }
        if let Some(b) = &p.body {
            rb = rb.body(b.clone());
        }
        let id = p.id.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("the semaphore is open");
            match rb.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.bytes().await.unwrap_or_default();
                    (id, status, String::from_utf8_lossy(&body).into_owned())
                }
                Err(e) => (id, 0, e.to_string()),
            }
        });
    }
    let answers = tokio::time::timeout(SEND_LIMIT, async {
        let mut answers = Vec::new();
        while let Some(a) = tasks.join_next().await {
            answers.push(a.expect("a request task ends"));
        }
        answers
    })
    .await
    .unwrap_or_else(|_| panic!("{COUNT} requests did not finish within {SEND_LIMIT:?}"));
    let refused: Vec<_> = answers.iter().filter(|(_, s, _)| *s != 200).collect();
    let by_id: HashMap<&str, &Planned> = planned.iter().map(|p| (p.id.as_str(), p)).collect();
    assert!(
        refused.is_empty(),
        "{} of {COUNT} requests were not answered 200 by the stand-in, e.g.:\n{}",
        refused.len(),
        refused
            .iter()
            .take(10)
            .map(|(id, s, b)| format!("  {id} {s} {:?}: {b}", by_id[id.as_str()]))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // What the product received, paired with the user each request was sent for.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut lines = String::new();
    for r in t.jira.requests() {
        let id = r
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no x-request-id on {} {}", r.method, r.target))
            .to_string();
        let p = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} was not sent: {} {}", r.method, r.target));
        *seen.entry(id.clone()).or_default() += 1;
        assert_eq!(r.method, p.method, "{id}");
        let auth: Vec<_> = r.headers.get_all("authorization").iter().collect();
        assert_eq!(auth.len(), 1, "{id}: Authorization headers {auth:?}");
        let auth = auth[0].to_str().expect("an ASCII Authorization");
        let content_type = r
            .headers
            .get("content-type")
            .map(|v| v.to_str().expect("an ASCII Content-Type").to_string());
        let body = (!r.body.is_empty() || p.body.is_some())
            .then(|| String::from_utf8(r.body.to_vec()).expect("a UTF-8 body"));
        let line = serde_json::json!({
            "id": id,
            "method": r.method.as_str(),
            "url": format!("{BASE_URL}{}", r.target),
            "authorization": auth,
            "content_type": content_type,
            "body": body,
            "user": p.user,
            "consumer_key": CONSUMER_KEY,
            "now": now,
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let missing: Vec<_> = planned
        .iter()
        .filter(|p| seen.get(&p.id) != Some(&1))
        .map(|p| (p.id.as_str(), seen.get(&p.id).copied().unwrap_or(0)))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "requests not received exactly once (id, times): {missing:?}"
    );
    let lines_path = dir.path().join("lines.jsonl");
    std::fs::write(&lines_path, lines).expect("write the JSON lines");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth1/verify.py");
    let out = python(&[
        script.as_os_str(),
        lines_path.as_os_str(),
        pub_path.as_os_str(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary_line = stdout.lines().last().unwrap_or("").to_string();
    eprintln!("oauth1 oauthlib: {summary_line}");
    let summary: serde_json::Value = serde_json::from_str(&summary_line)
        .unwrap_or_else(|e| panic!("verify.py printed no summary ({e}):\n{stdout}\n{stderr}"));
    let checked = summary["checked"].as_u64().unwrap_or(0);
    let verified = summary["verified"].as_u64().unwrap_or(0);
    assert!(
        out.status.success() && checked >= 1_000 && verified == checked,
        "oauthlib does not accept what authgate signed ({}):\n{summary_line}\n{stderr}",
        out.status
    );
    assert_eq!(checked, COUNT as u64);
}
