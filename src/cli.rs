//! The command line (README.md#commands): clap definitions and one function per command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// authgate: an authentication gateway for the REST APIs of Jira and Confluence Data Center.
#[derive(Debug, Parser)]
#[command(name = "authgate", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Config file option shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// Config file (default: $AUTHGATE_CONFIG, then ./authgate.toml).
    #[arg(
        short = 'c',
        long = "config",
        env = "AUTHGATE_CONFIG",
        default_value = "authgate.toml"
    )]
    pub config: PathBuf,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve client traffic and the operator endpoints.
    Run(ConfigArg),
    /// Parse and check the config without serving; print a summary or every error.
    CheckConfig(ConfigArg),
    /// Start a Jira stand-in and authgate in front of it, with nothing else set up.
    Demo {
        /// How the user is handed to the stand-in: `header` (X-Forwarded-User) or `oauth1`
        /// (an application link, nothing installed in the product).
        #[arg(long, value_enum, default_value = "header")]
        identity: crate::cmd::DemoIdentity,
    },
    /// Run a token through the real providers and rules for a method and path, printing
    /// every step; exit 0 when the request would be allowed.
    TestToken(TestTokenArgs),
    /// Manage gateway-issued API tokens directly in the database (operator use).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Query the audit store, newest first.
    Audit {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// Filters and output.
        #[command(flatten)]
        args: crate::cmd::AuditArgs,
    },
    /// Apply the database migrations.
    Migrate(ConfigArg),
    /// Set up `mode = "oauth1"`: print the consumer key, the public key and the steps in the
    /// product's administration (with --generate-key, make the key first).
    Applink {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// Write a new RSA key to upstream.identity.private_key_file (mode 0600) unless it
        /// exists.
        #[arg(long = "generate-key")]
        generate_key: bool,
        /// Key size for --generate-key: 2048, 3072 or 4096 (signing cost grows with it).
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
    /// One "who am I" request handed over as a forwarded request would be for --user; print
    /// what the product saw. Exit 0 when it saw that user.
    CheckUpstream {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// The user to hand over (optional in header and service_account mode).
        #[arg(long)]
        user: Option<String>,
    },
}

/// `authgate token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// The user the token acts as.
        #[arg(long)]
        user: String,
        /// A name, unique per user (default: token-<id>).
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 30d (default: tokens.default_expiry; at most tokens.max_expiry).
        #[arg(long = "expires-in")]
        expires_in: Option<String>,
        /// Only reads are allowed with this token.
        #[arg(long = "read-only")]
        read_only: bool,
        /// A group the token carries (repeat for several): with groups from the token
        /// claim, a token made here has only the groups named.
        #[arg(long = "group")]
        group: Vec<String>,
    },
    /// List tokens (never their secrets), revoked ones included.
    List {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        /// Config file.
        #[command(flatten)]
        config: ConfigArg,
        /// The token id (from `token list`).
        id: String,
    },
}

/// `authgate test-token`
#[derive(Debug, clap::Args)]
pub struct TestTokenArgs {
    /// Config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Method of the simulated request.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Path (and query) of the simulated request.
    #[arg(long, default_value = "/rest/api/2/myself")]
    pub path: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The token (or a whole `Authorization` value); `-` or nothing reads it from stdin.
    pub token: Option<String>,
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(c) => runtime().and_then(|rt| rt.block_on(crate::cmd::run(&c.config))),
        Command::CheckConfig(c) => crate::cmd::check_config(&c.config),
        Command::Demo { identity } => {
            runtime().and_then(|rt| rt.block_on(crate::cmd::demo(identity)))
        }
        Command::Token(t) => runtime().and_then(|rt| rt.block_on(token(t))),
        Command::TestToken(a) => runtime().and_then(|rt| {
            rt.block_on(crate::cmd::test_token(
                &a.config.config,
                a.token.as_deref(),
                &a.method,
                &a.path,
                a.json,
            ))
        }),
        Command::Audit { config, args } => {
            runtime().and_then(|rt| rt.block_on(crate::cmd::audit(&config.config, &args)))
        }
        Command::Migrate(c) => runtime().and_then(|rt| rt.block_on(crate::cmd::migrate(&c.config))),
        Command::Applink {
            config,
            generate_key,
            bits,
        } => crate::cmd::applink(&config.config, generate_key, bits),
        Command::CheckUpstream { config, user } => runtime().and_then(|rt| {
            rt.block_on(crate::cmd::check_upstream(&config.config, user.as_deref()))
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("authgate: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn token(t: TokenCommand) -> Result<ExitCode> {
    use crate::cmd::token;
    match t {
        TokenCommand::Create {
            config,
            user,
            name,
            expires_in,
            read_only,
            group,
        } => {
            let args = token::CreateArgs {
                user,
                name,
                expires_in,
                read_only,
                groups: group,
            };
            token::create(&config.config, args).await
        }
        TokenCommand::List { config, user } => token::list(&config.config, user.as_deref()).await,
        TokenCommand::Revoke { config, id } => token::revoke(&config.config, &id).await,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("AUTHGATE_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        b.worker_threads(n);
    }
    b.enable_all()
        .build()
        .context("cannot start the async runtime")
}
