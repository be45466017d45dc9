//! The invariants, checked after the system has gone quiet, from four independent
//! sources: the database, the Stripe emulator's ledger, the retailer's order log and
//! the SMTP server's mailbox.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use cartwright_shared::status::order::BOUGHT;
use serde_json::Value;
use sqlx::PgPool;

use crate::Report;
use crate::load::{Intake, Plan};

const FINAL_CHECKOUT: &[&str] = &["completed", "cancelled", "payment_failed", "expired"];
const FINAL_ORDER: &[&str] = &[
    "placed",
    "failed",
    "cancelled",
    "shipped",
    "delivered",
    "refunded",
    "partially_refunded",
];

/// Accepted checkouts not yet final (a checkout or one of its orders).
pub async fn not_final(pool: &PgPool, accepted: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT c.id FROM checkouts c
         WHERE c.id = ANY($1)
           AND (c.status <> ALL($2)
                OR EXISTS (SELECT 1 FROM orders o WHERE o.checkout_id = c.id AND o.status <> ALL($3)))",
    )
    .bind(accepted)
    .bind(FINAL_CHECKOUT)
    .bind(FINAL_ORDER)
    .fetch_all(pool)
    .await
}

pub struct Sources<'a> {
    pub pool: &'a PgPool,
    pub ledger: Value,
    pub retailer_orders: Value,
    pub mail: Vec<Vec<u8>>,
    pub queued: u64,
    pub start_stock: &'a BTreeMap<String, i32>,
    pub intake: &'a Intake,
    pub plans: &'a [Plan],
}

pub async fn check(s: Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    let pool = s.pool;
    let accepted: Vec<String> = s.intake.accepted.keys().cloned().collect();
    report.accepted = accepted.len();
    report.out_of_stock = s.intake.out_of_stock;
    for &index in s.intake.accepted.values() {
        *report
            .payments_planned
            .entry(s.plans[index].payment)
            .or_default() += 1;
    }
    report.refused = s.intake.refused.clone();
    report.gave_up = s.intake.gave_up;
    report.lost = not_final(pool, &accepted).await?;
    // Accepted but absent from the database: the worst kind of lost.
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM checkouts WHERE id = ANY($1)")
        .bind(&accepted)
        .fetch_one(pool)
        .await?;
    report.missing_rows = accepted.len() - known as usize;
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM checkouts GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?;
    report.checkouts_by_status = by_status
        .into_iter()
        .map(|(k, v)| (k, v as usize))
        .collect();
    let orders_by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?;
    report.orders_by_status = orders_by_status
        .into_iter()
        .map(|(k, v)| (k, v as usize))
        .collect();

    money(&s, report).await?;
    retailer(&s, report).await?;
    mail(&s, report).await?;
    queues(&s, report).await?;
    stock(&s, report).await?;
    Ok(())
}

/// Charges equal bought orders, per checkout, to the cent.
async fn money(s: &Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    let expected: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.id, COALESCE(SUM(o.total) FILTER (WHERE o.status = ANY($1)), 0)::BIGINT
         FROM checkouts c LEFT JOIN orders o ON o.checkout_id = c.id GROUP BY c.id",
    )
    .bind(BOUGHT)
    .fetch_all(s.pool)
    .await?;
    // checkout → (intents that captured, captured - refunded, held authorizations)
    let mut charged: HashMap<&str, (usize, i64, usize)> = HashMap::new();
    let intents = s.ledger["payment_intents"]
        .as_array()
        .context("the emulator ledger has no payment_intents")?;
    for pi in intents {
        let checkout = pi["metadata"]["checkout_id"].as_str().unwrap_or("?");
        let entry = charged.entry(checkout).or_default();
        let captured = pi["captured"].as_i64().unwrap_or(0);
        if captured > 0 {
            entry.0 += 1;
        }
        entry.1 += captured - pi["refunded"].as_i64().unwrap_or(0);
        if pi["status"] == "requires_capture" {
            entry.2 += 1;
        }
        report.captured_total += captured;
    }
    report.payment_intents = intents.len();
    for (checkout, bought) in &expected {
        report.bought_total += bought;
        let (captures, net, held) = charged.get(checkout.as_str()).copied().unwrap_or_default();
        if captures > 1 {
            report.charged_twice.push(checkout.clone());
        }
        if net > *bought {
            report
                .overcharged
                .push(format!("{checkout}: charged {net}, bought {bought}"));
        }
        if net < *bought {
            report
                .undercharged
                .push(format!("{checkout}: charged {net}, bought {bought}"));
        }
        report.authorizations_open += held;
    }
    Ok(())
}

/// One retailer order per Cartwright order, and each recorded as the order's number.
async fn retailer(s: &Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    let orders = s
        .retailer_orders
        .as_array()
        .context("the retailer's order log is not a list")?;
    report.retailer_orders = orders.len();
    let names: HashMap<&str, &str> = s
        .intake
        .accepted
        .iter()
        .map(|(id, &i)| (s.plans[i].name.as_str(), id.as_str()))
        .collect();
    let mut per_order: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for order in orders {
        let store = order["store"].as_str().unwrap_or_default().to_owned();
        let name = order["shipping_address"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let number = order["order_number"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        per_order.entry((store, name)).or_default().push(number);
    }
    for ((store, name), numbers) in per_order {
        if numbers.len() > 1 {
            report
                .retailer_twice
                .push(format!("{store} {name}: {}", numbers.join(", ")));
        }
        let Some(checkout) = names.get(name.as_str()) else {
            report
                .retailer_unrecorded
                .push(format!("{store} {name}: not a drill customer"));
            continue;
        };
        let recorded: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT status, store_order_number FROM orders WHERE checkout_id = $1 AND store_id = $2",
        )
        .bind(checkout)
        .bind(&store)
        .fetch_optional(s.pool)
        .await?;
        let ok = recorded.as_ref().is_some_and(|(status, number)| {
            BOUGHT.contains(&status.as_str())
                && number
                    .as_deref()
                    .is_some_and(|n| numbers.iter().any(|x| x == n))
        });
        if !ok {
            report.retailer_unrecorded.push(format!(
                "{store} {checkout}: bought as {numbers:?}, recorded {recorded:?}"
            ));
        }
    }
    Ok(())
}

/// No email twice: the Message-ID is stable per (event, template).
async fn mail(s: &Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    report.emails = s.mail.len();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw in &s.mail {
        let text = String::from_utf8_lossy(raw);
        let id = text
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("message-id"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        *seen.entry(id).or_default() += 1;
    }
    report.duplicate_emails = seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum();
    let unsent: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM emails_sent WHERE state <> 'sent' GROUP BY state",
    )
    .fetch_all(s.pool)
    .await?;
    report.emails_not_sent = unsent.into_iter().map(|(k, v)| (k, v as usize)).collect();
    Ok(())
}

/// Nothing left in flight: every message was done or is a dead letter with its error.
async fn queues(s: &Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(s.pool)
            .await?;
    report.stuck = s.queued + unpublished as u64;
    let dead: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT queue, left(error, 160), count(*) FROM dead_letters GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(s.pool)
    .await?;
    report.dead_letters = dead
        .into_iter()
        .map(|(q, e, n)| (q, e, n as usize))
        .collect();
    Ok(())
}

/// Stock is the starting stock minus what was bought, and nothing is held any more.
async fn stock(s: &Sources<'_>, report: &mut Report) -> anyhow::Result<()> {
    let rows: Vec<(String, i32, i32, i64)> = sqlx::query_as(
        "SELECT k.sku, k.stock, k.reserved,
                COALESCE((SELECT SUM(i.quantity) FROM order_items i JOIN orders o ON o.number = i.order_number
                          WHERE i.sku = k.sku AND o.status = ANY($1)), 0)::BIGINT
         FROM skus k ORDER BY k.sku",
    )
    .bind(BOUGHT)
    .fetch_all(s.pool)
    .await?;
    for (sku, stock, reserved, bought) in rows {
        let start = s.start_stock.get(&sku).copied().unwrap_or_default();
        if i64::from(stock) != i64::from(start) - bought || reserved != 0 {
            report.stock_mismatch.push(format!(
                "{sku}: start {start}, bought {bought}, stock {stock}, still held {reserved}"
            ));
        }
    }
    Ok(())
}
