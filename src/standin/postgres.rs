//! A real PostgreSQL 15 for tests and benches: `initdb` in a temp dir, run as an
//! unprivileged user (`nobody` when we are root, since Postgres refuses root) on a free
//! loopback port, trust auth for user `authgate`, `fsync=off`.
//!
//! Each [`Postgres`] is its own server: tests that stop and restart it (fault tests) start
//! a private one, so they never disturb the server other tests share. A watchdog process
//! stops the server and removes its directory when the starting process exits, however it
//! exits; dropping the value does the same at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the PostgreSQL 15 binaries are (override with `AUTHGATE_PG_BIN`).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("AUTHGATE_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres://authgate@127.0.0.1:PORT`
    pub base_url: String,
    /// Directory with `data/` and `log` (removed on drop).
    pub dir: PathBuf,
    /// Port.
    pub port: u16,
    user: Option<String>,
    next_db: AtomicU32,
}

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
#[error("postgres: {0}")]
pub struct PgError(String);

fn free_port() -> Result<u16, PgError> {
    super::free_port().map_err(|e| PgError(format!("no free port: {e}")))
}

use super::is_root;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Postgres {
    /// initdb + start on a free port. Blocks until the server accepts connections.
    pub fn start() -> Result<Postgres, PgError> {
        let user = is_root().then(|| "nobody".to_string());
        let dir = std::env::temp_dir().join(format!(
            "authgate-pg-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir).map_err(|e| PgError(format!("{}: {e}", dir.display())))?;
        let port = free_port()?;
        let pg = Postgres {
            base_url: format!("postgres://authgate@127.0.0.1:{port}"),
            dir,
            port,
            user,
            next_db: AtomicU32::new(0),
        };
        pg.watchdog();
        if let Some(u) = &pg.user {
            let ok = Command::new("chown").args(["-R", u]).arg(&pg.dir).status();
            if !ok.is_ok_and(|s| s.success()) {
                return Err(PgError(format!("chown {u} {} failed", pg.dir.display())));
            }
        }
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(pg.data())
            .args([
                "-U",
                "authgate",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .map_err(|e| {
                PgError(format!(
                    "initdb (PostgreSQL 15 under {}): {e}",
                    bin_dir().display()
                ))
            })?;
        if !out.status.success() {
            return Err(PgError(format!("initdb failed: {}", text(&out))));
        }
        pg.start_server()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` from [`bin_dir`], run as the server's user, in its directory.
    fn command(&self, program: &str) -> Command {
        let path = bin_dir().join(program);
        let mut c = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        c.env_remove("PGDATA").current_dir(&self.dir);
        c
    }

    fn start_server(&self) -> Result<(), PgError> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
                self.port,
                self.dir.display()
            ))
            .arg("start")
            .output()
            .map_err(|e| PgError(format!("pg_ctl: {e}")))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            return Err(PgError(format!(
                "pg_ctl start failed: {} {log}",
                text(&out)
            )));
        }
        Ok(())
    }

    /// Creates database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, PgError> {
        let out = Command::new(bin_dir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "authgate",
                "-d",
                "postgres",
                "-q",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .map_err(|e| PgError(format!("psql: {e}")))?;
        if !out.status.success() {
            return Err(PgError(format!(
                "CREATE DATABASE {name} failed: {}",
                text(&out)
            )));
        }
        Ok(format!("{}/{name}", self.base_url))
    }

    /// A new empty database with a unique name; returns its URL.
    pub fn fresh_database(&self) -> Result<String, PgError> {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        self.create_database(&format!("t{}_{}_{n}", std::process::id(), self.port))
    }

    /// Stops the server at once (`-m immediate`: like a crash, connections just drop).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) -> Result<(), PgError> {
        self.start_server()
    }

    /// Stops the server and removes its directory when this process exits.
    fn watchdog(&self) {
        let pg_ctl = bin_dir().join("pg_ctl");
        let stop = match &self.user {
            Some(u) => format!("runuser -u {u} -- {}", pg_ctl.display()),
            None => pg_ctl.display().to_string(),
        };
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; {stop} -D {d}/data -m immediate stop >/dev/null 2>&1; rm -rf {d}",
            me = std::process::id(),
            d = self.dir.display()
        );
        let _ = Command::new("sh").arg("-c").arg(script).spawn();
    }

    /// The server log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The data directory's parent.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
