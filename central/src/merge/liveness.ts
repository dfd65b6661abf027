/**
 * Which agents central expects for a window: per service, the window starts each host reported (accepted partials
 * only, plus rows hydrated from InfluxDB, which are exactly the accepted partials an earlier run wrote).
 *
 * A host is live for window `w` if it reported some window starting in [w - livenessMs, w]. That is a function of
 * the set of reports alone (not of their order), so once every window up to `w` is final the answer is the same in
 * every run; see README "Exactly once".
 */
export class LivenessRegistry {
  private readonly services = new Map<string, Map<string, Set<number>>>();
  private newestStartMs = Number.NEGATIVE_INFINITY;
  private prunedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly windowMs: number,
    private readonly livenessMs: number,
    /** Reports older than this behind the newest report are forgotten (bounded memory). */
    private readonly horizonMs: number,
  ) {}

  /** A report read back from InfluxDB: like `report`, but it does not move the pruning horizon. */
  hydrate(service: string, host: string, windowStartMs: number): void {
    this.add(service, host, windowStartMs);
  }

  report(service: string, host: string, windowStartMs: number): void {
    this.add(service, host, windowStartMs);
    if (windowStartMs > this.newestStartMs) this.newestStartMs = windowStartMs;
  }

  private add(service: string, host: string, windowStartMs: number): void {
    let hosts = this.services.get(service);
    if (hosts === undefined) {
      hosts = new Map();
      this.services.set(service, hosts);
    }
    let starts = hosts.get(host);
    if (starts === undefined) {
      starts = new Set();
      hosts.set(host, starts);
    }
    starts.add(windowStartMs);
  }

  /** Hosts of `service` live for the window starting at `windowStartMs` (in no particular order). */
  live(service: string, windowStartMs: number): string[] {
    const hosts = this.services.get(service);
    if (hosts === undefined) return [];
    const steps = Math.floor(this.livenessMs / this.windowMs);
    const out: string[] = [];
    for (const [host, starts] of hosts) {
      for (let k = 0; k <= steps; k++) {
        if (starts.has(windowStartMs - k * this.windowMs)) {
          out.push(host);
          break;
        }
      }
    }
    return out;
  }

  /** Forgets reports beyond the horizon; cheap to call often (works at most once per window). */
  prune(): void {
    if (this.newestStartMs < this.prunedAtMs + this.windowMs) return;
    this.prunedAtMs = this.newestStartMs;
    const oldest = this.newestStartMs - this.horizonMs;
    for (const [service, hosts] of this.services) {
      for (const [host, starts] of hosts) {
        for (const s of starts) if (s < oldest) starts.delete(s);
        if (starts.size === 0) hosts.delete(host);
      }
      if (hosts.size === 0) this.services.delete(service);
    }
  }
}
