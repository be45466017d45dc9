//! Test harness: an in-process demo retailer, a cookie-keeping shopper that submits
//! forms the way a browser would, and each store's recipe selectors (from README.md).

mod page;
mod stores;

use std::sync::Arc;
use std::time::Duration;

use demo_retailer::{Config, RetailerHandle};
use reqwest::cookie::Jar;
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

pub use page::Page;
pub use stores::{NORDWIND, RACKHOUSE, Store};

/// The `slow` scenario's delay in tests.
pub const SLOW: Duration = Duration::from_millis(400);

pub struct Site {
    pub handle: RetailerHandle,
    admin: Client,
}

pub async fn start() -> Site {
    let handle = demo_retailer::spawn(Config { slow_delay: SLOW })
        .await
        .expect("spawn the demo retailer");
    Site {
        handle,
        admin: Client::new(),
    }
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        self.handle.url(path)
    }

    pub async fn post_scenario(&self, body: Value) -> (StatusCode, Value) {
        let response = self
            .admin
            .post(self.url("/_admin/scenarios"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn set_scenario(&self, store: &str, sku: &str, scenario: &str) {
        let (status, body) = self
            .post_scenario(json!({"store": store, "sku": sku, "scenario": scenario}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn reset_scenarios(&self) {
        let response = self
            .admin
            .delete(self.url("/_admin/scenarios"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.admin.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn orders(&self, store: &str) -> Vec<Value> {
        let (status, body) = self
            .admin_get(&format!("/_admin/orders?store={store}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().expect("an array of orders").clone()
    }

    pub async fn reset_orders(&self) {
        let response = self
            .admin
            .delete(self.url("/_admin/orders"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// A fresh visitor: its own cookies, redirects not followed (tests look at them).
    pub fn shopper(&self) -> Shopper {
        let client = Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Shopper {
            client,
            base: self.handle.base_url.clone(),
        }
    }
}

pub struct Shopper {
    client: Client,
    base: String,
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    Page {
        status,
        location,
        body: response.text().await.unwrap(),
    }
}

impl Shopper {
    pub async fn get(&self, path: &str) -> Page {
        page(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post_form(&self, action: &str, data: &[(String, String)]) -> Page {
        let url = format!("{}{action}", self.base);
        page(self.client.post(url).form(data).send().await.unwrap()).await
    }

    /// Fills the form and clicks `button`, which must be present and enabled.
    pub async fn submit(
        &self,
        page: &Page,
        form: &str,
        fills: &[(&str, &str)],
        button: &str,
    ) -> Page {
        assert!(
            page.has(button),
            "no button {button:?} on the page:\n{}",
            page.body
        );
        assert_eq!(
            page.attr(button, "disabled"),
            None,
            "{button:?} is disabled"
        );
        let (action, data) = page.form_data(form, fills);
        self.post_form(&action, &data).await
    }

    /// Opens the product page and adds `quantity` to the cart; asserts the redirect.
    pub async fn add(&self, store: &Store, sku: &str, query: &str, quantity: &str) {
        let product = self
            .get(&format!("{}{query}", store.product_path(sku)))
            .await;
        assert_eq!(product.status, StatusCode::OK, "{}", product.body);
        let added = self
            .submit(
                &product,
                store.add_form,
                &[(store.quantity, quantity)],
                store.add_button,
            )
            .await;
        assert_eq!(added.redirect(), store.cart_path);
    }

    /// Goes from the cart to the checkout page (through Rackhouse's continue step) and
    /// returns the first page that is not a step along the way.
    pub async fn open_checkout(&self, store: &Store) -> Page {
        if let Some(start) = store.continue_step {
            let step = self.get(start).await;
            if step.status != StatusCode::OK {
                return step;
            }
            let next = self
                .submit(
                    &step,
                    "[data-testid=continue-form]",
                    &[],
                    "[data-testid=continue-as-guest]",
                )
                .await;
            assert_eq!(next.redirect(), store.checkout_path);
        }
        self.get(store.checkout_path).await
    }

    /// Fills the standard test address and payment, and clicks place order.
    pub async fn place(&self, store: &Store, checkout: &Page) -> Page {
        self.submit(
            checkout,
            store.checkout_form,
            &store.fills(),
            store.place_button,
        )
        .await
    }

    /// Posts the checkout form as filled, whether or not a place-order button is shown.
    pub async fn force_place(&self, store: &Store, checkout: &Page) -> Page {
        let (action, data) = checkout.form_data(store.checkout_form, &store.fills());
        self.post_form(&action, &data).await
    }
}

/// The address every test checkout enters, as the order log reports it.
pub fn expected_address() -> Value {
    json!({
        "name": "Ada Lovelace", "line1": "12 Analytical Way", "line2": "Suite 3",
        "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US",
    })
}
