/**
 * Regenerates protocol/src/parse/fixtures/: runs the real nginx (Debian /usr/sbin/nginx, foreground,
 * temp prefix, free 127.0.0.1 / [::1] ports) with three access logs (built-in `combined`, our
 * `nginx_combined_rt`, and an `escape=json` format), sends normal and malformed requests over raw
 * TCP one at a time, stops nginx by pid, and copies the logs plus a manifest of what was sent and
 * what the client saw (status, body length) next to the parser tests.
 *
 *   npx tsx protocol/scripts/capture-nginx-fixtures.ts
 *
 * The unit test reads only the committed files; nginx is not needed at test time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NGINX_COMBINED_RT_FORMAT, NGINX_JSON_FORMAT } from "../src/parse/index.js";

const NGINX = process.env.NGINX_BIN ?? "/usr/sbin/nginx";
const FIXTURES = fileURLToPath(new URL("../src/parse/fixtures/", import.meta.url));

interface Request {
  name: string;
  /** Client address to connect from (and to): nginx listens on both. */
  host: "127.0.0.1" | "::1";
  /** Bytes sent, as latin1 (each char one byte). */
  raw: string;
}

const ua = "User-Agent: fixture/1.0\r\n";
const REQUESTS: Request[] = [
  { name: "get_root", host: "127.0.0.1", raw: `GET / HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  { name: "head_root", host: "127.0.0.1", raw: `HEAD / HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  {
    name: "post_submit",
    host: "127.0.0.1",
    raw: `POST /submit HTTP/1.1\r\nHost: fixture\r\n${ua}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1`,
  },
  {
    name: "not_found_query",
    host: "127.0.0.1",
    raw: `GET /missing/page?x=1&y=2 HTTP/1.1\r\nHost: fixture\r\nReferer: http://fixture/from\r\n${ua}Connection: close\r\n\r\n`,
  },
  {
    name: "quote_backslash",
    host: "127.0.0.1",
    raw: `GET /q"uote\\back?q="a"\\b HTTP/1.1\r\nHost: fixture\r\nUser-Agent: Agent "quoted" \\ backslash\r\nConnection: close\r\n\r\n`,
  },
  {
    name: "non_utf8",
    host: "127.0.0.1",
    raw: `GET /caf\xe9/\xff HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n`,
  },
  {
    name: "utf8",
    host: "127.0.0.1",
    raw: `GET /caf\xc3\xa9 HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n`,
  },
  { name: "garbage", host: "127.0.0.1", raw: "GARBAGE\r\n\r\n" },
  { name: "spaces", host: "127.0.0.1", raw: `GET /a b c HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  { name: "tls_hello", host: "127.0.0.1", raw: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n" },
  { name: "ipv6", host: "::1", raw: `GET /v6/path HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  { name: "delete", host: "::1", raw: `DELETE /items/7 HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  { name: "http10", host: "127.0.0.1", raw: "GET /old HTTP/1.0\r\n\r\n" },
  {
    name: "proxy_retry",
    host: "127.0.0.1",
    raw: `GET /proxy/a HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n`,
  },
  { name: "proxy", host: "127.0.0.1", raw: `GET /proxy/b HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n` },
  {
    name: "long_query",
    host: "127.0.0.1",
    raw: `GET /?${"k=v&".repeat(200)}end HTTP/1.1\r\nHost: fixture\r\n${ua}Connection: close\r\n\r\n`,
  },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends `raw` on a fresh connection and collects everything until nginx closes it. */
function exchange(host: string, port: number, raw: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port }, () => socket.end(Buffer.from(raw, "latin1")));
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer from nginx for ${JSON.stringify(raw)}`)));
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

/** Status and body length as the client saw them (HTTP/0.9-style replies have no status line). */
function observed(response: Buffer): { status: number | null; bodyBytes: number } {
  const head = response.indexOf("\r\n\r\n");
  const match = /^HTTP\/\d\.\d (\d{3})/.exec(response.toString("latin1", 0, 64));
  if (!match || head < 0) return { status: null, bodyBytes: response.length };
  return { status: Number(match[1]), bodyBytes: response.length - head - 4 };
}

async function waitForPort(host: string, port: number, nginx: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited with ${nginx.exitCode}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${host}:${port}`);
}

async function main(): Promise<void> {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "rla-nginx-"));
  const [port, backendPort, deadPort] = [await freePort(), await freePort(), await freePort()];
  for (const dir of ["logs", "tmp"]) mkdirSync(path.join(prefix, dir));
  const conf = `
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log info;
events { worker_connections 64; }
http {
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  log_format rt '${NGINX_COMBINED_RT_FORMAT}';
  log_format jsonl escape=json '${NGINX_JSON_FORMAT}';
  # The first server refuses connections, so the first proxied request logs an upstream list.
  upstream pair { server 127.0.0.1:${deadPort}; server 127.0.0.1:${backendPort}; }
  server {
    listen 127.0.0.1:${backendPort};
    access_log off;
    location / { return 200 "backend\\n"; }
  }
  server {
    listen 127.0.0.1:${port};
    listen [::1]:${port};
    access_log ${prefix}/logs/combined.log combined;
    access_log ${prefix}/logs/rt.log rt;
    access_log ${prefix}/logs/json.log jsonl;
    location = / { return 200 "hello\\n"; }
    location = /submit { return 201 "created\\n"; }
    location /proxy/ { proxy_pass http://pair/; }
    location / { return 404 "not found\\n"; }
  }
}
`;
  const confFile = path.join(prefix, "nginx.conf");
  writeFileSync(confFile, conf);
  const nginx = spawn(NGINX, ["-p", prefix, "-c", confFile, "-e", path.join(prefix, "logs/error.log")], {
    stdio: "inherit",
  });
  try {
    await waitForPort("127.0.0.1", port, nginx);
    const startMs = Date.now();
    const manifest = [];
    for (const request of REQUESTS) {
      const response = await exchange(request.host, port, request.raw);
      manifest.push({
        name: request.name,
        ip: request.host,
        sent: Buffer.from(request.raw, "latin1").toString("base64"),
        ...observed(response),
      });
    }
    const endMs = Date.now();
    // SIGQUIT: graceful shutdown, so every log line is written before nginx exits.
    const exited = new Promise((resolve) => nginx.once("exit", resolve));
    process.kill(nginx.pid!, "SIGQUIT");
    await exited;
    mkdirSync(FIXTURES, { recursive: true });
    for (const log of ["combined.log", "rt.log", "json.log"]) {
      copyFileSync(path.join(prefix, "logs", log), path.join(FIXTURES, `nginx-${log}`));
    }
    const version = readFileSync(path.join(prefix, "logs/error.log"), "utf8").match(/nginx\/[\d.]+/)?.[0] ?? "nginx";
    writeFileSync(
      path.join(FIXTURES, "nginx-requests.json"),
      `${JSON.stringify({ nginx: version, startMs, endMs, requests: manifest }, null, 2)}\n`,
    );
    console.log(`captured ${manifest.length} requests from ${version} into ${FIXTURES}`);
  } finally {
    if (nginx.exitCode === null && nginx.pid !== undefined) process.kill(nginx.pid, "SIGTERM");
    rmSync(prefix, { recursive: true, force: true });
  }
}

await main();
