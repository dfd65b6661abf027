/**
 * Names shared by the provisioning files, the dashboards and the alert rules. The provisioning YAML is written by
 * hand, so the unit tests check that it uses exactly these values.
 */

/** The uid `provisioning/datasources/influxdb.yaml` gives the InfluxDB (InfluxQL) data source. */
export const INFLUX_DATASOURCE_UID = "rla-influxdb";
/** Grafana's plugin id for InfluxDB. */
export const INFLUX_DATASOURCE_TYPE = "influxdb";
/** The reference every panel, target and variable carries. */
export const INFLUX_DATASOURCE = { type: INFLUX_DATASOURCE_TYPE, uid: INFLUX_DATASOURCE_UID } as const;
/** Grafana's server-side expressions pseudo data source (reduce, threshold, math in alert rules). */
export const EXPRESSION_DATASOURCE_UID = "__expr__";
/** Folder that holds the provisioned dashboards and alert rules. */
export const GRAFANA_FOLDER = "Realtime Log Analytics";
