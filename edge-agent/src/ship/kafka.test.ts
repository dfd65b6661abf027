import { gunzipSync, gzipSync } from "node:zlib";
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { parseAgentConfig } from "../config.js";
import { createKafkaSink } from "./kafka.js";

const { CompressionCodecs, CompressionTypes } = kafkajs;

function sinkWithGzipLevel(gzipLevel: number): void {
  const config = parseAgentConfig({
    files: ["/a.log"],
    format: "nginx_combined",
    kafka: { brokers: ["k1:9092"], gzipLevel },
  });
  // Creating the sink does not connect; it only installs the codec.
  createKafkaSink({ kafka: config.kafka, ssl: false, password: undefined, onLog: () => {} });
}

describe("Kafka sink compression", () => {
  // Compressible like a partial: keys and counters with repeats.
  const batch = Buffer.from(Array.from({ length: 4000 }, (_, i) => `10.0.${i % 97}.${i % 13}:${i % 7}`).join(","));

  it.each([1, 6, 9])("gzips batches at kafka.gzipLevel %i, readable by any gzip reader", async (level) => {
    sinkWithGzipLevel(level);
    const codec = CompressionCodecs[CompressionTypes.GZIP]();
    const compressed: Buffer = await codec.compress({ buffer: batch });
    expect(compressed.equals(gzipSync(batch, { level }))).toBe(true);
    expect(gunzipSync(compressed).equals(batch)).toBe(true);
    expect((await codec.decompress(compressed)).equals(batch)).toBe(true);
  });

  it("trades size for speed between the levels", async () => {
    sinkWithGzipLevel(1);
    const fast: Buffer = await CompressionCodecs[CompressionTypes.GZIP]().compress({ buffer: batch });
    sinkWithGzipLevel(9);
    const small: Buffer = await CompressionCodecs[CompressionTypes.GZIP]().compress({ buffer: batch });
    expect(small.length).toBeLessThan(fast.length);
  });
});
