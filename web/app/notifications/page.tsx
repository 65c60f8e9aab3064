"use client";
// Notifications: the mock e-mails the notification service sent.
import Link from "next/link";
import { useCallback, useState } from "react";
import { ApiError, api, time, type Notification } from "@/lib/api";
import { usePolling } from "@/lib/live";

export default function Notifications() {
  const [items, setItems] = useState<Notification[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api
      .notifications()
      .then((n) => {
        setItems(n);
        setError(null);
      })
      .catch((e: ApiError) => setError(e.message));
  }, []);
  usePolling(load, 3000);
  return (
    <>
      <h1>Notifications</h1>
      {error && (
        <p className="error" role="alert">
          The notification service is unreachable: retrying… ({error})
        </p>
      )}
      {items && items.length === 0 && <p className="muted">No e-mails sent yet.</p>}
      <ul className="feed">
        {items?.map((n) => (
          <li key={n.id} className="card" data-testid="notification">
            <p className="muted">
              {time(n.createdAt)} · to {n.recipient} · {n.eventType} ·{" "}
              <Link href={`/orders/view/?id=${n.orderId}`}>order {n.orderId.slice(0, 8)}</Link>
            </p>
            <h2 className="subject">{n.subject}</h2>
            <p>{n.body}</p>
          </li>
        ))}
      </ul>
    </>
  );
}
