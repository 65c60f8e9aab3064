// Typed client of the read model's Kafka UI routes (/api/kafka/...): brokers, topics,
// messages, consumer groups, and the one admin action, producing a test message.
import { call, parse, send } from "./api";
import { withAdminToken } from "./admin-token";

export interface KafkaCluster {
  clusterId: string | null;
  controllerId: number | null;
  brokers: { id: number; host: string; port: number; controller: boolean }[];
  topicCount: number;
}

export type TopicKind = "events" | "dlq" | "other";

export interface KafkaTopicSummary {
  topic: string;
  kind: TopicKind;
  internal: boolean;
  partitions: number;
  replicationFactor: number;
  underReplicated: number;
  messages: number;
}

export interface KafkaPartition {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  lowOffset: number | null;
  highOffset: number | null;
}

export interface KafkaConfig {
  name: string;
  value: string | null;
  source: string;
  isDefault: boolean;
  readOnly: boolean;
  sensitive: boolean;
}

export interface KafkaTopic {
  topic: string;
  kind: TopicKind;
  internal: boolean;
  partitions: KafkaPartition[];
  configs: KafkaConfig[];
}

export interface KafkaMessage {
  offset: number;
  timestamp: number | null;
  timestampType: "create" | "logAppend";
  key: string | null;
  headers: { name: string | null; value: string | null }[]; // null: not UTF-8
  value: string | null;
  valueBytes: number;
  valueTruncated: boolean;
}

export interface KafkaMessagePage {
  topic: string;
  partition: number;
  lowOffset: number;
  highOffset: number;
  startOffset: number;
  nextOffset: number;
  scanned: number;
  complete: boolean;
  messages: KafkaMessage[];
}

export interface KafkaGroupSummary {
  group: string;
  state: string;
  partitions: number;
  lag: number | null;
}

/** The first 200 groups by name; total counts them all. */
export interface KafkaGroupList {
  groups: KafkaGroupSummary[];
  total: number;
  truncated: boolean;
}

export interface KafkaGroup {
  group: string;
  state: string;
  assignor: string | null;
  coordinator: { id: number; host: string; port: number } | null;
  members: { memberId: string; clientId: string; host: string; assignment: { topic: string; partition: number }[] }[];
  offsets: { topic: string; partition: number; committedOffset: number | null; endOffset: number | null; lag: number | null }[];
  lag: number;
}

export interface BrowseQuery {
  partition: number;
  offset?: number;
  timestamp?: number;
  limit?: number;
  search?: string;
}

export interface TestMessage {
  key?: string;
  value: string;
  headers?: Record<string, string>;
  partition?: number;
}

const topicPath = (topic: string) => `/api/kafka/topics/${encodeURIComponent(topic)}`;

export const kafka = {
  cluster: () => call<KafkaCluster>("/api/kafka/cluster"),
  topics: () => call<KafkaTopicSummary[]>("/api/kafka/topics"),
  topic: (name: string) => call<KafkaTopic>(topicPath(name)),
  messages: (topic: string, q: BrowseQuery) => {
    const p = new URLSearchParams({ partition: String(q.partition), limit: String(q.limit ?? 20) });
    if (q.offset !== undefined) p.set("offset", String(q.offset));
    if (q.timestamp !== undefined) p.set("timestamp", String(q.timestamp));
    if (q.search) p.set("search", q.search);
    return call<KafkaMessagePage>(`${topicPath(topic)}/messages?${p}`);
  },
  groups: () => call<KafkaGroupList>("/api/kafka/consumer-groups"),
  group: (id: string) => call<KafkaGroup>(`/api/kafka/consumer-groups/${encodeURIComponent(id)}`),
  // An admin action: asks for the admin token once per tab (lib/admin-token.ts).
  produce: async (topic: string, message: TestMessage) =>
    parse<{ topic: string; partition: number; offset: number }>(
      await withAdminToken((headers) =>
        send(`${topicPath(topic)}/messages`, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...headers },
          body: JSON.stringify(message),
        }),
      ),
    ),
};

/** A value as people read it: JSON indented, anything else as it is. */
export function prettyValue(value: string | null): string {
  if (value === null) return "(not UTF-8 text)";
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** "name: value" lines into headers; throws on a line without a colon. */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon < 1) throw new Error(`header line "${line}" needs "name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

export function dateTime(ms: number | null): string {
  return ms === null ? "—" : new Date(ms).toLocaleString([], { hour12: false });
}
