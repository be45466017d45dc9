//! The fault script: a seeded schedule over the load's duration. Worker processes are
//! SIGKILLed at random moments (and started again); the API is killed and restarted;
//! RabbitMQ is stopped and started once; PostgreSQL is restarted once; the Stripe
//! emulator answers 500, then 429, then slowly, and loses a few answers; the SMTP
//! server refuses mail for a while.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::time::Instant;

use crate::stack::{ROLES, Stack};

#[derive(Clone, Debug)]
enum Fault {
    KillWorker(&'static str),
    RestartApi,
    RabbitDown,
    PostgresRestart,
    StripeErrors,
    StripeLostResponses,
    SmtpRefuses,
}

/// Seconds each window lasts.
const WINDOW: Duration = Duration::from_secs(8);

fn schedule(seed: u64, over: Duration, checkouts: usize) -> Vec<(Duration, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xfa17);
    let at = |rng: &mut StdRng, from: f64, to: f64| over.mul_f64(rng.random_range(from..to));
    // The one-off faults each get their own slice of the run so they do not overlap.
    let mut plan = vec![
        (at(&mut rng, 0.05, 0.15), Fault::StripeErrors),
        (at(&mut rng, 0.20, 0.30), Fault::RestartApi),
        (at(&mut rng, 0.32, 0.42), Fault::RabbitDown),
        (at(&mut rng, 0.50, 0.58), Fault::SmtpRefuses),
        (at(&mut rng, 0.60, 0.68), Fault::PostgresRestart),
        (at(&mut rng, 0.72, 0.80), Fault::StripeLostResponses),
    ];
    let kills = (checkouts / 40).max(6);
    for _ in 0..kills {
        let role = *ROLES.choose(&mut rng).expect("roles");
        plan.push((at(&mut rng, 0.02, 0.95), Fault::KillWorker(role)));
    }
    plan.sort_by_key(|(t, _)| *t);
    plan
}

/// Runs the schedule against the stack; returns what was done, when.
pub async fn run(stack: &mut Stack, seed: u64, over: Duration, checkouts: usize) -> Vec<String> {
    let start = Instant::now();
    let client = reqwest::Client::new();
    let mut log = Vec::new();
    let mut rng = StdRng::seed_from_u64(seed ^ 0xdead);
    for (when, fault) in schedule(seed, over, checkouts) {
        tokio::time::sleep_until(start + when).await;
        let t = start.elapsed().as_secs_f64();
        let what = match fault {
            Fault::KillWorker(role) => {
                let worker = stack.worker(role);
                worker.kill();
                let down = Duration::from_millis(rng.random_range(200..3000));
                tokio::time::sleep(down).await;
                restart(worker.start(), &mut log);
                format!(
                    "SIGKILL worker {role}, restarted after {:.1} s",
                    down.as_secs_f64()
                )
            }
            Fault::RestartApi => {
                stack.api.kill();
                tokio::time::sleep(Duration::from_secs(2)).await;
                restart(stack.api.start(), &mut log);
                "SIGKILL the API, restarted after 2 s".to_owned()
            }
            Fault::RabbitDown => {
                stack.rabbit.stop().await;
                tokio::time::sleep(WINDOW).await;
                stack.rabbit.restart().await;
                format!("RabbitMQ stopped for {} s, started again", WINDOW.as_secs())
            }
            Fault::PostgresRestart => {
                restart(
                    tokio::task::block_in_place(|| stack.postgres.restart()),
                    &mut log,
                );
                "PostgreSQL restarted (fast shutdown: connections cut)".to_owned()
            }
            Fault::StripeErrors => {
                let emulator = &stack.emulator_url;
                let phases = [
                    (
                        json!({"kind": "server_error", "count": 100_000}),
                        "faults",
                        "500s",
                    ),
                    (
                        json!({"kind": "rate_limit", "count": 100_000}),
                        "faults",
                        "429s",
                    ),
                    (json!({"millis": 3000}), "delays", "3 s delays"),
                ];
                for (body, route, _) in &phases {
                    let _ = client
                        .delete(format!("{emulator}/_emulator/faults"))
                        .send()
                        .await;
                    let _ = client
                        .post(format!("{emulator}/_emulator/{route}"))
                        .json(body)
                        .send()
                        .await;
                    tokio::time::sleep(WINDOW / 2).await;
                }
                let _ = client
                    .delete(format!("{emulator}/_emulator/faults"))
                    .send()
                    .await;
                format!(
                    "Stripe answered every call 500 for {0} s, then 429 for {0} s, then after 3 s for {0} s",
                    WINDOW.as_secs() / 2
                )
            }
            Fault::StripeLostResponses => {
                let _ = client
                    .post(format!("{}/_emulator/faults", stack.emulator_url))
                    .json(&json!({"kind": "lost_response", "count": 10}))
                    .send()
                    .await;
                "Stripe lost the answers of the next 10 successful calls (done, answered 500)"
                    .to_owned()
            }
            Fault::SmtpRefuses => {
                stack.smtp.refuse(true);
                tokio::time::sleep(WINDOW).await;
                stack.smtp.refuse(false);
                format!(
                    "SMTP server answered 451 to everything for {} s",
                    WINDOW.as_secs()
                )
            }
        };
        log.push(format!("{t:6.1} s  {what}"));
    }
    let _ = client
        .delete(format!("{}/_emulator/faults", stack.emulator_url))
        .send()
        .await;
    log
}

fn restart(result: anyhow::Result<()>, log: &mut Vec<String>) {
    if let Err(e) = result {
        log.push(format!("       restart failed: {e:#}"));
    }
}
