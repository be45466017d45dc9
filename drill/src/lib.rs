//! The fault drill (docs/reliability.md): a private Cartwright takes a seeded load of
//! checkouts while a fault script kills and restarts its parts; once it is quiet, the
//! invariants of the design brief are checked from the database, the Stripe emulator's
//! ledger, the retailer's order log and the SMTP server's mailbox.

mod checks;
mod faults;
mod load;
mod postgres;
mod stack;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::load::{Intake, Ops, OpsLog};
use crate::stack::Stack;

/// How long a stock hold lasts in the drill: abandoned 3-D Secure checkouts expire
/// within the run.
pub const RESERVATION_TTL_SECS: u64 = 180;

#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub checkouts: usize,
    pub seed: u64,
    /// How long the load (and the fault script) lasts.
    pub duration: Duration,
    /// How long to wait for every checkout to become final after the load.
    pub quiet_timeout: Duration,
    /// Where logs go; kept after the run.
    pub work_dir: PathBuf,
}

impl DrillOptions {
    pub fn new(checkouts: usize, seed: u64) -> Self {
        Self {
            checkouts,
            seed,
            duration: Duration::from_secs(40 + checkouts as u64 / 4),
            quiet_timeout: Duration::from_secs(300 + checkouts as u64 * 3 / 2),
            work_dir: std::env::temp_dir().join(format!("cartwright-drill-{seed}")),
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub submitted: usize,
    pub accepted: usize,
    pub out_of_stock: usize,
    pub refused: Vec<String>,
    pub gave_up: usize,
    pub lost: Vec<String>,
    pub missing_rows: usize,
    /// Accepted checkouts by payment scenario.
    pub payments_planned: BTreeMap<&'static str, usize>,
    pub checkouts_by_status: BTreeMap<String, usize>,
    pub orders_by_status: BTreeMap<String, usize>,
    pub payment_intents: usize,
    pub captured_total: i64,
    pub bought_total: i64,
    pub charged_twice: Vec<String>,
    pub overcharged: Vec<String>,
    pub undercharged: Vec<String>,
    pub authorizations_open: usize,
    pub retailer_orders: usize,
    pub retailer_twice: Vec<String>,
    pub retailer_unrecorded: Vec<String>,
    pub emails: usize,
    pub duplicate_emails: usize,
    pub emails_not_sent: BTreeMap<String, usize>,
    pub stuck: u64,
    pub dead_letters: Vec<(String, String, usize)>,
    pub stock_mismatch: Vec<String>,
    pub ops: OpsLog,
    pub faults: Vec<String>,
    pub crashed: Vec<String>,
    pub load_secs: f64,
    pub quiet_secs: f64,
}

impl Report {
    /// Every must-be-zero column, by name.
    pub fn violations(&self) -> Vec<(&'static str, usize)> {
        [
            ("accepted but not final (lost)", self.lost.len()),
            ("accepted but no row", self.missing_rows),
            ("checkouts captured twice", self.charged_twice.len()),
            ("charged more than bought", self.overcharged.len()),
            ("bought but not charged", self.undercharged.len()),
            ("authorizations left open", self.authorizations_open),
            ("retailer order twice", self.retailer_twice.len()),
            (
                "retailer order not recorded",
                self.retailer_unrecorded.len(),
            ),
            ("duplicate emails", self.duplicate_emails),
            ("messages stuck outside a DLQ", self.stuck as usize),
            ("stock mismatches", self.stock_mismatch.len()),
            ("processes that crashed", self.crashed.len()),
        ]
        .into_iter()
        .collect()
    }

    pub fn is_clean(&self) -> bool {
        self.violations().iter().all(|(_, n)| *n == 0)
    }
}

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Fault drill, seed {} (repeat with --seed {0})",
            self.seed
        )?;
        writeln!(
            f,
            "load {:.0} s, then quiet after {:.0} s\n",
            self.load_secs, self.quiet_secs
        )?;
        writeln!(f, "Faults injected:")?;
        for fault in &self.faults {
            writeln!(f, "  {fault}")?;
        }
        let row =
            |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "| {k:<52} | {v:>12} |");
        writeln!(f, "\n| {:<52} | {:>12} |", "count", "value")?;
        writeln!(f, "|{:-<54}|{:->14}|", "", "")?;
        row(f, "checkouts submitted", self.submitted.to_string())?;
        row(f, "accepted (202)", self.accepted.to_string())?;
        row(
            f,
            "refused 409 insufficient_stock",
            self.out_of_stock.to_string(),
        )?;
        row(f, "refused otherwise", self.refused.len().to_string())?;
        row(f, "no answer within 120 s", self.gave_up.to_string())?;
        for (payment, n) in &self.payments_planned {
            row(f, &format!("accepted, paid with: {payment}"), n.to_string())?;
        }
        for (status, n) in &self.checkouts_by_status {
            row(f, &format!("checkouts {status}"), n.to_string())?;
        }
        for (status, n) in &self.orders_by_status {
            row(f, &format!("orders {status}"), n.to_string())?;
        }
        for (decision, n) in &self.ops {
            row(f, &format!("ops: {decision}"), n.to_string())?;
        }
        row(f, "Stripe PaymentIntents", self.payment_intents.to_string())?;
        row(f, "captured (ledger), USD", money(self.captured_total))?;
        row(f, "bought orders' totals, USD", money(self.bought_total))?;
        row(
            f,
            "retailer orders (order log)",
            self.retailer_orders.to_string(),
        )?;
        row(f, "emails received (mailbox)", self.emails.to_string())?;
        for (state, n) in &self.emails_not_sent {
            row(f, &format!("emails not sent ({state})"), n.to_string())?;
        }
        let dead: usize = self.dead_letters.iter().map(|(_, _, n)| n).sum();
        row(f, "dead letters (with their error)", dead.to_string())?;
        for (name, n) in self.violations() {
            row(f, &format!("**{name}**"), n.to_string())?;
        }
        if !self.dead_letters.is_empty() {
            writeln!(f, "\nDead letters:")?;
            for (queue, error, n) in &self.dead_letters {
                writeln!(f, "  {n:>4} × {queue}: {error}")?;
            }
        }
        let details: [(&str, &Vec<String>); 9] = [
            ("refused", &self.refused),
            ("lost", &self.lost),
            ("captured twice", &self.charged_twice),
            ("charged more than bought", &self.overcharged),
            ("bought but not charged", &self.undercharged),
            ("retailer order twice", &self.retailer_twice),
            ("retailer order not recorded", &self.retailer_unrecorded),
            ("stock", &self.stock_mismatch),
            ("crashed", &self.crashed),
        ];
        for (what, list) in details {
            if !list.is_empty() {
                writeln!(f, "\n{what} ({}):", list.len())?;
                for item in list.iter().take(20) {
                    writeln!(f, "  {item}")?;
                }
            }
        }
        Ok(())
    }
}

/// Messages waiting in any work or delay queue, and dead letters not yet archived.
async fn queued(url: &str) -> anyhow::Result<u64> {
    let connection =
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let config = cartwright_shared::config::Config::from_lookup(|name| match name {
        "AMQP_PREFIX" => Some(stack::PREFIX.to_owned()),
        "RETRY_DELAYS_SECS" => Some("1,2,4,8".to_owned()),
        _ => None,
    })?;
    let topology = cartwright_shared::queue::topology::Topology::new(&config.broker);
    let mut total = 0u64;
    for queue in cartwright_shared::queue::work_queues::all() {
        let mut names = vec![topology.work(&queue.name), topology.dead(&queue.name)];
        names.extend((0..topology.delay_levels).map(|l| topology.delay(&queue.name, l)));
        for name in names {
            total += u64::from(cartwright_testkit::broker::queue_len(&connection, &name).await);
        }
    }
    let _ = connection.close(200, "drill done".into()).await;
    Ok(total)
}

async fn get_json(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}

/// Runs the whole drill and returns its report; the stack is stopped before returning.
pub async fn run(options: DrillOptions) -> anyhow::Result<Report> {
    let _ = std::fs::remove_dir_all(&options.work_dir);
    std::fs::create_dir_all(&options.work_dir)?;
    let mut stack = Stack::start(&options.work_dir)
        .await
        .context("starting the drill's private system")?;

    let mut start_stock: BTreeMap<String, i32> = cartwright_shared::demo::SKUS
        .iter()
        .map(|(sku, ..)| ((*sku).to_owned(), load::PLENTY))
        .collect();
    for (sku, units) in load::SCARCE {
        start_stock.insert((*sku).to_owned(), *units);
    }
    stack.set_stock(&start_stock).await?;
    let client = reqwest::Client::new();
    for (store, sku, scenario) in load::RETAILER_SCENARIOS {
        client
            .post(format!("{}/_admin/scenarios", stack.retailer_url))
            .json(&json!({"store": store, "sku": sku, "scenario": scenario}))
            .send()
            .await?
            .error_for_status()?;
    }

    let plans = Arc::new(load::plans(options.seed, options.checkouts));
    let intake = Arc::new(Mutex::new(Intake::default()));
    let ops_log = Arc::new(Mutex::new(OpsLog::new()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let began = Instant::now();
    let storefront = tokio::spawn(load::storefront(
        stack.api_url.clone(),
        stack.storefront_key.clone(),
        plans.clone(),
        options.duration,
        intake.clone(),
    ));
    let customers = tokio::spawn(load::customers(
        stack.pool.clone(),
        stack.emulator_url.clone(),
        plans.clone(),
        intake.clone(),
        stopped.clone(),
    ));
    let ops = tokio::spawn(
        Ops {
            api: stack.api_url.clone(),
            key: stack.ops_key.clone(),
            retailer: stack.retailer_url.clone(),
            plans: plans.clone(),
            intake: intake.clone(),
            log: ops_log.clone(),
        }
        .run(stopped),
    );
    let faults = faults::run(
        &mut stack,
        options.seed,
        options.duration,
        options.checkouts,
    )
    .await;
    storefront.await?;
    let load_secs = began.elapsed().as_secs_f64();

    // Quiet: every accepted checkout final, the outbox and the queues empty.
    let deadline = Instant::now() + options.quiet_timeout;
    let accepted: Vec<String> = intake
        .lock()
        .expect("intake lock")
        .accepted
        .keys()
        .cloned()
        .collect();
    let rabbit_url = stack.rabbit.url();
    loop {
        let open = checks::not_final(&stack.pool, &accepted)
            .await
            .map_or(usize::MAX, |v| v.len());
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&stack.pool)
                .await
                .unwrap_or(i64::MAX);
        let in_queues = queued(&rabbit_url).await.unwrap_or(u64::MAX);
        if open == 0 && unpublished == 0 && in_queues == 0 {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let quiet_secs = began.elapsed().as_secs_f64() - load_secs;
    let _ = stop.send(true);
    let _ = customers.await;
    let _ = ops.await;

    let intake = std::mem::take(&mut *intake.lock().expect("intake lock"));
    let mut report = Report {
        seed: options.seed,
        submitted: options.checkouts,
        faults,
        load_secs,
        quiet_secs,
        ops: std::mem::take(&mut *ops_log.lock().expect("ops log")),
        crashed: stack.crashed(),
        ..Report::default()
    };
    let sources = checks::Sources {
        pool: &stack.pool,
        ledger: get_json(&format!("{}/_emulator/ledger", stack.emulator_url)).await?,
        retailer_orders: get_json(&format!("{}/_admin/orders", stack.retailer_url)).await?,
        mail: cartwright_testkit::smtp::read_eml_dir(&stack.mail_dir),
        queued: queued(&rabbit_url).await?,
        start_stock: &start_stock,
        intake: &intake,
        plans: &plans,
    };
    checks::check(sources, &mut report).await?;
    Ok(report)
}
