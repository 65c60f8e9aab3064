-- The unfinished orders in the order they were placed: admission control (POST /orders answers
-- 429 under overload, docs/overload.md) reads the age of the N-th oldest PENDING order every
-- second, which this partial index answers by walking N entries, however many orders there are.
CREATE INDEX orders_pending_created ON orders (created_at) WHERE status = 'PENDING';
