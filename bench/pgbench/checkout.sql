-- The intake transaction of a one-line checkout (api/src/checkout/submit.rs), statement
-- for statement, without HTTP, JSON building or Rust: PostgreSQL's ceiling for it on
-- this box. Writes: 1 UPDATE (the stock reservation) and 8 INSERTs (checkout, its audit
-- row, order, line, hold, the order's audit row, outbox message, stored idempotent
-- answer); reads: the key look-up, the idempotency lock and look-up, catalog, shipping,
-- tax, the low-stock check (FOR UPDATE) and the read-back of the answer.
-- Client i buys BENCH-(i mod 64), the SKUs the intake bench stocks.
\set sku_n :client_id % 64
SELECT 'co_' || md5(random()::text) AS cid, 'CW-' || upper(substr(md5(random()::text), 1, 10)) AS num,
       md5(random()::text) AS ikey
\gset
BEGIN;
SELECT id, principal, role FROM api_keys WHERE key_hash = sha256(convert_to(':ikey', 'UTF8')) AND revoked_at IS NULL;
SELECT pg_try_advisory_xact_lock(hashtextextended('bench' || E'\x1f' || ':ikey', 0));
SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE principal = 'bench' AND key = ':ikey';
SELECT sku, currency FROM skus WHERE sku = ANY(ARRAY['BENCH-' || :sku_n]);
UPDATE skus SET reserved = reserved + 1, updated_at = now()
    WHERE sku = 'BENCH-' || :sku_n AND stock - reserved >= 1 RETURNING store_id, title, price;
SELECT id, shipping_fee, free_shipping_threshold FROM stores WHERE id = ANY(ARRAY['nordwind']);
SELECT rate FROM tax_rates WHERE country = 'US' AND region IN ('TX', '') ORDER BY region DESC LIMIT 1;
INSERT INTO checkouts (id, principal, status, currency, subtotal, shipping, tax, total, customer, shipping_address, payment_method)
    VALUES (':cid', 'bench', 'pending', 'usd', 1000, 0, 0, 1000,
            '{"email": "bench@example.com", "name": "Bench Mark"}',
            '{"name": "Bench Mark", "line1": "1 Loop Rd", "city": "Austin", "state": "TX", "postal_code": "73301", "country": "US"}',
            'pm_card_visa');
INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
    VALUES (':cid', NULL, NULL, 'pending', 'key:bench', 'submitted');
INSERT INTO orders (number, checkout_id, store_id, status, currency, subtotal, shipping, tax, total)
    VALUES (':num', ':cid', 'nordwind', 'pending_payment', 'usd', 1000, 0, 0, 1000);
INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price, line_total)
    SELECT ':num', * FROM UNNEST(ARRAY[0]::INT[], ARRAY['BENCH-' || :sku_n]::TEXT[], ARRAY['Benchmark widget']::TEXT[],
                                  ARRAY[1]::INT[], ARRAY[1000]::BIGINT[], ARRAY[1000]::BIGINT[]);
INSERT INTO reservations (checkout_id, order_number, sku, quantity, expires_at)
    SELECT ':cid', ':num', sku, quantity, now() + 1800 * INTERVAL '1 second'
    FROM UNNEST(ARRAY['BENCH-' || :sku_n]::TEXT[], ARRAY[1]::INT[]) AS l(sku, quantity);
INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
    VALUES (':cid', ':num', NULL, 'pending_payment', 'key:bench', 'submitted');
INSERT INTO outbox (message_id, message_type, aggregate_id, payload)
    VALUES (gen_random_uuid(), 'checkout.submitted', ':cid',
            jsonb_build_object('checkout_id', ':cid', 'currency', 'usd', 'total', 1000, 'orders', jsonb_build_array(':num')));
SELECT sku, (stock - reserved)::BIGINT, low_stock_threshold::BIGINT FROM skus WHERE sku = ANY(ARRAY['BENCH-' || :sku_n]) ORDER BY sku FOR UPDATE;
SELECT sku, level FROM stock_alerts WHERE sku = ANY(ARRAY['BENCH-' || :sku_n]) AND state = 'open';
SELECT id, principal, status, currency, subtotal, shipping, tax, total, customer, shipping_address, client_secret, decline_code, created_at, updated_at
    FROM checkouts WHERE id = ':cid';
SELECT * FROM orders WHERE checkout_id = ':cid' ORDER BY store_id;
SELECT order_number, from_status, to_status, actor, reason, at FROM status_history WHERE checkout_id = ':cid' ORDER BY id;
SELECT order_number, sku, title, quantity, unit_price, line_total FROM order_items WHERE order_number = ANY(ARRAY[':num']) ORDER BY order_number, position;
INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
    VALUES ('bench', ':ikey', sha256(convert_to(':ikey', 'UTF8')), 202, jsonb_build_object('id', ':cid', 'status', 'pending'));
COMMIT;
