/**
 * Typed building blocks for dashboards, written against Grafana's published schema types (@grafana/schema) so the
 * compiler checks every panel, its options (timeseries/stat/table panel configs) and the dashboard envelope.
 *
 * Why not @grafana/grafana-foundation-sdk's builders: its TypeScript types are a separate code-generated copy of an
 * older schema snapshot, and its enums (VariableHide, DashboardCursorSync, SpecialValueMatch, …) are distinct enum
 * declarations from @grafana/schema's, so TypeScript refuses to assign an SDK-built dashboard to
 * @grafana/schema's `Dashboard` without a cast — which would throw away exactly the type check we want. It also has
 * no InfluxDB query type. Building plain objects typed by @grafana/schema keeps the check and is no longer.
 */
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueJustifyMode,
  BigValueTextMode,
  type DataQuery,
  FieldColorModeId,
  type FieldConfigSource,
  GraphDrawStyle,
  LegendDisplayMode,
  type Panel,
  PercentChangeColorMode,
  type RowPanel,
  SortOrder,
  StackingMode,
  TableCellDisplayMode,
  TableCellHeight,
  type TableSortByFieldState,
  ThresholdsMode,
  TooltipDisplayMode,
  VizOrientation,
} from "@grafana/schema";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";
import { INFLUX_DATASOURCE } from "../datasource.js";

/** Grafana's dashboard grid is 24 columns wide. */
export const GRID_COLUMNS = 24;
/**
 * Every time-series panel sets maxDataPoints, so `$__interval` depends only on the time range (Grafana would
 * otherwise use the panel's pixel width) — the query tests can then compute exactly what Grafana sends.
 */
export const MAX_DATA_POINTS = 500;
/** Windows are 10 s: a finer GROUP BY would only draw gaps. */
export const MIN_INTERVAL = "10s";

/**
 * An InfluxQL query as the InfluxDB data source stores it in raw-query mode. A type alias rather than an interface
 * so it fits the schema's `targets: Record<string, unknown>[]`; `influxql()` checks it against `DataQuery`.
 */
export type InfluxQLTarget = {
  refId: string;
  datasource: { type: string; uid: string };
  query: string;
  rawQuery: true;
  resultFormat: "time_series" | "table";
  /** Legend name; `$tag_host` / `$col` patterns are the data source's. */
  alias?: string;
};

export function influxql(
  refId: string,
  query: string,
  options: { resultFormat?: InfluxQLTarget["resultFormat"]; alias?: string } = {},
): InfluxQLTarget {
  const target: InfluxQLTarget = {
    refId,
    datasource: { ...INFLUX_DATASOURCE },
    query,
    rawQuery: true,
    resultFormat: options.resultFormat ?? "time_series",
    ...(options.alias === undefined ? {} : { alias: options.alias }),
  };
  return target satisfies DataQuery;
}

/**
 * A panel before layout gives it an id and a grid position. Its options are checked against the plugin's option type
 * (timeseries/stat/table panelcfg) where it is built, then spread into the schema's untyped `options` record.
 */
export type PanelSpec = Omit<Panel, "id" | "gridPos" | "targets"> & { targets: InfluxQLTarget[] };

interface PanelText {
  title: string;
  description: string;
}

function baseThresholds(steps?: Array<{ color: string; value: number | null }>) {
  return { mode: ThresholdsMode.Absolute, steps: steps ?? [{ color: "green", value: null }] };
}

export interface TimeSeriesSpec extends PanelText {
  targets: InfluxQLTarget[];
  unit: string;
  stacked?: boolean;
  min?: number;
  decimals?: number;
}

export function timeSeriesPanel(spec: TimeSeriesSpec): PanelSpec {
  const custom: timeseries.FieldConfig = {
    drawStyle: GraphDrawStyle.Line,
    lineWidth: 1,
    fillOpacity: spec.stacked ? 60 : 10,
    spanNulls: false,
    stacking: { mode: spec.stacked ? StackingMode.Normal : StackingMode.None, group: "A" },
  };
  const fieldConfig: FieldConfigSource = {
    defaults: {
      unit: spec.unit,
      ...(spec.min === undefined ? {} : { min: spec.min }),
      ...(spec.decimals === undefined ? {} : { decimals: spec.decimals }),
      color: { mode: FieldColorModeId.PaletteClassic },
      thresholds: baseThresholds(),
      custom: { ...custom },
    },
    overrides: [],
  };
  const options: timeseries.Options = {
    legend: { showLegend: true, displayMode: LegendDisplayMode.List, placement: "bottom", calcs: [] },
    tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
  };
  return {
    type: "timeseries",
    title: spec.title,
    description: spec.description,
    datasource: { ...INFLUX_DATASOURCE },
    maxDataPoints: MAX_DATA_POINTS,
    interval: MIN_INTERVAL,
    fieldConfig,
    options: { ...options },
    targets: spec.targets,
  };
}

export interface StatSpec extends PanelText {
  targets: InfluxQLTarget[];
  unit: string;
  decimals?: number;
  /** Threshold steps above the base green, e.g. `[{ color: "red", value: 5 }]`. */
  thresholds?: Array<{ color: string; value: number }>;
}

export function statPanel(spec: StatSpec): PanelSpec {
  const options: stat.Options = {
    reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
    orientation: VizOrientation.Auto,
    colorMode: BigValueColorMode.Value,
    graphMode: BigValueGraphMode.None,
    justifyMode: BigValueJustifyMode.Auto,
    textMode: BigValueTextMode.ValueAndName,
    percentChangeColorMode: PercentChangeColorMode.Standard,
    showPercentChange: false,
    wideLayout: true,
  };
  return {
    type: "stat",
    title: spec.title,
    description: spec.description,
    datasource: { ...INFLUX_DATASOURCE },
    maxDataPoints: MAX_DATA_POINTS,
    interval: MIN_INTERVAL,
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        ...(spec.decimals === undefined ? {} : { decimals: spec.decimals }),
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: baseThresholds([{ color: "green", value: null }, ...(spec.thresholds ?? [])]),
      },
      overrides: [],
    },
    options: { ...options },
    targets: spec.targets,
  };
}

export interface TableSpec extends PanelText {
  targets: InfluxQLTarget[];
  sortBy?: TableSortByFieldState[];
  /** Per-column units, e.g. `{ requests: "short" }`. */
  columnUnits?: Record<string, string>;
}

export function tablePanel(spec: TableSpec): PanelSpec {
  const options: table.Options = {
    frameIndex: 0,
    showHeader: true,
    cellHeight: TableCellHeight.Sm,
    ...(spec.sortBy ? { sortBy: spec.sortBy } : {}),
  };
  const custom: table.FieldConfig = {
    align: "auto",
    cellOptions: { type: TableCellDisplayMode.Auto },
    inspect: false,
  };
  return {
    type: "table",
    title: spec.title,
    description: spec.description,
    datasource: { ...INFLUX_DATASOURCE },
    fieldConfig: {
      defaults: {
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: baseThresholds(),
        custom: { ...custom },
      },
      overrides: Object.entries(spec.columnUnits ?? {}).map(([column, unit]) => ({
        matcher: { id: "byName", options: column },
        properties: [{ id: "unit", value: unit }],
      })),
    },
    options: { ...options },
    targets: spec.targets,
  };
}

/**
 * Places panels left to right on the 24-column grid, wrapping when a panel does not fit, and numbers them in
 * order; a row header always starts on a new line. Deterministic, so regenerated JSON is byte-identical.
 */
export class DashboardLayout {
  readonly panels: Array<Panel | RowPanel> = [];
  private nextId = 1;
  private x = 0;
  private y = 0;
  private lineHeight = 0;

  row(title: string): this {
    this.newLine();
    this.panels.push({
      type: "row",
      id: this.nextId++,
      title,
      collapsed: false,
      panels: [],
      gridPos: { x: 0, y: this.y, w: GRID_COLUMNS, h: 1 },
    });
    this.y += 1;
    return this;
  }

  add(panel: PanelSpec, size: { w: number; h: number }): this {
    if (this.x + size.w > GRID_COLUMNS) this.newLine();
    this.panels.push({ id: this.nextId++, gridPos: { x: this.x, y: this.y, w: size.w, h: size.h }, ...panel });
    this.x += size.w;
    this.lineHeight = Math.max(this.lineHeight, size.h);
    return this;
  }

  private newLine(): void {
    this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}
