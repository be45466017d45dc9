//! Reads the result files the bench programs wrote and prints one table; writes the
//! same table as a markdown fragment (pasted into BENCHMARKS.md) and PNG plots.
//!
//!   report show --results bench/results --plots docs/bench
//!   report pgbench --results bench/results --clients 8 --connections 8 --seconds 10 pgbench_log.*
//!
//! `pgbench` turns the per-transaction logs of one pgbench run (`pgbench -l`) into a
//! level of `pgbench.json`, so the database ceiling has the same percentiles as intake.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cartwright_bench::results::{
    self, Browser, Consumers, EndToEnd, Level, Levels, Pipeline, Recovery, Stripe,
};
use clap::{Parser, Subcommand};

use cartwright_bench::plots::{browser_plot, latency_plot, runtime_plot, throughput_plot};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the table; write `results.md` and the plots.
    Show {
        #[arg(long, default_value = "bench/results")]
        results: PathBuf,
        /// Where the PNG plots go.
        #[arg(long, default_value = "bench/results")]
        plots: PathBuf,
        /// A TrueType font for the plots' text.
        #[arg(
            long,
            env = "BENCH_FONT",
            default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
        )]
        font: PathBuf,
    },
    /// Add one level to `pgbench.json` from pgbench's per-transaction logs.
    Pgbench {
        #[arg(long, default_value = "bench/results")]
        results: PathBuf,
        /// The intake concurrency this level stands for.
        #[arg(long)]
        clients: usize,
        /// pgbench's own clients (-c), each one connection.
        #[arg(long)]
        connections: usize,
        /// The run's length (pgbench -T).
        #[arg(long)]
        seconds: f64,
        /// Transactions that failed (from pgbench's summary).
        #[arg(long, default_value_t = 0)]
        failed: usize,
        logs: Vec<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Show {
            results,
            plots,
            font,
        } => show(&results, &plots, &font),
        Command::Pgbench {
            results,
            clients,
            connections,
            seconds,
            failed,
            logs,
        } => pgbench(&results, (clients, connections), seconds, failed, &logs),
    }
}

fn pgbench(
    dir: &Path,
    (clients, connections): (usize, usize),
    seconds: f64,
    failed: usize,
    logs: &[PathBuf],
) -> anyhow::Result<()> {
    // Log lines: client_id transaction_no time_us script_no epoch epoch_us.
    let mut ms = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).with_context(|| log.display().to_string())?;
        for line in text.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|t| t.parse::<f64>().ok())
            {
                ms.push(us / 1000.0);
            }
        }
    }
    ms.sort_unstable_by(f64::total_cmp);
    let level = Level {
        clients,
        connections: (connections < clients).then_some(connections),
        accepted: ms.len(),
        errors: failed,
        per_second: ms.len() as f64 / seconds,
        p50_ms: results::quantile(&ms, 0.50),
        p99_ms: results::quantile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or_default(),
    };
    let mut levels = results::read::<Levels>(dir, "pgbench")?.unwrap_or(Levels { levels: vec![] });
    levels.levels.retain(|l| l.clients != clients);
    levels.levels.push(level);
    levels.levels.sort_by_key(|l| l.clients);
    results::write(dir, "pgbench", &levels)
}

struct Found {
    intake: Option<Levels>,
    pgbench: Option<Levels>,
    runtime: Option<Consumers>,
    celery: Option<Consumers>,
    e2e: Option<EndToEnd>,
    stripe: Option<Stripe>,
    browser: Option<Browser>,
    recovery: Option<Recovery>,
    pipeline: Option<Pipeline>,
}

fn show(dir: &Path, plots: &Path, font: &Path) -> anyhow::Result<()> {
    let found = Found {
        intake: results::read(dir, "intake")?,
        pgbench: results::read(dir, "pgbench")?,
        runtime: results::read(dir, "runtime")?,
        celery: results::read(dir, "celery")?,
        e2e: results::read(dir, "e2e")?,
        stripe: results::read(dir, "stripe")?,
        browser: results::read(dir, "browser")?,
        recovery: results::read(dir, "recovery")?,
        pipeline: results::read(dir, "pipeline")?,
    };
    let markdown = markdown(&found);
    print!("{markdown}");
    std::fs::write(dir.join("results.md"), &markdown)?;

    let bytes = std::fs::read(font).with_context(|| {
        format!(
            "font {} (apt install fonts-dejavu-core, or set BENCH_FONT)",
            font.display()
        )
    })?;
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        bytes.leak(),
    )
    .map_err(|_| anyhow::anyhow!("{} is not a usable font", font.display()))?;
    std::fs::create_dir_all(plots)?;
    let mut written = Vec::new();
    let intake_series: Vec<(&str, &[Level])> = [
        ("intake API", found.intake.as_ref()),
        ("pgbench, same statements", found.pgbench.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, l)| l.map(|l| (name, l.levels.as_slice())))
    .collect();
    if !intake_series.is_empty() {
        written.push(throughput_plot(plots, &intake_series)?);
        written.push(latency_plot(plots, &intake_series)?);
    }
    let consumers = consumers_by_prefetch(found.runtime.as_ref(), found.celery.as_ref());
    if !consumers.is_empty() {
        written.push(runtime_plot(plots, &consumers)?);
    }
    if let Some(browser) = &found.browser {
        written.push(browser_plot(plots, browser)?);
    }
    for file in written {
        println!("plot: {}", file.display());
    }
    println!("table: {}", dir.join("results.md").display());
    Ok(())
}

fn markdown(f: &Found) -> String {
    let mut md = String::new();
    let mut line = |s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    if f.intake.is_some() || f.pgbench.is_some() {
        line("### Intake against the database's ceiling\n".into());
        line(
            "| load | clients | accepted | errors | per second | p50 ms | p99 ms | max ms |".into(),
        );
        line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
        for (name, levels) in [
            ("intake API (checkouts)", &f.intake),
            ("pgbench (transactions)", &f.pgbench),
        ] {
            for l in levels.iter().flat_map(|l| &l.levels) {
                let clients = match l.connections {
                    Some(c) => format!("{} ({c} connections)", l.clients),
                    None => l.clients.to_string(),
                };
                line(format!(
                    "| {name} | {clients} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
                    l.accepted, l.errors, l.per_second, l.p50_ms, l.p99_ms, l.max_ms
                ));
            }
        }
        line(String::new());
    }
    let consumers = consumers_by_prefetch(f.runtime.as_ref(), f.celery.as_ref());
    if !consumers.is_empty() {
        line("### Consumer runtime, no-op handler\n".into());
        line(
            "| consumer | messages | prefetch | messages/s | inbox statements per message | mean statement ms |"
                .into(),
        );
        line("|---|---:|---:|---:|---:|---:|".into());
        for c in consumers {
            let (per_message, mean_ms) = c
                .inbox
                .as_ref()
                .map_or((String::new(), String::new()), |i| {
                    (format!("{:.2}", i.per_message), format!("{:.2}", i.mean_ms))
                });
            line(format!(
                "| {} | {} | {} | {:.0} | {per_message} | {mean_ms} |",
                c.consumer, c.messages, c.prefetch, c.per_second
            ));
        }
        line(String::new());
    }
    if f.e2e.is_some() || f.stripe.is_some() {
        line("### End to end\n".into());
        line("| measure | count | seconds | per second |".into());
        line("|---|---:|---:|---:|".into());
        if let Some(e) = &f.e2e {
            let rate = |s: f64| e.checkouts as f64 / s;
            line(format!(
                "| checkouts accepted | {} | {:.1} | {:.1} |",
                e.checkouts,
                e.submit_seconds,
                rate(e.submit_seconds)
            ));
            line(format!(
                "| checkouts with every order routed | {} | {:.1} | {:.2} |",
                e.checkouts,
                e.routed_seconds,
                rate(e.routed_seconds)
            ));
            line(format!(
                "| checkouts captured (orders bought by the browser worker) | {} | {:.1} | {:.2} |",
                e.checkouts,
                e.captured_seconds,
                rate(e.captured_seconds)
            ));
        }
        if let Some(s) = &f.stripe {
            line(format!(
                "| Stripe emulator alone: authorize + capture, {} at once | {} | {:.1} | {:.1} |",
                s.concurrency,
                s.payments,
                s.seconds,
                s.payments as f64 / s.seconds
            ));
        }
        line(String::new());
        if let Some(e) = &f.e2e {
            line("### Memory (VmRSS)\n".into());
            line("| process | idle MiB | peak under the end-to-end load MiB |".into());
            line("|---|---:|---:|".into());
            for m in &e.memory {
                line(format!(
                    "| {} | {:.1} | {:.1} |",
                    m.process,
                    m.idle_kib as f64 / 1024.0,
                    m.peak_kib as f64 / 1024.0
                ));
            }
            line(String::new());
        }
    }
    if let Some(b) = &f.browser {
        line("### Browser placement\n".into());
        line(format!(
            "One warm session, one order at a time: {:.2} s per order.\n",
            b.warm_seconds_per_order
        ));
        line("| pool size | orders | s per order | orders per minute |".into());
        line("|---:|---:|---:|---:|".into());
        for l in &b.levels {
            line(format!(
                "| {} | {} | {:.2} | {:.1} |",
                l.pool, l.orders, l.seconds_per_order, l.orders_per_minute
            ));
        }
        line(String::new());
    }
    if let Some(p) = &f.pipeline {
        pipeline_table(p, &mut line);
    }
    if let Some(r) = &f.recovery {
        line("### Recovery after a broker outage\n".into());
        line(
            "| backlog (messages) | first handled after s | drained after s | messages/s |".into(),
        );
        line("|---:|---:|---:|---:|".into());
        line(format!(
            "| {} | {:.1} | {:.1} | {:.0} |",
            r.messages,
            r.reconnect_seconds,
            r.drain_seconds,
            r.messages as f64 / r.drain_seconds
        ));
        line(String::new());
    }
    md
}

/// The whole system at sustained load: routed checkouts per second against the reference
/// transaction, and what one checkout cost the shared parts.
fn pipeline_table(p: &Pipeline, line: &mut impl FnMut(String)) {
    line("### The whole pipeline, sustained\n".into());
    if let Some(reference) = p.reference_per_second {
        line(format!(
            "Reference transaction (`run_reference.sh`, 8 clients), same run: {reference:.0} tx/s.\n"
        ));
    }
    line(
        "| run | clients | SKUs | intake /s | intake p99 ms | routed /s | vs reference | whole run /s | vs reference | PostgreSQL CPU ms | RabbitMQ CPU ms | transactions | statements | rows read | messages |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    for r in &p.runs {
        let ratio = |rate: f64| {
            p.reference_per_second
                .map_or_else(String::new, |t| format!("{:.2}x", rate / t))
        };
        let whole = r.whole_run_per_second();
        let (ratio, whole_ratio) = (ratio(r.routed_per_second), ratio(whole));
        let statements = r
            .statements
            .map_or_else(|| "n/a".into(), |s| format!("{s:.1}"));
        line(format!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {ratio} | {whole:.0} | {whole_ratio} | {:.2} | {:.2} | {:.1} | {statements} | {:.0} | {:.1} |",
            r.label,
            r.clients,
            r.skus,
            r.intake_per_second,
            r.intake_p99_ms,
            r.routed_per_second,
            r.postgres_cpu_ms,
            r.rabbitmq_cpu_ms,
            r.transactions,
            r.rows_read,
            r.messages
        ));
    }
    line("\nRouted /s counts the window alone, where intake takes CPU from routing; whole run /s is every checkout of the window over the time until the last was routed. Per-checkout columns are per accepted checkout, from the window's start until all of it was routed.\n".into());
}

/// Every consumer's drain, the lowest prefetch first, in the order measured within one.
fn consumers_by_prefetch<'a>(
    runtime: Option<&'a Consumers>,
    celery: Option<&'a Consumers>,
) -> Vec<&'a results::Consumer> {
    let mut consumers: Vec<&results::Consumer> = [runtime, celery]
        .into_iter()
        .flatten()
        .flat_map(|c| &c.consumers)
        .collect();
    consumers.sort_by_key(|c| c.prefetch);
    consumers
}
