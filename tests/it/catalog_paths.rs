//! Catalog §P (docs/catalog.md): paths, normalization and the bypass list. Every case is
//! unauthenticated against the catalog fixture: `GET P` is bypassed, everything else under
//! `/rest/**` needs a credential. Oracles: status + reason, and the upstream saw nothing (deny)
//! or exactly the canonical target with no identity header (forward).

use crate::support::harden::{Harness, P, T};

/// Cases that docs/http.md step 1 refuses with 400 `bad_path`.
const BAD_PATHS: &[(&str, &str)] = &[
    ("P-01", "/rest/api/2/serverInfo;/../issue/ABC-1"),
    ("P-02", "/rest/api/2/serverInfo/..;/issue/ABC-1"),
    ("P-03a", "/rest/api/2/serverInfo/%2e%2e/issue/ABC-1"),
    ("P-03b", "/rest/api/2/serverInfo/%2E%2E/issue/ABC-1"),
    ("P-03c", "/rest/api/2/serverInfo/.%2e/issue/ABC-1"),
    ("P-03d", "/rest/api/2/serverInfo/../issue/ABC-1"),
    ("P-04", "/rest/api/2/serverInfo%2f..%2fissue%2fABC-1"),
    ("P-05", "/rest/api/2/serverInfo/%252e%252e/issue/ABC-1"),
    ("P-06", "/rest/api/2/serverInfo%3B/../issue/ABC-1"),
    ("P-07a", "/rest/api/2/serverInfo\\..\\issue\\ABC-1"),
    ("P-07b", "/rest/api/2/serverInfo%5C..%5Cissue%5CABC-1"),
    ("P-08a", "//rest/api/2/issue/ABC-1"),
    ("P-08b", "/rest//api/2/issue/ABC-1"),
    ("P-09", "/rest/api/2/serverInfo%23/../issue/ABC-1"),
    ("P-15a", "/rest/api/2/%c0%ae%c0%ae/issue/ABC-1"),
    ("P-15b", "/rest/api/2/serverInfo%c0%afx"),
    ("P-15c", "/rest/api/2/%ff"),
    ("P-16a", "/rest/api/2/serverInfo%00/../issue/ABC-1"),
    ("P-16b", "/rest/api/2/serverInfo/.%00/issue/ABC-1"),
    ("P-17", "/rest/api/2/serverInfo;jsessionid=abc"),
    ("P-19", "//attacker.example/rest/api/2/serverInfo"),
    ("P-22a", "/s/x/_/;/WEB-INF/web.xml"),
    ("P-22b", "/s/x/_/;/WEB-INF/classes/seraph-config.xml"),
    ("P-22c", "/s/x/_/%3B/WEB-INF/web.xml"),
    ("P-22d", "/s/x/_/WEB-INF/web.xml"),
    ("P-22e", "/s/x/_/web-inf/web.xml"),
    (
        "P-22f",
        "/s/thiscanbeanythingyouwant/_/META-INF/maven/pom.xml",
    ),
    ("P-23a", "/s/x/_/;/../../../rest/api/2/issue/ABC-1"),
    ("P-23b", "/s/%2e%2e/rest/api/2/issue/ABC-1"),
    ("P-23c", "/s/..;/rest/api/2/issue/ABC-1"),
    ("P-24a", "/InsightPluginShowGeneralConfiguration.jspa;"),
    ("P-24b", "/secure/WBSGanttManageScheduleJobAction.jspa;"),
    ("P-25a", "/s/%24%7B7*7%7D/"),
    ("P-25b", "/s/${7*7}/"),
    ("P-25c", "/rest/api/2/%24%7bx%7d"),
];

#[tokio::test]
async fn ambiguous_paths_are_refused_with_bad_path() {
    let h = Harness::catalog("").await;
    for (case, target) in BAD_PATHS {
        let resp = h.get(target, &[]).await;
        if resp.status == 400 && resp.body().is_empty() {
            // hyper's own 400: its parser refused the raw bytes (e.g. a raw `\` or `{`)
            // before authgate saw a request. Still refused, still nothing upstream.
            assert!(h.up.seen().is_empty(), "{case}: nothing forwarded");
            continue;
        }
        h.assert_denied(&resp, 400, "bad_path", &format!("{case} {target}"))
            .await;
    }
}

#[tokio::test]
async fn p10_a_raw_fragment_is_never_forwarded_beyond_what_was_checked() {
    // hyper's parser does not accept `#` in a request target: 400 from hyper (or, were it
    // accepted, the truncated path P would be checked and forwarded; never T).
    let h = Harness::catalog("").await;
    let resp = h.get("/rest/api/2/serverInfo#/../issue/ABC-1", &[]).await;
    if resp.status == 200 {
        h.assert_forwarded(&resp, P, None, "P-10").await;
    } else {
        assert_eq!(resp.status, 400, "P-10: {}", resp.text);
        assert!(h.up.seen().is_empty(), "P-10: nothing forwarded");
    }
}

#[tokio::test]
async fn p11_p12_query_and_rewrite_headers_do_not_widen_the_bypass() {
    let h = Harness::catalog("").await;
    let resp = h.get(&format!("{T}?x={P}"), &[]).await;
    h.assert_denied(&resp, 401, "credential_required", "P-11")
        .await;
    for hdr in [
        "X-Forwarded-Uri: /rest/api/2/serverInfo",
        "X-Original-URL: /rest/api/2/serverInfo",
        "X-Rewrite-URL: /rest/api/2/serverInfo",
        "X-Forwarded-Prefix: /rest/api/2/serverInfo",
    ] {
        let resp = h.get(T, &[hdr]).await;
        h.assert_denied(&resp, 401, "credential_required", &format!("P-12 {hdr}"))
            .await;
    }
}

#[tokio::test]
async fn p13_no_trimming_before_matching() {
    let h = Harness::catalog("").await;
    for target in [
        "/rest/api/2/serverInfo%20",
        "/rest/api/2/serverInfo.",
        "/rest/api/2/serverInfox",
    ] {
        let resp = h.get(target, &[]).await;
        h.assert_denied(&resp, 401, "credential_required", &format!("P-13 {target}"))
            .await;
    }
    // `%09` is a control byte: refused as a path before any rule.
    let resp = h.get("/rest/api/2/serverInfo%09", &[]).await;
    h.assert_denied(&resp, 400, "bad_path", "P-13 %09").await;
    // docs/http.md#rule-patterns: a single trailing `/` on the request path is ignored for
    // matching (JAX-RS serves both forms), so `P/` is public and forwarded as `P/` — the
    // catalog prefers exact-only; the documented behaviour wins.
    let resp = h.get("/rest/api/2/serverInfo/", &[]).await;
    h.assert_forwarded(&resp, "/rest/api/2/serverInfo/", None, "P-13 P/")
        .await;
}

#[tokio::test]
async fn p14_case_changes_are_not_the_public_path() {
    let h = Harness::catalog("").await;
    // A case change of the protected path under /rest is still protected.
    let resp = h.get("/rest/api/2/SERVERINFO", &[]).await;
    h.assert_denied(&resp, 401, "credential_required", "P-14 SERVERINFO")
        .await;
    // `/REST/...` is outside `api_paths = ["/rest/**"]` (matched case-sensitively), so
    // docs/http.md step 4 forwards it untouched as a non-API path; Tomcat's servlet mapping
    // is case-sensitive too, so Jira answers 404 and no API is reached. The catalog expects
    // 401; the documented behaviour wins. It goes with no identity header.
    let resp = h.get("/REST/api/2/issue/ABC-1", &[]).await;
    h.assert_forwarded(&resp, "/REST/api/2/issue/ABC-1", None, "P-14 /REST")
        .await;
}

#[tokio::test]
async fn unreserved_escapes_are_decoded_and_forwarded_canonical() {
    // P-00: what is checked is exactly what is forwarded. `%41` and `%2D` are unreserved:
    // decoded, so `/rest/api/2/serverInfo` written with escapes is the public path.
    let h = Harness::catalog("").await;
    let resp = h.get("/rest/api/2/server%49nfo", &[]).await;
    h.assert_forwarded(&resp, P, None, "P-00 %49").await;
    // Reserved escapes stay encoded (upper-case hex) and still need a credential.
    let resp = h.get("/rest/api/2/issue/ABC%2D1", &[]).await;
    h.assert_denied(&resp, 401, "credential_required", "P-00 T with %2D")
        .await;
}

#[tokio::test]
async fn p18_absolute_form_and_p20_asterisk_are_refused() {
    let h = Harness::catalog("").await;
    let resp = h
        .get("http://jira.internal/rest/api/2/issue/ABC-1", &[])
        .await;
    h.assert_denied(&resp, 400, "bad_path", "P-18 absolute-form")
        .await;
    let resp = h
        .get("http://jira.internal/rest/api/2/serverInfo", &[])
        .await;
    h.assert_denied(&resp, 400, "bad_path", "P-18 absolute-form to P")
        .await;
    let resp = h.send("OPTIONS", "*", &[]).await;
    h.assert_denied(&resp, 400, "bad_path", "P-20 OPTIONS *")
        .await;
}

#[tokio::test]
async fn p20_a_bare_query_target_is_never_public() {
    let h = Harness::catalog("").await;
    let resp = h.get("?a=b", &[]).await;
    // hyper refuses a target that is not origin-, absolute-, authority- or asterisk-form
    // (were it read as `/`, that would be a non-API path: never the public API rule).
    assert_eq!(resp.status, 400, "P-20 ?a=b: {}", resp.text);
    for s in h.up.seen() {
        assert!(!s.target.starts_with("/rest"), "P-20: reached {}", s.target);
    }
}

#[tokio::test]
async fn p21_a_70_kb_target_is_refused() {
    let h = Harness::catalog("").await;
    let target = format!("{P}?q={}", "a".repeat(70_000));
    let resp = h.get(&target, &[]).await;
    // docs/http.md step 1: a target over 8 KiB -> 414. A target that does not even fit
    // `server.max_header_bytes` (16 KiB) is refused by hyper while reading the head: 431
    // (documented in src/server.rs). Either way nothing is forwarded.
    assert!(matches!(resp.status, 414 | 431), "P-21: {}", resp.status);
    assert!(h.up.seen().is_empty());
    let target = format!("{P}?q={}", "a".repeat(9_000));
    let resp = h.get(&target, &[]).await;
    h.assert_denied(&resp, 414, "target_too_long", "P-21 9 KB")
        .await;
}

#[tokio::test]
async fn p26_a_public_get_is_not_a_public_post() {
    let h = Harness::catalog("").await;
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let resp = h.send(m, P, &["Content-Length: 0"]).await;
        h.assert_denied(&resp, 401, "credential_required", &format!("P-26 {m} P"))
            .await;
    }
    let resp = h.get(P, &[]).await;
    h.assert_forwarded(&resp, P, None, "P-26 GET P").await;
}

#[test]
fn p26_public_lists_refuse_wildcards_inside_segments_and_odd_shapes() {
    for bad in [
        "/rest/api/2/server*",
        "/rest/**/x",
        "/rest/api/2/serverInfo?x",
        "/rest/%2e",
        "get /x",
    ] {
        assert!(
            authgate::rules::Rule::parse(bad).is_err(),
            "pattern {bad} must be refused"
        );
    }
}

#[tokio::test]
async fn p00_escaped_sub_delims_and_at_signs_are_one_path_for_the_rules() {
    // Tomcat decodes `%40` to `@` (and `%3A`, `%2B`, `%21`… likewise) before dispatching, so
    // a rule written with the literal character must match every spelling. Before the
    // canonical form decoded them, `deny = ["…/a@b"]` was walked around with `a%40b`.
    let h = Harness::start(
        "",
        r#"
[access]
deny = ["/rest/api/2/user/a@b", "/rest/api/2/x:y+z!"]
"#,
    )
    .await;
    for target in [
        "/rest/api/2/user/a@b",
        "/rest/api/2/user/a%40b",
        "/rest/api/2/x%3Ay%2Bz%21",
        "/rest/api/2/x%3ay+z!",
    ] {
        let resp = h.get(target, &[]).await;
        h.assert_denied(&resp, 403, "denied_path", &format!("P-00 {target}"))
            .await;
    }
    // Forwarded in the canonical (decoded) spelling, which is what the rules saw.
    let resp = h.get("/rest/api/2/user/a%40c%2Cd", &[]).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let seen = h.up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/rest/api/2/user/a@c,d");
}
