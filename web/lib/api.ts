// Typed client of the services, over relative URLs on the UI's own origin. nginx serves the
// pages and proxies the APIs under one prefix, never on a page's path:
//   /api/...                 the read model (its own routes start with /api)
//   /api/<service>/<path>    another service's <path>, e.g. /api/order/orders -> order's /orders
import { withAdminToken } from "./admin-token";

export type Status = "PENDING" | "CONFIRMED" | "CANCELLED";

export interface OrderItem {
  orderId: string;
  customerId: string | null;
  status: Status;
  shipped: boolean;
  totalCents: number | null;
  currency: string | null;
  itemCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface TimelineEvent {
  eventId: string;
  eventType: string;
  version: number;
  producer: string;
  occurredAt: string;
  correlationId: string;
  topic: string;
  partition: number;
  offset: number;
  payload: Record<string, unknown>;
  orderId?: string;
}

export interface Steps {
  placed: string;
  inventory: string;
  payment: string;
  decision: string;
  shipment: string;
}

export interface OrderDetail {
  order: OrderItem & {
    cancelReason: string | null;
    correlationId: string | null;
    items: { sku: string; quantity: number; unitPriceCents: number }[];
    steps: Steps;
  };
  timeline: TimelineEvent[];
  shipment: { shipmentId: string; status: string; createdAt: string } | null;
}

export interface Product {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  available: number;
  reserved: number;
  onHand: number;
  revision: number;
  updatedAt: string | null;
}

export interface StockMovement {
  eventId: string;
  kind: "RECEIVED" | "WRITTEN_OFF" | "RESERVED" | "RELEASED";
  delta: number;
  reason: string | null;
  orderId: string | null;
  occurredAt: string;
}

export interface ProductHistory {
  product: Product;
  prices: { name: string; priceCents: number; currency: string; revision: number; occurredAt: string }[];
  movements: StockMovement[];
}

/** Failures a person can make happen from the store, carried in OrderPlaced (demo mode). */
export type Simulate = "none" | "paymentDeclined" | "gatewayDown";

export interface Stats {
  ordersByStatus: Record<Status, number>;
  shipped: number;
  revenueCents: number;
  throughputPerMinute: { minute: string; count: number }[];
  dlq: Record<string, number>;
  projectionLag: number;
  lastEventAt: string | null;
}

export interface Topics {
  topics: { topic: string; kind: "events" | "dlq"; partitions: { partition: number; endOffset: number }[] }[];
  consumerGroups: { group: string; topic: string; partition: number; committedOffset: number; lag: number }[];
}

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: string | null; // null: not UTF-8
  originTopic: string | null;
  originPartition: number | null;
  originOffset: number | null;
  error: string | null;
  attempts: number | null;
  consumer: string | null;
  failedAt: string | null;
  eventType: string | null;
  eventId: string | null;
  valueBytes: number;
  originalBytes: number | null; // of the value that failed
  originalKeyBytes: number | null; // set only when the key was cut
  cut: boolean; // key or value is not the original's: not replayable
}

/** One letter with its value (null when the value is not UTF-8 text). */
export interface DeadLetterDetail extends DeadLetter {
  value: string | null;
}

export interface DeadLetterPage {
  items: DeadLetter[];
  nextCursor: string | null;
  limit: number;
}

export interface LatestEvent {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  eventType: string;
  eventId: string;
  correlationId: string;
  occurredAt: string;
}

export interface Notification {
  id: number;
  orderId: string;
  eventId: string;
  eventType: string;
  recipient: string;
  subject: string;
  body: string;
  createdAt: string;
}

export class ApiError extends Error {
  /** retryAfter: the seconds of a Retry-After header (429 when the shop is overloaded). */
  constructor(public status: number, public code: string, message: string, public retryAfter: number | null = null) {
    super(message);
  }
}

/** Retry-After in whole seconds (we only send the delay form), or null when absent or not a number. */
function retryAfterSeconds(res: Response): number | null {
  const v = res.headers.get("Retry-After");
  return v && /^\d+$/.test(v.trim()) ? Number(v.trim()) : null;
}

/** A request to the stack; a network failure becomes ApiError "unreachable". */
export async function send(path: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(path, { cache: "no-store", ...init });
  } catch {
    throw new ApiError(0, "unreachable", "The server cannot be reached");
  }
}

export async function call<T>(path: string, init?: RequestInit): Promise<T> {
  return parse<T>(await send(path, init));
}

/** The JSON body of an answer; a non-2xx answer becomes ApiError with the server's code and message. */
export async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, "bad_response", `Unexpected answer (${res.status})`);
  }
  if (!res.ok) {
    const err = (body as { error?: { code: string; message: string } })?.error;
    throw new ApiError(res.status, err?.code ?? "error", err?.message ?? `HTTP ${res.status}`, retryAfterSeconds(res));
  }
  return body as T;
}

export const api = {
  orders: (q: { status?: string; customerId?: string; page?: number; pageSize?: number }) => {
    const p = new URLSearchParams();
    if (q.status) p.set("status", q.status);
    if (q.customerId) p.set("customerId", q.customerId);
    p.set("page", String(q.page ?? 1));
    p.set("pageSize", String(q.pageSize ?? 20));
    return call<{ items: OrderItem[]; page: number; pageSize: number; total: number }>(`/api/orders?${p}`);
  },
  order: (id: string) => call<OrderDetail>(`/api/orders/${encodeURIComponent(id)}`),
  catalog: () => call<Product[]>("/api/catalog"),
  productHistory: (sku: string) => call<ProductHistory>(`/api/products/${encodeURIComponent(sku)}/history`),
  stats: () => call<Stats>("/api/stats"),
  topics: () => call<Topics>("/api/topics"),
  events: (limit = 30) => call<LatestEvent[]>(`/api/events?limit=${limit}`),
  dlq: (q: { topic?: string; cursor?: string | null; limit?: number }) => {
    const p = new URLSearchParams();
    if (q.topic) p.set("topic", q.topic);
    if (q.cursor) p.set("cursor", q.cursor);
    p.set("limit", String(q.limit ?? 50));
    return call<DeadLetterPage>(`/api/dlq?${p}`);
  },
  dlqLetter: (l: { topic: string; partition: number; offset: number }) =>
    call<DeadLetterDetail>(`/api/dlq/${encodeURIComponent(l.topic)}/${l.partition}/${l.offset}`),
  // An admin action: asks for the admin token once per tab (lib/admin-token.ts).
  replay: async (body: { topic: string; partition?: number; offset?: number; all?: boolean }) =>
    parse<{ replayed: number; notReplayable: number; reason?: string }>(
      await withAdminToken((headers) =>
        send("/api/dlq/replay", {
          method: "POST",
          headers: { "Content-Type": "application/json", ...headers },
          body: JSON.stringify(body),
        }),
      ),
    ),
  notifications: (orderId?: string) =>
    call<Notification[]>(
      `/api/notification/notifications${orderId ? `?orderId=${encodeURIComponent(orderId)}` : ""}`,
    ),
  placeOrder: (
    customerId: string,
    items: { sku: string; quantity: number }[],
    idempotencyKey: string,
    simulate: Simulate = "none",
  ) =>
    call<{ orderId: string; status: string; correlationId: string }>("/api/order/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify({
        customerId,
        items,
        ...(simulate === "paymentDeclined" ? { forcePaymentFailed: true } : {}),
        ...(simulate === "gatewayDown" ? { forceException: true } : {}),
      }),
    }),
};

/** The inventory service's admin API (products and stock), behind the admin token. */
export const admin = {
  putProduct: (token: string, sku: string, body: { name: string; priceCents: number; currency: string }) =>
    call<Product>(`/api/inventory/products/${encodeURIComponent(sku)}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    }),
  adjustStock: (token: string, sku: string, delta: number, reason: string, idempotencyKey: string) =>
    call<{ adjustmentId: string; available: number; reserved: number; onHand: number }>(
      `/api/inventory/products/${encodeURIComponent(sku)}/stock-adjustments`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}`, "Idempotency-Key": idempotencyKey },
        body: JSON.stringify({ delta, reason }),
      },
    ),
};

/** "12.50" → 1250; null when it is not an amount with at most two decimals. */
export function parseCents(text: string): number | null {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "0").padEnd(2, "0"));
}

export function money(cents: number | null | undefined, currency = "EUR"): string {
  if (cents === null || cents === undefined) return "—";
  return new Intl.NumberFormat("en-IE", { style: "currency", currency }).format(cents / 100);
}

export function time(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

export function newKey(): string {
  return typeof crypto !== "undefined" && "randomUUID" in crypto
    ? crypto.randomUUID()
    : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
