//! Each store's recipe: URLs and selectors of the normal layout, as README.md lists them.

pub struct Store {
    pub id: &'static str,
    /// SKU → product page path.
    pub products: &'static [(&'static str, &'static str)],
    pub price: &'static str,
    pub price_cents_attr: &'static str,
    pub availability: &'static str,
    pub add_form: &'static str,
    pub quantity: &'static str,
    pub add_button: &'static str,
    pub cart_path: &'static str,
    pub continue_step: Option<&'static str>,
    pub checkout_path: &'static str,
    pub checkout_form: &'static str,
    pub address: [&'static str; 7],
    /// The payment fill: a selector and the value to type (empty for a radio).
    pub payment: (&'static str, &'static str),
    pub place_button: &'static str,
    pub errors: &'static str,
    pub captcha: &'static str,
    pub order_number: &'static str,
    pub sold_out_text: &'static str,
    pub sign_in_path: &'static str,
    pub sign_in_form: &'static str,
    pub redesign: Redesign,
}

/// The `changed_layout` scenario's selectors.
pub struct Redesign {
    pub add_form: &'static str,
    pub quantity: &'static str,
    pub add_button: &'static str,
    pub checkout_form: &'static str,
    pub address: [&'static str; 7],
    pub payment: (&'static str, &'static str),
    pub place_button: &'static str,
}

const ADDRESS: [&str; 7] = [
    "Ada Lovelace",
    "12 Analytical Way",
    "Suite 3",
    "Portland",
    "OR",
    "97201",
    "US",
];

fn fills(
    address: [&'static str; 7],
    payment: (&'static str, &'static str),
) -> Vec<(&'static str, &'static str)> {
    let mut fills: Vec<_> = address.into_iter().zip(ADDRESS).collect();
    fills.push(payment);
    fills
}

impl Store {
    pub fn product_path(&self, sku: &str) -> &'static str {
        self.products
            .iter()
            .find(|(s, _)| *s == sku)
            .map(|(_, p)| *p)
            .expect("a known SKU")
    }

    pub fn fills(&self) -> Vec<(&'static str, &'static str)> {
        fills(self.address, self.payment)
    }

    pub fn redesign_fills(&self) -> Vec<(&'static str, &'static str)> {
        fills(self.redesign.address, self.redesign.payment)
    }

    /// A SKU of this store with no option to choose: its catalog price, and that
    /// price raised 15 % by the `price_change` scenario.
    pub fn plain_sku(&self) -> (&'static str, i64, i64) {
        match self.id {
            "nordwind" => ("NORD-1006", 7900, 9085),
            _ => ("RACK-2004", 1299, 1494),
        }
    }
}

pub const NORDWIND: Store = Store {
    id: "nordwind",
    products: &[
        ("NORD-1001", "/nordwind/p/NORD-1001"),
        ("NORD-1003", "/nordwind/p/NORD-1003"),
        ("NORD-1005", "/nordwind/p/NORD-1005"),
        ("NORD-1006", "/nordwind/p/NORD-1006"),
    ],
    price: "#product-price",
    price_cents_attr: "data-price-cents",
    availability: "#stock-status",
    add_form: "#add-to-cart-form",
    quantity: "#quantity",
    add_button: "#add-to-cart",
    cart_path: "/nordwind/cart",
    continue_step: None,
    checkout_path: "/nordwind/checkout",
    checkout_form: "#checkout-form",
    address: [
        "#shipping-name",
        "#shipping-line1",
        "#shipping-line2",
        "#shipping-city",
        "#shipping-state",
        "#shipping-postal-code",
        "#shipping-country",
    ],
    payment: ("#card-reference", "CORP-VISA-01"),
    place_button: "#place-order",
    errors: "#checkout-errors",
    captcha: "#captcha-challenge",
    order_number: "#order-number",
    sold_out_text: "Sold out",
    sign_in_path: "/nordwind/account/sign-in",
    sign_in_form: "#sign-in-form",
    redesign: Redesign {
        add_form: "#pdp-buy",
        quantity: "#pdp-qty",
        add_button: "#pdp-buy-now",
        checkout_form: "#co-form",
        address: [
            "#co-recipient",
            "#co-street",
            "#co-street2",
            "#co-town",
            "#co-region",
            "#co-zip",
            "#co-country-code",
        ],
        payment: ("#co-po-card", "CORP-VISA-01"),
        place_button: "#co-submit",
    },
};

pub const RACKHOUSE: Store = Store {
    id: "rackhouse",
    products: &[
        ("RACK-2001", "/rackhouse/products/rh-88213"),
        ("RACK-2002", "/rackhouse/products/rh-88227"),
        ("RACK-2004", "/rackhouse/products/rh-88452"),
        ("RACK-2006", "/rackhouse/products/rh-88604"),
    ],
    price: "[data-testid=pdp-price]",
    price_cents_attr: "data-amount-cents",
    availability: "[data-testid=pdp-availability]",
    add_form: "[data-testid=pdp-form]",
    quantity: "[data-testid=pdp-qty]",
    add_button: "[data-testid=pdp-add-to-basket]",
    cart_path: "/rackhouse/basket",
    continue_step: Some("/rackhouse/checkout/start"),
    checkout_path: "/rackhouse/checkout",
    checkout_form: "[data-testid=checkout-form]",
    address: [
        "[data-testid=ship-full-name]",
        "[data-testid=ship-address1]",
        "[data-testid=ship-address2]",
        "[data-testid=ship-town]",
        "[data-testid=ship-region]",
        "[data-testid=ship-zip]",
        "[data-testid=ship-country]",
    ],
    payment: ("[data-testid=saved-card-visa-4242]", ""),
    place_button: "[data-testid=place-order]",
    errors: "[data-testid=checkout-errors]",
    captcha: "[data-testid=captcha]",
    order_number: "[data-testid=order-number]",
    sold_out_text: "Out of stock",
    sign_in_path: "/rackhouse/login",
    sign_in_form: "[data-testid=login-form]",
    redesign: Redesign {
        add_form: "[data-testid=buy-box]",
        quantity: "[data-testid=buy-amount]",
        add_button: "[data-testid=buy-now]",
        checkout_form: "[data-testid=order-form]",
        address: [
            "[data-testid=recipient-name]",
            "[data-testid=street-1]",
            "[data-testid=street-2]",
            "[data-testid=city-name]",
            "[data-testid=state-code]",
            "[data-testid=post-code]",
            "[data-testid=country]",
        ],
        payment: ("[data-testid=wallet-card-visa-4242]", ""),
        place_button: "[data-testid=submit-order]",
    },
};
