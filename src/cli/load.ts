/**
 * Finds what `zerokit rpc --server <module>` serves. A name resolves like an import from the
 * current directory: a Node built-in (`os`, `node:path`), then a package, then a file (`service`
 * finds `./service.ts`, `.js`, `.mjs`...). Paths (`./service.ts`, `/abs/x.mjs`) load directly;
 * TypeScript loads through tsx. `module:export` picks an export; a Python-style `module.attr`
 * works when no module has the dotted name.
 */
import { existsSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { basename, extname, isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** A module or export that could not be found or served; the CLI exits with status 2. */
export class LoadError extends Error {
  override name = "LoadError";
}

/** What to serve, and the service name to announce. */
export interface Loaded {
  target: object;
  name: string;
}

const EXTENSIONS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"];

type ScopedImport = (specifier: string, parent: string) => Promise<Record<string, unknown>>;
let scopedImport: ScopedImport | undefined;

/** tsx in its own namespace: resolves from any parent URL and loads .ts, without a global hook. */
async function tsxImport(): Promise<ScopedImport> {
  if (!scopedImport) {
    const { register } = await import("tsx/esm/api");
    const api = register({ namespace: `zerokit-cli-${process.pid}` });
    scopedImport = api.import as ScopedImport;
  }
  return scopedImport;
}

/** Splits `module:export` (but not `node:os`, or a Windows drive letter). */
export function splitSpec(spec: string): { module: string; exportName: string | undefined } {
  const colon = spec.lastIndexOf(":");
  if (colon > 0) {
    const left = spec.slice(0, colon);
    const right = spec.slice(colon + 1);
    const isScheme = left === "node" || left === "file" || /^[A-Za-z]$/.test(left);
    if (!isScheme && /^[A-Za-z_$][\w$]*$/.test(right)) return { module: left, exportName: right };
  }
  return { module: spec, exportName: undefined };
}

function looksLikePath(name: string): boolean {
  return (
    name.startsWith("./") ||
    name.startsWith("../") ||
    name === "." ||
    name === ".." ||
    isAbsolute(name) ||
    name.startsWith("file:") ||
    name.startsWith(".\\") ||
    name.startsWith("..\\")
  );
}

function findFile(base: string): string | undefined {
  const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
  if (isFile(base)) return base;
  for (const ext of EXTENSIONS) if (isFile(base + ext)) return base + ext;
  for (const ext of EXTENSIONS) if (isFile(resolve(base, `index${ext}`))) return resolve(base, `index${ext}`);
  return undefined;
}

function isNotFound(error: unknown, parentDir: string): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code !== "ERR_MODULE_NOT_FOUND" && e?.code !== "MODULE_NOT_FOUND") return false;
  const message = String(e.message ?? "");
  const dir = parentDir.endsWith("/") ? parentDir : `${parentDir}/`;
  // "Cannot find package 'x' imported from /cwd/": our own lookup failed, not a nested import.
  return message.includes(`imported from ${dir}`) || message.trimEnd().endsWith(`imported from ${parentDir}`);
}

async function importFile(path: string, cwd: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  const ext = extname(path);
  if (ext === ".js" || ext === ".mjs" || ext === ".cjs") return (await import(url)) as Record<string, unknown>;
  const load = await tsxImport();
  return load(url, pathToFileURL(`${cwd}/`).href);
}

/** Imports a module by name from `cwd`; `undefined` when nothing by that name exists. */
async function importModule(name: string, cwd: string): Promise<Record<string, unknown> | undefined> {
  if (name.startsWith("node:") || isBuiltin(name)) {
    const builtin = name.startsWith("node:") ? name : `node:${name}`;
    if (!isBuiltin(builtin)) return undefined;
    return (await import(builtin)) as Record<string, unknown>;
  }
  if (looksLikePath(name)) {
    const path = name.startsWith("file:") ? fileURLToPath(name) : resolve(cwd, name);
    const file = findFile(path);
    return file ? importFile(file, cwd) : undefined;
  }
  // A package, resolved from the current directory (its "import" conditions apply).
  const load = await tsxImport();
  try {
    return await load(name, pathToFileURL(`${cwd}/`).href);
  } catch (error) {
    if (!isNotFound(error, cwd)) throw error;
  }
  // A file in the current directory, like Python importing from sys.path[0].
  const file = findFile(resolve(cwd, name));
  return file ? importFile(file, cwd) : undefined;
}

function isClass(value: unknown): value is new () => object {
  return typeof value === "function" && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

function exportNames(ns: Record<string, unknown>): string {
  const names = Object.keys(ns).filter((k) => k !== "default");
  return names.length > 0 ? names.join(", ") : "none";
}

/**
 * Loads `spec` and returns the object to serve.
 * @throws {LoadError} when the module or export does not exist or is not servable.
 */
export async function loadService(spec: string, cwd = process.cwd()): Promise<Loaded> {
  let { module, exportName } = splitSpec(spec);
  let ns = await importModule(module, cwd);
  if (!ns && exportName === undefined && !looksLikePath(module)) {
    // Python's `module.attr` form (e.g. `path.posix`).
    const dot = module.lastIndexOf(".");
    if (dot > 0) {
      const attr = module.slice(dot + 1);
      if (/^[A-Za-z_$][\w$]*$/.test(attr)) {
        ns = await importModule(module.slice(0, dot), cwd);
        if (ns) {
          exportName = attr;
          module = module.slice(0, dot);
        }
      }
    }
  }
  if (!ns) {
    const where = looksLikePath(module)
      ? `no file ${resolve(cwd, module)}[${EXTENSIONS.join("|")}]`
      : `not a Node built-in, a package installed for ${cwd}, or a file ./${module}[${EXTENSIONS.join("|")}]`;
    throw new LoadError(`cannot find module "${module}": ${where}`);
  }

  let target: unknown;
  let chosen: unknown;
  if (exportName !== undefined) {
    chosen = ns[exportName];
    const fallback = ns.default as Record<string, unknown> | undefined;
    if (chosen === undefined && fallback !== null && typeof fallback === "object") chosen = fallback[exportName];
    if (chosen === undefined) {
      throw new LoadError(`module "${module}" has no export "${exportName}" (exports: ${exportNames(ns)})`);
    }
    if (isClass(chosen)) target = new chosen();
    else if (typeof chosen === "function")
      target = await (chosen as () => unknown)(); // a factory, like Python
    else target = chosen;
  } else {
    chosen = ns.default;
    if (isClass(chosen)) target = new chosen();
    else if (chosen !== null && typeof chosen === "object") target = chosen;
    else target = ns;
  }
  if (target === null || (typeof target !== "object" && typeof target !== "function")) {
    throw new LoadError(
      `"${spec}" gives ${target === null ? "null" : typeof target}, not an object whose functions can be served`,
    );
  }
  return { target: target as object, name: serviceName(target as object, module, exportName) };
}

function serviceName(target: object, module: string, exportName: string | undefined): string {
  const own = (target as { name?: unknown }).name;
  if (typeof own === "string" && own.length > 0 && typeof target !== "function") return own;
  const ctor = Object.getPrototypeOf(target)?.constructor as { name?: unknown } | undefined;
  if (ctor && ctor !== Object && typeof ctor.name === "string" && ctor.name.length > 0) return ctor.name;
  if (exportName) return exportName;
  const base = basename(module.replace(/^node:/, "").replace(/\/+$/, ""));
  const ext = extname(base);
  return EXTENSIONS.includes(ext) ? base.slice(0, -ext.length) : base;
}
