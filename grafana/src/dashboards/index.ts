import type { Dashboard } from "@grafana/schema";
import { fleetOverviewDashboard } from "./fleet-overview.js";

export { FLEET_OVERVIEW_UID, fleetOverviewDashboard } from "./fleet-overview.js";
export { GRID_COLUMNS, type InfluxQLTarget, MAX_DATA_POINTS, MIN_INTERVAL } from "./panels.js";

/** Every dashboard we ship, with the file `npm run grafana:generate` writes it to under `grafana/dashboards/`. */
export const DASHBOARDS: ReadonlyArray<{ file: string; build: () => Dashboard }> = [
  { file: "fleet-overview.json", build: fleetOverviewDashboard },
];
