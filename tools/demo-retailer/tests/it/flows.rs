//! Each store's whole flow, step by step with the README's selectors: product → cart →
//! checkout → confirmation, and the order log shows exactly that one order.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, NORDWIND, RACKHOUSE, expected_address};

#[tokio::test]
async fn nordwind_product_cart_checkout_confirmation() {
    let site = common::start().await;
    let shopper = site.shopper();

    let home = shopper.get("/nordwind/").await;
    assert_eq!(
        home.count("#product-list li.product-item a.product-link"),
        7
    );
    assert_eq!(
        home.attr("li[data-sku=NORD-1001] a", "href").as_deref(),
        Some("/nordwind/p/NORD-1001")
    );

    let product = shopper.get("/nordwind/p/NORD-1001").await;
    assert_eq!(product.status, StatusCode::OK);
    assert_eq!(product.text("#product-title"), "Trail Runner Shoe");
    assert_eq!(product.text("#product-price"), "$89.99");
    assert_eq!(
        product
            .attr("#product-price", "data-price-cents")
            .as_deref(),
        Some("8999")
    );
    assert_eq!(product.text("#stock-status"), "In stock");
    assert_eq!(product.count("#product-option option"), 6);
    let fills = [("#product-option", "43"), ("#quantity", "2")];
    let added = shopper
        .submit(&product, "#add-to-cart-form", &fills, "#add-to-cart")
        .await;
    assert_eq!(added.redirect(), "/nordwind/cart");

    let socks = shopper.get("/nordwind/p/NORD-1005").await;
    let added = shopper
        .submit(&socks, "#add-to-cart-form", &[], "#add-to-cart")
        .await;
    assert_eq!(added.redirect(), "/nordwind/cart");

    let cart = shopper.get("/nordwind/cart").await;
    assert_eq!(cart.count("#cart-items tr.cart-line"), 2);
    assert_eq!(
        cart.text("tr.cart-line[data-sku=NORD-1001] .cart-line-option"),
        "43"
    );
    assert_eq!(
        cart.text("tr.cart-line[data-sku=NORD-1001] .cart-line-qty"),
        "2"
    );
    assert_eq!(cart.text("#cart-shipping"), "$0.00");
    assert_eq!(cart.text("#cart-total"), "$199.97");
    let next = cart.attr("#proceed-to-checkout", "href").unwrap();

    let checkout = shopper.get(&next).await;
    assert_eq!(checkout.status, StatusCode::OK);
    assert_eq!(checkout.text("#checkout-total"), "$199.97");
    assert!(!checkout.has("#captcha-challenge"));
    let placed = shopper.place(&NORDWIND, &checkout).await;
    let confirmation_path = placed.redirect().to_owned();
    assert!(
        confirmation_path.starts_with("/nordwind/order/NW-"),
        "{confirmation_path}"
    );

    let confirmation = shopper.get(&confirmation_path).await;
    assert_eq!(confirmation.status, StatusCode::OK);
    let number = confirmation.text("#order-number");
    assert!(
        number.len() == 9 && number[3..].chars().all(|c| c.is_ascii_digit()),
        "{number}"
    );
    assert_eq!(confirmation_path, format!("/nordwind/order/{number}"));
    assert_eq!(confirmation.text("#order-total"), "$199.97");

    let orders = site.orders("nordwind").await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = &orders[0];
    assert_eq!(order["order_number"], number.as_str());
    assert_eq!(order["store"], "nordwind");
    let items: Vec<_> = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku"].clone(),
                i["option"].clone(),
                i["quantity"].clone(),
                i["unit_price_cents"].clone(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (json!("NORD-1001"), json!("43"), json!(2), json!(8999)),
            (json!("NORD-1005"), json!("S/M"), json!(1), json!(1999)),
        ]
    );
    assert_eq!(order["shipping_address"], expected_address());
    assert_eq!(order["card_reference"], "CORP-VISA-01");
    assert_eq!(order["saved_card"], json!(null));
    assert_eq!(
        (
            order["subtotal_cents"].clone(),
            order["shipping_cents"].clone()
        ),
        (json!(19997), json!(0))
    );
    assert_eq!(order["total_cents"], 19997);
    assert!(order["placed_at"].as_str().is_some_and(|t| t.contains('T')));
    assert!(site.orders("rackhouse").await.is_empty());

    // The cart is spent: checkout sends back to it, and resubmitting buys nothing more.
    assert!(shopper.get("/nordwind/cart").await.has("#cart-empty"));
    assert_eq!(
        shopper.get("/nordwind/checkout").await.redirect(),
        "/nordwind/cart"
    );
    assert_eq!(
        shopper.force_place(&NORDWIND, &checkout).await.redirect(),
        "/nordwind/cart"
    );
    assert_eq!(site.orders("nordwind").await.len(), 1);
}

#[tokio::test]
async fn rackhouse_product_basket_continue_checkout_confirmation() {
    let site = common::start().await;
    let shopper = site.shopper();

    let home = shopper.get("/rackhouse/").await;
    assert_eq!(home.count("[data-testid=product-card]"), 7);
    let link = home.attr(
        "[data-testid=product-card][data-product-id=rh-88227] a",
        "href",
    );
    assert_eq!(link.as_deref(), Some("/rackhouse/products/rh-88227"));

    let helmet = shopper.get("/rackhouse/products/rh-88227").await;
    assert_eq!(helmet.text("[data-testid=pdp-title]"), "Bike Helmet");
    assert_eq!(helmet.text("[data-testid=pdp-price]"), "USD 74.50");
    assert_eq!(
        helmet
            .attr("[data-testid=pdp-price]", "data-amount-cents")
            .as_deref(),
        Some("7450")
    );
    let fills = [
        ("[data-testid=pdp-variant]", "M"),
        ("[data-testid=pdp-qty]", "1"),
    ];
    let added = shopper
        .submit(
            &helmet,
            "[data-testid=pdp-form]",
            &fills,
            "[data-testid=pdp-add-to-basket]",
        )
        .await;
    assert_eq!(added.redirect(), "/rackhouse/basket");
    shopper.add(&RACKHOUSE, "RACK-2004", "", "1").await;

    let basket = shopper.get("/rackhouse/basket").await;
    assert_eq!(basket.count("[data-testid=basket-line]"), 2);
    assert_eq!(basket.text("[data-testid=basket-delivery]"), "9.95");
    assert_eq!(basket.text("[data-testid=basket-total]"), "97.44");
    let next = basket
        .attr("[data-testid=basket-checkout]", "href")
        .unwrap();
    assert_eq!(next, "/rackhouse/checkout/start");

    // Skipping the continue step is not possible.
    assert_eq!(
        shopper.get("/rackhouse/checkout").await.redirect(),
        "/rackhouse/checkout/start"
    );
    let step = shopper.get(&next).await;
    assert!(step.has("[data-testid=checkout-start]"));
    let continued = shopper
        .submit(
            &step,
            "[data-testid=continue-form]",
            &[],
            "[data-testid=continue-as-guest]",
        )
        .await;
    assert_eq!(continued.redirect(), "/rackhouse/checkout");

    let checkout = shopper.get("/rackhouse/checkout").await;
    assert_eq!(checkout.status, StatusCode::OK);
    assert_eq!(
        checkout.count("[data-testid=saved-cards] input[type=radio]"),
        2
    );
    assert_eq!(
        checkout.count("[data-testid=saved-cards] input[checked]"),
        0
    );
    assert_eq!(checkout.text("[data-testid=checkout-total]"), "97.44");
    let placed = shopper.place(&RACKHOUSE, &checkout).await;
    let confirmation_path = placed.redirect().to_owned();
    assert!(
        confirmation_path.starts_with("/rackhouse/orders/RH-"),
        "{confirmation_path}"
    );

    let confirmation = shopper.get(&confirmation_path).await;
    let number = confirmation.text("[data-testid=order-number]");
    assert_eq!(
        confirmation.text("[data-testid=order-reference]"),
        format!("Order # {number}")
    );
    let parts: Vec<_> = number.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0] == "RH" && parts[1].len() == 4 && parts[2].len() == 6,
        "{number}"
    );
    assert_eq!(confirmation.text("[data-testid=order-total]"), "USD 97.44");

    let orders = site.orders("rackhouse").await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = &orders[0];
    assert_eq!(order["order_number"], number.as_str());
    assert_eq!(order["items"][0]["sku"], "RACK-2002");
    assert_eq!(order["items"][0]["product_id"], "rh-88227");
    assert_eq!(order["items"][0]["option"], "M");
    assert_eq!(order["items"][1]["sku"], "RACK-2004");
    assert_eq!(order["items"][1]["unit_price_cents"], 1299);
    assert_eq!(order["shipping_address"], expected_address());
    assert_eq!(order["saved_card"], "visa-4242");
    assert_eq!(order["card_reference"], json!(null));
    assert_eq!(order["total_cents"], 7450 + 1299 + 995);
    assert!(site.orders("nordwind").await.is_empty());

    assert!(
        shopper
            .get("/rackhouse/basket")
            .await
            .has("[data-testid=basket-empty]")
    );
    assert_eq!(
        shopper.force_place(&RACKHOUSE, &checkout).await.redirect(),
        "/rackhouse/basket"
    );
    assert_eq!(site.orders("rackhouse").await.len(), 1);
}

#[tokio::test]
async fn invalid_checkouts_are_refused_with_the_fields_named_and_input_escaped() {
    let site = common::start().await;
    for store in [&NORDWIND, &RACKHOUSE] {
        let shopper = site.shopper();
        shopper.add(store, store.plain_sku().0, "", "1").await;
        let checkout = shopper.open_checkout(store).await;
        let fills = [
            (store.address[0], "<script>alert(1)</script>"),
            (store.address[3], ""),
        ];
        let (action, data) = checkout.form_data(store.checkout_form, &fills);
        let refused = shopper.post_form(&action, &data).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            store.id
        );
        let errors = refused.text(store.errors);
        assert!(
            errors.contains("City is required.") && errors.contains("Postal code is required."),
            "{errors}"
        );
        let payment = if store.id == "nordwind" {
            "card reference"
        } else {
            "saved cards"
        };
        assert!(errors.contains(payment), "{errors}");
        assert!(
            !refused.body.contains("<script>alert(1)"),
            "unescaped input"
        );
        assert_eq!(
            refused.attr(store.address[0], "value").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert!(site.orders(store.id).await.is_empty());
    }
}

#[tokio::test]
async fn bad_add_to_cart_input_and_unknown_pages_are_refused() {
    let site = common::start().await;
    let shopper = site.shopper();
    let product = shopper.get("/nordwind/p/NORD-1001").await;
    let zero = shopper
        .submit(
            &product,
            "#add-to-cart-form",
            &[("#quantity", "0")],
            "#add-to-cart",
        )
        .await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(zero.text("#form-error"), "Quantity must be 1 to 99.");
    let (action, mut data) = product.form_data("#add-to-cart-form", &[]);
    data.retain(|(name, _)| name != "option");
    let no_size = shopper.post_form(&action, &data).await;
    assert_eq!(no_size.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_size.text("#form-error"), "Please choose a valid Size.");
    assert!(shopper.get("/nordwind/cart").await.has("#cart-empty"));

    assert_eq!(
        shopper.get("/nordwind/p/RACK-2001").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        shopper.get("/rackhouse/products/NORD-1001").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        shopper.get("/nordwind/order/NW-000000").await.status,
        StatusCode::NOT_FOUND
    );
    let typo = shopper.get("/nordwind/p/NORD-1001?scenario=captcah").await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(typo.body.contains("captcah"));
    let index = shopper.get("/").await;
    assert_eq!(index.count("#stores a"), 2);
}
