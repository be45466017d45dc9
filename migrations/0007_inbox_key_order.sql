-- The inbox's key leads with the message id. Led by the consumer, a look-up of a few
-- message ids could be planned as "every row of this consumer, then filter by id"
-- whenever the statistics undercount the consumer's rows (a table not yet analysed, a
-- consumer new since the last ANALYZE): a scan of the whole inbox per delivery,
-- measured at 7 ms a statement and 1,100 messages/s instead of 5,000 (BENCHMARKS.md,
-- part 2). Led by the message id, every plan starts from the ids asked for. Message ids
-- are UUIDv7, so new keys still land at the index's right-hand end.
ALTER TABLE inbox DROP CONSTRAINT inbox_pkey, ADD PRIMARY KEY (message_id, consumer);
