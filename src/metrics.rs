//! Prometheus metrics, held in the app state (no global recorder).
//!
//! Owns: metric names and labels, and rendering `/metrics`. Stages report through the
//! methods here so every name is written once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Buckets for latency histograms, in seconds (100 µs … 30 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

static META: Metadata<'static> = Metadata::new("authgate", metrics::Level::INFO, None);

/// The metrics registry, and the handles of the per-request series (looked up once, then
/// reused: building a `Key` and finding it in the registry on every request costs more than
/// the increment).
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    requests: RwLock<HashMap<(&'static str, &'static str, u16), Counter>>,
    cache_lookups: RwLock<HashMap<(&'static str, bool), Counter>>,
    duration_allow: Histogram,
    duration_deny: Histogram,
    upstream_duration: Histogram,
}

/// The handle in `map` for `k`, registered with `make` the first time.
fn cached<K: std::hash::Hash + Eq + Copy>(
    map: &RwLock<HashMap<K, Counter>>,
    k: K,
    make: impl FnOnce() -> Counter,
) -> Counter {
    if let Some(c) = map.read().ok().and_then(|m| m.get(&k).cloned()) {
        return c;
    }
    let c = make();
    if let Ok(mut m) = map.write() {
        m.entry(k).or_insert_with(|| c.clone());
    }
    c
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect::<Vec<_>>(),
    )
}

impl Metrics {
    /// A fresh registry.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("buckets are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        let histogram = |name: &'static str, labels: Vec<Label>| {
            recorder.register_histogram(&Key::from_parts(name, labels), &META)
        };
        let duration = |outcome: &'static str| {
            histogram(
                "authgate_request_duration_seconds",
                vec![Label::from_static_parts("outcome", outcome)],
            )
        };
        Metrics {
            duration_allow: duration("allow"),
            duration_deny: duration("deny"),
            upstream_duration: histogram("authgate_upstream_duration_seconds", Vec::new()),
            requests: RwLock::default(),
            cache_lookups: RwLock::default(),
            recorder,
            handle,
        }
    }

    /// Drains recorded histogram samples into their buckets. The recorder keeps every sample
    /// until this runs (or `/metrics` is scraped), so the gateway calls it on a timer: without
    /// it, memory grows with every request on an instance nobody scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Adds `n` to a counter.
    pub fn count(&self, name: &'static str, labels: &[(&'static str, String)], n: u64) {
        self.recorder
            .register_counter(&key(name, labels), &META)
            .increment(n);
    }

    /// Sets a gauge.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, String)], v: f64) {
        self.recorder
            .register_gauge(&key(name, labels), &META)
            .set(v);
    }

    /// One finished client request.
    pub fn request(
        &self,
        outcome: &'static str,
        reason: &'static str,
        status: u16,
        latency: Duration,
    ) {
        cached(&self.requests, (outcome, reason, status), || {
            let key = Key::from_parts(
                "authgate_requests_total",
                vec![
                    Label::from_static_parts("outcome", outcome),
                    Label::from_static_parts("reason", reason),
                    Label::new("status", status.to_string()),
                ],
            );
            self.recorder.register_counter(&key, &META)
        })
        .increment(1);
        let histogram = if outcome == "allow" {
            &self.duration_allow
        } else {
            &self.duration_deny
        };
        histogram.record(latency.as_secs_f64());
    }

    /// Time to the upstream's response head.
    pub fn upstream(&self, latency: Duration) {
        self.upstream_duration.record(latency.as_secs_f64());
    }

    /// A cache lookup (`cache` = `jwt`, `introspection`, `groups`, `gateway_token`…).
    pub fn cache(&self, cache: &'static str, hit: bool) {
        cached(&self.cache_lookups, (cache, hit), || {
            let key = Key::from_parts(
                "authgate_cache_lookups_total",
                vec![
                    Label::from_static_parts("cache", cache),
                    Label::from_static_parts("result", if hit { "hit" } else { "miss" }),
                ],
            );
            self.recorder.register_counter(&key, &META)
        })
        .increment(1);
    }
}
