/**
 * JSON text exactly as Python's `json.dumps(value)` writes it with its defaults (what ZIO Python
 * puts in flow labels): `", "` and `": "` separators, and every character outside ASCII escaped
 * as `\uXXXX` (lower-case hex, surrogate pairs as two escapes).
 */

const ESCAPES = new Map<number, string>([
  [0x22, '\\"'],
  [0x5c, "\\\\"],
  [0x0a, "\\n"],
  [0x0d, "\\r"],
  [0x09, "\\t"],
  [0x08, "\\b"],
  [0x0c, "\\f"],
]);

function pyString(text: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code < 0x7f && code !== 0x22 && code !== 0x5c) continue;
    out += text.slice(start, i);
    // Python's ensure_ascii escapes everything from 0x7f on; DEL (0x7f) it leaves as is.
    out += code === 0x7f ? "\x7f" : (ESCAPES.get(code) ?? `\\u${code.toString(16).padStart(4, "0")}`);
    start = i + 1;
  }
  return `${out}${text.slice(start)}"`;
}

function pyNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "Infinity";
  if (value === Number.NEGATIVE_INFINITY) return "-Infinity";
  return String(value);
}

/** `json.dumps(value)` for the JSON values (objects, arrays, strings, numbers, booleans, null). */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pyNumber(value);
  if (typeof value === "bigint") return String(value);
  if (typeof value === "string") return pyString(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pyString(k)}: ${pyJson(v)}`).join(", ")}}`;
}
