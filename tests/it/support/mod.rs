//! Fixtures shared by the integration tests.
#![allow(dead_code)]

pub mod applink;
pub mod catalog_auth;
pub mod client;
pub mod gateway;
pub mod harden;
pub mod launch;
pub mod pg;
pub mod tokens;
