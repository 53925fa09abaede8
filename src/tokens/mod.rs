//! Gateway-issued API tokens (CONTRACT §5). Placeholder until issue 6 lands.

pub mod api;

use crate::principal::Principal;
use crate::reject::{Reason, Rejection};

/// Looks up `gw_` tokens.
#[derive(Debug, Default)]
pub struct GatewayTokens;

impl GatewayTokens {
    /// Checks a `gw_` token.
    pub async fn authenticate(&self, _token: &str) -> Result<Principal, Rejection> {
        Err(Rejection::new(Reason::TokenUnknown))
    }
}
