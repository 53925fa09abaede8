//! Command bodies (`run`, `check-config`, `demo`, …). Each returns an exit code or an error
//! that `cli` prints as one sentence.

mod applink;
mod audit;
mod check_config;
mod check_upstream;
pub mod demo;
mod migrate;
mod run;
pub mod test_token;
pub mod token;

pub use applink::applink;
pub use audit::{audit, AuditArgs};
pub use check_config::check_config;
pub use check_upstream::check_upstream;
pub use demo::{demo, Demo, DemoIdentity, DemoOptions};
pub use migrate::migrate;
pub use run::run;
pub use test_token::test_token;
