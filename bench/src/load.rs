//! Closed-loop checkout load: each client submits a one-line checkout (its own
//! Idempotency-Key), waits for the answer, and submits the next, until the deadline.

use std::time::{Duration, Instant};

use serde_json::json;

/// What the clients got back.
pub struct Submitted {
    /// Latency of each accepted (202) checkout, in milliseconds, unsorted.
    pub latencies_ms: Vec<f64>,
    /// Every other answer, and every request that got none.
    pub errors: usize,
}

/// `clients` clients for `length`; client `i` buys one of `sku(i)`.
pub async fn checkouts(
    client: &reqwest::Client,
    api: &str,
    storefront_key: &str,
    clients: usize,
    sku: impl Fn(usize) -> String,
    length: Duration,
) -> anyhow::Result<Submitted> {
    let deadline = Instant::now() + length;
    let tasks = (0..clients).map(|i| {
        let client = client.clone();
        let url = format!("{api}/v1/checkouts");
        let key = storefront_key.to_owned();
        let body = json!({
            "customer": {"email": "bench@example.com", "name": "Bench Mark"},
            "shipping_address": {"name": "Bench Mark", "line1": "1 Loop Rd", "city": "Austin",
                "state": "TX", "postal_code": "73301", "country": "US"},
            "items": [{"sku": sku(i), "quantity": 1}],
            "payment_method": "pm_card_visa", "currency": "usd"
        });
        tokio::spawn(async move {
            let mut latencies_ms = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let _ = r.bytes().await;
                        latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
            }
            (latencies_ms, errors)
        })
    });
    let mut out = Submitted {
        latencies_ms: Vec::new(),
        errors: 0,
    };
    for result in futures::future::join_all(tasks).await {
        let (l, e) = result?;
        out.latencies_ms.extend(l);
        out.errors += e;
    }
    Ok(out)
}
