//! Config check tables: one per section, each row a TOML snippet and the exact error paths
//! it must produce with fragments of their messages (not just `is_err`).

use std::collections::HashMap;
use std::path::Path;

use super::*;

/// Environment for `${VAR}` in these tests (the process environment is never read).
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn check_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    from_toml_with(text, Path::new("/etc/authgate"), &env_of(env))
}

fn errors_of(text: &str, env: &[(&str, &str)]) -> ConfigErrors {
    match check_with(text, env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e,
    }
}

/// One row: the snippet, then every expected error as (exact path, message fragments).
type Row = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

fn run_table(section: &str, rows: &[Row]) {
    for (text, expected) in rows {
        let errs = errors_of(text, &[]);
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, want, "[{section}] paths for:\n{text}\ngot: {errs}");
        for (err, (_, fragments)) in errs.0.iter().zip(expected.iter()) {
            for f in *fragments {
                assert!(
                    err.message.contains(f),
                    "[{section}] {}: message {:?} lacks {f:?}",
                    err.path,
                    err.message
                );
            }
        }
    }
}

const JWT: &str = "[[providers]]\nname = \"corp\"\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"jira\"]\n";

#[test]
fn read_posts_default_to_the_products_own_read_only_posts() {
    let c = check_with("[upstream]\nproduct = \"confluence\"", &[]).expect("valid");
    let post = http::Method::POST;
    assert!(c
        .access
        .read_posts
        .first_match(&post, "/rest/api/contentbody/convert/view")
        .is_some());
    assert!(c
        .access
        .read_posts
        .first_match(&post, "/rest/api/2/search")
        .is_none());
    let c = check_with("", &[]).expect("valid");
    assert!(c
        .access
        .read_posts
        .first_match(&post, "/rest/api/2/search")
        .is_some());
    let c = check_with("[access]\nread_posts = []", &[]).expect("valid");
    assert!(
        c.access.read_posts.is_empty(),
        "an explicit list replaces the default"
    );
}

#[test]
fn an_empty_file_is_a_valid_config_with_the_documented_defaults() {
    let c = check_with("", &[]).expect("defaults are valid");
    assert_eq!(c.server.listen.to_string(), raw::DEFAULT_LISTEN);
    assert_eq!(c.server.admin_listen.to_string(), raw::DEFAULT_ADMIN_LISTEN);
    assert_eq!(c.server.request_timeout.as_secs(), 60);
    assert_eq!(c.upstream.product, Product::Jira);
    assert!(c.auth.enabled && c.auth.allow_pat && !c.auth.disable_basic);
    assert_eq!(c.auth.api_paths.len(), 1);
    assert_eq!(c.access.read_posts.len(), 2);
    assert_eq!(c.rate_limit.quota.burst.get(), raw::DEFAULT_RATE_REQUESTS);
    assert_eq!(c.audit.database_kind, DatabaseKind::Sqlite);
    // Relative paths resolve against the config file's directory.
    assert_eq!(c.audit.spool_dir, Path::new("/etc/authgate/audit-spool"));
    assert_eq!(
        c.audit.database_url.expose(),
        "sqlite:///etc/authgate/authgate.db?mode=rwc"
    );
}

#[test]
fn server_table() {
    run_table(
        "server",
        &[
            (
                "[server]\nlisten = \"8080\"",
                &[("server.listen", &["`8080` is not an address:port"])],
            ),
            (
                "[server]\nlisten = \"127.0.0.1:7000\"\nadmin_listen = \"127.0.0.1:7000\"",
                &[("server.admin_listen", &["must differ from server.listen"])],
            ),
            (
                "[server]\nadmin_token = \"short\"",
                &[("server.admin_token", &["at least 16 characters"])],
            ),
            (
                "[server]\nmax_header_bytes = 100",
                &[("server.max_header_bytes", &["at least 1024"])],
            ),
            (
                "[server]\nmax_connections = 0",
                &[("server.max_connections", &["at least 1"])],
            ),
            (
                "[server]\nheader_timeout = \"soon\"",
                &[(
                    "server.header_timeout",
                    &["`soon` is not a duration", "\"30s\""],
                )],
            ),
            (
                "[server]\nrequest_timeout = \"0s\"",
                &[("server.request_timeout", &["longer than zero"])],
            ),
            (
                "[server]\nshutdown_grace = \"5 parsecs\"",
                &[("server.shutdown_grace", &["is not a duration"])],
            ),
            (
                "[server]\ntls_cert = \"c.pem\"",
                &[("server.tls_key", &["required when server.tls_cert is set"])],
            ),
            (
                "[server]\ntls_key = \"k.pem\"",
                &[("server.tls_cert", &["required when server.tls_key is set"])],
            ),
        ],
    );
}

#[test]
fn upstream_table() {
    run_table(
        "upstream",
        &[
            (
                "[upstream]\nurl = \"ftp://h\"",
                &[(
                    "upstream.url",
                    &["`ftp://h` is not an http:// or https:// URL"],
                )],
            ),
            (
                "[upstream]\nurl = \"http://h:1/jira\"",
                &[(
                    "upstream.url",
                    &["must not have a path", "upstream.context_path"],
                )],
            ),
            (
                "[upstream]\nproduct = \"bitbucket\"",
                &[("upstream.product", &["`bitbucket` is not a product"])],
            ),
            (
                "[upstream]\ncontext_path = \"jira\"",
                &[("upstream.context_path", &["must look like \"/jira\""])],
            ),
            (
                "[upstream]\ncontext_path = \"/a/../b\"",
                &[("upstream.context_path", &["plain segments"])],
            ),
            (
                "[upstream]\nconnect_timeout = \"5\"",
                &[("upstream.connect_timeout", &["`5` is not a duration"])],
            ),
            (
                "[upstream.identity]\nmode = \"magic\"",
                &[("upstream.identity.mode", &["`magic` is not a mode"])],
            ),
            (
                "[upstream.identity]\nheader = \"Authorization\"",
                &[(
                    "upstream.identity.header",
                    &["authgate or HTTP itself manages"],
                )],
            ),
            (
                "[upstream.identity]\nheader = \"bad header\"",
                &[("upstream.identity.header", &["not a valid header name"])],
            ),
            (
                "[upstream.identity]\nmode = \"service_account\"",
                &[(
                    "upstream.identity.authorization",
                    &["is required for mode = \"service_account\""],
                )],
            ),
            (
                "[upstream.identity]\nauthorization = \"Basic eDp5\"",
                &[(
                    "upstream.identity.authorization",
                    &["applies only to mode = \"service_account\""],
                )],
            ),
        ],
    );
}

#[test]
fn auth_table() {
    run_table(
        "auth",
        &[
            (
                "[auth]\napi_paths = [\"rest/**\"]",
                &[("auth.api_paths[0]", &["`rest/**`", "must start with `/`"])],
            ),
            (
                "[auth]\napi_paths = [\"/rest/**\", \"/a/**/b\"]",
                &[(
                    "auth.api_paths[1]",
                    &["`/a/**/b`", "only as the last segment"],
                )],
            ),
            (
                "[auth]\napi_paths = [\"get /x\"]",
                &[("auth.api_paths[0]", &["`get /x`", "upper-case HTTP method"])],
            ),
        ],
    );
}

#[test]
fn groups_table() {
    run_table(
        "groups",
        &[
            (
                "[groups]\nsource = \"ldap\"",
                &[("groups.source", &["`ldap` is not a source"])],
            ),
            (
                "[groups]\nsource = \"claim\"\n[groups.static]\nalice = [\"a\"]",
                &[("groups.static", &["only to source = \"static\""])],
            ),
            (
                "[groups]\ncache_ttl = \"forever\"",
                &[("groups.cache_ttl", &["`forever` is not a duration"])],
            ),
        ],
    );
}

#[test]
fn access_table_names_the_bad_pattern() {
    run_table(
        "access",
        &[
            (
                "[access]\ndeny = [\"/ok/**\", \"DELETE rest\"]",
                &[("access.deny[1]", &["`DELETE rest`", "must start with `/`"])],
            ),
            (
                "[access]\nbypass = [\"/a/b*\"]",
                &[("access.bypass[0]", &["`/a/b*`", "whole segment"])],
            ),
            (
                "[access]\npublic_restricted = [\"/a//b\"]",
                &[("access.public_restricted[0]", &["`/a//b`"])],
            ),
            (
                "[access]\nread_posts = [\"POST /a?x\"]",
                &[("access.read_posts[0]", &["`POST /a?x`"])],
            ),
            (
                "[access]\nallowed_groups = [\"ok\", \" \"]",
                &[("access.allowed_groups[1]", &["cannot be empty"])],
            ),
            (
                "[access]\nadmin_groups = [\"\"]",
                &[("access.admin_groups[0]", &["cannot be empty"])],
            ),
        ],
    );
}

#[test]
fn ip_table_refuses_trusting_everyone() {
    run_table(
        "ip",
        &[
            (
                "[ip]\nallow = [\"10.0.0.0/33\"]",
                &[(
                    "ip.allow[0]",
                    &["`10.0.0.0/33` is not an IP address or CIDR"],
                )],
            ),
            (
                "[ip]\nallow = [\"010.0.0.1\"]",
                &[("ip.allow[0]", &["`010.0.0.1`"])],
            ),
            (
                "[ip]\nallow = [\"fe80::1%eth0\"]",
                &[("ip.allow[0]", &["`fe80::1%eth0`"])],
            ),
            (
                "[ip]\ntrusted_proxies = [\"0.0.0.0/0\"]",
                &[(
                    "ip.trusted_proxies[0]",
                    &["`0.0.0.0/0` trusts every address"],
                )],
            ),
            (
                "[ip]\ntrusted_proxies = [\"10.0.0.1\", \"::/0\"]",
                &[("ip.trusted_proxies[1]", &["`::/0` trusts every address"])],
            ),
            // Mapped IPv6 compares as IPv4: this is 0.0.0.0/0 in disguise.
            (
                "[ip]\ntrusted_proxies = [\"::ffff:0.0.0.0/96\"]",
                &[("ip.trusted_proxies[0]", &["trusts every address"])],
            ),
            (
                "[ip]\ntrusted_proxies = [\"proxy.local\"]",
                &[(
                    "ip.trusted_proxies[0]",
                    &["`proxy.local` is not an IP address or CIDR"],
                )],
            ),
            (
                "[ip]\nscope = \"some\"",
                &[("ip.scope", &["`some` is not a scope"])],
            ),
            (
                "[ip]\nclient_ip_header = \"X Forwarded\"",
                &[("ip.client_ip_header", &["not a valid header name"])],
            ),
        ],
    );
}

#[test]
fn mapped_ipv6_networks_are_their_ipv4_network() {
    let c = check_with("[ip]\nallow = [\"::ffff:10.0.0.0/104\"]", &[]).expect("valid");
    let client = crate::pipeline::ip_filter::ClientIp::Addr("10.9.8.7".parse().expect("ip"));
    assert!(matches!(
        c.ip.check(&client),
        crate::pipeline::Decision::Continue
    ));
}

#[test]
fn rate_limit_table() {
    run_table(
        "rate_limit",
        &[
            (
                "[rate_limit]\nrequests = 0",
                &[("rate_limit.requests", &["at least 1"])],
            ),
            (
                "[rate_limit]\nper = \"0s\"",
                &[("rate_limit.per", &["longer than zero"])],
            ),
            (
                "[rate_limit]\nburst = 0",
                &[("rate_limit.burst", &["at least 1"])],
            ),
            (
                "[[rate_limit.overrides]]\ngroup = \"\"\nrequests = 0\nper = \"1m\"",
                &[
                    ("rate_limit.overrides[0].group", &["required"]),
                    ("rate_limit.overrides[0].requests", &["at least 1"]),
                ],
            ),
        ],
    );
}

#[test]
fn tokens_table() {
    run_table(
        "tokens",
        &[
            (
                "[tokens]\ndefault_expiry = \"400d\"",
                &[("tokens.default_expiry", &["longer than tokens.max_expiry"])],
            ),
            (
                "[tokens]\nmax_expiry = \"never\"",
                &[("tokens.max_expiry", &["`never` is not a duration"])],
            ),
            (
                "[tokens]\nmax_per_user = 0",
                &[("tokens.max_per_user", &["at least 1"])],
            ),
        ],
    );
}

#[test]
fn audit_table() {
    run_table(
        "audit",
        &[
            (
                "[audit]\ndatabase_url = \"mysql://u:pw@h/db\"",
                &[(
                    "audit.database_url",
                    &["postgres://, postgresql:// or sqlite:"],
                )],
            ),
            (
                "[audit]\ndatabase_url = \"sqlite://\"",
                &[("audit.database_url", &["needs a file"])],
            ),
            (
                "[audit]\nretention_days = 0",
                &[("audit.retention_days", &["at least 1"])],
            ),
            (
                "[audit]\nretention_max_rows = 0",
                &[("audit.retention_max_rows", &["at least 1"])],
            ),
            ("[audit]\nqueue = 0", &[("audit.queue", &["at least 1"])]),
            (
                "[audit]\ncleanup_interval = \"hourly\"",
                &[("audit.cleanup_interval", &["`hourly` is not a duration"])],
            ),
            (
                "[audit]\nspool_dir = \" \"",
                &[("audit.spool_dir", &["required"])],
            ),
            (
                "[audit]\nlog = \"\"",
                &[("audit.log", &["\"stdout\", \"off\" or a file path"])],
            ),
        ],
    );
}

#[test]
fn log_table() {
    run_table(
        "log",
        &[
            (
                "[log]\nformat = \"xml\"",
                &[("log.format", &["`xml` is not a format"])],
            ),
            // A bare word that is no level would silently become a target filter.
            (
                "[log]\nlevel = \"inof\"",
                &[("log.level", &["`inof` is not a level"])],
            ),
            ("[log]\nlevel = \"\"", &[("log.level", &["is not a level"])]),
        ],
    );
    let c = check_with("[log]\nlevel = \"authgate=debug,warn\"", &[]).expect("directives are fine");
    assert_eq!(c.log.level, "authgate=debug,warn");
}

mod parse;
mod providers;
