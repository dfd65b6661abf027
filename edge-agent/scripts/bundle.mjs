// Bundles the CLI into dist/cli.js for the npm package (`prepack`); `--restore` (`postpack`) puts back the file
// `tsc -b` emitted there, so the workspace keeps running its own build. @rla/protocol is not published, so it is
// inlined from its sources; every npm dependency stays external and is installed from `dependencies`.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { build } from "esbuild";

const path = (p) => new URL(p, import.meta.url).pathname;
const out = path("../dist/cli.js");
const saved = path("../dist/cli.js.tsc");

if (process.argv.includes("--restore")) {
  if (existsSync(saved)) renameSync(saved, out);
  else rmSync(out, { force: true });
} else {
  if (existsSync(out) && !existsSync(saved)) renameSync(out, saved);
  const pkg = JSON.parse(readFileSync(path("../package.json"), "utf8"));
  await build({
    entryPoints: [path("../src/cli.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    alias: { "@rla/protocol": path("../../protocol/src/index.ts") },
    external: Object.keys(pkg.dependencies),
    logLevel: "warning",
  });
}
