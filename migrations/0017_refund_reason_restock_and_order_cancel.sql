-- Issue 17: refunds finance can trust, and cancelling one order.

-- Stripe's refund reason (passed to Stripe as given), whether the refund returned the
-- order's units to stock (at most one refund of an order does), and an ops-alerted
-- failure is already on `error`.
ALTER TABLE refunds
    ADD COLUMN reason TEXT CHECK (reason IN ('duplicate', 'fraudulent', 'requested_by_customer')),
    ADD COLUMN restocked BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX refunds_one_restock_idx ON refunds (order_number) WHERE restocked;

-- An order ops cancel leaves the manual queue as `cancelled` (its lease with it).
ALTER TABLE manual_placements DROP CONSTRAINT manual_placements_status_check;
ALTER TABLE manual_placements ADD CONSTRAINT manual_placements_status_check
    CHECK (status IN ('waiting', 'placed', 'failed', 'cancelled'));
