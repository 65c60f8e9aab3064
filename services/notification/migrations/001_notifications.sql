-- Mock e-mails sent, one per event (event_id is unique), and who to write to per order
-- (learnt from OrderPlaced, since lifecycle events carry only the orderId).
CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    order_id   uuid NOT NULL,
    event_id   uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_by_order ON notifications (order_id, id);

CREATE TABLE order_customers (
    order_id    uuid PRIMARY KEY,
    customer_id text NOT NULL
);
