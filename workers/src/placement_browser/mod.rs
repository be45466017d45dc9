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
pub mod recipe;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cartwright_shared::outbox;
use cartwright_shared::placement::tolerance;
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{self, Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::status::{self, Transition, order};
use serde::{Deserialize, Serialize};

use crate::context::WorkerContext;
use attempts::{Finish, OrderToPlace, Submit};
use chromedriver::Chromedriver;
pub use config::BrowserConfig;
use driver::{Pool, Stats};
use execute::{Evidence, Job, Placed, Stop};
use recipe::Recipe;

/// Who the audit trail names for this worker's changes.
pub const ACTOR: &str = "system:browser";

#[derive(Debug, Deserialize)]
struct AutomatedPlacement {
    checkout_id: String,
    order_number: String,
    store_id: String,
}

#[derive(Serialize)]
struct ManualPlacement<'a> {
    checkout_id: &'a str,
    order_number: &'a str,
    store_id: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct OrderPlaced<'a> {
    checkout_id: &'a str,
    order_number: &'a str,
    store_id: &'a str,
    store_order_number: &'a str,
    total_paid: i64,
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
            price_tolerance_bps: order.price_tolerance_bps,
            step_timeout: self.inner.config.step_timeout,
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
        let evidence = execute::keep_evidence(&client, &dir, attempt, stage).await;
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

impl BrowserPlacement {
    /// A failure before the final click: another delivery later, or, on the last one,
    /// the manual queue.
    async fn retry_or_manual(
        &self,
        ctx: &mut Context,
        message: &Envelope,
        order: &OrderToPlace,
        attempt: i64,
        stop: Stop,
        evidence: Evidence,
    ) -> Result<(), HandlerError> {
        let Stop::Transient(error) = &stop else {
            return self
                .resolve(ctx, order, attempt, Ending::Stopped(stop), evidence)
                .await;
        };
        if message.attempt + 1 < self.inner.max_attempts {
            let mut conn = ctx.pool().acquire().await?;
            attempts::finish(
                &mut conn,
                attempt,
                Finish {
                    state: "abandoned",
                    reason: None,
                    error: Some(error),
                    store_order_number: None,
                    store_total: None,
                    evidence: &evidence,
                },
            )
            .await?;
            return Err(HandlerError::Transient(anyhow::anyhow!("{error}")));
        }
        let stop = Stop::Refused {
            reason: "automation_failed",
            detail: format!("{} tries failed; the last: {error}", message.attempt + 1),
        };
        self.resolve(ctx, order, attempt, Ending::Stopped(stop), evidence)
            .await
    }

    /// Writes the attempt's end, the order's new status, its audit row and the event,
    /// in one transaction.
    async fn resolve(
        &self,
        ctx: &mut Context,
        order: &OrderToPlace,
        attempt: i64,
        outcome: Ending,
        evidence: Evidence,
    ) -> Result<(), HandlerError> {
        let mut tx = ctx.begin().await?;
        // The order's row first, then the attempt's: the capture-deadline guard takes
        // them in that order too, so the two never deadlock.
        sqlx::query("SELECT 1 FROM orders WHERE number = $1 FOR UPDATE")
            .bind(&order.number)
            .execute(&mut *tx)
            .await?;
        let (state, to, reason, error, placed) = match &outcome {
            Ending::Placed(placed) => ("placed", order::PLACED, None, None, Some(placed)),
            Ending::Withdrawn(why) => {
                tracing::info!(order = %order.number, why = %why, "not clicking the final button");
                attempts::finish(
                    &mut tx,
                    attempt,
                    Finish {
                        state: "abandoned",
                        reason: None,
                        error: Some(why),
                        store_order_number: None,
                        store_total: None,
                        evidence: &evidence,
                    },
                )
                .await?;
                ctx.commit(tx).await?;
                return Ok(());
            }
            Ending::Stopped(Stop::Uncertain(detail)) => (
                "needs_verification",
                order::NEEDS_VERIFICATION,
                Some("needs_verification"),
                Some(detail.as_str()),
                None,
            ),
            Ending::Stopped(Stop::Refused { reason, detail }) => (
                "abandoned",
                order::AWAITING_MANUAL,
                Some(*reason),
                Some(detail.as_str()),
                None,
            ),
            Ending::Stopped(Stop::Transient(detail)) => (
                "abandoned",
                order::AWAITING_MANUAL,
                Some("automation_failed"),
                Some(detail.as_str()),
                None,
            ),
        };
        attempts::finish(
            &mut tx,
            attempt,
            Finish {
                state,
                reason,
                error,
                store_order_number: placed.map(|p| p.store_order_number.as_str()),
                store_total: placed.map(|p| p.total),
                evidence: &evidence,
            },
        )
        .await?;
        let moved = sqlx::query(
            "UPDATE orders SET status = $2, store_order_number = COALESCE($3, store_order_number),
                    updated_at = now()
             WHERE number = $1 AND status = $4",
        )
        .bind(&order.number)
        .bind(to)
        .bind(placed.map(|p| p.store_order_number.as_str()))
        .bind(order::PLACING)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 1 {
            status::record(
                &mut tx,
                Transition {
                    checkout_id: &order.checkout_id,
                    order_number: Some(&order.number),
                    from: Some(order::PLACING),
                    to,
                    actor: ACTOR,
                    reason: reason.or(Some("placed by the browser worker")),
                },
            )
            .await?;
            match placed {
                Some(p) => {
                    tolerance::record_total_paid(
                        &mut tx,
                        &order.checkout_id,
                        &order.number,
                        p.total,
                        ACTOR,
                    )
                    .await?;
                    outbox::enqueue(
                        &mut tx,
                        "order.placed",
                        &order.checkout_id,
                        &OrderPlaced {
                            checkout_id: &order.checkout_id,
                            order_number: &order.number,
                            store_id: &order.store_id,
                            store_order_number: &p.store_order_number,
                            total_paid: p.total,
                        },
                    )
                    .await?;
                }
                None => {
                    outbox::enqueue(
                        &mut tx,
                        "order.manual_placement",
                        &order.checkout_id,
                        &ManualPlacement {
                            checkout_id: &order.checkout_id,
                            order_number: &order.number,
                            store_id: &order.store_id,
                            reason: reason.unwrap_or("automation_failed"),
                        },
                    )
                    .await?;
                }
            }
        } else {
            tracing::warn!(order = %order.number, "the order left `placing` meanwhile; attempt recorded only");
        }
        ctx.commit(tx).await?;
        tracing::info!(order = %order.number, outcome = state, reason = ?reason, "automated placement finished");
        Ok(())
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
        &ctx.config.broker,
        ctx.topology.clone(),
        ctx.shutdown.clone(),
    )
    .await;
    worker.close_sessions().await;
}
