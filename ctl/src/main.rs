//! `cartwright`: the operator's command line.

use anyhow::Context;
use cartwright_shared::api_keys::{self, KeyListing, Revoked, Role};
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
    /// List API keys (never the keys themselves): id, prefix, principal, role, created,
    /// last used (to the minute), revoked.
    ListKeys {
        /// Only this principal's keys.
        #[arg(long)]
        principal: Option<String>,
        /// As JSON, one array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key by its id (from list-keys). The API stops taking it within a
    /// few seconds; the revocation is in the ops audit.
    RevokeKey {
        #[arg(long)]
        id: uuid::Uuid,
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
        Command::ListKeys { principal, json } => {
            let keys = api_keys::list(&pool, principal.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                print_keys(&keys);
            }
        }
        Command::RevokeKey { id } => match api_keys::revoke(&pool, id, &cli_actor()).await? {
            Revoked::Now => eprintln!("key {id} revoked"),
            Revoked::Already(at) => eprintln!("key {id} was already revoked at {at}"),
            Revoked::NoSuchKey => anyhow::bail!("no key {id} (cartwright list-keys shows them)"),
        },
        Command::DeadLetters(command) => dead_letter_command(&pool, command).await?,
        Command::StripeWebhookEvents => unreachable!("answered before connecting"),
    }
    Ok(())
}

async fn dead_letter_command(
    pool: &sqlx::PgPool,
    command: DeadLetterCommand,
) -> anyhow::Result<()> {
    let actor = cli_actor();
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

/// Who a change made here is attributed to in the ops audit.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn print_keys(keys: &[KeyListing]) {
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    println!(
        "{:<36}  {:<11}  {:<24}  {:<10}  {:<16}  {:<16}  revoked",
        "id", "prefix", "principal", "role", "created", "last used"
    );
    for k in keys {
        println!(
            "{:<36}  {:<11}  {:<24}  {:<10}  {:<16}  {:<16}  {}",
            k.id,
            k.prefix,
            k.principal,
            k.role,
            when(Some(k.created_at)),
            when(k.last_used_at),
            when(k.revoked_at)
        );
    }
}
