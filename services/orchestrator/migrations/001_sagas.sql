-- One persisted state machine per order, and every transition it made. The deadline is
-- stored, so a restarted orchestrator still cancels sagas that ran out of time.
CREATE TABLE sagas (
    order_id       uuid PRIMARY KEY,
    state          text NOT NULL,
    correlation_id uuid NOT NULL,
    reason         text,
    deadline_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sagas_open_by_deadline ON sagas (deadline_at)
    WHERE state NOT IN ('CONFIRMED', 'CANCELLED');

CREATE TABLE saga_history (
    id         bigserial PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES sagas (order_id),
    event_type text NOT NULL,       -- the event that moved it, or 'Deadline'
    event_id   uuid,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    emitted    text,                -- OrderConfirmed / OrderCancelled when one was emitted
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX saga_history_by_order ON saga_history (order_id, id);
