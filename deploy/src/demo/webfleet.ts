/**
 * The demo's "web fleet": real nginx servers on 127.0.0.1, one master process per host, each writing
 * its own access log in our `nginx_combined_rt` format, in front of a small in-process app tier whose
 * latency and failure rate the traffic scenario controls. Client addresses come from
 * X-Forwarded-For (ngx_http_realip_module) so one machine can play many clients.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export const NGINX_COMBINED_RT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time';

export interface WebHost {
  name: string;
  port: number;
  accessLog: string;
}

export interface AppTier {
  port: number;
  /** Share of /api requests answered 503 (the error-surge knob). */
  failRate: number;
  close(): Promise<void>;
}

/** An upstream that answers /api/* after a lognormal-ish delay, failing `failRate` of them. */
export async function startAppTier(random: () => number = Math.random): Promise<AppTier> {
  const tier: { failRate: number } = { failRate: 0 };
  const server: Server = createServer((req, res) => {
    const delayMs = Math.min(2000, Math.round(Math.exp(2.5 + random() * 1.6)));
    setTimeout(() => {
      if (random() < tier.failRate) {
        res.writeHead(503, { "content-type": "text/plain" }).end("busy\n");
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url, items: [] }));
      }
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get failRate() {
      return tier.failRate;
    },
    set failRate(v: number) {
      tier.failRate = v;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function nginxConf(prefix: string, port: number, appPort: number, accessLog: string): string {
  const asRoot = process.getuid?.() === 0;
  return `${asRoot ? "user root;\n" : ""}worker_processes 1;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "error.log")} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, "tmp")};
  proxy_temp_path ${join(prefix, "tmp")};
  fastcgi_temp_path ${join(prefix, "tmp")};
  uwsgi_temp_path ${join(prefix, "tmp")};
  scgi_temp_path ${join(prefix, "tmp")};
  log_format combined_rt '${NGINX_COMBINED_RT}';
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  upstream app { server 127.0.0.1:${appPort}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    root ${join(prefix, "html")};
    access_log ${accessLog} combined_rt;
    location /api/ { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location / { try_files $uri $uri/index.html =404; }
  }
}
`;
}

export interface WebFleet {
  hosts: WebHost[];
  app: AppTier;
  stop(): Promise<void>;
}

/**
 * Starts one nginx master per host on `ports[i]`, logs under `dir/<name>/`. Resolves once every one
 * answers HTTP; if any exits or stays silent, everything started so far is stopped and the error
 * carries nginx's own complaint (e.g. `bind() … failed (98: Address already in use)`).
 */
export async function startWebFleet(dir: string, names: string[], ports: number[]): Promise<WebFleet> {
  const app = await startAppTier();
  const children: ChildProcess[] = [];
  const hosts: WebHost[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await app.close();
  };
  try {
    const started = names.map((name, i) => {
      const prefix = join(dir, name);
      mkdirSync(join(prefix, "tmp"), { recursive: true });
      mkdirSync(join(prefix, "html", "static"), { recursive: true });
      writeFileSync(join(prefix, "html", "index.html"), `<html><body>${name}${" ".repeat(2000)}</body></html>\n`);
      writeFileSync(join(prefix, "html", "static", "app.js"), `// ${"x".repeat(30_000)}\n`);
      writeFileSync(join(prefix, "html", "static", "app.css"), `/* ${"y".repeat(8_000)} */\n`);
      const port = ports[i]!;
      const accessLog = join(prefix, "access.log");
      const conf = join(prefix, "nginx.conf");
      writeFileSync(conf, nginxConf(prefix, port, app.port, accessLog));
      const child = spawn("nginx", ["-p", prefix, "-c", conf, "-g", "daemon off;"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      children.push(child);
      hosts.push({ name, port, accessLog });
      return waitForNginx(child, port, join(prefix, "error.log"));
    });
    await Promise.all(started);
  } catch (error) {
    await stop();
    throw error;
  }
  return { hosts, app, stop };
}

/** Resolves when nginx answers on `port`; rejects if it exits first or stays silent past the deadline. */
function waitForNginx(child: ChildProcess, port: number, errorLog: string, deadlineMs = 15_000): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const complaint = () => {
    const log = existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "";
    return `${stderr}${log}`.trim().split("\n").slice(-3).join(" | ") || "no output";
  };
  let gone = false;
  const exited = new Promise<never>((_, reject) => {
    const onExit = (code: number | null, signal: string | null) => {
      gone = true;
      reject(new Error(`nginx for 127.0.0.1:${port} exited (${signal ?? code}): ${complaint()}`));
    };
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else child.once("exit", onExit);
  });
  const answered = (async () => {
    const until = Date.now() + deadlineMs;
    while (!gone) {
      try {
        // A bounded probe: whatever else may hold the port must not hang the start-up.
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        return;
      } catch (error) {
        if (Date.now() > until)
          throw new Error(`nginx on 127.0.0.1:${port} did not answer: ${String(error)}; nginx said: ${complaint()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  exited.catch(() => undefined);
  return Promise.race([answered, exited]);
}

/** TERM, then KILL after a grace period; resolves when the process has exited. */
export function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
