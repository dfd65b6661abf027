import { createServer, type Server } from "node:net";

/**
 * `count` distinct ports on 127.0.0.1 nothing listens on right now, picked by the OS (all held until all are picked,
 * so they differ). For servers a test or the demo starts and must address before they are up; a port 0 of their own
 * would switch some of them off (metrics.port 0) or hide the port from the caller.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolveServer, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolveServer(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/** One port as `freePorts(1)` picks it. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}
