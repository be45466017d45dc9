//! Nordwind's storefront, product pages and add-to-cart.

use axum::extract::{Form, Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Deserialize;

use super::{STORE, layout};
use crate::cart;
use crate::catalog::{self, Product};
use crate::money;
use crate::render::PageResult;
use crate::scenario::{self, RequestScenario, Scenario, Scenarios};
use crate::session;
use crate::shopping::{self, AddRequest};
use crate::state::AppState;

pub async fn home(State(state): State<AppState>) -> PageResult {
    let products = shopping::listing(&state, STORE);
    state
        .templates
        .page(StatusCode::OK, "nordwind/home.html", context! { products })
}

pub async fn show(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
) -> PageResult {
    let Some(product) = catalog::by_product_id(STORE, &sku) else {
        return super::not_found(&state);
    };
    let scenarios = state.product_scenarios(STORE, product.sku, request);
    state.pause_if_slow(&scenarios).await;
    let first_visit = !session::has_consented(&headers);
    let shown = Shown {
        consent: first_visit && scenarios.has(Scenario::ConsentBanner),
        error: None,
    };
    page(&state, StatusCode::OK, product, &scenarios, request, shown)
}

/// What the product page shows besides the product: the consent overlay (a first visit
/// with `consent_banner` on), or why the add-to-cart was refused.
struct Shown {
    consent: bool,
    error: Option<String>,
}

fn page(
    state: &AppState,
    status: StatusCode,
    product: &'static Product,
    scenarios: &Scenarios,
    request: Option<Scenario>,
    shown: Shown,
) -> PageResult {
    let price_cents = cart::unit_price(product, scenarios);
    let context = context! {
        layout => layout::for_scenarios(scenarios),
        product,
        price_cents,
        was_cents => scenarios.has(Scenario::SalePrice).then(|| money::raised(price_cents)),
        sold_out => scenarios.has(Scenario::OutOfStock),
        script_rendered => scenarios.has(Scenario::ScriptRendered),
        option_ids => product
            .option
            .as_ref()
            .filter(|_| scenarios.has(Scenario::VariantIds))
            .map(|o| (0..o.values.len()).map(catalog::variant_id).collect::<Vec<_>>()),
        consent => shown.consent,
        scenario => request.map(Scenario::as_str),
        error => shown.error,
    };
    state
        .templates
        .page(status, "nordwind/product.html", context)
}

/// The add-to-cart form; the aliases are the redesigned layout's field names.
#[derive(Deserialize)]
pub struct AddForm {
    sku: String,
    #[serde(alias = "variant")]
    option: Option<String>,
    #[serde(alias = "qty")]
    quantity: String,
    scenario: Option<String>,
}

pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> PageResult {
    let Some(product) = catalog::by_sku(STORE, &form.sku) else {
        return super::not_found(&state);
    };
    let request = match scenario::parse_optional(form.scenario.as_deref()) {
        Ok(request) => request,
        Err(unknown) => return Ok(unknown.into_response()),
    };
    let scenarios = state.product_scenarios(STORE, product.sku, request);
    state.pause_if_slow(&scenarios).await;
    // With `variant_ids` the form sends the shop's variant id; the order log keeps the
    // option value it stands for (an unknown id stays as sent, and is refused).
    let option = match form.option {
        Some(id) if scenarios.has(Scenario::VariantIds) => {
            Some(product.option_for_variant_id(&id).map_or(id, str::to_owned))
        }
        other => other,
    };
    let add = AddRequest {
        option,
        quantity: form.quantity,
        scenario: request,
    };
    let session = session::read_cookie(&headers, STORE);
    match shopping::add_to_cart(&state, STORE, session, product, add, &scenarios) {
        Ok(id) => {
            let cookie = [(SET_COOKIE, session::cookie_header(STORE, id))];
            Ok((cookie, Redirect::to("/nordwind/cart")).into_response())
        }
        Err(refusal) => page(
            &state,
            refusal.status,
            product,
            &scenarios,
            request,
            Shown {
                consent: false,
                error: Some(refusal.message),
            },
        ),
    }
}
