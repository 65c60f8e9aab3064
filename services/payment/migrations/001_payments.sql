-- One payment decision per order. SUCCEEDED: charged; FAILED: declined, nothing charged;
-- REFUNDED: charged then given back; VOID: the cancel came first, never charge.
CREATE TABLE payments (
    order_id     uuid PRIMARY KEY,
    payment_id   uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED', 'REFUNDED', 'VOID')),
    amount_cents bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    currency     text NOT NULL DEFAULT 'EUR',
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
