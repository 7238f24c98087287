/**
 * Entry of a worker process started by `Context.spawn` or `Context.map`. It imports the user's
 * module, runs the chosen export with a State on the context's server, and reports results and
 * errors over IPC (advanced serialization: Map, Set, BigInt, typed arrays, Date survive). It exits
 * when the parent goes away, so workers are never orphaned.
 */
import type { ClientSecurity } from "../core/security/index.js";
import { State } from "./client.js";

interface Setup {
  address: string;
  namespace: string;
  moduleUrl: string;
  exportName: string;
  /** The context's client security (advanced serialization carries its keys as bytes or text). */
  security: ClientSecurity | undefined;
}
type Command =
  | { type: "run"; setup: Setup; args: unknown[] }
  | { type: "pool"; setup: Setup }
  | { type: "chunk"; id: number; items: unknown[] };

// biome-ignore lint/suspicious/noExplicitAny: user functions take anything.
type UserFn = (...args: any[]) => unknown;

process.on("disconnect", () => process.exit(1));

let state: State | undefined;
let pooled: UserFn | undefined;

function errorOf(error: unknown): { name: string; message: string; stack: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack ?? "" };
  return { name: "Error", message: String(error), stack: "" };
}

async function load(setup: Setup): Promise<UserFn> {
  const module = (await import(setup.moduleUrl)) as Record<string, unknown>;
  const fn = module[setup.exportName];
  if (typeof fn !== "function")
    throw new TypeError(`${setup.moduleUrl} has no function export ${JSON.stringify(setup.exportName)}`);
  state = new State(setup.address, {
    namespace: setup.namespace,
    ...(setup.security ? { security: setup.security } : {}),
  });
  return fn as UserFn;
}

process.on("message", async (command: Command) => {
  try {
    if (command.type === "run") {
      const fn = await load(command.setup);
      const value = await fn(state, ...command.args);
      process.send?.({ type: "result", value }, () => {
        state?.close();
        process.exit(0);
      });
    } else if (command.type === "pool") {
      pooled = await load(command.setup);
      process.send?.({ type: "ready" });
    } else if (command.type === "chunk" && pooled) {
      const fn = pooled;
      try {
        const results: unknown[] = [];
        for (const item of command.items) results.push(await fn(item, state));
        process.send?.({ type: "chunk", id: command.id, results });
      } catch (error) {
        process.send?.({ type: "chunkError", id: command.id, error: errorOf(error) });
      }
    }
  } catch (error) {
    process.send?.({ type: "error", error: errorOf(error) }, () => process.exit(1));
  }
});
process.send?.({ type: "boot" });
