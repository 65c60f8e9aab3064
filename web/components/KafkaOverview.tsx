// The Kafka UI's overview: brokers (the controller marked), every topic with its shape and
// message count, every consumer group with its state and lag; topics and groups link to
// their own pages.
import Link from "next/link";
import type { KafkaCluster, KafkaGroupList, KafkaTopicSummary } from "@/lib/kafka";
import DataTable from "@/components/DataTable";

export const topicHref = (topic: string) => `/events/topic/?name=${encodeURIComponent(topic)}`;
export const groupHref = (group: string) => `/events/group/?id=${encodeURIComponent(group)}`;

export default function KafkaOverview({
  cluster,
  topics,
  groups,
}: {
  cluster: KafkaCluster | null;
  topics: KafkaTopicSummary[] | null;
  groups: KafkaGroupList | null;
}) {
  return (
    <>
      <section aria-labelledby="cluster-title">
        <h2 id="cluster-title">Brokers</h2>
        {cluster && (
          <p className="muted" data-testid="cluster">
            Cluster {cluster.clusterId ?? "(id unknown)"} · controller{" "}
            {cluster.controllerId === null ? "unknown" : `broker ${cluster.controllerId}`} · {cluster.topicCount} topics
          </p>
        )}
        <div className="grid">
          {cluster?.brokers.map((b) => (
            <div className="card" key={b.id} data-testid="broker">
              <h3>Broker {b.id}</h3>
              <p className="muted">
                {b.host}:{b.port}
                {b.controller && (
                  <>
                    {" "}
                    · <strong>controller</strong>
                  </>
                )}
              </p>
            </div>
          ))}
        </div>
      </section>
      <section aria-labelledby="topics-title">
        <h2 id="topics-title">Topics</h2>
        <DataTable columns={["Topic", "Kind", "Partitions", "Replication", "Under-replicated", "Messages"]}>
          {topics?.map((t) => (
            <tr key={t.topic} data-testid="topic-row" data-topic={t.topic}>
              <td>
                <Link href={topicHref(t.topic)}>{t.topic}</Link>
              </td>
              <td>{t.internal ? "internal" : t.kind}</td>
              <td>{t.partitions}</td>
              <td>{t.replicationFactor}</td>
              <td className={t.underReplicated > 0 ? "error" : undefined}>{t.underReplicated}</td>
              <td>{t.messages}</td>
            </tr>
          ))}
        </DataTable>
      </section>
      <section aria-labelledby="groups-title">
        <h2 id="groups-title">Consumer groups</h2>
        {groups && groups.total === 0 && <p className="muted">No consumer groups.</p>}
        {groups?.truncated && (
          <p className="muted" data-testid="groups-truncated">
            The first {groups.groups.length} of {groups.total} groups by name.
          </p>
        )}
        <DataTable columns={["Group", "State", "Partitions", "Lag"]}>
          {groups?.groups.map((g) => (
            <tr key={g.group} data-testid="group-row" data-group={g.group}>
              <td>
                <Link href={groupHref(g.group)}>{g.group}</Link>
              </td>
              <td>{g.state}</td>
              <td>{g.partitions}</td>
              <td>{g.lag ?? "unknown"}</td>
            </tr>
          ))}
        </DataTable>
      </section>
    </>
  );
}
