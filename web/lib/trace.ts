// The order's trace from the trace backend's query API (Jaeger, proxied by nginx under
// /trace/api/), turned into waterfall rows: every span in tree order with its depth, its
// offset and length as fractions of the whole trace.

interface JaegerRef {
  refType: string;
  traceID: string;
  spanID: string;
}

interface JaegerTag {
  key: string;
  value: unknown;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerRef[] | null;
  startTime: number; // microseconds since the epoch
  duration: number; // microseconds
  processID: string;
  tags: JaegerTag[] | null;
  logs: { timestamp: number; fields: JaegerTag[] }[] | null;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface WaterfallRow {
  spanId: string;
  service: string;
  name: string;
  depth: number;
  offset: number; // fraction of the trace before the span starts
  width: number; // fraction of the trace the span lasts
  durationMs: number;
  error: boolean;
  events: string[];
}

export interface Waterfall {
  traceId: string;
  rows: WaterfallRow[];
  services: string[];
  durationMs: number;
}

function parentOf(s: JaegerSpan): string | null {
  const ref = (s.references ?? []).find((r) => r.refType === "CHILD_OF" && r.traceID === s.traceID);
  return ref ? ref.spanID : null;
}

export function waterfallOf(trace: JaegerTrace): Waterfall {
  const spans = trace.spans;
  const start = Math.min(...spans.map((s) => s.startTime));
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const total = Math.max(end - start, 1);
  const ids = new Set(spans.map((s) => s.spanID));
  const children = new Map<string | null, JaegerSpan[]>();
  for (const s of spans) {
    const p = parentOf(s);
    const key = p && ids.has(p) ? p : null; // a parent not (yet) in the backend: shown as a root
    children.set(key, [...(children.get(key) ?? []), s]);
  }
  for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime);
  const rows: WaterfallRow[] = [];
  const visit = (s: JaegerSpan, depth: number) => {
    const tags = s.tags ?? [];
    rows.push({
      spanId: s.spanID,
      service: trace.processes[s.processID]?.serviceName ?? s.processID,
      name: s.operationName,
      depth,
      offset: (s.startTime - start) / total,
      width: Math.max(s.duration / total, 0.002),
      durationMs: s.duration / 1000,
      error: tags.some((t) => t.key === "error" && t.value === true),
      events: (s.logs ?? []).map((l) => String(l.fields.find((f) => f.key === "event")?.value ?? "event")),
    });
    for (const c of children.get(s.spanID) ?? []) visit(c, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
  return {
    traceId: trace.traceID,
    rows,
    services: [...new Set(rows.map((r) => r.service))].sort(),
    durationMs: total / 1000,
  };
}

/** The trace of an order: found by the order id the order service puts on its span. */
export async function orderTrace(orderId: string): Promise<JaegerTrace | null> {
  const tags = encodeURIComponent(JSON.stringify({ "eventify.order.id": orderId }));
  const res = await fetch(`/trace/api/traces?service=order&tags=${tags}&lookback=7d&limit=5`);
  if (!res.ok) throw new Error(`trace backend answered ${res.status}`);
  const body = (await res.json()) as { data: JaegerTrace[] | null };
  return body.data && body.data.length ? body.data[0] : null;
}
