//! Who the caller is, once a credential has been checked.
//!
//! Owns: [`Principal`] (made only by the authentication stage: `authn`, gateway `tokens`
//! and `passthrough` create it through `pub(crate)` constructors) and [`CredentialKind`]
//! (the audit `credential` field). Later stages take a `Principal`, so authorization and
//! rate limiting cannot run for a caller nobody identified.

use std::time::SystemTime;

/// What the caller presented (docs/audit.md `credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A JWT verified by a provider.
    Jwt,
    /// An opaque token checked by RFC 7662 introspection.
    Introspection,
    /// An authgate-issued `gw_` token.
    GatewayToken,
    /// A product Personal Access Token (passed through).
    Pat,
    /// HTTP Basic (passed through).
    Basic,
    /// The product's session cookie (passed through).
    Session,
    /// Another opaque bearer token the product checks (passed through).
    NativeOauth,
    /// No credential on an API path.
    Anonymous,
    /// Not classified (non-API path, rejected before step 5).
    None,
}

impl CredentialKind {
    /// The audit name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::Introspection => "introspection",
            CredentialKind::GatewayToken => "gateway_token",
            CredentialKind::Pat => "pat",
            CredentialKind::Basic => "basic",
            CredentialKind::Session => "session",
            CredentialKind::NativeOauth => "native_oauth",
            CredentialKind::Anonymous => "anonymous",
            CredentialKind::None => "none",
        }
    }
}

/// An identified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    username: String,
    groups: Vec<String>,
    provider: Option<String>,
    credential: CredentialKind,
    token_id: Option<String>,
    expires_at: Option<SystemTime>,
    read_only_token: bool,
}

impl Principal {
    /// Made by the authentication stage only.
    pub(crate) fn new(
        username: String,
        credential: CredentialKind,
        provider: Option<String>,
        token_id: Option<String>,
    ) -> Self {
        Principal {
            username,
            groups: Vec::new(),
            provider,
            credential,
            token_id,
            expires_at: None,
            read_only_token: false,
        }
    }

    /// Sets the groups (from a claim, the product or the static table).
    pub(crate) fn with_groups(mut self, groups: Vec<String>) -> Self {
        self.groups = groups;
        self
    }

    /// Sets when the credential expires.
    pub(crate) fn with_expiry(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }

    /// Marks a gateway token created read-only.
    pub(crate) fn with_read_only_token(mut self, read_only: bool) -> Self {
        self.read_only_token = read_only;
        self
    }

    /// The username handed to the product.
    pub fn username(&self) -> &str {
        &self.username
    }
    /// Group names.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
    /// The provider that validated the credential, if any.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
    /// What the caller presented.
    pub fn credential(&self) -> CredentialKind {
        self.credential
    }
    /// Short hash of the token (or the gateway token id); the rate-limit key for tokens.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }
    /// When the credential expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
    /// True for a gateway token created read-only.
    pub fn read_only_token(&self) -> bool {
        self.read_only_token
    }
    /// True when the caller is in any of `groups` (names compared as Jira and Crowd do,
    /// without regard to case).
    pub fn in_any(&self, groups: &[String]) -> bool {
        in_any(&self.groups, groups)
    }
}

/// True when two user or group names are the same name: Jira, Confluence and Crowd compare
/// both without regard to case.
pub fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// True when any of `member_of` is one of `wanted` ([`same_name`]).
pub fn in_any(member_of: &[String], wanted: &[String]) -> bool {
    wanted
        .iter()
        .any(|g| member_of.iter().any(|m| same_name(m, g)))
}

/// The key a name is stored under where it is looked up by [`same_name`].
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// True for the invisible format characters that can make a name read as another one:
/// bidi embeddings, overrides and isolates, zero-width characters, the byte-order mark, the
/// soft hyphen and the other Unicode `Cf` characters commonly abused in spoofing.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// First 16 hex characters of SHA-256: how tokens and credentials appear in logs and audit.
pub fn short_hash(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(secret);
    hex::encode(&d[..8])
}
