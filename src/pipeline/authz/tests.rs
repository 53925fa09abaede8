use super::*;
use crate::principal::CredentialKind;
use http::HeaderValue;

fn authz(toml: &str) -> Authz {
    Authz::new(&crate::config::from_toml(toml).expect("config").access)
}

fn user(name: &str, groups: &[&str]) -> Principal {
    Principal::new(name.into(), CredentialKind::Pat, None, Some("abc".into()))
        .with_groups(groups.iter().map(|g| g.to_string()).collect())
}

const RULES: &str = r#"
[access]
allowed_groups = ["jira-users", "jira-bots"]
read_only_groups = ["jira-readonly"]
"#;

fn m(s: &str) -> Method {
    Method::from_bytes(s.as_bytes()).expect("method")
}

fn outcome(r: Result<Permitted, Rejection>) -> Result<bool, Reason> {
    r.map(|p| p.read_only()).map_err(|e| e.reason)
}

#[test]
fn allowed_and_read_only_across_every_method() {
    let z = authz(RULES);
    let none = HeaderMap::new();
    let path = "/rest/api/2/issue/ABC-1";
    let reads = ["GET", "HEAD", "OPTIONS"];
    let writes = [
        "POST", "PUT", "PATCH", "DELETE", "PROPFIND", "MOVE", "FOO", "get", "Get", "head",
    ];
    // (who, groups, expected for reads, expected for writes)
    type Row<'a> = (
        &'a str,
        Vec<&'a str>,
        Result<bool, Reason>,
        Result<bool, Reason>,
    );
    let rows: Vec<Row> = vec![
        ("rw", vec!["jira-users"], Ok(false), Ok(false)),
        ("bot", vec!["jira-bots", "other"], Ok(false), Ok(false)),
        (
            "ro",
            vec!["jira-users", "jira-readonly"],
            Ok(true),
            Err(Reason::ReadOnly),
        ),
        (
            "ro-first",
            vec!["jira-readonly", "jira-users"],
            Ok(true),
            Err(Reason::ReadOnly),
        ),
        (
            "ro-only",
            vec!["jira-readonly"],
            Err(Reason::GroupDenied),
            Err(Reason::GroupDenied),
        ),
        (
            "nobody",
            vec![],
            Err(Reason::GroupDenied),
            Err(Reason::GroupDenied),
        ),
        // Group names compare without regard to case, as in Jira and Crowd.
        ("case", vec!["JIRA-USERS"], Ok(false), Ok(false)),
        (
            "case-ro",
            vec!["jira-users", "Jira-ReadOnly"],
            Ok(true),
            Err(Reason::ReadOnly),
        ),
    ];
    for (who, groups, read, write) in rows {
        for meth in reads {
            let got = outcome(z.check(user(who, &groups), &m(meth), path, &none, None));
            assert_eq!(got, read, "{who} {meth}");
        }
        for meth in writes {
            let got = outcome(z.check(user(who, &groups), &m(meth), path, &none, None));
            assert_eq!(got, write, "{who} {meth}");
        }
    }
}

#[test]
fn empty_allowed_groups_admit_everyone_and_read_only_still_applies() {
    let z = authz("[access]\nread_only_groups = [\"jira-readonly\"]\n");
    let none = HeaderMap::new();
    let p = "/rest/api/2/issue";
    assert_eq!(
        outcome(z.check(user("carol", &[]), &Method::DELETE, p, &none, None)),
        Ok(false)
    );
    assert_eq!(
        outcome(z.check(
            user("ro", &["jira-readonly"]),
            &Method::DELETE,
            p,
            &none,
            None
        )),
        Err(Reason::ReadOnly)
    );
    assert_eq!(
        outcome(z.check(user("ro", &["jira-readonly"]), &Method::GET, p, &none, None)),
        Ok(true)
    );
}

#[test]
fn read_posts_are_exact_and_post_only() {
    let z = authz(RULES);
    let none = HeaderMap::new();
    let ro = || user("ro", &["jira-users", "jira-readonly"]);
    let cases = [
        ("POST", "/rest/api/2/search", Ok(true)),
        ("POST", "/rest/api/latest/search", Ok(true)),
        ("POST", "/rest/api/2/search/", Ok(true)),
        ("POST", "/rest/api/2/issue", Err(Reason::ReadOnly)),
        ("POST", "/rest/api/2/search/x", Err(Reason::ReadOnly)),
        ("POST", "/rest/api/2/searchx", Err(Reason::ReadOnly)),
        ("PUT", "/rest/api/2/search", Err(Reason::ReadOnly)),
        ("DELETE", "/rest/api/2/search", Err(Reason::ReadOnly)),
        ("post", "/rest/api/2/search", Err(Reason::ReadOnly)),
    ];
    for (meth, path, want) in cases {
        assert_eq!(
            outcome(z.check(ro(), &m(meth), path, &none, None)),
            want,
            "{meth} {path}"
        );
    }
}

#[test]
fn a_read_post_pattern_without_a_method_does_not_make_other_methods_reads() {
    let z = authz("[access]\nread_only_groups = [\"ro\"]\nread_posts = [\"/rest/api/2/search\"]\n");
    let none = HeaderMap::new();
    let p = "/rest/api/2/search";
    assert_eq!(
        outcome(z.check(user("r", &["ro"]), &Method::POST, p, &none, None)),
        Ok(true)
    );
    assert_eq!(
        outcome(z.check(user("r", &["ro"]), &Method::PUT, p, &none, None)),
        Err(Reason::ReadOnly)
    );
}

#[test]
fn override_headers_refuse_read_only_callers_only() {
    let z = authz(RULES);
    for h in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "x-http-method-override",
    ] {
        for (meth, path) in [
            ("GET", "/rest/api/2/issue/A-1"),
            ("POST", "/rest/api/2/search"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(h.as_bytes()).unwrap(),
                HeaderValue::from_static("DELETE"),
            );
            let ro = user("ro", &["jira-users", "jira-readonly"]);
            assert_eq!(
                outcome(z.check(ro, &m(meth), path, &headers, None)),
                Err(Reason::ReadOnly),
                "{h} {meth}"
            );
            let rw = user("rw", &["jira-users"]);
            assert_eq!(
                outcome(z.check(rw, &m(meth), path, &headers, None)),
                Ok(false),
                "{h} {meth} rw"
            );
        }
    }
}

#[test]
fn override_query_parameters_refuse_read_only_callers() {
    let z = authz(RULES);
    let none = HeaderMap::new();
    let refused = [
        "_method=DELETE",
        "a=1&_method=PUT",
        "_METHOD=put",
        "%5Fmethod=DELETE",
        "%5fmethod",
        "x-http-method-override=PUT",
        "X_HTTP_METHOD_OVERRIDE=PUT",
        "x-method-override=PATCH",
        "x-http-method=PUT",
        "__method=DELETE",
    ];
    for q in refused {
        let ro = user("ro", &["jira-users", "jira-readonly"]);
        assert_eq!(
            outcome(z.check(ro, &Method::GET, "/rest/api/2/issue/A-1", &none, Some(q))),
            Err(Reason::ReadOnly),
            "{q}"
        );
        let rw = user("rw", &["jira-users"]);
        assert_eq!(
            outcome(z.check(rw, &Method::GET, "/rest/api/2/issue/A-1", &none, Some(q))),
            Ok(false)
        );
    }
    for q in [
        "jql=method%3DDELETE",
        "method=x",
        "fields=_method",
        "expand=methods",
        "",
    ] {
        let ro = user("ro", &["jira-users", "jira-readonly"]);
        assert_eq!(
            outcome(z.check(ro, &Method::GET, "/rest/api/2/search", &none, Some(q))),
            Ok(true),
            "{q}"
        );
    }
}

#[test]
fn a_read_only_token_behaves_as_a_read_only_group() {
    let z = authz(RULES);
    let none = HeaderMap::new();
    let tok = || user("rw", &["jira-users"]).with_read_only_token(true);
    assert_eq!(
        outcome(z.check(tok(), &Method::GET, "/rest/api/2/issue/A-1", &none, None)),
        Ok(true)
    );
    assert_eq!(
        outcome(z.check(tok(), &Method::POST, "/rest/api/2/search", &none, None)),
        Ok(true)
    );
    assert_eq!(
        outcome(z.check(tok(), &Method::POST, "/rest/api/2/issue", &none, None)),
        Err(Reason::ReadOnly)
    );
    let mut h = HeaderMap::new();
    h.insert("x-http-method", HeaderValue::from_static("PUT"));
    assert_eq!(
        outcome(z.check(tok(), &Method::GET, "/rest/api/2/issue/A-1", &h, None)),
        Err(Reason::ReadOnly)
    );
}

#[test]
fn the_permitted_principal_is_the_one_checked() {
    let z = authz(RULES);
    let p = z
        .check(
            user("rw", &["jira-users"]),
            &Method::GET,
            "/rest/api/2/myself",
            &HeaderMap::new(),
            None,
        )
        .expect("permitted");
    assert_eq!(p.principal().username(), "rw");
    assert_eq!(p.principal().groups(), ["jira-users".to_string()]);
}
