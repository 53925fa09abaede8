//! Parsing-level behaviour: schema errors with their lines, `${VAR}`, durations, secrets.

use super::*;

#[test]
fn schema_errors_name_the_key_and_its_line() {
    let errs = errors_of(
        "[server]\nlisten = \"127.0.0.1:1\"\n\n[access]\nrequre_groups = [\"a\"]\n",
        &[],
    );
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "access.requre_groups");
    assert!(
        errs.0[0].message.contains("unknown field `requre_groups`"),
        "{errs}"
    );
    assert!(
        errs.0[0].message.contains("`allowed_groups`"),
        "lists the known keys: {errs}"
    );
    assert_eq!(errs.0[0].line, Some(5));
    assert!(errs
        .to_string()
        .contains("access.requre_groups: unknown field `requre_groups`"));

    // A typo in an array of tables and in a top-level table name.
    let errs = errors_of(
        &format!("{JWT}public_key_file = \"k\"\nissuer_url = \"x\"\n[acess]\n"),
        &[],
    );
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["providers[0].issuer_url", "acess"], "{errs}");

    // Wrong type.
    let errs = errors_of("[server]\nmax_connections = \"many\"", &[]);
    assert_eq!(errs.0[0].path, "server.max_connections");
    assert!(errs.0[0].message.contains("invalid type"), "{errs}");
    assert_eq!(errs.0[0].line, Some(2));

    let errs = errors_of("[rate_limit]\nenabled = \"yes\"", &[]);
    assert_eq!(errs.0[0].path, "rate_limit.enabled");

    // Not TOML at all.
    let errs = errors_of("[server\nlisten = 1", &[]);
    assert_eq!(errs.0[0].path, "file");
    assert!(errs.0[0].message.contains("is not valid TOML"), "{errs}");
    assert_eq!(errs.0[0].line, Some(1));
}

#[test]
fn check_errors_carry_lines_too() {
    let text = "# comment\n[server]\nlisten = \"x\"\n\n[access]\ndeny = [\"/a\", \"nope\"]\n";
    let errs = errors_of(text, &[]);
    let got: Vec<(&str, Option<usize>)> =
        errs.0.iter().map(|e| (e.path.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [("server.listen", Some(3)), ("access.deny[1]", Some(6))]
    );
    assert!(errs
        .to_string()
        .contains("server.listen: `x` is not an address:port"));
    assert!(errs.to_string().contains("(line 3)"));
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = format!(
        "[server]\nlisten = \"nope\"\nheader_timeout = \"x\"\n[upstream]\nproduct = \"x\"\n{JWT}public_key_file = \"k\"\njwks_url = \"https://i/c\"\n[ip]\ntrusted_proxies = [\"0.0.0.0/0\"]\n[log]\nformat = \"xml\"\n"
    );
    let errs = errors_of(&text, &[]);
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "server.listen",
            "server.header_timeout",
            "upstream.product",
            "providers[0]",
            "ip.trusted_proxies[0]",
            "log.format"
        ]
    );
    // Several unknown keys at once, too.
    let errs = errors_of(
        "[server]\nlsiten = \"a\"\n[auth]\nenabeld = true\ndisable_basc = true\n",
        &[],
    );
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["server.lsiten", "auth.enabeld", "auth.disable_basc"],
        "in file order: {errs}"
    );
}

#[test]
fn env_interpolation() {
    let text = "[server]\nadmin_token = \"${ADMIN}\"\n[upstream]\nurl = \"${UP}\"";
    let c = check_with(
        text,
        &[
            ("ADMIN", "0123456789abcdef-long"),
            ("UP", "http://10.1.1.1:8081"),
        ],
    )
    .expect("valid");
    assert_eq!(
        c.server.admin_token.as_ref().map(Secret::expose),
        Some("0123456789abcdef-long")
    );
    assert_eq!(c.upstream.url.to_string(), "http://10.1.1.1:8081/");

    // Every missing variable is reported, with the key and the variable name.
    let errs = errors_of(text, &[]);
    let got: Vec<(&str, Option<usize>)> =
        errs.0.iter().map(|e| (e.path.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [("server.admin_token", Some(2)), ("upstream.url", Some(4))]
    );
    assert!(
        errs.0[0]
            .message
            .contains("environment variable ADMIN is not set"),
        "{errs}"
    );
    assert!(
        errs.0[1]
            .message
            .contains("environment variable UP is not set"),
        "{errs}"
    );

    // A missing variable does not hide the other errors, and its key is not also reported
    // for being empty.
    let errs = errors_of(
        "[server]\nadmin_token = \"${NOPE}\"\n[ip]\ntrusted_proxies = [\"::/0\"]",
        &[],
    );
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["server.admin_token", "ip.trusted_proxies[0]"],
        "{errs}"
    );
    assert!(errs.0[0].message.contains("NOPE is not set"), "{errs}");

    // Only a whole-string ${NAME} is interpolated; a bad name is an error.
    let errs = errors_of("[server]\nadmin_token = \"${1BAD}\"", &[]);
    assert_eq!(errs.0[0].path, "server.admin_token");
    assert!(errs.0[0].message.contains("not a valid variable name"));
    let c =
        check_with("[access]\ndeny = [\"/x/${A}\"]", &[]).expect("not a whole-string reference");
    assert_eq!(c.access.deny.len(), 1);

    // Inside arrays of tables.
    let text = "[[providers]]\nname = \"o\"\nkind = \"introspection\"\nintrospection_url = \"https://i/x\"\nclient_id = \"c\"\nclient_secret = \"${CS}\"\naudiences = [\"j\"]";
    let errs = errors_of(text, &[]);
    assert_eq!(errs.0[0].path, "providers[0].client_secret");
    assert_eq!(errs.0[0].line, Some(6));
}

#[test]
fn durations() {
    for ok in ["30s", "5m", "1h", "90d", "1h 30m", "250ms"] {
        check_with(&format!("[server]\nrequest_timeout = \"{ok}\""), &[])
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["", "30", "-5s", "5 parsecs", "s", "1.5.3h"] {
        let errs = errors_of(&format!("[server]\nrequest_timeout = \"{bad}\""), &[]);
        assert_eq!(errs.0.len(), 1, "{bad}: {errs}");
        assert_eq!(errs.0[0].path, "server.request_timeout");
        assert!(
            errs.0[0].message.contains("is not a duration"),
            "{bad}: {errs}"
        );
    }
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    const S1: &str = "hunter2-secret"; // 14 chars: too short for admin_token
    const S2: &str = "mysql://user:pa55w0rd-x@db/authgate";
    const S3: &str = "tiny-hmac-key";
    const S4: &str = "Basic bad\u{1}value";
    let text = format!(
        "[server]\nadmin_token = \"${{S1}}\"\n[audit]\ndatabase_url = \"${{S2}}\"\n[upstream.identity]\nmode = \"service_account\"\nauthorization = \"${{S4}}\"\n{JWT}hmac_secret = \"${{S3}}\"\nalgorithms = [\"HS256\"]"
    );
    let env = [("S1", S1), ("S2", S2), ("S3", S3), ("S4", S4)];
    let errs = errors_of(&text, &env);
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "server.admin_token",
            "audit.database_url",
            "upstream.identity.authorization",
            "providers[0].hmac_secret"
        ]
    );
    let shown = format!("{errs} {errs:?}");
    for secret in ["hunter2", "pa55w0rd", "tiny-hmac", "bad\u{1}value"] {
        assert!(!shown.contains(secret), "secret {secret:?} leaked: {shown}");
    }

    // Valid secrets are wrapped: Debug of the whole config prints *** for each.
    let text = format!(
        "[server]\nadmin_token = \"${{S1}}\"\n[audit]\ndatabase_url = \"${{S2}}\"\n[upstream.identity]\nmode = \"service_account\"\nauthorization = \"${{S4}}\"\n{JWT}hmac_secret = \"${{S3}}\"\nalgorithms = [\"HS256\"]\n[[providers]]\nname = \"o\"\nkind = \"introspection\"\nintrospection_url = \"https://i/x\"\nclient_id = \"c\"\nclient_secret = \"${{S5}}\"\naudiences = [\"j\"]"
    );
    let env = [
        ("S1", "admin-token-0123456789"),
        ("S2", "postgres://authgate:db-pa55@db/authgate"),
        ("S3", "hmac-key-0123456789abcdef0123456789"),
        ("S4", "Basic c3ZjOnN2Yy1wdw=="),
        ("S5", "client-secret-xyz"),
    ];
    let c = check_with(&text, &env).expect("valid");
    let dbg = format!("{c:?}");
    for (_, secret) in env {
        assert!(!dbg.contains(secret), "{secret} in Debug output");
    }
    assert!(dbg.contains("***"));
    assert_eq!(format!("{}", Secret::new("x")), "***");
    assert_eq!(format!("{:?}", Secret::new("x")), "***");
}

#[test]
fn warnings_for_legal_but_risky_settings() {
    let c = check_with(
        "[upstream]\nurl = \"http://jira.internal:8080\"\n[[providers]]\nname = \"p\"\nkind = \"jwt\"\nissuer = \"https://i\"\npublic_key_file = \"k\"",
        &[],
    )
    .expect("valid");
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings.iter().any(|w| w.contains("firewall")));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("providers[0] (p): audiences = []")));
}
