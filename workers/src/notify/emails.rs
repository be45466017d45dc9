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
        "order.cancelled" => "order_cancelled",
        "order.shipped" => "order_shipped",
        "payment.refunded" => "refund_issued",
        "checkout.completed" => "receipt",
        _ => return None,
    })
}

#[derive(Clone)]
pub struct EmailWorker {
    pub mailer: Mailer,
    pub marks: dedup::SentMarks,
    pub templates: Arc<Templates>,
    pub from: Mailbox,
}

impl EmailWorker {
    pub fn new(
        mailer: Mailer,
        marks: dedup::SentMarks,
        templates: Arc<Templates>,
        from: &str,
    ) -> anyhow::Result<Self> {
        let from = from
            .parse()
            .map_err(|e| anyhow!("EMAIL_FROM {from:?} is not an address: {e}"))?;
        Ok(Self {
            mailer,
            marks,
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

    /// `emails_sent` is the worker's inbox: a second delivery finds its email claimed.
    fn deduplicates_itself(&self) -> bool {
        true
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
        if template == "order_cancelled" && payload.order_number.is_none() {
            // The payment job's own `order.cancelled` (every order was cancelled while
            // the payment was on its way) only wakes settlement: each cancel already
            // told the customer about its order.
            return Ok(());
        }
        let about = match &payload.order_number {
            Some(number) => format!("order {number} of checkout {}", payload.checkout_id),
            None => format!("checkout {}", payload.checkout_id),
        };
        let key = dedup::key(message.id, template);
        let Some(found) = claim_and_read(ctx.pool(), &key, message.id, template, &payload).await?
        else {
            return Err(HandlerError::Permanent(anyhow!(
                "no checkout {}",
                payload.checkout_id
            )));
        };
        if !dedup::proceed(
            dedup::Claim::of(found.claimed, found.earlier.as_deref()),
            &key,
            &about,
        )? {
            return Ok(());
        }
        let email = build(&found, template, payload).and_then(|(to, context)| {
            let rendered = self
                .templates
                .render(template, &context)
                .map_err(|e| HandlerError::Permanent(anyhow!("template {template}: {e:#}")))?;
            self.message(
                to,
                rendered,
                format!("<{}.{template}@cartwright>", message.id),
            )
        });
        match email {
            Ok(email) => {
                dedup::send_claimed(ctx.pool(), &self.marks, &self.mailer, &key, &about, email)
                    .await
            }
            // Claimed but never to be sent: the claim says so, for a replay by ops.
            Err(err) => Err(dedup::give_up(ctx.pool(), &key, &about, &err.to_string()).await?),
        }
    }
}

fn required<T>(value: Option<T>, field: &str, template: &str) -> Result<T, HandlerError> {
    value.ok_or_else(|| HandlerError::Permanent(anyhow!("{template}: the payload has no {field}")))
}

/// What the email shows, read from the database as it is now, and the email's claim.
#[derive(sqlx::FromRow)]
struct Found {
    customer: serde_json::Value,
    currency: String,
    total: i64,
    orders: sqlx::types::Json<Vec<OrderRow>>,
    claimed: bool,
    earlier: Option<String>,
}

#[derive(Deserialize)]
struct OrderRow {
    number: String,
    store_name: String,
    status: String,
    shipping: i64,
    tax: i64,
    total: i64,
    /// (sku, title, quantity, unit price, line total), in cart order.
    items: Vec<(String, String, i32, i64, i64)>,
}

/// Claims the email (`dedup`) and reads the checkout, its orders and their items, in
/// one statement: an email was five round trips and transactions (issue 15). `None`
/// when there is no such checkout, and then nothing is claimed. The recipient the claim
/// records is the address the customer gave.
async fn claim_and_read(
    pool: &PgPool,
    key: &str,
    event_id: uuid::Uuid,
    template: &str,
    p: &Payload,
) -> sqlx::Result<Option<Found>> {
    // Items by order number, through their primary key: a join on the checkout left
    // the plan to statistics, and a young table's made it scan every item.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH c AS (SELECT id, customer, currency, total FROM checkouts WHERE id = $1),
         claim AS (
             INSERT INTO emails_sent (dedup_key, event_id, template, recipient, state)
             SELECT $2, $3, $4, coalesce(customer->>'email', ''), 'sending' FROM c
             {on_conflict}
             RETURNING 1
         )
         SELECT c.customer, c.currency, c.total,
                EXISTS (SELECT 1 FROM claim) AS claimed,
                (SELECT state FROM emails_sent WHERE dedup_key = $2) AS earlier,
                coalesce((
                    SELECT jsonb_agg(jsonb_build_object(
                               'number', o.number, 'store_name', s.name, 'status', o.status,
                               'shipping', o.shipping, 'tax', o.tax, 'total', o.total,
                               'items', (SELECT coalesce(jsonb_agg(jsonb_build_array(
                                                    i.sku, i.title, i.quantity, i.unit_price,
                                                    i.line_total) ORDER BY i.position), '[]')
                                         FROM order_items i WHERE i.order_number = o.number))
                               ORDER BY s.name, o.number)
                    FROM orders o JOIN stores s ON s.id = o.store_id
                    WHERE o.checkout_id = c.id), '[]') AS orders
         FROM c",
        on_conflict = dedup::CLAIM_ON_CONFLICT
    )))
    .bind(&p.checkout_id)
    .bind(key)
    .bind(event_id)
    .bind(template)
    .fetch_optional(pool)
    .await
}

/// The recipient and what the template shows; a payload or address the email cannot
/// be made from is a permanent failure.
fn build(
    found: &Found,
    template: &str,
    p: Payload,
) -> Result<(Mailbox, EmailContext), HandlerError> {
    let email = found.customer["email"].as_str().unwrap_or_default();
    let name = found.customer["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let to: Mailbox = format!("{} <{email}>", quote(&name))
        .parse()
        .or_else(|_| email.parse())
        .map_err(|e| {
            HandlerError::Permanent(anyhow!(
                "checkout {}: the customer's e-mail address is not usable: {e}",
                p.checkout_id
            ))
        })?;
    let currency = found.currency.as_str();
    let money = |minor: i64| Minor(minor).for_display(currency);
    let mut orders: Vec<OrderContext> = found
        .orders
        .iter()
        .map(|o| OrderContext {
            number: o.number.clone(),
            store_name: o.store_name.clone(),
            status: o.status.clone(),
            items: o
                .items
                .iter()
                .map(|(sku, title, quantity, unit, line)| ItemContext {
                    sku: sku.clone(),
                    title: title.clone(),
                    quantity: *quantity,
                    unit_price: money(*unit),
                    line_total: money(*line),
                })
                .collect(),
            shipping: money(o.shipping),
            tax: money(o.tax),
            total: money(o.total),
        })
        .collect();
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
        "order_cancelled",
        "order_shipped",
        "refund_issued",
    ]
    .contains(&template)
    {
        required(order.as_ref(), "order_number", template)?;
    }
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
            total: money(found.total),
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
