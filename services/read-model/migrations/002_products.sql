-- Products, prices and stock are projected from events only: ProductUpserted
-- (catalog.events) sets name and price, StockAdjusted adds receipts and write-offs to
-- `initial` (on hand) and `available`, reservations and releases move units between
-- `available` and `reserved`. Any of them may come first (different topics and keys), so a
-- row may exist before its product is known (name NULL; the catalog lists it once named).
ALTER TABLE rm_stock
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN price_cents DROP NOT NULL,
    ALTER COLUMN initial SET DEFAULT 0,
    ALTER COLUMN available SET DEFAULT 0,
    ADD COLUMN revision bigint NOT NULL DEFAULT 0,
    ADD COLUMN upserted_at timestamptz, -- occurredAt of the ProductUpserted it shows
    ADD COLUMN updated_at timestamptz;  -- latest occurredAt of any of its events

-- Every movement of stock, for the history of each SKU.
CREATE TABLE rm_stock_movements (
    event_id    uuid NOT NULL,
    sku         text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('RECEIVED', 'WRITTEN_OFF', 'RESERVED', 'RELEASED')),
    delta       integer NOT NULL, -- units: + received or reserved, - written off or released
    reason      text,
    order_id    uuid,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, sku)
);
CREATE INDEX rm_stock_movements_by_sku ON rm_stock_movements (sku, occurred_at DESC);

-- Every ProductUpserted of every product (name, price), for the price history.
CREATE TABLE rm_price_history (
    event_id    uuid PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    price_cents bigint NOT NULL,
    currency    text NOT NULL,
    revision    bigint NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX rm_price_history_by_sku ON rm_price_history (sku, revision DESC);

-- A read model made before this migration: make it what projecting the same log with the
-- rules above gives (so a rebuild from the log ends in the same rows). No product is named
-- here; every row comes from events already projected.
-- 1. Its rows counted their initial stock without an event: take that count out again. The
--    inventory service publishes it as an opening balance (StockAdjusted) at its first start
--    after the upgrade; the reservations already projected stay.
UPDATE rm_stock SET available = available - initial, initial = 0;
-- 2. The movements of the reservations and releases projected so far, from the timeline.
INSERT INTO rm_stock_movements (event_id, sku, kind, delta, order_id, occurred_at)
SELECT t.event_id, i ->> 'sku',
       CASE WHEN t.event_type = 'InventoryReserved' THEN 'RESERVED' ELSE 'RELEASED' END,
       sum((i ->> 'quantity')::int) * CASE WHEN t.event_type = 'InventoryReserved' THEN 1 ELSE -1 END,
       t.order_id, t.occurred_at
  FROM rm_timeline t, jsonb_array_elements(t.payload -> 'items') i
 WHERE t.event_type IN ('InventoryReserved', 'InventoryReleased')
   AND i ->> 'sku' !~ '[",{}\\ ]'
 GROUP BY t.event_id, i ->> 'sku', t.event_type, t.order_id, t.occurred_at
    ON CONFLICT DO NOTHING;
-- 3. Reservations of SKUs it did not list used to be ignored; they now count, unnamed.
INSERT INTO rm_stock (sku, available, reserved)
SELECT sku, -sum(delta), sum(delta) FROM rm_stock_movements GROUP BY sku
    ON CONFLICT (sku) DO NOTHING;
