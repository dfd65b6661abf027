/**
 * Runtime check of a dashboard JSON against the structure Grafana needs to load and run it: the envelope
 * (uid, title, schemaVersion, templating), panels on the 24-column grid with unique ids, every panel, target and
 * variable on the provisioned data source, every target a non-empty query, every `$name` a known variable or a
 * backend macro, and deterministic `$__interval` (maxDataPoints set). The compile-time half of the proof is that
 * the dashboards are typed with @grafana/schema's `Dashboard`; this catches what types cannot (JSON read from disk,
 * cross-references, geometry).
 */
import * as z from "zod";
import { INFLUXQL_BACKEND_MACROS, referencedVariables } from "../interpolate.js";
import { GRID_COLUMNS } from "./panels.js";

const gridPos = z
  .object({
    x: z.number().int().min(0),
    y: z.number().int().min(0),
    w: z.number().int().min(1),
    h: z.number().int().min(1),
  })
  .refine((g) => g.x + g.w <= GRID_COLUMNS, { message: `x + w must be <= ${GRID_COLUMNS}` });
const datasourceRef = z.object({ type: z.string().min(1), uid: z.string().min(1) });
const target = z.object({
  refId: z.string().min(1),
  datasource: datasourceRef.optional(),
  query: z.string().trim().min(1, "every target needs a query"),
  rawQuery: z.literal(true),
  resultFormat: z.enum(["time_series", "table", "logs"]),
  hide: z.boolean().optional(),
});
const panel = z.object({
  id: z.number().int().positive(),
  type: z.string().min(1),
  title: z.string().min(1),
  gridPos,
  datasource: datasourceRef,
  targets: z.array(target).min(1),
  maxDataPoints: z.number().int().positive().optional(),
  interval: z.string().optional(),
});
const row = z.object({
  id: z.number().int().positive(),
  type: z.literal("row"),
  title: z.string().min(1),
  collapsed: z.boolean(),
  gridPos,
  panels: z.array(panel),
});
const variable = z.object({
  name: z.string().regex(/^\w+$/),
  type: z.string().min(1),
  datasource: datasourceRef.optional(),
  query: z.string().optional(),
  multi: z.boolean().optional(),
  includeAll: z.boolean().optional(),
  allValue: z.string().optional(),
  current: z.object({ value: z.union([z.string(), z.array(z.string())]) }).optional(),
});
export const dashboardStructureSchema = z.object({
  uid: z.string().regex(/^[a-zA-Z0-9_-]{1,40}$/),
  title: z.string().min(1),
  schemaVersion: z.number().int().min(1),
  time: z.object({ from: z.string().min(1), to: z.string().min(1) }),
  templating: z.object({ list: z.array(variable) }),
  panels: z.array(z.union([row, panel])).min(1),
});
export type DashboardStructure = z.infer<typeof dashboardStructureSchema>;
type PanelStructure = z.infer<typeof panel>;

/** Every non-row panel, including those inside collapsed rows. */
export function flattenPanels(dashboard: DashboardStructure): PanelStructure[] {
  return dashboard.panels.flatMap((p) => ("collapsed" in p && p.type === "row" ? p.panels : [p as PanelStructure]));
}

/** Returns one line per problem; an empty list means Grafana can load the dashboard and run every query. */
export function validateDashboard(json: unknown, expected: { datasourceUid: string }): string[] {
  const parsed = dashboardStructureSchema.safeParse(json);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  const dashboard = parsed.data;
  const problems: string[] = [];

  const ids = [
    ...dashboard.panels.map((p) => p.id),
    ...dashboard.panels.flatMap((p) => ("collapsed" in p ? p.panels.map((c) => c.id) : [])),
  ];
  for (const [i, id] of ids.entries()) if (ids.indexOf(id) !== i) problems.push(`panel id ${id} is used twice`);

  const boxes = dashboard.panels.map((p) => ({ id: p.id, ...p.gridPos }));
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
        problems.push(`panels ${a.id} and ${b.id} overlap`);
    }
  }

  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  for (const v of dashboard.templating.list) {
    if (v.type === "query" && v.datasource?.uid !== expected.datasourceUid)
      problems.push(`variable ${v.name}: data source is not ${expected.datasourceUid}`);
    if (v.type === "query" && !v.query?.trim()) problems.push(`variable ${v.name}: no query`);
  }

  for (const p of flattenPanels(dashboard)) {
    const where = `panel ${p.id} "${p.title}"`;
    if (p.datasource.uid !== expected.datasourceUid)
      problems.push(`${where}: data source is ${p.datasource.uid}, not ${expected.datasourceUid}`);
    const refIds = p.targets.map((t) => t.refId);
    for (const [i, refId] of refIds.entries())
      if (refIds.indexOf(refId) !== i) problems.push(`${where}: refId ${refId} is used twice`);
    for (const t of p.targets) {
      if (t.datasource && t.datasource.uid !== expected.datasourceUid)
        problems.push(`${where} ${t.refId}: target data source is ${t.datasource.uid}`);
      for (const name of referencedVariables(t.query)) {
        if (!variables.has(name) && !INFLUXQL_BACKEND_MACROS.has(name))
          problems.push(`${where} ${t.refId}: unknown variable $${name}`);
      }
      if (/\$(__)?interval/.test(t.query) && p.maxDataPoints === undefined) {
        problems.push(
          `${where} ${t.refId}: uses $__interval but sets no maxDataPoints (Grafana would use the panel width)`,
        );
      }
    }
  }
  return problems;
}
