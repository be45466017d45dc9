-- A commit that notifies takes a cluster-wide lock until it is flushed, so every
-- transaction that adds outbox rows committed one at a time: two-insert transactions
-- ran at about a third of their rate with the notify (issue 15). The relay now holds the
-- advisory lock (0x43575254, 1) only while it waits for a notification (while busy it
-- publishes batch after batch and needs none). A writer asks for it shared: granted,
-- no relay waits, and this writer's shared hold makes a relay about to wait first wait
-- for this commit and then publish its rows; refused, a relay waits (or is about to),
-- and the writer notifies.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(1129796180, 1) THEN
        PERFORM pg_notify('outbox', '');
    END IF;
    RETURN NULL;
END $$;
