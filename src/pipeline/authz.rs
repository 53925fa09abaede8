//! Stage 7, `authz`: may this principal make this call? (allowed and read-only groups)
//!
//! Owns: [`Authz`] and [`Permitted`], the only way to turn a `Principal` into something the
//! forwarder accepts. Placeholder until issue 5 lands: every identified caller is permitted.

use http::{HeaderMap, Method};

use crate::config::AccessSettings;
use crate::principal::Principal;
use crate::reject::Rejection;

/// A principal that passed authorization. Only [`Authz::check`] makes one.
#[derive(Debug, Clone)]
pub struct Permitted {
    principal: Principal,
}

impl Permitted {
    /// The authorized caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// The compiled `[access]` group rules.
#[derive(Debug, Clone)]
pub struct Authz {
    access: AccessSettings,
}

impl Authz {
    /// Builds from checked config.
    pub fn new(access: &AccessSettings) -> Self {
        Authz {
            access: access.clone(),
        }
    }

    /// Checks `principal` for `method` on the relative `path`.
    pub fn check(
        &self,
        principal: Principal,
        _method: &Method,
        _path: &str,
        _headers: &HeaderMap,
        _query: Option<&str>,
    ) -> Result<Permitted, Rejection> {
        let _ = &self.access;
        Ok(Permitted { principal })
    }
}
