//! Listeners: accept loop, connection cap, HTTP/1.1 + HTTP/2, optional TLS, graceful drain.
//!
//! Owns: [`serve`] on an already-bound listener (so tests bind port 0) with a shutdown
//! future (mini-redis style), the hyper settings that bound what a hostile client can make
//! us hold (header timeout, head size, header count, HTTP/2 stream and header-list limits),
//! and the semaphore that caps connections (`server.max_connections`).
//!
//! # What a hostile client can make authgate hold
//!
//! | attack | bound |
//! |---|---|
//! | idle connections, slowloris | `server.header_timeout` covers the whole head of every HTTP/1 request, **and the first bytes of every connection** (the HTTP/1-or-2 sniff in [`sniff_protocol`]; hyper-util's own sniff has no timeout, so a connection that sent nothing was held forever). The TLS handshake has the same bound. |
//! | many connections | at most `server.max_connections` are served at once; the accept loop stops accepting beyond that, so further clients wait in the kernel backlog (the listener's backlog, 1024 in tokio) and are served as soon as slots free up. |
//! | huge request head | hyper's read buffer is `max(server.max_header_bytes, 8 KiB)`: a larger head -> 431 from hyper itself (empty body, no audit row: the request never reached authgate). |
//! | many header fields | hyper's default of 100 fields: more -> 431. |
//! | long target | over [`crate::pipeline::path::MAX_TARGET_BYTES`] (8 KiB) -> 414 `target_too_long` from authgate; a target that does not fit the read buffer -> 431 from hyper. |
//! | request bodies | never read before the pipeline has decided, except the form body of an API call (read after the IP filter and the rules, at most 1 MiB, to find credential parameters in it); a refused request's body is dropped unread (hyper closes the connection instead of draining it). `server.max_body_bytes` caps forwarded bodies (413). |
//! | HTTP/2 header blocks (incl. CONTINUATION floods) | `max_header_list_size = server.max_header_bytes`: h2 (>= 0.4.4) stops buffering a header block past it and answers 431 / resets the stream, it does not accumulate CONTINUATION frames. |
//! | HTTP/2 rapid reset (CVE-2023-44487) | `max_concurrent_streams = 100`, `max_pending_accept_reset_streams = 20`, `max_local_error_reset_streams = 64`: a client that keeps resetting streams gets a GOAWAY (ENHANCE_YOUR_CALM) instead of unbounded work. |
//! | HTTP/2 liveness | keep-alive PING every 30 s; a peer that does not answer within hyper's default 20 s is dropped. |
//!
//! `admin_listen` runs the same loop ([`serve_with`]) with its own cap of
//! [`ADMIN_MAX_CONNECTIONS`].
//!
//! Known gap: an HTTP/2 connection that completes its preface and then stays idle while
//! answering PINGs is held until the client leaves; it still counts against
//! `max_connections`, which is the bound.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::body::Body;
use crate::config::ServerSettings;
use crate::proxy::Pinned;
use crate::state::AppState;

/// HTTP/2 streams one connection may have open at once.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection builders with authgate's limits: one for HTTP/1 only, one for HTTP/2 only
/// (the protocol is picked by [`sniff_protocol`], under the header timeout).
struct Builders {
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

fn builder(s: &ServerSettings) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // The timer makes `header_read_timeout` work: a slowloris client is cut off.
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_timeout)
        // hyper answers 431 when the head does not fit the read buffer (minimum 8 KiB), and
        // when it has more than 100 header fields.
        .max_buf_size(s.max_header_bytes.max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(s.max_header_bytes as u32)
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        // Bounds the rapid-reset attack: streams reset by the client still count for a while.
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(64))
        .keep_alive_interval(Some(Duration::from_secs(30)));
    b
}

fn builders(s: &ServerSettings) -> Builders {
    Builders {
        h1: builder(s).http1_only(),
        h2: builder(s).http2_only(),
    }
}

/// Which protocol a connection speaks, learnt from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Anything that is not the HTTP/2 preface.
    Http1,
    /// The full HTTP/2 connection preface.
    Http2,
}

/// Reads until the first bytes either differ from the HTTP/2 preface (HTTP/1) or are the whole
/// preface (HTTP/2). Returns the bytes read so they can be replayed; `None` on EOF first.
/// The caller bounds this with `server.header_timeout`.
pub async fn sniff_protocol<I: AsyncRead + Unpin>(
    io: &mut I,
) -> io::Result<Option<(Sniffed, Vec<u8>)>> {
    let mut buf = [0u8; 24];
    let mut filled = 0;
    while filled < H2_PREFACE.len() {
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(None);
        }
        let before = filled;
        filled += n;
        if buf[before..filled] != H2_PREFACE[before..filled] {
            return Ok(Some((Sniffed::Http1, buf[..filled].to_vec())));
        }
    }
    Ok(Some((Sniffed::Http2, buf.to_vec())))
}

/// An IO that first replays bytes already read from `inner`.
pub struct Prefixed<I> {
    prefix: Vec<u8>,
    pos: usize,
    inner: I,
}

impl<I> Prefixed<I> {
    /// Replays `prefix`, then reads from `inner`.
    pub fn new(prefix: Vec<u8>, inner: I) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What answers one request: given the request, the TCP peer, `http` or `https`, and the
/// client connection's own upstream connection (HTTP/1 on `listen`; `None` otherwise).
pub type Handler = Arc<
    dyn Fn(
            Request<Incoming>,
            SocketAddr,
            &'static str,
            Option<Arc<Pinned>>,
        ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// Connections `admin_listen` serves at once (operators and a scraper need few; the cap keeps
/// a flood there from taking the file descriptors `listen` needs).
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Serves client traffic on `listener` until `shutdown` resolves, then drains in-flight
/// requests for `server.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let settings = state.runtime.load().config.server.clone();
    let handler: Handler = Arc::new(move |req, peer, proto, pinned| {
        gateway_handler(Arc::clone(&state), req, peer, proto, pinned)
    });
    let cap = settings.max_connections;
    serve_with(listener, &settings, cap, tls, true, handler, shutdown).await;
}

/// `handler::handle` boxed (the request future is about 7 KB, every stage's state, and hyper
/// moves an unboxed service future around by value).
fn gateway_handler(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    proto: &'static str,
    pinned: Option<Arc<Pinned>>,
) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
    Box::pin(crate::handler::handle(state, req, peer, proto, pinned))
}

/// The accept loop both listeners share, with every bound of the table above: at most `cap`
/// connections, the header timeout over the TLS handshake, the first bytes and every request
/// head, hyper's head and HTTP/2 limits, a pause after a failed `accept` (out of file
/// descriptors, say) instead of a tight loop, and a graceful drain. `pin_upstream` gives each
/// HTTP/1 connection its own upstream connection (`listen` only).
pub async fn serve_with(
    listener: TcpListener,
    settings: &ServerSettings,
    cap: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
    pin_upstream: bool,
    handler: Handler,
    shutdown: impl Future<Output = ()>,
) {
    let builders = Arc::new(builders(settings));
    // Connections beyond the cap wait in the kernel backlog instead of costing memory here.
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    // Tells connections still in their first-bytes phase to give up at shutdown.
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let proto: &'static str = if tls.is_some() { "https" } else { "http" };
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p.expect("semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let builders = Arc::clone(&builders);
        // The service for one connection; on `listen` an HTTP/1 connection brings its own
        // upstream connection (`proxy::pinned`), HTTP/2 streams share the pool.
        let service = move |pinned: Option<Arc<Pinned>>| {
            service_fn(move |req| {
                let handled = handler(req, peer, proto, pinned.clone());
                async move { Ok::<_, Infallible>(handled.await) }
            })
        };
        let timeout = settings.header_timeout;
        let watcher = graceful.watcher();
        let acceptor = tls.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            // The TLS handshake and the first bytes both fall under the header timeout: a
            // connection that sends nothing must not hold a slot for ever.
            let first = tokio::time::timeout(timeout, async move {
                match acceptor {
                    None => {
                        let mut stream = stream;
                        let sniffed = sniff_protocol(&mut stream).await.ok().flatten()?;
                        Some(Io::Plain(sniffed.0, Prefixed::new(sniffed.1, stream)))
                    }
                    Some(acceptor) => {
                        let mut stream = Box::new(acceptor.accept(stream).await.ok()?);
                        let sniffed = sniff_protocol(&mut stream).await.ok().flatten()?;
                        Some(Io::Tls(sniffed.0, Prefixed::new(sniffed.1, stream)))
                    }
                }
            });
            let ready = tokio::select! {
                r = first => r.ok().flatten(),
                _ = stop_rx.wait_for(|v| *v) => None,
            };
            let Some(io) = ready else {
                drop(permit);
                return;
            };
            let pick = |p: Sniffed| match p {
                Sniffed::Http1 => (
                    &builders.h1,
                    service(pin_upstream.then(|| Arc::new(Pinned::default()))),
                ),
                Sniffed::Http2 => (&builders.h2, service(None)),
            };
            match io {
                Io::Plain(p, io) => {
                    let (builder, svc) = pick(p);
                    let conn = builder.serve_connection(TokioIo::new(io), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Io::Tls(p, io) => {
                    let (builder, svc) = pick(p);
                    let conn = builder.serve_connection(TokioIo::new(io), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(grace = ?settings.shutdown_grace, "draining in-flight requests");
    let _ = stopping.send(true);
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace elapsed with requests still in flight");
    }
}

/// A connection after the sniff, plain or TLS.
enum Io {
    Plain(Sniffed, Prefixed<tokio::net::TcpStream>),
    Tls(
        Sniffed,
        Prefixed<Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>,
    ),
}

/// Loads the TLS acceptor for `listen` from PEM files.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert)
            .map_err(|e| format!("server.tls_cert {}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("server.tls_cert {}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("server.tls_key {}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("server.tls_key {}: {e}", key.display()))?
    .ok_or_else(|| {
        format!(
            "server.tls_key {}: no private key in the file",
            key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("server.tls_cert/tls_key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds `addr`, naming the address on failure.
pub async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn sniff_tells_http1_from_http2_and_replays_every_byte() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let (p, buf) = sniff_protocol(&mut server)
            .await
            .expect("io")
            .expect("bytes");
        assert_eq!(p, Sniffed::Http1);
        let mut io = Prefixed::new(buf, server);
        let mut got = vec![0u8; 18];
        io.read_exact(&mut got).await.expect("replay");
        assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");

        let (mut client, mut server) = tokio::io::duplex(64);
        // The preface dribbled in two parts is still HTTP/2.
        client.write_all(&H2_PREFACE[..10]).await.expect("write");
        let sniff = tokio::spawn(async move { (sniff_protocol(&mut server).await, server) });
        client.write_all(&H2_PREFACE[10..]).await.expect("write");
        let (r, _server) = sniff.await.expect("task");
        let (p, buf) = r.expect("io").expect("bytes");
        assert_eq!(p, Sniffed::Http2);
        assert_eq!(buf, H2_PREFACE.to_vec());
    }

    #[tokio::test]
    async fn sniff_sees_eof_before_any_byte() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(sniff_protocol(&mut server).await.expect("io").is_none());
    }
}
