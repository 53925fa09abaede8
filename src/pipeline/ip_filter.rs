//! Stage 3, `ip_filter`: who the client is (by address) and whether it may call.
//!
//! Owns: deriving the client IP from the TCP peer and, only when the peer is a trusted
//! proxy, from `client_ip_header`; and the allow-list check. Input: the peer address from
//! the accept loop and the request headers. Output: [`ClientIp`] on the request context and a
//! [`Decision`]. Parsing is strict: leading zeros, octal, zone ids, ports and garbage are
//! malformed, and a malformed entry is the client and matches no allow rule.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use super::Decision;
use crate::reject::{Reason, Rejection};
pub use crate::request::ClientIp;

/// Which paths the allow-list guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpScope {
    /// Only API paths (`auth.api_paths`).
    Api,
    /// Every path.
    All,
}

/// Parses an IP or CIDR strictly (as in config and headers).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Some((addr, len)) = s.split_once('/') {
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if len.len() > 1 && len.starts_with('0') {
            return None;
        }
        let mut len: u8 = len.parse().ok()?;
        // An IPv4-mapped network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps
        // (`10.0.0.0/8`), as mapped addresses compare as IPv4.
        let written: IpAddr = addr.parse().ok()?;
        let addr = parse_ip(addr)?;
        if written.is_ipv6() && addr.is_ipv4() {
            len = len.checked_sub(96)?;
        }
        let net = IpNet::new(addr, len).ok()?;
        Some(net.trunc())
    } else {
        let ip = parse_ip(s)?;
        Some(IpNet::from(ip))
    }
}

/// Parses one address strictly: no zone id, no port, no leading zeros; folds IPv4-mapped.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    // std rejects leading zeros in IPv4 and zone ids in IPv6 — exactly the strictness wanted.
    let ip: IpAddr = s.parse().ok()?;
    Some(ip.to_canonical())
}

/// The compiled `[ip]` table.
#[derive(Debug, Clone)]
pub struct IpFilter {
    allow: Vec<IpNet>,
    scope: IpScope,
    trusted: Vec<IpNet>,
    header: HeaderName,
}

impl IpFilter {
    /// Builds the filter from checked parts.
    pub fn new(allow: Vec<IpNet>, scope: IpScope, trusted: Vec<IpNet>, header: HeaderName) -> Self {
        IpFilter {
            allow,
            scope,
            trusted,
            header,
        }
    }

    /// Which paths are guarded.
    pub fn scope(&self) -> IpScope {
        self.scope
    }

    /// Number of allow entries (for the config summary).
    pub fn allow_len(&self) -> usize {
        self.allow.len()
    }

    /// True when the TCP peer is a trusted proxy (its forwarding headers are kept).
    pub fn is_trusted_peer(&self, peer: IpAddr) -> bool {
        self.is_trusted(peer.to_canonical())
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client: the peer, unless the peer is a trusted proxy; then the rightmost entry of
    /// the header (all lines joined) that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return ClientIp::Addr(peer);
        }
        let mut client = ClientIp::Addr(peer);
        let lines: Vec<&[u8]> = headers
            .get_all(&self.header)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        // Walk right to left over every entry of every line (later lines are further right).
        for line in lines.iter().rev() {
            for entry in line.rsplit(|b| *b == b',') {
                let text = match std::str::from_utf8(entry) {
                    Ok(t) => t.trim(),
                    Err(_) => return ClientIp::Malformed(String::from_utf8_lossy(entry).into()),
                };
                match parse_ip(text) {
                    Some(ip) if self.is_trusted(ip) => client = ClientIp::Addr(ip),
                    Some(ip) => return ClientIp::Addr(ip),
                    None => return ClientIp::Malformed(text.to_string()),
                }
            }
        }
        client
    }

    /// Allowed when the list is empty or the client is in it; a malformed client never is.
    pub fn check(&self, client: &ClientIp) -> Decision {
        if self.allow.is_empty() {
            return Decision::Continue;
        }
        match client {
            ClientIp::Addr(ip) if self.allow.iter().any(|n| n.contains(ip)) => Decision::Continue,
            _ => Decision::Reject(
                Rejection::new(Reason::IpDenied).detail(format!("client {client} not in ip.allow")),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
