-- The intake transaction of a one-line checkout (api/src/checkout/submit.rs), statement
-- for statement, without HTTP, JSON building or Rust: PostgreSQL's ceiling for it on
-- this box. Writes: 1 UPDATE (the stock reservation) and 8 INSERTs (checkout, its audit
-- row, order, line, hold, the order's audit row, outbox message, stored idempotent
-- answer); reads: the key look-up, the idempotency lock and look-up, catalog, shipping,
-- tax, the low-stock check (FOR UPDATE) and the read-back of the answer.
-- Run it with -M prepared: the API's statements are prepared once per connection (sqlx
-- caches them), so parsing and planning each time would lower the ceiling. Parameters
-- then arrive untyped, hence the casts. Ids come from pgbench itself, as the API makes
-- them without asking the database. The actor 'key:bench' is spelled E'key\x3abench'
-- because pgbench would take ':bench' for a variable.
-- Client i buys BENCH-(i mod 64), the SKUs the intake bench stocks.
\set sku_n :client_id % 64
\set r random(1, 9000000000000000000)
BEGIN;
SELECT id, principal, role FROM api_keys WHERE key_hash = sha256(convert_to(md5(:r::text), 'UTF8')) AND revoked_at IS NULL;
SELECT pg_try_advisory_xact_lock(hashtextextended('bench' || E'\x1f' || md5(:r::text), 0));
SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE principal = 'bench' AND key = md5(:r::text);
SELECT sku, currency FROM skus WHERE sku = ANY(ARRAY['BENCH-' || :sku_n::text]);
UPDATE skus SET reserved = reserved + 1, updated_at = now()
    WHERE sku = 'BENCH-' || :sku_n::text AND stock - reserved >= 1 RETURNING store_id, title, price;
SELECT id, shipping_fee, free_shipping_threshold FROM stores WHERE id = ANY(ARRAY['nordwind']);
SELECT rate FROM tax_rates WHERE country = 'US' AND region IN ('TX', '') ORDER BY region DESC LIMIT 1;
INSERT INTO checkouts (id, principal, status, currency, subtotal, shipping, tax, total, customer, shipping_address, payment_method)
    VALUES (('co_' || :r::text), 'bench', 'pending', 'usd', 1000, 0, 0, 1000,
            '{"email": "bench@example.com", "name": "Bench Mark"}',
            '{"name": "Bench Mark", "line1": "1 Loop Rd", "city": "Austin", "state": "TX", "postal_code": "73301", "country": "US"}',
            'pm_card_visa');
INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
    VALUES (('co_' || :r::text), NULL, NULL, 'pending', E'key\x3abench', 'submitted');
INSERT INTO orders (number, checkout_id, store_id, status, currency, subtotal, shipping, tax, total)
    VALUES (('CW-' || upper(substr(md5(:r::text), 1, 10))), ('co_' || :r::text), 'nordwind', 'pending_payment', 'usd', 1000, 0, 0, 1000);
INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price, line_total)
    SELECT ('CW-' || upper(substr(md5(:r::text), 1, 10))), * FROM UNNEST(ARRAY[0]::INT[], ARRAY['BENCH-' || :sku_n::text]::TEXT[], ARRAY['Benchmark widget']::TEXT[],
                                  ARRAY[1]::INT[], ARRAY[1000]::BIGINT[], ARRAY[1000]::BIGINT[]);
INSERT INTO reservations (checkout_id, order_number, sku, quantity, expires_at)
    SELECT ('co_' || :r::text), ('CW-' || upper(substr(md5(:r::text), 1, 10))), sku, quantity, now() + 1800 * INTERVAL '1 second'
    FROM UNNEST(ARRAY['BENCH-' || :sku_n::text]::TEXT[], ARRAY[1]::INT[]) AS l(sku, quantity);
INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
    VALUES (('co_' || :r::text), ('CW-' || upper(substr(md5(:r::text), 1, 10))), NULL, 'pending_payment', E'key\x3abench', 'submitted');
INSERT INTO outbox (message_id, message_type, aggregate_id, payload)
    VALUES (gen_random_uuid(), 'checkout.submitted', ('co_' || :r::text),
            jsonb_build_object('checkout_id', ('co_' || :r::text), 'currency', 'usd', 'total', 1000, 'orders', jsonb_build_array(('CW-' || upper(substr(md5(:r::text), 1, 10))))));
SELECT sku, (stock - reserved)::BIGINT, low_stock_threshold::BIGINT FROM skus WHERE sku = ANY(ARRAY['BENCH-' || :sku_n::text]) ORDER BY sku FOR UPDATE;
SELECT sku, level FROM stock_alerts WHERE sku = ANY(ARRAY['BENCH-' || :sku_n::text]) AND state = 'open';
SELECT id, principal, status, currency, subtotal, shipping, tax, total, customer, shipping_address, client_secret, decline_code, created_at, updated_at
    FROM checkouts WHERE id = ('co_' || :r::text);
SELECT * FROM orders WHERE checkout_id = ('co_' || :r::text) ORDER BY store_id;
SELECT order_number, from_status, to_status, actor, reason, at FROM status_history WHERE checkout_id = ('co_' || :r::text) ORDER BY id;
SELECT order_number, sku, title, quantity, unit_price, line_total FROM order_items WHERE order_number = ANY(ARRAY[('CW-' || upper(substr(md5(:r::text), 1, 10)))]) ORDER BY order_number, position;
INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
    VALUES ('bench', md5(:r::text), sha256(convert_to(md5(:r::text), 'UTF8')), 202, jsonb_build_object('id', ('co_' || :r::text), 'status', 'pending'));
COMMIT;
