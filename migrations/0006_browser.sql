-- Automated placement (the browser worker). The retailer's order number also lives on
-- the order; the manual queue's migration may add the same column, hence IF NOT EXISTS.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS store_order_number TEXT;

-- One row per try at buying an order on the retailer's site.
--   started            → steps before the final click; may be retried
--   submitting         → committed BEFORE the final click: a crash from here on means
--                        "maybe bought", so a person verifies (never automation again)
--   placed             → confirmation read
--   abandoned          → stopped before submitting (reason, error)
--   needs_verification → submitted but no confirmation (or found submitting later)
CREATE TABLE placement_attempts (
    id                 BIGSERIAL PRIMARY KEY,
    order_number       TEXT NOT NULL REFERENCES orders (number),
    store_id           TEXT NOT NULL REFERENCES stores (id),
    message_id         UUID NOT NULL,
    delivery           INTEGER NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('started', 'submitting', 'placed', 'abandoned', 'needs_verification')),
    reason             TEXT,
    error              TEXT,
    store_order_number TEXT,
    store_total        BIGINT,
    evidence_dir       TEXT,
    screenshot_path    TEXT,
    html_path          TEXT,
    started_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitting_at      TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ
);
CREATE INDEX placement_attempts_order_idx ON placement_attempts (order_number);
-- At most one attempt per order ever reaches the final click: the database, not the
-- worker, guarantees "never twice".
CREATE UNIQUE INDEX placement_attempts_one_submit ON placement_attempts (order_number)
    WHERE state IN ('submitting', 'placed', 'needs_verification');
