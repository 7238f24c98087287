/**
 * Python-compatible rendering of decoded MessagePack values, so `zerokit rpc` prints what the
 * reference `zerorpc` CLI prints: `pprint` for readable output (sorted dict keys, 80 columns),
 * `json.dump` (", " and ": " separators, ASCII only) for `--print-json`.
 *
 * JavaScript numbers cannot tell an integer-valued float (`3.0`) from an int (`3`); integral
 * numbers print as ints.
 */

const WIDTH = 80;

type Entries = [string, unknown][];

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function isTypedList(value: unknown): value is ArrayLike<number | bigint> {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof Uint8Array);
}

function isDict(value: unknown): value is Record<string, unknown> | Map<unknown, unknown> {
  if (value instanceof Map) return true;
  if (value === null || typeof value !== "object") return false;
  return !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof Date);
}

function dictEntries(value: Record<string, unknown> | Map<unknown, unknown>): [unknown, unknown][] {
  return value instanceof Map ? [...value.entries()] : Object.entries(value);
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pyFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (value === Number.POSITIVE_INFINITY) return "inf";
  if (value === Number.NEGATIVE_INFINITY) return "-inf";
  if (Object.is(value, -0)) return "-0.0";
  const [mantissa = "0", exponentText = "0"] = value.toExponential().split("e");
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace(/^-/, "").replace(".", "");
  const sign = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exponent < 0 ? "-" : "+";
    return `${sign}${body}e${expSign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const intPart = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${intPart}.${fraction || "0"}`;
}

/** A number as Python shows it: integral numbers as ints, others as floats. */
export function pyNumber(value: number): string {
  if (Number.isInteger(value)) {
    return Math.abs(value) < 1e21 ? String(value) : BigInt(value).toString();
  }
  return pyFloat(value);
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's `repr(str)`. */
export function pyStr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch !== " " && NON_PRINTABLE.test(ch)) {
      if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, "0")}`;
      else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, "0")}`;
      else out += `\\U${code.toString(16).padStart(8, "0")}`;
    } else out += ch;
  }
  return out + quote;
}

/** Python's `repr(bytes)`. */
export function pyBytes(bytes: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const b of bytes) {
    if (b === 0x27) hasSingle = true;
    else if (b === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let out = `b${quote}`;
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (b === 0x09) out += "\\t";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

function dictKeyRepr(key: unknown): string {
  // Object keys are strings; a Map may carry other key types.
  return pyRepr(key);
}

function sortedEntries(value: Record<string, unknown> | Map<unknown, unknown>): [unknown, unknown][] {
  const entries = dictEntries(value);
  // pprint sorts keys; mixed types fall back to (type name, value) like Python's _safe_key.
  return entries.sort(([a], [b]) => {
    const ta = typeof a;
    const tb = typeof b;
    if (ta !== tb) return ta < tb ? -1 : 1;
    if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
    if (typeof a === "number" && typeof b === "number") return a - b;
    const sa = String(a);
    const sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  });
}

/**
 * Python's repr of a decoded value as pprint renders it on one line (dict keys sorted):
 * None, True/False, ints, floats, 'str', b'bytes', [lists], {dicts}.
 */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return pyNumber(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return pyStr(value);
  if (isBytes(value)) return pyBytes(value);
  if (value instanceof Date) return pyStr(value.toISOString());
  if (Array.isArray(value) || isTypedList(value)) {
    return `[${Array.from(value as ArrayLike<unknown>, (item) => pyRepr(item)).join(", ")}]`;
  }
  if (isDict(value)) {
    return `{${sortedEntries(value)
      .map(([k, v]) => `${dictKeyRepr(k)}: ${pyRepr(v)}`)
      .join(", ")}}`;
  }
  return pyStr(String(value));
}

/** Python's `pprint.pformat(value)` (width 80, indent 1, sorted dicts), without a newline. */
export function pformat(value: unknown): string {
  const out: string[] = [];
  format(value, out, 0, 0, 0);
  return out.join("");
}

function format(value: unknown, out: string[], indent: number, allowance: number, level: number): void {
  const rep = pyRepr(value);
  const maxWidth = WIDTH - indent - allowance;
  if (codePoints(rep) > maxWidth) {
    if (Array.isArray(value) || isTypedList(value)) {
      out.push("[");
      formatItems(Array.from(value as ArrayLike<unknown>), out, indent, allowance + 1, level + 1);
      out.push("]");
      return;
    }
    if (isDict(value)) {
      out.push("{");
      const entries = sortedEntries(value);
      if (entries.length > 0) formatDictItems(entries, out, indent, allowance + 1, level + 1);
      out.push("}");
      return;
    }
    if (typeof value === "string") {
      formatStr(value, out, indent, allowance, level + 1);
      return;
    }
  }
  out.push(rep);
}

function formatDictItems(
  entries: [unknown, unknown][],
  out: string[],
  indent: number,
  allowance: number,
  level: number,
) {
  indent += 1;
  const delimiter = `,\n${" ".repeat(indent)}`;
  const last = entries.length - 1;
  entries.forEach(([key, value], i) => {
    const rep = dictKeyRepr(key);
    out.push(rep, ": ");
    format(value, out, indent + codePoints(rep) + 2, i === last ? allowance : 1, level);
    if (i !== last) out.push(delimiter);
  });
}

function formatItems(items: unknown[], out: string[], indent: number, allowance: number, level: number) {
  indent += 1;
  const delimiter = `,\n${" ".repeat(indent)}`;
  items.forEach((item, i) => {
    if (i > 0) out.push(delimiter);
    format(item, out, indent, i === items.length - 1 ? allowance : 1, level);
  });
}

function formatStr(text: string, out: string[], indent: number, allowance: number, level: number) {
  if (text.length === 0) {
    out.push(pyStr(text));
    return;
  }
  const chunks: string[] = [];
  const lines = text.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g) ?? [text];
  if (level === 1) {
    indent += 1;
    allowance += 1;
  }
  const maxWidth = WIDTH - indent;
  let maxWidth1 = maxWidth;
  let rep = "";
  lines.forEach((line, i) => {
    rep = pyStr(line);
    const lastLine = i === lines.length - 1;
    if (lastLine) maxWidth1 -= allowance;
    if (codePoints(rep) <= maxWidth1) {
      chunks.push(rep);
      return;
    }
    const parts = line.match(/\S*\s*/g)?.filter((p) => p.length > 0) ?? [line];
    let maxWidth2 = maxWidth;
    let current = "";
    parts.forEach((part, j) => {
      const candidate = current + part;
      if (j === parts.length - 1 && lastLine) maxWidth2 -= allowance;
      if (codePoints(pyStr(candidate)) > maxWidth2) {
        if (current) chunks.push(pyStr(current));
        current = part;
      } else current = candidate;
    });
    if (current) chunks.push(pyStr(current));
  });
  if (chunks.length === 1) {
    out.push(rep);
    return;
  }
  if (level === 1) out.push("(");
  chunks.forEach((chunk, i) => {
    if (i > 0) out.push(`\n${" ".repeat(indent)}`);
    out.push(chunk);
  });
  if (level === 1) out.push(")");
}

function jsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ch = text[i] as string;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Python's `json.dumps(value)` with default options: `", "`/`": "` separators, non-ASCII escaped,
 * NaN/Infinity as bare words, keys in received order. Bytes (which Python's json cannot encode)
 * are written as a string of their UTF-8 decoding.
 */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (value === Number.POSITIVE_INFINITY) return "Infinity";
    if (value === Number.NEGATIVE_INFINITY) return "-Infinity";
    return pyNumber(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return jsonString(value);
  if (isBytes(value)) return jsonString(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"));
  if (value instanceof Date) return jsonString(value.toISOString());
  if (Array.isArray(value) || isTypedList(value)) {
    return `[${Array.from(value as ArrayLike<unknown>, (item) => pyJson(item)).join(", ")}]`;
  }
  if (isDict(value)) {
    const entries: Entries = dictEntries(value).map(([k, v]) => [
      typeof k === "string" ? k : isBytes(k) ? Buffer.from(k).toString("utf8") : pyJson(k),
      v,
    ]);
    return `{${entries.map(([k, v]) => `${jsonString(k)}: ${pyJson(v)}`).join(", ")}}`;
  }
  return jsonString(String(value));
}

/** Python's `str(value)`: strings as they are, everything else as its repr. */
export function pyStrOf(value: unknown): string {
  return typeof value === "string" ? value : pyRepr(value);
}
