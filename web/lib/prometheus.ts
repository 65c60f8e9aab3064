// Client of Prometheus' HTTP query API, reached on the UI's own origin under /prometheus/
// (nginx proxies it to the Prometheus of the stack). Only range queries: each figure on the
// dashboard is a short time series drawn as a small chart.

export interface Point {
  t: number; // unix seconds
  v: number; // NaN where Prometheus has no value (e.g. a quantile of no observations)
}

interface RangeAnswer {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
}

/** One series over the last `minutes`, one point per `stepSeconds`. The query must yield at
 * most one series (aggregate it); an empty result gives no points. */
export async function queryRange(query: string, minutes = 15, stepSeconds = 15): Promise<Point[]> {
  const end = Math.floor(Date.now() / 1000);
  const params = new URLSearchParams({
    query,
    start: String(end - minutes * 60),
    end: String(end),
    step: String(stepSeconds),
  });
  const res = await fetch(`/prometheus/api/v1/query_range?${params}`, { cache: "no-store" });
  let body: RangeAnswer;
  try {
    body = (await res.json()) as RangeAnswer;
  } catch {
    throw new Error(`Prometheus answered ${res.status} without JSON`);
  }
  if (body.status !== "success" || !body.data) throw new Error(body.error ?? `Prometheus answered ${res.status}`);
  const series = body.data.result[0];
  return series ? series.values.map(([t, v]) => ({ t, v: Number(v) })) : [];
}

/** The dashboard's live figures: PromQL over the series the services export at /metrics. */
export const FIGURES = [
  {
    id: "throughput",
    title: "Orders placed",
    unit: "/s",
    query: 'sum(rate(http_requests_total{service="order",method="POST",route="/orders",status="201"}[1m]))',
  },
  {
    id: "events",
    title: "Events handled",
    unit: "/s",
    query: "sum(rate(events_consumed_total[1m]))",
  },
  {
    id: "lag",
    title: "Consumer lag",
    unit: " msgs",
    query: "sum(kafka_consumer_lag)",
  },
  {
    id: "saga-p99",
    title: "Saga p99",
    unit: " s",
    query: "histogram_quantile(0.99, sum by (le) (rate(saga_duration_seconds_bucket[5m])))",
  },
  {
    id: "dlq",
    title: "Dead letters",
    unit: "",
    query: "sum(max by (topic) (kafka_dlq_messages))",
  },
] as const;
