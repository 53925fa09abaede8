//! A real Redis for tests and benches: Debian's `redis-server` on a free loopback port, in a temp
//! dir, as `nobody` when we are root, no persistence.
//!
//! Each [`Redis`] is its own server, so fault tests can kill, restart, slow down or fill it.
//! A watchdog process kills the server and removes its directory when the starting process
//! exits, however it exits; dropping the value does the same at once.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running Redis server.
#[derive(Debug)]
pub struct Redis {
    /// `redis://127.0.0.1:PORT/0`
    pub url: String,
    /// Port.
    pub port: u16,
    dir: PathBuf,
    child: Mutex<Option<Child>>,
    maxmemory: Mutex<Option<String>>,
    password: Option<String>,
}

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(String);

fn free_port() -> Result<u16, RedisError> {
    super::free_port().map_err(|e| RedisError(format!("no free port: {e}")))
}

use super::is_root;

impl Redis {
    /// Starts a server; blocks until it answers `PING` (at most 20 s).
    pub fn start() -> Result<Redis, RedisError> {
        Self::start_inner(None)
    }

    /// Starts a server that wants `password` (`requirepass`); [`Redis::url`] carries it.
    pub fn start_with_password(password: &str) -> Result<Redis, RedisError> {
        Self::start_inner(Some(password.to_string()))
    }

    fn start_inner(password: Option<String>) -> Result<Redis, RedisError> {
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("authgate-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| RedisError(format!("{}: {e}", dir.display())))?;
        if is_root() {
            let _ = Command::new("chown").arg("nobody").arg(&dir).status();
        }
        let r = Redis {
            url: match &password {
                Some(p) => format!("redis://:{p}@127.0.0.1:{port}/0"),
                None => format!("redis://127.0.0.1:{port}/0"),
            },
            port,
            dir,
            child: Mutex::new(None),
            maxmemory: Mutex::new(None),
            password,
        };
        r.watchdog();
        r.spawn()?;
        Ok(r)
    }

    fn spawn(&self) -> Result<(), RedisError> {
        let mut args: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--logfile".into(),
            self.dir.join("log").display().to_string(),
        ];
        if let Some(p) = &self.password {
            args.extend(["--requirepass".into(), p.clone()]);
        }
        if let Some(m) = self
            .maxmemory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            args.extend([
                "--maxmemory".into(),
                m,
                "--maxmemory-policy".into(),
                "noeviction".into(),
            ]);
        }
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", "redis-server"]);
            c
        } else {
            Command::new("redis-server")
        };
        let child = cmd
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                RedisError(format!(
                    "redis-server: {e} (run ./scripts/test.sh, which installs it)"
                ))
            })?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).is_ok_and(|o| o.trim() == "PONG") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(RedisError(format!("did not answer PING: {}", self.log())))
    }

    /// Runs `redis-cli` against this server; its standard output.
    pub fn cli(&self, args: &[&str]) -> Result<String, RedisError> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            // Through the environment, not the command line.
            cmd.env("REDISCLI_AUTH", p);
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| RedisError(format!("redis-cli: {e}")))?;
        if !out.status.success() {
            return Err(RedisError(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Kills the server at once (SIGKILL: like a crash).
    pub fn kill(&self) {
        // The server's process title names its address; `runuser` may have forked it.
        let _ = Command::new("pkill")
            .args(["-9", "-f", &format!("redis-server 127.0.0.1:{}", self.port)])
            .status();
        if let Some(mut c) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, as a Redis
    /// stuck in a long command or a slow network would.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("pkill")
            .args([sig, "-f", &format!("redis-server 127.0.0.1:{}", self.port)])
            .status();
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub fn restart(&self) -> Result<(), RedisError> {
        self.kill();
        self.spawn()
    }

    /// Restarts it with `maxmemory` set and `noeviction`: writes fail once it is full.
    pub fn restart_with_maxmemory(&self, maxmemory: &str) -> Result<(), RedisError> {
        *self.maxmemory.lock().unwrap_or_else(|p| p.into_inner()) = Some(maxmemory.to_string());
        self.restart()
    }

    /// Keys the server holds.
    pub fn dbsize(&self) -> u64 {
        self.cli(&["DBSIZE"])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The server log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn watchdog(&self) {
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; pkill -9 -f 'redis-server 127.0.0.1:{port}' ; rm -rf {d}",
            me = std::process::id(),
            port = self.port,
            d = self.dir.display()
        );
        let _ = Command::new("sh").arg("-c").arg(script).spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
