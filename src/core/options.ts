/**
 * Option checking for every public constructor and call: each class validates its options in
 * one place with these checkers, which throw an {@link InvalidArgumentError} (code `EINVAL`)
 * naming the option, the value and what is allowed. An `undefined` value means "not given" and
 * passes every checker, so defaults stay with the class.
 */
import { InvalidArgumentError } from "./errors.js";

/** Fails unless `value` is an object (or undefined). Unknown keys are not checked. */
export function checkObject(name: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidArgumentError(name, value, "an options object");
  }
}

/** A finite number in `[min, max]`; `integer` also requires a whole number. */
export function checkNumber(
  name: string,
  value: unknown,
  range: { min?: number; max?: number; integer?: boolean; orInfinity?: boolean } = {},
): void {
  if (value === undefined) return;
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY, integer = false, orInfinity = false } = range;
  const ok =
    typeof value === "number" &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (orInfinity && value === Number.POSITIVE_INFINITY)) &&
    (!integer || Number.isInteger(value) || value === Number.POSITIVE_INFINITY) &&
    value >= min &&
    value <= max;
  if (!ok) throw new InvalidArgumentError(name, value, describeRange(range));
}

/** A duration in milliseconds: a finite number > 0 (or ≥ 0 with `allowZero`), or Infinity with `orInfinity`. */
export function checkDuration(
  name: string,
  value: unknown,
  opts: { allowZero?: boolean; orInfinity?: boolean } = {},
): void {
  if (value === undefined) return;
  const ok =
    typeof value === "number" &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (opts.orInfinity === true && value === Number.POSITIVE_INFINITY)) &&
    (opts.allowZero ? value >= 0 : value > 0);
  if (!ok) {
    const base = opts.allowZero ? "a number of milliseconds ≥ 0" : "a number of milliseconds > 0";
    throw new InvalidArgumentError(name, value, opts.orInfinity ? `${base}, or Infinity` : base);
  }
}

/** A boolean. */
export function checkBoolean(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "boolean") throw new InvalidArgumentError(name, value, "true or false");
}

/** A string; `nonEmpty` rejects "". */
export function checkString(name: string, value: unknown, opts: { nonEmpty?: boolean } = {}): void {
  if (value === undefined) return;
  if (typeof value !== "string" || (opts.nonEmpty === true && value.length === 0)) {
    throw new InvalidArgumentError(name, value, opts.nonEmpty ? "a non-empty string" : "a string");
  }
}

/** One of a fixed set of values. */
export function checkOneOf<T>(name: string, value: unknown, allowed: readonly T[]): void {
  if (value === undefined) return;
  if (!allowed.includes(value as T)) {
    throw new InvalidArgumentError(name, value, `one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}`);
  }
}

/** A function. */
export function checkFunction(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "function") throw new InvalidArgumentError(name, value, "a function");
}

/** An AbortSignal. */
export function checkSignal(name: string, value: unknown): void {
  if (value === undefined) return;
  if (!(value instanceof AbortSignal)) throw new InvalidArgumentError(name, value, "an AbortSignal");
}

function describeRange(range: { min?: number; max?: number; integer?: boolean; orInfinity?: boolean }): string {
  const kind = range.integer ? "an integer" : "a finite number";
  const parts: string[] = [];
  if (range.min !== undefined) parts.push(`≥ ${range.min}`);
  if (range.max !== undefined) parts.push(`≤ ${range.max}`);
  const text = parts.length > 0 ? `${kind} ${parts.join(" and ")}` : kind;
  return range.orInfinity ? `${text}, or Infinity` : text;
}

/** The longest group name, bytes: a ZRE string's, and libzmq's ZMQ_GROUP_MAX_LENGTH for RADIO/DISH. */
export const MAX_GROUP = 255;

/**
 * A group name, for ZRE groups and RADIO/DISH groups alike: a non-empty string of at most
 * {@link MAX_GROUP} UTF-8 bytes. Undefined passes (an option not given) unless `required`.
 */
export function checkGroup(name: string, group: unknown, required = false): void {
  if (group === undefined) {
    if (required) throw new InvalidArgumentError(name, group, "a group name");
    return;
  }
  checkString(name, group, { nonEmpty: true });
  if (Buffer.byteLength(group as string, "utf8") > MAX_GROUP) {
    throw new InvalidArgumentError(name, group, `a group name of at most ${MAX_GROUP} UTF-8 bytes`);
  }
}
