// `npm run test:reliability`: the full-size fault-injection suite. Not part of `npm test` (the root config's
// integration project excludes test/reliability/**); its small CI subset is test/e2e/reliability-ci.itest.ts.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../../", import.meta.url));
const src = (ws: string) => fileURLToPath(new URL(`../../${ws}/src/index.ts`, import.meta.url));
const alias = {
  "@rla/protocol": src("protocol"),
  "@rla/edge-agent": src("edge-agent"),
  "@rla/central": src("central"),
  "@rla/grafana": src("grafana"),
  "@rla/deploy": src("deploy"),
};

export default defineConfig({
  root,
  resolve: { alias },
  test: {
    name: "reliability",
    include: ["test/reliability/**/*.itest.ts"],
    environment: "node",
    globalSetup: ["test/setup/stack.ts"],
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
  },
});
