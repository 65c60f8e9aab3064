-- Every DLQ replay, one row per letter sent back: when, which letter, to which consumer
-- group, by which tool. Not a projection: a rebuild keeps it.
CREATE TABLE dlq_replays (
    id              bigserial PRIMARY KEY,
    replayed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    dlq_topic       text NOT NULL,
    dlq_partition   integer NOT NULL,
    dlq_offset      bigint NOT NULL,
    event_id        text,
    origin_topic    text NOT NULL,
    replay_for      text NOT NULL,
    tool            text NOT NULL CHECK (tool IN ('ui', 'eventifyctl', 'api')),
    user_agent      text
);
CREATE INDEX dlq_replays_latest ON dlq_replays (replayed_at DESC);
