-- Placement: what the retailer told us about each order, the durable manual queue
-- with claim leases, and the ops console's sessions.

-- What a placed order carries: the retailer's own order number and, once shipped,
-- the tracking. All nullable: an order gets them as it moves on.
ALTER TABLE orders
    ADD COLUMN store_order_number  TEXT,
    ADD COLUMN tracking_number     TEXT,
    ADD COLUMN carrier             TEXT,
    -- What the retailer actually charged, when ops recorded it (minor units).
    ADD COLUMN total_paid          BIGINT CHECK (total_paid >= 0),
    ADD COLUMN placed_at           TIMESTAMPTZ,
    ADD COLUMN placed_by           TEXT;

-- The manual queue: one row per order a person must place. `waiting` rows are the
-- queue (oldest first by id); a claim is a lease, so a person who walks away does not
-- keep an order forever: once lease_expires_at passes, anyone may claim it again (the
-- claim itself checks that, and the scheduler's sweep clears stale claims).
CREATE TABLE manual_placements (
    id                BIGSERIAL PRIMARY KEY,
    order_number      TEXT NOT NULL UNIQUE REFERENCES orders (number),
    checkout_id       TEXT NOT NULL REFERENCES checkouts (id),
    store_id          TEXT NOT NULL REFERENCES stores (id),
    -- Why it needs a person: store_is_manual, captcha, page_changed, … (docs/events.md).
    reason            TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'placed', 'failed')),
    claimed_by        TEXT,
    claimed_at        TIMESTAMPTZ,
    lease_expires_at  TIMESTAMPTZ,
    queued_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at       TIMESTAMPTZ,
    resolved_by       TEXT,
    failure_reason    TEXT,
    -- A claim is a holder and an expiry together, or neither.
    CONSTRAINT manual_placements_claim_whole CHECK ((claimed_by IS NULL) = (lease_expires_at IS NULL)),
    -- Only a waiting order can be held.
    CONSTRAINT manual_placements_claim_open CHECK (status = 'waiting' OR claimed_by IS NULL)
);
CREATE INDEX manual_placements_waiting_idx ON manual_placements (id) WHERE status = 'waiting';
CREATE INDEX manual_placements_lease_idx ON manual_placements (lease_expires_at) WHERE claimed_by IS NOT NULL;

-- Ops console sign-ins. The cookie carries a random session id; only its SHA-256 is
-- stored (like API keys), so a copy of this table opens no session. The CSRF token is
-- per session and goes into every form.
CREATE TABLE console_sessions (
    id_hash      BYTEA PRIMARY KEY,
    key_id       UUID NOT NULL REFERENCES api_keys (id),
    principal    TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);
