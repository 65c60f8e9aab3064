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
    ADD COLUMN updated_at timestamptz;

-- Rows of a read model made before this migration counted their initial stock without an
-- event. From now on stock is the sum of events: take that count out again; the inventory
-- service publishes it as an opening balance (StockAdjusted) at its first start after the
-- upgrade, and the reservations already projected stay. No product is named here.
UPDATE rm_stock SET available = available - initial, initial = 0;

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

-- Every version of every product (name, price), for the price history.
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
