-- Ops hear of orders waiting in the manual queue (issue 17): at most one notice per
-- OPS_QUEUE_NOTIFY_SECS, sent when an order has entered the queue since the last one.
-- Which rows a notice has named is kept on the rows, not as a time: a row whose
-- transaction began before a notice and committed after it would otherwise never count
-- as new.
ALTER TABLE manual_placements ADD COLUMN ops_notified_at TIMESTAMPTZ;

-- The last notice of each kind. Its row lock makes the schedulers of several worker
-- replicas take turns, so the period holds across processes.
CREATE TABLE ops_notices (
    kind    TEXT PRIMARY KEY,
    sent_at TIMESTAMPTZ NOT NULL
);
INSERT INTO ops_notices (kind, sent_at) VALUES ('orders_waiting', '-infinity');
