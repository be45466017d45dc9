-- Intake in one round trip (issue 15). The API prices a cart from one read of the
-- catalog, builds every row and the 202 answer itself, and sends them here in a single
-- call, which is a transaction of its own: the whole checkout is one statement and one
-- commit instead of about 28 round trips. What must be decided under locks is decided
-- here: the idempotency key, the stock, and that the catalog still says what the cart
-- was priced from.
--
-- Refusals are exceptions (so everything rolls back) with codes of our own; the
-- message is JSON for the API to turn into its error:
--   CW001 idempotency_key_in_use   another transaction holds the key right now
--   CW002 idempotency_key_reused   the key's stored answer is for another body
--   CW003 insufficient_stock       {"index", "sku", "available"}
--   CW004 catalog_changed          a SKU's price, title, store or currency moved since
--                                   the API read it: the API prices again and retries

-- Low-stock detection for SKUs whose available stock just changed, in the caller's
-- transaction (intake, ops stock changes, settlement). Writes a `p_event_type`
-- (`stock.low`) outbox row for each SKU at or under its threshold without an open
-- alert at that level, resolves the open alerts of each SKU back above it, and returns
-- the events written. FOR NO KEY UPDATE, not FOR UPDATE: it must serialise with other
-- stock changes and the alert worker's FOR SHARE, but not with the FOR KEY SHARE that
-- foreign keys of concurrent checkouts' lines take on the same rows: waiting on those
-- while they wait on our reservation is the deadlock BENCHMARKS.md describes.
CREATE FUNCTION check_stock_levels(p_skus TEXT[], p_event_type TEXT)
RETURNS SETOF JSONB LANGUAGE plpgsql AS $$
DECLARE
    s RECORD;
    v_level TEXT;
    v_event JSONB;
BEGIN
    FOR s IN
        SELECT sku, (stock - reserved)::BIGINT AS available, low_stock_threshold::BIGINT AS threshold
        FROM skus WHERE sku = ANY(p_skus) ORDER BY sku FOR NO KEY UPDATE
    LOOP
        v_level := CASE WHEN s.available <= 0 THEN 'out'
                        WHEN s.available <= s.threshold THEN 'low' END;
        IF v_level IS NULL THEN
            UPDATE stock_alerts SET state = 'resolved', resolved_at = now()
            WHERE sku = s.sku AND state = 'open';
        ELSIF NOT EXISTS (SELECT 1 FROM stock_alerts a
                          WHERE a.sku = s.sku AND a.state = 'open' AND a.level = v_level) THEN
            v_event := jsonb_build_object('sku', s.sku, 'level', v_level,
                                          'available', s.available, 'threshold', s.threshold);
            INSERT INTO outbox (message_id, message_type, aggregate_id, payload)
            VALUES (gen_random_uuid(), p_event_type, s.sku, v_event);
            RETURN NEXT v_event;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION submit_checkout(
    p_principal      TEXT,
    p_key            TEXT,
    p_request_hash   BYTEA,
    -- {id, status, currency, subtotal, shipping, tax, total, customer, shipping_address,
    --  payment_method}
    p_checkout       JSONB,
    -- [{number, store_id, status, subtotal, shipping, tax, total}], in answer order
    p_orders         JSONB,
    -- [{index, order_number, position, sku, title, store_id, quantity, unit_price, line_total}]
    p_lines          JSONB,
    -- created_at, updated_at and the audit rows' time: the 202 answer carries it
    p_at             TIMESTAMPTZ,
    p_hold_secs      DOUBLE PRECISION,
    p_actor          TEXT,
    p_reason         TEXT,
    p_submitted_id   UUID,
    p_submitted_type TEXT,
    p_submitted      JSONB,
    p_stock_low_type TEXT,
    p_answer_status  SMALLINT,
    p_answer         JSONB
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    v_checkout_id TEXT := p_checkout->>'id';
    v_currency    TEXT := p_checkout->>'currency';
    v_stored      RECORD;
    v_line        RECORD;
    v_now         RECORD;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_principal || E'\x1f' || p_key, 0)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CW001', MESSAGE = 'idempotency_key_in_use';
    END IF;
    SELECT request_hash, response_status, response_body INTO v_stored
    FROM idempotency_keys WHERE principal = p_principal AND key = p_key;
    IF FOUND THEN
        IF v_stored.request_hash <> p_request_hash THEN
            RAISE EXCEPTION USING ERRCODE = 'CW002', MESSAGE = 'idempotency_key_reused';
        END IF;
        RETURN jsonb_build_object('status', v_stored.response_status, 'body', v_stored.response_body);
    END IF;

    INSERT INTO checkouts (id, principal, status, currency, subtotal, shipping, tax, total,
                           customer, shipping_address, payment_method, created_at, updated_at)
    SELECT v_checkout_id, p_principal, c.status, v_currency, c.subtotal, c.shipping, c.tax, c.total,
           c.customer, c.shipping_address, c.payment_method, p_at, p_at
    FROM jsonb_to_record(p_checkout) AS c(status TEXT, subtotal BIGINT, shipping BIGINT, tax BIGINT,
         total BIGINT, customer JSONB, shipping_address JSONB, payment_method TEXT);
    INSERT INTO orders (number, checkout_id, store_id, status, currency, subtotal, shipping, tax,
                        total, created_at, updated_at)
    SELECT o.number, v_checkout_id, o.store_id, o.status, v_currency, o.subtotal, o.shipping,
           o.tax, o.total, p_at, p_at
    FROM jsonb_to_recordset(p_orders) AS o(number TEXT, store_id TEXT, status TEXT,
         subtotal BIGINT, shipping BIGINT, tax BIGINT, total BIGINT);

    -- The stock last, so each SKU row is locked only for the rest of this call and the
    -- commit. In SKU order, so concurrent checkouts cannot deadlock. The UPDATE re-checks
    -- availability against the newest committed row after waiting for its lock, so
    -- concurrent checkouts cannot oversell, and it checks that the row still says what
    -- the cart was priced from.
    FOR v_line IN
        SELECT * FROM jsonb_to_recordset(p_lines) AS l("index" INT, sku TEXT, title TEXT,
               store_id TEXT, quantity INT, unit_price BIGINT)
        ORDER BY sku
    LOOP
        UPDATE skus SET reserved = reserved + v_line.quantity, updated_at = now()
        WHERE sku = v_line.sku AND stock - reserved >= v_line.quantity
          AND price = v_line.unit_price AND title = v_line.title
          AND store_id = v_line.store_id AND currency = v_currency;
        IF NOT FOUND THEN
            SELECT (stock - reserved)::BIGINT AS available,
                   price = v_line.unit_price AND title = v_line.title
                     AND store_id = v_line.store_id AND currency = v_currency AS same
            INTO v_now FROM skus WHERE sku = v_line.sku;
            IF NOT v_now.same THEN
                RAISE EXCEPTION USING ERRCODE = 'CW004', MESSAGE = 'catalog_changed';
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'CW003', MESSAGE = jsonb_build_object(
                'index', v_line."index", 'sku', v_line.sku, 'available', v_now.available)::TEXT;
        END IF;
    END LOOP;

    INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price, line_total)
    SELECT l.order_number, l.position, l.sku, l.title, l.quantity, l.unit_price, l.line_total
    FROM jsonb_to_recordset(p_lines) AS l(order_number TEXT, position INT, sku TEXT, title TEXT,
         quantity INT, unit_price BIGINT, line_total BIGINT);
    INSERT INTO reservations (checkout_id, order_number, sku, quantity, expires_at)
    SELECT v_checkout_id, l.order_number, l.sku, l.quantity, now() + make_interval(secs => p_hold_secs)
    FROM jsonb_to_recordset(p_lines) AS l(order_number TEXT, sku TEXT, quantity INT);
    -- The checkout's audit row first, then its orders' in answer order: history is read
    -- back by id.
    INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason, at)
    SELECT v_checkout_id, NULL, NULL, p_checkout->>'status', p_actor, p_reason, p_at;
    INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason, at)
    SELECT v_checkout_id, o.value->>'number', NULL, o.value->>'status', p_actor, p_reason, p_at
    FROM jsonb_array_elements(p_orders) WITH ORDINALITY AS o(value, n)
    ORDER BY o.n;
    INSERT INTO outbox (message_id, message_type, aggregate_id, payload)
    VALUES (p_submitted_id, p_submitted_type, v_checkout_id, p_submitted);
    PERFORM check_stock_levels(ARRAY(SELECT l.sku FROM jsonb_to_recordset(p_lines) AS l(sku TEXT)),
                               p_stock_low_type);
    INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
    VALUES (p_principal, p_key, p_request_hash, p_answer_status, p_answer);
    RETURN NULL;
END $$;
