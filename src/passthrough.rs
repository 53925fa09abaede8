//! Identity of pass-through callers (PAT, Basic, session, native OAuth), learnt from the
//! product. Placeholder until issue 5 lands: pass-through callers stay unidentified.

use http::HeaderMap;

use crate::pipeline::credential::Credential;
use crate::principal::Principal;
use crate::reject::Rejection;

/// Asks the product who a pass-through caller is.
#[derive(Debug, Default)]
pub struct Passthrough;

impl Passthrough {
    /// The caller's principal, or `None` when identity resolution is off.
    pub async fn identify(&self, _credential: &Credential, _headers: &HeaderMap) -> Result<Option<Principal>, Rejection> {
        Ok(None)
    }
}
