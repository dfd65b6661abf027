/**
 * The demo traffic scenario, driven by real wrk processes against the nginx fleet: steady normal load
 * on every host, then — each at a window boundary — an IP spike (one client flooding two hosts), an
 * error surge (the app tier answers 503 to most /api calls) and a URL scan (one client probing many
 * distinct URLs, spread over all hosts). wrk's Lua `delay()` paces each connection so the load stays
 * light on a 2-core machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { WebFleet } from "./webfleet.js";
import { stopChild } from "./webfleet.js";

export const SPIKE_IP = "203.0.113.7";
export const SCAN_IP = "198.51.100.23";

const normalLua = (seed: number, delayMs: number) => `
math.randomseed(${seed})
local paths = {"/", "/index.html", "/static/app.js", "/static/app.css", "/api/items", "/api/cart", "/missing.html"}
request = function()
  local ip = "10." .. math.random(0, 3) .. "." .. math.random(0, 255) .. "." .. math.random(1, 250)
  local p = paths[math.random(#paths)]
  if p == "/api/items" then p = p .. "?page=" .. math.random(1, 50) end
  return wrk.format("GET", p, { ["X-Forwarded-For"] = ip, ["User-Agent"] = "Mozilla/5.0 (demo)" })
end
delay = function() return ${delayMs} end
`;

const spikeLua = (delayMs: number) => `
request = function()
  return wrk.format("GET", "/api/items", { ["X-Forwarded-For"] = "${SPIKE_IP}", ["User-Agent"] = "flood/1.0" })
end
delay = function() return ${delayMs} end
`;

const scanLua = (host: string, delayMs: number) => `
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/admin/${host}-probe-" .. n .. ".php", { ["X-Forwarded-For"] = "${SCAN_IP}", ["User-Agent"] = "scanner/2.0" })
end
delay = function() return ${delayMs} end
`;

export interface PhaseEvent {
  at: number;
  name: "ip_spike" | "error_surge" | "url_scan";
  durationMs: number;
}

/**
 * The anomaly phases for a demo that starts at `startMs`: each begins one second into a window so it
 * lands in exactly that window, after `warmupWindows` windows of normal traffic build the baselines.
 */
export function scenarioPhases(startMs: number, windowMs: number, warmupWindows = 4): PhaseEvent[] {
  const first = Math.ceil(startMs / windowMs) * windowMs + warmupWindows * windowMs;
  const phase = (i: number) => first + i * 3 * windowMs + 1_000;
  const durationMs = windowMs - 2_000;
  return [
    { at: phase(0), name: "ip_spike", durationMs },
    { at: phase(1), name: "error_surge", durationMs },
    { at: phase(2), name: "url_scan", durationMs },
  ];
}

export interface Traffic {
  phases: PhaseEvent[];
  stop(): Promise<void>;
}

function wrk(dir: string, name: string, lua: string, url: string, connections: number, seconds: number): ChildProcess {
  const script = join(dir, `${name}.lua`);
  writeFileSync(script, lua);
  return spawn("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "-s", script, url], { stdio: "ignore" });
}

/** Starts normal load now and schedules the anomaly phases; `log` reports each phase as it starts. */
export function startTraffic(
  fleet: WebFleet,
  dir: string,
  opts: { durationMs: number; windowMs: number; now?: number; log: (msg: string) => void },
): Traffic {
  const running = new Set<ChildProcess>();
  const track = (c: ChildProcess) => {
    running.add(c);
    c.once("exit", () => running.delete(c));
  };
  const seconds = Math.ceil(opts.durationMs / 1000) + 5;
  for (const [i, h] of fleet.hosts.entries()) {
    track(wrk(dir, `normal-${h.name}`, normalLua(1000 + i, 25), `http://127.0.0.1:${h.port}`, 4, seconds));
  }
  const phases = scenarioPhases(opts.now ?? Date.now(), opts.windowMs);
  const timers = phases.map((p) =>
    setTimeout(
      () => {
        const secs = Math.max(1, Math.floor(p.durationMs / 1000));
        opts.log(`scenario: ${p.name} for ${secs}s`);
        if (p.name === "ip_spike") {
          for (const h of fleet.hosts.slice(0, 2))
            track(wrk(dir, `spike-${h.name}`, spikeLua(10), `http://127.0.0.1:${h.port}`, 4, secs));
        } else if (p.name === "url_scan") {
          for (const h of fleet.hosts)
            track(wrk(dir, `scan-${h.name}`, scanLua(h.name, 20), `http://127.0.0.1:${h.port}`, 2, secs));
        } else {
          fleet.app.failRate = 0.8;
          setTimeout(() => {
            fleet.app.failRate = 0;
          }, p.durationMs).unref();
        }
      },
      Math.max(0, p.at - Date.now()),
    ),
  );
  return {
    phases,
    async stop() {
      for (const t of timers) clearTimeout(t);
      await Promise.all([...running].map((c) => stopChild(c)));
    },
  };
}
