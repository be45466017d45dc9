-- Variants (issue 18, item 3). A variant is its own SKU, as in most catalogs: a SKU
-- carries its options as a flat JSON object of strings ({"size": "M", "colour": "navy"}),
-- set by ops (`PUT /v1/ops/catalog/{sku}`, which checks keys and values), `{}` for none.
-- Each order line keeps a copy made at checkout, so a later catalog edit does not change
-- what was ordered: the placement instructions and the browser worker's recipes
-- (`{option.size}`) read the line's copy, never the catalog.
--
-- Both columns are added with a constant default: no table rewrite, old lines read `{}`
-- (the catalog had no options when they were ordered).

ALTER TABLE skus ADD COLUMN options JSONB NOT NULL DEFAULT '{}'
    CONSTRAINT skus_options_is_an_object CHECK (jsonb_typeof(options) = 'object');
ALTER TABLE order_items ADD COLUMN options JSONB NOT NULL DEFAULT '{}'
    CONSTRAINT order_items_options_is_an_object CHECK (jsonb_typeof(options) = 'object');

-- submit_checkout as in migration 0008 but for one thing: the lines' INSERT joins each
-- line to its SKU row and copies `options` from it. Still one statement for all lines,
-- no query per line, and no new parameter: the SKU rows are the ones this call has just
-- reserved on (and holds locked until the commit), so the options copied are those of
-- the row the stock was taken from, whatever ops change after the API's read.
CREATE OR REPLACE FUNCTION submit_checkout(
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

    -- The options from the SKU rows reserved on above (locked by this transaction).
    INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price, line_total,
                             options)
    SELECT l.order_number, l.position, l.sku, l.title, l.quantity, l.unit_price, l.line_total,
           s.options
    FROM jsonb_to_recordset(p_lines) AS l(order_number TEXT, position INT, sku TEXT, title TEXT,
         quantity INT, unit_price BIGINT, line_total BIGINT)
    JOIN skus s ON s.sku = l.sku;
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
