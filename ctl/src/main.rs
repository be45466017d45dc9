//! `cartwright`: the operator's command line.

use anyhow::Context;
use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::{config::Config, db, demo};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "cartwright",
    version,
    about = "Operate Cartwright: migrations, demo data, API keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (the API and workers also do this at start).
    Migrate,
    /// Load the demo stores and catalog (idempotent; never resets existing stock).
    SeedDemo,
    /// Create an API key and print it. It is shown only this once.
    CreateKey {
        /// Who the key belongs to: a storefront's name, or an ops user.
        #[arg(long)]
        principal: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Storefront,
    Ops,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    let pool = db::connect(&config.database)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    match cli.command {
        Command::Migrate => {
            db::migrate(&pool).await?;
            eprintln!("migrations applied");
        }
        Command::SeedDemo => {
            db::migrate(&pool).await?;
            demo::seed(&pool).await?;
            eprintln!(
                "demo catalog loaded: {} stores, {} SKUs",
                demo::STORES.len(),
                demo::SKUS.len()
            );
        }
        Command::CreateKey { principal, role } => {
            let role = match role {
                RoleArg::Storefront => Role::Storefront,
                RoleArg::Ops => Role::Ops,
            };
            let key = api_keys::create(&pool, &principal, role).await?;
            // The key on stdout alone, so scripts can capture it.
            println!("{key}");
        }
    }
    Ok(())
}
