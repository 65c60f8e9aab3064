"use client";
// Dashboard: orders by status, revenue, throughput per minute and DLQ sizes, and the live
// figures from Prometheus (LiveMetrics).
import { useCallback, useState } from "react";
import { LiveMetrics } from "@/components/LiveMetrics";
import { ApiError, api, money, type Stats } from "@/lib/api";
import { usePolling } from "@/lib/live";

function Bars({ data }: { data: { minute: string; count: number }[] }) {
  if (data.length === 0) return <p className="muted">No orders in the last 30 minutes.</p>;
  const max = Math.max(...data.map((d) => d.count), 1);
  const w = 600, h = 140, bw = w / Math.max(data.length, 1);
  return (
    <svg viewBox={`0 0 ${w} ${h + 20}`} role="img" aria-label="Orders placed per minute, last 30 minutes" className="chart">
      {data.map((d, i) => {
        const bh = (d.count / max) * h;
        return (
          <g key={d.minute}>
            <rect x={i * bw + 2} y={h - bh} width={Math.max(bw - 4, 1)} height={bh} rx={2}>
              <title>{`${new Date(d.minute).toLocaleTimeString([], { hour12: false })}: ${d.count}`}</title>
            </rect>
            {data.length <= 12 && (
              <text x={i * bw + bw / 2} y={h + 14} textAnchor="middle">
                {new Date(d.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

export default function Dashboard() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api
      .stats()
      .then((s) => {
        setStats(s);
        setError(null);
      })
      .catch((e: ApiError) => setError(e.message));
  }, []);
  usePolling(load, 3000);
  const dlqTotal = stats ? Object.values(stats.dlq).reduce((a, b) => a + b, 0) : 0;
  return (
    <>
      <h1>Dashboard</h1>
      {error && (
        <p className="error" role="alert">
          The read model is unreachable: retrying… ({error})
        </p>
      )}
      {stats && (
        <>
          <div className="grid kpis">
            <div className="card kpi">
              <span>Pending</span>
              <strong data-testid="kpi-pending">{stats.ordersByStatus.PENDING}</strong>
            </div>
            <div className="card kpi">
              <span>Confirmed</span>
              <strong data-testid="kpi-confirmed">{stats.ordersByStatus.CONFIRMED}</strong>
            </div>
            <div className="card kpi">
              <span>Cancelled</span>
              <strong>{stats.ordersByStatus.CANCELLED}</strong>
            </div>
            <div className="card kpi">
              <span>Shipped</span>
              <strong>{stats.shipped}</strong>
            </div>
            <div className="card kpi">
              <span>Revenue</span>
              <strong>{money(stats.revenueCents)}</strong>
            </div>
            <div className="card kpi">
              <span>Projection lag</span>
              <strong>{stats.projectionLag === 0 ? "caught up" : `${stats.projectionLag} events`}</strong>
            </div>
          </div>
          <LiveMetrics />
          <section aria-labelledby="tp-title">
            <h2 id="tp-title">Orders per minute</h2>
            <Bars data={stats.throughputPerMinute} />
          </section>
          <section aria-labelledby="dlq-title">
            <h2 id="dlq-title">Dead letters: {dlqTotal}</h2>
            <ul className="dlq-sizes">
              {Object.entries(stats.dlq).map(([t, n]) => (
                <li key={t}>
                  <span>{t}</span> <strong>{n}</strong>
                </li>
              ))}
            </ul>
          </section>
        </>
      )}
    </>
  );
}
