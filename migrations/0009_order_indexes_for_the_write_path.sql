-- Two indexes on orders that cost every checkout and served no query (issue 15).
-- - orders (status): no query looks orders up by status alone (the ops stats count
--   every row anyway), yet with status indexed no status change can be a HOT update,
--   so each of an order's four or five moves wrote a new entry into every index. It also
--   gave the planner a bad choice: on a young table, "this checkout's orders in status
--   X" ANDed a bitmap of every order in X (the pipeline bench read ~27,000 rows per
--   checkout; BENCHMARKS.md, part 7).
-- - orders (checkout_id): the unique (checkout_id, store_id) index already leads with
--   checkout_id and serves the same look-ups.
DROP INDEX orders_status_idx;
DROP INDEX orders_checkout_idx;
