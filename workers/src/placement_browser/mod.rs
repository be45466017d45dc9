//! The browser placement worker (queue `placement-browser`): buys an automated store's
//! order on the retailer's website with headless Chromium, following the store's
//! recipe (`stores/<store>.toml`). What it cannot do with certainty goes to the manual
//! queue with the reason. Never twice: the attempt is committed as `submitting` before
//! the final click, and an attempt found in that state is never clicked again; the
//! order goes to a person as `needs_verification` (docs/architecture.md).

pub mod attempts;
pub mod chromedriver;
pub mod config;
pub mod driver;
pub mod execute;
pub mod money_text;
mod outcome;
pub mod recipe;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{self, Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::status::order;
use serde::Deserialize;

use crate::context::WorkerContext;
use attempts::{OrderToPlace, Submit};
use chromedriver::Chromedriver;
pub use config::BrowserConfig;
use driver::{Pool, Stats};
use execute::{Evidence, Job, Placed, StepLog, Stop};
use recipe::Recipe;

/// Who the audit trail names for this worker's changes.
pub const ACTOR: &str = "system:browser";

#[derive(Debug, Deserialize)]
struct AutomatedPlacement {
    checkout_id: String,
    order_number: String,
    store_id: String,
}

#[derive(Clone)]
pub struct BrowserPlacement {
    inner: Arc<Inner>,
}

struct Inner {
    config: BrowserConfig,
    recipes: BTreeMap<String, Recipe>,
    pool: Pool,
    max_attempts: u32,
    _chromedriver: Option<Chromedriver>,
}

/// How one attempt ended, before it is written down.
enum Ending {
    Placed(Placed),
    Stopped(Stop),
    /// Not clicked, and the order left as it is: another attempt for it is at (or past)
    /// the final click, or it may no longer be bought (attempts::mark_submitting).
    Withdrawn(String),
}

impl BrowserPlacement {
    /// Loads and validates every recipe, and starts chromedriver unless
    /// `config.chromedriver_url` names one. `max_attempts` is the broker's (the last
    /// delivery sends a transient failure to the manual queue instead of retrying).
    pub async fn new(config: BrowserConfig, max_attempts: u32) -> anyhow::Result<Self> {
        let recipes = recipe::load_dir(&config.recipes_dir)?;
        let (url, chromedriver) = match &config.chromedriver_url {
            Some(url) => (url.clone(), None),
            None => {
                let driver =
                    Chromedriver::start(&config.chromedriver_binary, &config.run_dir).await?;
                (driver.url.clone(), Some(driver))
            }
        };
        let pool = Pool::new(url, &config);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                recipes,
                pool,
                max_attempts,
                _chromedriver: chromedriver,
            }),
        })
    }

    /// Closes the warm sessions; call after the consumer stopped.
    pub async fn close_sessions(&self) {
        self.inner.pool.close_idle().await;
    }

    /// Sessions in use per store (instrumentation for tests and metrics).
    pub fn stats(&self) -> Arc<Stats> {
        self.inner.pool.stats()
    }

    fn base_url(&self, recipe: &Recipe, order: &OrderToPlace) -> String {
        self.inner
            .config
            .store_urls
            .get(&order.store_id)
            .cloned()
            .or_else(|| order.website_url.clone())
            .unwrap_or_else(|| recipe.default_base_url.clone())
            .trim_end_matches('/')
            .to_owned()
    }

    async fn attempt(
        &self,
        db: &sqlx::PgPool,
        client: &fantoccini::Client,
        job: &Job<'_>,
        order: &str,
        attempt: i64,
    ) -> Ending {
        if let Err(stop) = execute::prepare(client, job).await {
            return Ending::Stopped(stop);
        }
        match attempts::mark_submitting(db, order, attempt).await {
            Ok(Submit::Go) => {}
            Ok(Submit::Withdraw(why)) => return Ending::Withdrawn(why),
            Err(err) => return Ending::Stopped(Stop::Transient(err.to_string())),
        }
        match execute::submit(client, job).await {
            Ok(placed) => Ending::Placed(placed),
            Err(stop) => Ending::Stopped(stop),
        }
    }
}

impl Handler for BrowserPlacement {
    fn queue(&self) -> WorkQueue {
        work_queues::placement_browser()
    }

    fn timeout(&self) -> Duration {
        self.inner.config.order_timeout + Duration::from_secs(30)
    }

    /// No more orders than there are browser sessions: an order waiting for a session
    /// inside a worker that dies is redelivered with one delivery used up (the broker
    /// dead-letters it after `x-delivery-limit`), though no one tried to buy it.
    fn prefetch(&self, default: u16) -> u16 {
        default.min(u16::try_from(self.inner.config.pool_size).unwrap_or(u16::MAX))
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let job: AutomatedPlacement = message
            .payload_as()
            .map_err(|e| HandlerError::Permanent(e.into()))?;
        let pool = ctx.pool().clone();
        let Some(order) = attempts::load_order(&pool, &job.order_number).await? else {
            return Err(HandlerError::Permanent(anyhow::anyhow!(
                "no order {}",
                job.order_number
            )));
        };
        if order.status != order::PLACING {
            tracing::info!(order = %order.number, status = %order.status, "not placing any more; nothing to do");
            return Ok(());
        }
        debug_assert_eq!(order.checkout_id, job.checkout_id);
        debug_assert_eq!(order.store_id, job.store_id);
        // Never twice: an attempt that reached the final click and recorded nothing.
        if let Some(attempt) = attempts::unresolved_submit(&pool, &order.number).await? {
            let detail = "an earlier attempt stopped after submitting the order";
            return self
                .resolve(
                    ctx,
                    &order,
                    attempt,
                    Ending::Stopped(Stop::Uncertain(detail.into())),
                    Evidence::default(),
                )
                .await;
        }
        if attempts::submitted_before(&pool, &order.number).await? {
            tracing::warn!(order = %order.number, "already submitted once; never again");
            return Ok(());
        }
        let Some(recipe) = self.inner.recipes.get(&order.store_id) else {
            let attempt = attempts::start(&pool, &order, message.id, message.attempt).await?;
            let stop = Stop::Refused {
                reason: "automation_failed",
                detail: format!("no recipe for store {}", order.store_id),
            };
            return self
                .resolve(
                    ctx,
                    &order,
                    attempt,
                    Ending::Stopped(stop),
                    Evidence::default(),
                )
                .await;
        };
        let attempt = attempts::start(&pool, &order, message.id, message.attempt).await?;
        tracing::info!(order = %order.number, delivery = message.attempt + 1, "placing the order");
        let base_url = self.base_url(recipe, &order);
        let run = Job {
            recipe,
            base_url: &base_url,
            lines: &order.lines,
            address: &order.address,
            currency: &order.currency,
            price_tolerance_bps: order.price_tolerance_bps,
            step_timeout: self.inner.config.step_timeout,
            log: StepLog::default(),
        };
        let lease = match self.inner.pool.acquire(&order.store_id).await {
            Ok(lease) => lease,
            Err(err) => {
                let stop = Stop::Transient(format!("no browser session: {err:#}"));
                return self
                    .retry_or_manual(ctx, message, &order, attempt, stop, Evidence::default())
                    .await;
            }
        };
        let client = lease.session.client.clone();
        let outcome = tokio::time::timeout(
            self.inner.config.order_timeout,
            self.attempt(&pool, &client, &run, &order.number, attempt),
        )
        .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => {
                let detail = format!(
                    "the order took longer than {:?}",
                    self.inner.config.order_timeout
                );
                if attempts::state(&pool, attempt).await? == "submitting" {
                    Ending::Stopped(Stop::Uncertain(detail))
                } else {
                    Ending::Stopped(Stop::Transient(detail))
                }
            }
        };
        let stage = if matches!(outcome, Ending::Placed(_)) {
            "confirmation"
        } else {
            "failure"
        };
        let dir = self.inner.config.evidence_dir.join(&order.number);
        let evidence = execute::keep_evidence(&client, &dir, attempt, stage, &run.log).await;
        self.inner
            .pool
            .release(&order.store_id, lease, matches!(outcome, Ending::Placed(_)))
            .await;
        match outcome {
            Ending::Stopped(stop @ Stop::Transient(_)) => {
                self.retry_or_manual(ctx, message, &order, attempt, stop, evidence)
                    .await
            }
            outcome => self.resolve(ctx, &order, attempt, outcome, evidence).await,
        }
    }
}

/// The worker: `cartwright-workers placement-browser`. A bad recipe or a missing
/// chromedriver stops the process at start with the reason.
pub async fn run(ctx: WorkerContext) {
    let started = async {
        let config = BrowserConfig::from_env()?;
        BrowserPlacement::new(config, ctx.config.broker.max_attempts)
            .await
            .context("starting the browser placement worker")
    };
    let worker = match started.await {
        Ok(worker) => worker,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "placement-browser cannot start");
            std::process::exit(2);
        }
    };
    // The first session starts while the consumer connects, not after the first order.
    let warming = worker.clone();
    tokio::spawn(async move {
        if let Err(err) = warming.inner.pool.warm_up().await {
            tracing::warn!(error = %format!("{err:#}"), "no browser session ahead of the first order");
        }
    });
    handler::run(
        worker.clone(),
        ctx.pool.clone(),
        &ctx.broker,
        ctx.topology.clone(),
        ctx.shutdown.clone(),
    )
    .await;
    worker.close_sessions().await;
}
