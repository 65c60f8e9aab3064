-- Products are owned here and published as ProductUpserted on catalog.events; stock only
-- moves by reservations and by adjustments (StockAdjusted). No product is written here: the
-- seed products are created at the first start through the same path as the admin API.
-- Stacks made before this migration keep their stock rows (reservations point at them);
-- the first start then publishes their products and an opening balance (see main.c).
CREATE TABLE products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    currency    text NOT NULL,
    revision    bigint NOT NULL CHECK (revision >= 1), -- +1 per change, carried in the event
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every receipt and write-off. An Idempotency-Key makes a retried adjustment apply once;
-- `request` tells a retry from a reuse of the key for another adjustment.
CREATE TABLE stock_adjustments (
    adjustment_id   uuid PRIMARY KEY,
    sku             text NOT NULL,
    delta           integer NOT NULL CHECK (delta <> 0),
    reason          text NOT NULL,
    idempotency_key text UNIQUE,
    request         text NOT NULL,
    applied         boolean NOT NULL DEFAULT true, -- false: an opening balance already counted
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_adjustments_by_sku ON stock_adjustments (sku, created_at);

COMMENT ON COLUMN stock.initial IS
    'units on hand: received minus written off, = available + reserved';
