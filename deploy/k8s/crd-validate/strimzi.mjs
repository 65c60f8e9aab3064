// Validates Strimzi resources against the schemas of Strimzi's CRDs (compiled into
// @kubernetes-models/strimzi-kafka-operator). Reads a JSON array of resources on stdin,
// prints one line per resource, exits 1 if any is invalid or of a kind it does not know.
// Called by deploy/k8s/validate.py.
import * as v1 from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const resources = JSON.parse(Buffer.concat(chunks).toString("utf8"));
let bad = 0;
for (const r of resources) {
  const what = `${r.kind}/${r.metadata?.name} (${r.apiVersion})`;
  const Model = r.apiVersion === "kafka.strimzi.io/v1" ? v1[r.kind] : undefined;
  if (!Model) {
    console.log(`INVALID ${what}: no Strimzi schema for this apiVersion and kind`);
    bad++;
    continue;
  }
  try {
    new Model(r).validate();
    console.log(`valid ${what}`);
  } catch (e) {
    console.log(`INVALID ${what}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
