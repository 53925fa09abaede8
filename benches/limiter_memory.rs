//! Touches 1 000 000 distinct limiter keys and reports resident memory (VmRSS) before,
//! after touching, and after pruning. Run: `cargo bench --bench limiter_memory`.

use std::time::{Duration, Instant};

use authgate::pipeline::rate_limit::{LimitKey, RateLimiter};
use governor::clock::FakeRelativeClock;

const KEYS: u32 = 1_000_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let cfg = authgate::config::from_toml(
        "[rate_limit]\nenabled = true\nrequests = 100\nper = \"1m\"\nburst = 100\n",
    )
    .expect("config");
    let clock = FakeRelativeClock::default();
    let limiter = RateLimiter::with_clock(&cfg.rate_limit, clock.clone());
    let before = rss_kib();
    let started = Instant::now();
    for i in 0..KEYS {
        let key = LimitKey::Token(format!("{i:016x}").into());
        limiter.take(&key, &[]).expect("a fresh key has tokens");
    }
    let touch = started.elapsed();
    let touched = rss_kib();
    let keys_before = limiter.keys();
    // One token refills in 0.6s; governor drops a key one period after it is full again.
    clock.advance(Duration::from_secs(2));
    let started = Instant::now();
    limiter.prune();
    let prune = started.elapsed();
    let pruned = rss_kib();
    println!(
        "limiter_memory: {KEYS} distinct keys touched in {touch:?} ({:.0} ns/key)",
        touch.as_nanos() as f64 / f64::from(KEYS)
    );
    println!("limiter_memory: VmRSS before {before} KiB, after touching {touched} KiB (+{} KiB, {} keys)", touched.saturating_sub(before), keys_before);
    println!(
        "limiter_memory: prune took {prune:?}; VmRSS after pruning {pruned} KiB ({} keys left)",
        limiter.keys()
    );
    assert_eq!(limiter.keys(), 0);
}
