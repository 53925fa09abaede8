//! Fixtures shared by the integration tests.
#![allow(dead_code)]

pub mod gateway;
pub mod pg;
pub mod tokens;
