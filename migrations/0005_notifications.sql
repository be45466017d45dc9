-- Notifications: the de-duplication record of every email, and low-stock alerts.

-- One row per email a message asked for, keyed by (event id, template), written and
-- committed BEFORE the email goes to the mail server. `sending` means an attempt may be
-- under way or may have died mid-send; `sent` means delivered to the server; `failed`
-- means the server or the data refused it for good. A transient failure (connection
-- error, 4xx) deletes the row, since then the server surely did not take the message.
CREATE TABLE emails_sent (
    dedup_key    TEXT PRIMARY KEY,
    event_id     UUID NOT NULL,
    template     TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at      TIMESTAMPTZ
);

-- A low-stock alert per SKU and level ('low': available at or under the threshold,
-- 'out': nothing available). Open until the SKU is restocked above its threshold; at
-- most one open alert per (sku, level), so a SKU is alerted once per drop.
CREATE TABLE stock_alerts (
    id                BIGSERIAL PRIMARY KEY,
    sku               TEXT NOT NULL REFERENCES skus (sku),
    level             TEXT NOT NULL CHECK (level IN ('low', 'out')),
    available         INTEGER NOT NULL,
    threshold         INTEGER NOT NULL,
    state             TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    -- The stock.low event that opened it; its redelivery resumes the notification.
    event_id          UUID NOT NULL,
    opened_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the ops email and the webhook went out (NULL: not yet, or not configured).
    emailed_at        TIMESTAMPTZ,
    webhook_sent_at   TIMESTAMPTZ,
    resolved_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX stock_alerts_one_open_idx ON stock_alerts (sku, level) WHERE state = 'open';
