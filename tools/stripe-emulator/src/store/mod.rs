//! All emulator state, kept in memory behind one mutex (see `App::with_store`).

mod table;

pub use table::Table;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::idempotency::Idempotency;
use crate::ids;
use crate::model::{Charge, Dispute, Event, PaymentIntent, Refund, WebhookEndpoint};

/// Which API request caused a change (`null`s for control-API changes), as events report it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// A webhook delivery waiting to be started once the store is unlocked.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub payload: String,
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    pub at: i64,
}

/// Request counters reported by the ledger.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// `POST /v1/payment_intents` requests that reached the handler.
    pub payment_intent_create_requests: u64,
    /// PaymentIntents actually created.
    pub payment_intents_created: u64,
    /// Responses replayed from the idempotency store.
    pub idempotent_replays: u64,
    /// Responses replaced by an injected fault.
    pub faults_injected: u64,
}

#[derive(Debug)]
pub struct Store {
    pub api_version: String,
    pub intents: Table<PaymentIntent>,
    pub charges: Table<Charge>,
    pub refunds: Table<Refund>,
    pub disputes: Table<Dispute>,
    pub events: Table<Event>,
    pub endpoints: Table<WebhookEndpoint>,
    pub idempotency: Idempotency,
    pub counters: Counters,
    pub deliveries: Vec<DeliveryAttempt>,
    outbox: Vec<Outgoing>,
}

impl Store {
    /// Empty state, with the configured webhook endpoint (if any) registered.
    pub fn new(config: &Config) -> Self {
        let mut store = Self {
            api_version: config.api_version.clone(),
            intents: Table::default(),
            charges: Table::default(),
            refunds: Table::default(),
            disputes: Table::default(),
            events: Table::default(),
            endpoints: Table::default(),
            idempotency: Idempotency::default(),
            counters: Counters::default(),
            deliveries: Vec::new(),
            outbox: Vec::new(),
        };
        if let Some(target) = &config.webhook {
            store.endpoints.insert(WebhookEndpoint {
                id: "we_emulator_configured".to_owned(),
                url: target.url.clone(),
                secret: target.secret.clone(),
                enabled_events: target.events.clone(),
                description: Some("Configured at start".to_owned()),
                metadata: Default::default(),
                created: ids::now(),
            });
        }
        store
    }

    /// Records an event and queues its delivery to every endpoint that wants it.
    pub fn emit(&mut self, origin: &Origin, event_type: &str, object: Value) {
        let targets: Vec<WebhookEndpoint> = self
            .endpoints
            .iter()
            .filter(|e| e.wants(event_type))
            .cloned()
            .collect();
        let event = Event {
            id: ids::new("evt"),
            type_: event_type.to_owned(),
            created: ids::now(),
            object,
            request_id: origin.request_id.clone(),
            idempotency_key: origin.idempotency_key.clone(),
            pending_webhooks: i64::try_from(targets.len()).unwrap_or(i64::MAX),
        };
        let payload = event.to_json(&self.api_version).to_string();
        tracing::debug!(event = %event.id, %event_type, endpoints = targets.len(), "event");
        for endpoint in targets {
            self.outbox.push(Outgoing {
                event_id: event.id.clone(),
                event_type: event_type.to_owned(),
                endpoint_id: endpoint.id,
                url: endpoint.url,
                secret: endpoint.secret,
                payload: payload.clone(),
            });
        }
        self.events.insert(event);
    }

    /// Deliveries queued since the last call.
    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    /// Records a delivery attempt; a successful one lowers the event's `pending_webhooks`.
    pub fn record_delivery(&mut self, attempt: DeliveryAttempt) {
        if attempt.delivered
            && let Some(event) = self.events.get_mut(&attempt.event_id)
        {
            event.pending_webhooks = (event.pending_webhooks - 1).max(0);
        }
        self.deliveries.push(attempt);
    }
}
