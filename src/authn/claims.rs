//! Claims shared by JWTs and introspection answers: times, audience, username and groups.
//!
//! Owns: reading a NumericDate strictly (a JSON number, else the token is malformed), the
//! time checks against the injected clock (`exp`, `nbf`, `iat`, leeway, `max_token_age`),
//! the audience check, the username (dotted path, non-empty string, `username_regex` first
//! capture group over the whole value, no control characters) and the groups (array of
//! strings, or one string = one group; any other shape = no groups, logged).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::config::ProviderSettings;
use crate::reject::{Reason, Rejection};

use super::trace::Trace;

/// Usernames longer than this are refused (Jira's own limit is 255).
const MAX_USERNAME_CHARS: usize = 255;
/// At most this many groups are read from a claim.
const MAX_GROUPS: usize = 1000;

/// Seconds since the epoch of `t` (negative before 1970).
pub fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// `SystemTime` of a NumericDate (clamped to the epoch).
pub fn system_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// A NumericDate claim: absent = `Ok(None)`; a JSON number (fractions rounded, huge values
/// saturate) = `Ok(Some)`; anything else (string, bool, null, array…) = malformed.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = if let Some(i) = n.as_i64() {
                i
            } else if n.as_u64().is_some() {
                i64::MAX
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() {
                    return Err(malformed(name));
                }
                f.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64
            };
            Ok(Some(v))
        }
        Some(_) => Err(malformed(name)),
    }
}

fn malformed(name: &str) -> Rejection {
    Rejection::new(Reason::MalformedToken).detail(format!("claim `{name}` is not a number"))
}

/// The validity window a token's times allow, checked against `now`. Returns the instant
/// past which the token must not be used any more (for caches).
pub fn check_times(
    claims: &Map<String, Value>,
    settings: &ProviderSettings,
    now: SystemTime,
    exp_required: bool,
    trace: &mut Trace,
) -> Result<Option<i64>, Rejection> {
    let now = unix(now);
    let leeway = settings.leeway.as_secs() as i64;
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    match exp {
        None if exp_required => {
            trace.fail("exp", "missing (required)");
            return Err(Rejection::new(Reason::MalformedToken).detail("no exp claim"));
        }
        None => trace.info("exp", "absent"),
        Some(exp) if now > exp.saturating_add(leeway) => {
            trace.fail(
                "exp",
                format!("expired {}s ago (leeway {leeway}s)", now - exp),
            );
            return Err(
                Rejection::new(Reason::TokenExpired).detail(format!("exp {exp}, now {now}"))
            );
        }
        Some(exp) => trace.pass("exp", format!("{}s left", exp.saturating_sub(now))),
    }
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(leeway) {
            trace.fail("nbf", format!("valid in {}s", nbf - now));
            return Err(
                Rejection::new(Reason::TokenNotYetValid).detail(format!("nbf {nbf}, now {now}"))
            );
        }
        trace.pass("nbf", "reached");
    }
    if let Some(iat) = iat {
        if iat > now.saturating_add(leeway) {
            trace.fail("iat", format!("issued {}s in the future", iat - now));
            return Err(
                Rejection::new(Reason::TokenNotYetValid).detail(format!("iat {iat} in the future"))
            );
        }
        trace.pass("iat", format!("issued {}s ago", now - iat));
    }
    let mut until = exp.map(|e| e.saturating_add(leeway));
    if let Some(max) = settings.max_token_age {
        let max = max.as_secs() as i64;
        let too_old = match (iat, exp) {
            (Some(iat), Some(exp)) if exp.saturating_sub(iat) > max => Some("lifetime exp - iat"),
            (Some(iat), _) if now.saturating_sub(iat) > max.saturating_add(leeway) => {
                Some("age since iat")
            }
            (None, Some(exp)) if exp.saturating_sub(now) > max => {
                Some("exp too far ahead (no iat)")
            }
            _ => None,
        };
        if let Some(what) = too_old {
            trace.fail("max_token_age", format!("{what} over {max}s"));
            return Err(Rejection::new(Reason::TokenTooOld)
                .detail(format!("{what} over max_token_age {max}s")));
        }
        if let Some(iat) = iat {
            let age_limit = iat.saturating_add(max).saturating_add(leeway);
            until = Some(until.map_or(age_limit, |u| u.min(age_limit)));
        }
        trace.pass("max_token_age", format!("within {max}s"));
    }
    Ok(until)
}

/// `aud` must be a string or a non-empty array of strings containing one of `audiences`.
/// An empty `audiences` list means "not checked".
pub fn check_audience(
    claims: &Map<String, Value>,
    audiences: &[String],
    required: bool,
    trace: &mut Trace,
) -> Result<(), Rejection> {
    if audiences.is_empty() {
        trace.info("aud", "not checked (audiences = [])");
        return Ok(());
    }
    let ok = match claims.get("aud") {
        None if !required => {
            trace.info("aud", "absent in the answer");
            return Ok(());
        }
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(items)) => {
            !items.is_empty()
                && items.iter().all(Value::is_string)
                && items
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| audiences.iter().any(|w| w == a)))
        }
        _ => false,
    };
    if ok {
        trace.pass("aud", "contains a configured audience");
        Ok(())
    } else {
        trace.fail("aud", "does not contain a configured audience");
        Err(Rejection::new(Reason::WrongAudience)
            .detail("aud does not contain a configured audience"))
    }
}

/// Follows a dotted path; a claim whose own name contains the dots (`https://x.io/groups`)
/// is found first.
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    if path.len() > 1 {
        if let Some(v) = claims.get(&path.join(".")) {
            return Some(v);
        }
    }
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(claims.get(first)?, |v, seg| v.as_object()?.get(seg))
}

fn forbidden_char(c: char) -> bool {
    c.is_control() || crate::principal::is_invisible(c)
}

/// The username: `username_claim` must be a non-empty string; `username_regex` (anchored at
/// config time) must match it whole and its first group is the result; the result must be
/// non-blank, at most 255 characters, free of control, bidi and invisible characters, and
/// without whitespace at either end (the product's HTTP parser trims a header value, so
/// `" admin"` would be authorized as itself and acted on as `admin`).
pub fn username(
    claims: &Map<String, Value>,
    settings: &ProviderSettings,
    trace: &mut Trace,
) -> Result<String, Rejection> {
    let path = settings.username_claim.join(".");
    let raw = match lookup(claims, &settings.username_claim) {
        None | Some(Value::Null) => {
            trace.fail("username", format!("claim `{path}` missing"));
            return Err(
                Rejection::new(Reason::UsernameMissing).detail(format!("no `{path}` claim"))
            );
        }
        Some(Value::String(s)) if s.is_empty() => {
            trace.fail("username", format!("claim `{path}` is empty"));
            return Err(
                Rejection::new(Reason::UsernameMissing).detail(format!("`{path}` is empty"))
            );
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            let kind = json_kind(other);
            trace.fail(
                "username",
                format!("claim `{path}` is {kind}, not a string"),
            );
            return Err(
                Rejection::new(Reason::UsernameInvalid).detail(format!("`{path}` is {kind}"))
            );
        }
    };
    trace.info(
        "username (claim)",
        format!("{path} = {:?}", raw.escape_debug().to_string()),
    );
    let name = match &settings.username_regex {
        None => raw.to_string(),
        Some(re) => match re.captures(raw).and_then(|c| c.get(1)) {
            Some(m) => {
                trace.pass(
                    "username_regex",
                    format!("{:?}", m.as_str().escape_debug().to_string()),
                );
                m.as_str().to_string()
            }
            None => {
                trace.fail("username_regex", "does not match the whole value");
                return Err(
                    Rejection::new(Reason::UsernameInvalid).detail("username_regex does not match")
                );
            }
        },
    };
    if name.trim().is_empty()
        || name.trim() != name
        || name.chars().count() > MAX_USERNAME_CHARS
        || name.chars().any(forbidden_char)
    {
        trace.fail(
            "username",
            "blank, too long, padded with whitespace, or has control characters",
        );
        return Err(Rejection::new(Reason::UsernameInvalid).detail(
            "username is blank, too long, padded with whitespace or has control characters",
        ));
    }
    trace.pass("username", format!("{:?}", name));
    Ok(name)
}

/// The groups: `groups_claim` as an array of strings, or one string = one group (never
/// split). Any other shape yields no groups and a log line; so does a group with control
/// characters.
pub fn groups(
    claims: &Map<String, Value>,
    settings: &ProviderSettings,
    trace: &mut Trace,
) -> Result<Vec<String>, Rejection> {
    let Some(path) = &settings.groups_claim else {
        return Ok(Vec::new());
    };
    let dotted = path.join(".");
    let clean = |s: &str| !s.is_empty() && !s.chars().any(forbidden_char);
    let out = match lookup(claims, path) {
        None | Some(Value::Null) => {
            trace.info("groups", format!("claim `{dotted}` absent: no groups"));
            return Ok(Vec::new());
        }
        Some(Value::String(s)) if clean(s) => vec![s.clone()],
        Some(Value::Array(items))
            if items.len() <= MAX_GROUPS && items.iter().all(|v| v.as_str().is_some_and(clean)) =>
        {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        }
        Some(other) => {
            // Refused, not read as "no groups": with `read_only_groups` and no
            // `allowed_groups`, "no groups" would be read-write, so a member of a read-only
            // group could write by sending a groups claim of the wrong shape.
            let why = match other {
                Value::Array(items) if items.len() > MAX_GROUPS => {
                    format!("claim `{dotted}` has over {MAX_GROUPS} groups")
                }
                Value::Array(_) => {
                    format!("claim `{dotted}` is an array with a non-string or empty member")
                }
                Value::String(_) => format!("claim `{dotted}` is a string with control characters"),
                v => format!("claim `{dotted}` is {}", json_kind(v)),
            };
            trace.fail("groups", why.clone());
            return Err(Rejection::new(Reason::MalformedToken)
                .detail(format!("{}: groups {why}", settings.name)));
        }
    };
    trace.pass("groups", format!("{out:?}"));
    Ok(out)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn numeric_dates_are_typed() {
        let c = obj(
            json!({"a": 5, "b": 5.6, "c": "5", "d": true, "e": null, "f": 18446744073709551615u64, "g": -3}),
        );
        assert_eq!(numeric_date(&c, "a").unwrap(), Some(5));
        assert_eq!(numeric_date(&c, "b").unwrap(), Some(6));
        assert_eq!(numeric_date(&c, "f").unwrap(), Some(i64::MAX));
        assert_eq!(numeric_date(&c, "g").unwrap(), Some(-3));
        assert_eq!(numeric_date(&c, "zz").unwrap(), None);
        for k in ["c", "d", "e"] {
            assert_eq!(
                numeric_date(&c, k).unwrap_err().reason,
                Reason::MalformedToken
            );
        }
    }

    #[test]
    fn dotted_lookup_prefers_literal_names() {
        let c = obj(json!({"user": {"login": "a"}, "https://x.io/groups": ["g"]}));
        assert_eq!(
            lookup(&c, &["user".into(), "login".into()]),
            Some(&json!("a"))
        );
        let p: Vec<String> = "https://x.io/groups".split('.').map(String::from).collect();
        assert_eq!(lookup(&c, &p), Some(&json!(["g"])));
        assert_eq!(lookup(&c, &["user".into(), "nope".into()]), None);
    }
}
