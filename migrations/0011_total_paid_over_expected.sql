-- Money safety (issue 14, item 6): what the retailer charged is compared with what the
-- customer paid for the order (orders.total).
--
-- The store's tolerance, in basis points (200 = 2 %): how far above the expected amount
-- a retailer's price (the browser worker's price check, per unit) or total (the total
-- paid, whoever placed the order) may be. One place for both, so a manual store has one
-- too; integers, because money is never compared through floats.
ALTER TABLE stores
    ADD COLUMN price_tolerance_bps INTEGER NOT NULL DEFAULT 200
        CHECK (price_tolerance_bps BETWEEN 0 AND 10000);

-- Set when the total paid was over the store's tolerance at placement: the paid minus
-- the expected total (minor units). The order is still placed (it was bought); this
-- flag, and the `alert.total_over_expected` ops_audit row, are how finance finds it.
-- The browser worker now also records orders.total_paid (before, only its attempt row).
ALTER TABLE orders
    ADD COLUMN paid_over_expected BIGINT CHECK (paid_over_expected > 0);
