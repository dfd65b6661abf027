import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderDashboardFiles } from "./generate.js";
import { DASHBOARDS_DIR } from "./paths.js";

describe("dashboard generation", () => {
  it("regenerates byte-identical JSON to the committed files (run `npm run grafana:generate` after changing a dashboard)", async () => {
    const rendered = renderDashboardFiles();
    expect(rendered.size).toBeGreaterThan(0);
    for (const [file, content] of rendered) {
      expect(await readFile(join(DASHBOARDS_DIR, file), "utf8"), file).toBe(content);
    }
  });

  it("leaves no committed dashboard that the code no longer generates", async () => {
    const committed = (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith(".json")).sort();
    expect(committed).toEqual([...renderDashboardFiles().keys()].sort());
  });

  it("is a pure function of the code", () => {
    expect([...renderDashboardFiles()]).toEqual([...renderDashboardFiles()]);
  });
});
