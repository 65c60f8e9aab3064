-- Orders as the order service knows them, their lines, and the product catalog it prices
-- from. Money is integer minor units (cents).
CREATE TABLE products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    currency    text NOT NULL DEFAULT 'EUR'
);

CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    customer_id     text NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
    total_cents     bigint NOT NULL CHECK (total_cents >= 0),
    currency        text NOT NULL,
    correlation_id  uuid NOT NULL,
    idempotency_key text UNIQUE,
    -- the normalized request, to tell a retry from a reuse of the key for another order
    request         text NOT NULL,
    cancel_reason   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_id         uuid NOT NULL REFERENCES orders (id),
    line             integer NOT NULL,
    sku              text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line)
);
