-- Live updates too large for a NOTIFY payload (8000 bytes) travel through this table: the
-- notification carries only "#<id>" and every read-model instance reads the body from here.
-- Rows older than an hour are deleted by the next insert (live updates are not history).
CREATE TABLE rm_live_overflow (
    id         bigserial PRIMARY KEY,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rm_live_overflow_created_at ON rm_live_overflow (created_at);
