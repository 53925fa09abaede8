//! The sample files under `config/` load, check clean, and document every key of the schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variables the sample files reference (each file's header says which it needs).
const SAMPLE_ENV: &[(&str, &str)] = &[
    ("AUTHGATE_ADMIN_TOKEN", "sample-admin-token-0123456789"),
    ("AUTHGATE_INTROSPECTION_SECRET", "sample-client-secret"),
    ("AUTHGATE_DEMO_UPSTREAM", "http://127.0.0.1:8081"),
];

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn sample_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(config_dir())
        .expect("config/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_file_under_config_loads() {
    let files = sample_files();
    assert!(
        files.len() >= 2,
        "expected at least the example and the demo: {files:?}"
    );
    let env: HashMap<&str, &str> = SAMPLE_ENV.iter().copied().collect();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let cfg = authgate::config::from_toml_with(&text, &config_dir(), &|n| {
            env.get(n).map(|v| v.to_string())
        })
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", file.display()));
        assert!(cfg.source.is_none());
    }
}

#[test]
fn every_file_under_config_passes_check_config() {
    // `authgate check-config` goes through `config::load`, the path `run` takes.
    for file in sample_files() {
        let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["check-config", "-c"])
            .arg(&file)
            .env_remove("AUTHGATE_CONFIG")
            .envs(SAMPLE_ENV.iter().copied())
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        assert!(stdout.contains(": OK"), "{}: {stdout}", file.display());
        for (_, secret) in SAMPLE_ENV {
            if !secret.starts_with("http") {
                assert!(
                    !stdout.contains(secret),
                    "check-config printed a secret: {stdout}"
                );
            }
        }
    }
}

/// The keys serde knows for the table at `prefix`, read from its own "expected one of" list.
fn schema_keys(snippet: &str) -> Vec<String> {
    let env = |_: &str| None;
    let err =
        authgate::config::from_toml_with(snippet, Path::new("."), &env).expect_err("unknown key");
    let msg = &err.0[0].message;
    // "unknown field `x`, expected one of `a`, `b`" or "…, expected `a` or `b`".
    let list = msg
        .split_once(", expected")
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no key list in {msg}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_example_documents_every_key_of_the_schema() {
    let example =
        std::fs::read_to_string(config_dir().join("authgate.example.toml")).expect("example");
    let tables: &[(&str, &str)] = &[
        ("", "zz_unknown = 1"),
        ("server", "[server]\nzz_unknown = 1"),
        ("upstream", "[upstream]\nzz_unknown = 1"),
        ("upstream.identity", "[upstream.identity]\nzz_unknown = 1"),
        ("auth", "[auth]\nzz_unknown = 1"),
        (
            "providers",
            "[[providers]]\nname = \"a\"\nkind = \"jwt\"\nzz_unknown = 1",
        ),
        ("groups", "[groups]\nzz_unknown = 1"),
        ("access", "[access]\nzz_unknown = 1"),
        ("ip", "[ip]\nzz_unknown = 1"),
        ("rate_limit", "[rate_limit]\nzz_unknown = 1"),
        (
            "rate_limit.overrides",
            "[[rate_limit.overrides]]\ngroup = \"g\"\nrequests = 1\nper = \"1m\"\nzz_unknown = 1",
        ),
        ("tokens", "[tokens]\nzz_unknown = 1"),
        ("audit", "[audit]\nzz_unknown = 1"),
        ("log", "[log]\nzz_unknown = 1"),
    ];
    let mut missing = Vec::new();
    for (table, snippet) in tables {
        let keys = schema_keys(snippet);
        assert!(!keys.is_empty(), "{table}: no keys found");
        for key in keys {
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim();
                l.starts_with(&format!("{key} ="))
                    || l.starts_with(&format!("[{key}]"))
                    || l.starts_with(&format!("[[{key}]]"))
                    || l.starts_with(&format!("[{table}.{key}]"))
                    || l.starts_with(&format!("[[{table}.{key}]]"))
            });
            if !documented {
                missing.push(format!("{table}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys not in config/authgate.example.toml: {missing:?}"
    );
}
