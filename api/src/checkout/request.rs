//! The body of `POST /v1/checkouts` and `POST /v1/quotes` as it arrives (every field
//! optional, so a missing one gets our message naming it), and the checked values built
//! from it: the cart both price, and the checkout request, which adds the payment.

use std::collections::HashSet;

use cartwright_shared::money::Currency;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::validate::{self, country_code, email, optional_text, phone, required_text};

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 99;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    customer: Option<CustomerBody>,
    shipping_address: Option<AddressBody>,
    items: Option<Vec<ItemBody>>,
    payment_method: Option<String>,
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    reference: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    name: Option<String>,
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    sku: Option<String>,
    quantity: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    /// The storefront's own id for its customer, by which it lists the customer's orders.
    /// Left out of the stored JSON when not given, as in checkouts made before it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
}

/// What is priced: the same for a quote and for the checkout that follows it.
#[derive(Debug, Clone)]
pub struct Cart {
    pub customer: Customer,
    pub shipping_address: Address,
    pub lines: Vec<Line>,
    pub currency: Currency,
}

#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub cart: Cart,
    pub payment_method: String,
}

impl CheckoutBody {
    /// Checks every field but `payment_method`, which comes back unchecked: a checkout
    /// requires it, a quote ignores it.
    fn into_cart(self) -> Result<(Cart, Option<String>), ApiError> {
        let customer = self.customer.ok_or_else(|| ApiError::missing("customer"))?;
        let customer = Customer {
            email: email("customer.email", customer.email)?,
            name: required_text("customer.name", customer.name)?,
            phone: phone("customer.phone", customer.phone)?,
            reference: customer
                .reference
                .map(|r| {
                    validate::customer_reference(&r)
                        .map_err(|message| ApiError::invalid("customer.reference", message))
                })
                .transpose()?,
        };
        let address = self
            .shipping_address
            .ok_or_else(|| ApiError::missing("shipping_address"))?;
        let shipping_address = address_from(address)?;
        let lines = lines_from(self.items)?;
        let currency = Currency::parse(&required_text("currency", self.currency)?)
            .map_err(|message| ApiError::invalid("currency", message))?;
        let cart = Cart {
            customer,
            shipping_address,
            lines,
            currency,
        };
        Ok((cart, self.payment_method))
    }
}

impl TryFrom<CheckoutBody> for Cart {
    type Error = ApiError;

    fn try_from(body: CheckoutBody) -> Result<Self, ApiError> {
        body.into_cart().map(|(cart, _)| cart)
    }
}

impl TryFrom<CheckoutBody> for CheckoutRequest {
    type Error = ApiError;

    fn try_from(body: CheckoutBody) -> Result<Self, ApiError> {
        let (cart, payment_method) = body.into_cart()?;
        Ok(Self {
            cart,
            payment_method: payment_method_from(payment_method)?,
        })
    }
}

fn address_from(a: AddressBody) -> Result<Address, ApiError> {
    let country = country_code("shipping_address.country", a.country)?;
    let state = optional_text("shipping_address.state", a.state)?.map(|s| s.to_ascii_uppercase());
    let postal_code = required_text("shipping_address.postal_code", a.postal_code)?;
    if country == "US" {
        // US tax is by state, so a US address without one cannot be priced.
        let valid_state = state
            .as_deref()
            .is_some_and(|s| s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()));
        if !valid_state {
            return Err(ApiError::invalid(
                "shipping_address.state",
                "shipping_address.state must be a two-letter US state code",
            ));
        }
        let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
        let zip_ok = match postal_code.split_once('-') {
            None => digits(&postal_code, 5),
            Some((five, four)) => digits(five, 5) && digits(four, 4),
        };
        if !zip_ok {
            return Err(ApiError::invalid(
                "shipping_address.postal_code",
                "shipping_address.postal_code must be a US ZIP code (12345 or 12345-6789)",
            ));
        }
    }
    Ok(Address {
        name: required_text("shipping_address.name", a.name)?,
        line1: required_text("shipping_address.line1", a.line1)?,
        line2: optional_text("shipping_address.line2", a.line2)?,
        city: required_text("shipping_address.city", a.city)?,
        state,
        postal_code,
        country,
    })
}

fn lines_from(items: Option<Vec<ItemBody>>) -> Result<Vec<Line>, ApiError> {
    let items = items.ok_or_else(|| ApiError::missing("items"))?;
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(ApiError::invalid(
            "items",
            format!(
                "items must hold 1 to {MAX_LINES} lines, not {}",
                items.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let sku_field = format!("items[{i}].sku");
            let sku = required_text(&sku_field, item.sku)?;
            if !seen.insert(sku.clone()) {
                return Err(ApiError::invalid(
                    sku_field,
                    format!("{sku} appears on more than one line; put the total quantity on one"),
                ));
            }
            let quantity_field = format!("items[{i}].quantity");
            let quantity = item
                .quantity
                .ok_or_else(|| ApiError::missing(&quantity_field))?;
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(ApiError::invalid(
                    &quantity_field,
                    format!("{quantity_field} must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            Ok(Line {
                sku,
                quantity: quantity as i32,
            })
        })
        .collect()
}

/// Only a Stripe PaymentMethod id is accepted: card numbers never enter this system.
fn payment_method_from(value: Option<String>) -> Result<String, ApiError> {
    let value = required_text("payment_method", value)?;
    let ok = value.len() <= 255
        && value.strip_prefix("pm_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            "payment_method",
            "payment_method must be a Stripe PaymentMethod id (pm_…); card details are never accepted",
        ))
    }
}
