-- The queue backbone: consumers' inbox, dead letters kept in PostgreSQL for ops, and
-- outbox rows that target one work queue (replays).

-- A message a consumer has fully processed, written in the handler's own transaction:
-- a redelivered message finds its row and is acknowledged without running again.
CREATE TABLE inbox (
    consumer      TEXT NOT NULL,
    message_id    UUID NOT NULL,
    processed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- A replay re-publishes the original message id, so one message id may appear more
-- than once in the outbox.
ALTER TABLE outbox DROP CONSTRAINT outbox_message_id_key;
CREATE INDEX outbox_message_id_idx ON outbox (message_id);
-- NULL: publish to the events exchange under message_type. Set: a replay, whose
-- payload is a whole envelope, published straight to this work queue.
ALTER TABLE outbox ADD COLUMN target_queue TEXT;

-- What the dead-letter queues held, moved here by the dead-letter archiver so ops can
-- list, replay and discard with stable ids.
CREATE TABLE dead_letters (
    id               BIGSERIAL PRIMARY KEY,
    -- The work queue the message failed on (without the prefix), e.g. payments.
    queue            TEXT NOT NULL,
    message_id       UUID,
    message_type     TEXT,
    correlation_id   TEXT,
    body             BYTEA NOT NULL,
    headers          JSONB NOT NULL DEFAULT '{}',
    error            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_failed_at  TIMESTAMPTZ,
    last_failed_at   TIMESTAMPTZ,
    archived_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    status           TEXT NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'replayed', 'discarded')),
    resolved_at      TIMESTAMPTZ,
    resolved_by      TEXT,
    -- SHA-256 of queue, body and headers: the archiver may see one dead letter twice
    -- (a crash between insert and ack) and must keep it once.
    fingerprint      BYTEA NOT NULL UNIQUE
);
CREATE INDEX dead_letters_queue_status_idx ON dead_letters (queue, status, id);

-- What ops did that is not a checkout's or order's status change.
CREATE TABLE ops_audit (
    id       BIGSERIAL PRIMARY KEY,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   JSONB NOT NULL DEFAULT '{}',
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
