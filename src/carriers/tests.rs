use super::*;

fn jira() -> Carriers {
    Carriers::new(JIRA_SESSION_COOKIES, &["MYSSO".to_string()])
}

fn cookies(values: &[&[u8]]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
    }
    h
}

#[test]
fn a_non_ascii_byte_does_not_hide_the_session() {
    let h = cookies(&[b"pref=caf\xe9; JSESSIONID=abc"]);
    assert!(jira().has_session_cookie(&h));
    assert_eq!(
        jira().session_cookies(&h).pieces,
        vec![&b"JSESSIONID=abc"[..]]
    );
}

#[test]
fn names_are_found_in_any_case_after_commas_and_control_bytes() {
    let c = jira();
    for v in [
        &b"jsessionid=a"[..],
        b"$Version=1; x=1, JSESSIONID=a",
        b"\tJSESSIONID =a",
        b"theme=dark;seraph.rememberme.cookie=r",
        b"mysso=z",
    ] {
        assert!(
            c.has_session_cookie(&cookies(&[v])),
            "{:?}",
            String::from_utf8_lossy(v)
        );
    }
    assert!(!c.has_session_cookie(&cookies(&[b"JSESSIONIDX=a; seraph.confluence=b"])));
}

#[test]
fn confluence_has_its_own_remember_me_cookie() {
    let c = Carriers::new(CONFLUENCE_SESSION_COOKIES, &[]);
    assert!(c.has_session_cookie(&cookies(&[b"seraph.confluence=r"])));
    assert!(!c.has_session_cookie(&cookies(&[b"seraph.rememberme.cookie=r"])));
}

#[test]
fn two_of_one_name_are_a_duplicate_across_headers() {
    let c = jira();
    let h = cookies(&[b"JSESSIONID=a", b"x=1; jsessionid=b"]);
    assert_eq!(
        c.session_cookies(&h).duplicate.as_deref(),
        Some("jsessionid")
    );
    let h = cookies(&[b"JSESSIONID=a; crowd.token_key=b"]);
    assert_eq!(c.session_cookies(&h).duplicate, None);
    assert_eq!(c.session_cookies(&h).pieces.len(), 2);
}

#[test]
fn stripping_keeps_other_cookies_byte_for_byte() {
    let c = jira();
    let mut h = cookies(&[
        b"pref=caf\xe9; JSESSIONID=a; atlassian.xsrf.token=x",
        b"seraph.rememberme.cookie=b",
    ]);
    c.strip_cookies(&mut h, true);
    let left: Vec<&[u8]> = h
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(left, vec![&b"pref=caf\xe9"[..]]);
    let mut h = cookies(&[b"JSESSIONID=a; atlassian.xsrf.token=x"]);
    c.strip_cookies(&mut h, false);
    assert_eq!(h[header::COOKIE], "atlassian.xsrf.token=x");
}

#[test]
fn set_cookie_of_a_session_is_removed_others_kept() {
    let mut h = HeaderMap::new();
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("JSESSIONID=s; Path=/; HttpOnly"),
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("atlassian.xsrf.token=t; Path=/"),
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static(" seraph.rememberme.cookie=r"),
    );
    jira().strip_set_cookie(&mut h);
    let left: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(left, vec!["atlassian.xsrf.token=t; Path=/"]);
}

#[test]
fn credential_parameters_are_found_decoded() {
    let mut p = Params::default();
    scan_params("jql=a&%6Fs_username=bob&os%5Fpassword=x", &mut p);
    assert!(p.basic && !p.oauth);
    assert_eq!(p.os_username.as_deref(), Some("bob"));
    assert_eq!(p.pairs, vec!["%6Fs_username=bob", "os%5Fpassword=x"]);
    let mut p = Params::default();
    scan_params("OAUTH_TOKEN=&xoauth_requestor_id=admin", &mut p);
    assert!(p.oauth && !p.basic);
    let mut p = Params::default();
    scan_params("os_username=a&os_username=b", &mut p);
    assert_eq!(p.duplicate.as_deref(), Some("os_username"));
    assert!(!has_credential_params("jql=project%3DX&cos_user=1"));
    // Seraph's other `os_*` parameters go with the credentials, but are none themselves.
    let mut p = Params::default();
    scan_params(
        "os_authType=basic&OS_COOKIE=true&os%5Fdestination=%2Fx",
        &mut p,
    );
    assert!(p.seraph && !p.basic && !p.oauth && p.pairs.is_empty());
    assert_eq!(
        strip_params("os_authType=basic&jql=x&os%5Fdestination=%2Fx").as_deref(),
        Some("jql=x")
    );
}

#[test]
fn parameters_are_stripped_others_kept_in_order() {
    assert_eq!(
        strip_params("a=1&os_username=bob&b=%20&oauth_token=t&c").as_deref(),
        Some("a=1&b=%20&c")
    );
    assert_eq!(strip_params("os_password=x"), None);
}

#[test]
fn connection_naming_a_credential_is_found() {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONNECTION,
        HeaderValue::from_static("close, Authorization"),
    );
    assert_eq!(connection_names_credential(&h), Some(header::AUTHORIZATION));
    h.insert(
        header::CONNECTION,
        HeaderValue::from_static("keep-alive,cookie"),
    );
    assert_eq!(connection_names_credential(&h), Some(header::COOKIE));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    assert_eq!(connection_names_credential(&h), None);
}

#[test]
fn forms_are_recognised_with_parameters_and_case() {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
    );
    assert!(is_form(&h));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    assert!(!is_form(&h));
}
