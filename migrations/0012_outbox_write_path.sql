-- Nothing looks outbox rows up by message id (a replay writes a new row; the relay
-- reads unpublished rows by id), and the index cost an entry on every insert and on
-- every publish mark, two per message (issue 15).
DROP INDEX outbox_message_id_idx;
