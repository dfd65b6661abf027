// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana's ${VAR} placeholders are what these tests are about
import { describe, expect, it } from "vitest";
import { INFLUX_DATASOURCE_UID } from "./datasource.js";
import { GrafanaErrorCode } from "./errors.js";
import { renderDashboardFiles } from "./generate.js";
import {
  alertingFileSchema,
  checkProvisioningReferences,
  dashboardProvidersFileSchema,
  datasourcesFileSchema,
  loadProvisioning,
  parseProvisioningFile,
  resolveInfluxDatasource,
} from "./provisioning.js";

const dashboards = [...renderDashboardFiles().values()].map((text) => JSON.parse(text) as { uid: string });

describe("committed provisioning files", () => {
  it("all have the structure Grafana expects", async () => {
    const provisioning = await loadProvisioning();
    expect(provisioning.files).toEqual([
      "datasources/influxdb.yaml",
      "dashboards/provider.yaml",
      "alerting/contact-points.yaml",
      "alerting/policies.yaml",
      "alerting/rules.yaml",
    ]);
  });

  it("provision the InfluxQL data source the dashboards reference, configured from the environment", async () => {
    const provisioning = await loadProvisioning();
    expect(provisioning.datasources).toHaveLength(1);
    expect(provisioning.datasources[0]).toMatchObject({
      uid: INFLUX_DATASOURCE_UID,
      type: "influxdb",
      access: "proxy",
      url: "${RLA_INFLUX_URL}",
      database: "${RLA_INFLUX_DB}",
      user: "${RLA_INFLUX_USER}",
      jsonData: { version: "InfluxQL", dbName: "${RLA_INFLUX_DB}", timeInterval: "10s" },
      secureJsonData: { password: "${RLA_INFLUX_PASSWORD}" },
    });
    const env = { RLA_INFLUX_URL: "http://influx:8086", RLA_INFLUX_DB: "rla", RLA_INFLUX_PASSWORD: "s3cret" };
    expect(resolveInfluxDatasource(provisioning, INFLUX_DATASOURCE_UID, env)).toEqual({
      uid: INFLUX_DATASOURCE_UID,
      influxUrl: "http://influx:8086",
      database: "rla",
      username: "",
      password: "s3cret",
      minInterval: "10s",
    });
  });

  it("load the dashboards folder through one file provider", async () => {
    const { dashboardProviders } = await loadProvisioning();
    expect(dashboardProviders).toEqual([
      expect.objectContaining({
        type: "file",
        folder: "Realtime Log Analytics",
        options: expect.objectContaining({ path: "/var/lib/grafana/dashboards/rla" }),
      }),
    ]);
  });

  it("define the four alert rules, each query → reduce → threshold, with their no-data behaviour", async () => {
    const rules = (await loadProvisioning()).ruleGroups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.title)).toEqual(["ip_spike", "error_surge", "url_scan", "pipeline_stalled"]);
    for (const rule of rules) {
      expect(rule.data.map((d) => [d.refId, (d.model as { type?: string }).type ?? "influxql"])).toEqual([
        ["A", "influxql"],
        ["B", "reduce"],
        ["C", "threshold"],
      ]);
      expect(rule.condition).toBe("C");
      expect(rule.labels).toMatchObject({ component: "rla" });
    }
    const byTitle = Object.fromEntries(rules.map((r) => [r.title, r]));
    expect(byTitle.pipeline_stalled).toMatchObject({ noDataState: "Alerting", execErrState: "Alerting" });
    expect(byTitle.pipeline_stalled!.data[0]!.relativeTimeRange).toEqual({ from: 60, to: 0 });
    for (const title of ["ip_spike", "error_surge", "url_scan"]) {
      expect(byTitle[title]).toMatchObject({ noDataState: "OK" });
      expect(JSON.stringify(byTitle[title]!.data[0]!.model)).toContain(`"type\\" = '${title}'`);
    }
  });

  it("route every alert to the default contact point, a webhook whose URL comes from the environment", async () => {
    const { contactPoints, policies } = await loadProvisioning();
    expect(contactPoints).toEqual([
      expect.objectContaining({
        name: "rla-oncall",
        receivers: [
          expect.objectContaining({
            type: "webhook",
            settings: expect.objectContaining({ url: "${RLA_ALERT_WEBHOOK_URL}" }),
          }),
        ],
      }),
    ]);
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({
      receiver: "rla-oncall",
      routes: [{ receiver: "rla-oncall", object_matchers: [["component", "=", "rla"]] }],
    });
  });

  it("reference only things that exist: data sources, dashboard panels, contact points", async () => {
    expect(checkProvisioningReferences(await loadProvisioning(), dashboards)).toEqual([]);
  });
});

describe("provisioning schemas", () => {
  const expectRejected = (fn: () => unknown, ...fragments: string[]) => {
    try {
      fn();
    } catch (error) {
      expect((error as { code?: string }).code).toBe(GrafanaErrorCode.BadProvisioning);
      for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
      return;
    }
    throw new Error("expected the file to be rejected");
  };

  it("reject an unknown key and name its path", () => {
    const text =
      "apiVersion: 1\ndatasources:\n  - name: x\n    uid: x\n    type: influxdb\n    url: http://x\n    databse: rla\n";
    expectRejected(
      () => parseProvisioningFile(datasourcesFileSchema, text, "ds.yaml"),
      "ds.yaml",
      "datasources.0",
      "databse",
    );
  });

  it("reject an InfluxQL data source without a database", () => {
    const text = "apiVersion: 1\ndatasources:\n  - name: x\n    uid: x\n    type: influxdb\n    url: http://x\n";
    expectRejected(
      () => parseProvisioningFile(datasourcesFileSchema, text, "ds.yaml"),
      "datasources.0.jsonData.dbName",
    );
  });

  it("reject a wrong apiVersion and invalid YAML", () => {
    expectRejected(
      () => parseProvisioningFile(dashboardProvidersFileSchema, "apiVersion: 2\nproviders: []\n", "p.yaml"),
      "apiVersion",
    );
    expectRejected(() => parseProvisioningFile(alertingFileSchema, "groups: [", "a.yaml"), "not valid YAML");
  });

  const rule = ({ condition = "B", expression = "A", reducer = "last", forDuration = "1m" } = {}) => `apiVersion: 1
groups:
  - name: g
    folder: f
    interval: 30s
    rules:
      - uid: r1
        title: r1
        condition: ${condition}
        data:
          - refId: A
            relativeTimeRange: { from: 60, to: 0 }
            datasourceUid: rla-influxdb
            model: { refId: A, datasource: { type: influxdb, uid: rla-influxdb }, rawQuery: true, resultFormat: time_series, query: "SELECT 1" }
          - refId: B
            relativeTimeRange: { from: 0, to: 0 }
            datasourceUid: __expr__
            model: { refId: B, datasource: { type: __expr__, uid: __expr__ }, type: reduce, expression: ${expression}, reducer: ${reducer} }
        for: ${forDuration}
`;

  it("accept a well-formed rule", () => {
    expect(parseProvisioningFile(alertingFileSchema, rule(), "r.yaml").groups?.[0]?.rules[0]?.uid).toBe("r1");
  });

  it("reject a rule whose condition, expression input, reducer or duration is wrong", () => {
    expectRejected(
      () => parseProvisioningFile(alertingFileSchema, rule({ condition: "Z" }), "r.yaml"),
      "condition",
      '"Z" is not a refId',
    );
    expectRejected(
      () => parseProvisioningFile(alertingFileSchema, rule({ expression: "Q" }), "r.yaml"),
      'unknown input "Q"',
    );
    expectRejected(
      () => parseProvisioningFile(alertingFileSchema, rule({ reducer: "median" }), "r.yaml"),
      "model.reducer",
    );
    expectRejected(
      () => parseProvisioningFile(alertingFileSchema, rule({ forDuration: "1 minute" }), "r.yaml"),
      "for",
      "duration",
    );
  });

  it("reject a webhook contact point without a URL and a policy root with matchers", () => {
    const cp =
      "apiVersion: 1\ncontactPoints:\n  - name: c\n    receivers:\n      - uid: w\n        type: webhook\n        settings: { httpMethod: POST }\n";
    expectRejected(() => parseProvisioningFile(alertingFileSchema, cp, "c.yaml"), "settings.url");
    const policy = "apiVersion: 1\npolicies:\n  - receiver: c\n    object_matchers: [[a, '=', b]]\n";
    expectRejected(
      () => parseProvisioningFile(alertingFileSchema, policy, "p.yaml"),
      "root policy cannot have matchers",
    );
  });

  it("report references to a missing contact point, data source or panel", async () => {
    const provisioning = await loadProvisioning();
    const broken = structuredClone(provisioning);
    broken.policies[0]!.receiver = "nobody";
    broken.ruleGroups[0]!.rules[0]!.data[0]!.datasourceUid = "gone";
    broken.ruleGroups[0]!.rules[1]!.panelId = 999;
    const problems = checkProvisioningReferences(broken, dashboards).join("\n");
    expect(problems).toContain('unknown receiver "nobody"');
    expect(problems).toContain('unknown data source "gone"');
    expect(problems).toContain("no panel 999");
  });
});
