"use client";
// One topic: its partitions (leader, replicas, in-sync replicas, offsets), a message browser
// (any partition, from an offset, a time or the latest, with a search over a bounded window,
// values pretty-printed), a form producing a test message (admin token; event topics of the
// topology only) and its configuration. The name comes from ?name=.
import { Suspense, useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import type { ApiError } from "@/lib/api";
import {
  dateTime,
  kafka,
  parseHeaders,
  prettyValue,
  type BrowseQuery,
  type KafkaMessagePage,
  type KafkaTopic,
} from "@/lib/kafka";
import { useInOrder, usePolling } from "@/lib/live";
import DataTable from "@/components/DataTable";

type From = "latest" | "offset" | "time";

function Messages({ topic }: { topic: KafkaTopic }) {
  const [partition, setPartition] = useState(0);
  const [from, setFrom] = useState<From>("latest");
  const [offset, setOffset] = useState("0");
  const [time, setTime] = useState("");
  const [search, setSearch] = useState("");
  const [limit, setLimit] = useState(20);
  const [page, setPage] = useState<KafkaMessagePage | null>(null);
  const [error, setError] = useState<string | null>(null);

  // The first page (latest messages, maybe large) can answer after a browse asked later.
  const next = useInOrder();
  const browse = useCallback(
    (q: BrowseQuery) => {
      const fresh = next();
      setError(null);
      kafka
        .messages(topic.topic, q)
        .then((p) => fresh() && setPage(p))
        .catch((e: ApiError) => fresh() && setError(e.message));
    },
    [topic.topic, next],
  );

  function query(): BrowseQuery | null {
    const q: BrowseQuery = { partition, limit, search: search || undefined };
    if (from === "offset") {
      if (!/^\d+$/.test(offset.trim())) {
        setError("The offset is a whole number ≥ 0.");
        return null;
      }
      q.offset = Number(offset.trim());
    } else if (from === "time") {
      const ms = new Date(time).getTime();
      if (!time || isNaN(ms) || ms < 0) {
        setError("Pick a date and time.");
        return null;
      }
      q.timestamp = ms;
    }
    return q;
  }

  useEffect(() => browse({ partition: 0, limit: 20 }), [browse]);

  return (
    <section aria-labelledby="messages-title">
      <h2 id="messages-title">Messages</h2>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          const q = query();
          if (q) browse(q);
        }}
      >
        <label>
          Partition
          <select value={partition} onChange={(e) => setPartition(Number(e.target.value))} data-testid="browse-partition">
            {topic.partitions.map((p) => (
              <option key={p.partition} value={p.partition}>
                {p.partition}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <select value={from} onChange={(e) => setFrom(e.target.value as From)} data-testid="browse-from">
            <option value="latest">the latest</option>
            <option value="offset">an offset</option>
            <option value="time">a time</option>
          </select>
        </label>
        {from === "offset" && (
          <label>
            Offset
            <input value={offset} onChange={(e) => setOffset(e.target.value)} inputMode="numeric" data-testid="browse-offset" />
          </label>
        )}
        {from === "time" && (
          <label>
            Time
            <input type="datetime-local" step="1" value={time} onChange={(e) => setTime(e.target.value)} data-testid="browse-time" />
          </label>
        )}
        <label>
          Containing
          <input value={search} onChange={(e) => setSearch(e.target.value)} maxLength={200} placeholder="text in key, value or headers" data-testid="browse-search" />
        </label>
        <label>
          At most
          <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {[10, 20, 50].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" data-testid="browse">
          Show
        </button>
      </form>
      {error && (
        <p className="error" role="alert" data-testid="browse-error">
          {error}
        </p>
      )}
      {page && (
        <p className="muted" data-testid="browse-status">
          Partition {page.partition} holds offsets {page.lowOffset} up to {page.highOffset} (its end); read {page.scanned} from offset{" "}
          {page.startOffset}, {page.messages.length} shown.{" "}
          {page.complete ? "Read to the end." : `Stopped at a bound (messages, bytes or time): go on from ${page.nextOffset}.`}{" "}
          {page.nextOffset < page.highOffset && (
            <button
              type="button"
              className="secondary"
              data-testid="browse-next"
              onClick={() => {
                setFrom("offset");
                setOffset(String(page.nextOffset));
                browse({ partition: page.partition, offset: page.nextOffset, limit, search: search || undefined });
              }}
            >
              Next from {page.nextOffset}
            </button>
          )}
        </p>
      )}
      {page && page.messages.length === 0 && <p className="muted">No message here.</p>}
      <ol className="feed">
        {page?.messages.map((m) => (
          <li key={m.offset} className="card" data-testid="message" data-offset={m.offset} data-key={m.key ?? ""}>
            <p>
              <strong>offset {m.offset}</strong> · {dateTime(m.timestamp)} · key <code>{m.key ?? "(none or not text)"}</code> · {m.valueBytes} B
            </p>
            {m.headers.length > 0 && (
              <p className="muted" data-testid="message-headers">
                {m.headers.map((h) => `${h.name ?? "(not text)"}: ${h.value ?? "(not text)"}`).join(" · ")}
              </p>
            )}
            <pre className="wrap" data-testid="message-value">
              {prettyValue(m.value)}
            </pre>
            {m.valueTruncated && <p className="muted">Only the first 16 KiB of the value are shown.</p>}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Produce({ topic, onSent }: { topic: KafkaTopic; onSent: () => void }) {
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const [headers, setHeaders] = useState("");
  const [partition, setPartition] = useState("");
  const [notice, setNotice] = useState<string | null>(null);

  async function send() {
    try {
      const r = await kafka.produce(topic.topic, {
        ...(key ? { key } : {}),
        value,
        headers: parseHeaders(headers),
        ...(partition ? { partition: Number(partition) } : {}),
      });
      setNotice(`Produced to ${r.topic}[${r.partition}] at offset ${r.offset}.`);
      onSent();
    } catch (e) {
      setNotice(`Not produced: ${(e as Error).message}`);
    }
  }

  return (
    <section aria-labelledby="produce-title">
      <h2 id="produce-title">Produce a test message</h2>
      <p className="muted">
        An admin action (the admin token is asked for once), recorded with the tool that sent it. The topic&apos;s consumers receive
        it like any other message: one they cannot decode goes to their DLQ.
      </p>
      <form
        className="kafka-form"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label>
          Key
          <input value={key} onChange={(e) => setKey(e.target.value)} maxLength={1024} data-testid="produce-key" />
        </label>
        <label>
          Partition
          <select value={partition} onChange={(e) => setPartition(e.target.value)} data-testid="produce-partition">
            <option value="">by key</option>
            {topic.partitions.map((p) => (
              <option key={p.partition} value={p.partition}>
                {p.partition}
              </option>
            ))}
          </select>
        </label>
        <label className="wide">
          Value
          <textarea rows={4} cols={50} value={value} onChange={(e) => setValue(e.target.value)} maxLength={32768} data-testid="produce-value" />
        </label>
        <label className="wide">
          Headers (one &quot;name: value&quot; a line)
          <textarea rows={3} cols={30} value={headers} onChange={(e) => setHeaders(e.target.value)} data-testid="produce-headers" />
        </label>
        <p>
          <button type="submit" data-testid="produce">
            Produce
          </button>
        </p>
      </form>
      <p aria-live="polite" data-testid="produce-notice">
        {notice}
      </p>
    </section>
  );
}

function Topic() {
  const name = useSearchParams().get("name") ?? "";
  const [topic, setTopic] = useState<KafkaTopic | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [onlySet, setOnlySet] = useState(true);
  const load = useCallback(() => {
    kafka
      .topic(name)
      .then((t) => {
        setTopic(t);
        setError(null);
      })
      .catch((e: ApiError) => setError(e.message));
  }, [name]);
  usePolling(load, 5000);
  const configs = (topic?.configs ?? []).filter((c) => !onlySet || !c.isDefault).sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      <p>
        <Link href="/events/">← Events</Link>
      </p>
      <h1>Topic {name}</h1>
      {error && (
        <p className="error" role="alert" data-testid="topic-error">
          {error}
        </p>
      )}
      {topic && (
        <p className="muted">
          {topic.internal ? "internal" : topic.kind} topic · {topic.partitions.length} partition(s)
        </p>
      )}
      <section aria-labelledby="partitions-title">
        <h2 id="partitions-title">Partitions</h2>
        <DataTable columns={["Partition", "Leader", "Replicas", "In sync", "Low offset", "High offset"]}>
          {topic?.partitions.map((p) => (
            <tr key={p.partition} data-testid="partition-row">
              <td>{p.partition}</td>
              <td>{p.leader >= 0 ? `broker ${p.leader}` : "none"}</td>
              <td>{p.replicas.join(", ")}</td>
              <td className={p.isr.length < p.replicas.length ? "error" : undefined}>{p.isr.join(", ")}</td>
              <td>{p.lowOffset ?? "unknown"}</td>
              <td>{p.highOffset ?? "unknown"}</td>
            </tr>
          ))}
        </DataTable>
      </section>
      {topic && <Messages topic={topic} />}
      {topic && topic.kind === "events" && <Produce topic={topic} onSent={load} />}
      <section aria-labelledby="configs-title">
        <h2 id="configs-title">Configuration</h2>
        <label className="check">
          <input type="checkbox" checked={onlySet} onChange={(e) => setOnlySet(e.target.checked)} data-testid="configs-only-set" /> only
          settings that differ from the defaults
        </label>
        <DataTable columns={["Name", "Value", "Source"]}>
          {configs.map((c) => (
            <tr key={c.name} data-testid="config-row" data-name={c.name}>
              <td>{c.name}</td>
              <td className="wrap">{c.sensitive ? "(sensitive)" : (c.value ?? "—")}</td>
              <td className="muted">
                {c.source}
                {c.readOnly ? " · read-only" : ""}
              </td>
            </tr>
          ))}
        </DataTable>
      </section>
    </>
  );
}

export default function TopicPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <Topic />
    </Suspense>
  );
}
