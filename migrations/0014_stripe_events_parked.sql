-- Stripe events that arrived while the payment job of their checkout was still in flight
-- (issue 15). The payment worker records the authorization itself a moment later, so
-- handing such an event to the stripe-events worker at once cost a message, a relay
-- publish and a worker round trip that nearly always found nothing to do. The webhook
-- parks it instead, and the stripe-events worker's sweep takes it when due: a checkout
-- still waiting for payment gets the event (the webhook stays the safety net of a
-- payment job that never finished), any other drops it, by the same rule the worker's
-- own "already applied" check uses.
CREATE TABLE stripe_events_parked (
    event_id  TEXT PRIMARY KEY REFERENCES stripe_events (id) ON DELETE CASCADE,
    due_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX stripe_events_parked_due_idx ON stripe_events_parked (due_at);
