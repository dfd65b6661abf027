import { retry } from "@rla/protocol";
import { parseOptions, type TopicOptions, topicOptionsSchema } from "../config.js";
import { adminClient, toDeployError } from "../kafka.js";

export interface EnsureTopicResult {
  topic: string;
  /** False when the topic already existed (it is then left as it is). */
  created: boolean;
  /** The topic's actual partition count. */
  partitions: number;
  /** Set when an existing topic's partition count differs from the one asked for. */
  warning?: string;
}

/**
 * Creates the topic if it does not exist and waits until its partitions have leaders. Idempotent: an existing
 * topic is accepted as it is (never altered), and a partition count other than the requested one is reported in
 * `warning`. An unavailable broker is waited out with backoff for up to `timeoutMs`.
 */
export async function ensureTopic(
  options: TopicOptions,
  { signal }: { signal?: AbortSignal } = {},
): Promise<EnsureTopicResult> {
  const o = parseOptions(topicOptionsSchema, options, "ensureTopic options");
  const configEntries: { name: string; value: string }[] = [];
  if (o.retentionMs !== undefined) configEntries.push({ name: "retention.ms", value: String(o.retentionMs) });
  if (o.minInsyncReplicas !== undefined) {
    configEntries.push({ name: "min.insync.replicas", value: String(o.minInsyncReplicas) });
  }
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const kafka = adminClient(o.brokers);

  return retry(
    async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        const created = await admin.createTopics({
          topics: [
            { topic: o.topic, numPartitions: o.partitions, replicationFactor: o.replicationFactor, configEntries },
          ],
          waitForLeaders: true,
        });
        const metadata = await admin.fetchTopicMetadata({ topics: [o.topic] });
        const partitions = metadata.topics[0]?.partitions.length ?? 0;
        const result: EnsureTopicResult = { topic: o.topic, created, partitions };
        if (partitions !== o.partitions) {
          result.warning = `topic ${o.topic} exists with ${partitions} partitions, not the ${o.partitions} asked for; left unchanged`;
        }
        return result;
      } catch (error) {
        throw toDeployError(error, `ensureTopic ${o.topic} on ${o.brokers.join(",")}`);
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
    { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, maxDelayMs: 5_000 },
  );
}
