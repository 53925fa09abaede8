//! Audit benchmarks (a plain program: `cargo bench --bench audit`).
//!
//! 1. `writer`: 200 000 events through the real writer into a local PostgreSQL 15 (started
//!    here, as the tests do), reporting rows/s — once with a queue that holds them all, once
//!    with the default queue of 10 000 (the rest overflows to the spool and is replayed).
//! 2. `latency`: client request latency through a running gateway with the database up,
//!    then with it stopped (events spool), then after it is back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::app::{Gateway, StartOptions};
use authgate::audit::{sample_event, AuditSink, WriterOptions};
use authgate::clock::SystemClock;
use authgate::config::{AuditLog, DatabaseKind, Secret};
use authgate::db::Db;
use authgate::metrics::Metrics;
use authgate::standin::postgres::Postgres;
use tokio::net::TcpListener;

const EVENTS: i64 = 200_000;

async fn writer_run(pg: &Postgres, queue: usize) -> (f64, u64) {
    let url = pg.fresh_database().expect("database");
    let db = Db::connect_lazy(DatabaseKind::Postgres, &Secret::new(url)).expect("pool");
    db.migrate().await.expect("migrate");
    let spool = tempfile::tempdir().expect("tempdir");
    let sink = AuditSink::start(WriterOptions {
        queue,
        spool_dir: spool.path().to_path_buf(),
        log: AuditLog::Off,
        db: db.clone(),
        metrics: Arc::new(Metrics::new()),
        clock: Arc::new(SystemClock),
        migrate_first: false,
        retention: None,
    })
    .expect("sink");
    let events: Vec<_> = (0..EVENTS).map(|i| sample_event(i, "alice", 200)).collect();
    let started = Instant::now();
    for (i, e) in events.into_iter().enumerate() {
        sink.record(e);
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut rows = 0;
    for _ in 0..600 {
        sink.flush().await;
        rows = authgate::audit::Store::new(&db).count().await.expect("count");
        if rows >= EVENTS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(rows, EVENTS as u64, "every event is in the table");
    (EVENTS as f64 / secs, sink.stats().spooled)
}

async fn upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"{}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(client: &reqwest::Client, gw: &Gateway, n: usize) -> (Duration, Duration, Duration) {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        // Alternate an allowed (forwarded) and a denied request: both are audited.
        let path = if i % 2 == 0 { "/rest/api/2/serverInfo" } else { "/rest/api/2/issue/ABC-1" };
        let t = Instant::now();
        let r = client.get(format!("http://{}{path}", gw.addr)).send().await.expect("request");
        let _ = r.bytes().await;
        lat.push(t.elapsed());
    }
    lat.sort();
    (percentile(&lat, 0.5), percentile(&lat, 0.99), *lat.last().unwrap_or(&Duration::ZERO))
}

async fn latency(pg: &Postgres) {
    let url = pg.fresh_database().expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[upstream]\nurl = \"http://{}\"\n[access]\nbypass = [\"GET /rest/api/2/serverInfo\"]\n\
         [audit]\ndatabase_url = \"{url}\"\nspool_dir = \"{}\"\nlog = \"off\"\n[log]\nlevel = \"error\"\n",
        upstream().await,
        dir.path().join("spool").display()
    );
    let config = authgate::config::from_toml(&toml).expect("config");
    let opts = StartOptions {
        listener: Some(TcpListener::bind("127.0.0.1:0").await.expect("bind")),
        admin_listener: Some(TcpListener::bind("127.0.0.1:0").await.expect("bind")),
        clock: None,
    };
    let gw = Gateway::start(config, opts).await.expect("gateway");
    let client = reqwest::Client::new();
    let n = 4000;
    measure(&client, &gw, 500).await; // warm-up
    let up = measure(&client, &gw, n).await;
    pg.stop();
    let down = measure(&client, &gw, n).await;
    pg.restart().expect("restart");
    let back = measure(&client, &gw, n).await;
    let stats = gw.state.shared.audit.stats();
    for (name, (p50, p99, max)) in [("database up", up), ("database stopped", down), ("database back", back)] {
        println!("latency  {name:<17} p50 {:>7.0} µs  p99 {:>7.0} µs  max {:>7.0} µs  ({n} requests)", us(p50), us(p99), us(max));
    }
    println!("latency  audit: {} written, {} spooled, {} replayed, {} dropped", stats.written, stats.spooled, stats.replayed, stats.dropped);
    gw.shutdown().await;
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pg = Postgres::start().expect("postgres");
    rt.block_on(async {
        for queue in [EVENTS as usize, 10_000] {
            let (rate, spooled) = writer_run(&pg, queue).await;
            println!("writer   {EVENTS} events, queue {queue:>6}: {rate:>8.0} rows/s ({spooled} went through the spool)");
        }
        latency(&pg).await;
    });
}
