//! `drill`: runs the fault drill and prints its table; exits 1 when an invariant broke.

use std::path::PathBuf;
use std::time::Duration;

use cartwright_drill::DrillOptions;
use clap::Parser;

/// Submits checkouts to a private Cartwright while killing and restarting its parts,
/// then checks that nothing was lost, charged twice, bought twice or mailed twice.
#[derive(Parser)]
#[command(name = "drill")]
struct Cli {
    /// How many checkouts to submit.
    #[arg(long, default_value_t = 1000)]
    checkouts: usize,
    /// Seed of the load mix and the fault schedule (random when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds the load and the fault script last (default: 40 + checkouts / 4).
    #[arg(long)]
    duration: Option<u64>,
    /// Where the processes' logs go (default: a folder in the temp dir named by the seed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(rand::random);
    let mut options = DrillOptions::new(cli.checkouts, seed);
    if let Some(secs) = cli.duration {
        options.duration = Duration::from_secs(secs);
    }
    if let Some(dir) = cli.work_dir {
        options.work_dir = dir;
    }
    eprintln!(
        "drill: {} checkouts, seed {seed}, logs in {}",
        options.checkouts,
        options.work_dir.display()
    );
    // Ctrl-C or SIGTERM drops the run, and with it every process the drill started.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let report = tokio::select! {
        report = cartwright_drill::run(options) => report?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        _ = term.recv() => anyhow::bail!("terminated"),
    };
    println!("{report}");
    if !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}
