//! Creating, listing and revoking tokens: the rules shared by `/_authgate/tokens`,
//! `/admin/tokens` and `authgate token …`.
//!
//! Owns: lifetime checks (`default_expiry`, `max_expiry`), names, the per-user limit, and the
//! JSON shapes (a token's secret appears only in [`created_json`], once). Who may do what is
//! decided by the callers (`api` applies the group rules; the admin API and the CLI are
//! operator tools and skip `max_per_user`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::format;
use super::store::{StoreError, TokenRecord, TokenStore};
use crate::config::TokenSettings;
use crate::reject::{Reason, Rejection};

/// Longest token name accepted.
pub const MAX_NAME_CHARS: usize = 100;

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The user the token acts as.
    pub user: String,
    /// Unique per user; default `token-<id>`.
    pub name: Option<String>,
    /// Default `tokens.default_expiry`; never past `tokens.max_expiry`.
    pub expires_in: Option<Duration>,
    /// Only reads are allowed with it.
    pub read_only: bool,
    /// Who asks (a username, `admin-api` or `cli`).
    pub created_by: String,
    /// Apply `tokens.max_per_user` (self-service only).
    pub enforce_limit: bool,
    /// The groups the token carries (its creator's; `None`: none recorded).
    pub groups: Option<Vec<String>>,
}

/// A new token: its row and, once, its secret.
#[derive(Debug, Clone)]
pub struct Created {
    /// The stored row.
    pub record: TokenRecord,
    /// The secret (`gw_…`): shown once, never stored or logged.
    pub token: String,
}

/// Why a management action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Longer than `tokens.max_expiry`.
    #[error("the requested lifetime is longer than tokens.max_expiry ({})", human(*.max))]
    ExpiryTooLong {
        /// The maximum.
        max: Duration,
    },
    /// Not a positive duration.
    #[error("expires_in must be a positive duration such as \"30d\"")]
    BadExpiry,
    /// Empty, too long, or with control, bidi or invisible characters.
    #[error("the name must be 1 to {MAX_NAME_CHARS} characters without control, bidi or invisible characters")]
    BadName,
    /// The user already has a token with this name.
    #[error("this user already has a token with this name")]
    DuplicateName,
    /// `tokens.max_per_user` live tokens already.
    #[error("this user already has {max} live tokens (tokens.max_per_user)")]
    Limit {
        /// The maximum.
        max: u32,
    },
    /// No such token (or not the caller's).
    #[error("no such token")]
    NotFound,
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ManageError {
    /// The client's answer. Public notes carry only configuration values, never request data.
    pub fn rejection(&self) -> Rejection {
        match self {
            ManageError::ExpiryTooLong { max } => Rejection::new(Reason::ExpiryTooLong)
                .public_note(format!("The maximum is {}.", human(*max)))
                .detail(self.to_string()),
            ManageError::BadExpiry => Rejection::new(Reason::MalformedRequest)
                .public_note("expires_in must be a positive duration such as \"30d\".")
                .detail(self.to_string()),
            ManageError::BadName => Rejection::new(Reason::MalformedRequest)
                .public_note(format!(
                    "The name must be 1 to {MAX_NAME_CHARS} characters."
                ))
                .detail(self.to_string()),
            ManageError::DuplicateName => Rejection::new(Reason::MalformedRequest)
                .public_note("A token with this name already exists.")
                .detail(self.to_string()),
            ManageError::Limit { max } => Rejection::new(Reason::TokenLimit)
                .public_note(format!("The maximum is {max} tokens per user."))
                .detail(self.to_string()),
            ManageError::NotFound => Rejection::new(Reason::NotFound),
            ManageError::Store(e) => Rejection::new(Reason::IdpUnavailable).detail(e.to_string()),
        }
    }
}

/// `s` with control and invisible characters shown as `\u{…}` escapes (how a name is
/// printed to a terminal, whatever was stored before names were checked).
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || crate::principal::is_invisible(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A duration as an operator wrote it: `365d`, `12h`, `30m` or `45s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses `expires_in` (`"30d"`, `"12h"`, humantime syntax); zero is refused.
pub fn parse_expiry(text: &str) -> Result<Duration, ManageError> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(ManageError::BadExpiry),
    }
}

/// An RFC 3339 time, whole seconds, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Creates a token for `req.user` at `now`.
pub async fn create(
    store: &TokenStore,
    settings: &TokenSettings,
    now: DateTime<Utc>,
    req: CreateRequest,
) -> Result<Created, ManageError> {
    let lifetime = req.expires_in.unwrap_or(settings.default_expiry);
    if lifetime.is_zero() {
        return Err(ManageError::BadExpiry);
    }
    if lifetime > settings.max_expiry {
        return Err(ManageError::ExpiryTooLong {
            max: settings.max_expiry,
        });
    }
    let id = format::new_id();
    let name = match req.name {
        Some(n) => n,
        None => format!("token-{id}"),
    };
    let chars = name.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || crate::principal::is_invisible(c))
        || name.trim().is_empty()
    {
        return Err(ManageError::BadName);
    }
    if req.enforce_limit {
        let live = store
            .list(Some(&req.user))
            .await?
            .iter()
            .filter(|r| r.is_live(now))
            .count();
        if live >= settings.max_per_user as usize {
            return Err(ManageError::Limit {
                max: settings.max_per_user,
            });
        }
    }
    // Whole seconds: the times shown are then exactly the times stored.
    let now = DateTime::<Utc>::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let lifetime = chrono::Duration::from_std(lifetime).map_err(|_| ManageError::BadExpiry)?;
    let expires_at = now
        .checked_add_signed(lifetime)
        .ok_or(ManageError::BadExpiry)?;
    let token = format::generate();
    let record = TokenRecord {
        id,
        username: req.user,
        name,
        hash: format::hash(&token),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        read_only: req.read_only,
        created_by: req.created_by,
        groups: req.groups.map(|g| serde_json::Value::from(g).to_string()),
    };
    store.insert(&record).await.map_err(|e| match e {
        StoreError::DuplicateName => ManageError::DuplicateName,
        e => ManageError::Store(e),
    })?;
    Ok(Created { record, token })
}

/// Revokes `id` if `may(record)` says the caller may; unknown or not permitted -> `NotFound`
/// (another user's token is not even confirmed to exist). Revoking twice is not an error.
pub async fn revoke(
    store: &TokenStore,
    now: DateTime<Utc>,
    id: &str,
    may: impl Fn(&TokenRecord) -> bool,
) -> Result<TokenRecord, ManageError> {
    let record = store.by_id(id).await?.ok_or(ManageError::NotFound)?;
    if !may(&record) {
        return Err(ManageError::NotFound);
    }
    store.revoke(id, now).await?;
    Ok(record)
}

/// The answer to a create: the only place the secret is ever shown.
pub fn created_json(c: &Created) -> Value {
    json!({
        "id": c.record.id,
        "name": c.record.name,
        "user": c.record.username,
        "token": c.token,
        "created_at": rfc3339(c.record.created_at),
        "expires_at": rfc3339(c.record.expires_at),
        "read_only": c.record.read_only,
    })
}

/// One token in a list: never the secret nor its hash.
pub fn record_json(r: &TokenRecord) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "user": r.username,
        "created_at": rfc3339(r.created_at),
        "expires_at": rfc3339(r.expires_at),
        "last_used_at": r.last_used_at.map(rfc3339),
        "revoked_at": r.revoked_at.map(rfc3339),
        "read_only": r.read_only,
        "created_by": r.created_by,
    })
}

/// `{"tokens":[…]}`
pub fn list_json(records: &[TokenRecord]) -> Value {
    json!({ "tokens": records.iter().map(record_json).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_operators_write_them() {
        assert_eq!(human(Duration::from_secs(365 * 86_400)), "365d");
        assert_eq!(human(Duration::from_secs(7_200)), "2h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn expiry_must_be_positive() {
        assert_eq!(
            parse_expiry("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(matches!(parse_expiry("0s"), Err(ManageError::BadExpiry)));
        assert!(matches!(parse_expiry("-1d"), Err(ManageError::BadExpiry)));
        assert!(matches!(parse_expiry("soon"), Err(ManageError::BadExpiry)));
    }

    #[test]
    fn expiry_too_long_names_the_maximum() {
        let r = ManageError::ExpiryTooLong {
            max: Duration::from_secs(365 * 86_400),
        }
        .rejection();
        assert_eq!(r.reason, Reason::ExpiryTooLong);
        assert_eq!(r.public_note.as_deref(), Some("The maximum is 365d."));
    }
}
