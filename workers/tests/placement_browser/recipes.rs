//! Recipes written for shops as they are (tests/placement_browser/recipes/): prices and
//! totals as text, a consent overlay on the first visit only, a buy box rendered late
//! by script, an address form in an iframe sent with Enter.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::world::{World, uuid_like, world};

/// A recipes directory holding only `text` as `nordwind.toml`.
struct Recipes(PathBuf);

impl Recipes {
    fn with(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cwt-recipes-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nordwind.toml"), text).unwrap();
        Recipes(dir)
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/placement_browser/recipes/{name}/nordwind.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    async fn world(&self) -> World {
        let dir = self.0.display().to_string();
        world(
            Duration::from_millis(300),
            &[("BROWSER_RECIPES_DIR", dir.as_str())],
        )
        .await
    }
}

impl Drop for Recipes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last attempt's state, error, the total it read and its step log.
/// The order settles in the manual queue for `reason`, and the retailer sold nothing
/// (after a moment in which a stray submit would have landed).
async fn waits_unbought_for_a_person(w: &World, number: &str, reason: &str) {
    assert_eq!(
        w.settled(number, Duration::from_secs(240)).await,
        "awaiting_manual"
    );
    assert_eq!(w.manual_reason(number).await.as_deref(), Some(reason));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(w.retailer_orders().await.is_empty(), "nothing bought");
}

async fn last_attempt(w: &World, number: &str) -> (String, Option<String>, Option<i64>, String) {
    let (id, state, error, total, dir): (i64, String, Option<String>, Option<i64>, String) =
        sqlx::query_as(
            "SELECT id, state, error, store_total, evidence_dir FROM placement_attempts
             WHERE order_number = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(number)
        .fetch_one(&w.env.app.pool)
        .await
        .unwrap();
    let log = std::fs::read_to_string(PathBuf::from(dir).join(format!("{id}-steps.txt")))
        .expect("the attempt's step log");
    (state, error, total, log)
}

/// The case of issue 18: the banner was accepted on the first product page, so the
/// second has none, and a step that required it failed the order. Now it is skipped and
/// the skip is in the evidence; the total is read from the confirmation's text.
#[tokio::test(flavor = "multi_thread")]
async fn a_two_line_order_with_a_first_visit_banner_and_text_prices_is_placed() {
    let recipes = Recipes::with(&Recipes::fixture("text-prices"));
    let w = recipes.world().await;
    w.switch_store("nordwind", "consent_banner").await;
    w.switch_store("nordwind", "script_rendered").await;
    let number = w
        .order(json!([{"sku": "NORD-1001", "quantity": 2}, {"sku": "NORD-1006", "quantity": 1}]))
        .await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let items: Vec<_> = log[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["sku"].as_str().unwrap(), i["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(items, [("NORD-1001", 2), ("NORD-1006", 1)]);
    let (state, _, total, steps) = last_attempt(&w, &number).await;
    assert_eq!(state, "placed");
    // "$258.98" on the page, the cents the retailer charged in its log.
    assert_eq!(total, log[0]["total_cents"].as_i64());
    assert_eq!(w.charge(&number).await.1, total);
    assert!(
        steps.contains("line 1 (NORD-1001) item_steps[1] click #consent-accept: done"),
        "{steps}"
    );
    assert!(
        steps.contains(
            "line 2 (NORD-1006) item_steps[1] click #consent-accept: skipped, #consent-accept not on the page"
        ),
        "{steps}"
    );
    w.stop().await;
}

/// Without `optional_if_absent` the same banner step is required: the second line stops
/// before anything is bought, as a changed page.
#[tokio::test(flavor = "multi_thread")]
async fn a_required_banner_step_stops_the_second_line_as_page_changed() {
    let recipe = Recipes::fixture("text-prices").replace("optional_if_absent = true\n", "");
    let recipes = Recipes::with(&recipe);
    let w = recipes.world().await;
    w.switch_store("nordwind", "consent_banner").await;
    let number = w
        .order(json!([{"sku": "NORD-1001", "quantity": 1}, {"sku": "NORD-1006", "quantity": 1}]))
        .await;
    waits_unbought_for_a_person(&w, &number, "page_changed").await;
    let (_, error, _, steps) = last_attempt(&w, &number).await;
    assert!(error.is_some_and(|e| e.contains("#consent-accept")));
    assert!(
        steps.contains("line 2 (NORD-1006) item_steps[1] click #consent-accept: stopped"),
        "{steps}"
    );
    w.stop().await;
}

/// "Was $103.49 Now $89.99": two amounts in the price element. Before the final click
/// that is a changed page for a person, never a guess at which is the price.
#[tokio::test(flavor = "multi_thread")]
async fn a_price_text_with_two_amounts_goes_to_the_manual_queue_unbought() {
    let recipes = Recipes::with(&Recipes::fixture("text-prices"));
    let w = recipes.world().await;
    w.switch("nordwind", "NORD-1001", "sale_price").await;
    let number = w.order(json!([{"sku": "NORD-1001", "quantity": 1}])).await;
    waits_unbought_for_a_person(&w, &number, "page_changed").await;
    let (_, error, _, _) = last_attempt(&w, &number).await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("several amounts")),
        "{error:?}"
    );
    w.stop().await;
}

/// "$84.99 (1 items)" on the confirmation: bought, but the total cannot be read for
/// certain, so a person checks it; bought once, no total recorded.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_confirmation_total_needs_verification_and_is_bought_once() {
    let recipes = Recipes::with(&Recipes::fixture("text-prices"));
    let w = recipes.world().await;
    w.switch("nordwind", "NORD-1006", "total_with_item_count")
        .await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    assert_eq!(
        w.settled(&number, Duration::from_secs(240)).await,
        "needs_verification"
    );
    assert_eq!(
        w.manual_reason(&number).await.as_deref(),
        Some("needs_verification")
    );
    assert_eq!(w.retailer_orders().await.len(), 1);
    let (state, error, total, _) = last_attempt(&w, &number).await;
    assert_eq!((state.as_str(), total), ("needs_verification", None));
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("total") && e.contains("several amounts")),
        "{error:?}"
    );
    assert_eq!(w.charge(&number).await.1, None, "no total paid recorded");
    w.stop().await;
}

/// The address typed into the checkout's iframe and sent with Enter there; the card
/// reference and the final click on the page around it.
#[tokio::test(flavor = "multi_thread")]
async fn an_address_form_in_an_iframe_is_filled_and_sent_with_enter() {
    let recipes = Recipes::with(&Recipes::fixture("framed-address"));
    let w = recipes.world().await;
    w.switch_store("nordwind", "framed_address").await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let address = &log[0]["shipping_address"];
    let body = cartwright_testkit::demo_checkout();
    assert_eq!(address["line1"], body["shipping_address"]["line1"]);
    assert_eq!(
        address["postal_code"],
        body["shipping_address"]["postal_code"]
    );
    assert_eq!(log[0]["card_reference"], "CORP-VISA-01");
    w.stop().await;
}

/// Enter in a field of the order form would send the order around the one recorded
/// click: the step is refused and nothing is bought.
#[tokio::test(flavor = "multi_thread")]
async fn enter_in_the_order_form_is_refused_and_nothing_is_bought() {
    let recipe = format!(
        "{}\n[[checkout_steps]]\naction = \"press\"\nselector = \"#card-reference\"\nkey = \"Enter\"\n",
        Recipes::fixture("text-prices")
    );
    let recipes = Recipes::with(&recipe);
    let w = recipes.world().await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    waits_unbought_for_a_person(&w, &number, "automation_failed").await;
    w.stop().await;
}

/// Ops give SKUs their options through the catalog API, as they would.
async fn set_options(w: &World, sku: &str, options: serde_json::Value) {
    let key = w
        .env
        .app
        .key("ops-variants", cartwright_shared::api_keys::Role::Ops)
        .await;
    let (status, body) = w
        .env
        .app
        .send_json(
            reqwest::Method::PUT,
            &format!("/v1/ops/catalog/{sku}"),
            &key,
            &json!({ "options": options }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["options"], options);
}

/// Variants: each line's size comes from its SKU's options (`{option.size}`) and is
/// chosen by its visible text, since the shop's option values are its own variant ids.
/// The retailer's order has each line in the size the catalog says.
#[tokio::test(flavor = "multi_thread")]
async fn each_line_is_bought_in_its_options_size_chosen_by_visible_text() {
    let recipes = Recipes::with(&Recipes::fixture("variants"));
    let w = recipes.world().await;
    w.switch_store("nordwind", "variant_ids").await;
    set_options(&w, "NORD-1002", json!({"size": "M", "colour": "navy"})).await;
    set_options(&w, "NORD-1003", json!({"size": "XL"})).await;
    let number = w
        .order(json!([{"sku": "NORD-1002", "quantity": 2}, {"sku": "NORD-1003", "quantity": 1}]))
        .await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let items: Vec<_> = log[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku"].as_str().unwrap(),
                i["option"].as_str(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    // Without the step the retailer's preselected first size (S) would have been bought.
    assert_eq!(
        items,
        [("NORD-1002", Some("M"), 2), ("NORD-1003", Some("XL"), 1)]
    );
    let (_, _, _, steps) = last_attempt(&w, &number).await;
    assert!(
        steps.contains("line 2 (NORD-1003) item_steps[2] select by text #product-option: done"),
        "{steps}"
    );
    w.stop().await;
}

/// A line whose SKU has no `size` option cannot be bought by a recipe choosing
/// `{option.size}`: it goes to a person as a changed page before anything is clicked,
/// never in the retailer's preselected size.
#[tokio::test(flavor = "multi_thread")]
async fn a_line_without_the_option_a_recipe_uses_goes_to_a_person_before_any_click() {
    let recipes = Recipes::with(&Recipes::fixture("variants"));
    let w = recipes.world().await;
    set_options(&w, "NORD-1002", json!({"size": "M"})).await;
    set_options(&w, "NORD-1003", json!({"colour": "red"})).await;
    let number = w
        .order(json!([{"sku": "NORD-1002", "quantity": 1}, {"sku": "NORD-1003", "quantity": 1}]))
        .await;
    waits_unbought_for_a_person(&w, &number, "page_changed").await;
    let (_, error, _, steps) = last_attempt(&w, &number).await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("NORD-1003") && e.contains("no option \"size\"")),
        "{error:?}"
    );
    // Checked before the first step: not even the first line was put in the basket.
    assert!(!steps.contains(": done"), "{steps}");
    w.stop().await;
}

/// A size the retailer does not offer (its text matches no option) is a changed page,
/// never another size.
#[tokio::test(flavor = "multi_thread")]
async fn a_size_the_retailer_does_not_offer_goes_to_a_person_unbought() {
    let recipes = Recipes::with(&Recipes::fixture("variants"));
    let w = recipes.world().await;
    w.switch_store("nordwind", "variant_ids").await;
    set_options(&w, "NORD-1002", json!({"size": "XXL"})).await;
    let number = w.order(json!([{"sku": "NORD-1002", "quantity": 1}])).await;
    waits_unbought_for_a_person(&w, &number, "page_changed").await;
    let (_, error, _, _) = last_attempt(&w, &number).await;
    assert!(
        error.as_deref().is_some_and(
            |e| e.contains("no option with text \"XXL\"") && e.contains("S | M | L | XL")
        ),
        "{error:?}"
    );
    w.stop().await;
}
