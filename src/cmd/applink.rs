//! `authgate applink`: set up `mode = "oauth1"`. With `--generate-key`, writes a new RSA key
//! (0600) to `upstream.identity.private_key_file` unless that file exists; then prints the
//! consumer key, the public key and the steps in the product's administration. Never prints
//! the private key.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::config::{Config, IdentityMode, OAuth1Settings, Product};
use crate::oauth1::key;

/// Runs the command.
pub fn applink(path: &Path, generate: bool, bits: usize) -> Result<ExitCode> {
    let config = crate::config::load(path)?;
    let IdentityMode::OAuth1(settings) = &config.upstream.identity.mode else {
        bail!(
            "{}: upstream.identity.mode is not \"oauth1\"; set mode = \"oauth1\", consumer_key and private_key_file first (README: Putting it in front of Jira without installing anything)",
            path.display()
        );
    };
    let file = &settings.private_key_file;
    let mut made = false;
    if generate {
        if file.exists() {
            eprintln!(
                "authgate: {} exists; keeping it (delete it first to make a new key)",
                file.display()
            );
        } else {
            key::generate(file, bits)?;
            made = true;
        }
    }
    let private = key::load(file).map_err(|e| {
        anyhow::anyhow!(
            "upstream.identity.private_key_file: {e}{}",
            if file.exists() {
                ""
            } else {
                " (authgate applink --generate-key makes one)"
            }
        )
    })?;
    print!(
        "{}",
        instructions(
            &config,
            settings,
            &key::public_pem(&private),
            made,
            key::bits(&private)
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// What the operator reads: the key, then the steps for the configured product.
pub fn instructions(
    config: &Config,
    s: &OAuth1Settings,
    public_pem: &str,
    made: bool,
    bits: usize,
) -> String {
    let mut out = String::new();
    let file = s.private_key_file.display();
    if made {
        let _ = writeln!(
            out,
            "wrote a new {bits}-bit RSA key to {file} (mode 0600)\n"
        );
    } else {
        let _ = writeln!(out, "using the {bits}-bit RSA key in {file}\n");
    }
    let _ = writeln!(out, "consumer key:  {}", s.consumer_key);
    let _ = writeln!(
        out,
        "signed for:    {} (upstream.identity.base_url)",
        s.base_url
    );
    let _ = writeln!(out, "public key:\n\n{public_pem}");
    let (product, admin) = match config.upstream.product {
        Product::Jira => (
            "Jira",
            "Administration (cog) > Applications > Application links",
        ),
        Product::Confluence => (
            "Confluence",
            "Administration (cog) > General Configuration > Application Links",
        ),
    };
    let gateway = format!("http://{}", config.server.listen);
    let _ = writeln!(
        out,
        "In {product}, as an administrator (nothing is installed in {product}):

 1. Go to {admin} and choose Create link.
 2. Choose \"Atlassian product\" (not \"External application\", which makes an OAuth 2.0
    link without impersonation), enter authgate's URL (e.g. {gateway}) and Continue.
    When {product} says it received no response from that URL, Continue.
 3. Application name: authgate. Application type: Generic Application.
    Tick \"Create incoming link\" and Continue.
 4. Consumer Key: {consumer}   Consumer Name: authgate
    Public Key: the PEM block above. Continue.
 5. Edit the new link > Incoming Authentication > OAuth: tick \"Allow 2-Legged OAuth\",
    leave \"Execute as\" empty, tick \"Allow user impersonation through 2-Legged OAuth\",
    and save.
 6. {product}'s own URL, as its Tomcat connector sees it (scheme, proxyName, proxyPort) plus
    nothing else, must be {base} (upstream.identity.base_url); the context path is
    upstream.context_path ({cp}).
 7. Check it: authgate check-upstream -c {config_file} --user <a real username>",
        consumer = s.consumer_key,
        base = s.base_url,
        cp = if config.upstream.context_path.is_empty() {
            "none"
        } else {
            config.upstream.context_path.as_str()
        },
        config_file = config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "authgate.toml".into()),
    );
    out
}
