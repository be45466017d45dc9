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

-- Intake copies a SKU's options onto its line from the row it reserves on: migration
-- 0023's `submit_checkouts`.
