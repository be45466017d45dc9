//! Nordwind's element ids, classes and field names: the classic layout recipes are
//! written against, and the redesign the `changed_layout` scenario serves instead.
//! The form handlers accept both sets of field names (serde aliases in the forms).

use serde::Serialize;

use crate::scenario::{Scenario, Scenarios};

#[derive(Debug, Serialize)]
pub struct Field {
    pub id: &'static str,
    pub name: &'static str,
}

const fn field(id: &'static str, name: &'static str) -> Field {
    Field { id, name }
}

#[derive(Debug, Serialize)]
pub struct Layout {
    /// The `<body>` class.
    pub body_class: &'static str,
    pub product_title: &'static str,
    pub product_price: &'static str,
    pub price_class: &'static str,
    pub stock_status: &'static str,
    pub add_form: &'static str,
    pub option: Field,
    pub quantity: Field,
    pub add_button: &'static str,
    pub button_class: &'static str,
    pub checkout_form: &'static str,
    pub name: Field,
    pub line1: Field,
    pub line2: Field,
    pub city: Field,
    pub state: Field,
    pub postal_code: Field,
    pub country: Field,
    pub card_reference: Field,
    pub place_order: &'static str,
    pub checkout_total: &'static str,
}

pub const CLASSIC: Layout = Layout {
    body_class: "nw-classic",
    product_title: "product-title",
    product_price: "product-price",
    price_class: "price",
    stock_status: "stock-status",
    add_form: "add-to-cart-form",
    option: field("product-option", "option"),
    quantity: field("quantity", "quantity"),
    add_button: "add-to-cart",
    button_class: "btn btn-primary",
    checkout_form: "checkout-form",
    name: field("shipping-name", "name"),
    line1: field("shipping-line1", "line1"),
    line2: field("shipping-line2", "line2"),
    city: field("shipping-city", "city"),
    state: field("shipping-state", "state"),
    postal_code: field("shipping-postal-code", "postal_code"),
    country: field("shipping-country", "country"),
    card_reference: field("card-reference", "card_reference"),
    place_order: "place-order",
    checkout_total: "checkout-total",
};

pub const REDESIGN: Layout = Layout {
    body_class: "nw-2026",
    product_title: "pdp-heading",
    product_price: "pdp-amount",
    price_class: "amount",
    stock_status: "pdp-availability",
    add_form: "pdp-buy",
    option: field("pdp-variant", "variant"),
    quantity: field("pdp-qty", "qty"),
    add_button: "pdp-buy-now",
    button_class: "cta cta--solid",
    checkout_form: "co-form",
    name: field("co-recipient", "recipient"),
    line1: field("co-street", "street"),
    line2: field("co-street2", "street2"),
    city: field("co-town", "town"),
    state: field("co-region", "region"),
    postal_code: field("co-zip", "zip"),
    country: field("co-country-code", "country_code"),
    card_reference: field("co-po-card", "po_card"),
    place_order: "co-submit",
    checkout_total: "co-sum",
};

pub fn for_scenarios(scenarios: &Scenarios) -> &'static Layout {
    if scenarios.has(Scenario::ChangedLayout) {
        &REDESIGN
    } else {
        &CLASSIC
    }
}
