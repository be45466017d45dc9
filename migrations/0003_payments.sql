-- Payments: the Stripe PaymentIntent of each checkout, the ledger of every call that
-- moved money, ops-requested refunds, and the Stripe webhook events received.

-- The PaymentIntent that authorized (or is authorizing) the checkout.
ALTER TABLE checkouts ADD COLUMN payment_intent_id TEXT UNIQUE;
-- Only while 3-D Secure is pending: the storefront hands it to Stripe.js.
ALTER TABLE checkouts ADD COLUMN client_secret TEXT;
-- Why the card was declined (Stripe's decline code), for a payment_failed checkout.
ALTER TABLE checkouts ADD COLUMN decline_code TEXT;
-- When the authorization lapses at Stripe; settlement must capture before this.
ALTER TABLE checkouts ADD COLUMN capture_before TIMESTAMPTZ;
-- The capture-deadline guard's scan.
CREATE INDEX checkouts_capture_before_idx ON checkouts (capture_before) WHERE status = 'authorized';

-- Every Stripe call that moved money or tried to. The checkout's authorized, captured
-- and refunded amounts are sums over its succeeded rows.
CREATE TABLE payment_transactions (
    id               BIGSERIAL PRIMARY KEY,
    checkout_id      TEXT NOT NULL REFERENCES checkouts (id),
    -- Set for a refund: the order it refunds.
    order_number     TEXT REFERENCES orders (number),
    kind             TEXT NOT NULL CHECK (kind IN ('authorize', 'capture', 'cancel', 'refund')),
    amount           BIGINT NOT NULL CHECK (amount >= 0),
    currency         TEXT NOT NULL,
    -- pi_… for authorize, capture and cancel; re_… for a refund.
    stripe_id        TEXT,
    status           TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error            TEXT,
    idempotency_key  TEXT NOT NULL,
    at               TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payment_transactions_checkout_idx ON payment_transactions (checkout_id, id);
-- One key's effect is recorded once, however often its job ran.
CREATE UNIQUE INDEX payment_transactions_succeeded_key_idx
    ON payment_transactions (idempotency_key) WHERE status = 'succeeded';

-- A refund ops asked for; `sequence` numbers the refunds of one order (its Stripe
-- idempotency key is "{order_number}:refund:{sequence}").
CREATE TABLE refunds (
    order_number      TEXT NOT NULL REFERENCES orders (number),
    sequence          INTEGER NOT NULL CHECK (sequence > 0),
    checkout_id       TEXT NOT NULL REFERENCES checkouts (id),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    status            TEXT NOT NULL DEFAULT 'requested'
                      CHECK (status IN ('requested', 'succeeded', 'failed')),
    stripe_refund_id  TEXT,
    error             TEXT,
    requested_by      TEXT NOT NULL,
    requested_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at        TIMESTAMPTZ,
    PRIMARY KEY (order_number, sequence)
);

-- Verified Stripe webhook events, by Stripe's id: a redelivery finds its row.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    object_id    TEXT,
    -- Stripe's `created` (unix seconds).
    created      BIGINT,
    payload      JSONB NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
