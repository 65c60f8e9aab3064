"use client";
// One consumer group: its state, members with the partitions assigned to each, and per
// partition the committed offset, the end offset and the lag. The id comes from ?id= (a
// static export cannot pre-render unknown ids).
import { Suspense, useCallback, useState } from "react";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import type { ApiError } from "@/lib/api";
import { kafka, type KafkaGroup } from "@/lib/kafka";
import { usePolling } from "@/lib/live";
import { topicHref } from "@/components/KafkaOverview";
import DataTable from "@/components/DataTable";

function Group() {
  const id = useSearchParams().get("id") ?? "";
  const [group, setGroup] = useState<KafkaGroup | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    kafka
      .group(id)
      .then((g) => {
        setGroup(g);
        setError(null);
      })
      .catch((e: ApiError) => setError(e.message));
  }, [id]);
  usePolling(load, 3000);
  const offsets = [...(group?.offsets ?? [])].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return (
    <>
      <p>
        <Link href="/events/">← Events</Link>
      </p>
      <h1>Consumer group {id}</h1>
      {error && (
        <p className="error" role="alert" data-testid="group-error">
          {error}
        </p>
      )}
      {group && (
        <p className="muted" data-testid="group-summary">
          state {group.state} · assignor {group.assignor || "—"} · coordinator{" "}
          {group.coordinator ? `broker ${group.coordinator.id}` : "—"} · {group.members.length} member(s) · total lag{" "}
          {group.lag}
        </p>
      )}
      <section aria-labelledby="members-title">
        <h2 id="members-title">Members</h2>
        {group && group.members.length === 0 && <p className="muted">No member is connected.</p>}
        <DataTable columns={["Member", "Client", "Host", "Assigned partitions"]}>
          {group?.members.map((m) => (
            <tr key={m.memberId} data-testid="member-row">
              <td className="wrap">{m.memberId}</td>
              <td>{m.clientId}</td>
              <td>{m.host}</td>
              <td className="wrap">{m.assignment.map((a) => `${a.topic}[${a.partition}]`).join(", ") || "none"}</td>
            </tr>
          ))}
        </DataTable>
      </section>
      <section aria-labelledby="lag-title">
        <h2 id="lag-title">Offsets and lag</h2>
        <DataTable columns={["Topic", "Partition", "Committed", "End", "Lag"]}>
          {offsets.map((o) => (
            <tr key={`${o.topic}-${o.partition}`} data-testid="lag-row">
              <td>
                <Link href={topicHref(o.topic)}>{o.topic}</Link>
              </td>
              <td>{o.partition}</td>
              <td>{o.committedOffset ?? "none"}</td>
              <td>{o.endOffset ?? "unknown"}</td>
              <td className={o.lag ? "error" : undefined}>{o.lag ?? "unknown"}</td>
            </tr>
          ))}
        </DataTable>
      </section>
    </>
  );
}

export default function GroupPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <Group />
    </Suspense>
  );
}
