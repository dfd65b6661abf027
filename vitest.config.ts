import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Workspaces import each other by package name; in tests we resolve those names to the TypeScript
// sources so a test never runs against a stale build.
const src = (ws: string) => fileURLToPath(new URL(`./${ws}/src/index.ts`, import.meta.url));
const alias = {
  "@rla/protocol": src("protocol"),
  "@rla/edge-agent": src("edge-agent"),
  "@rla/central": src("central"),
  "@rla/grafana": src("grafana"),
  "@rla/deploy": src("deploy"),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["{protocol,edge-agent,central,grafana,deploy}/src/**/*.test.ts", "test/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: [
            "{protocol,edge-agent,central,grafana,deploy}/src/**/*.itest.ts",
            "deploy/{ansible,compose}/**/*.itest.ts",
            "test/**/*.itest.ts",
          ],
          exclude: ["test/reliability/**"],
          environment: "node",
          globalSetup: ["test/setup/stack.ts"],
          // Integration tests share one Kafka broker and one InfluxDB; each test uses its own topic/database,
          // but running files one at a time keeps a 2-core machine from starving the broker.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
