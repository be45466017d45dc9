-- Foundation: catalog, credentials, checkouts and orders, reservations, audit trail,
-- idempotency and the transactional outbox.
-- Money is always BIGINT minor units (cents) in the row's currency; never floats.

CREATE TABLE stores (
    id                         TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    placement_mode             TEXT NOT NULL CHECK (placement_mode IN ('manual', 'automated')),
    currency                   TEXT NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    shipping_fee               BIGINT NOT NULL CHECK (shipping_fee >= 0),
    free_shipping_threshold    BIGINT CHECK (free_shipping_threshold >= 0),
    website_url                TEXT,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE skus (
    sku                  TEXT PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    store_id             TEXT NOT NULL REFERENCES stores (id),
    title                TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    price                BIGINT NOT NULL CHECK (price > 0),
    currency             TEXT NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    stock                INTEGER NOT NULL CHECK (stock >= 0),
    -- Units held by live reservations; available = stock - reserved.
    reserved             INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    low_stock_threshold  INTEGER NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The last line of defence against overselling, whatever the code does.
    CONSTRAINT skus_reserved_within_stock CHECK (reserved <= stock)
);
CREATE INDEX skus_store_idx ON skus (store_id);

-- Region '' is the country-wide rate; a region's own row wins over it.
CREATE TABLE tax_rates (
    country   TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    region    TEXT NOT NULL DEFAULT '',
    -- Percent, e.g. 7.2500 for 7.25 %.
    rate      NUMERIC(7, 4) NOT NULL CHECK (rate >= 0 AND rate < 100),
    PRIMARY KEY (country, region)
);
INSERT INTO tax_rates (country, region, rate) VALUES
    ('US', 'CA', 7.25),
    ('US', 'NY', 8.00),
    ('US', 'TX', 6.25);

CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    -- Keys of one principal (a storefront, or an ops user) see the same checkouts,
    -- so a principal can rotate keys without losing its history.
    principal    TEXT NOT NULL CHECK (length(principal) BETWEEN 1 AND 100),
    role         TEXT NOT NULL CHECK (role IN ('storefront', 'ops')),
    -- SHA-256 of the whole key. Keys are 256-bit random, so a fast hash is safe here
    -- (nothing to brute-force) and lets us look a key up by its hash in one index probe.
    key_hash     BYTEA NOT NULL UNIQUE,
    -- The first characters of the key, shown in listings so a human can tell keys apart.
    key_prefix   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE checkouts (
    id                 TEXT PRIMARY KEY,
    principal          TEXT NOT NULL,
    status             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    subtotal           BIGINT NOT NULL CHECK (subtotal >= 0),
    shipping           BIGINT NOT NULL CHECK (shipping >= 0),
    tax                BIGINT NOT NULL CHECK (tax >= 0),
    total              BIGINT NOT NULL CHECK (total >= 0),
    customer           JSONB NOT NULL,
    shipping_address   JSONB NOT NULL,
    -- A Stripe PaymentMethod id (pm_…). Card data never reaches this system.
    payment_method     TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT checkouts_total_adds_up CHECK (total = subtotal + shipping + tax)
);
CREATE INDEX checkouts_principal_created_idx ON checkouts (principal, created_at DESC);
CREATE INDEX checkouts_status_idx ON checkouts (status);

CREATE TABLE orders (
    number        TEXT PRIMARY KEY,
    checkout_id   TEXT NOT NULL REFERENCES checkouts (id),
    store_id      TEXT NOT NULL REFERENCES stores (id),
    status        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    subtotal      BIGINT NOT NULL CHECK (subtotal >= 0),
    shipping      BIGINT NOT NULL CHECK (shipping >= 0),
    tax           BIGINT NOT NULL CHECK (tax >= 0),
    total         BIGINT NOT NULL CHECK (total >= 0),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT orders_total_adds_up CHECK (total = subtotal + shipping + tax),
    UNIQUE (checkout_id, store_id)
);
CREATE INDEX orders_checkout_idx ON orders (checkout_id);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_items (
    order_number  TEXT NOT NULL REFERENCES orders (number),
    position      INTEGER NOT NULL,
    sku           TEXT NOT NULL REFERENCES skus (sku),
    title         TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price    BIGINT NOT NULL CHECK (unit_price > 0),
    line_total    BIGINT NOT NULL CHECK (line_total = unit_price * quantity),
    PRIMARY KEY (order_number, position)
);

-- A hold on stock for one order line. `held` counts in skus.reserved; `released`
-- (expired or not bought) and `committed` (bought and captured) do not.
CREATE TABLE reservations (
    id            BIGSERIAL PRIMARY KEY,
    checkout_id   TEXT NOT NULL REFERENCES checkouts (id),
    order_number  TEXT NOT NULL REFERENCES orders (number),
    sku           TEXT NOT NULL REFERENCES skus (sku),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    status        TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'committed')),
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at    TIMESTAMPTZ
);
CREATE INDEX reservations_checkout_idx ON reservations (checkout_id);
-- The reaper's scan: only live holds, by expiry.
CREATE INDEX reservations_held_expiry_idx ON reservations (expires_at) WHERE status = 'held';

-- Every status change of a checkout or an order: who, when, why.
CREATE TABLE status_history (
    id             BIGSERIAL PRIMARY KEY,
    checkout_id    TEXT NOT NULL REFERENCES checkouts (id),
    order_number   TEXT REFERENCES orders (number),
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    actor          TEXT NOT NULL,
    reason         TEXT,
    at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX status_history_checkout_idx ON status_history (checkout_id, id);
CREATE INDEX status_history_order_idx ON status_history (order_number, id) WHERE order_number IS NOT NULL;

-- The stored answer to a completed POST, replayed for the same principal and key.
CREATE TABLE idempotency_keys (
    principal       TEXT NOT NULL,
    key             TEXT NOT NULL,
    -- SHA-256 of the canonical request body: the same key with another body is refused.
    request_hash    BYTEA NOT NULL,
    response_status SMALLINT NOT NULL,
    response_body   JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

-- Transactional outbox: written in the same transaction as the change it announces,
-- published by the relay with publisher confirms, in id order per aggregate.
CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,
    message_id     UUID NOT NULL UNIQUE,
    -- The routing key, e.g. checkout.submitted.
    message_type   TEXT NOT NULL,
    -- The checkout (or other aggregate) the message belongs to; also its correlation id.
    aggregate_id   TEXT NOT NULL,
    payload        JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at   TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- Wake the relay as soon as a row commits (NOTIFY is delivered at commit).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
