/**
 * Turns window emissions into InfluxDB writes (pure): summarise the merged partials, detect anomalies, build the
 * points, and work out which previously written series a rewrite must clear.
 *
 * A rewrite overwrites every point it produces (same measurement, tags and time). Only anomalies can disappear when
 * a window gains data (e.g. a 5xx share falls once the last host reports), so:
 * - series this process wrote for the window but no longer produces are deleted before the new points are written;
 * - on the first write of a window an earlier owner of its partition may have written (after a crash or a
 *   rebalance), all of its `anomaly` points are deleted first, since what that owner wrote is unknown.
 * Deletes always precede the points of the same batch (the sink keeps that order).
 */
import { IP_CAPACITY, summarizePartial } from "@rla/protocol";
import { type AnomalyOptions, createDetector, type Detector, FLEET_HOST, type WindowFacts } from "../detect/index.js";
import { buildWindowPoints, type InfluxPoint, pointKey, type SeriesDelete } from "../influx/points.js";
import type { FiringKind, WindowEmission } from "../merge/index.js";

export interface EmitterOptions {
  windowMs: number;
  allowedLatenessMs: number;
  topK: number;
  anomalies: AnomalyOptions;
}

export interface RenderedWrite {
  /** Apply before `points`. */
  deletes: SeriesDelete[];
  points: InfluxPoint[];
  /** Per emission, in order: what fired and when the window ended (for the fire-delay metric). */
  fired: { kind: FiringKind; windowEndMs: number; anomalies: number }[];
}

export interface Emitter {
  readonly detector: Detector;
  render(emissions: WindowEmission[]): RenderedWrite;
}

/** Heaviest fleet clients considered for ip_spike (more than the written top-K, so ranks past K can spike). */
const SPIKE_CANDIDATES = 64;
const FORGET_AFTER_MS = 3_600_000;

export function createEmitter(options: EmitterOptions): Emitter {
  const detector = createDetector(options);
  /** Series written per (window, service) while the window is open: pointKey → the point's identity. */
  const written = new Map<string, { windowStartMs: number; series: Map<string, SeriesDelete> }>();
  let newestStartMs = Number.NEGATIVE_INFINITY;

  /** Windows of a revoked partition never turn final here; forget them once far behind (bounded memory). */
  function prune(startMs: number): void {
    if (startMs < newestStartMs + options.windowMs) return;
    newestStartMs = startMs;
    const oldest = startMs - FORGET_AFTER_MS - options.allowedLatenessMs;
    for (const [key, entry] of written) if (entry.windowStartMs < oldest) written.delete(key);
  }

  function render(emissions: WindowEmission[]): RenderedWrite {
    const out: RenderedWrite = { deletes: [], points: [], fired: [] };
    for (const e of emissions) {
      const fleetSummary = summarizePartial(e.fleet, {
        topK: Math.max(options.topK, SPIKE_CANDIDATES),
        scanLimit: IP_CAPACITY,
        minDistinctUrls: 1,
      });
      const hosts = e.hosts.map(([host, p]) => ({
        host,
        summary: summarizePartial(p, { topK: options.topK, scanLimit: 0 }),
      }));
      const facts: WindowFacts = {
        service: e.service,
        windowStartMs: e.windowStartMs,
        rows: [
          { host: FLEET_HOST, requests: fleetSummary.requests, errors5xx: fleetSummary.statusClasses["5xx"] },
          ...hosts.map((h) => ({
            host: h.host,
            requests: h.summary.requests,
            errors5xx: h.summary.statusClasses["5xx"],
          })),
        ],
        topIps: fleetSummary.topIps,
        scanCandidates: fleetSummary.scanCandidates,
      };
      const anomalies = detector.detect(facts);
      // History keeps what is written: the written top-K, not the wider candidate list.
      detector.observe({ ...facts, topIps: fleetSummary.topIps.slice(0, options.topK) });
      const points = buildWindowPoints({
        windowMs: e.windowMs,
        service: e.service,
        windowStartMs: e.windowStartMs,
        topK: options.topK,
        fleet: { summary: fleetSummary, agentsReported: e.agentsReported, agentsExpected: e.agentsExpected },
        hosts,
        anomalies,
      });

      prune(e.windowStartMs);
      const cellKey = `${e.windowStartMs}\u0000${e.service}`;
      const previous = written.get(cellKey)?.series;
      const current = new Map<string, SeriesDelete>();
      for (const p of points) current.set(pointKey(p), { measurement: p.measurement, tags: p.tags, timeMs: p.timeMs });
      if (previous === undefined) {
        if (e.mayHaveBeenWritten) {
          out.deletes.push({ measurement: "anomaly", tags: { service: e.service }, timeMs: e.windowStartMs });
        }
      } else {
        for (const [key, series] of previous) if (!current.has(key)) out.deletes.push(series);
      }
      if (e.final) written.delete(cellKey);
      else written.set(cellKey, { windowStartMs: e.windowStartMs, series: current });

      out.points.push(...points);
      out.fired.push({ kind: e.kind, windowEndMs: e.windowStartMs + e.windowMs, anomalies: anomalies.length });
    }
    return out;
  }

  return { detector, render };
}
