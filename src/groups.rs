//! Groups of an identified caller, by `groups.source`. Placeholder until issue 5 lands.

use crate::config::{GroupSource, GroupsSettings};
use crate::principal::Principal;
use crate::reject::Rejection;

/// Resolves groups.
#[derive(Debug)]
pub struct Groups {
    settings: GroupsSettings,
}

impl Groups {
    /// Builds from checked config.
    pub fn new(settings: &GroupsSettings) -> Self {
        Groups {
            settings: settings.clone(),
        }
    }

    /// Fills in the principal's groups.
    pub async fn resolve(&self, principal: Principal) -> Result<Principal, Rejection> {
        match &self.settings.source {
            GroupSource::Static(map) => {
                let g = map.get(principal.username()).cloned().unwrap_or_default();
                Ok(principal.with_groups(g))
            }
            _ => Ok(principal),
        }
    }
}
