import { fileURLToPath } from "node:url";

// This module sits one level below grafana/ both as src/paths.ts and as dist/paths.js, so the same relative URLs
// reach the committed provisioning and dashboard folders whether it runs from source (vitest) or from the build.
/** `grafana/provisioning/`: mount it at `/etc/grafana/provisioning`. */
export const PROVISIONING_DIR = fileURLToPath(new URL("../provisioning/", import.meta.url));
/** `grafana/dashboards/`: the generated dashboard JSON the file provider loads. */
export const DASHBOARDS_DIR = fileURLToPath(new URL("../dashboards/", import.meta.url));
