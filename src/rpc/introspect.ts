/**
 * What a server exposes: the public callables of an object, class instance, module namespace or
 * map of functions, with argument names, defaults and docs for zerorpc's introspection calls.
 */

import { AsyncResource } from "node:async_hooks";
import { EventEmitter, EventEmitterAsyncResource } from "node:events";
import { Duplex, Readable, Stream, Transform, Writable } from "node:stream";
import { InvalidArgumentError } from "../core/errors.js";

// biome-ignore lint/suspicious/noExplicitAny: exposed methods take and return anything.
export type AnyFunction = (...args: any[]) => unknown;

/** Argument description, as `_zerorpc_inspect` reports it. */
export interface ArgInfo {
  name: string;
  default?: unknown;
}

/** One exposed method. */
export interface MethodInfo {
  name: string;
  fn: AnyFunction;
  args: ArgInfo[];
  varargs: string | null;
  doc: string | null;
  /**
   * Whether the function is declared `async` or as a generator, so its body runs on after it
   * returns: only such methods need AsyncLocalStorage to keep their call context (see
   * `ServerOptions.asyncContext`).
   */
  resumes: boolean;
}

const RESUMING_KINDS = new Set(["AsyncFunction", "AsyncGeneratorFunction", "GeneratorFunction"]);

/** True for async functions and (async) generator functions, read from their prototype chain. */
export function resumesAfterReturn(fn: AnyFunction): boolean {
  return RESUMING_KINDS.has(Object.prototype.toString.call(fn).slice(8, -1));
}

const DOC = Symbol.for("zerokit.doc");

/**
 * Attaches documentation to a function for `_zerorpc_help`/`_zerorpc_inspect` (and the CLI's
 * listing). Returns the same function.
 *
 * @example
 * export const add = doc("Return a + b.", (a: number, b: number) => a + b);
 */
export function doc<F extends AnyFunction>(text: string, fn: F): F {
  (fn as unknown as Record<symbol, string>)[DOC] = text;
  return fn;
}

function docOf(fn: AnyFunction): string | null {
  const tagged = (fn as unknown as Record<symbol, unknown>)[DOC];
  if (typeof tagged === "string") return tagged;
  const plain = (fn as unknown as { __doc__?: unknown; doc?: unknown }).__doc__;
  return typeof plain === "string" ? plain : null;
}

/**
 * Prototypes whose methods are never served, with everything above them: Node's library base
 * classes. A class extending EventEmitter must not hand `removeAllListeners` or `emit` to
 * whoever connects. Built-in prototypes (Object, Map, Error...) are recognised by their native
 * constructors instead (see {@link isLibraryPrototype}).
 */
const LIBRARY_PROTOTYPES = new Set<object>([
  EventEmitter.prototype,
  EventEmitterAsyncResource.prototype,
  Stream.prototype,
  Readable.prototype,
  Writable.prototype,
  Duplex.prototype,
  Transform.prototype,
  EventTarget.prototype,
  AsyncResource.prototype,
]);

/** True for a prototype that belongs to Node or the language, not to the served code. */
function isLibraryPrototype(proto: object): boolean {
  if (proto === Object.prototype || proto === Function.prototype || LIBRARY_PROTOTYPES.has(proto)) return true;
  const ctor = Object.getOwnPropertyDescriptor(proto, "constructor")?.value as unknown;
  if (typeof ctor !== "function") return false;
  try {
    return Function.prototype.toString.call(ctor).endsWith("{ [native code] }");
  } catch {
    return false;
  }
}

/**
 * Collects the methods `target` serves: with `allow`, exactly the named ones (each must be a
 * function of the target, inherited or not); otherwise its own and its classes' callables whose
 * name does not start with `_` (nor `constructor`), stopping at Node's and the language's base
 * classes. Sorted by name, as Python lists them.
 * @throws {InvalidArgumentError} when a name of `allow` is not a function of the target.
 */
export function collectMethods(target: object, allow?: readonly string[]): Map<string, MethodInfo> {
  const names = new Set<string>();
  if (allow) {
    for (const name of allow) names.add(name);
  } else {
    for (let proto: object | null = target; proto && !isLibraryPrototype(proto); proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.getOwnPropertyNames(proto)) names.add(name);
    }
  }
  const methods = new Map<string, MethodInfo>();
  for (const name of [...names].sort()) {
    if (!allow && (name.startsWith("_") || name === "constructor" || name === "default")) continue;
    let value: unknown;
    try {
      value = (target as Record<string, unknown>)[name];
    } catch {
      value = undefined;
    }
    if (typeof value !== "function" || isClass(value)) {
      if (allow) throw new InvalidArgumentError("methods", name, "names of functions of the served object");
      continue;
    }
    const fn = (value as AnyFunction).bind(target) as AnyFunction;
    const { args, varargs } = parseParameters(value as AnyFunction);
    const resumes = resumesAfterReturn(value as AnyFunction);
    methods.set(name, { name, fn, args, varargs, doc: docOf(value as AnyFunction), resumes });
  }
  return methods;
}

function isClass(value: unknown): boolean {
  return typeof value === "function" && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

/** Reads parameter names and literal defaults from a function's source text. */
export function parseParameters(fn: AnyFunction): { args: ArgInfo[]; varargs: string | null } {
  let source: string;
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    return { args: [], varargs: null };
  }
  if (source.includes("[native code]")) return fallbackParameters(fn);
  const list = parameterList(source);
  if (list === undefined) return fallbackParameters(fn);
  const args: ArgInfo[] = [];
  let varargs: string | null = null;
  for (const raw of splitTopLevel(list)) {
    const param = raw.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "").trim();
    if (!param) continue;
    if (param.startsWith("...")) {
      varargs = param.slice(3).trim();
      continue;
    }
    const eq = topLevelIndex(param, "=");
    if (eq < 0) {
      args.push({ name: param });
      continue;
    }
    const name = param.slice(0, eq).trim();
    const defaultText = param.slice(eq + 1).trim();
    const literal = readLiteral(defaultText);
    args.push(literal.ok ? { name, default: literal.value } : { name });
  }
  return { args, varargs };
}

function fallbackParameters(fn: AnyFunction): { args: ArgInfo[]; varargs: string | null } {
  return { args: Array.from({ length: fn.length }, (_, i) => ({ name: `arg${i}` })), varargs: null };
}

/**
 * Walks `text` from `from`, skipping string literals, and calls `visit(char, index, depth)` for
 * every character outside them, with the bracket depth after an opening bracket and before a
 * closing one. Stops early when `visit` returns true; returns the index it stopped at, or -1.
 */
function scan(text: string, from: number, visit: (c: string, i: number, depth: number) => boolean | undefined): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    if (visit(c, i, depth)) return i;
  }
  return -1;
}

/** The text between the parentheses of the parameter list (or the single bare arrow param). */
function parameterList(source: string): string | undefined {
  const arrow = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (arrow) return arrow[1];
  const open = source.indexOf("(");
  if (open < 0) return undefined;
  const close = scan(source, open, (c, _i, depth) => (c === ")" || c === "]" || c === "}") && depth === 0);
  return close < 0 ? undefined : source.slice(open + 1, close);
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  scan(text, 0, (c, i, depth) => {
    if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
    return false;
  });
  parts.push(text.slice(start));
  return parts;
}

function topLevelIndex(text: string, char: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === char && depth === 0 && text[i + 1] !== ">" && text[i + 1] !== "=") return i;
  }
  return -1;
}

function readLiteral(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text === "undefined") return { ok: false };
  if (/^'(?:[^'\\]|\\.)*'$/.test(text)) return { ok: true, value: text.slice(1, -1).replace(/\\(.)/g, "$1") };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The `[args, varargs, varkw, defaults]` tuple of `_zerorpc_args`. */
export function argsTuple(method: MethodInfo): [string[], string | null, null, unknown[] | null] {
  const names = method.args.map((a) => a.name);
  const defaults = method.args.filter((a) => "default" in a).map((a) => a.default);
  return [names, method.varargs, null, defaults.length > 0 ? defaults : null];
}

/** One method's entry in `_zerorpc_inspect`. */
export function inspectEntry(method: MethodInfo): { args: ArgInfo[]; doc: string | null } {
  return {
    args: method.args.map((a) => ("default" in a ? { name: a.name, default: a.default } : { name: a.name })),
    doc: method.doc,
  };
}
