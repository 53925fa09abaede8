//! Failed Basic attempts at `/_authgate`, counted per username and per client IP, so a
//! password cannot be guessed through authgate faster than the product would allow.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::principal::name_key;

/// Failed Basic attempts one username may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed Basic attempts one client IP may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// The window counted from the first failure.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts failed Basic attempts at `/_authgate` per username and per client IP.
#[derive(Debug, Clone)]
pub struct AttemptLimiter {
    by_user: moka::sync::Cache<String, Arc<AtomicU32>>,
    by_ip: moka::sync::Cache<String, Arc<AtomicU32>>,
}

impl Default for AttemptLimiter {
    fn default() -> Self {
        let cache = || {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ATTEMPT_WINDOW)
                .build()
        };
        AttemptLimiter {
            by_user: cache(),
            by_ip: cache(),
        }
    }
}

impl AttemptLimiter {
    /// True when this username or IP has used up its failures.
    pub fn blocked(&self, user: &str, ip: &str) -> bool {
        let count = |c: &moka::sync::Cache<String, Arc<AtomicU32>>, k: &str| {
            c.get(k).map_or(0, |n| n.load(Ordering::Relaxed))
        };
        count(&self.by_user, &name_key(user)) >= MAX_FAILURES_PER_USER
            || count(&self.by_ip, ip) >= MAX_FAILURES_PER_IP
    }

    /// Counts one failure (the window starts at the first one).
    pub fn failed(&self, user: &str, ip: &str) {
        // Usernames are case-insensitive in Jira and Confluence.
        for (c, k) in [
            (&self.by_user, name_key(user)),
            (&self.by_ip, ip.to_string()),
        ] {
            c.get_with(k, || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_per_user_and_per_ip() {
        let l = AttemptLimiter::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(!l.blocked("Alice", "10.0.0.1"));
            l.failed("Alice", "10.0.0.1");
        }
        assert!(
            l.blocked("alice", "10.0.0.9"),
            "per user, whatever the case or address"
        );
        assert!(!l.blocked("bob", "10.0.0.9"));
        for i in 0..MAX_FAILURES_PER_IP {
            l.failed(&format!("u{i}"), "10.0.0.2");
        }
        assert!(
            l.blocked("carol", "10.0.0.2"),
            "per address, whatever the user"
        );
    }
}
