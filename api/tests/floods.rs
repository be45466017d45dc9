//! Floods and slow clients: requests without a valid key are limited per client
//! address before they cost a key look-up, the process sheds what it cannot take, and
//! slow requests and slow headers are cut off. Every refusal is the API's JSON error.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cartwright_shared::ids::new_secret;
use cartwright_testkit::TestApp;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// (status, error code, has Retry-After) of one answer.
async fn outcome(response: reqwest::Response) -> (u16, String, bool) {
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, retry_after)
}

#[tokio::test]
async fn a_flood_of_bad_keys_does_not_starve_good_ones() {
    const PER_SECOND: usize = 5;
    const BURST: usize = 10;
    const FLOOD_SECS: u64 = 3;
    let app = TestApp::spawn_with(&[
        ("UNAUTHENTICATED_PER_SECOND", "5"),
        ("UNAUTHENTICATED_BURST", "10"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
    ])
    .await;
    // The flood comes from another address on the loopback network: 127.0.0.2.
    let flooder = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(FLOOD_SECS);
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let (client, url) = (flooder.clone(), app.url("/v1/catalog"));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let response = client
                        .get(&url)
                        .bearer_auth(new_secret(43))
                        .send()
                        .await
                        .unwrap();
                    seen.push(outcome(response).await);
                }
                seen
            })
        })
        .collect();

    let mut good = Vec::new();
    while Instant::now() < until {
        let (status, body) = app.get_json("/v1/catalog", &app.storefront_key).await;
        good.push((status, body["items"].as_array().map_or(0, Vec::len)));
    }
    let mut refused = Vec::new();
    for task in flood {
        refused.extend(task.await.unwrap());
    }

    assert!(
        good.len() >= 10,
        "only {} good requests in the flood",
        good.len()
    );
    assert!(
        good.iter()
            .all(|&(status, items)| status == 200 && items > 0),
        "{good:?}"
    );
    let looked_up = refused.iter().filter(|(status, ..)| *status == 401).count();
    let limited = refused.iter().filter(|(status, ..)| *status == 429).count();
    assert!(
        refused.iter().all(|(status, code, retry_after)| {
            (*status == 401 && code == "unauthenticated")
                || (*status == 429 && code == "rate_limited" && *retry_after)
        }),
        "every answer is 401 or a 429 with Retry-After"
    );
    // The burst and the rate over the flood, one second of slack: every other bad key
    // was refused before it cost a database look-up.
    let allowance = BURST + PER_SECOND * (FLOOD_SECS as usize + 1);
    assert!(
        looked_up <= allowance,
        "{looked_up} bad keys looked up, allowance {allowance}"
    );
    assert!(
        limited > looked_up,
        "{limited} refused, {looked_up} looked up"
    );

    // The good client's address kept its own allowance.
    let (status, body) = app.get_json("/v1/catalog", "not-a-key").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &"unauthenticated".into())
    );
}

#[tokio::test]
async fn health_checks_and_console_sign_ins_spend_the_same_allowance() {
    let app = TestApp::spawn_with(&[
        ("UNAUTHENTICATED_PER_SECOND", "1"),
        ("UNAUTHENTICATED_BURST", "4"),
    ])
    .await;
    // The ops key's first look-up spends one; once known valid, it spends none.
    let (status, _) = app.get_json("/v1/catalog", &app.ops_key).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let response = app
        .client
        .post(app.url("/ops/sign-in"))
        .form(&[("key", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "no sign-in token: refused, and counted"
    );
    for path in ["/readyz", "/healthz"] {
        let (status, code, retry_after) =
            outcome(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str(), retry_after),
            (429, "rate_limited", true)
        );
    }
    let (status, _) = app.get_json("/v1/catalog", &app.ops_key).await;
    assert_eq!(status, 200, "a key known to be valid is never limited");
}

/// Sends the start of a checkout whose body never arrives; returns the connection.
async fn stalled_checkout(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/checkouts HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: stalled\r\nContent-Length: 500\r\n\r\n{{",
        app.storefront_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(within, stream.read(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn a_full_process_sheds_load_and_a_stalled_request_times_out() {
    let app = TestApp::spawn_with(&[
        ("API_MAX_IN_FLIGHT", "1"),
        ("API_REQUEST_TIMEOUT_SECS", "2"),
    ])
    .await;
    let mut stalled = stalled_checkout(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The one place is taken: another request is refused at once.
    let started = Instant::now();
    let (status, code, retry_after) =
        outcome(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str(), retry_after),
        (503, "overloaded", true)
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // The stalled request runs out of time and gives its place back.
    let answer = read_answer(&mut stalled, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert_eq!(app.count("checkouts").await, 0, "nothing was written");
    let (status, _) = app.get_json("/v1/catalog", &app.ops_key).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_connection_that_trickles_its_headers_is_closed() {
    let app = TestApp::spawn_with(&[("API_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: cartwright\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream, Duration::from_secs(10)).await;
    assert!(
        !answer.contains("200 OK"),
        "headers never finished, yet answered: {answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}
