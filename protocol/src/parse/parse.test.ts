import { describe, expect, it } from "vitest";
import { ProtocolError, ProtocolErrorCode } from "../errors.js";
import { emptyLogRecord, type LogRecord, type RejectReason } from "../model.js";
import { createParser, type LogFormatSpec } from "./index.js";

function parse(format: LogFormatSpec, line: string | Buffer): { reason: RejectReason | null; rec: LogRecord } {
  const buf = typeof line === "string" ? Buffer.from(line, "latin1") : line;
  const rec = emptyLogRecord();
  const reason = createParser(format).parse(buf, 0, buf.length, rec);
  return { reason, rec };
}

function ok(format: LogFormatSpec, line: string | Buffer): LogRecord {
  const { reason, rec } = parse(format, line);
  expect(reason, `line: ${line}`).toBeNull();
  return rec;
}

const T = (iso: string) => Date.parse(iso);
const COMBINED =
  '203.0.113.9 - alice [10/Oct/2023:13:55:36 +0700] "GET /index.html?a=1 HTTP/1.1" 200 2326 "http://ref/" "curl/8"';

describe("nginx combined", () => {
  it("reads every field", () => {
    expect(ok("nginx_combined", COMBINED)).toEqual({
      timeMs: T("2023-10-10T06:55:36Z"),
      status: 200,
      bytes: 2326,
      latencyUs: -1,
      ip: "203.0.113.9",
      method: "GET",
      path: "/index.html",
    });
  });

  it.each([
    ["+0000", "2023-10-10T13:55:36Z"],
    ["+0700", "2023-10-10T06:55:36Z"],
    ["-0330", "2023-10-10T17:25:36Z"],
    ["+0545", "2023-10-10T08:10:36Z"],
    ["-1200", "2023-10-11T01:55:36Z"],
  ])("applies zone %s", (zone, utc) => {
    const rec = ok("nginx_combined", `1.2.3.4 - - [10/Oct/2023:13:55:36 ${zone}] "GET / HTTP/1.1" 200 1 "-" "-"`);
    expect(rec.timeMs).toBe(T(utc));
  });

  it("keeps time right across minute, day and year boundaries and a zone change (cache)", () => {
    const p = createParser("nginx_combined");
    const rec = emptyLogRecord();
    const cases: [string, string][] = [
      ["31/Dec/2023:23:59:59 +0000", "2023-12-31T23:59:59Z"],
      ["01/Jan/2024:00:00:00 +0000", "2024-01-01T00:00:00Z"],
      ["01/Jan/2024:00:00:01 +0000", "2024-01-01T00:00:01Z"],
      ["01/Jan/2024:00:00:01 +0100", "2023-12-31T23:00:01Z"],
      ["29/Feb/2024:12:30:00 -0500", "2024-02-29T17:30:00Z"],
      ["01/Jan/2024:00:00:02 +0000", "2024-01-01T00:00:02Z"],
    ];
    for (const [local, utc] of cases) {
      const line = Buffer.from(`1.2.3.4 - - [${local}] "GET / HTTP/1.1" 200 1 "-" "-"`);
      expect(p.parse(line, 0, line.length, rec)).toBeNull();
      expect(rec.timeMs).toBe(T(utc));
    }
  });

  it("reads `-` bytes as 0 and IPv6 clients", () => {
    const rec = ok("nginx_combined", '2001:db8::1 - - [10/Oct/2023:13:55:36 +0000] "HEAD / HTTP/1.1" 304 - "-" "-"');
    expect(rec).toMatchObject({ ip: "2001:db8::1", method: "HEAD", status: 304, bytes: 0 });
  });

  it("undoes nginx \\xHH escapes in the path and ignores them elsewhere", () => {
    const rec = ok(
      "nginx_combined",
      '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a\\x22b\\x5Cc/\\xC3\\xA9?q=\\x22x\\x22 HTTP/1.1" 200 1 "-" "UA \\x22q\\x22 \\x5C"',
    );
    expect(rec.path).toBe('/a"b\\c/é');
  });

  it("turns invalid UTF-8 into U+FFFD and keeps escaped control bytes as written", () => {
    const rec = ok(
      "nginx_combined",
      '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /\\xE9\\x0A HTTP/1.1" 404 1 "-" "-"',
    );
    expect(rec.path).toBe("/\uFFFD\\x0A");
  });

  it.each([
    ['"GARBAGE"', "", ""],
    ['"-"', "", ""],
    ['"GET /a b c HTTP/1.1"', "GET", "/a b c"],
    ['"GET /nine"', "GET", "/nine"],
    ['"get / HTTP/1.1"', "", ""],
    ['"\\x16\\x03\\x01\\x00"', "", ""],
    ['"OPTIONS * HTTP/1.1"', "OPTIONS", "*"],
    ['"M-SEARCH * HTTP/1.1"', "M-SEARCH", "*"],
    ['"GET http://h/x?y HTTP/1.1"', "GET", "http://h/x"],
    ['"POST  HTTP/1.1"', "POST", ""],
    ['"GET ?only=query HTTP/1.1"', "GET", ""],
  ])("request line %s counts as a request (method %j, path %j)", (request, method, path) => {
    const rec = ok("nginx_combined", `1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] ${request} 400 157 "-" "-"`);
    expect(rec).toMatchObject({ method, path, status: 400, bytes: 157 });
  });

  it("interns methods and caches strings without mixing them up", () => {
    const p = createParser("nginx_combined");
    const seen: LogRecord[] = [];
    for (const [ip, method, path] of [
      ["10.0.0.1", "PATCH", "/a"],
      ["10.0.0.2", "PATCH", "/b"],
      ["10.0.0.1", "PURGE", "/a"],
      ["10.0.0.10", "GET", "/a/"],
    ]) {
      const line = Buffer.from(`${ip} - - [10/Oct/2023:13:55:36 +0000] "${method} ${path} HTTP/1.1" 200 1 "-" "-"`);
      const rec = emptyLogRecord();
      expect(p.parse(line, 0, line.length, rec)).toBeNull();
      seen.push(rec);
    }
    expect(seen.map((r) => [r.ip, r.method, r.path])).toEqual([
      ["10.0.0.1", "PATCH", "/a"],
      ["10.0.0.2", "PATCH", "/b"],
      ["10.0.0.1", "PURGE", "/a"],
      ["10.0.0.10", "GET", "/a/"],
    ]);
    expect(Object.is(seen[0]!.method, seen[1]!.method)).toBe(true);
  });
});

describe("nginx_combined_rt", () => {
  const base = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /x HTTP/1.1" 200 10 "-" "-"';
  it.each([
    ["0.123 0.120", 123_000],
    ["0.000 -", 0],
    ["12.5 0.010, 0.020", 12_500_000],
    ["0.031 0.010, 0.020 : 0.001", 31_000],
    ["1 -", 1_000_000],
    ["0.1234567 0.1", 123_456],
    ["- -", -1],
  ])("reads request time and skips upstream times: %s", (tail, latencyUs) => {
    expect(ok("nginx_combined_rt", `${base} ${tail}`).latencyUs).toBe(latencyUs);
  });

  it("rejects a missing or malformed request time", () => {
    expect(parse("nginx_combined_rt", base).reason).toBe("syntax");
    expect(parse("nginx_combined_rt", `${base} 0.1x 0.1`).reason).toBe("bad_number");
    expect(parse("nginx_combined_rt", `${base} abc 0.1`).reason).toBe("bad_number");
  });
});

describe("custom nginx log_format", () => {
  it("compiles every supported variable and skips unknown ones", () => {
    const format = {
      nginx:
        "$host $server_name $remote_addr [$time_iso8601] $msec $request_method $request_uri $uri $status " +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${name} syntax
        '$body_bytes_sent $bytes_sent $request_time "$http_referer" "$http_user_agent" ${upstream_addr}|$custom_var',
    };
    const rec = ok(
      format,
      "example.com _ 10.1.2.3 [2023-10-10T13:55:36+07:00] 1696920936.789 PUT /items/9?x=1 /items/9 201 " +
        '17 300 0.250 "-" "ua with spaces" 10.0.0.1:80, 10.0.0.2:80|opaque',
    );
    expect(rec).toEqual({
      timeMs: 1696920936789,
      status: 201,
      bytes: 17,
      latencyUs: 250_000,
      ip: "10.1.2.3",
      method: "PUT",
      path: "/items/9",
    });
  });

  it("prefers $body_bytes_sent over $bytes_sent and falls back to $bytes_sent", () => {
    const both = { nginx: "$remote_addr [$time_local] $status $bytes_sent $body_bytes_sent" };
    expect(ok(both, "1.2.3.4 [10/Oct/2023:13:55:36 +0000] 200 300 17").bytes).toBe(17);
    const sentOnly = { nginx: "$remote_addr [$time_local] $status $bytes_sent" };
    expect(ok(sentOnly, "1.2.3.4 [10/Oct/2023:13:55:36 +0000] 200 300").bytes).toBe(300);
  });

  it("reads $time_iso8601 zones and $msec", () => {
    const iso = { nginx: "$time_iso8601 $status" };
    expect(ok(iso, "2023-10-10T13:55:36-03:30 200").timeMs).toBe(T("2023-10-10T17:25:36Z"));
    expect(ok(iso, "2023-10-10T13:55:36Z 200").timeMs).toBe(T("2023-10-10T13:55:36Z"));
    expect(ok({ nginx: "$msec $status" }, "1696920936.5 200").timeMs).toBe(1696920936500);
    expect(parse(iso, "2023-13-10T13:55:36+00:00 200").reason).toBe("bad_time");
  });

  it("handles tab separators, an unbracketed $time_local and upstream lists mid-line", () => {
    const rec = ok(
      { nginx: "$remote_addr\t$time_local\t$upstream_response_time $status $request_time" },
      "1.2.3.4\t10/Oct/2023:13:55:36 +0000\t0.010, 0.020 : 0.030 503 0.061",
    );
    expect(rec).toMatchObject({ status: 503, latencyUs: 61_000, timeMs: T("2023-10-10T13:55:36Z") });
  });

  it("reads a JSON-shaped format positionally", () => {
    const rec = ok(
      { nginx: '{"t":"$msec","ip":"$remote_addr","r":"$request","s":$status}' },
      '{"t":"1696920936.000","ip":"::1","r":"GET /j?x HTTP/1.1","s":200}',
    );
    expect(rec).toMatchObject({ ip: "::1", path: "/j", method: "GET", status: 200 });
  });

  it.each([
    ["", /has no variables/],
    ["$status", /has no timestamp/],
    ["$time_local", /has no status/],
    ["$remote_addr$status [$time_local]", /\$remote_addr is directly followed by \$status/],
    ["$time_local $ $status", /"\$" at offset 12 is not followed by a variable name/],
    ["${time_local $status", /"\$\{" at offset 0 has no closing "\}"/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${name} syntax
    ["${} $time_local $status", /"\$\{\}" at offset 0 is not a variable name/],
  ])("rejects %j at compile time", (format, message) => {
    let error: unknown;
    try {
      createParser({ nginx: format });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(ProtocolErrorCode.BadLogFormat);
    expect((error as ProtocolError).message).toMatch(message);
    expect((error as ProtocolError).message).toContain(JSON.stringify(format));
  });

  it("rejects a spec that is neither a preset nor a format string", () => {
    expect(() => createParser("nginx" as LogFormatSpec)).toThrow(/expected one of nginx_combined/);
    expect(() => createParser({ nginx: 5 } as unknown as LogFormatSpec)).toThrow(ProtocolError);
  });
});

describe("apache", () => {
  const common = '192.0.2.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326';
  it("common has no latency", () => {
    expect(ok("apache_common", common)).toEqual({
      timeMs: T("2000-10-10T20:55:36Z"),
      status: 200,
      bytes: 2326,
      latencyUs: -1,
      ip: "192.0.2.7",
      method: "GET",
      path: "/apache_pb.gif",
    });
  });

  it("combined undoes Apache's \\\" and \\\\ escapes", () => {
    const rec = ok(
      "apache_combined",
      '192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a\\"b\\\\c HTTP/1.0" 200 - "http://x/\\"" "Moz \\"q\\" \\\\"',
    );
    expect(rec).toMatchObject({ path: '/a"b\\c', bytes: 0 });
  });

  it("combined_d reads %D microseconds", () => {
    expect(ok("apache_combined_d", `${common} "-" "Mozilla/5.0" 1534`).latencyUs).toBe(1534);
    expect(parse("apache_combined_d", `${common} "-" "Mozilla/5.0" 1.5`).reason).toBe("bad_number");
  });

  it("reads %T seconds, %{ms}T and prefers %D when both are present", () => {
    expect(ok({ apache: '%h %l %u %t \\"%r\\" %>s %b %T' }, `${common} 2`).latencyUs).toBe(2_000_000);
    expect(ok({ apache: '%h %l %u %t "%r" %>s %b %{ms}T' }, `${common} 25`).latencyUs).toBe(25_000);
    expect(ok({ apache: '%h %l %u %t "%r" %>s %b %T %D' }, `${common} 1 1534`).latencyUs).toBe(1534);
  });

  it("rejects unsupported time directives naming them", () => {
    expect(() => createParser({ apache: "%h %{%d/%b}t %>s" })).toThrow(/%\{%d\/%b\}t: only %t and %\{sec\}t/);
    expect(() => createParser({ apache: "%h %t %>s %{min}T" })).toThrow(/%\{min\}T: the unit must be s, ms or us/);
    expect(() => createParser({ apache: "%h %t %>s %" })).toThrow(/does not start a directive/);
  });
});

describe("json lines", () => {
  it("reads string and numeric values in any key order", () => {
    const rec = ok(
      "json",
      '{"status":"404","request":"GET /p?q HTTP/2.0","remote_addr":"2001:db8::2","time_iso8601":"2023-10-10T13:55:36+07:00",' +
        '"body_bytes_sent":512,"request_time":0.007,"http_user_agent":"x","nested":{"a":[1,"}",{"b":null}]}}',
    );
    expect(rec).toEqual({
      timeMs: T("2023-10-10T06:55:36Z"),
      status: 404,
      bytes: 512,
      latencyUs: 7000,
      ip: "2001:db8::2",
      method: "GET",
      path: "/p",
    });
  });

  it("uses request_method + request_uri, $msec before other times, $time_local too", () => {
    const rec = ok(
      "json",
      ' { "time_local" : "10/Oct/2023:13:55:36 +0000", "msec": "1696946136.250", "request_method": "DELETE",' +
        ' "request_uri": "/x/1?y", "status": 204, "bytes_sent": "99", "request_time": null } ',
    );
    expect(rec).toMatchObject({ timeMs: 1696946136250, method: "DELETE", path: "/x/1", bytes: 99, latencyUs: -1 });
    expect(ok("json", '{"time_local":"10/Oct/2023:13:55:36 +0000","status":"200"}').timeMs).toBe(
      T("2023-10-10T13:55:36Z"),
    );
  });

  it("undoes JSON escapes in the path", () => {
    const rec = ok(
      "json",
      '{"msec":"1","status":"200","request":"GET /a\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00\\u0001 HTTP/1.1"}',
    );
    expect(rec.path).toBe('/a"b\\c/dé😀\\u0001');
  });

  it.each([
    ['{"status":"200"}', "bad_time"],
    ['{"msec":"1696946136.1"}', "bad_status"],
    ['{"msec":"1696946136.1","status":"2xx"}', "bad_status"],
    ['{"msec":"1696946136.1","status":"200","body_bytes_sent":"ten"}', "bad_number"],
    ['{"msec":"1696946136.1","status":"200"', "syntax"],
    ['{"msec":"1696946136.1","status":"200"} trailing', "syntax"],
    ['{"msec":"1696946136.1" "status":"200"}', "syntax"],
    ['{"msec":"1696946136.1","status":bogus}', "syntax"],
    ["not json at all", "syntax"],
    ['{"msec":"1696946136.1","status":"200","x":"\u0000"}', "binary"],
  ])("rejects %j as %s", (line, reason) => {
    expect(parse("json", line).reason).toBe(reason);
  });

  it("accepts nginx escape=json empties for absent values", () => {
    const rec = ok("json", '{"msec":"1696946136.100","status":"200","request_time":"","http_referer":""}');
    expect(rec.latencyUs).toBe(-1);
  });
});

describe("rejects", () => {
  const good = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-"';
  it.each([
    ["", "empty"],
    ["   \t ", "empty"],
    ["\r", "empty"],
    ['1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTT', "syntax"],
    ["1.2.3.4 - - [10/Oct/2023:13:5", "syntax"],
    ["hello world", "syntax"],
    [good.replace("10/Oct", "31/Feb"), "bad_time"],
    [good.replace("10/Oct", "10/Foo"), "bad_time"],
    [good.replace("13:55", "25:55"), "bad_time"],
    [good.replace("+0000", "+0a00"), "bad_time"],
    [good.replace("1970", "x").replace("2023", "1969"), "bad_time"],
    [good.replace(" 200 ", " 20 "), "bad_status"],
    [good.replace(" 200 ", " 2000 "), "bad_status"],
    [good.replace(" 200 ", " abc "), "bad_status"],
    [good.replace(" 200 1 ", " 200 12a "), "bad_number"],
    [good.replace(" 200 1 ", " 200 1234567890123456 "), "bad_number"],
    ["\u0000\u0000\u0000\u0000\u0000\u0000", "binary"],
    [good.replace("GET /", "GET /\u0001"), "binary"],
    [`\u0000${good}`, "binary"],
    [good.replace('"-" "-"', '"-"\u0000"-"'), "binary"],
  ])("%j → %s", (line, reason) => {
    expect(parse("nginx_combined", line).reason).toBe(reason);
  });

  it("ignores a trailing \\r (CRLF files)", () => {
    expect(ok("nginx_combined", `${good}\r`).status).toBe(200);
  });

  it("parses only [start, end) of a larger buffer", () => {
    const buf = Buffer.from(`junk"junk\n${good}\n" 999 "x" "y"\n`, "latin1");
    const start = buf.indexOf("1.2.3.4");
    const end = buf.indexOf("\n", start);
    const p = createParser("nginx_combined");
    const rec = emptyLogRecord();
    expect(p.parse(buf, start, end, rec)).toBeNull();
    expect(rec.status).toBe(200);
    // A line cut inside the user agent must not borrow the next line's closing quote.
    expect(p.parse(buf, start, end - 2, rec)).toBe("syntax");
    expect(p.parse(buf, start, buf.indexOf('"GET'), rec)).toBe("syntax");
  });

  it("stays correct when the caller refills the same buffer", () => {
    const p = createParser("nginx_combined");
    const rec = emptyLogRecord();
    const buf = Buffer.alloc(4096, 0x20);
    const broken = Buffer.from('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1 200 1 -\n', "latin1");
    broken.copy(buf);
    expect(p.parse(buf, 0, broken.length - 1, rec)).toBe("syntax");
    buf.fill(0x20);
    const line = Buffer.from(`${good}\n`, "latin1");
    line.copy(buf);
    expect(p.parse(buf, 0, line.length - 1, rec)).toBeNull();
    line.copy(buf, 100);
    expect(p.parse(buf, 100, 100 + line.length - 1, rec)).toBeNull();
  });

  it("handles a 1 MB garbage line quickly and without throwing", () => {
    const line = Buffer.alloc(1 << 20);
    for (let i = 0; i < line.length; i++) line[i] = 0x20 + ((i * 7919) % 95);
    const withPrefix = Buffer.concat([Buffer.from('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "', "latin1"), line]);
    for (const format of ["nginx_combined", "nginx_combined_rt", "apache_combined_d", "json"] as const) {
      for (const buf of [line, withPrefix]) {
        const t0 = performance.now();
        const { reason } = parse(format, buf);
        expect(reason).not.toBeNull();
        expect(performance.now() - t0).toBeLessThan(1000);
      }
    }
    const p = createParser("nginx_combined");
    const rec = emptyLogRecord();
    const nul = Buffer.alloc(1 << 20);
    expect(p.parse(nul, 0, nul.length, rec)).toBe("binary");
  });

  it("takes linear time over a buffer of lines that never close their quotes", () => {
    // Each line sends the quote search past its end; a quadratic scan would take minutes here.
    const one = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /never-closed HTTP/1.1 200 1 -\n';
    const buf = Buffer.from(one.repeat(100_000), "latin1");
    const p = createParser("nginx_combined_rt");
    const rec = emptyLogRecord();
    const t0 = performance.now();
    let rejected = 0;
    for (let start = 0; start < buf.length; ) {
      const nl = buf.indexOf(10, start);
      if (p.parse(buf, start, nl, rec) === "syntax") rejected++;
      start = nl + 1;
    }
    expect(rejected).toBe(100_000);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
