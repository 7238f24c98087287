/**
 * What `zerokit rpc --server` exposes, told plainly: where it really listens (a wildcard bind is
 * every interface, though clients here connect through loopback), whether that is reachable from
 * other machines, and whether the served functions can run commands or write files.
 */
import { isBuiltin } from "node:module";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../core/endpoint.js";
import type { StartServerSecurity } from "../state/security.js";

const WILDCARD_HOSTS = new Set(["0.0.0.0", "*", "[::]"]);

/**
 * The address a bind really listens on: the requested one with the port that was chosen. For a
 * wildcard host (`tcp://0:1234`, `tcp://*:1234`) this is every interface, while the connectable
 * address the server reports is loopback.
 *
 * @example listeningAddress("tcp://0:*", "tcp://127.0.0.1:41234") // "tcp://0.0.0.0:41234"
 */
export function listeningAddress(requested: string, connectable: string): string {
  const want = parseEndpoint(requested, "bind");
  const got = parseEndpoint(connectable);
  if (want.transport === "tcp" && got.transport === "tcp" && WILDCARD_HOSTS.has(want.host)) {
    return formatEndpoint({ ...want, port: got.port });
  }
  return connectable;
}

/** Whether a tcp host accepts connections from this machine only. */
function isLoopbackHost(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "localhost" || host === "[::1]";
}

/**
 * Whether other machines may reach `endpoint` once bound: tcp on anything but loopback (ipc and
 * inproc stay on this machine).
 */
export function reachableFromOtherMachines(endpoint: string): boolean {
  const parsed: Endpoint = parseEndpoint(endpoint, "bind");
  return parsed.transport === "tcp" && !isLoopbackHost(parsed.host);
}

/**
 * Node built-ins whose functions run commands or code, write files, or change the process: a
 * client of a service that exposes any of them controls the machine as the server's user.
 */
export const DANGEROUS_BUILTINS = [
  "child_process",
  "cluster",
  "fs",
  "fs/promises",
  "inspector",
  "module",
  "process",
  "repl",
  "v8",
  "vm",
  "worker_threads",
] as const;

let dangerous: Map<Function, string> | undefined;

/** Every function of the dangerous built-ins, with the module it comes from. */
async function dangerousFunctions(): Promise<Map<Function, string>> {
  if (!dangerous) {
    const found = new Map<Function, string>();
    for (const name of DANGEROUS_BUILTINS) {
      if (!isBuiltin(name)) continue;
      const ns = (await import(`node:${name}`)) as Record<string, unknown>;
      for (const source of [ns, ns.default]) {
        if (source === null || (typeof source !== "object" && typeof source !== "function")) continue;
        for (const key of Object.getOwnPropertyNames(source)) {
          const value = (source as Record<string, unknown>)[key];
          if (typeof value === "function" && !found.has(value)) found.set(value, name);
        }
      }
    }
    dangerous = found;
  }
  return dangerous;
}

/**
 * The served methods that are functions of {@link DANGEROUS_BUILTINS} (served directly, or
 * re-exported by another module), as `method` → built-in module name.
 */
export async function dangerousMethods(target: object, methods: readonly string[]): Promise<Map<string, string>> {
  const known = await dangerousFunctions();
  const out = new Map<string, string>();
  for (const method of methods) {
    let value: unknown;
    try {
      value = (target as Record<string, unknown>)[method];
    } catch {
      continue; // a getter that throws serves nothing we can judge
    }
    const from = typeof value === "function" ? known.get(value) : undefined;
    if (from !== undefined) out.set(method, from);
  }
  return out;
}

/** One warning line for {@link dangerousMethods}' result, or `undefined` when there is none. */
export function dangerWarning(spec: string, found: ReadonlyMap<string, string>): string | undefined {
  if (found.size === 0) return undefined;
  const modules = [...new Set(found.values())].map((name) => `node:${name}`).join(", ");
  const names = [...found.keys()];
  const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? `, … (${names.length} in all)` : "");
  return `warning: "${spec}" serves functions of ${modules} (${shown}): anyone who can connect can run commands, write files or change this process as your user`;
}

/**
 * The warning for a bind other machines can reach (said before binding), or undefined: without
 * security anyone who connects is served; with `--allow any` anyone is, encrypted.
 */
export function exposureWarning(endpoint: string, security: StartServerSecurity | undefined): string | undefined {
  if (!reachableFromOtherMachines(endpoint)) return undefined;
  if (security === undefined)
    return `warning: ${endpoint} is reachable from other machines without authentication: anyone who can connect is served (use --curve-secret and --allow)`;
  // A running Authenticator has no public `curve`: only a policy can say "any".
  const auth = security.authenticator as { curve?: unknown } | undefined;
  if (auth?.curve === "any")
    return `warning: ${endpoint} is reachable from other machines and --allow any lets every client that can connect in (encrypted, not authenticated)`;
  return undefined;
}
