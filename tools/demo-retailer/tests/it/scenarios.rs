//! Every scenario switch, in each store: its visible effect, what it does to the order
//! log, and that resetting the switches ends it.

use std::time::Instant;

use reqwest::StatusCode;

use crate::common::{self, NORDWIND, RACKHOUSE, SLOW, Store, expected_address};

async fn captcha(store: &Store) {
    let site = common::start().await;
    let (sku, ..) = store.plain_sku();
    site.set_scenario(store.id, sku, "captcha").await;
    let shopper = site.shopper();
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    assert_eq!(checkout.status, StatusCode::OK);
    assert!(checkout.has(store.captcha), "{}", checkout.body);
    assert!(!checkout.has(store.place_button));
    let forced = shopper.force_place(store, &checkout).await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN);
    assert!(forced.has(store.captcha));
    assert!(site.orders(store.id).await.is_empty());

    site.reset_scenarios().await;
    let checkout = shopper.get(store.checkout_path).await;
    assert!(!checkout.has(store.captcha));
    assert!(
        shopper
            .place(store, &checkout)
            .await
            .status
            .is_redirection()
    );
    assert_eq!(site.orders(store.id).await.len(), 1);

    // One-off: the product URL's ?scenario= follows that line to checkout, nothing else.
    let one_off = site.shopper();
    one_off.add(store, sku, "?scenario=captcha", "1").await;
    assert!(one_off.open_checkout(store).await.has(store.captcha));
    let plain = site.shopper();
    plain.add(store, sku, "", "1").await;
    assert!(plain.open_checkout(store).await.has(store.place_button));
}

#[tokio::test]
async fn nordwind_captcha_replaces_the_place_order_button() {
    captcha(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_captcha_replaces_the_place_order_button() {
    captcha(&RACKHOUSE).await;
}

async fn out_of_stock(store: &Store) {
    let site = common::start().await;
    let (sku, ..) = store.plain_sku();
    let shopper = site.shopper();
    let in_stock = shopper.get(store.product_path(sku)).await;
    let (add_action, add_data) = in_stock.form_data(store.add_form, &[]);

    site.set_scenario(store.id, sku, "out_of_stock").await;
    let sold_out = shopper.get(store.product_path(sku)).await;
    assert_eq!(sold_out.text(store.availability), store.sold_out_text);
    assert!(
        sold_out.attr(store.add_button, "disabled").is_some(),
        "{}",
        sold_out.body
    );
    let refused = shopper.post_form(&add_action, &add_data).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(
        shopper.get(store.checkout_path).await.redirect(),
        store.cart_path
    );

    // Sold out after it went into the basket: checkout refuses to place it.
    site.reset_scenarios().await;
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    site.set_scenario(store.id, sku, "out_of_stock").await;
    let placed = shopper.place(store, &checkout).await;
    assert_eq!(placed.status, StatusCode::CONFLICT);
    assert!(placed.text(store.errors).contains("sold out"));
    assert!(site.orders(store.id).await.is_empty());

    site.reset_scenarios().await;
    let product = site.shopper().get(store.product_path(sku)).await;
    assert_ne!(product.text(store.availability), store.sold_out_text);
    let one_off = site
        .shopper()
        .get(&format!(
            "{}?scenario=out_of_stock",
            store.product_path(sku)
        ))
        .await;
    assert_eq!(one_off.text(store.availability), store.sold_out_text);
}

#[tokio::test]
async fn nordwind_out_of_stock_disables_add_to_cart() {
    out_of_stock(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_out_of_stock_disables_add_to_basket() {
    out_of_stock(&RACKHOUSE).await;
}

async fn price_change(store: &Store) {
    let site = common::start().await;
    let (sku, price, raised) = store.plain_sku();
    site.set_scenario(store.id, sku, "price_change").await;
    let shopper = site.shopper();
    let product = shopper.get(store.product_path(sku)).await;
    assert_eq!(
        product.attr(store.price, store.price_cents_attr),
        Some(raised.to_string())
    );
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    shopper.place(store, &checkout).await.redirect();
    let orders = site.orders(store.id).await;
    assert_eq!(orders[0]["items"][0]["unit_price_cents"], raised);
    assert!(
        orders[0]["scenarios"]
            .as_array()
            .unwrap()
            .contains(&"price_change".into())
    );

    site.reset_scenarios().await;
    let product = shopper.get(store.product_path(sku)).await;
    assert_eq!(
        product.attr(store.price, store.price_cents_attr),
        Some(price.to_string())
    );
    let one_off = shopper
        .get(&format!(
            "{}?scenario=price_change",
            store.product_path(sku)
        ))
        .await;
    assert_eq!(
        one_off.attr(store.price, store.price_cents_attr),
        Some(raised.to_string())
    );
}

#[tokio::test]
async fn nordwind_price_change_shows_a_higher_price() {
    price_change(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_price_change_shows_a_higher_price() {
    price_change(&RACKHOUSE).await;
}

#[tokio::test]
async fn slow_pages_answer_after_the_configured_delay() {
    let site = common::start().await;
    for store in [&NORDWIND, &RACKHOUSE] {
        let (sku, ..) = store.plain_sku();
        let shopper = site.shopper();
        let timed = |path: String| {
            let shopper = &shopper;
            async move {
                let started = Instant::now();
                assert_eq!(shopper.get(&path).await.status, StatusCode::OK);
                started.elapsed()
            }
        };
        assert!(timed(store.product_path(sku).to_owned()).await < SLOW);
        assert!(timed(format!("{}?scenario=slow", store.product_path(sku))).await >= SLOW);
        site.set_scenario(store.id, sku, "slow").await;
        assert!(timed(store.product_path(sku).to_owned()).await >= SLOW);
        shopper.add(store, sku, "", "1").await;
        assert!(
            timed(store.cart_path.to_owned()).await >= SLOW,
            "the basket holds a slow SKU"
        );
        site.reset_scenarios().await;
        assert!(timed(store.cart_path.to_owned()).await < SLOW);
    }
}

async fn changed_layout(store: &Store) {
    let site = common::start().await;
    let (sku, ..) = store.plain_sku();
    site.set_scenario(store.id, sku, "changed_layout").await;
    let shopper = site.shopper();
    let product = shopper.get(store.product_path(sku)).await;
    for selector in [
        store.price,
        store.add_form,
        store.quantity,
        store.add_button,
    ] {
        assert!(
            !product.has(selector),
            "{selector} still on the redesigned page"
        );
    }
    let redesign = &store.redesign;
    let fills = [(redesign.quantity, "2")];
    let added = shopper
        .submit(&product, redesign.add_form, &fills, redesign.add_button)
        .await;
    assert_eq!(added.redirect(), store.cart_path);

    let checkout = shopper.open_checkout(store).await;
    for selector in [
        store.checkout_form,
        store.address[0],
        store.payment.0,
        store.place_button,
    ] {
        assert!(
            !checkout.has(selector),
            "{selector} still on the redesigned checkout"
        );
    }
    let placed = shopper
        .submit(
            &checkout,
            redesign.checkout_form,
            &store.redesign_fills(),
            redesign.place_button,
        )
        .await;
    assert!(placed.status.is_redirection(), "{}", placed.body);
    let orders = site.orders(store.id).await;
    assert_eq!(orders[0]["items"][0]["quantity"], 2);
    assert_eq!(orders[0]["shipping_address"], expected_address());

    site.reset_scenarios().await;
    assert!(
        shopper
            .get(store.product_path(sku))
            .await
            .has(store.add_button)
    );
}

#[tokio::test]
async fn nordwind_changed_layout_moves_every_selector() {
    changed_layout(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_changed_layout_moves_every_selector() {
    changed_layout(&RACKHOUSE).await;
}

async fn error_after_submit(store: &Store) {
    let site = common::start().await;
    let (sku, ..) = store.plain_sku();
    site.set_scenario(store.id, sku, "error_after_submit").await;
    let shopper = site.shopper();
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    let failed = shopper.place(store, &checkout).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!failed.has(store.order_number));

    // The nasty part: the order WAS placed, once, and the basket is spent.
    let orders = site.orders(store.id).await;
    assert_eq!(orders.len(), 1);
    assert!(
        !failed
            .body
            .contains(orders[0]["order_number"].as_str().unwrap())
    );
    assert!(
        orders[0]["scenarios"]
            .as_array()
            .unwrap()
            .contains(&"error_after_submit".into())
    );
    assert_eq!(
        shopper.force_place(store, &checkout).await.redirect(),
        store.cart_path
    );
    assert_eq!(site.orders(store.id).await.len(), 1);

    site.reset_scenarios().await;
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    assert!(
        shopper
            .place(store, &checkout)
            .await
            .status
            .is_redirection()
    );
}

#[tokio::test]
async fn nordwind_error_after_submit_answers_500_but_places_the_order() {
    error_after_submit(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_error_after_submit_answers_500_but_places_the_order() {
    error_after_submit(&RACKHOUSE).await;
}

async fn surcharge(store: &Store) {
    let site = common::start().await;
    let (sku, price, _) = store.plain_sku();
    site.set_scenario(store.id, sku, "surcharge").await;
    let shopper = site.shopper();
    shopper.add(store, sku, "", "1").await;
    let checkout = shopper.open_checkout(store).await;
    let confirmation = shopper.place(store, &checkout).await.redirect().to_owned();
    let orders = site.orders(store.id).await;
    let order = &orders[0];
    assert_eq!(order["items"][0]["unit_price_cents"], price);
    let shown =
        order["subtotal_cents"].as_i64().unwrap() + order["shipping_cents"].as_i64().unwrap();
    let extra = (shown * 10 + 50) / 100;
    assert_eq!(order["surcharge_cents"], extra);
    let charged = shown + extra;
    assert_eq!(order["total_cents"], charged);
    // The confirmation's total carries what was charged, not what the checkout showed.
    let page = shopper.get(&confirmation).await;
    assert!(
        page.body.contains(&format!("-cents=\"{charged}\"")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn nordwind_surcharge_charges_more_than_the_checkout_showed() {
    surcharge(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_surcharge_charges_more_than_the_checkout_showed() {
    surcharge(&RACKHOUSE).await;
}

async fn sign_in_wall(store: &Store) {
    let site = common::start().await;
    let (sku, ..) = store.plain_sku();
    site.set_scenario(store.id, sku, "sign_in_wall").await;
    let shopper = site.shopper();
    shopper.add(store, sku, "", "1").await;
    let wall = shopper.open_checkout(store).await;
    let target = wall.redirect().to_owned();
    assert!(target.starts_with(store.sign_in_path), "{target}");
    let sign_in = shopper.get(&target).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    let fills = [
        ("input[name=email]", "buyer@example.com"),
        ("input[name=password]", "hunter2"),
    ];
    let (action, data) = sign_in.form_data(store.sign_in_form, &fills);
    assert_eq!(
        shopper.post_form(&action, &data).await.status,
        StatusCode::UNAUTHORIZED
    );
    let forced = shopper.post_form(store.checkout_path, &[]).await;
    assert!(forced.redirect().starts_with(store.sign_in_path));
    assert!(site.orders(store.id).await.is_empty());

    site.reset_scenarios().await;
    assert_eq!(shopper.open_checkout(store).await.status, StatusCode::OK);
}

#[tokio::test]
async fn nordwind_sign_in_wall_redirects_checkout() {
    sign_in_wall(&NORDWIND).await;
}

#[tokio::test]
async fn rackhouse_sign_in_wall_redirects_checkout() {
    sign_in_wall(&RACKHOUSE).await;
}
