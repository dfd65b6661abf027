/**
 * The structure Grafana expects of our provisioning files, as zod schemas written from Grafana's documented format
 * and its reader types (pkg/services/provisioning/{datasources,dashboards,alerting}): data sources, dashboard
 * providers, and unified-alerting rule groups, contact points and notification policies (all `apiVersion: 1`).
 * Grafana ignores unknown keys; these schemas reject them so a misspelt key fails a test instead of silently
 * doing nothing in production.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import * as z from "zod";
import { EXPRESSION_DATASOURCE_UID, INFLUX_DATASOURCE_TYPE } from "./datasource.js";
import { GrafanaError, GrafanaErrorCode } from "./errors.js";
import { expandEnv } from "./interpolate.js";
import { PROVISIONING_DIR } from "./paths.js";

/** Grafana's short uid rule (util.IsValidShortUID + 40-char column). */
const uid = z.string().regex(/^[a-zA-Z0-9_-]{1,40}$/, "1–40 characters of a-z, A-Z, 0-9, '-' or '_'");
/** Prometheus duration as Grafana alerting parses it (model.ParseDuration), e.g. "30s", "1m", "4h", "0s". */
const duration = z
  .string()
  .regex(/^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/, "a duration like 30s, 5m, 4h");
const orgId = z.number().int().min(1);
const ref = z.object({ type: z.string().min(1), uid: z.string().min(1) }).strict();

// ---------------------------------------------------------------------------------------------------------------
// Data sources (provisioning/datasources/*.yaml)

/** jsonData of an InfluxDB data source (InfluxQL mode). */
export const influxJsonDataSchema = z
  .object({
    version: z.enum(["InfluxQL", "Flux", "SQL"]).optional(),
    dbName: z.string().optional(),
    httpMode: z.enum(["GET", "POST"]).optional(),
    /** Minimum `$__interval` for every query of this data source. */
    timeInterval: z
      .string()
      .regex(/^\d+(ms|s|m|h|d)$/, "an interval like 10s")
      .optional(),
    maxSeries: z.number().int().positive().optional(),
  })
  .strict();

export const datasourceSchema = z
  .object({
    name: z.string().min(1),
    uid,
    type: z.string().min(1),
    access: z.enum(["proxy", "direct"]).optional(),
    orgId: orgId.optional(),
    url: z.string().min(1),
    user: z.string().optional(),
    database: z.string().optional(),
    basicAuth: z.boolean().optional(),
    basicAuthUser: z.string().optional(),
    withCredentials: z.boolean().optional(),
    isDefault: z.boolean().optional(),
    editable: z.boolean().optional(),
    version: z.number().int().optional(),
    jsonData: z.record(z.string(), z.unknown()).optional(),
    secureJsonData: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .superRefine((ds, ctx) => {
    if (ds.type !== INFLUX_DATASOURCE_TYPE) return;
    const jsonData = influxJsonDataSchema.safeParse(ds.jsonData ?? {});
    if (!jsonData.success) {
      for (const issue of jsonData.error.issues) ctx.addIssue({ ...issue, path: ["jsonData", ...issue.path] });
      return;
    }
    if ((jsonData.data.version ?? "InfluxQL") === "InfluxQL" && !ds.database && !jsonData.data.dbName) {
      ctx.addIssue({
        code: "custom",
        path: ["jsonData", "dbName"],
        message: "an InfluxQL data source needs a database",
      });
    }
  });

export const datasourcesFileSchema = z
  .object({
    apiVersion: z.literal(1),
    datasources: z.array(datasourceSchema).min(1),
    deleteDatasources: z.array(z.object({ name: z.string().min(1), orgId: orgId.optional() }).strict()).optional(),
    prune: z.boolean().optional(),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Dashboard providers (provisioning/dashboards/*.yaml)

export const dashboardProviderSchema = z
  .object({
    name: z.string().min(1),
    orgId: orgId.optional(),
    type: z.literal("file"),
    folder: z.string().optional(),
    folderUid: uid.optional(),
    editable: z.boolean().optional(),
    allowUiUpdates: z.boolean().optional(),
    disableDeletion: z.boolean().optional(),
    /** Grafana polls the folder at most this often; it enforces a 10 s minimum. */
    updateIntervalSeconds: z.number().int().min(10).optional(),
    options: z.object({ path: z.string().min(1), foldersFromFilesStructure: z.boolean().optional() }).strict(),
  })
  .strict();

export const dashboardProvidersFileSchema = z
  .object({ apiVersion: z.literal(1), providers: z.array(dashboardProviderSchema).min(1) })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Alerting (provisioning/alerting/*.yaml): one file format with optional sections, as Grafana's AlertingFileV1.

const relativeTimeRange = z
  .object({ from: z.number().int().min(0), to: z.number().int().min(0) })
  .strict()
  .refine((r) => r.from >= r.to, { message: "from (seconds before now) must be >= to" });

/** A raw InfluxQL query in a rule, as the InfluxDB data source stores it. */
export const influxQLModelSchema = z
  .object({
    refId: z.string().min(1),
    datasource: ref,
    rawQuery: z.literal(true),
    resultFormat: z.enum(["time_series", "table"]),
    query: z.string().min(1),
    alias: z.string().optional(),
    intervalMs: z.number().int().positive().optional(),
    maxDataPoints: z.number().int().positive().optional(),
  })
  .strict();

export const REDUCERS = ["sum", "mean", "min", "max", "count", "last"] as const;
export const THRESHOLD_TYPES = [
  "gt",
  "lt",
  "eq",
  "ne",
  "gte",
  "lte",
  "within_range",
  "outside_range",
  "within_range_included",
  "outside_range_included",
] as const;

const expressionDatasource = z
  .object({ type: z.literal(EXPRESSION_DATASOURCE_UID), uid: z.literal(EXPRESSION_DATASOURCE_UID) })
  .strict();
const expressionCommon = {
  refId: z.string().min(1),
  datasource: expressionDatasource,
  intervalMs: z.number().int().positive().optional(),
  maxDataPoints: z.number().int().positive().optional(),
};

export const reduceModelSchema = z
  .object({
    ...expressionCommon,
    type: z.literal("reduce"),
    expression: z.string().min(1),
    reducer: z.enum(REDUCERS),
    settings: z
      .object({ mode: z.enum(["", "strict", "dropNN", "replaceNN"]), replaceWithValue: z.number().optional() })
      .strict()
      .optional(),
  })
  .strict();

const evaluator = z.object({ type: z.enum(THRESHOLD_TYPES), params: z.array(z.number()).min(1) }).strict();
export const thresholdModelSchema = z
  .object({
    ...expressionCommon,
    type: z.literal("threshold"),
    expression: z.string().min(1),
    conditions: z
      .array(z.object({ evaluator, unloadEvaluator: evaluator.optional() }).strict())
      .length(1, "a threshold expression takes exactly one condition"),
  })
  .strict();

export const mathModelSchema = z
  .object({ ...expressionCommon, type: z.literal("math"), expression: z.string().min(1) })
  .strict();

export const expressionModelSchema = z.discriminatedUnion("type", [
  reduceModelSchema,
  thresholdModelSchema,
  mathModelSchema,
]);

export const ruleQuerySchema = z
  .object({
    refId: z.string().min(1),
    queryType: z.string().optional(),
    relativeTimeRange,
    datasourceUid: z.string().min(1),
    model: z.record(z.string(), z.unknown()),
  })
  .strict()
  .superRefine((q, ctx) => {
    const model = (
      q.datasourceUid === EXPRESSION_DATASOURCE_UID ? expressionModelSchema : influxQLModelSchema
    ).safeParse(q.model);
    if (!model.success) {
      for (const issue of model.error.issues) ctx.addIssue({ ...issue, path: ["model", ...issue.path] });
    } else if (model.data.refId !== q.refId) {
      ctx.addIssue({ code: "custom", path: ["model", "refId"], message: `must equal the query's refId "${q.refId}"` });
    }
  });

/** Expression models reference other queries by refId: reduce/threshold by name, math as `$A`. */
function expressionInputs(model: Record<string, unknown>): string[] {
  const expression = typeof model.expression === "string" ? model.expression : "";
  if (model.type === "math") return [...expression.matchAll(/\$\{?([A-Za-z0-9_]+)\}?/g)].map((m) => m[1]!);
  return expression ? [expression] : [];
}

export const alertRuleSchema = z
  .object({
    uid,
    title: z.string().min(1),
    condition: z.string().min(1),
    data: z.array(ruleQuerySchema).min(1),
    dashboardUid: z.string().min(1).optional(),
    panelId: z.number().int().positive().optional(),
    noDataState: z.enum(["NoData", "Alerting", "OK", "KeepLast"]).optional(),
    execErrState: z.enum(["Error", "Alerting", "OK", "KeepLast"]).optional(),
    for: duration.optional(),
    keepFiringFor: duration.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    isPaused: z.boolean().optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const refIds = rule.data.map((q) => q.refId);
    refIds.forEach((refId, i) => {
      if (refIds.indexOf(refId) !== i)
        ctx.addIssue({ code: "custom", path: ["data", i, "refId"], message: "duplicate refId" });
    });
    if (!refIds.includes(rule.condition)) {
      ctx.addIssue({ code: "custom", path: ["condition"], message: `"${rule.condition}" is not a refId of data` });
    }
    rule.data.forEach((q, i) => {
      if (q.datasourceUid !== EXPRESSION_DATASOURCE_UID) return;
      for (const input of expressionInputs(q.model)) {
        if (!refIds.includes(input) || input === q.refId) {
          ctx.addIssue({
            code: "custom",
            path: ["data", i, "model", "expression"],
            message: `unknown input "${input}"`,
          });
        }
      }
    });
    if ((rule.dashboardUid === undefined) !== (rule.panelId === undefined)) {
      ctx.addIssue({ code: "custom", path: ["panelId"], message: "dashboardUid and panelId go together" });
    }
  });

export const ruleGroupSchema = z
  .object({
    orgId: orgId.optional(),
    name: z.string().min(1),
    folder: z.string().min(1),
    interval: duration,
    rules: z.array(alertRuleSchema).min(1),
  })
  .strict();

export const contactPointReceiverSchema = z
  .object({
    uid,
    type: z.string().min(1),
    settings: z.record(z.string(), z.unknown()).refine((s) => Object.keys(s).length > 0, "settings must not be empty"),
    disableResolveMessage: z.boolean().optional(),
  })
  .strict()
  .superRefine((receiver, ctx) => {
    // The settings Grafana requires for the integrations we document (webhook default, email alternative).
    const required: Record<string, string> = { webhook: "url", email: "addresses" };
    const key = required[receiver.type];
    if (key && (typeof receiver.settings[key] !== "string" || receiver.settings[key] === "")) {
      ctx.addIssue({ code: "custom", path: ["settings", key], message: `a ${receiver.type} receiver needs ${key}` });
    }
  });

export const contactPointSchema = z
  .object({ orgId: orgId.optional(), name: z.string().min(1), receivers: z.array(contactPointReceiverSchema).min(1) })
  .strict();

const matcherOperator = z.enum(["=", "!=", "=~", "!~"]);
export interface NotificationRoute {
  receiver?: string;
  group_by?: string[];
  matchers?: string[];
  object_matchers?: Array<[string, string, string]>;
  mute_time_intervals?: string[];
  active_time_intervals?: string[];
  continue?: boolean;
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: NotificationRoute[];
}
const routeFields = {
  receiver: z.string().min(1).optional(),
  group_by: z.array(z.string().min(1)).optional(),
  matchers: z.array(z.string().min(1)).optional(),
  object_matchers: z.array(z.tuple([z.string().min(1), matcherOperator, z.string()])).optional(),
  mute_time_intervals: z.array(z.string()).optional(),
  active_time_intervals: z.array(z.string()).optional(),
  continue: z.boolean().optional(),
  group_wait: duration.optional(),
  group_interval: duration.optional(),
  repeat_interval: duration.optional(),
};
export const notificationRouteSchema: z.ZodType<NotificationRoute> = z.lazy(() =>
  z.object({ ...routeFields, routes: z.array(notificationRouteSchema).optional() }).strict(),
);
/** The root of a policy tree: it must name a receiver, and (Grafana's rule) cannot have matchers. */
export const notificationPolicySchema = z
  .object({
    ...routeFields,
    orgId: orgId.optional(),
    receiver: z.string().min(1),
    routes: z.array(notificationRouteSchema).optional(),
  })
  .strict()
  .refine((p) => !p.matchers?.length && !p.object_matchers?.length, {
    message: "the root policy cannot have matchers",
  });

export const alertingFileSchema = z
  .object({
    apiVersion: z.literal(1),
    groups: z.array(ruleGroupSchema).optional(),
    deleteRules: z.array(z.object({ orgId: orgId.optional(), uid }).strict()).optional(),
    contactPoints: z.array(contactPointSchema).optional(),
    deleteContactPoints: z.array(z.object({ orgId: orgId.optional(), uid }).strict()).optional(),
    policies: z.array(notificationPolicySchema).optional(),
    resetPolicies: z.array(orgId).optional(),
  })
  .strict();

export type DatasourceConfig = z.infer<typeof datasourceSchema>;
export type DashboardProviderConfig = z.infer<typeof dashboardProviderSchema>;
export type AlertRuleConfig = z.infer<typeof alertRuleSchema>;
export type RuleGroupConfig = z.infer<typeof ruleGroupSchema>;
export type ContactPointConfig = z.infer<typeof contactPointSchema>;
export type NotificationPolicyConfig = z.infer<typeof notificationPolicySchema>;
export type InfluxQLModel = z.infer<typeof influxQLModelSchema>;
export type ExpressionModel = z.infer<typeof expressionModelSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Loading

export interface Provisioning {
  datasources: DatasourceConfig[];
  dashboardProviders: DashboardProviderConfig[];
  ruleGroups: RuleGroupConfig[];
  contactPoints: ContactPointConfig[];
  policies: NotificationPolicyConfig[];
  /** Every file read, relative to the provisioning folder. */
  files: string[];
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `  ${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("\n");
}

/** Parses one provisioning file's text; errors name the file and every failing key path. */
export function parseProvisioningFile<T>(schema: z.ZodType<T>, text: string, file: string): T {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (cause) {
    throw new GrafanaError(GrafanaErrorCode.BadProvisioning, `${file}: not valid YAML`, { cause });
  }
  const result = schema.safeParse(document);
  if (!result.success) {
    throw new GrafanaError(
      GrafanaErrorCode.BadProvisioning,
      `${file} does not have the structure Grafana expects:\n${describeIssues(result.error)}`,
    );
  }
  return result.data;
}

async function yamlFiles(dir: string, sub: string): Promise<string[]> {
  const entries = await readdir(join(dir, sub)).catch(() => [] as string[]);
  return entries
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(sub, f));
}

/** Reads and validates every YAML file Grafana would read from a provisioning folder (default: ours). */
export async function loadProvisioning(dir: string = PROVISIONING_DIR): Promise<Provisioning> {
  const result: Provisioning = {
    datasources: [],
    dashboardProviders: [],
    ruleGroups: [],
    contactPoints: [],
    policies: [],
    files: [],
  };
  const read = (file: string) => readFile(join(dir, file), "utf8");
  for (const file of await yamlFiles(dir, "datasources")) {
    result.datasources.push(...parseProvisioningFile(datasourcesFileSchema, await read(file), file).datasources);
    result.files.push(file);
  }
  for (const file of await yamlFiles(dir, "dashboards")) {
    result.dashboardProviders.push(
      ...parseProvisioningFile(dashboardProvidersFileSchema, await read(file), file).providers,
    );
    result.files.push(file);
  }
  for (const file of await yamlFiles(dir, "alerting")) {
    const alerting = parseProvisioningFile(alertingFileSchema, await read(file), file);
    result.ruleGroups.push(...(alerting.groups ?? []));
    result.contactPoints.push(...(alerting.contactPoints ?? []));
    result.policies.push(...(alerting.policies ?? []));
    result.files.push(file);
  }
  return result;
}

/** A provisioned InfluxDB data source with Grafana's `$VAR` expansion applied. */
export interface ResolvedInfluxDatasource {
  uid: string;
  influxUrl: string;
  database: string;
  username: string;
  password: string;
  /** `jsonData.timeInterval`: the floor of `$__interval`. */
  minInterval: string | undefined;
}

export function resolveInfluxDatasource(
  provisioning: Provisioning,
  datasourceUid: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ResolvedInfluxDatasource {
  const ds = provisioning.datasources.find((d) => d.uid === datasourceUid);
  if (!ds || ds.type !== INFLUX_DATASOURCE_TYPE) {
    throw new GrafanaError(
      GrafanaErrorCode.BadProvisioning,
      `no InfluxDB data source with uid "${datasourceUid}" is provisioned`,
    );
  }
  const jsonData = influxJsonDataSchema.parse(ds.jsonData ?? {});
  const expand = (value: string | undefined) => expandEnv(value ?? "", env);
  return {
    uid: ds.uid,
    influxUrl: expand(ds.url),
    database: expand(jsonData.dbName) || expand(ds.database),
    username: expand(ds.user),
    password: expand(ds.secureJsonData?.password),
    minInterval: jsonData.timeInterval,
  };
}

/**
 * Cross-file references Grafana resolves at load time: rule data sources, rule → dashboard panel links, policy
 * receivers. Returns one line per broken reference (empty when all resolve).
 */
export function checkProvisioningReferences(
  provisioning: Provisioning,
  dashboards: ReadonlyArray<{
    uid?: string;
    panels?: ReadonlyArray<{ id?: number; panels?: ReadonlyArray<{ id?: number }> }>;
  }>,
): string[] {
  const problems: string[] = [];
  const datasourceUids = new Set([...provisioning.datasources.map((d) => d.uid), EXPRESSION_DATASOURCE_UID]);
  const panelIds = new Map(
    dashboards.map((d) => [
      d.uid,
      new Set((d.panels ?? []).flatMap((p) => [p.id, ...(p.panels ?? []).map((c) => c.id)])),
    ]),
  );
  for (const group of provisioning.ruleGroups) {
    for (const rule of group.rules) {
      for (const q of rule.data) {
        if (!datasourceUids.has(q.datasourceUid))
          problems.push(`rule ${rule.uid} query ${q.refId}: unknown data source "${q.datasourceUid}"`);
        const modelDatasource = q.model.datasource as { uid?: string } | undefined;
        if (modelDatasource?.uid !== q.datasourceUid)
          problems.push(`rule ${rule.uid} query ${q.refId}: model.datasource.uid differs from datasourceUid`);
      }
      if (rule.dashboardUid !== undefined && !panelIds.get(rule.dashboardUid)?.has(rule.panelId)) {
        problems.push(`rule ${rule.uid}: no panel ${rule.panelId} on dashboard "${rule.dashboardUid}"`);
      }
    }
  }
  // Grafana creates this contact point in every organisation.
  const receivers = new Set(["grafana-default-email", ...provisioning.contactPoints.map((c) => c.name)]);
  const visit = (route: NotificationRoute, path: string): void => {
    if (route.receiver !== undefined && !receivers.has(route.receiver)) {
      problems.push(`policy ${path}: unknown receiver "${route.receiver}"`);
    }
    for (const [i, child] of (route.routes ?? []).entries()) visit(child, `${path}.routes[${i}]`);
  };
  for (const [i, policy] of provisioning.policies.entries()) visit(policy, `policies[${i}]`);
  return problems;
}
