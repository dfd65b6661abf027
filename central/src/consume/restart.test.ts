// The consumer's answer to kafkajs ending its consumer (CRASH with restart: false): an outage is waited out by
// starting the consumer again with backoff, anything else is fatal. kafkajs is replaced by a fake client here (the
// decision is this module's logic); the real broker outage runs in the reliability suite.
import kafkajs from "kafkajs";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { parseCentralConfig } from "../config.js";
import type { CentralError } from "../errors.js";
import { createLogger } from "../logging.js";
import { createCentralMetrics } from "../metrics/index.js";
import { createPartialConsumer } from "./index.js";

/** kafkajs's own error classes (its typings declare fewer constructor arguments than the classes take). */
type ErrorClass = new (...args: unknown[]) => Error;
const errors = kafkajs as unknown as Record<
  | "KafkaJSConnectionError"
  | "KafkaJSGroupCoordinatorNotFound"
  | "KafkaJSNonRetriableError"
  | "KafkaJSSASLAuthenticationError",
  ErrorClass
>;
const {
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNonRetriableError,
  KafkaJSSASLAuthenticationError,
} = errors;

const CRASH = "consumer.crash";

/** What the module under test did to the fake consumer, and a way to emit kafkajs events to it. */
const fake = vi.hoisted(() => ({
  listeners: new Map<string, ((event: unknown) => void)[]>(),
  calls: { connect: 0, subscribe: 0, run: 0 },
  /** Errors the next `run` calls reject with, in order (then it resolves). */
  runFailures: [] as Error[],
}));

vi.mock("kafkajs", async (importActual) => {
  // kafkajs is CommonJS: its exports (error classes, logLevel, …) are the namespace's default.
  const actual = (await importActual<{ default: typeof import("kafkajs") }>()).default;
  class FakeKafka {
    consumer() {
      return {
        events: { CRASH: "consumer.crash", GROUP_JOIN: "consumer.group_join", REBALANCING: "consumer.rebalancing" },
        on(event: string, listener: (event: unknown) => void) {
          fake.listeners.set(event, [...(fake.listeners.get(event) ?? []), listener]);
        },
        async connect() {
          fake.calls.connect++;
        },
        async subscribe() {
          fake.calls.subscribe++;
        },
        async run() {
          fake.calls.run++;
          const failure = fake.runFailures.shift();
          if (failure !== undefined) throw failure;
        },
        async disconnect() {},
      };
    }
    admin() {
      return { connect: async () => {}, listTopics: async () => ["rla-partials"], disconnect: async () => {} };
    }
  }
  const mocked = { ...actual, Kafka: FakeKafka };
  return { ...mocked, default: mocked };
});

function crash(error: Error, restart: boolean): void {
  for (const listener of fake.listeners.get(CRASH) ?? []) listener({ payload: { error, groupId: "g", restart } });
}

function setUp() {
  const fatal: CentralError[] = [];
  const delays: number[] = [];
  const consumer = createPartialConsumer({
    config: parseCentralConfig({}),
    secrets: { saslPassword: undefined, influxToken: "" },
    logger: createLogger("silent"),
    metrics: createCentralMetrics({ defaultMetrics: false }),
    handlers: {
      onAssigned: async () => {},
      onRevoked: () => {},
      onRebalancing: () => {},
      onRecords: () => {},
      onFatal: (error) => fatal.push(error),
    },
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  return { consumer, fatal, delays };
}

/** Lets every pending continuation run: the restart chain is a few awaits deep, and the injected sleep has no timer. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
}

describe("consumer restart after kafkajs ends it", () => {
  beforeEach(() => {
    fake.listeners.clear();
    fake.calls = { connect: 0, subscribe: 0, run: 0 };
    fake.runFailures = [];
  });

  it("restarts with growing backoff when an outage ended it (group coordinator not found), through failed attempts", async () => {
    const { consumer, fatal, delays } = setUp();
    await consumer.start();
    expect(fake.calls).toEqual({ connect: 1, subscribe: 1, run: 1 });
    // The broker is still down for the first two restart attempts.
    fake.runFailures = [
      new KafkaJSConnectionError("connect ECONNREFUSED 127.0.0.1:19092"),
      new KafkaJSConnectionError("connect ECONNREFUSED 127.0.0.1:19092"),
    ];
    const noCoordinator = new KafkaJSGroupCoordinatorNotFound("Failed to find group coordinator");
    crash(new KafkaJSNonRetriableError(noCoordinator, { cause: noCoordinator }), false);
    await settle();
    expect(fake.calls).toEqual({ connect: 4, subscribe: 4, run: 4 });
    expect(delays).toHaveLength(2);
    expect(delays[1]!).toBeGreaterThanOrEqual(delays[0]!);
    expect(fatal).toEqual([]);
    await consumer.disconnect();
  });

  it("leaves the restart to kafkajs when it restarts itself", async () => {
    const { consumer, fatal } = setUp();
    await consumer.start();
    crash(new KafkaJSConnectionError("Connection timeout"), true);
    await settle();
    expect(fake.calls.run).toBe(1);
    expect(fatal).toEqual([]);
    await consumer.disconnect();
  });

  it("is fatal when waiting cannot help (authentication failed), and does not restart", async () => {
    const { consumer, fatal } = setUp();
    await consumer.start();
    const denied = new KafkaJSSASLAuthenticationError("SASL PLAIN authentication failed");
    crash(new KafkaJSNonRetriableError(denied, { cause: denied }), false);
    await settle();
    expect(fake.calls.run).toBe(1);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.retriable).toBe(false);
    await consumer.disconnect();
  });

  it("does not restart a consumer that is shutting down", async () => {
    const { consumer, fatal } = setUp();
    await consumer.start();
    await consumer.disconnect();
    crash(new KafkaJSConnectionError("connect ECONNREFUSED 127.0.0.1:19092"), false);
    await settle();
    expect(fake.calls.run).toBe(1);
    expect(fatal).toEqual([]);
  });
});
