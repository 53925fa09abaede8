//! `authgate applink`, `authgate check-upstream` and `check-config`'s key checks, run as the
//! binary an operator runs, against the Jira stand-in's application link.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use authgate::standin::jira::oauth1::OAuthLink;
use authgate::standin::jira::{JiraOptions, JiraStandin};

fn authgate(args: &[&str], config: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_authgate"));
    c.env_remove("AUTHGATE_CONFIG")
        .env_remove("RUST_LOG")
        .args(args)
        .arg("-c")
        .arg(config)
        .kill_on_drop(true);
    c
}

/// Runs the binary (killed after 30 s: a hang fails the test).
async fn run(args: &[&str], config: &Path) -> (Option<i32>, String, String) {
    let out: Output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        authgate(args, config).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("authgate {args:?} did not exit"))
    .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An oauth1 config for an upstream at `url` whose key is `<dir>/keys/applink.pem`.
fn config(dir: &Path, url: &str, product: &str) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "{url}"
product = "{product}"
[upstream.identity]
mode = "oauth1"
consumer_key = "authgate-cli"
private_key_file = "keys/applink.pem"
[audit]
database_url = "sqlite://audit.db?mode=rwc"
log = "off"
"#
    );
    let path = dir.join("authgate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test]
async fn applink_generates_a_private_key_once_and_prints_only_the_public_half() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(dir.path(), "http://127.0.0.1:9", "jira");
    let (code, out, err) = run(&["applink", "--generate-key"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    let key = dir.path().join("keys/applink.pem");
    let mode = std::fs::metadata(&key)
        .expect("written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(out.contains("consumer key:  authgate-cli"), "{out}");
    assert!(out.contains("-----BEGIN PUBLIC KEY-----"), "{out}");
    assert!(
        out.contains("Allow user impersonation through 2-Legged OAuth"),
        "{out}"
    );
    assert!(out.contains("Application links"), "{out}");
    assert!(!out.contains("PRIVATE KEY") && !err.contains("PRIVATE KEY"));
    let written = std::fs::read(&key).expect("key");

    // Again: the key is kept, the same public key printed.
    let (code, again, err) = run(&["applink", "--generate-key"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("exists; keeping it"), "{err}");
    assert_eq!(std::fs::read(&key).expect("key"), written);
    let public = |s: &str| s.split("public key:").nth(1).map(|p| p[..500].to_string());
    assert_eq!(public(&out), public(&again));

    // Confluence's steps name its own administration page.
    let conf = tempfile::tempdir().expect("dir");
    let cfg = config(conf.path(), "http://127.0.0.1:9", "confluence");
    let (code, out, err) = run(&["applink", "--generate-key", "--bits", "3072"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("3072-bit") && out.contains("General Configuration"),
        "{out}"
    );

    let (code, _, err) = run(
        &["applink", "--generate-key", "--bits", "1024"],
        &config(
            tempfile::tempdir().unwrap().path(),
            "http://127.0.0.1:9",
            "jira",
        ),
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(err.contains("--bits 1024"), "{err}");
}

#[tokio::test]
async fn check_config_refuses_a_key_others_can_read_or_a_small_one() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(dir.path(), "http://127.0.0.1:9", "jira");
    let (code, _, err) = run(&["check-config"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("upstream.identity.private_key_file") && err.contains("cannot read"),
        "{err}"
    );
    let (code, _, err) = run(&["applink", "--generate-key"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["check-config"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("identity oauth1 as consumer \"authgate-cli\""),
        "{out}"
    );
    let key = dir.path().join("keys/applink.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = run(&["check-config"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("readable by group or others") && err.contains("chmod 600"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A 1024-bit key written by someone else.
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("key");
    std::fs::write(
        &key,
        small.to_pkcs8_pem(LineEnding::LF).expect("pem").as_bytes(),
    )
    .expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, _, err) = run(&["check-config"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("1024-bit") && err.contains("at least 2048"),
        "{err}"
    );
    // And `run` refuses to start with it.
    let (code, _, err) = run(&["run"], &cfg).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1024-bit"), "{err}");
}

#[tokio::test]
async fn check_upstream_says_what_the_product_saw_and_why_it_refused() {
    let dir = tempfile::tempdir().expect("dir");
    // The key first (the stand-in's link needs its public half).
    let cfg = config(dir.path(), "http://127.0.0.1:9", "jira");
    let (code, _, err) = run(&["applink", "--generate-key"], &cfg).await;
    assert_eq!(code, Some(0), "{err}");
    let key = authgate::oauth1::key::load(&dir.path().join("keys/applink.pem")).expect("key");
    let jira = JiraStandin::start_with(
        JiraOptions::jira().with_oauth1(OAuthLink::new("authgate-cli", key.to_public_key(), "")),
        |addr, o| {
            if let Some(l) = o.oauth1.as_mut() {
                l.base_url = format!("http://{addr}");
            }
        },
    )
    .await;
    let cfg = config(dir.path(), &jira.url(), "jira");
    let (code, out, err) = run(&["check-upstream", "--user", "alice"], &cfg).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("the product saw: alice (groups: jira-users)"),
        "{out}"
    );
    let (code, out, _) = run(&["check-upstream", "--user", "mallory"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(
        out.contains("saw no user") && out.contains("not know this username"),
        "{out}"
    );
    let (code, _, err) = run(&["check-upstream"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("--user NAME is required"), "{err}");

    // A base URL the product does not believe is its own: signature_invalid, with the hint.
    let text = std::fs::read_to_string(&cfg).expect("config").replace(
        "consumer_key = \"authgate-cli\"",
        "consumer_key = \"authgate-cli\"\nbase_url = \"https://jira.example.com\"",
    );
    std::fs::write(&cfg, text).expect("config");
    let (code, out, _) = run(&["check-upstream", "--user", "alice"], &cfg).await;
    assert_eq!(code, Some(1));
    assert!(
        out.contains("oauth_problem=signature_invalid") && out.contains("base_url"),
        "{out}"
    );

    // Header mode: reachability without a user, and the header authenticator with one.
    let header = dir.path().join("header.toml");
    std::fs::write(
        &header,
        format!(
            "[upstream]\nurl = \"{}\"\n[audit]\ndatabase_url = \"sqlite://audit.db?mode=rwc\"\nlog = \"off\"\n",
            jira.url()
        ),
    )
    .expect("config");
    let (code, out, err) = run(&["check-upstream"], &header).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("RUNNING"), "{out}");
    let (code, out, _) = run(&["check-upstream", "--user", "bob"], &header).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("the product saw: bob"), "{out}");

    // Service account: without a user, who the account is; the value never printed.
    use base64::Engine;
    let account = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:alice-pw")
    );
    let service = dir.path().join("service.toml");
    std::fs::write(
        &service,
        format!(
            "[upstream]\nurl = \"{}\"\n[upstream.identity]\nmode = \"service_account\"\nauthorization = \"{account}\"\n[audit]\ndatabase_url = \"sqlite://audit.db?mode=rwc\"\nlog = \"off\"\n",
            jira.url()
        ),
    )
    .expect("config");
    let (code, out, err) = run(&["check-upstream"], &service).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("service_account mode") && out.contains("the product saw: alice"),
        "{out}"
    );
    assert!(
        !out.contains("YWxpY2U") && !err.contains("YWxpY2U"),
        "the account's value is never printed"
    );
}
