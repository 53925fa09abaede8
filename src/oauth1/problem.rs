//! The product's refusal of a signed request: `401` with
//! `WWW-Authenticate: OAuth realm="…", oauth_problem=…` (the OAuth Problem Reporting
//! convention), read back into a short problem name and a hint for the operator.

use http::HeaderMap;

use crate::reject::{Reason, Rejection};

/// 502 `upstream_identity_rejected` for `problem`; `what` says which request it was (for
/// the log and the audit detail). The problem name (a checked token, no request data) is in
/// the message too, so the client can tell the operator.
pub fn rejection(problem: &str, what: &str) -> Rejection {
    let r = Rejection::new(Reason::UpstreamIdentityRejected).detail(format!(
        "{what}: the product refused the signed request: oauth_problem={problem} ({})",
        hint(problem)
    ));
    if problem == UNNAMED {
        r
    } else {
        r.public_note(format!("oauth_problem={problem}"))
    }
}

/// Stands for a refusal that names no problem (see [`refusal`]).
pub const UNNAMED: &str = "unnamed";

/// How the product refused a request authgate signed, read from a 401: the `oauth_problem`
/// it names, or [`UNNAMED`] when its OAuth challenge echoes the request's own `oauth_*`
/// parameters without naming one (net.oauth's `sendError`, which the products use when
/// impersonation is not allowed or the user may not log in). `None`: not a refusal of the
/// signature (e.g. the user is unknown and the request ran anonymously). The echo never
/// reaches the client: it carries authgate's signature.
pub fn refusal(headers: &HeaderMap) -> Option<String> {
    if let Some(p) = oauth_problem(headers) {
        return Some(p);
    }
    let echoes = headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| is_oauth_challenge(v) && v.contains("oauth_signature"));
    echoes.then(|| UNNAMED.to_string())
}

fn is_oauth_challenge(v: &str) -> bool {
    v.trim_start()
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("oauth"))
}

/// The `oauth_problem` of a refusal, when the product's answer carries one. Only the
/// characters of a problem name are kept (`[A-Za-z0-9_]`, at most 64), so the value can go
/// into a message, a log line and an audit row.
pub fn oauth_problem(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| is_oauth_challenge(v))
        .find_map(|v| {
            v.split(',').find_map(|part| {
                let (k, val) = part.split_once('=')?;
                let k = k.trim();
                // The first item follows the scheme: `OAuth realm="…"`.
                let k = k.rsplit(' ').next().unwrap_or(k);
                if !k.eq_ignore_ascii_case("oauth_problem") {
                    return None;
                }
                let val = val.trim().trim_matches('"');
                let name: String = val
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(64)
                    .collect();
                (!name.is_empty()).then_some(name)
            })
        })
}

/// What a problem usually means, in one line an operator can act on.
pub fn hint(problem: &str) -> &'static str {
    match problem {
        "timestamp_refused" => {
            "the clocks of authgate and the product differ by more than 5 minutes: check NTP on both hosts"
        }
        "nonce_used" => {
            "the product saw this nonce before: another client signs with the same consumer key, or a request was replayed"
        }
        "signature_invalid" => {
            "the signature does not match: upstream.identity.base_url must be the product's own URL as its connector sees it (scheme, proxyName, proxyPort) and the link's public key must be the one `authgate applink` prints"
        }
        "signature_method_rejected" => "the link does not accept RSA-SHA1: recreate its incoming authentication with the public key",
        "consumer_key_unknown" | "consumer_key_rejected" | "consumer_key_refused" => {
            "the product has no incoming link with this consumer key: check upstream.identity.consumer_key against the link's incoming authentication"
        }
        "permission_denied" | "permission_unknown" => {
            "the link does not allow it: tick \"Allow 2-legged OAuth\" and \"Allow user impersonation through 2-legged OAuth\" in the link's incoming authentication; or the user may not log in"
        }
        "user_refused" => {
            "the product does not know this user or does not let them log in: check the username (not the e-mail address or the user key) and that the account is active"
        }
        UNNAMED => {
            "the product refused the signed request without naming a problem: impersonation is not allowed on the link (tick \"Allow user impersonation through 2-legged OAuth\"), or the user may not log in"
        }
        "parameter_absent" | "parameter_rejected" | "version_rejected" => {
            "the product refused the OAuth parameters: check that nothing between authgate and the product rewrites the query or the Authorization header"
        }
        _ => "see the product's log (atlassian-jira.log or atlassian-confluence.log) for the refusal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_is_read_from_the_oauth_challenge_only() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::WWW_AUTHENTICATE,
            "Basic realm=\"x\", oauth_problem=bogus".parse().unwrap(),
        );
        assert_eq!(oauth_problem(&h), None);
        h.append(
            http::header::WWW_AUTHENTICATE,
            "OAuth realm=\"http%3A%2F%2Fjira\", oauth_problem=\"timestamp_refused\""
                .parse()
                .unwrap(),
        );
        assert_eq!(oauth_problem(&h).as_deref(), Some("timestamp_refused"));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::WWW_AUTHENTICATE,
            "OAuth oauth_problem=signature_invalid<script>"
                .parse()
                .unwrap(),
        );
        assert_eq!(oauth_problem(&h).as_deref(), Some("signature_invalid"));
        assert!(hint("timestamp_refused").contains("NTP"));
    }
}
