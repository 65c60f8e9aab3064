-- pgbench script: the very statement the order service runs for POST /orders
-- (services/order/main.c, insert_order_sql), with the values the service would bind.
-- UUIDs come from gen_random_uuid() because pgbench has no client-side UUIDs. The event
-- type is BenchOrderPlaced, which every consumer skips as unknown; the relay publishes these
-- rows like any other outbox row. Their orders would stay PENDING for ever, and admission
-- control would count them as a backlog: the bench deletes the customer c-pgbench's orders
-- after the run (bench/bench.py, PGBENCH_CUSTOMER).
WITH o AS (
  INSERT INTO orders (id, customer_id, total_cents, currency, correlation_id,
                      idempotency_key, request)
  VALUES (gen_random_uuid(), 'c-pgbench', 100, 'EUR', gen_random_uuid(), NULL,
          '{"customerId":"c-pgbench","items":[{"sku":"SKU-BENCH-WIDGET","quantity":1}]}')
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id
), i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT o.id, t.line, t.sku, t.quantity, t.price
    FROM o, unnest('{"SKU-BENCH-WIDGET"}'::text[], '{1}'::int[], '{100}'::bigint[])
            WITH ORDINALITY AS t(sku, quantity, price, line)
)
INSERT INTO outbox (aggregate_id, topic, event_id, event_type, message, traceparent)
SELECT o.id, 'orders.events', gen_random_uuid(), 'BenchOrderPlaced',
       '{"eventId":"2f0a3c1e-9a43-4a8e-8d8f-3b7f6d0c1a22","eventType":"BenchOrderPlaced","occurredAt":"2026-11-24T12:00:00.000000Z","correlationId":"0148c2c0-a1bb-41e1-8aa8-8c03ebc7140a","producer":"order","version":2,"payload":{"orderId":"5bb4b8cc-484b-4df0-a941-fa37ae96b12b","customerId":"c-pgbench","currency":"EUR","items":[{"sku":"SKU-BENCH-WIDGET","quantity":1,"unitPriceCents":100}],"totalCents":100}}',
       '00-0148c2c0a1bb41e18aa88c03ebc7140a-4626e46a32654057-01'
  FROM o;
