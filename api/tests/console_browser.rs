//! The ops console in real headless Chromium (through chromedriver, which the test
//! starts on a free port): sign in, claim an order, follow its instructions, mark it
//! placed, see it leave the queue; a wrong key is refused. Set
//! `CONSOLE_SCREENSHOTS_DIR` (e.g. `docs/screenshots`) to keep screenshots.

use std::time::Duration;

use cartwright_testkit::TestApp;
use cartwright_testkit::webdriver::Chromedriver;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

async fn browser(driver: &Chromedriver) -> Client {
    let mut options = json!({
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            "--window-size=1280,1100"]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    // chromedriver listens on 127.0.0.1 only, over plain HTTP: no TLS connector needed.
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    if let Ok(dir) = std::env::var("CONSOLE_SCREENSHOTS_DIR") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Waits for an element of the page a click navigates to.
async fn wait_for(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

async fn sign_in(client: &Client, app: &TestApp, key: &str) {
    client.goto(&app.url("/ops/sign-in")).await.unwrap();
    client
        .find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    client
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_ops_user_claims_follows_the_instructions_and_places_an_order() {
    let app = TestApp::spawn().await;
    let number = app.manual_queue_order("browser-1").await;
    let other = app.manual_queue_order("browser-2").await;
    let driver = Chromedriver::start().await;
    let client = browser(&driver).await;

    // A wrong key is refused with a clear message.
    sign_in(&client, &app, "cw_ops_wrong").await;
    wait_for(&client, "#error").await;
    assert!(
        text_of(&client, "#error")
            .await
            .contains("That key was not accepted")
    );
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ops/sign-in")
    );

    sign_in(&client, &app, &app.ops_key).await;
    wait_for(&client, "#queue").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/ops/queue");
    let queue = text_of(&client, "#queue").await;
    assert!(queue.contains(&number) && queue.contains(&other), "{queue}");
    assert!(queue.contains("store_is_manual"));
    // The stylesheet is a file the CSP allows ('self'): it applied.
    let header_colour = client
        .execute(
            "return getComputedStyle(document.querySelector('header')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(header_colour, "rgb(29, 35, 48)");
    screenshot(&client, "queue").await;

    // Open the order, claim it.
    client
        .find(Locator::LinkText(&number))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#claim").await;
    client
        .find(Locator::Id("claim"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#notice").await;
    assert!(text_of(&client, "#notice").await.contains("Claimed"));
    assert_eq!(text_of(&client, "#holder").await, "key:ops-alice");

    // The instructions: where, what, ship to, pay with, expect.
    let retailer = text_of(&client, "#retailer").await;
    assert!(retailer.starts_with("http"), "{retailer}");
    assert!(text_of(&client, "#steps").await.contains("then open"));
    assert!(text_of(&client, "#items").await.contains("NORD-1001"));
    let address = text_of(&client, "#address").await;
    assert!(
        address.contains("123 Main St") && address.contains("San Francisco"),
        "{address}"
    );
    assert!(text_of(&client, "#card").await.contains("vault"));
    assert!(!text_of(&client, "#expected-total").await.is_empty());
    screenshot(&client, "order").await;

    // Mark it placed.
    client
        .find(Locator::Id("store_order_number"))
        .await
        .unwrap()
        .send_keys("NW-90210")
        .await
        .unwrap();
    client
        .find(Locator::Id("mark-placed"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#notice").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/ops/queue");
    assert!(text_of(&client, "#notice").await.contains(&number));
    let queue = text_of(&client, "#queue").await;
    assert!(!queue.contains(&number), "left the queue: {queue}");
    assert!(queue.contains(&other));

    let (status, store_number): (String, Option<String>) =
        sqlx::query_as("SELECT status, store_order_number FROM orders WHERE number = $1")
            .bind(&number)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), store_number.as_deref()),
        ("placed", Some("NW-90210"))
    );
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM status_history WHERE order_number = $1 AND to_status = 'placed'",
    )
    .bind(&number)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "key:ops-alice");
    client.close().await.unwrap();
}
