"use client";
// The order's trace as a waterfall: every span of every service in one tree, drawn from the
// trace backend's query API. Polled while the saga runs (spans keep arriving), then once more.
import { useCallback, useRef, useState } from "react";
import { usePolling } from "@/lib/live";
import { orderTrace, waterfallOf, type Waterfall } from "@/lib/trace";
import styles from "./TraceWaterfall.module.css";

export default function TraceWaterfall({ orderId, finished }: { orderId: string; finished: boolean }) {
  const [trace, setTrace] = useState<Waterfall | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [settled, setSettled] = useState(false);
  const pollsAfterEnd = useRef(0);

  const load = useCallback(() => {
    orderTrace(orderId)
      .then((t) => {
        setTrace(t ? waterfallOf(t) : null);
        setError(null);
        if (finished && t && ++pollsAfterEnd.current >= 5) setSettled(true);
      })
      .catch((e: Error) => setError(e.message));
  }, [orderId, finished]);
  // the exporters send every half second: a few more polls after the end catch the last spans
  usePolling(load, 2000, !settled);

  return (
    <section aria-labelledby="trace-title" data-testid="trace">
      <h2 id="trace-title">Trace</h2>
      {error && <p className="error">The trace backend is unreachable: retrying… ({error})</p>}
      {!trace && !error && (
        <p className="muted" data-testid="trace-pending">
          <span className="spinner" aria-hidden="true" /> Waiting for the trace…
        </p>
      )}
      {trace && (
        <>
          <p className="muted">
            Trace <code data-testid="trace-id">{trace.traceId}</code> · {trace.rows.length} spans ·{" "}
            <span data-testid="trace-services">{trace.services.length}</span> services ({trace.services.join(", ")}) ·{" "}
            {trace.durationMs.toFixed(1)} ms ·{" "}
            <a href={`/trace/api/traces/${trace.traceId}`} data-testid="trace-link">
              trace JSON
            </a>
          </p>
          <p className="muted">
            Its log lines: <code>grep {trace.traceId} .run/logs/*.log</code>
          </p>
          <ol className={styles.waterfall} data-testid="trace-waterfall" data-trace-id={trace.traceId}>
            {trace.rows.map((r) => (
              <li key={r.spanId} className={r.error ? styles.error : undefined} data-testid="trace-span">
                <span className={styles.label} style={{ paddingLeft: `${r.depth * 0.7}rem` }} title={r.events.join(", ")}>
                  <strong>{r.service}</strong> {r.name}
                  {r.events.length > 0 && <span className={styles.events}> · {r.events.join(", ")}</span>}
                </span>
                <span className={styles.track}>
                  <span className={styles.bar} style={{ left: `${r.offset * 100}%`, width: `${r.width * 100}%` }} />
                </span>
                <span className={styles.duration}>{r.durationMs.toFixed(1)} ms</span>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
