-- Where an order's milliseconds go, hop by hop, from the read model's timeline: for each pair
-- of consecutive events of an order, the time between the two producers' writes
-- (occurred_at), and for each event the time the read model took to project it
-- (projected_at - occurred_at). Events projected in the last :minutes minutes.
--   psql -d readmodel -v minutes=1 -f bench/hops.sql
-- (as the stack's PostgreSQL superuser: su postgres -c "psql -h .run/pg-socket -p 5432 ...")
WITH t AS (
  SELECT order_id, event_type, occurred_at, projected_at,
         lag(occurred_at) OVER (PARTITION BY order_id ORDER BY occurred_at) AS prev,
         lag(event_type) OVER (PARTITION BY order_id ORDER BY occurred_at) AS prev_type
    FROM rm_timeline
   WHERE projected_at > now() - make_interval(mins => :minutes))
SELECT coalesce(prev_type, '-') || ' -> ' || event_type AS hop, count(*) AS events,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM occurred_at - prev) * 1000)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM occurred_at - prev) * 1000)::numeric, 1) AS p90_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM occurred_at - prev) * 1000)::numeric, 1) AS p99_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM projected_at - occurred_at) * 1000)::numeric, 1) AS projected_p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM projected_at - occurred_at) * 1000)::numeric, 1) AS projected_p99_ms
  FROM t
 GROUP BY 1
HAVING count(*) > 100
 ORDER BY p50_ms NULLS LAST;
