-- Every test message produced from the Kafka UI (POST /api/kafka/topics/{topic}/messages),
-- one row each: when, where it went, by which tool. Not a projection: a rebuild keeps it.
CREATE TABLE kafka_test_messages (
    id          bigserial PRIMARY KEY,
    produced_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         text,
    value_bytes integer NOT NULL,
    tool        text NOT NULL CHECK (tool IN ('ui', 'eventifyctl', 'api')),
    user_agent  text
);
CREATE INDEX kafka_test_messages_latest ON kafka_test_messages (produced_at DESC);
