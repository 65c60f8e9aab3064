-- `products` is this service's projection of catalog.events (ProductUpserted, owned by the
-- inventory service), no longer data written here. `revision` keeps the newest version of
-- each product when an older event arrives again (a replay); rows written before this
-- migration have revision 0, so the first event about them replaces them.
ALTER TABLE products
    ADD COLUMN revision   bigint NOT NULL DEFAULT 0,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
