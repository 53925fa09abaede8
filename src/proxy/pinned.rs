//! Upstream connections pinned to client connections.
//!
//! Owns: [`Pinned`], the one upstream HTTP/1.1 connection that a client HTTP/1 connection
//! sends all its requests over, and [`Idle`], the upstream connections whose client left,
//! which the next client connection takes before it opens a new one.
//!
//! A client HTTP/1 connection carries one request at a time, so it never needs more than one
//! upstream connection. Keeping that connection beside the client connection replaces the
//! pool's per-request check-out and check-in (a lock, a map lookup, and a spawned task that
//! waits for the connection to become idle again) with taking an `Option` out of an
//! uncontended mutex. HTTP/2 clients multiplex, so they keep using the shared pool.
//!
//! Reuse is safe in the way the pool's is: a request that an upstream connection gave back
//! unsent (the product closed an idle keep-alive connection just then) is sent again on
//! another connection; a request that was sent, even in part, is never sent twice.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

use crate::body::Body;

/// How many upstream connections wait in [`Idle`] at most.
pub const MAX_IDLE: usize = 256;

/// How long an upstream connection may wait in [`Idle`] before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Upstream connections with no client connection, most recently used last.
#[derive(Debug)]
pub struct Idle {
    conns: Mutex<VecDeque<(SendRequest<Body>, Instant)>>,
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            conns: Mutex::new(VecDeque::with_capacity(16)),
        }
    }
}

impl Idle {
    /// The most recently used open connection, if any; closed and expired ones are dropped.
    pub fn take(&self) -> Option<SendRequest<Body>> {
        let now = Instant::now();
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((send, since)) = conns.pop_back() {
            if !send.is_closed() && now.duration_since(since) < IDLE_TIMEOUT {
                return Some(send);
            }
        }
        None
    }

    /// Keeps `send` for the next client connection, unless it is closed or [`MAX_IDLE`]
    /// are already waiting. Expired connections at the old end are closed on the way.
    pub fn put(&self, send: SendRequest<Body>) {
        if send.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        while conns
            .front()
            .is_some_and(|(s, since)| s.is_closed() || now.duration_since(*since) >= IDLE_TIMEOUT)
        {
            conns.pop_front();
        }
        if conns.len() < MAX_IDLE {
            conns.push_back((send, now));
        }
    }

    /// How many connections are waiting (for tests and metrics).
    pub fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no connection is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The upstream connection of one client HTTP/1 connection. Dropping it (the client
/// connection ended) hands the upstream connection to [`Idle`].
#[derive(Debug, Default)]
pub struct Pinned {
    held: Mutex<Option<Held>>,
}

#[derive(Debug)]
struct Held {
    /// The pool of the [`super::Upstream`] the connection was opened by: after a reload
    /// that built a new one, the old connection is not used for the new upstream.
    owner: Arc<Idle>,
    send: SendRequest<Body>,
}

impl Pinned {
    /// Takes the pinned connection if it belongs to `owner`; one opened by an earlier
    /// upstream (before a reload) goes back to that upstream's idle list.
    pub(super) fn take(&self, owner: &Arc<Idle>) -> Option<SendRequest<Body>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        if Arc::ptr_eq(&held.owner, owner) {
            Some(held.send)
        } else {
            held.owner.put(held.send);
            None
        }
    }

    /// Pins `send` (opened by `owner`) for this client connection's next request.
    pub(super) fn put(&self, owner: &Arc<Idle>, send: SendRequest<Body>) {
        let old = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Held {
                owner: Arc::clone(owner),
                send,
            });
        // Only when two requests of one client connection overlapped (HTTP/1 does not).
        if let Some(old) = old {
            old.owner.put(old.send);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let held = self
            .held
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(held) = held {
            held.owner.put(held.send);
        }
    }
}
