use super::*;

fn canon(target: &str) -> Result<String, Reason> {
    let uri: Uri = target.parse().map_err(|_| Reason::MalformedRequest)?;
    canonicalize(&Method::GET, &uri, Version::HTTP_11, "")
        .map(|c| c.full)
        .map_err(|r| r.reason)
}

#[test]
fn accepted_paths_and_their_canonical_form() {
    let cases = [
        ("/rest/api/2/issue/ABC-1", "/rest/api/2/issue/ABC-1"),
        (
            "/rest/api/2/issue/ABC-1?fields=summary",
            "/rest/api/2/issue/ABC-1",
        ),
        ("/rest/api/2/%69ssue", "/rest/api/2/issue"),
        ("/rest/api/2/search%3fx", "/rest/api/2/search%3Fx"),
        ("/rest/api/2/user%20name", "/rest/api/2/user%20name"),
        ("/rest/api/2/issue/", "/rest/api/2/issue/"),
        ("/", "/"),
        ("/rest/%C3%A9", "/rest/%C3%A9"),
        ("/a.b/..c/.d", "/a.b/..c/.d"),
        // Sub-delims, `:` and `@` mean the same escaped or not (Tomcat decodes them).
        ("/rest/a%40b%3a%3A", "/rest/a@b::"),
        ("/rest/%21%24%26%27%28%29%2A%2B%2C%3D", "/rest/!$&'()*+,="),
        ("/rest/a+b", "/rest/a+b"),
        // What would change the path's structure or meaning stays escaped.
        (
            "/rest/a%23b%5Bc%5D%22%3C%3E%60%7B%7C%7D%5E",
            "/rest/a%23b%5Bc%5D%22%3C%3E%60%7B%7C%7D%5E",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input).as_deref(), Ok(want), "{input}");
    }
}

#[test]
fn every_rejection_of_step_1_is_bad_path() {
    let cases = [
        "/rest/api/2/issue;jsessionid=x",
        "/rest/api/2/issue%3B",
        "/rest/api/2/issue%3b",
        "/rest/api%2F2/issue",
        "/rest/api%2f2/issue",
        "/rest/api%5C2",
        "/rest/api%00",
        "/rest/api%252e%252e/x",
        "/rest/api%0a",
        "/rest/api%7F",
        "/rest//api",
        "//rest/api",
        "/rest/./api",
        "/rest/../api",
        "/rest/%2e%2e/api",
        "/rest/.%2E/api",
        "/rest/%2E/api",
        "/rest/api/..",
        "/rest/api/.",
        "/rest/${jndi}",
        "/rest/%24%7Bx%7D",
        "/rest/$%7Bx%7D",
        "/rest/%24{x}",
        "/s/x/_/WEB-INF/web.xml",
        "/s/x/_/web-inf/web.xml",
        "/s/x/_/META-INF/x",
        "/s/x/_/%57EB-INF/x",
        "/rest/%C3%28",
        "/rest/%ZZ",
        "/rest/%4",
    ];
    for input in cases {
        assert_eq!(canon(input), Err(Reason::BadPath), "{input}");
    }
}

#[test]
fn absolute_form_and_asterisk_are_refused_in_http1() {
    let uri: Uri = "http://evil/rest/api/2/myself".parse().unwrap();
    assert!(canonicalize(&Method::GET, &uri, Version::HTTP_11, "").is_err());
    // HTTP/2 requests always carry scheme and authority.
    assert!(canonicalize(&Method::GET, &uri, Version::HTTP_2, "").is_ok());
    let star: Uri = "*".parse().unwrap();
    assert_eq!(
        canonicalize(&Method::OPTIONS, &star, Version::HTTP_11, "")
            .unwrap_err()
            .reason,
        Reason::BadPath
    );
}

#[test]
fn long_targets_are_414() {
    let long = format!("/rest/{}", "a".repeat(MAX_TARGET_BYTES));
    assert_eq!(canon(&long), Err(Reason::TargetTooLong));
}

#[test]
fn methods_never_allowed() {
    for m in ["TRACE", "TRACK", "CONNECT"] {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(
            check_method(&m).unwrap_err().reason,
            Reason::MethodNotAllowed
        );
    }
    assert!(check_method(&Method::GET).is_ok());
}

#[test]
fn context_path_is_stripped_once() {
    let c = |t: &str| {
        canonicalize(&Method::GET, &t.parse().unwrap(), Version::HTTP_11, "/jira").unwrap()
    };
    assert_eq!(
        c("/jira/rest/api/2/myself").relative(),
        Some("/rest/api/2/myself")
    );
    assert_eq!(c("/jira").relative(), Some("/"));
    assert_eq!(c("/jira/jira/rest").relative(), Some("/jira/rest"));
    assert_eq!(c("/jirax/rest").relative(), None);
    assert_eq!(c("/rest/api/2/myself").relative(), None);
}

#[test]
fn rest_suffixes_are_matched_as_the_resource_the_product_dispatches_to() {
    for (path, resource) in [
        ("/rest/api/2/user.json", "/rest/api/2/user"),
        ("/rest/api/2/user.JSON", "/rest/api/2/user"),
        ("/rest/api/2/user.xml/", "/rest/api/2/user"),
        ("/rest/api/2/issue/X-1.atom", "/rest/api/2/issue/X-1"),
        ("/rest/api/2/user.jsonx", "/rest/api/2/user.jsonx"),
        ("/rest/api/2/issue/.json", "/rest/api/2/issue/"),
        ("/rest/api/2/issue/ABC-1/.XML/", "/rest/api/2/issue/ABC-1/"),
        ("/rest/api/2/a.b.html", "/rest/api/2/a.b"),
        ("/secure/a.json", "/secure/a.json"),
        ("/rest/api/2/user", "/rest/api/2/user"),
    ] {
        assert_eq!(rest_resource(path), resource, "{path}");
    }
}

#[test]
fn resource_rewrite_aliases_name_their_targets() {
    let t: Vec<&str> = s_alias_targets("/s/x/_/rest/api/2/myself").collect();
    assert_eq!(t, vec!["/rest/api/2/myself"]);
    let t: Vec<&str> = s_alias_targets("/s/a/_/b/_/rest/api/2/user.json").collect();
    assert_eq!(t, vec!["/b/_/rest/api/2/user.json", "/rest/api/2/user"]);
    assert_eq!(s_alias_targets("/rest/api/2/x").count(), 0);
    assert_eq!(
        s_alias_targets("/s/en_GB/1/_/download/batch/x.js").count(),
        1
    );
}
