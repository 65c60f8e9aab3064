"use client";
// Events, the Kafka UI's first page: brokers and controller, every topic and consumer group
// (each links to its own page: events/topic, events/group), the dead letters a page at a
// time (newest first per partition), each value fetched only when asked, with Replay
// buttons (an admin action: the admin token is asked for once), and the latest events.
import { useCallback, useState } from "react";
import {
  ApiError,
  api,
  time,
  type DeadLetter,
  type DeadLetterDetail,
  type LatestEvent,
} from "@/lib/api";
import { kafka, type KafkaCluster, type KafkaGroupList, type KafkaTopicSummary } from "@/lib/kafka";
import { useInOrder, usePolling } from "@/lib/live";
import KafkaOverview from "@/components/KafkaOverview";
import DataTable from "@/components/DataTable";

const PAGE_SIZE = 50;

const letterId = (l: { topic: string; partition: number; offset: number }) => `${l.topic}-${l.partition}-${l.offset}`;

export default function Events() {
  const [cluster, setCluster] = useState<KafkaCluster | null>(null);
  const [topics, setTopics] = useState<KafkaTopicSummary[] | null>(null);
  const [groups, setGroups] = useState<KafkaGroupList | null>(null);
  const [latest, setLatest] = useState<LatestEvent[] | null>(null);
  const [letters, setLetters] = useState<DeadLetter[] | null>(null);
  const [dlqTopic, setDlqTopic] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]); // cursor of each page seen
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [values, setValues] = useState<Record<string, DeadLetterDetail | string>>({});
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const cursor = cursors[cursors.length - 1];

  const next = useInOrder(); // letters under a previous filter or page may come after these
  const load = useCallback(() => {
    const fresh = next();
    Promise.all([
      kafka.cluster(),
      kafka.topics(),
      kafka.groups(),
      api.events(30),
      api.dlq({ topic: dlqTopic, cursor, limit: PAGE_SIZE }),
    ])
      .then(([c, t, g, e, d]) => {
        if (!fresh()) return;
        setCluster(c);
        setTopics(t);
        setGroups(g);
        setLatest(e);
        setLetters(d.items);
        setNextCursor(d.nextCursor);
        setError(null);
      })
      .catch((e: ApiError) => fresh() && setError(e.message));
  }, [dlqTopic, cursor, next]);
  usePolling(load, 3000);

  async function replay(body: { topic: string; partition?: number; offset?: number; all?: boolean }) {
    try {
      const r = await api.replay(body);
      const skipped = r.notReplayable
        ? ` ${r.notReplayable} cannot be replayed as they are (the first ${r.reason ?? "gave no reason"}).`
        : "";
      setNotice(`Replayed ${r.replayed} dead letter(s) to the consumer that failed them.${skipped}`);
      load();
    } catch (e) {
      setNotice(`Replay failed: ${(e as Error).message}`);
    }
  }

  async function showValue(l: DeadLetter) {
    try {
      const detail = await api.dlqLetter(l);
      setValues((v) => ({ ...v, [letterId(l)]: detail }));
    } catch (e) {
      setValues((v) => ({ ...v, [letterId(l)]: (e as ApiError).message }));
    }
  }

  // the DLQs of the topology table, as the read model lists them
  const allDlqs = (topics ?? []).filter((t) => t.kind === "dlq").map((t) => t.topic);
  const dlqTopics = dlqTopic ? [dlqTopic] : Array.from(new Set((letters ?? []).map((l) => l.topic)));
  return (
    <>
      <h1>Events</h1>
      {error && (
        <p className="error" role="alert">
          The read model is unreachable: retrying… ({error})
        </p>
      )}
      <KafkaOverview cluster={cluster} topics={topics} groups={groups} />
      <p aria-live="polite" className="ok" data-testid="replay-notice">
        {notice}
      </p>
      <section aria-labelledby="dlq-title">
        <h2 id="dlq-title">Dead letters</h2>
        <p>
          <label>
            DLQ{" "}
            <select
              value={dlqTopic}
              data-testid="dlq-topic"
              onChange={(e) => {
                setDlqTopic(e.target.value);
                setCursors([null]);
              }}
            >
              <option value="">every DLQ</option>
              {allDlqs.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>{" "}
          <span className="muted">
            page {cursors.length}, newest first per partition, {PAGE_SIZE} a page
          </span>{" "}
          <button type="button" className="secondary" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous page
          </button>{" "}
          <button
            type="button"
            className="secondary"
            disabled={!nextCursor}
            onClick={() => setCursors((c) => [...c, nextCursor])}
            data-testid="next-page"
          >
            Next page
          </button>
        </p>
        {letters && letters.length === 0 && cursors.length === 1 && (
          <p className="muted">No dead letters. Every message was handled.</p>
        )}
        {dlqTopics.map((t) => (
          <button key={t} type="button" className="secondary" onClick={() => replay({ topic: t, all: true })}>
            Replay all of {t}
          </button>
        ))}
        {letters && letters.length > 0 && (
          <DataTable columns={["Dead letter", "From", "Consumer", "Error", "Tries", "Failed", <span className="sr-only" key="action">Action</span>]}>
            {letters.map((l) => (
              <tr key={letterId(l)} data-testid="dlq-row" data-key={l.key} data-topic={l.topic}>
                <td>
                  {l.topic}[{l.partition}]@{l.offset}
                  <br />
                  <span className="muted">{l.eventType ?? "undecodable"}</span>
                </td>
                <td>
                  {l.originTopic}[{l.originPartition}]@{l.originOffset}
                </td>
                <td>{l.consumer}</td>
                <td className="wrap">{l.error}</td>
                <td>{l.attempts}</td>
                <td>{time(l.failedAt)}</td>
                <td>
                  <button
                    type="button"
                    disabled={l.cut}
                    title={l.cut ? "cut to fit the DLQ: only the message's source can send it again" : undefined}
                    onClick={() => replay({ topic: l.topic, partition: l.partition, offset: l.offset })}
                    data-testid="replay-button"
                  >
                    Replay
                  </button>{" "}
                  <button type="button" className="secondary" onClick={() => showValue(l)} data-testid="value-button">
                    Value ({l.valueBytes} B)
                  </button>
                  {l.cut && (
                    <span className="error" data-testid="letter-cut">
                      {" "}
                      cut, not replayable (original {l.originalKeyBytes !== null ? `key ${l.originalKeyBytes} B, ` : ""}value{" "}
                      {l.originalBytes ?? "?"} B)
                    </span>
                  )}
                  {values[letterId(l)] !== undefined && (
                    <pre className="wrap" data-testid="letter-value">
                      {typeof values[letterId(l)] === "string"
                        ? (values[letterId(l)] as string)
                        : ((values[letterId(l)] as DeadLetterDetail).value ?? "(not UTF-8 text)")}
                    </pre>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
      <section aria-labelledby="latest-title">
        <h2 id="latest-title">Latest events</h2>
        {latest && latest.length === 0 && <p className="muted">No events yet.</p>}
        <ol className="timeline">
          {latest?.map((e) => (
            <li key={e.eventId}>
              <strong>{e.eventType}</strong> on {e.topic}[{e.partition}]@{e.offset} · order {e.key.slice(0, 8)} · {time(e.occurredAt)}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
