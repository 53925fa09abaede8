//! Stage 8, `rate_limit`: one bucket per token, user or client IP. Placeholder until issue 5.

use super::{Permitted, RequestCtx};
use crate::config::RateLimitSettings;
use crate::reject::{RateHeaders, Rejection};

/// The limiter; survives config reloads.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
}

impl RateLimiter {
    /// Builds from checked config.
    pub fn new(settings: &RateLimitSettings) -> Self {
        RateLimiter {
            settings: settings.clone(),
        }
    }

    /// Takes one token for the caller; `None` when rate limiting is off.
    pub fn check(&self, _permitted: Option<&Permitted>, _ctx: &RequestCtx) -> Result<Option<RateHeaders>, Rejection> {
        let _ = &self.settings;
        Ok(None)
    }
}
