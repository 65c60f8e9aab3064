"use client";
// The dashboard's live figures from Prometheus (throughput, events, consumer lag, saga p99,
// dead letters), refreshed every 5 s. Prometheus being down only hides the charts.
import { useCallback, useState } from "react";
import { MetricChart } from "@/components/MetricChart";
import { usePolling } from "@/lib/live";
import { FIGURES, type Point, queryRange } from "@/lib/prometheus";

export function LiveMetrics() {
  const [series, setSeries] = useState<Record<string, Point[]> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    Promise.all(FIGURES.map((f) => queryRange(f.query)))
      .then((all) => {
        setSeries(Object.fromEntries(FIGURES.map((f, i) => [f.id, all[i]])));
        setError(null);
      })
      .catch((e: Error) => setError(e.message));
  }, []);
  usePolling(load, 5000);
  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">Live metrics</h2>
      {error && (
        <p className="error" role="alert">
          Prometheus is unreachable: retrying… ({error})
        </p>
      )}
      {series && (
        <div className="grid">
          {FIGURES.map((f) => (
            <MetricChart key={f.id} id={f.id} title={f.title} unit={f.unit} points={series[f.id]} />
          ))}
        </div>
      )}
    </section>
  );
}
