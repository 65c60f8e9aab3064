-- The read model's query tables (CQRS): every event topic projected for the UI. Rebuilt
-- from the Kafka log by `eventify-read-model --rebuild`.
CREATE TABLE rm_orders (
    order_id       uuid PRIMARY KEY,
    customer_id    text,
    status         text NOT NULL DEFAULT 'PENDING',
    shipped        boolean NOT NULL DEFAULT false,
    total_cents    bigint,
    currency       text,
    item_count     integer NOT NULL DEFAULT 0,
    items          jsonb NOT NULL DEFAULT '[]',
    cancel_reason  text,
    step_placed    text NOT NULL DEFAULT 'PENDING',
    step_inventory text NOT NULL DEFAULT 'PENDING',
    step_payment   text NOT NULL DEFAULT 'PENDING',
    step_decision  text NOT NULL DEFAULT 'PENDING',
    step_shipment  text NOT NULL DEFAULT 'PENDING',
    correlation_id uuid,
    -- event times, not projection times, so a rebuild ends in exactly the same rows
    created_at     timestamptz NOT NULL, -- OrderPlaced's occurredAt (first event's until then)
    updated_at     timestamptz NOT NULL  -- occurredAt of the latest event applied
);
CREATE INDEX rm_orders_by_time ON rm_orders (created_at DESC);
CREATE INDEX rm_orders_by_status ON rm_orders (status, created_at DESC);
CREATE INDEX rm_orders_by_customer ON rm_orders (customer_id, created_at DESC);

CREATE TABLE rm_timeline (
    event_id       uuid PRIMARY KEY,
    order_id       uuid NOT NULL,
    event_type     text NOT NULL,
    version        integer NOT NULL,
    producer       text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    correlation_id uuid NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint NOT NULL,
    payload        jsonb NOT NULL,
    projected_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rm_timeline_by_order ON rm_timeline (order_id, occurred_at);
CREATE INDEX rm_timeline_latest ON rm_timeline (projected_at DESC);

CREATE TABLE rm_shipments (
    order_id     uuid PRIMARY KEY,
    shipment_id  uuid NOT NULL,
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    projected_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE rm_stock (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL,
    currency    text NOT NULL DEFAULT 'EUR',
    initial     integer NOT NULL,
    available   integer NOT NULL,
    reserved    integer NOT NULL DEFAULT 0
);

CREATE TABLE rm_placed_per_minute (
    minute timestamptz PRIMARY KEY,
    count  integer NOT NULL
);
