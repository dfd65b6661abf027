import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type StackEndpoints, stackEndpoints } from "./endpoints.js";
import { DeployError, DeployErrorCode } from "./errors.js";
import { influxQuery } from "./influx.js";
import { adminClient } from "./kafka.js";

/** deploy/local/stack.sh; this module sits one level below deploy/ both as src/stack.ts and dist/stack.js. */
export const STACK_SCRIPT = fileURLToPath(new URL("../local/stack.sh", import.meta.url));

export type StackCommand = "up" | "down" | "status";

/** Runs `bash deploy/local/stack.sh <command>` with the caller's output streams; rejects on a non-zero exit. */
export function runStackScript(command: StackCommand, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [STACK_SCRIPT, command], { stdio: ["ignore", "inherit", "inherit"], env });
    child.on("error", (error) =>
      reject(new DeployError(DeployErrorCode.Stack, `could not run ${STACK_SCRIPT}: ${error.message}`, error)),
    );
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new DeployError(DeployErrorCode.Stack, `stack.sh ${command} exited with ${code ?? signal}`)),
    );
  });
}

export interface StackHealth {
  kafka: boolean;
  influx: boolean;
}

/** One quick check of each server: a Kafka metadata request and an InfluxDB `SHOW DATABASES`. Never throws. */
export async function stackHealth(endpoints: StackEndpoints = stackEndpoints()): Promise<StackHealth> {
  const kafka = async () => {
    const admin = adminClient(endpoints.kafkaBrokers, "rla-stack-health").admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.length > 0;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  };
  const influx = () =>
    influxQuery(endpoints.influxUrl, "", "SHOW DATABASES", { timeoutMs: 3_000 }).then(
      () => true,
      () => false,
    );
  const [k, i] = await Promise.all([kafka(), influx()]);
  return { kafka: k, influx: i };
}
