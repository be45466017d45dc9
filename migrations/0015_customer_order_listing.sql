-- A storefront lists one customer's orders, newest first (GET /v1/orders?customer=, or
-- ?email= as a fallback). Both keys live in checkouts.customer (JSONB): the reference
-- is the storefront's own customer id, sent as customer.reference, and is present only
-- when given. Each index leads with the principal, so a storefront's listing reads its
-- own rows only, then the key, then the listing's order (created_at, id), so a page is
-- one index range from the cursor on, however many orders the customer has.
--
-- The write path pays one index entry per checkout for the e-mail, and one more when a
-- reference is given (the partial index leaves the others out), at intake and at each
-- status change: checkouts (status) is indexed, so no update of a checkout is HOT.
--
-- The expressions are written exactly as api/src/checkout/customer_orders.rs queries
-- them; the planner matches an expression index only on the same expression.
CREATE INDEX checkouts_customer_reference_idx
    ON checkouts (principal, (customer ->> 'reference'), created_at DESC, id DESC)
    WHERE (customer ->> 'reference') IS NOT NULL;
CREATE INDEX checkouts_customer_email_idx
    ON checkouts (principal, lower(customer ->> 'email'), created_at DESC, id DESC);
