//! Start-up checks that keep the gateway from running open by mistake (catalog §C in
//! docs/catalog.md): refused configs name the TOML path at fault; risky-but-legal ones produce
//! a warning.

use std::path::Path;

use crate::config::raw::DEFAULT_MAX_CONNECTIONS;
use crate::config::{from_toml_with, Config, ConfigErrors};

fn load(text: &str) -> Result<Config, ConfigErrors> {
    from_toml_with(text, Path::new("/tmp"), &|name| match name {
        "SHORT" => Some("x".repeat(31)),
        "LONG" => Some("x".repeat(32)),
        _ => None,
    })
}

fn errors(text: &str) -> Vec<(String, String)> {
    match load(text) {
        Ok(_) => panic!("expected the config to be refused:\n{text}"),
        Err(e) => e.0.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match load(text) {
        Ok(c) => c.warnings,
        Err(e) => panic!("expected the config to load, got:\n{e}"),
    }
}

fn hmac_provider(secret: &str, audiences: &str) -> String {
    format!(
        r#"
[[providers]]
name = "corp"
kind = "jwt"
issuer = "https://idp.test"
hmac_secret = "{secret}"
{audiences}
"#
    )
}

#[test]
fn trusted_proxies_that_trust_everyone_are_refused() {
    for (i, net) in ["0.0.0.0/0", "::/0", "0::0/0"].iter().enumerate() {
        let text = format!("[ip]\ntrusted_proxies = [\"10.0.0.1\", \"{net}\"]\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{net}: {errs:?}");
        assert_eq!(errs[0].0, "ip.trusted_proxies[1]", "{net} (case {i})");
        assert!(
            errs[0].1.contains("trusts every address"),
            "{net}: {}",
            errs[0].1
        );
    }
}

#[test]
fn trusted_proxies_with_host_bits_or_mapped_whole_space_are_not_trust_all() {
    // `::ffff:0.0.0.0/96` would be all of IPv4 written as IPv6: it must not slip through.
    let errs = errors("[ip]\ntrusted_proxies = [\"::ffff:0.0.0.0/96\"]\n");
    assert_eq!(errs[0].0, "ip.trusted_proxies[0]");
    // A normal proxy network loads.
    let c = load("[ip]\ntrusted_proxies = [\"10.1.2.0/24\", \"fd00::/64\"]\n").expect("loads");
    assert!(c.ip.is_trusted_peer("10.1.2.200".parse().expect("ip")));
    assert!(!c.ip.is_trusted_peer("10.1.3.1".parse().expect("ip")));
}

#[test]
fn an_hmac_secret_under_32_bytes_is_refused() {
    let errs = errors(&hmac_provider(&"s".repeat(31), "audiences = [\"jira\"]"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "providers[0].hmac_secret");
    assert!(errs[0].1.contains("at least 32 bytes"), "{}", errs[0].1);
    assert!(
        !errs[0].1.contains(&"s".repeat(31)),
        "the secret is never echoed"
    );
    // 32 bytes exactly is enough.
    assert!(load(&hmac_provider(&"s".repeat(32), "audiences = [\"jira\"]")).is_ok());
}

#[test]
fn an_hmac_secret_from_the_environment_is_checked_after_interpolation() {
    let errs = errors(&hmac_provider("${SHORT}", "audiences = [\"jira\"]"));
    assert_eq!(errs[0].0, "providers[0].hmac_secret");
    assert!(
        !errs[0].1.contains(&"x".repeat(31)),
        "the secret is never echoed"
    );
    assert!(load(&hmac_provider("${LONG}", "audiences = [\"jira\"]")).is_ok());
}

#[test]
fn multibyte_secrets_count_bytes_not_characters() {
    // 11 three-byte characters = 33 bytes: long enough (RFC 7518 §3.2 counts key bytes).
    assert!(load(&hmac_provider(&"€".repeat(11), "audiences = [\"jira\"]")).is_ok());
    let errs = errors(&hmac_provider(&"€".repeat(10), "audiences = [\"jira\"]"));
    assert_eq!(errs[0].0, "providers[0].hmac_secret");
}

#[test]
fn empty_audiences_warn() {
    let w = warnings(&hmac_provider(&"s".repeat(32), "audiences = []"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("providers[0]") && w[0].contains("audiences = []"),
        "{}",
        w[0]
    );
    // Leaving the key out is the same as an empty list.
    let w = warnings(&hmac_provider(&"s".repeat(32), ""));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(warnings(&hmac_provider(&"s".repeat(32), "audiences = [\"jira\"]")).is_empty());
}

#[test]
fn header_mode_with_a_remote_upstream_warns() {
    for url in [
        "http://10.0.0.5:8080",
        "https://jira.internal",
        "http://[2001:db8::1]:8080",
    ] {
        let w = warnings(&format!("[upstream]\nurl = \"{url}\"\n"));
        assert_eq!(w.len(), 1, "{url}: {w:?}");
        assert!(
            w[0].contains("upstream.identity.mode") && w[0].contains("firewall"),
            "{}",
            w[0]
        );
    }
    for url in [
        "http://127.0.0.1:8081",
        "http://127.0.0.2:8081",
        "http://localhost:8081",
        "http://LOCALHOST:8081",
        "http://[::1]:8081",
    ] {
        let w = warnings(&format!("[upstream]\nurl = \"{url}\"\n"));
        assert!(w.is_empty(), "{url}: {w:?}");
    }
}

#[test]
fn service_account_mode_with_a_remote_upstream_does_not_warn() {
    let w = warnings(
        "[upstream]\nurl = \"https://jira.internal\"\n[upstream.identity]\nmode = \"service_account\"\nauthorization = \"Basic c3ZjOnB3\"\n",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn the_default_config_loads_without_warnings() {
    let c = load("").expect("defaults load");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.server.max_connections, DEFAULT_MAX_CONNECTIONS);
}
