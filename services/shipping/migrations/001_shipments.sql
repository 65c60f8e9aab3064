-- Exactly one shipment per confirmed order: the primary key makes a second one impossible.
CREATE TABLE shipments (
    order_id    uuid PRIMARY KEY,
    shipment_id uuid NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'CREATED' CHECK (status IN ('CREATED')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
