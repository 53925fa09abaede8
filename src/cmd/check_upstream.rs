//! `authgate check-upstream`: one request to the product's "who am I" endpoint, handed over
//! for `--user NAME` exactly as a forwarded request would be (identity header, service
//! account, or a request signed for NAME), then what the product answered: the user it saw,
//! or why it refused, with what that usually means. Exit 0 when the product saw NAME (or,
//! without NAME in `header` / `service_account` mode, when it answered at all).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::clock::{Clock, SystemClock};
use crate::groups::{Identity, LookupError, ProductClient};
use crate::upstream_identity::UpstreamIdentity;

/// Runs the command.
pub async fn check_upstream(path: &Path, user: Option<&str>) -> Result<ExitCode> {
    let config = crate::config::load(path)?;
    let identity = UpstreamIdentity::new(&config.upstream.identity)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let client = ProductClient::new(&config.upstream, &http);
    let mode = identity.mode_name();
    println!(
        "upstream {}{} ({mode} mode)",
        config.upstream.url, config.upstream.context_path
    );
    let Some(user) = user else {
        return match &identity {
            UpstreamIdentity::OAuth1 { .. } => bail!(
                "--user NAME is required in oauth1 mode: the product reads the user from the signed request"
            ),
            UpstreamIdentity::Header {
                authorization: Some(a),
                ..
            } => {
                // The service account alone: who is it?
                let mut headers = http::HeaderMap::new();
                headers.insert(http::header::AUTHORIZATION, a.clone());
                Ok(report(client.whoami(&headers, "").await, None, mode))
            }
            UpstreamIdentity::Header { .. } => match client.running().await {
                Ok(state) => {
                    println!("ok: the product answered /status: {state}");
                    println!("next: authgate check-upstream --user <a real username>, to see the header authenticator accept it");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("refused: {e}");
                    Ok(ExitCode::from(1))
                }
            },
        };
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let answer = client.whoami_as(user, &identity, clock.now()).await;
    Ok(report(answer, Some(user), mode))
}

/// Prints what the product answered; the exit code says whether it saw `user`.
fn report(answer: Result<Identity, LookupError>, user: Option<&str>, mode: &str) -> ExitCode {
    match answer {
        Ok(id) => {
            println!(
                "the product saw: {} (groups: {})",
                id.username,
                if id.groups.is_empty() {
                    "none".to_string()
                } else {
                    id.groups.join(", ")
                }
            );
            match user {
                Some(u) if !crate::principal::same_name(u, &id.username) => {
                    println!(
                        "refused: the product acted as `{}`, not as `{u}`",
                        id.username
                    );
                    if mode == "service_account" {
                        println!("hint: the product ignores the identity header and acts as the service account; that is what service_account mode does (use header or oauth1 mode for per-user identity)");
                    }
                    ExitCode::from(1)
                }
                _ => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
            }
        }
        Err(LookupError::OAuthProblem(problem)) => {
            println!("refused: oauth_problem={problem}");
            println!("hint: {}", crate::oauth1::problem::hint(&problem));
            ExitCode::from(1)
        }
        Err(LookupError::Rejected(status)) => {
            println!("refused: the product answered {status} and saw no user");
            println!(
                "hint: {}",
                match mode {
                    "header" => "the product does not read the identity header: header mode needs a header authenticator installed in the product (or use oauth1 mode)",
                    "service_account" => "the product refused the service account's Authorization value",
                    _ => "the product accepted the signature but ran the request as nobody: it does not know this username (give the username, not the e-mail address or the JIRAUSER key) or the user may not log in",
                }
            );
            ExitCode::from(1)
        }
        Err(LookupError::Unavailable(why)) => {
            println!("refused: {why}");
            ExitCode::from(1)
        }
    }
}
