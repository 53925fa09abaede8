//! `mode = "oauth1"`: the identity hand-off an unmodified Jira or Confluence accepts, 2-legged
//! OAuth 1.0a with user impersonation through an application link (docs/oauth1.md).
//!
//! Owns: [`Signer`], which turns a forwarded request into the one the product's OAuth
//! service provider accepts for a user: the query without client-sent `xoauth_requestor_id`
//! and `user_id`, `xoauth_requestor_id=<user>` appended, and an
//! `Authorization: OAuth …` header signed RSA-SHA1 over the base string of `base` with
//! `oauth_token=""`. The key checks live in `key`, the refusal reading in `problem`.

pub mod base;
pub mod key;
pub mod problem;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::HeaderValue;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha1::Sha1;

pub use key::KeyError;

/// The parameter the product reads the user from.
pub const REQUESTOR_PARAM: &str = "xoauth_requestor_id";
/// The deprecated parameter the product falls back to.
pub const LEGACY_USER_PARAM: &str = "user_id";

/// Signs forwarded requests as the application link.
pub struct Signer {
    consumer_key: String,
    /// `scheme://host[:port]`, lower-case, no default port.
    base_url: String,
    key: SigningKey<Sha1>,
    bits: usize,
    /// One permit per CPU for [`sign_off_worker`].
    permits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Signer")
            .field("consumer_key", &self.consumer_key)
            .field("base_url", &self.base_url)
            .field("bits", &self.bits)
            .finish()
    }
}

/// What a signed request carries towards the product.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The query to forward (client parameters, then `xoauth_requestor_id`).
    pub query: String,
    /// The `Authorization: OAuth …` value (marked sensitive).
    pub authorization: HeaderValue,
}

impl Signer {
    /// Reads and checks the key of `settings`.
    pub fn load(settings: &crate::config::OAuth1Settings) -> Result<Self, KeyError> {
        let key = key::load(&settings.private_key_file)?;
        Ok(Self::new(
            settings.consumer_key.clone(),
            settings.base_url.clone(),
            key,
        ))
    }

    /// A signer for `key`; `base_url` is already in its checked form.
    pub fn new(consumer_key: String, base_url: String, key: rsa::RsaPrivateKey) -> Self {
        let bits = key::bits(&key);
        Signer {
            consumer_key,
            base_url,
            key: SigningKey::<Sha1>::new(key),
            bits,
            permits: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// The consumer key.
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The key size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The base URL the signature is computed for.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Signs a request for `user`. `path` is the path as forwarded (context path included,
    /// still percent-encoded); `query` the forwarded query with credential parameters already
    /// removed (`xoauth_requestor_id` and `user_id` are removed here); `form` the body when
    /// the product reads it as parameters (a POST with an
    /// `application/x-www-form-urlencoded` body), else `None`.
    pub fn sign(
        &self,
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        form: Option<&str>,
        user: &str,
        now: SystemTime,
    ) -> Signed {
        let mut query = query.map(without_user_params).unwrap_or_default();
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(REQUESTOR_PARAM);
        query.push('=');
        query.push_str(&base::encode(user));

        let timestamp = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let oauth: [(&str, &str); 6] = [
            ("oauth_consumer_key", &self.consumer_key),
            ("oauth_token", ""),
            ("oauth_signature_method", "RSA-SHA1"),
            ("oauth_timestamp", &timestamp),
            ("oauth_nonce", &nonce),
            ("oauth_version", "1.0"),
        ];
        let mut params = base::servlet_params(&query);
        if let Some(form) = form {
            params.extend(base::servlet_params(form));
        }
        params.extend(oauth.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let uri = format!("{}{path}", self.base_url);
        let text = base::base_string(method.as_str(), &uri, &params);
        let signature = self
            .key
            .sign_with_rng(&mut rand::thread_rng(), text.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());

        let mut header = String::from("OAuth ");
        for (k, v) in oauth
            .iter()
            .copied()
            .chain(std::iter::once(("oauth_signature", signature.as_str())))
        {
            if header.len() > 6 {
                header.push_str(", ");
            }
            header.push_str(k);
            header.push_str("=\"");
            header.push_str(&base::encode(v));
            header.push('"');
        }
        let mut authorization =
            HeaderValue::try_from(header).expect("encoded OAuth parameters are ASCII");
        authorization.set_sensitive(true);
        Signed {
            query,
            authorization,
        }
    }
}

/// Why a request cannot be signed so that the product computes the same base string.
pub fn unsignable(
    headers: &http::HeaderMap,
    query: Option<&str>,
    form: Option<&str>,
) -> Option<&'static str> {
    if query.is_some_and(|q| !base::decodes_as_utf8(q))
        || form.is_some_and(|f| !base::decodes_as_utf8(f))
    {
        return Some("a query or form parameter is not UTF-8 once decoded");
    }
    // Jira's connector decodes the query in the body's charset (`useBodyEncodingForURI`):
    // anything but UTF-8 would make the product read other parameters than authgate signs.
    let charset = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
            })
        });
    match charset.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii") => None,
        Some(_) => Some("a Content-Type charset other than UTF-8"),
    }
}

/// What [`sign_off_worker`] signs (owned: it moves to a blocking thread).
#[derive(Debug, Clone)]
pub struct SignInput {
    /// The method.
    pub method: http::Method,
    /// The path as forwarded.
    pub path: String,
    /// The query, credential parameters removed.
    pub query: Option<String>,
    /// A POST's form body.
    pub form: Option<String>,
    /// The user.
    pub user: String,
    /// Signing time.
    pub now: SystemTime,
}

/// [`Signer::sign`] on tokio's blocking pool, at most one signature per CPU at a time: the
/// RSA operation takes milliseconds (docs/performance.md#oauth1-signing), and on a runtime
/// worker it would hold up every other request queued on that worker. `None` only when the
/// runtime is shutting down.
pub async fn sign_off_worker(signer: &Arc<Signer>, input: SignInput) -> Option<Signed> {
    // The semaphore is never closed, so a permit always comes.
    let _permit = signer.permits.acquire().await;
    let s = Arc::clone(signer);
    let job = move || {
        s.sign(
            &input.method,
            &input.path,
            input.query.as_deref(),
            input.form.as_deref(),
            &input.user,
            input.now,
        )
    };
    match tokio::task::spawn_blocking(job).await {
        Ok(signed) => Some(signed),
        // A panic in `sign` is surfaced as it would be inline.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// `raw` without `xoauth_requestor_id` and `user_id` (names compared after decoding, any
/// case); other pairs kept byte for byte and in order.
pub fn without_user_params(raw: &str) -> String {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !names_user(p.split_once('=').map_or(p, |(k, _)| k)))
        .collect::<Vec<_>>()
        .join("&")
}

/// True when `raw` (a query or form body) names a user the product would read.
pub fn has_user_params(raw: &str) -> bool {
    raw.split('&')
        .any(|p| names_user(p.split_once('=').map_or(p, |(k, _)| k)))
}

fn names_user(raw_name: &str) -> bool {
    let name = crate::carriers::decode_component(raw_name);
    name.eq_ignore_ascii_case(REQUESTOR_PARAM) || name.eq_ignore_ascii_case(LEGACY_USER_PARAM)
}

#[cfg(test)]
mod tests;
