/**
 * Writes the dashboards as JSON into `grafana/dashboards/` (committed; Grafana's file provider loads them).
 * Run with `npm run grafana:generate`. The output is a pure function of the code, so a unit test can regenerate
 * in memory and require byte-identical files.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DASHBOARDS } from "./dashboards/index.js";
import { DASHBOARDS_DIR } from "./paths.js";

/** File name → exact file content (2-space JSON with a trailing newline). */
export function renderDashboardFiles(): Map<string, string> {
  return new Map(DASHBOARDS.map(({ file, build }) => [file, `${JSON.stringify(build(), null, 2)}\n`]));
}

export async function writeDashboardFiles(dir: string = DASHBOARDS_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, content] of renderDashboardFiles()) {
    const path = join(dir, file);
    await writeFile(path, content);
    written.push(path);
  }
  return written;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const path of await writeDashboardFiles()) console.log(`wrote ${path}`);
}
