/**
 * Compiles an nginx `log_format` string or an Apache `LogFormat` string into a program for the
 * positional parser: the literal text before the first variable, then one step per variable saying
 * how to find where its value ends and what the value means.
 */
import { ProtocolError, ProtocolErrorCode } from "../errors.js";
import { Field, Role, roleOf } from "./fields.js";
import { TIME_LOCAL_WIDTH } from "./time.js";

/** How a step finds the end of its value. */
export const Scan = {
  /** A self-delimiting value (address, number, timestamp) read by its decoder in one pass. */
  Token: 0,
  /** A quoted value: up to the following literal, found with Buffer#indexOf; escaped quotes do not end it. */
  Quoted: 1,
  /** An unquoted value: up to the following literal, by a byte loop (such values are short). */
  Until: 2,
  /** Like Until, but `, ` and ` : ` separators inside nginx upstream lists do not end the value. */
  List: 3,
  /** A value of fixed width (`$time_local`, which holds a space) that is read past. */
  Fixed: 4,
  /** The last variable: up to the line end less the trailing literal, which must close the line. */
  ToEnd: 5,
} as const;
export type Scan = (typeof Scan)[keyof typeof Scan];

export interface Step {
  /** The variable as written, for messages. */
  readonly name: string;
  readonly field: Field;
  readonly scan: Scan;
  /** Value width for Scan.Fixed. */
  readonly width: number;
  /** The literal text that follows the value (empty only after the last variable). */
  readonly term: Uint8Array;
  /** No variable follows: the value and `term` must end the line. */
  readonly last: boolean;
}

export interface Program {
  readonly prefix: Uint8Array;
  readonly steps: readonly Step[];
}

interface Variable {
  readonly name: string;
  readonly field: Field;
  readonly list?: boolean;
  readonly width?: number;
}
type Part = string | Variable;

/** Fields whose decoder finds their end itself. */
const SELF_DELIMITING = new Set<Field>([
  Field.RemoteAddr,
  Field.TimeLocal,
  Field.TimeIso8601,
  Field.Msec,
  Field.Status,
  Field.BodyBytes,
  Field.BytesSent,
  Field.LatencySeconds,
  Field.LatencyMillis,
  Field.LatencyMicros,
]);

function badFormat(kind: string, format: string, problem: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.BadLogFormat, `${kind} ${JSON.stringify(format)}: ${problem}`);
}

/** What an nginx variable means to the record; variables not listed are read past as opaque text. */
function nginxVariable(name: string): Variable {
  const $ = `$${name}`;
  switch (name) {
    case "remote_addr":
      return { name: $, field: Field.RemoteAddr };
    case "time_local":
      return { name: $, field: Field.TimeLocal, width: TIME_LOCAL_WIDTH };
    case "time_iso8601":
      return { name: $, field: Field.TimeIso8601 };
    case "msec":
      return { name: $, field: Field.Msec };
    case "request":
      return { name: $, field: Field.Request };
    case "request_method":
      return { name: $, field: Field.Method };
    case "request_uri":
    case "uri":
    case "document_uri":
      return { name: $, field: Field.Uri };
    case "status":
      return { name: $, field: Field.Status };
    case "body_bytes_sent":
      return { name: $, field: Field.BodyBytes };
    case "bytes_sent":
      return { name: $, field: Field.BytesSent };
    case "request_time":
      return { name: $, field: Field.LatencySeconds };
    default:
      // $upstream_* hold one value per upstream tried: `0.010, 0.020 : 0.005`.
      return { name: $, field: Field.Skip, list: name.startsWith("upstream_") };
  }
}

function isNameChar(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c === "_";
}

function nginxParts(format: string): Part[] {
  const parts: Part[] = [];
  let literal = "";
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== "$") {
      literal += c;
      continue;
    }
    let name = "";
    if (format[i + 1] === "{") {
      const close = format.indexOf("}", i + 2);
      if (close < 0) throw badFormat("log_format", format, `"\${" at offset ${i} has no closing "}"`);
      name = format.slice(i + 2, close);
      if (name === "" || ![...name].every(isNameChar)) {
        throw badFormat("log_format", format, `"\${${name}}" at offset ${i} is not a variable name`);
      }
      i = close;
    } else {
      while (i + 1 < format.length && isNameChar(format[i + 1]!)) name += format[++i];
      if (name === "") throw badFormat("log_format", format, `"$" at offset ${i} is not followed by a variable name`);
    }
    if (literal !== "") parts.push(literal);
    literal = "";
    parts.push(nginxVariable(name));
  }
  if (literal !== "") parts.push(literal);
  return parts;
}

/** What an Apache `%` directive means; unknown directives (%l, %u, %{Referer}i, %v, …) are opaque. */
function apacheDirective(format: string, directive: string, letter: string, param: string | undefined): Part[] {
  const v = (field: Field): Part[] => [{ name: directive, field }];
  switch (letter) {
    case "h":
    case "a":
      return v(Field.RemoteAddr);
    case "t":
      if (param === undefined) return ["[", { name: directive, field: Field.TimeLocal, width: TIME_LOCAL_WIDTH }, "]"];
      if (param === "sec") return v(Field.Msec);
      throw badFormat("LogFormat", format, `${directive}: only %t and %{sec}t time formats are supported`);
    case "r":
      return v(Field.Request);
    case "s":
      return v(Field.Status);
    case "b":
    case "B":
      return v(Field.BodyBytes);
    case "O":
      return v(Field.BytesSent);
    case "D":
      return v(Field.LatencyMicros);
    case "T":
      if (param === undefined || param === "s") return v(Field.LatencySeconds);
      if (param === "ms") return v(Field.LatencyMillis);
      if (param === "us") return v(Field.LatencyMicros);
      throw badFormat("LogFormat", format, `${directive}: the unit must be s, ms or us`);
    case "m":
      return v(Field.Method);
    case "U":
      return v(Field.Uri);
    default:
      return v(Field.Skip);
  }
}

const APACHE_DIRECTIVE = /^%([<>]?)(!?[0-9,]*)(?:\{([^}]*)\})?([a-zA-Z])/;

function apacheParts(format: string): Part[] {
  const parts: Part[] = [];
  let literal = "";
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === "\\" && i + 1 < format.length) {
      // Escapes as httpd.conf writes them, so a LogFormat can be pasted as is.
      const next = format[++i]!;
      literal += next === "t" ? "\t" : next;
      continue;
    }
    if (c !== "%") {
      literal += c;
      continue;
    }
    if (format[i + 1] === "%") {
      literal += "%";
      i++;
      continue;
    }
    const match = APACHE_DIRECTIVE.exec(format.slice(i));
    if (!match) throw badFormat("LogFormat", format, `"%" at offset ${i} does not start a directive`);
    for (const part of apacheDirective(format, match[0], match[4]!, match[3])) {
      if (typeof part === "string") {
        literal += part;
      } else {
        if (literal !== "") parts.push(literal);
        literal = "";
        parts.push(part);
      }
    }
    i += match[0].length - 1;
  }
  if (literal !== "") parts.push(literal);
  return parts;
}

function build(kind: string, format: string, parts: Part[]): Program {
  const variables = parts.filter((p): p is Variable => typeof p !== "string");
  if (variables.length === 0) throw badFormat(kind, format, "has no variables");
  for (let i = 0; i + 1 < parts.length; i++) {
    const a = parts[i]!;
    const b = parts[i + 1]!;
    if (typeof a !== "string" && typeof b !== "string") {
      throw badFormat(
        kind,
        format,
        `${a.name} is directly followed by ${b.name} with no text between them, so a line cannot be split`,
      );
    }
  }

  // One field per record slot: the best-ranked, first on ties; the others are read past.
  const winner = new Map<Role, Variable>();
  for (const variable of variables) {
    const { role, rank } = roleOf(variable.field);
    const best = winner.get(role);
    if (role !== Role.None && (best === undefined || rank < roleOf(best.field).rank)) winner.set(role, variable);
  }
  if (!winner.has(Role.Status)) throw badFormat(kind, format, "has no status ($status / %s)");
  if (!winner.has(Role.Time)) {
    throw badFormat(kind, format, "has no timestamp ($time_local, $time_iso8601, $msec / %t, %{sec}t)");
  }
  if (winner.has(Role.Request)) {
    winner.delete(Role.Path);
    winner.delete(Role.Method);
  }
  const kept = new Set(winner.values());

  const encoder = new TextEncoder();
  const first = parts[0]!;
  const prefix = encoder.encode(typeof first === "string" ? first : "");
  const steps: Step[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (typeof part === "string") continue;
    const previous = parts[i - 1];
    const next = parts[i + 1];
    const term = encoder.encode(typeof next === "string" ? next : "");
    // Variables are never adjacent, so a variable two parts on is the next one.
    const last = i + 2 >= parts.length;
    const field = kept.has(part) ? part.field : Field.Skip;
    let scan: Scan;
    if (SELF_DELIMITING.has(field)) scan = Scan.Token;
    else if (part.width !== undefined) scan = Scan.Fixed;
    else if (last) scan = Scan.ToEnd;
    else if (typeof previous === "string" && previous.endsWith('"')) scan = Scan.Quoted;
    else if (part.list && term[0] === 0x20) scan = Scan.List;
    else scan = Scan.Until;
    steps.push({ name: part.name, field, scan, width: part.width ?? 0, term, last });
  }
  return { prefix, steps };
}

/** Compiles an nginx `log_format` string (the text after the name, quotes joined). */
export function compileNginxFormat(format: string): Program {
  return build("log_format", format, nginxParts(format));
}

/** Compiles an Apache `LogFormat` string (`%h %l %u %t \"%r\" %>s %b`, with or without the backslashes). */
export function compileApacheFormat(format: string): Program {
  return build("LogFormat", format, apacheParts(format));
}
