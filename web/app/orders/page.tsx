"use client";
// Orders: the list, whose statuses change live.
import Link from "next/link";
import { useCallback, useState } from "react";
import { ApiError, api, money, time, type OrderItem } from "@/lib/api";
import { useInOrder, useLive, usePolling } from "@/lib/live";
import Badge from "@/components/Badge";
import LiveIndicator from "@/components/LiveIndicator";
import DataTable from "@/components/DataTable";

const PAGE_SIZE = 20;

export default function Orders() {
  const [status, setStatus] = useState("");
  const [page, setPage] = useState(1);
  const [data, setData] = useState<{ items: OrderItem[]; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);

  const next = useInOrder(); // the list under a previous filter or page may come after this one
  const load = useCallback(() => {
    const fresh = next();
    api
      .orders({ status: status || undefined, page, pageSize: PAGE_SIZE })
      .then((d) => {
        if (!fresh()) return;
        setData(d);
        setError(null);
      })
      .catch((e: ApiError) => fresh() && setError(e.message));
  }, [status, page, next]);

  const live = useLive((m) => {
    if (m.type !== "order") return;
    setData((d) => {
      if (!d) return d;
      const i = d.items.findIndex((o) => o.orderId === m.order.orderId);
      if (i >= 0) {
        const items = d.items.slice();
        items[i] = m.order;
        return { ...d, items };
      }
      if (page === 1 && (!status || status === m.order.status)) {
        return { items: [m.order, ...d.items].slice(0, PAGE_SIZE), total: d.total + 1 };
      }
      return d;
    });
  }, load);
  usePolling(load, live === "live" ? 20000 : 2000);

  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  return (
    <>
      <div className="page-head">
        <h1>Orders</h1>
        <LiveIndicator state={live} />
      </div>
      <div className="toolbar">
        <label>
          Status
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setPage(1);
            }}
            data-testid="status-filter"
          >
            <option value="">All</option>
            <option value="PENDING">Pending</option>
            <option value="CONFIRMED">Confirmed</option>
            <option value="CANCELLED">Cancelled</option>
          </select>
        </label>
        {data && <span className="muted">{data.total} orders</span>}
      </div>
      {error && (
        <p className="error" role="alert">
          The read model is unreachable: retrying… ({error})
        </p>
      )}
      {data && data.items.length === 0 && <p className="muted">No orders yet. Place one in the store.</p>}
      {data && data.items.length > 0 && (
        <DataTable columns={["Order", "Customer", "Items", "Total", "Status", "Updated"]}>
          {data.items.map((o) => (
            <tr key={o.orderId} data-testid="order-row" data-order-id={o.orderId}>
              <td>
                <Link href={`/orders/view/?id=${o.orderId}`}>{o.orderId.slice(0, 8)}</Link>
              </td>
              <td>{o.customerId ?? <span className="muted">pending</span>}</td>
              <td>{o.itemCount}</td>
              <td>{money(o.totalCents, o.currency ?? "EUR")}</td>
              <td>
                <Badge status={o.status} shipped={o.shipped} />
              </td>
              <td>{time(o.updatedAt)}</td>
            </tr>
          ))}
        </DataTable>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" className="secondary" disabled={page <= 1} onClick={() => setPage(page - 1)}>
          Previous
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button type="button" className="secondary" disabled={page >= pages} onClick={() => setPage(page + 1)}>
          Next
        </button>
      </nav>
    </>
  );
}
