/**
 * Entry of a worker process started by `Context.spawn`, `Context.map` or a `WorkerPool`. It runs
 * the chosen export with a State on the context's server, and reports results and errors over
 * IPC (advanced serialization: Map, Set, BigInt, typed arrays, Date survive). It exits when the
 * parent goes away, so workers are never orphaned.
 *
 * It listens before it loads anything and says "boot" at once. A spawned task's State client
 * (and zeromq with it) loads in parallel with the user's module. A pool worker loads the client
 * only once a chunk's function may take it: a map function that declares one parameter
 * (`(item) => …`) cannot use the State, and that import is about half of a worker's start-up
 * CPU (85 of 180 ms here), which a cold map of small tasks pays once per worker.
 */
import type { ClientSecurity } from "../core/security/index.js";
import type { State } from "./client.js";
import { packNumbers } from "./numbers.js";

interface Setup {
  address: string;
  namespace: string;
  /** The context's client security (advanced serialization carries its keys as bytes or text). */
  security: ClientSecurity | undefined;
}
interface Task {
  moduleUrl: string;
  exportName: string;
}
type Command =
  | { type: "run"; setup: Setup & Task; args: unknown[] }
  | { type: "pool"; setup: Setup }
  | { type: "chunk"; map: number; id: number; task: Task; items: unknown[] | Float64Array };

// biome-ignore lint/suspicious/noExplicitAny: user functions take anything.
type UserFn = (...args: any[]) => unknown;

process.on("disconnect", () => process.exit(1));

let setup: Setup | undefined;
let state: Promise<State> | undefined;
/** Loaded functions by module and export, so a warm pool loads each once. */
const functions = new Map<string, Promise<UserFn>>();

function errorOf(error: unknown): { name: string; message: string; stack: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack ?? "" };
  return { name: "Error", message: String(error), stack: "" };
}

/** The worker's State on `setup`, connected on first need (one for every task of the worker). */
function shared(): Promise<State> {
  if (!state) {
    const { address, namespace, security } = setup as Setup;
    state = import("./client.js").then(
      ({ State }) => new State(address, { namespace, ...(security ? { security } : {}) }),
    );
    state.catch(() => undefined); // reported by the first task that needs it
  }
  return state;
}

function load(task: Task): Promise<UserFn> {
  const key = `${task.exportName}\n${task.moduleUrl}`;
  let fn = functions.get(key);
  if (!fn) {
    fn = import(task.moduleUrl).then((module: Record<string, unknown>) => {
      const value = module[task.exportName];
      if (typeof value !== "function")
        throw new TypeError(`${task.moduleUrl} has no function export ${JSON.stringify(task.exportName)}`);
      return value as UserFn;
    });
    fn.catch(() => undefined); // reported by every chunk that needs it
    functions.set(key, fn);
  }
  return fn;
}

/** Applies `fn` to each item; awaits only results that are promises, so a plain function costs no microtask per item. */
async function apply(fn: UserFn, items: ArrayLike<unknown>, state: State | undefined): Promise<unknown[]> {
  const results = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    let value = fn(items[i], state);
    if (value !== null && typeof (value as { then?: unknown })?.then === "function") value = await value;
    results[i] = value;
  }
  return results;
}

process.on("message", async (command: Command) => {
  try {
    if (command.type === "run") {
      setup = command.setup;
      const [fn, state] = await Promise.all([load(command.setup), shared()]);
      const value = await fn(state, ...command.args);
      process.send?.({ type: "result", value }, () => {
        state.close();
        process.exit(0);
      });
    } else if (command.type === "pool") {
      setup = command.setup;
    } else if (command.type === "chunk") {
      try {
        const fn = await load(command.task);
        // Only a function of exactly one declared parameter goes without: `(item, state)`, `(...args)`
        // and `function () { … arguments … }` (length 2, 0, 0) get a State.
        const state = fn.length === 1 ? undefined : await shared();
        const results = await apply(fn, command.items, state);
        process.send?.({ type: "chunk", map: command.map, id: command.id, results: packNumbers(results) });
      } catch (error) {
        process.send?.({ type: "chunkError", map: command.map, id: command.id, error: errorOf(error) });
      }
    }
  } catch (error) {
    process.send?.({ type: "error", error: errorOf(error) }, () => process.exit(1));
  }
});
// A parent that is already gone (it gave up, or its map ended) makes this send fail: just go.
process.send?.({ type: "boot" }, (error: Error | null) => {
  if (error) process.exit(1);
});
