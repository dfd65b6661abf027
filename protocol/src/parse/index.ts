/**
 * Access-log line parsers: `createParser(format)` compiles a format once into a parser that reads
 * lines straight from a Buffer into a caller-owned LogRecord.
 *
 * What a parser decides, for every format:
 * - A request line is understood when it reads `METHOD URI` or `METHOD URI HTTP/x` with METHOD an
 *   upper-case token. Anything else (`-`, `GARBAGE`, a lower-case word) still counts as a request with
 *   its status; method and path are then "". The URI runs from after the method to the final
 *   ` HTTP/…`, so a URI with spaces keeps them (`GET /a b c HTTP/1.1` → path `/a b c`).
 * - path = the URI up to its first `?`; the log's escapes (`\x22`, `\"`, JSON `\u…`) are undone for
 *   printable characters and the bytes read as UTF-8 (invalid bytes → U+FFFD), so nginx, Apache and
 *   JSON logs of one request give one path. ip and method are kept as written.
 * - Bytes come from $body_bytes_sent (%b, %B), else $bytes_sent (%O); `-` is 0. Latency comes from
 *   $request_time (%T: seconds) or %D (µs), %{ms}T; `-` or no such field gives latencyUs -1. Time
 *   prefers $msec, then $time_iso8601, then $time_local, whichever the format has.
 * - Rejects: `empty` (blank), `binary` (the line does not parse and holds a control byte other than
 *   tab, or one sits in a kept field), `bad_time`, `bad_status` (not three digits), `bad_number`
 *   (bytes or latency not a number or `-`), `syntax` (anything else that does not fit the format,
 *   including a truncated line). nginx and Apache escape control bytes, so a raw one means corruption,
 *   which breaks a line's structure; to stay fast, the skipped quoted fields (referer, user agent) of
 *   an otherwise well-formed line are not searched for them. `too_long`, `truncated` and `too_old`
 *   are the caller's to decide before or after calling `parse`.
 * - Speed: values are found by byte scanning of the Buffer, self-delimiting values (address,
 *   numbers, timestamps) are decoded in the same pass, quoted values are skipped with Buffer#indexOf,
 *   `$time_local` date math runs once per minute of log, methods are interned; only ip and path
 *   strings are allocated per line, and none when parsing into a `LineRecord` (record.ts), which
 *   keeps plain ip and path text as byte ranges for `addRecord` to hash.
 */
import { ProtocolError, ProtocolErrorCode } from "../errors.js";
import { compileApacheFormat, compileNginxFormat } from "./format.js";
import { JsonLineParser } from "./json.js";
import type { LineParser } from "./line.js";
import { PositionalParser } from "./positional.js";

export type { LineParser } from "./line.js";
export { createLineRecord, LineRecord } from "./record.js";

export const LOG_FORMAT_PRESETS = [
  "nginx_combined",
  "nginx_combined_rt",
  "apache_common",
  "apache_combined",
  "apache_combined_d",
  "json",
] as const;
export type LogFormatPreset = (typeof LOG_FORMAT_PRESETS)[number];

/**
 * A preset name, an nginx `log_format` string (the format text itself, quotes joined, without the
 * name or `escape=`), or an Apache `LogFormat` string.
 */
export type LogFormatSpec = LogFormatPreset | { nginx: string } | { apache: string };

/** nginx's built-in `combined`. */
export const NGINX_COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
/** `combined` plus request time and upstream time: the format the demo nginx writes. */
export const NGINX_COMBINED_RT_FORMAT = `${NGINX_COMBINED_FORMAT} $request_time $upstream_response_time`;
/** A `log_format … escape=json` body the `json` preset reads (any subset/order of these keys works too). */
export const NGINX_JSON_FORMAT =
  '{"time_iso8601":"$time_iso8601","msec":"$msec","remote_addr":"$remote_addr","request":"$request",' +
  '"status":"$status","body_bytes_sent":"$body_bytes_sent","request_time":"$request_time",' +
  '"upstream_response_time":"$upstream_response_time","http_referer":"$http_referer",' +
  '"http_user_agent":"$http_user_agent","host":"$host"}';
export const APACHE_COMMON_FORMAT = '%h %l %u %t "%r" %>s %b';
export const APACHE_COMBINED_FORMAT = `${APACHE_COMMON_FORMAT} "%{Referer}i" "%{User-agent}i"`;
/** combined plus %D, the request duration in microseconds. */
export const APACHE_COMBINED_D_FORMAT = `${APACHE_COMBINED_FORMAT} %D`;

/**
 * Compiles `format` into a parser. A parser keeps small caches, so use one per input stream.
 * Throws ProtocolError(BadLogFormat) naming the problem when a format string cannot be compiled.
 */
export function createParser(format: LogFormatSpec): LineParser {
  switch (format) {
    case "nginx_combined":
      return new PositionalParser(compileNginxFormat(NGINX_COMBINED_FORMAT));
    case "nginx_combined_rt":
      return new PositionalParser(compileNginxFormat(NGINX_COMBINED_RT_FORMAT));
    case "apache_common":
      return new PositionalParser(compileApacheFormat(APACHE_COMMON_FORMAT));
    case "apache_combined":
      return new PositionalParser(compileApacheFormat(APACHE_COMBINED_FORMAT));
    case "apache_combined_d":
      return new PositionalParser(compileApacheFormat(APACHE_COMBINED_D_FORMAT));
    case "json":
      return new JsonLineParser();
  }
  const spec: unknown = format;
  if (typeof spec === "object" && spec !== null) {
    if ("nginx" in spec && typeof spec.nginx === "string") return new PositionalParser(compileNginxFormat(spec.nginx));
    if ("apache" in spec && typeof spec.apache === "string") {
      return new PositionalParser(compileApacheFormat(spec.apache));
    }
  }
  throw new ProtocolError(
    ProtocolErrorCode.BadLogFormat,
    `log format ${JSON.stringify(spec)}: expected one of ${LOG_FORMAT_PRESETS.join(", ")}, { nginx: "<log_format>" } or { apache: "<LogFormat>" }`,
  );
}
