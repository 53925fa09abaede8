//! How a user authgate authenticated is handed to the product (`[upstream.identity]`), as one
//! runtime value every caller of the product uses: forwarding, group lookups and
//! `check-upstream`.
//!
//! Owns: [`UpstreamIdentity`] (built once per runtime from the checked config and, in `oauth1` mode, the
//! key read at build time) and [`UpstreamIdentity::as_user`], the headers and query of a request the
//! product should read as a given user.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{IdentityMode, IdentitySettings};
use crate::oauth1::Signer;

/// The identity hand-off of the current runtime.
#[derive(Debug, Clone)]
pub enum UpstreamIdentity {
    /// `header` or `service_account`: the identity header names the user; with a service
    /// account, `Authorization` is that account's.
    Header {
        /// The identity header.
        header: HeaderName,
        /// `service_account` mode: the whole `Authorization` value (sensitive).
        authorization: Option<HeaderValue>,
    },
    /// `oauth1`: every request signed as the application link for the user.
    OAuth1 {
        /// Still stripped from every client request, in every spelling.
        header: HeaderName,
        /// The signer with the link's key.
        signer: Arc<Signer>,
    },
}

/// Why the hand-off cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamIdentityError {
    /// The `oauth1` key cannot be used.
    #[error("upstream.identity.private_key_file: {0}")]
    Key(#[from] crate::oauth1::KeyError),
    /// The service-account value is not a header value (the check refuses it first).
    #[error("upstream.identity.authorization: not a valid header value")]
    Authorization,
}

impl UpstreamIdentity {
    /// Builds from the checked settings; in `oauth1` mode reads the key (again on every
    /// reload, so a replaced key file takes effect with the reload).
    pub fn new(identity: &IdentitySettings) -> Result<UpstreamIdentity, UpstreamIdentityError> {
        let header = identity.header.clone();
        Ok(match &identity.mode {
            IdentityMode::Header => UpstreamIdentity::Header {
                header,
                authorization: None,
            },
            IdentityMode::ServiceAccount(secret) => {
                let mut v = HeaderValue::from_str(secret.expose())
                    .map_err(|_| UpstreamIdentityError::Authorization)?;
                v.set_sensitive(true);
                UpstreamIdentity::Header {
                    header,
                    authorization: Some(v),
                }
            }
            IdentityMode::OAuth1(settings) => {
                let signer = Arc::new(Signer::load(settings)?);
                UpstreamIdentity::OAuth1 { header, signer }
            }
        })
    }

    /// The identity header (stripped from every client request; sent in `header` and
    /// `service_account` modes).
    pub fn identity_header(&self) -> &HeaderName {
        match self {
            UpstreamIdentity::Header { header, .. } | UpstreamIdentity::OAuth1 { header, .. } => {
                header
            }
        }
    }

    /// What the rewrite of a forwarded request's head puts in for the user.
    pub fn header_hand_off(&self) -> crate::headers::IdentityHeader<'_> {
        match self {
            UpstreamIdentity::Header { authorization, .. } => {
                crate::headers::IdentityHeader::Named {
                    authorization: authorization.as_ref(),
                }
            }
            UpstreamIdentity::OAuth1 { .. } => crate::headers::IdentityHeader::Omitted,
        }
    }

    /// The signer in `oauth1` mode.
    pub fn signer(&self) -> Option<&Signer> {
        match self {
            UpstreamIdentity::OAuth1 { signer, .. } => Some(signer),
            UpstreamIdentity::Header { .. } => None,
        }
    }

    /// The mode's name, as in the config.
    pub fn mode_name(&self) -> &'static str {
        match self {
            UpstreamIdentity::Header {
                authorization: None,
                ..
            } => "header",
            UpstreamIdentity::Header { .. } => "service_account",
            UpstreamIdentity::OAuth1 { .. } => "oauth1",
        }
    }

    /// The headers and query of a GET of `path` (context path included) that the product
    /// reads as `user`: the identity header (and service account), or the signature with
    /// `xoauth_requestor_id`. `query` is the request's own query, without a credential.
    /// `Err` when `user` cannot be put in a header.
    pub fn as_user(
        &self,
        user: &str,
        path: &str,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(HeaderMap, Option<String>), InvalidUser> {
        let mut headers = HeaderMap::new();
        match self {
            UpstreamIdentity::Header {
                header,
                authorization,
            } => {
                let v = HeaderValue::from_str(user).map_err(|_| InvalidUser)?;
                headers.insert(header.clone(), v);
                if let Some(a) = authorization {
                    headers.insert(http::header::AUTHORIZATION, a.clone());
                }
                Ok((headers, query.map(str::to_string)))
            }
            UpstreamIdentity::OAuth1 { signer, .. } => {
                let signed = signer.sign(&http::Method::GET, path, query, None, user, now);
                headers.insert(http::header::AUTHORIZATION, signed.authorization);
                Ok((headers, Some(signed.query)))
            }
        }
    }
}

/// The username cannot be handed to the product (not a header value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUser;
