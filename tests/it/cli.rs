//! The `authgate` binary on bad input: exit 1 with one clear sentence naming the file, key or
//! address, and nothing left running; and `--help` on every command.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn authgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_authgate"));
    c.env_remove("AUTHGATE_CONFIG").env_remove("RUST_LOG");
    c
}

/// Runs `authgate args…`, killing it if it has not exited within 30 s (a hang fails the test).
fn run_bounded(args: &[&str], config: &Path) -> Output {
    let mut child = authgate()
        .args(args)
        .arg("-c")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authgate");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "authgate {args:?} did not exit: half-started?\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Asserts exit 1 and a stderr that is one line naming every `needles`.
fn assert_one_sentence(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line expected, got:\n{stderr}"
    );
    assert!(stderr.starts_with("authgate: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
    stderr
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("authgate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A config that would start: loopback listeners on free ports, audit in the temp dir.
fn startable(listen: &str, admin: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\nadmin_listen = \"{admin}\"\n[audit]\ndatabase_url = \"sqlite://audit.db?mode=rwc\"\nlog = \"off\"\n"
    )
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    for cmd in ["run", "check-config"] {
        let out = run_bounded(&[cmd], &missing);
        let s = assert_one_sentence(
            &out,
            &["cannot read config file", &missing.display().to_string()],
        );
        assert_eq!(s.matches("No such file").count(), 1, "said once: {s}");
    }
}

#[test]
fn default_config_file_is_named_when_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = authgate()
        .arg("check-config")
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_one_sentence(&out, &["authgate.toml"]);
}

#[test]
fn bad_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:1\"\n[upstream\nurl = 1\n",
    );
    for cmd in ["run", "check-config"] {
        let out = run_bounded(&[cmd], &file);
        assert_one_sentence(
            &out,
            &[&file.display().to_string(), "is not valid TOML", "(line 3)"],
        );
    }
}

#[test]
fn unknown_key_names_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(dir.path(), "[access]\nrequre_groups = [\"jira-users\"]\n");
    for cmd in ["run", "check-config"] {
        let out = run_bounded(&[cmd], &file);
        assert_one_sentence(
            &out,
            &[
                &file.display().to_string(),
                "access.requre_groups",
                "unknown field `requre_groups`",
                "(line 2)",
            ],
        );
    }
}

#[test]
fn missing_env_variable_names_key_and_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(
        dir.path(),
        "[server]\nadmin_token = \"${AUTHGATE_TEST_SURELY_UNSET_VAR}\"\n",
    );
    for cmd in ["run", "check-config"] {
        let out = run_bounded(&[cmd], &file);
        assert_one_sentence(
            &out,
            &[
                &file.display().to_string(),
                "server.admin_token",
                "AUTHGATE_TEST_SURELY_UNSET_VAR is not set",
            ],
        );
    }
}

#[test]
fn several_errors_are_all_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(
        dir.path(),
        "[server]\nlisten = \"x\"\n[ip]\ntrusted_proxies = [\"0.0.0.0/0\"]\n",
    );
    let out = run_bounded(&["check-config"], &file);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has 2 errors"), "{stderr}");
    assert!(
        stderr.contains("  server.listen: `x` is not an address:port"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  ip.trusted_proxies[0]: `0.0.0.0/0` trusts every address"),
        "{stderr}"
    );
}

#[test]
fn port_in_use_names_the_address_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("addr").to_string();
    // Client listener busy.
    let file = write_config(dir.path(), &startable(&busy_addr, "127.0.0.1:0"));
    let out = run_bounded(&["run"], &file);
    assert_one_sentence(&out, &[&busy_addr, "server.listen"]);
    // Operator listener busy: the client listener, bound first, is released with the process.
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let free_addr = free.local_addr().expect("addr").to_string();
    drop(free);
    let file = write_config(dir.path(), &startable(&free_addr, &busy_addr));
    let out = run_bounded(&["run"], &file);
    assert_one_sentence(&out, &[&busy_addr, "server.admin_listen"]);
    TcpListener::bind(&free_addr).expect("nothing half-started keeps the client port");
}

#[test]
fn check_config_prints_a_summary_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(
        dir.path(),
        "[server]\nadmin_token = \"${AUTHGATE_TEST_ADMIN_TOKEN}\"\n[[providers]]\nname = \"corp\"\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"jira\"]\nhmac_secret = \"${AUTHGATE_TEST_HMAC}\"\n",
    );
    let out = authgate()
        .args(["check-config", "-c"])
        .arg(&file)
        .env("AUTHGATE_TEST_ADMIN_TOKEN", "admin-token-0123456789")
        .env(
            "AUTHGATE_TEST_HMAC",
            "hmac-secret-0123456789abcdef0123456789",
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": OK"), "{stdout}");
    assert!(
        stdout.contains("provider    corp: jwt, issuer https://idp"),
        "{stdout}"
    );
    assert!(!stdout.contains("admin-token-0123456789"), "{stdout}");
    assert!(!stdout.contains("hmac-secret"), "{stdout}");
}

#[test]
fn help_works_on_every_command() {
    let mut cases: Vec<Vec<&str>> = vec![vec!["--help"], vec!["help"], vec!["--version"]];
    for cmd in [
        "run",
        "check-config",
        "demo",
        "test-token",
        "applink",
        "check-upstream",
    ] {
        cases.push(vec![cmd, "--help"]);
        cases.push(vec!["help", cmd]);
    }
    for args in cases {
        let out = authgate().args(&args).output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Usage") || args == ["--version"],
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn an_unknown_command_fails() {
    let out = authgate().arg("serve").output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("serve"));
}
