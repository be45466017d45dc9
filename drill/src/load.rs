//! The load: storefront checkouts (a seeded mix of stores, payment outcomes and
//! scenario SKUs), the customer completing or abandoning 3-D Secure, and a scripted
//! ops person working the manual queue through the ops API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Retailer scenarios switched on per SKU for the whole drill.
pub const RETAILER_SCENARIOS: &[(&str, &str, &str)] = &[
    ("nordwind", "NORD-1006", "out_of_stock"),
    ("rackhouse", "RACK-2005", "captcha"),
    // Placed at the retailer, then a 500: the browser cannot know, a person must check.
    ("nordwind", "NORD-1007", "error_after_submit"),
];

/// SKUs with so little stock that intake answers 409 once they are gone.
pub const SCARCE: &[(&str, i32)] = &[("BOOK-3005", 6), ("RACK-2001", 10)];
pub const PLENTY: i32 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreeDs {
    Succeed,
    Fail,
    /// The customer never comes back: the checkout expires.
    Abandon,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub key: String,
    pub name: String,
    pub body: Value,
    pub three_ds: Option<ThreeDs>,
    /// The payment scenario, for the report.
    pub payment: &'static str,
}

/// Each store's SKUs and how likely a checkout buys there: the browser worker (one
/// Chromium session per order) is the slowest part, so automated stores are a bit rarer.
const STORE_SKUS: &[(&str, f64, &[&str])] = &[
    (
        "nordwind",
        0.35,
        &[
            "NORD-1001",
            "NORD-1002",
            "NORD-1003",
            "NORD-1004",
            "NORD-1005",
            "NORD-1006",
            "NORD-1007",
        ],
    ),
    (
        "rackhouse",
        0.35,
        &[
            "RACK-2001",
            "RACK-2002",
            "RACK-2003",
            "RACK-2004",
            "RACK-2005",
            "RACK-2006",
            "RACK-2007",
        ],
    ),
    (
        "corner-books",
        0.45,
        &[
            "BOOK-3001",
            "BOOK-3002",
            "BOOK-3003",
            "BOOK-3004",
            "BOOK-3005",
            "BOOK-3006",
        ],
    ),
];

pub fn plans(seed: u64, n: usize) -> Vec<Plan> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut items = Vec::new();
            while items.is_empty() {
                for (_, likelihood, skus) in STORE_SKUS {
                    if rng.random_bool(*likelihood) {
                        let lines = rng.random_range(1..=2);
                        let picked: Vec<&&str> = skus.choose_multiple(&mut rng, lines).collect();
                        for sku in picked {
                            items.push(json!({"sku": sku, "quantity": rng.random_range(1..=2)}));
                        }
                    }
                }
            }
            let roll: f64 = rng.random();
            let (payment_method, three_ds, payment) = if roll < 0.08 {
                ("pm_card_chargeDeclined", None, "card declined")
            } else if roll < 0.11 {
                ("pm_card_chargeDeclinedInsufficientFunds", None, "card declined (funds)")
            } else if roll < 0.16 {
                ("pm_card_threeDSecure2Required", Some(ThreeDs::Succeed), "3-D Secure passed")
            } else if roll < 0.18 {
                ("pm_card_threeDSecure2Required", Some(ThreeDs::Fail), "3-D Secure failed")
            } else if roll < 0.20 {
                ("pm_card_threeDSecure2Required", Some(ThreeDs::Abandon), "3-D Secure abandoned")
            } else {
                ("pm_card_visa", None, "card approved")
            };
            let name = format!("Drill Customer {seed}-{i:05}");
            let body = json!({
                "customer": {"email": format!("drill-{i}@example.com"), "name": name},
                "shipping_address": {"name": name, "line1": format!("{i} Fault Lane"), "line2": null,
                    "city": "San Francisco", "state": "CA", "postal_code": "94102", "country": "US"},
                "items": items,
                "payment_method": payment_method,
                "currency": "usd",
            });
            Plan {
                key: format!("drill-{seed}-{i}"),
                name,
                body,
                three_ds,
                payment,
            }
        })
        .collect()
}

/// What the storefront saw.
#[derive(Default)]
pub struct Intake {
    /// checkout id → plan index, for every 202.
    pub accepted: HashMap<String, usize>,
    pub out_of_stock: usize,
    /// Any other final answer: `status code: body`.
    pub refused: Vec<String>,
    /// No final answer within the storefront's patience.
    pub gave_up: usize,
}

pub type Shared<T> = Arc<Mutex<T>>;

/// Submits one checkout the way a careful storefront does: the same Idempotency-Key
/// until a final answer (a connection error, 429 or 5xx means "try again").
async fn submit(
    client: &reqwest::Client,
    api: &str,
    key: &str,
    plan: &Plan,
    intake: &Shared<Intake>,
    index: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let response = client
            .post(format!("{api}/v1/checkouts"))
            .bearer_auth(key)
            .header("Idempotency-Key", &plan.key)
            .json(&plan.body)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let Ok(response) = response else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let mut intake = intake.lock().expect("intake lock");
        match (status, code) {
            (202, _) => {
                if let Some(id) = body["id"].as_str() {
                    intake.accepted.insert(id.to_owned(), index);
                } else {
                    intake.refused.push(format!("202 without an id: {body}"));
                }
                return;
            }
            (409, "insufficient_stock") => {
                intake.out_of_stock += 1;
                return;
            }
            (409, "idempotency_key_in_use") | (429, _) | (500..=599, _) => {}
            _ => {
                intake.refused.push(format!("{status}: {body}"));
                return;
            }
        }
        drop(intake);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    intake.lock().expect("intake lock").gave_up += 1;
}

/// Submits every plan, spread evenly over `over`.
pub async fn storefront(
    api: String,
    key: String,
    plans: Arc<Vec<Plan>>,
    over: Duration,
    intake: Shared<Intake>,
) {
    let client = reqwest::Client::new();
    let start = tokio::time::Instant::now();
    let gap = over / plans.len().max(1) as u32;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plans.len() {
        tokio::time::sleep_until(start + gap * index as u32).await;
        let (client, api, key, plans, intake) = (
            client.clone(),
            api.clone(),
            key.clone(),
            plans.clone(),
            intake.clone(),
        );
        tasks
            .spawn(async move { submit(&client, &api, &key, &plans[index], &intake, index).await });
    }
    while tasks.join_next().await.is_some() {}
}

/// The customers: completes or fails the 3-D Secure challenge of checkouts waiting for
/// it, as planned; abandoned ones are left to expire.
pub async fn customers(
    pool: sqlx::PgPool,
    emulator: String,
    plans: Arc<Vec<Plan>>,
    intake: Shared<Intake>,
    mut stop: watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    let mut done: HashSet<String> = HashSet::new();
    while !*stop.borrow() {
        let waiting: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, payment_intent_id FROM checkouts
             WHERE status = 'requires_action' AND payment_intent_id IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        for (checkout, intent) in waiting {
            if done.contains(&intent) {
                continue;
            }
            let index = intake
                .lock()
                .expect("intake lock")
                .accepted
                .get(&checkout)
                .copied();
            let outcome = match index.and_then(|i| plans[i].three_ds) {
                Some(ThreeDs::Succeed) => "succeed",
                Some(ThreeDs::Fail) => "fail",
                Some(ThreeDs::Abandon) | None => {
                    done.insert(intent);
                    continue;
                }
            };
            let answered = client
                .post(format!("{emulator}/_emulator/payment_intents/{intent}/3ds"))
                .json(&json!({"outcome": outcome}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                done.insert(intent);
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(700), stop.changed()).await;
    }
}

/// What the scripted ops person did, by decision.
pub type OpsLog = BTreeMap<&'static str, usize>;

pub struct Ops {
    pub api: String,
    pub key: String,
    pub retailer: String,
    pub plans: Arc<Vec<Plan>>,
    pub intake: Shared<Intake>,
    pub log: Shared<OpsLog>,
}

impl Ops {
    /// Works the manual queue until stopped: claims each open order, then records it
    /// placed or failed the way a careful person would.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        while !*stop.borrow() {
            for status in ["claimed", "open"] {
                let _ = self.work(&client, status).await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), stop.changed()).await;
        }
    }

    async fn work(&self, client: &reqwest::Client, status: &str) -> Result<(), reqwest::Error> {
        let list: Value = client
            .get(format!(
                "{}/v1/ops/placements?status={status}&limit=100",
                self.api
            ))
            .bearer_auth(&self.key)
            .send()
            .await?
            .json()
            .await?;
        for entry in list["placements"].as_array().into_iter().flatten() {
            let number = entry["order_number"].as_str().unwrap_or_default();
            if status == "claimed" && entry["claimed_by"] != "key:drill-ops" {
                continue;
            }
            if status == "open" {
                let claim = client
                    .post(format!("{}/v1/ops/placements/{number}/claim", self.api))
                    .bearer_auth(&self.key)
                    .send()
                    .await?;
                if !claim.status().is_success() {
                    continue;
                }
            }
            let (decision, action, body) = self.decide(client, entry).await?;
            let answer = client
                .post(format!("{}/v1/ops/placements/{number}/{action}", self.api))
                .bearer_auth(&self.key)
                .json(&body)
                .send()
                .await?;
            if answer.status().is_success() {
                *self
                    .log
                    .lock()
                    .expect("ops log")
                    .entry(decision)
                    .or_default() += 1;
            }
        }
        Ok(())
    }

    /// A manual store's order is bought by hand (a few are out of print). An automated
    /// store's order came here because the robot could not finish: the person first
    /// looks in the retailer's order history, and records what is there rather than
    /// buying a second time.
    async fn decide(
        &self,
        client: &reqwest::Client,
        entry: &Value,
    ) -> Result<(&'static str, &'static str, Value), reqwest::Error> {
        let number = entry["order_number"].as_str().unwrap_or_default();
        let store = entry["store"].as_str().unwrap_or_default();
        let reason = entry["reason"].as_str().unwrap_or_default();
        let placed = |decision, store_order: String| {
            (
                decision,
                "placed",
                json!({"store_order_number": store_order}),
            )
        };
        let failed = |decision, why: &str| (decision, "failed", json!({"reason": why}));
        if store == "corner-books" {
            return Ok(if number.bytes().map(u64::from).sum::<u64>() % 10 == 0 {
                failed("manual store: failed (out of print)", "out of print")
            } else {
                placed("manual store: placed", format!("CB-{number}"))
            });
        }
        let checkout = entry["checkout_id"].as_str().unwrap_or_default();
        let name = {
            let intake = self.intake.lock().expect("intake lock");
            intake
                .accepted
                .get(checkout)
                .map(|&i| self.plans[i].name.clone())
        };
        let orders: Value = client
            .get(format!("{}/_admin/orders?store={store}", self.retailer))
            .send()
            .await?
            .json()
            .await?;
        let found = orders.as_array().into_iter().flatten().find(|o| {
            name.as_deref()
                .is_some_and(|n| o["shipping_address"]["name"].as_str() == Some(n))
        });
        Ok(match (found, reason) {
            (Some(order), _) => placed(
                "automated store: found at the retailer",
                order["order_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (None, "out_of_stock") => failed(
                "automated store: failed (sold out)",
                "sold out at the retailer",
            ),
            (None, _) => placed("automated store: bought by hand", format!("OPS-{number}")),
        })
    }
}
