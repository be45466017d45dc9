//! Rackhouse's `data-testid`s, classes and field names: the current layout recipes are
//! written against, and the next one the `changed_layout` scenario serves instead.
//! Inputs carry `id="rh-<testid>"`. The form handlers accept both sets of field names.

use serde::Serialize;

use crate::scenario::{Scenario, Scenarios};

#[derive(Debug, Serialize)]
pub struct Field {
    pub testid: &'static str,
    pub name: &'static str,
}

const fn field(testid: &'static str, name: &'static str) -> Field {
    Field { testid, name }
}

#[derive(Debug, Serialize)]
pub struct Layout {
    /// The class of the page's outer `<div>`.
    pub theme: &'static str,
    pub pdp: &'static str,
    pub title: &'static str,
    pub price: &'static str,
    pub availability: &'static str,
    pub form: &'static str,
    /// The hidden input carrying the product id.
    pub product_field: &'static str,
    pub variant: Field,
    pub qty: Field,
    pub add: &'static str,
    pub checkout_form: &'static str,
    pub full_name: Field,
    pub address1: Field,
    pub address2: Field,
    pub town: Field,
    pub region: Field,
    pub zip: Field,
    pub country_code: Field,
    /// The saved-card radios: each has `data-testid="<testid>-<card>"`.
    pub saved_card: Field,
    pub place_order: &'static str,
    pub total: &'static str,
}

pub const CURRENT: Layout = Layout {
    theme: "rh-v3",
    pdp: "pdp",
    title: "pdp-title",
    price: "pdp-price",
    availability: "pdp-availability",
    form: "pdp-form",
    product_field: "productId",
    variant: field("pdp-variant", "variant"),
    qty: field("pdp-qty", "qty"),
    add: "pdp-add-to-basket",
    checkout_form: "checkout-form",
    full_name: field("ship-full-name", "fullName"),
    address1: field("ship-address1", "address1"),
    address2: field("ship-address2", "address2"),
    town: field("ship-town", "town"),
    region: field("ship-region", "region"),
    zip: field("ship-zip", "zip"),
    country_code: field("ship-country", "countryCode"),
    saved_card: field("saved-card", "savedCard"),
    place_order: "place-order",
    total: "checkout-total",
};

pub const NEXT: Layout = Layout {
    theme: "rh-v4",
    pdp: "product-view",
    title: "product-name",
    price: "product-cost",
    availability: "stock-badge",
    form: "buy-box",
    product_field: "pid",
    variant: field("buy-option", "opt"),
    qty: field("buy-amount", "amount"),
    add: "buy-now",
    checkout_form: "order-form",
    full_name: field("recipient-name", "recipient"),
    address1: field("street-1", "street_1"),
    address2: field("street-2", "street_2"),
    town: field("city-name", "city_name"),
    region: field("state-code", "state_code"),
    zip: field("post-code", "post_code"),
    country_code: field("country", "country"),
    saved_card: field("wallet-card", "payment_method"),
    place_order: "submit-order",
    total: "order-sum",
};

pub fn for_scenarios(scenarios: &Scenarios) -> &'static Layout {
    if scenarios.has(Scenario::ChangedLayout) {
        &NEXT
    } else {
        &CURRENT
    }
}
