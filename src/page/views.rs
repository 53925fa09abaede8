//! What the token page shows: the one template (`templates/page/page.html`, compiled into the
//! binary by askama, every value HTML-escaped) and the rows it is filled with.
//!
//! Owns: [`PageView`] and turning token records, expiry choices and refusals into what a
//! person reads. It decides nothing: `page::serve` says what to show.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::config::TokenSettings;
use crate::reject::{Reason, Rejection};
use crate::tokens::manage::{human, visible};
use crate::tokens::store::TokenRecord;

/// Everything the page can show; `page::serve` fills what the answer needs.
#[derive(Debug, Default, Template)]
#[template(path = "page/page.html")]
pub struct PageView {
    /// "Jira" or "Confluence".
    pub product: &'static str,
    /// The signed-in user (the sign-out form and every other form need the CSRF token).
    pub signed_in: Option<SignedIn>,
    /// What went wrong, in words.
    pub error: Option<String>,
    /// What was done, in words.
    pub notice: Option<String>,
    /// The sign-in form.
    pub sign_in: bool,
    /// The username typed before a failed sign-in (never the password).
    pub username_value: String,
    /// The token just created: the only answer that ever carries a secret.
    pub created: Option<CreatedView>,
    /// A revocation to confirm.
    pub confirm: Option<TokenRow>,
    /// Where "Cancel" goes.
    pub back: String,
    /// Why the create form is not offered (`None`: it is).
    pub create_denied: Option<String>,
    /// The lifetimes offered (`tokens.default_expiry` preselected).
    pub expiries: Vec<ExpiryChoice>,
    /// The user is read-only: so are their tokens.
    pub read_only_only: bool,
    /// The user is an admin: every user's tokens, and the filter.
    pub admin: bool,
    /// The admin's user filter.
    pub filter: String,
    /// The tokens listed.
    pub tokens: Vec<TokenRow>,
}

/// Who is signed in.
#[derive(Debug)]
pub struct SignedIn {
    /// Username.
    pub username: String,
    /// The session's CSRF token, in every state-changing form.
    pub csrf: String,
}

/// A token just created.
#[derive(Debug)]
pub struct CreatedView {
    /// Its name.
    pub name: String,
    /// The secret (`gw_…`), shown once.
    pub secret: String,
    /// When it expires, in words.
    pub expires: String,
    /// Read-only.
    pub read_only: bool,
}

/// One lifetime in the expiry list.
#[derive(Debug)]
pub struct ExpiryChoice {
    /// The form value (`30d`).
    pub value: String,
    /// What is shown (`30 days`).
    pub label: String,
    /// Preselected.
    pub selected: bool,
}

/// One row of the token list (never the secret nor its hash).
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Public id.
    pub id: String,
    /// Name (control characters shown as escapes).
    pub name: String,
    /// Owner.
    pub user: String,
    /// Times, in words.
    pub created: String,
    /// Times, in words.
    pub expires: String,
    /// Times, in words ("never").
    pub last_used: String,
    /// Read-only.
    pub read_only: bool,
    /// "Active", "Revoked …" or "Expired".
    pub status: String,
    /// CSS class of the row.
    pub status_class: &'static str,
    /// Neither revoked nor expired (it can be revoked).
    pub live: bool,
    /// The confirmation link.
    pub revoke_href: String,
}

/// A time as the page shows it: `2030-01-31 14:05 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `?user=NAME` for an admin's filter, or nothing.
pub fn filter_query(filter: &str) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        format!("user={}", utf8_percent_encode(filter, NON_ALPHANUMERIC))
    }
}

impl TokenRow {
    /// The row of `r` at `now`; `filter` is kept in the confirmation link.
    pub fn of(r: &TokenRecord, now: DateTime<Utc>, filter: &str) -> TokenRow {
        let (status, status_class) = match (r.revoked_at, r.expires_at <= now) {
            (Some(at), _) => (format!("Revoked {}", when(at)), "revoked"),
            (None, true) => ("Expired".to_string(), "expired"),
            (None, false) => ("Active".to_string(), "active"),
        };
        let mut href = format!("./?revoke={}", utf8_percent_encode(&r.id, NON_ALPHANUMERIC));
        let q = filter_query(filter);
        if !q.is_empty() {
            href = format!("{href}&{q}");
        }
        TokenRow {
            id: r.id.clone(),
            name: visible(&r.name),
            user: visible(&r.username),
            created: when(r.created_at),
            expires: when(r.expires_at),
            last_used: r.last_used_at.map_or_else(|| "Never".to_string(), when),
            read_only: r.read_only,
            status,
            status_class,
            live: r.is_live(now),
            revoke_href: href,
        }
    }
}

/// `30 days`, `12 hours`, `1 day` …
fn label(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The lifetimes offered: a few usual ones up to `max_expiry`, the default and the maximum,
/// shortest first, the default preselected.
pub fn expiries(settings: &TokenSettings) -> Vec<ExpiryChoice> {
    let day = 86_400;
    let mut all: Vec<Duration> = [1, 7, 30, 90, 180, 365]
        .iter()
        .map(|d| Duration::from_secs(d * day))
        .chain([settings.default_expiry, settings.max_expiry])
        .filter(|d| !d.is_zero() && *d <= settings.max_expiry)
        .collect();
    all.sort();
    all.dedup();
    all.into_iter()
        .map(|d| ExpiryChoice {
            value: human(d),
            label: label(d),
            selected: d == settings.default_expiry,
        })
        .collect()
}

/// A refusal in words a person can act on (`product`: "Jira" or "Confluence"). Public notes
/// carry configuration values only, never request data.
pub fn explain(r: &Rejection, product: &str) -> String {
    let note = r.public_note.as_deref();
    match r.reason {
        Reason::TokenCreationDenied => format!(
            "You are not allowed to create tokens. Ask a {product} administrator if you need one."
        ),
        Reason::ExpiryTooLong => format!(
            "That lifetime is too long. {}",
            note.unwrap_or("Choose a shorter one.")
        ),
        Reason::TokenLimit => format!(
            "You have as many active tokens as allowed. {} Revoke one you no longer use first.",
            note.unwrap_or("")
        ),
        Reason::ReadOnly => {
            "Your access is read-only, so you can create read-only tokens only.".to_string()
        }
        Reason::MalformedRequest => note
            .unwrap_or("The form was incomplete. Reload the page and try again.")
            .to_string(),
        Reason::NotFound => "That token does not exist, or is not yours.".to_string(),
        Reason::CredentialRejected => format!(
            "{product} did not accept that username and password. Check them and try again."
        ),
        Reason::RateLimited => {
            "Too many failed sign-ins for this user or from this address. Wait 15 minutes and try again."
                .to_string()
        }
        Reason::GroupsUnavailable => {
            format!("{product} could not be asked who you are just now. Try again in a moment.")
        }
        Reason::IdpUnavailable => {
            "The token database is unavailable just now. Try again in a moment.".to_string()
        }
        Reason::CsrfRejected => {
            "This form did not come from this page, or the page is out of date. Reload the page and try again."
                .to_string()
        }
        other => other.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_choices_stop_at_the_maximum_and_preselect_the_default() {
        let s = TokenSettings {
            allow_user_creation: true,
            default_expiry: Duration::from_secs(30 * 86_400),
            max_expiry: Duration::from_secs(100 * 86_400),
            max_per_user: 10,
        };
        let got: Vec<(String, bool)> = expiries(&s)
            .into_iter()
            .map(|e| (e.value, e.selected))
            .collect();
        let want = [
            ("1d", false),
            ("7d", false),
            ("30d", true),
            ("90d", false),
            ("100d", false),
        ];
        assert_eq!(got, want.map(|(v, s)| (v.to_string(), s)).to_vec());
    }

    #[test]
    fn values_are_escaped() {
        let v = PageView {
            product: "Jira",
            error: Some("<script>alert(1)</script>".into()),
            ..PageView::default()
        };
        let html = v.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
    }
}
