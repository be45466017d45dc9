//! Hostile input: schemathesis (PyPI) fuzzes a real `cartwright-api` process from the
//! OpenAPI description it serves, once with a storefront key and once with an ops key,
//! until at least `FUZZ_REQUESTS` requests (default 1,000) have been made. Every
//! response must be free of 5xx and conform to the spec (status, content type, headers,
//! body); the API must log no error; afterwards the database must hold no half-written
//! row. `scripts/fuzz` runs the long version. Configuration and hooks: `tests/fuzz/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::stripe_event_types::is_handled;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const DEFAULT_REQUESTS: u64 = 1_000;
/// Below this budget the coverage phase (about 1,000 deterministic boundary-value
/// requests per key) does not fit, and the run is examples, fuzzing and stateful only.
const COVERAGE_FROM: u64 = 4_000;
const WEBHOOK_SECRET: &str = "whsec_fuzz_run";
const REQUIREMENTS: &str = include_str!("fuzz/requirements.txt");

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The pinned version from tests/fuzz/requirements.txt, and a clear failure (never a
/// silent skip) when the installed schemathesis is missing or another version.
async fn check_schemathesis() -> String {
    let pinned = REQUIREMENTS
        .lines()
        .find_map(|line| line.trim().strip_prefix("schemathesis=="))
        .expect("requirements.txt pins schemathesis==<version>")
        .to_owned();
    let output = Command::new("schemathesis")
        .arg("--version")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "schemathesis is not installed ({e}); scripts/services installs it: \
                 python3 -m pip install -r api/tests/fuzz/requirements.txt"
            )
        });
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        version.trim().ends_with(&pinned),
        "schemathesis {pinned} is pinned, found {version:?}; \
         python3 -m pip install -r api/tests/fuzz/requirements.txt"
    );
    pinned
}

/// The API binary on its own database; its log goes to `log`, error lines are counted.
struct Api {
    child: Child,
    base: String,
    errors: tokio::task::JoinHandle<Vec<String>>,
}

async fn start_api(database_url: &str, log: &Path) -> Api {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cartwright-api"))
        .env("DATABASE_URL", database_url)
        .env("DATABASE_MAX_CONNECTIONS", "10")
        .env("API_BIND", "127.0.0.1:0")
        .env("RATE_LIMIT_PER_SECOND", "0")
        // schemathesis sends every operation without a key too ("ignored_auth"), as fast as
        // it can from one address; the allowance for that is tested in tests/floods.rs.
        .env("UNAUTHENTICATED_PER_SECOND", "0")
        .env("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start cartwright-api");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut file = tokio::fs::File::create(log).await.expect("API log file");
    let address = loop {
        let line = lines
            .next_line()
            .await
            .expect("API stderr")
            .unwrap_or_else(|| panic!("cartwright-api exited before listening; see {log:?}"));
        file.write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write log");
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["fields"]["message"] == "cartwright api listening" {
            break event["fields"]["address"]
                .as_str()
                .expect("listening address")
                .to_owned();
        }
    };
    let errors = tokio::spawn(async move {
        let mut errors = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let event: Value = serde_json::from_str(&line).unwrap_or_default();
            if event["level"] == "ERROR" {
                errors.push(line.clone());
            }
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        errors
    });
    Api {
        child,
        base: format!("http://{address}"),
        errors,
    }
}

/// One schemathesis run; returns the number of requests it made (from its NDJSON report).
#[allow(clippy::too_many_arguments)]
async fn run_schemathesis(
    api: &Api,
    run: &str,
    key: &str,
    storefront_key: &str,
    examples: u64,
    phases: &str,
    seed: u64,
    out: &Path,
) -> u64 {
    let report = out.join(format!("{run}.ndjson"));
    let output = Command::new("schemathesis")
        .current_dir(fuzz_dir())
        .env("FUZZ_KEY", key)
        .env("FUZZ_STOREFRONT_KEY", storefront_key)
        .env("FUZZ_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .args(["--config-file", "schemathesis.toml", "--no-color", "run"])
        .arg(format!("{}/openapi.json", api.base))
        .args(["--max-examples", &examples.to_string()])
        .args(["--phases", phases])
        .args(["--seed", &seed.to_string()])
        .args([
            "--workers",
            "2",
            "--report",
            "ndjson",
            "--report-ndjson-path",
        ])
        .arg(&report)
        .output()
        .await
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(out.join(format!("{run}.txt")), &text).expect("write schemathesis output");
    assert!(
        output.status.success(),
        "schemathesis run {run} (seed {seed}) failed; reproduce with FUZZ_SEED. Its report:\n{text}"
    );
    let ndjson = std::fs::read_to_string(&report).expect("schemathesis NDJSON report");
    ndjson
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| {
            event["ScenarioFinished"]["recorder"]["interactions"]
                .as_object()
                .map(|i| i.len() as u64)
        })
        .sum()
}

/// Rows that break an invariant a completed request leaves behind; each query lists the
/// culprits, and every list must be empty.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "a checkout without orders",
        "SELECT c.id FROM checkouts c
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.checkout_id = c.id)",
    ),
    (
        "an order without lines",
        "SELECT o.number FROM orders o
         WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_number = o.number)",
    ),
    (
        "an order whose subtotal is not the sum of its lines",
        "SELECT o.number FROM orders o JOIN order_items i ON i.order_number = o.number
         GROUP BY o.number, o.subtotal HAVING o.subtotal <> sum(i.line_total)",
    ),
    (
        "a checkout whose amounts are not the sums of its orders'",
        "SELECT c.id FROM checkouts c JOIN orders o ON o.checkout_id = c.id
         GROUP BY c.id HAVING c.subtotal <> sum(o.subtotal) OR c.shipping <> sum(o.shipping)
             OR c.tax <> sum(o.tax) OR c.total <> sum(o.total)",
    ),
    (
        "an order line without its hold",
        "SELECT i.order_number || ' ' || i.sku FROM order_items i
         WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.order_number = i.order_number
                           AND r.sku = i.sku AND r.quantity = i.quantity)",
    ),
    (
        "a SKU whose reserved units are not the sum of its active holds",
        "SELECT s.sku FROM skus s
         LEFT JOIN (SELECT sku, sum(quantity) AS held FROM reservations
                    WHERE status = 'held' GROUP BY sku) h ON h.sku = s.sku
         WHERE s.reserved <> coalesce(h.held, 0)",
    ),
    (
        "a checkout or order without its first status history entry",
        "SELECT o.number FROM orders o WHERE NOT EXISTS
           (SELECT 1 FROM status_history h WHERE h.order_number = o.number)
         UNION ALL
         SELECT c.id FROM checkouts c WHERE NOT EXISTS
           (SELECT 1 FROM status_history h WHERE h.checkout_id = c.id AND h.order_number IS NULL)",
    ),
    (
        "an accepted checkout without its checkout.submitted outbox message",
        "SELECT c.id FROM checkouts c WHERE NOT EXISTS
           (SELECT 1 FROM outbox m WHERE m.aggregate_id = c.id
            AND m.message_type = 'checkout.submitted')",
    ),
    (
        "a checkout without its idempotency record",
        "SELECT c.id FROM checkouts c WHERE NOT EXISTS
           (SELECT 1 FROM idempotency_keys k WHERE k.principal = c.principal
            AND k.response_body->>'id' = c.id)",
    ),
    (
        "an idempotency record of an accepted checkout that does not exist",
        "SELECT k.key FROM idempotency_keys k WHERE k.response_status = 202 AND NOT EXISTS
           (SELECT 1 FROM checkouts c WHERE c.id = k.response_body->>'id'
            AND c.principal = k.principal)",
    ),
    (
        "an outbox message for a Stripe event that was not stored",
        "SELECT m.aggregate_id FROM outbox m WHERE m.message_type = 'stripe.event.received'
           AND NOT EXISTS (SELECT 1 FROM stripe_events e WHERE e.id = m.aggregate_id)",
    ),
];

/// A stored Stripe event has its outbox message exactly when its type is one the
/// stripe-events worker acts on (the others are only kept for the record), it is not
/// parked (no sweep runs here, so a parked event stays parked) and it is not about the
/// PaymentIntent of a checkout already past waiting for payment.
async fn stripe_events_without_their_message(pool: &PgPool) -> Vec<String> {
    let events: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT e.id, e.type, EXISTS (SELECT 1 FROM outbox m WHERE m.aggregate_id = e.id
                AND m.message_type = 'stripe.event.received'),
                EXISTS (SELECT 1 FROM stripe_events_parked p WHERE p.event_id = e.id)
                OR (e.type LIKE 'payment\\_intent.%' AND EXISTS (SELECT 1 FROM checkouts c
                    WHERE c.payment_intent_id = e.object_id
                      AND c.status NOT IN ('pending', 'requires_action', 'expired')))
         FROM stripe_events e",
    )
    .fetch_all(pool)
    .await
    .expect("stored Stripe events");
    events
        .into_iter()
        .filter(|(_, event_type, announced, held_back)| {
            *announced != (is_handled(event_type) && !held_back)
        })
        .map(|(id, event_type, _, _)| format!("{id} ({event_type})"))
        .collect()
}

async fn broken_invariants(pool: &PgPool) -> Vec<String> {
    let mut broken = Vec::new();
    for (what, sql) in INVARIANTS {
        let culprits: Vec<String> = sqlx::query_scalar(*sql)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("invariant query for {what}: {e}"));
        if !culprits.is_empty() {
            broken.push(format!("{what}: {culprits:?}"));
        }
    }
    let events = stripe_events_without_their_message(pool).await;
    if !events.is_empty() {
        broken.push(format!(
            "a stored Stripe event of a handled type, not parked, without its outbox message, or another with one: {events:?}"
        ));
    }
    broken
}

#[tokio::test]
async fn fuzzing_the_api_finds_no_server_error_no_spec_mismatch_and_no_half_written_row() {
    let version = check_schemathesis().await;
    let budget = env_u64("FUZZ_REQUESTS", DEFAULT_REQUESTS);
    let seed = env_u64("FUZZ_SEED", rand::random::<u32>().into());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{seed}"));
    std::fs::create_dir_all(&out).expect("report folder");
    println!(
        "fuzz: schemathesis {version}, budget {budget} requests, seed {seed}, reports in {out:?}"
    );

    let database_url = cartwright_testkit::fresh_database().await;
    let pool = PgPool::connect(&database_url).await.expect("database");
    let storefront_key = api_keys::create(&pool, "fuzz-shop", Role::Storefront)
        .await
        .expect("key");
    let ops_key = api_keys::create(&pool, "fuzz-ops", Role::Ops)
        .await
        .expect("key");
    let mut api = start_api(&database_url, &out.join("api.log")).await;

    // Per operation and phase; scaled so one round of both keys is about 1,000 requests.
    let examples = (budget / 100).max(10);
    let mut made = 0;
    let mut round = 0;
    while made < budget {
        let phases = if round == 0 && budget >= COVERAGE_FROM {
            "examples,coverage,fuzzing,stateful"
        } else {
            "examples,fuzzing,stateful"
        };
        for (role, key) in [("storefront", &storefront_key), ("ops", &ops_key)] {
            let run_seed = seed + round * 2 + u64::from(role == "ops");
            let run = format!("{round}-{role}");
            let requests = run_schemathesis(
                &api,
                &run,
                key,
                &storefront_key,
                examples,
                phases,
                run_seed,
                &out,
            )
            .await;
            println!("fuzz: run {run} ({phases}): {requests} requests");
            made += requests;
        }
        round += 1;
    }

    api.child.kill().await.expect("stop the API");
    let errors = api.errors.await.expect("log reader");
    let broken = broken_invariants(&pool).await;
    let checkouts: i64 = sqlx::query_scalar("SELECT count(*) FROM checkouts")
        .fetch_one(&pool)
        .await
        .expect("count");
    println!("fuzz: {made} requests in {round} rounds; {checkouts} checkouts accepted");
    assert!(
        errors.is_empty(),
        "the API logged {} errors, e.g.\n{}",
        errors.len(),
        errors
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        broken.is_empty(),
        "half-written rows:\n{}",
        broken.join("\n")
    );
    // The fuzzer must have got past validation somewhere, or the invariants are vacuous.
    assert!(
        checkouts > 0,
        "no checkout was accepted: the fuzz only hit refusals"
    );
}
