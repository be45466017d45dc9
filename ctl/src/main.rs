//! `cartwright`: the operator's command line.

use anyhow::Context;
use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::queue::dead_letters::{self, Filter};
use cartwright_shared::{config::Config, db, demo, stripe_event_types};
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
    /// Dead letters: messages that failed for good, kept for ops.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Print the Stripe event types Cartwright acts on, comma-separated: the
    /// `enabled_events` to give its webhook endpoint in the Stripe Dashboard.
    StripeWebhookEvents,
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// List unresolved dead letters as JSON, newest first.
    List {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send one dead letter (--id) or all of a queue (--queue) back to its work queue.
    Replay {
        #[arg(long, conflicts_with = "queue", required_unless_present = "queue")]
        id: Option<i64>,
        #[arg(long)]
        queue: Option<String>,
    },
    /// Discard a dead letter (recorded in the ops audit).
    Discard {
        #[arg(long)]
        id: i64,
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
    if let Command::StripeWebhookEvents = cli.command {
        let events: Vec<&str> = stripe_event_types::handled().collect();
        println!("{}", events.join(","));
        return Ok(());
    }
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
        Command::DeadLetters(command) => dead_letter_command(&pool, command).await?,
        Command::StripeWebhookEvents => unreachable!("answered before connecting"),
    }
    Ok(())
}

async fn dead_letter_command(
    pool: &sqlx::PgPool,
    command: DeadLetterCommand,
) -> anyhow::Result<()> {
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    match command {
        DeadLetterCommand::List { queue, limit } => {
            let rows = dead_letters::list(
                pool,
                Filter {
                    queue: queue.as_deref(),
                    status: "dead",
                    before: None,
                    limit,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        DeadLetterCommand::Replay { id: Some(id), .. } => {
            dead_letters::replay(pool, id, &actor).await?;
            eprintln!("dead letter {id} replayed");
        }
        DeadLetterCommand::Replay {
            queue: Some(queue), ..
        } => {
            let n = dead_letters::replay_queue(pool, &queue, &actor).await?;
            eprintln!("{n} dead letters of {queue} replayed");
        }
        DeadLetterCommand::Replay { .. } => unreachable!("clap requires --id or --queue"),
        DeadLetterCommand::Discard { id } => {
            dead_letters::discard(pool, id, &actor).await?;
            eprintln!("dead letter {id} discarded");
        }
    }
    Ok(())
}
