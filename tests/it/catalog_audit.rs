//! Catalog §A (docs/catalog.md): audit to Postgres, against a real PostgreSQL 15 (a
//! fresh database on the shared `support::pg` server)
//! here; the database-fault and volume cases in `catalog_audit_db`.
//!
//! Oracles (docs/catalog.md#oracles): every request answers with its status and machine
//! reason; a deny reaches nothing upstream, an allow exactly once with one identity header;
//! and the audit row for the response's `X-Request-Id` is read back from Postgres (decision,
//! reason, status, user).
//! Also here: [`start_with`], the catalog fixture with another database, an injected wall
//! clock or a JSON audit log (used by `catalog_rate` too).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::audit::{sample_event, AuditEvent};
use authgate::clock::{ManualClock, SharedClock};
use tokio::net::TcpListener;

use crate::support::harden::{
    config_text, fixture, get_text, raw_from, token, token_with, Harness, RawResponse, SECRET, T,
};
use crate::support::pg;

/// How a gateway differs from `Harness::catalog`.
#[derive(Default)]
pub struct Opts<'a> {
    /// Audit database (default: SQLite in the temp dir).
    pub database_url: Option<&'a str>,
    /// Wall clock (default: the system's).
    pub clock: Option<SharedClock>,
    /// `audit.log` = `<dir>/audit.jsonl` (default: off).
    pub json_log: bool,
}

/// A manual clock standing at the real time now.
pub fn manual_clock() -> SharedClock {
    Arc::new(ManualClock::new(SystemTime::now()))
}

/// A recorder and a gateway from `rest` (see `support::harden::config_text`) with `opts`.
pub async fn start_with(rest: &str, opts: Opts<'_>) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Harness::try_start_text(listener, opts.clock, |up, dir| {
        let mut text = config_text(up, dir, "", rest);
        if let Some(url) = opts.database_url {
            let sqlite = format!("sqlite://{}/audit.db?mode=rwc", dir.display());
            text = text.replace(&sqlite, url);
        }
        if opts.json_log {
            let log = dir.join("audit.jsonl");
            text = text.replace("log = \"off\"", &format!("log = \"{}\"", log.display()));
        }
        text
    })
    .await
    .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
}

/// A gateway with `rest` whose audit goes to the Postgres database at `url`.
pub async fn start_on(rest: &str, url: &str) -> Harness {
    start_with(
        rest,
        Opts {
            database_url: Some(url),
            ..Opts::default()
        },
    )
    .await
}

/// The catalog fixture on a fresh Postgres database.
pub async fn pg_catalog(extra: &str) -> Harness {
    start_on(&fixture(extra), &pg::database()).await
}

/// The fixture without `username_regex` (the catalog's "permissive-regex fixture").
fn permissive() -> String {
    fixture("").replace("username_regex = '^([a-z][a-z0-9._-]{0,63})$'\n", "")
}

pub use crate::support::catalog_auth::bearer;

/// Every row (after a flush), oldest first.
pub async fn rows(h: &Harness) -> Vec<AuditEvent> {
    try_rows(h).await.expect("audit query")
}

pub async fn try_rows(h: &Harness) -> Result<Vec<AuditEvent>, sqlx::Error> {
    Ok(h.try_audit_rows().await?.into_iter().rev().collect())
}

/// The one row of `resp` among `rows`.
fn row_of<'a>(rows: &'a [AuditEvent], resp: &RawResponse) -> &'a AuditEvent {
    let rid = resp.header("x-request-id").expect("X-Request-Id");
    let mine: Vec<_> = rows.iter().filter(|r| r.request_id == rid).collect();
    assert_eq!(mine.len(), 1, "rows for {rid}: {mine:?}");
    mine[0]
}

#[tokio::test]
async fn a01_injection_shaped_values_are_bound_not_executed_and_logs_stay_one_line() {
    let url = pg::database();
    let opts = Opts {
        database_url: Some(&url),
        json_log: true,
        ..Opts::default()
    };
    let h = start_with(&permissive(), opts).await;
    let sqlish = "o'brien\"); DROP TABLE audit;--";
    let resp = h.get(T, &[&bearer(&token(sqlish, &["jira-users"]))]).await;
    h.assert_forwarded(&resp, T, Some(sqlish), "A-01 username")
        .await;
    let target = "/rest/api/2/search?jql=x'%20OR%201=1;DROP%20TABLE%20audit;--";
    let resp = h
        .get(target, &[&bearer(&token("alice", &["jira-users"]))])
        .await;
    h.assert_forwarded(&resp, target, Some("alice"), "A-01 query")
        .await;
    let all = rows(&h).await;
    assert_eq!(
        row_of(&all, &resp).query.as_deref(),
        Some("jql=x'%20OR%201=1;DROP%20TABLE%20audit;--"),
        "A-01 query verbatim"
    );
    // CR/LF, ANSI escapes and U+202E cannot be a username (docs/http.md step 6): refused,
    // and the refusal is still a row.
    let forged = "eve\r\n\u{1b}[2J\u{202e}";
    let resp = h.get(T, &[&bearer(&token(forged, &["jira-users"]))]).await;
    h.assert_denied(&resp, 401, "username_invalid", "A-01 control characters")
        .await;
    // Straight into the gateway's Postgres writer: every field is a bind parameter.
    let mut ev = sample_event(1, "bob\r\n\u{1b}[2J\u{202e}'); DROP TABLE audit;--", 403);
    ev.request_id = "a01-direct".into();
    ev.path = "/rest/x\r\nX-Injected: 1".into();
    h.gw.state.shared.audit.record(ev);
    let all = rows(&h).await;
    let direct = all
        .iter()
        .find(|r| r.request_id == "a01-direct")
        .expect("A-01 row");
    assert_eq!(
        direct.username.as_deref(),
        Some("bob\\x0d\\x0a\\x1b[2J\\u{202e}'); DROP TABLE audit;--"),
        "A-01: SQL kept verbatim, control and bidi characters escaped"
    );
    assert_eq!(direct.path, "/rest/x\\x0d\\x0aX-Injected: 1");
    assert_eq!(
        all.len(),
        4,
        "A-01: the table is intact and holds every row"
    );
    // The JSON log: one line per event, each valid JSON, no raw control character.
    let log = std::fs::read_to_string(h.dir.path().join("audit.jsonl")).expect("audit log");
    assert_eq!(log.lines().count(), 4, "A-01 log lines:\n{log}");
    assert!(
        !log.contains(['\r', '\u{1b}', '\u{202e}']),
        "A-01 raw control characters in:\n{log}"
    );
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("A-01 each line is JSON");
    }
}

#[tokio::test]
async fn a02_nul_bytes_never_lose_the_row() {
    let url = pg::database();
    let h = start_on(&permissive(), &url).await;
    let resp = h
        .get(T, &[&bearer(&token("bob\u{0}", &["jira-users"]))])
        .await;
    h.assert_denied(
        &resp,
        401,
        "username_invalid",
        "A-02 NUL in the username claim",
    )
    .await;
    let resp = h.get("/rest/api/2/issue/%00", &[]).await;
    h.assert_denied(&resp, 400, "bad_path", "A-02 %00 in the path")
        .await;
    // A NUL that reached an event anyway (Postgres `text` refuses 0x00): escaped, written.
    let mut ev = sample_event(2, "bob\u{0}", 200);
    ev.request_id = "a02-direct".into();
    ev.query = Some("q=\u{0}".into());
    h.gw.state.shared.audit.record(ev);
    let all = rows(&h).await;
    let direct = all
        .iter()
        .find(|r| r.request_id == "a02-direct")
        .expect("A-02 row");
    assert_eq!(direct.username.as_deref(), Some("bob\\x00"));
    assert_eq!(direct.query.as_deref(), Some("q=\\x00"));
    let s = h.gw.state.shared.audit.stats();
    assert_eq!(
        (s.write_errors, s.dropped),
        (0, 0),
        "A-02: no failed insert, no loss"
    );
}

#[tokio::test]
async fn a03_long_fields_are_cut_with_a_marker_and_the_insert_succeeds() {
    let url = pg::database();
    let h = start_on(&permissive(), &url).await;
    let marker = |s: &str| s.len() < 4200 && s.contains("…[+") && s.ends_with(" bytes]");
    // A 10 KB target: authgate's 414 (a target over 8 KiB), audited, path cut at 4 KiB.
    let long = format!("/rest/api/2/issue/{}", "a".repeat(10_000));
    let resp = h.get(&long, &[]).await;
    h.assert_denied(&resp, 414, "target_too_long", "A-03 10 KB path")
        .await;
    let all = rows(&h).await;
    let path = &row_of(&all, &resp).path;
    assert!(
        marker(path),
        "A-03 path kept {} bytes: …{}",
        path.len(),
        &path[path.len() - 20..]
    );
    // A 64 KB target does not fit `max_header_bytes`: hyper's own 431, before any request
    // exists (no request id, no row; docs/hardening.md "hyper's own answers").
    let huge = format!("/rest/api/2/issue/{}", "a".repeat(64 * 1024));
    let resp = h.get(&huge, &[]).await;
    assert_eq!(resp.status, 431, "A-03 64 KB path");
    assert!(h.up.seen().is_empty());
    // A 5 KB query is forwarded; its row keeps 4 KiB and the marker.
    let target = format!("{T}?jql={}", "q".repeat(5000));
    let auth = bearer(&token("alice", &["jira-users"]));
    let resp = h
        .get(
            &target,
            &[&auth, &format!("User-Agent: {}", "u".repeat(8192))],
        )
        .await;
    h.assert_forwarded(
        &resp,
        &target,
        Some("alice"),
        "A-03 5 KB query, 8 KB User-Agent",
    )
    .await;
    let all = rows(&h).await;
    assert!(
        marker(row_of(&all, &resp).query.as_deref().unwrap_or("")),
        "A-03 query"
    );
    // A 1 KB username is refused (at most 255 characters), and the refusal is a row.
    let resp = h
        .get(T, &[&bearer(&token(&"u".repeat(1024), &["jira-users"]))])
        .await;
    h.assert_denied(&resp, 401, "username_invalid", "A-03 1 KB username")
        .await;
}

#[tokio::test]
async fn a06_every_denial_is_a_row_and_no_secret_is_stored() {
    let rl = "[rate_limit]\nenabled = true\nrequests = 1\nper = \"1h\"\nburst = 1\n";
    let intro = "[[providers]]\nname = \"intro\"\nkind = \"introspection\"\nintrospection_url = \"http://127.0.0.1:1/introspect\"\nclient_id = \"gw\"\nclient_secret = \"intro-client-secret\"\n";
    let h = pg_catalog(&format!("{rl}\n{intro}")).await;
    let alice = token("alice", &["jira-users"]);
    let outsider = token("mallory", &["other"]);
    let forged = crate::support::harden::hs256(
        &"k".repeat(40),
        &serde_json::json!({
        "iss": "https://idp.test", "aud": "jira-gw", "exp": 4_000_000_000u64, "preferred_username": "alice"}),
    );
    let opaque = "opaque-secret-token-value";
    let cases: Vec<(&str, String, Vec<String>, u16, &str)> = vec![
        ("GET", "/rest/api/2/issue;x".into(), vec![], 400, "bad_path"),
        (
            "GET",
            format!("{T}?token=s3cr3t-query&jql=x"),
            vec![],
            401,
            "credential_required",
        ),
        ("GET", T.into(), vec![bearer(&forged)], 401, "bad_signature"),
        (
            "GET",
            T.into(),
            vec![bearer(&outsider)],
            403,
            "group_denied",
        ),
        ("TRACE", T.into(), vec![], 405, "method_not_allowed"),
        (
            "GET",
            T.into(),
            vec![bearer(opaque)],
            503,
            "idp_unavailable",
        ),
    ];
    for (m, target, hdrs, status, reason) in &cases {
        let hdrs: Vec<&str> = hdrs.iter().map(String::as_str).collect();
        let resp = h.send(m, target, &hdrs).await;
        h.assert_denied(&resp, *status, reason, &format!("A-06 {status} {reason}"))
            .await;
    }
    let resp = h.get(T, &[&bearer(&alice)]).await;
    h.assert_forwarded(&resp, T, Some("alice"), "A-06 allow")
        .await;
    let resp = h.get(T, &[&bearer(&alice)]).await;
    h.assert_denied(&resp, 429, "rate_limited", "A-06 429")
        .await;
    let all = rows(&h).await;
    assert_eq!(all.len(), cases.len() + 2);
    let text = serde_json::to_string(&all).expect("json");
    for secret in [
        alice.as_str(),
        &outsider,
        &forged,
        opaque,
        "intro-client-secret",
        "s3cr3t-query",
        SECRET,
    ] {
        assert!(!text.contains(secret), "A-06: {secret} stored in {text}");
    }
    assert!(
        text.contains("token=***&jql=x"),
        "A-06 query redacted: {text}"
    );
    let hash = row_of(&all, &resp).token_id.clone().expect("A-06 token id");
    assert!(
        hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
}

#[tokio::test]
async fn a07_the_row_records_canonical_path_method_client_ip_and_decision() {
    let h = pg_catalog("[ip]\ntrusted_proxies = [\"127.0.0.3/32\"]\n").await;
    let auth = bearer(&token("alice", &["jira-users"]));
    let xff = "X-Forwarded-For: 203.0.113.7";
    let text = get_text("/rest/api/2/issue/%41BC-1?expand=names", &[&auth, xff]);
    let proxied = raw_from("127.0.0.3".parse().expect("ip"), h.gw.addr, text.as_bytes()).await;
    h.assert_forwarded(
        &proxied,
        &format!("{T}?expand=names"),
        Some("alice"),
        "A-07 via proxy",
    )
    .await;
    let direct = raw_from(
        "127.0.0.1".parse().expect("ip"),
        h.gw.addr,
        get_text(T, &[&auth, xff]).as_bytes(),
    )
    .await;
    h.assert_forwarded(&direct, T, Some("alice"), "A-07 direct")
        .await;
    let denied = h.send("DELETE", "/rest/api/2/deny/x", &[&auth]).await;
    h.assert_denied(&denied, 403, "denied_path", "A-07 deny rule")
        .await;
    let all = rows(&h).await;
    let p = row_of(&all, &proxied);
    assert_eq!(
        (
            p.client_ip.as_str(),
            p.method.as_str(),
            p.path.as_str(),
            p.query.as_deref()
        ),
        ("203.0.113.7", "GET", T, Some("expand=names")),
        "A-07: the client behind the trusted proxy, the canonical path"
    );
    assert_eq!(
        (p.credential.as_str(), p.provider.as_deref()),
        ("jwt", Some("idp"))
    );
    assert_eq!(
        row_of(&all, &direct).client_ip,
        "127.0.0.1",
        "A-07: an untrusted XFF is ignored"
    );
    let d = row_of(&all, &denied);
    assert_eq!(
        (d.method.as_str(), d.path.as_str()),
        ("DELETE", "/rest/api/2/deny/x")
    );
    // docs/audit.md: the row has no raw target and no rule text; the reason names the rule kind
    // (`denied_path`, `bypass`) and the access log line carries `rule`.
}

#[tokio::test]
async fn a10_row_time_is_utc_from_the_clock_that_validates_tokens() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    let clock = ManualClock::new(t0);
    let url = pg::database();
    let opts = Opts {
        database_url: Some(&url),
        clock: Some(Arc::new(clock.clone())),
        ..Opts::default()
    };
    let h = start_with(&fixture(""), opts).await;
    let exp = 1_893_456_001u64; // t0 + 1 s; the fixture's leeway is the default 30 s
    let tok = token_with(
        serde_json::json!({"iss": "https://idp.test", "aud": "jira-gw",
        "iat": exp - 61, "exp": exp, "preferred_username": "alice", "groups": ["jira-users"]}),
    );
    clock.advance(Duration::from_secs(30));
    let ok = h.get(T, &[&bearer(&tok)]).await;
    h.assert_forwarded(&ok, T, Some("alice"), "A-10 inside exp + leeway")
        .await;
    clock.advance(Duration::from_secs(2));
    let late = h.get(T, &[&bearer(&tok)]).await;
    h.assert_denied(&late, 401, "token_expired", "A-10 past exp + leeway")
        .await;
    let all = rows(&h).await;
    let ts = |r: &RawResponse| row_of(&all, r).ts.to_rfc3339();
    assert_eq!(
        ts(&ok),
        "2030-01-01T00:00:30+00:00",
        "A-10 decision time, UTC"
    );
    assert_eq!(ts(&late), "2030-01-01T00:00:32+00:00", "A-10");
}
