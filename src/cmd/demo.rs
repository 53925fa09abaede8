//! `authgate demo`: stand-ins and a gateway on loopback, with nothing else set up.

use std::process::ExitCode;

use anyhow::Result;

/// Runs the demo until Ctrl-C.
pub async fn demo() -> Result<ExitCode> {
    anyhow::bail!("the demo needs the stand-ins (not built yet)")
}
