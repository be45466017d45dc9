-- Intake in batches (issue 15). The API's intake writers hand PostgreSQL every checkout
-- that arrived while they were busy, in one call and one transaction: one commit and one
-- WAL flush for the batch, each table written by one statement for the batch, and the
-- SKU rows locked once for the batch instead of once per checkout (a hot SKU's row was
-- the queue 128 clients stood in). Each checkout's outcome is still its own: a short or
-- re-priced checkout writes nothing and the others commit.
--
-- `p_batch` is a JSON array, one element per checkout:
--   {principal, key, hash (hex SHA-256 of the canonical body), at, actor,
--    checkout: {id, status, currency, subtotal, shipping, tax, total, customer,
--               shipping_address, payment_method},
--    orders: [{number, store_id, status, subtotal, shipping, tax, total}] in answer order,
--    lines: [{index, order_number, position, sku, title, store_id, quantity, unit_price,
--             line_total}],
--    submitted_id, submitted (the checkout.submitted payload), answer (the 202 body)}
-- One row comes back per element, `n` its 1-based place in the array:
--   accepted                 written; the API answers the 202 it built
--   replayed                 the key was used before with this body: detail is
--                            {status, body}, the stored answer
--   idempotency_key_in_use   another transaction (or an earlier element of this batch)
--                            holds the key right now
--   idempotency_key_reused   the key's stored answer is for another body
--   insufficient_stock       detail is {index, sku, available}
--   catalog_changed          a SKU's price, title, store or currency moved since the API
--                            read it (or the SKU is gone): the API prices again
CREATE FUNCTION submit_checkouts(
    p_batch          JSONB,
    p_hold_secs      DOUBLE PRECISION,
    p_reason         TEXT,
    p_submitted_type TEXT,
    p_stock_low_type TEXT,
    p_answer_status  SMALLINT
) RETURNS TABLE (n INT, outcome TEXT, detail JSONB) LANGUAGE plpgsql
-- Its statements' plans depend on nothing the planner can learn from the batch's values
-- (a JSON array, arrays of positions): custom plans were made on every call and cost as
-- much as running them.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_count    INT := jsonb_array_length(p_batch);
    v_outcome  TEXT[] := array_fill(NULL::TEXT, ARRAY[v_count]);
    v_detail   JSONB[] := array_fill(NULL::JSONB, ARRAY[v_count]);
    v_entry    RECORD;
    v_stored   RECORD;
    v_line     RECORD;
    -- The batch's SKU rows as locked: sku → {available, price, title, store_id, currency}.
    v_skus     JSONB;
    -- Units still free per SKU as the batch's checkouts take theirs, in arrival order.
    v_free     JSONB;
    v_tried    JSONB;
    v_sku      JSONB;
    v_free_now BIGINT;
    v_accepted INT[];
    -- The SKUs the accepted checkouts take from, for the low-stock check.
    v_skus_taken TEXT[] := '{}';
BEGIN
    -- Keys first. A key repeated within the batch waits like one held elsewhere.
    FOR v_entry IN
        SELECT e.n::INT AS n, e.v->>'principal' AS principal, e.v->>'key' AS key,
               decode(e.v->>'hash', 'hex') AS hash,
               row_number() OVER (PARTITION BY e.v->>'principal', e.v->>'key' ORDER BY e.n) AS nth
        FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(v, n)
    LOOP
        IF v_entry.nth > 1 OR NOT pg_try_advisory_xact_lock(
                hashtextextended(v_entry.principal || E'\x1f' || v_entry.key, 0)) THEN
            v_outcome[v_entry.n] := 'idempotency_key_in_use';
            CONTINUE;
        END IF;
        SELECT request_hash, response_status, response_body INTO v_stored
        FROM idempotency_keys WHERE principal = v_entry.principal AND key = v_entry.key;
        IF FOUND THEN
            IF v_stored.request_hash <> v_entry.hash THEN
                v_outcome[v_entry.n] := 'idempotency_key_reused';
            ELSE
                v_outcome[v_entry.n] := 'replayed';
                v_detail[v_entry.n] := jsonb_build_object('status', v_stored.response_status,
                                                          'body', v_stored.response_body);
            END IF;
        END IF;
    END LOOP;

    -- The stock. Every SKU the batch's new checkouts want is locked in SKU order, so
    -- concurrent batches cannot deadlock, and read once; each checkout then takes its
    -- units in arrival order, all of its lines or none, checking that the row still
    -- says what the cart was priced from. FOR NO KEY UPDATE, as the update takes and
    -- `check_stock_levels` asks for (migration 0008).
    SELECT COALESCE(jsonb_object_agg(s.sku, jsonb_build_object(
               'available', s.stock - s.reserved, 'price', s.price, 'title', s.title,
               'store_id', s.store_id, 'currency', s.currency)), '{}')
    INTO v_skus
    FROM (SELECT sku, stock, reserved, price, title, store_id, currency FROM skus
          WHERE sku IN (SELECT l.sku
                        FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(v, n),
                             jsonb_to_recordset(e.v->'lines') AS l(sku TEXT)
                        WHERE v_outcome[e.n] IS NULL)
          ORDER BY sku FOR NO KEY UPDATE) s;
    v_free := (SELECT COALESCE(jsonb_object_agg(key, value->'available'), '{}')
               FROM jsonb_each(v_skus));
    FOR v_entry IN
        SELECT e.n::INT AS n, e.v FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(v, n)
        WHERE v_outcome[e.n] IS NULL ORDER BY e.n
    LOOP
        v_tried := v_free;
        FOR v_line IN
            SELECT * FROM jsonb_to_recordset(v_entry.v->'lines') AS l("index" INT, sku TEXT,
                   title TEXT, store_id TEXT, quantity INT, unit_price BIGINT)
        LOOP
            v_sku := v_skus->v_line.sku;
            IF v_sku IS NULL OR (v_sku->>'price')::BIGINT <> v_line.unit_price
               OR v_sku->>'title' <> v_line.title OR v_sku->>'store_id' <> v_line.store_id
               OR v_sku->>'currency' <> v_entry.v->'checkout'->>'currency' THEN
                v_outcome[v_entry.n] := 'catalog_changed';
                EXIT;
            END IF;
            v_free_now := (v_tried->>v_line.sku)::BIGINT;
            IF v_free_now < v_line.quantity THEN
                v_outcome[v_entry.n] := 'insufficient_stock';
                v_detail[v_entry.n] := jsonb_build_object('index', v_line."index",
                    'sku', v_line.sku, 'available', GREATEST(v_free_now, 0));
                EXIT;
            END IF;
            v_tried := jsonb_set(v_tried, ARRAY[v_line.sku], to_jsonb(v_free_now - v_line.quantity));
        END LOOP;
        IF v_outcome[v_entry.n] IS NULL THEN
            v_outcome[v_entry.n] := 'accepted';
            v_free := v_tried;
            v_skus_taken := v_skus_taken || ARRAY(
                SELECT l.sku FROM jsonb_to_recordset(v_entry.v->'lines') AS l(sku TEXT));
        END IF;
    END LOOP;
    v_accepted := ARRAY(SELECT i FROM generate_subscripts(v_outcome, 1) AS i
                        WHERE v_outcome[i] = 'accepted');

    IF cardinality(v_accepted) > 0 THEN
        -- Every row of the accepted checkouts in one statement (a statement is the unit
        -- of cost here: each was a tenth of a millisecond whatever its rows). The
        -- foreign keys are checked at its end, when all of them exist.
        WITH e AS MATERIALIZED (
            SELECT b.n, b.v, b.v->'checkout'->>'id' AS checkout_id,
                   (b.v->>'at')::TIMESTAMPTZ AS at
            FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b(v, n)
            WHERE b.n = ANY(v_accepted)
        ), lines AS MATERIALIZED (
            SELECT e.n, e.checkout_id, l.*
            FROM e, jsonb_to_recordset(e.v->'lines') AS l(order_number TEXT, position INT,
                 sku TEXT, title TEXT, quantity INT, unit_price BIGINT, line_total BIGINT)
        ), reserved AS (
            UPDATE skus s SET reserved = s.reserved + t.quantity, updated_at = now()
            FROM (SELECT sku, sum(quantity)::INT AS quantity FROM lines GROUP BY sku) t
            WHERE s.sku = t.sku
        ), checkouts_written AS (
            INSERT INTO checkouts (id, principal, status, currency, subtotal, shipping, tax,
                                   total, customer, shipping_address, payment_method,
                                   created_at, updated_at)
            SELECT e.checkout_id, e.v->>'principal', c.status, c.currency, c.subtotal,
                   c.shipping, c.tax, c.total, c.customer, c.shipping_address,
                   c.payment_method, e.at, e.at
            FROM e, jsonb_to_record(e.v->'checkout') AS c(status TEXT, currency TEXT,
                 subtotal BIGINT, shipping BIGINT, tax BIGINT, total BIGINT, customer JSONB,
                 shipping_address JSONB, payment_method TEXT)
            ORDER BY e.n
        ), orders_written AS (
            INSERT INTO orders (number, checkout_id, store_id, status, currency, subtotal,
                                shipping, tax, total, created_at, updated_at)
            SELECT o.number, e.checkout_id, o.store_id, o.status, e.v->'checkout'->>'currency',
                   o.subtotal, o.shipping, o.tax, o.total, e.at, e.at
            FROM e, jsonb_to_recordset(e.v->'orders') AS o(number TEXT, store_id TEXT,
                 status TEXT, subtotal BIGINT, shipping BIGINT, tax BIGINT, total BIGINT)
            ORDER BY e.n
        ), items_written AS (
            -- Each line keeps its SKU's options (migration 0020) as the row locked above
            -- has them, whatever ops change after the API's read.
            INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price,
                                     line_total, options)
            SELECT l.order_number, l.position, l.sku, l.title, l.quantity, l.unit_price,
                   l.line_total, s.options
            FROM lines l JOIN skus s ON s.sku = l.sku
        ), holds_written AS (
            INSERT INTO reservations (checkout_id, order_number, sku, quantity, expires_at)
            SELECT checkout_id, order_number, sku, quantity,
                   now() + make_interval(secs => p_hold_secs)
            FROM lines
        ), history_written AS (
            -- Each checkout's audit row first, then its orders' in answer order: history
            -- is read back by id.
            INSERT INTO status_history (checkout_id, order_number, from_status, to_status,
                                        actor, reason, at)
            SELECT h.checkout_id, h.order_number, NULL, h.to_status, h.actor, p_reason, h.at
            FROM (SELECT e.n, 0::BIGINT AS place, e.checkout_id, NULL::TEXT AS order_number,
                         e.v->'checkout'->>'status' AS to_status, e.v->>'actor' AS actor, e.at
                  FROM e
                  UNION ALL
                  SELECT e.n, o.place, e.checkout_id, o.value->>'number', o.value->>'status',
                         e.v->>'actor', e.at
                  FROM e, jsonb_array_elements(e.v->'orders') WITH ORDINALITY AS o(value, place)
                 ) h
            ORDER BY h.n, h.place
        ), outbox_written AS (
            INSERT INTO outbox (message_id, message_type, aggregate_id, payload)
            SELECT (e.v->>'submitted_id')::UUID, p_submitted_type, e.checkout_id,
                   e.v->'submitted'
            FROM e ORDER BY e.n
        )
        INSERT INTO idempotency_keys (principal, key, request_hash, response_status,
                                      response_body)
        SELECT e.v->>'principal', e.v->>'key', decode(e.v->>'hash', 'hex'), p_answer_status,
               e.v->'answer'
        FROM e;
        PERFORM check_stock_levels(v_skus_taken, p_stock_low_type);
    END IF;

    RETURN QUERY SELECT i, v_outcome[i], v_detail[i] FROM generate_subscripts(v_outcome, 1) AS i;
END $$;

-- The one-checkout intake it replaces.
DROP FUNCTION submit_checkout(TEXT, TEXT, BYTEA, JSONB, JSONB, JSONB, TIMESTAMPTZ,
                              DOUBLE PRECISION, TEXT, TEXT, UUID, TEXT, JSONB, TEXT, SMALLINT,
                              JSONB);
