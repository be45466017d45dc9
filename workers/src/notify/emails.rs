//! The email worker (queue `emails`): one customer email per event, built at send time
//! from the database (the checkout's customer, its orders, their items and stores), sent
//! at most once per (event, template) through [`super::dedup`].

use std::sync::Arc;

use anyhow::anyhow;
use cartwright_shared::money::Minor;
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::dedup;
use super::mailer::Mailer;
use super::templates::{Rendered, Templates};

/// The template each event type sends.
pub fn template_for(event: &str) -> Option<&'static str> {
    Some(match event {
        "checkout.submitted" => "checkout_received",
        "payment.failed" => "payment_failed",
        "order.placed" => "order_placed",
        "order.failed" => "order_failed",
        "order.shipped" => "order_shipped",
        "payment.refunded" => "refund_issued",
        "checkout.completed" => "receipt",
        _ => return None,
    })
}

#[derive(Clone)]
pub struct EmailWorker {
    pub mailer: Mailer,
    pub templates: Arc<Templates>,
    pub from: Mailbox,
}

impl EmailWorker {
    pub fn new(mailer: Mailer, templates: Arc<Templates>, from: &str) -> anyhow::Result<Self> {
        let from = from
            .parse()
            .map_err(|e| anyhow!("EMAIL_FROM {from:?} is not an address: {e}"))?;
        Ok(Self {
            mailer,
            templates,
            from,
        })
    }

    /// Builds the two-part message; a bad address or template is a permanent failure.
    pub fn message(
        &self,
        to: Mailbox,
        rendered: Rendered,
        message_id: String,
    ) -> Result<Message, HandlerError> {
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            // Stable per (event, template): a receiver can drop a duplicate on its own.
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| HandlerError::Permanent(anyhow!("building the email: {e}")))
    }
}

/// The union of the payload fields the emails use (docs/events.md).
#[derive(Deserialize)]
struct Payload {
    checkout_id: String,
    order_number: Option<String>,
    reason: Option<String>,
    store_order_number: Option<String>,
    tracking_number: Option<String>,
    carrier: Option<String>,
    amount: Option<i64>,
    captured: Option<i64>,
}

#[derive(Serialize)]
struct EmailContext {
    customer_name: String,
    checkout_id: String,
    total: String,
    orders: Vec<OrderContext>,
    order: Option<OrderContext>,
    reason: Option<String>,
    store_order_number: Option<String>,
    tracking_number: Option<String>,
    carrier: Option<String>,
    tracking_url: Option<String>,
    amount: Option<String>,
    captured: Option<String>,
}

#[derive(Serialize, Clone)]
struct OrderContext {
    number: String,
    store_name: String,
    status: String,
    items: Vec<ItemContext>,
    shipping: String,
    tax: String,
    total: String,
}

#[derive(Serialize, Clone)]
struct ItemContext {
    sku: String,
    title: String,
    quantity: i32,
    unit_price: String,
    line_total: String,
}

impl Handler for EmailWorker {
    fn queue(&self) -> WorkQueue {
        work_queues::emails()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let Some(template) = template_for(&message.message_type) else {
            return Err(HandlerError::Permanent(anyhow!(
                "no email for event type {}",
                message.message_type
            )));
        };
        let payload: Payload = serde_json::from_value(message.payload.clone()).map_err(|e| {
            HandlerError::Permanent(anyhow!("{} payload: {e}", message.message_type))
        })?;
        let about = match &payload.order_number {
            Some(number) => format!("order {number} of checkout {}", payload.checkout_id),
            None => format!("checkout {}", payload.checkout_id),
        };
        let (to, context) = load(ctx.pool(), template, payload).await?;
        let recipient = to.email.to_string();
        let rendered = self
            .templates
            .render(template, &context)
            .map_err(|e| HandlerError::Permanent(anyhow!("template {template}: {e:#}")))?;
        let email = self.message(
            to,
            rendered,
            format!("<{}.{template}@cartwright>", message.id),
        )?;
        dedup::send_once(
            ctx.pool(),
            &self.mailer,
            message.id,
            template,
            &recipient,
            &about,
            email,
        )
        .await
    }
}

fn required<T>(value: Option<T>, field: &str, template: &str) -> Result<T, HandlerError> {
    value.ok_or_else(|| HandlerError::Permanent(anyhow!("{template}: the payload has no {field}")))
}

/// Reads what the email shows from the database, as it is now.
async fn load(
    pool: &PgPool,
    template: &str,
    p: Payload,
) -> Result<(Mailbox, EmailContext), HandlerError> {
    let checkout: Option<(serde_json::Value, String, i64)> =
        sqlx::query_as("SELECT customer, currency, total FROM checkouts WHERE id = $1")
            .bind(&p.checkout_id)
            .fetch_optional(pool)
            .await?;
    let Some((customer, currency, total)) = checkout else {
        return Err(HandlerError::Permanent(anyhow!(
            "no checkout {}",
            p.checkout_id
        )));
    };
    let email = customer["email"].as_str().unwrap_or_default();
    let name = customer["name"].as_str().unwrap_or_default().to_owned();
    let to: Mailbox = format!("{} <{email}>", quote(&name))
        .parse()
        .or_else(|_| email.parse())
        .map_err(|e| {
            HandlerError::Permanent(anyhow!(
                "checkout {}: the customer's e-mail address is not usable: {e}",
                p.checkout_id
            ))
        })?;

    let mut orders = orders(pool, &p.checkout_id, &currency).await?;
    if template == "receipt" {
        // The receipt shows what was bought: not the orders that failed or were cancelled.
        orders.retain(|o| !["failed", "cancelled"].contains(&o.status.as_str()));
    }
    let order = match &p.order_number {
        Some(number) => Some(
            orders
                .iter()
                .find(|o| &o.number == number)
                .cloned()
                .ok_or_else(|| {
                    HandlerError::Permanent(anyhow!(
                        "no order {number} in checkout {}",
                        p.checkout_id
                    ))
                })?,
        ),
        None => None,
    };
    match template {
        "order_placed" => {
            required(
                p.store_order_number.as_ref(),
                "store_order_number",
                template,
            )?;
        }
        "order_shipped" => {
            required(p.tracking_number.as_ref(), "tracking_number", template)?;
        }
        "refund_issued" => {
            required(p.amount, "amount", template)?;
        }
        "receipt" => {
            required(p.captured, "captured", template)?;
        }
        _ => {}
    }
    if [
        "order_placed",
        "order_failed",
        "order_shipped",
        "refund_issued",
    ]
    .contains(&template)
    {
        required(order.as_ref(), "order_number", template)?;
    }
    let money = |minor: i64| Minor(minor).for_display(&currency);
    let tracking_url = match (&p.carrier, &p.tracking_number) {
        (Some(carrier), Some(number)) => tracking_url(carrier, number),
        _ => None,
    };
    let reason = p.reason.map(|r| plain_reason(&r));
    Ok((
        to,
        EmailContext {
            customer_name: if name.is_empty() {
                "there".into()
            } else {
                name
            },
            checkout_id: p.checkout_id,
            total: money(total),
            orders,
            order,
            reason,
            store_order_number: p.store_order_number,
            tracking_number: p.tracking_number,
            carrier: p.carrier,
            tracking_url,
            amount: p.amount.map(money),
            captured: p.captured.map(money),
        },
    ))
}

async fn orders(
    pool: &PgPool,
    checkout_id: &str,
    currency: &str,
) -> Result<Vec<OrderContext>, HandlerError> {
    let money = |minor: i64| Minor(minor).for_display(currency);
    let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT o.number, s.name, o.status, o.shipping, o.tax, o.total
         FROM orders o JOIN stores s ON s.id = o.store_id
         WHERE o.checkout_id = $1 ORDER BY s.name, o.number",
    )
    .bind(checkout_id)
    .fetch_all(pool)
    .await?;
    // By the order numbers just read, through the items' primary key: a join on the
    // checkout left the plan to statistics, and a young table's made it scan every item.
    let numbers: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let items: Vec<(String, String, String, i32, i64, i64)> = sqlx::query_as(
        "SELECT order_number, sku, title, quantity, unit_price, line_total
         FROM order_items WHERE order_number = ANY($1) ORDER BY order_number, position",
    )
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(number, store_name, status, shipping, tax, total)| OrderContext {
                items: items
                    .iter()
                    .filter(|i| i.0 == number)
                    .map(|(_, sku, title, quantity, unit, line)| ItemContext {
                        sku: sku.clone(),
                        title: title.clone(),
                        quantity: *quantity,
                        unit_price: money(*unit),
                        line_total: money(*line),
                    })
                    .collect(),
                number,
                store_name,
                status,
                shipping: money(shipping),
                tax: money(tax),
                total: money(total),
            },
        )
        .collect())
}

/// A display name safe inside an address header.
fn quote(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '\\' | '<' | '>' | '\r' | '\n'))
        .collect();
    format!("\"{clean}\"")
}

/// The carrier's public tracking page, for the carriers we know. Only a fixed URL and an
/// alphanumeric number: the HTML template prints it unescaped.
pub fn tracking_url(carrier: &str, number: &str) -> Option<String> {
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let base = match carrier.to_ascii_lowercase().as_str() {
        "ups" => "https://www.ups.com/track?tracknum=",
        "usps" => "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
        "fedex" => "https://www.fedex.com/fedextrack/?trknbr=",
        "dhl" => "https://www.dhl.com/global-en/home/tracking.html?tracking-id=",
        _ => return None,
    };
    Some(format!("{base}{number}"))
}

/// Order failure reasons are codes (docs/events.md); the customer reads words.
fn plain_reason(reason: &str) -> String {
    match reason {
        "out_of_stock" => "the store is out of stock of an item".into(),
        "price_changed" => "the store changed its price".into(),
        "captcha" | "page_changed" | "sign_in_wall" | "needs_verification"
        | "automation_failed" => "the store could not take the order".into(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_event_has_a_template() {
        for event in work_queues::emails().bindings {
            assert!(template_for(&event).is_some(), "{event}");
        }
    }

    #[test]
    fn tracking_links() {
        assert_eq!(
            tracking_url("UPS", "1Z999").as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z999")
        );
        assert_eq!(tracking_url("pigeon", "1"), None);
        assert_eq!(tracking_url("ups", "a b"), None);
    }

    #[test]
    fn every_template_renders() {
        let templates = Templates::load().expect("templates parse");
        let order = OrderContext {
            number: "MO-1".into(),
            store_name: "Nordic <Goods>".into(),
            status: "placed".into(),
            items: vec![ItemContext {
                sku: "A".into(),
                title: "Mug".into(),
                quantity: 2,
                unit_price: "$1.00".into(),
                line_total: "$2.00".into(),
            }],
            shipping: "$0.00".into(),
            tax: "$0.15".into(),
            total: "$2.15".into(),
        };
        for event in work_queues::emails().bindings {
            let name = template_for(&event).unwrap();
            let context = EmailContext {
                customer_name: "Jane".into(),
                checkout_id: "chk_1".into(),
                total: "$2.15".into(),
                orders: vec![order.clone()],
                order: Some(order.clone()),
                reason: Some("declined".into()),
                store_order_number: Some("R-1".into()),
                tracking_number: Some("1Z".into()),
                carrier: Some("ups".into()),
                tracking_url: None,
                amount: Some("$1.00".into()),
                captured: Some("$2.15".into()),
            };
            let rendered = templates
                .render(name, &context)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(
                !rendered.subject.is_empty() && !rendered.subject.contains('\n'),
                "{name}"
            );
            assert!(
                rendered.html.contains("Nordic &lt;Goods&gt;") || name == "payment_failed",
                "{name}: escaped"
            );
            assert!(rendered.text.contains("Jane"), "{name}");
        }
    }
}
