//! Command bodies (`run`, `check-config`, `demo`, …). Each returns an exit code or an error
//! that `cli` prints as one sentence.

mod audit;
mod check_config;
pub mod demo;
mod migrate;
mod run;
pub mod test_token;
pub mod token;

pub use audit::{audit, AuditArgs};
pub use check_config::check_config;
pub use demo::{demo, Demo, DemoOptions};
pub use migrate::migrate;
pub use run::run;
pub use test_token::test_token;
