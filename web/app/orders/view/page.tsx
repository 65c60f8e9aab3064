"use client";
// Order detail: the saga drawn step by step, compensation, shipment, the order's trace
// across the services and the raw events.
// A static export cannot pre-render unknown ids, so the id comes from ?id=.
import { Suspense, useCallback, useState } from "react";
import { useSearchParams } from "next/navigation";
import { ApiError, api, money, time, type OrderDetail, type Steps } from "@/lib/api";
import { useLive, usePolling } from "@/lib/live";
import Badge from "@/components/Badge";
import LiveIndicator from "@/components/LiveIndicator";
import TraceWaterfall from "@/components/TraceWaterfall";

type StepState = "done" | "failed" | "pending" | "skipped" | "compensated";

interface Step {
  key: string;
  title: string;
  state: StepState;
  detail: string;
}

function stepsOf(s: Steps, cancelReason: string | null): Step[] {
  const inv: Record<string, [StepState, string]> = {
    PENDING: ["pending", "waiting for inventory…"],
    RESERVED: ["done", "stock reserved"],
    OUT_OF_STOCK: ["failed", "out of stock"],
    RELEASED: ["compensated", "reserved, then released"],
  };
  const pay: Record<string, [StepState, string]> = {
    PENDING: ["pending", "waiting for payment…"],
    SUCCEEDED: ["done", "payment taken"],
    FAILED: ["failed", "payment declined"],
    REFUNDED: ["compensated", "charged, then refunded"],
  };
  const decision: [StepState, string] =
    s.decision === "CONFIRMED"
      ? ["done", "confirmed"]
      : s.decision === "CANCELLED"
        ? ["failed", `cancelled: ${cancelReason ?? "no reason"}`]
        : ["pending", "waiting for the orchestrator…"];
  const ship: [StepState, string] =
    s.shipment === "CREATED" ? ["done", "shipment created"] : s.shipment === "NONE" ? ["skipped", "no shipment"] : ["pending", "waiting for shipping…"];
  const [is, id] = inv[s.inventory] ?? ["pending", s.inventory];
  const [ps, pd] = pay[s.payment] ?? ["pending", s.payment];
  return [
    { key: "placed", title: "Placed", state: s.placed === "DONE" ? "done" : "pending", detail: s.placed === "DONE" ? "OrderPlaced" : "not seen yet" },
    { key: "inventory", title: "Inventory", state: is, detail: id },
    { key: "payment", title: "Payment", state: ps, detail: pd },
    { key: "decision", title: s.decision === "CANCELLED" ? "Cancelled" : "Confirmed", state: decision[0], detail: decision[1] },
    { key: "shipment", title: "Shipped", state: ship[0], detail: ship[1] },
  ];
}

const icon: Record<StepState, string> = { done: "✓", failed: "✕", pending: "…", skipped: "–", compensated: "↺" };

function Detail() {
  const id = useSearchParams().get("id") ?? "";
  const [data, setData] = useState<OrderDetail | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    if (!id) return;
    api
      .order(id)
      .then((d) => {
        setData(d);
        setMissing(false);
        setError(null);
      })
      .catch((e: ApiError) => {
        if (e.status === 404) setMissing(true);
        else setError(e.message);
      });
  }, [id]);
  const live = useLive((m) => {
    if ((m.type === "order" && m.order.orderId === id) || (m.type === "event" && m.event.orderId === id)) load();
  }, load);
  const finished = data?.order.status === "CANCELLED" || (data?.order.status === "CONFIRMED" && data.order.shipped);
  usePolling(load, live === "live" && !missing ? 10000 : 1500);

  if (!id) return <p className="error">No order id given.</p>;
  const o = data?.order;
  return (
    <>
      <div className="page-head">
        <h1>
          Order <code>{id.slice(0, 8)}</code>
        </h1>
        <LiveIndicator state={live} />
      </div>
      {error && (
        <p className="error" role="alert">
          The read model is unreachable: retrying… ({error})
        </p>
      )}
      {missing && !data && (
        <p className="pending-note" data-testid="not-projected" role="status">
          <span className="spinner" aria-hidden="true" /> Pending: the read model has not caught up with this order yet.
        </p>
      )}
      {o && (
        <>
          <section className="card summary" aria-label="Summary">
            <p>
              Status:{" "}
              <span data-testid="order-status" aria-live="polite">
                <Badge status={o.status} shipped={o.shipped} />
              </span>
              {!finished && <span className="muted"> (the saga is still running)</span>}
            </p>
            <p>
              Customer {o.customerId ?? "—"} · {o.items.reduce((n, i) => n + i.quantity, 0)} item(s) · {money(o.totalCents, o.currency ?? "EUR")}
            </p>
            {o.cancelReason && (
              <p className="error" data-testid="cancel-reason">
                Cancelled: {o.cancelReason}
              </p>
            )}
            <p className="muted">
              Correlation id <code data-testid="correlation-id">{o.correlationId ?? "—"}</code>
            </p>
          </section>
          <section aria-labelledby="saga-title">
            <h2 id="saga-title">Saga</h2>
            <ol className="saga">
              {stepsOf(o.steps, o.cancelReason).map((s) => (
                <li key={s.key} className={`step step-${s.state}`} data-testid={`step-${s.key}`} data-state={s.state}>
                  <span className="step-icon" aria-hidden="true">
                    {s.state === "pending" ? <span className="spinner" /> : icon[s.state]}
                  </span>
                  <span className="step-title">{s.title}</span>
                  <span className="step-detail">{s.detail}</span>
                </li>
              ))}
            </ol>
            {data.shipment && (
              <p data-testid="shipment">
                Shipment <code>{data.shipment.shipmentId}</code> created at {time(data.shipment.createdAt)}.
              </p>
            )}
          </section>
          <TraceWaterfall orderId={id} finished={Boolean(finished)} />
          <section aria-labelledby="items-title">
            <h2 id="items-title">Items</h2>
            <ul>
              {o.items.map((i) => (
                <li key={i.sku}>
                  {i.quantity} × {i.sku} at {money(i.unitPriceCents)}
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="events-title">
            <h2 id="events-title">Events ({data.timeline.length})</h2>
            <ol className="timeline">
              {data.timeline.map((e) => (
                <li key={e.eventId} data-testid="timeline-event">
                  <details>
                    <summary>
                      <strong>{e.eventType}</strong> v{e.version} by {e.producer} · {time(e.occurredAt)} ·{" "}
                      <span className="muted">
                        {e.topic}[{e.partition}]@{e.offset}
                      </span>
                    </summary>
                    <pre>{JSON.stringify({ eventId: e.eventId, correlationId: e.correlationId, payload: e.payload }, null, 2)}</pre>
                  </details>
                </li>
              ))}
            </ol>
          </section>
        </>
      )}
    </>
  );
}

export default function OrderView() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <Detail />
    </Suspense>
  );
}
