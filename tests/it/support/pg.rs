//! A real PostgreSQL 15 for the tests: initdb in a temp dir, run as an unprivileged user on
//! a free loopback port, started once per test binary and stopped when it exits.
//!
//! Tests call [`database`] to get a fresh, empty database URL of their own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The running server.
pub struct Postgres {
    /// `postgres://authgate@127.0.0.1:PORT`
    pub base_url: String,
    /// Data directory (removed at exit).
    pub dir: PathBuf,
    /// Port.
    pub port: u16,
    user: String,
}

static SERVER: OnceLock<Postgres> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_user(user: &str, program: &str) -> Command {
    // PostgreSQL refuses to run as root; CI runs as root.
    let mut c = if unsafe_is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--", program]);
        c
    } else {
        Command::new(program)
    };
    c.env_remove("PGDATA");
    c
}

fn unsafe_is_root() -> bool {
    // `id -u` avoids libc in the test crate.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn start() -> Postgres {
    let user = if unsafe_is_root() { "nobody".to_string() } else { whoami() };
    let dir = std::env::temp_dir().join(format!("authgate-pg-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    if unsafe_is_root() {
        let ok = Command::new("chown").args(["-R", &user, dir.to_str().unwrap()]).status().unwrap();
        assert!(ok.success(), "chown of the Postgres data dir failed");
    }
    let data = dir.join("data");
    let out = as_user(&user, &format!("{BIN}/initdb"))
        .args(["-D", data.to_str().unwrap(), "-U", "authgate", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .expect("initdb runs (PostgreSQL 15 under /usr/lib/postgresql/15/bin)");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let log = dir.join("log");
    let out = as_user(&user, &format!("{BIN}/pg_ctl"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-o",
            &format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", dir.display()),
            "start",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {} {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Postgres {
        base_url: format!("postgres://authgate@127.0.0.1:{port}"),
        dir,
        port,
        user,
    }
}

fn whoami() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap()
}

/// The shared server (started on first use).
pub fn server() -> &'static Postgres {
    SERVER.get_or_init(|| {
        let pg = start();
        register_stop(pg.dir.clone(), pg.user.clone());
        pg
    })
}

/// A new empty database on the shared server; returns its URL.
pub fn database() -> String {
    let pg = server();
    let name = format!("t{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let out = Command::new(format!("{BIN}/../../../../bin/psql"))
        .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "authgate", "-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
        .output();
    let ok = match out {
        Ok(o) if o.status.success() => true,
        _ => Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "authgate", "-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
    };
    assert!(ok, "CREATE DATABASE {name} failed");
    format!("{}/{name}", pg.base_url)
}

/// Stops the server (for fault tests: "Postgres stopped mid-traffic").
pub fn stop() {
    let pg = server();
    let _ = as_user(&pg.user, &format!("{BIN}/pg_ctl"))
        .args(["-D", pg.dir.join("data").to_str().unwrap(), "-m", "immediate", "-w", "stop"])
        .output();
}

/// Starts it again on the same port and data.
pub fn restart() {
    let pg = server();
    let out = as_user(&pg.user, &format!("{BIN}/pg_ctl"))
        .args([
            "-D",
            pg.dir.join("data").to_str().unwrap(),
            "-l",
            pg.dir.join("log").to_str().unwrap(),
            "-w",
            "-o",
            &format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", pg.port, pg.dir.display()),
            "start",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_ctl restart failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn register_stop(dir: PathBuf, user: String) {
    // A watchdog process stops Postgres when this test binary exits, however it exits.
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; runuser -u {user} -- {BIN}/pg_ctl -D {d}/data -m immediate stop >/dev/null 2>&1 || {BIN}/pg_ctl -D {d}/data -m immediate stop >/dev/null 2>&1; rm -rf {d}",
        d = dir.display()
    );
    let _ = Command::new("sh").arg("-c").arg(script).spawn();
}
