/**
 * Finds what `zerokit rpc --server <module>` serves. A name resolves like an import from the
 * current directory: a Node built-in (`os`, `node:path`), then a package, then a file (`service`
 * finds `./service.ts`, `.js`, `.mjs`...). Paths (`./service.ts`, `/abs/x.mjs`) load directly;
 * TypeScript loads through tsx. `module:export` picks an export; a Python-style `module.attr`
 * works when no module has the dotted name.
 *
 * tsx is an optional peer dependency: it is imported only when a TypeScript file is served, so
 * serving `os`, a package or a `.js` file needs nothing beyond zerokit's own dependencies.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
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

/**
 * Where tsx's ESM API is imported from. The environment variable is a seam for the test of the
 * "tsx is missing" message (a name that does not resolve stands for an install without tsx).
 */
function tsxApiSpecifier(): string {
  return process.env.ZEROKIT_TSX_API || "tsx/esm/api";
}

/** tsx in its own namespace: loads .ts without a global hook. Imported on first use only. */
async function tsxImport(file: string): Promise<ScopedImport> {
  if (!scopedImport) {
    let api: typeof import("tsx/esm/api");
    try {
      api = (await import(tsxApiSpecifier())) as typeof import("tsx/esm/api");
    } catch (error) {
      const code = (error as { code?: string })?.code;
      if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") throw error;
      throw new LoadError(
        `cannot load ${basename(file)}: serving TypeScript needs tsx, which is not installed (npm install --save-dev tsx), or serve the compiled .js`,
      );
    }
    scopedImport = api.register({ namespace: `zerokit-cli-${process.pid}` }).import as ScopedImport;
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

async function importFile(path: string, cwd: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  const ext = extname(path);
  if (!EXTENSIONS.includes(ext)) {
    throw new LoadError(`cannot serve ${path}: not a module (expected ${EXTENSIONS.join(", ")})`);
  }
  if (ext === ".ts" || ext === ".mts" || ext === ".cts") {
    const load = await tsxImport(path);
    return load(url, pathToFileURL(`${cwd}/`).href);
  }
  return (await import(url)) as Record<string, unknown>;
}

// Node's conditions for an ESM import, in the package's own order of preference.
const CONDITIONS = new Set(["node", "import", "default"]);

function exportTarget(value: unknown): string | null | undefined {
  if (typeof value === "string" || value === null) return value;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = exportTarget(item);
      if (typeof found === "string") return found;
    }
    return undefined;
  }
  if (typeof value === "object") {
    for (const [condition, item] of Object.entries(value)) {
      if (!CONDITIONS.has(condition)) continue;
      const found = exportTarget(item);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The file `subpath` (`.` or `./x`) of a package maps to, by its `exports` or `main`. */
function packageFile(dir: string, manifest: { exports?: unknown; main?: unknown }, spec: string, subpath: string) {
  const { exports } = manifest;
  if (exports === undefined || exports === null) {
    const main = subpath === "." ? (typeof manifest.main === "string" ? manifest.main : "index") : subpath;
    return findFile(resolve(dir, main));
  }
  const isMap =
    typeof exports === "object" && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith("."));
  const map = new Map<string, unknown>(isMap ? Object.entries(exports as object) : [[".", exports]]);
  let target = map.has(subpath) ? exportTarget(map.get(subpath)) : undefined;
  if (!map.has(subpath)) {
    for (const [key, value] of map) {
      const star = key.indexOf("*");
      if (star < 0) continue;
      const [prefix, suffix] = [key.slice(0, star), key.slice(star + 1)];
      if (subpath.length < key.length - 1 || !subpath.startsWith(prefix) || !subpath.endsWith(suffix)) continue;
      const found = exportTarget(value);
      if (typeof found === "string") {
        target = found.replaceAll("*", subpath.slice(prefix.length, subpath.length - suffix.length));
        break;
      }
    }
  }
  if (typeof target !== "string") throw new LoadError(`package "${spec}" does not export "${subpath}" for import`);
  return resolve(dir, target);
}

/**
 * Resolves a package name (`pkg`, `@scope/pkg`, `pkg/sub`) from `cwd` the way an `import` in a
 * file there would: up the node_modules directories, then the manifest's exports.
 */
function resolvePackage(spec: string, cwd: string): string | undefined {
  const match = /^((?:@[^/]+\/)?[^/@][^/]*)(\/.*)?$/.exec(spec);
  if (!match) return undefined;
  const name = match[1] as string;
  const rest = match[2];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const packageDir = join(dir, "node_modules", name);
    const manifestPath = join(packageDir, "package.json");
    if (existsSync(manifestPath)) {
      let manifest: { exports?: unknown; main?: unknown };
      try {
        manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as typeof manifest;
      } catch (error) {
        throw new LoadError(`cannot read ${manifestPath}: ${(error as Error).message}`);
      }
      return packageFile(packageDir, manifest, spec, rest === undefined ? "." : `.${rest}`);
    }
    if (dirname(dir) === dir) return undefined;
  }
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
  const entry = resolvePackage(name, cwd);
  if (entry !== undefined) return importFile(entry, cwd);
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
