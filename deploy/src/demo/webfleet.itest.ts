/**
 * The demo's nginx fleet against real nginx: it starts and answers, and when a port is taken it fails
 * with nginx's own complaint and leaves nothing running (a hung demo once held CI for 5 minutes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePorts } from "../ports.js";
import { startWebFleet } from "./webfleet.js";

const dirs: string[] = [];
const servers: Server[] = [];

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    // Holds the port like a foreign service would, hanging up on anyone who connects.
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rla-webfleet-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("startWebFleet", () => {
  it("serves static files and proxies /api to the app tier, logging both", async () => {
    const fleet = await startWebFleet(tempDir(), ["a"], await freePorts(1));
    try {
      const port = fleet.hosts[0]!.port;
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      await page.arrayBuffer();
      const api = await fetch(`http://127.0.0.1:${port}/api/items`, { headers: { "x-forwarded-for": "10.9.8.7" } });
      expect(api.status).toBe(200);
      expect(await api.json()).toEqual({ path: "/api/items", items: [] });
    } finally {
      await fleet.stop();
    }
  });

  it("fails with nginx's complaint when a port is taken, and stops the hosts it had started", async () => {
    const taken = await listen();
    servers.push(taken.server);
    const [freeOne] = await freePorts(1);
    await expect(startWebFleet(tempDir(), ["ok", "clash"], [freeOne!, taken.port])).rejects.toThrow(
      /exited .*Address already in use/,
    );
    await expect(fetch(`http://127.0.0.1:${freeOne}/`)).rejects.toThrow();
  });
});
