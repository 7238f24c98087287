import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { cpus } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { InvalidArgumentError, RemoteError, TimeoutError, ZerokitError } from "../core/errors.js";
import { checkBoolean, checkDuration, checkNumber, checkObject, checkString } from "../core/options.js";
import { Authenticator, type ClientSecurity, publicKeyOf } from "../core/security/index.js";
import { checkStateOptions, State, type StateOptions } from "./client.js";
import { DataDirError, WorkerExitError } from "./errors.js";
import type { RecoveryReport } from "./persistence.js";
import {
  checkMapArguments,
  checkModule,
  type MapResult,
  moduleUrlOf,
  type PoolMapOptions,
  type PoolSetup,
  WorkerPool,
} from "./pool.js";
import { checkStartServerSecurity, fromWire, type StartServerSecurity, toWire } from "./security.js";
import { checkStateServerOptions, StateServer, type StateServerOptions } from "./server.js";

/** A running state server, in this process or its own. */
export interface ServerHandle extends AsyncDisposable {
  /** The address clients should use. */
  readonly address: string;
  /** What recovery from the data directory found. */
  readonly recovery: RecoveryReport | undefined;
  /** The server's process id when it runs in its own process. */
  readonly pid: number | undefined;
  /** Stops the server (gracefully: the log is flushed). */
  stop(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions extends Omit<StateServerOptions, "security"> {
  /**
   * CURVE keys and who may connect. The server runs in its own process, so who may connect is
   * given as the authenticator's policy (`{ curve: { directory } }`, `{ curve: { keys } }`,
   * `{ curve: "any" }`, `allow`/`deny`), which that process turns into its own authenticator.
   */
  security?: StartServerSecurity;
  /** Run the server in this process instead of its own. Default false (ZProc runs it apart). */
  inProcess?: boolean;
  /** How long to wait for the server process to come up, ms. Default 10,000. */
  startTimeout?: number;
}

function checkStartServerOptions(address: unknown, options: unknown): void {
  checkString("address", address, { nonEmpty: true });
  checkObject("options", options);
  const { inProcess, startTimeout, security, ...server } = (options ?? {}) as StartServerOptions;
  checkBoolean("inProcess", inProcess);
  checkDuration("startTimeout", startTimeout);
  checkStartServerSecurity(security, inProcess === true);
  checkStateServerOptions(server);
}

function checkRetry(retry: unknown): void {
  checkObject("retry", retry);
  const r = (retry ?? {}) as Record<string, unknown>;
  checkNumber("retry.maxRetries", r.maxRetries, { min: 0, max: 1_000_000, integer: true });
  checkDuration("retry.delayMs", r.delayMs, { allowZero: true });
  const on = r.on;
  if (on !== undefined && typeof on !== "function" && !(Array.isArray(on) && on.every((n) => typeof n === "string")))
    throw new InvalidArgumentError("retry.on", on, "a list of error names or a predicate function");
}

/** Validates the options of {@link Context.spawn} in one place. */
function checkSpawnOptions(module: unknown, options: unknown): void {
  checkModule(module);
  checkObject("options", options);
  const o = (options ?? {}) as Record<string, unknown>;
  checkString("exportName", o.exportName, { nonEmpty: true });
  if (o.args !== undefined && !Array.isArray(o.args)) throw new InvalidArgumentError("args", o.args, "a list");
  checkNumber("count", o.count, { min: 1, max: 10_000, integer: true });
  checkRetry(o.retry);
  checkString("namespace", o.namespace);
}

/** Validates the options of {@link Context.pool} in one place. */
function checkPoolOptions(options: unknown): void {
  checkObject("options", options);
  checkNumber("workers", (options as PoolOptions | undefined)?.workers, { min: 1, max: 1024, integer: true });
}

/** Worker processes of a map or pool without a count: the CPUs, at least 2, at most 8. */
const defaultWorkers = () => Math.min(8, Math.max(2, cpus().length));

const serverMain = new URL("./server-main.js", import.meta.url);
const workerMain = new URL("./worker-main.js", import.meta.url);
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Every child we start dies with us: an exit hook kills what is left (no orphans). */
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of children) c.kill("SIGKILL");
    });
  }
  return child;
}

/**
 * Starts a state server, by default in its own process (like ZProc), at `address` or the
 * platform default (IPC under the temp dir, else TCP on 127.0.0.1 with an ephemeral port).
 *
 * @example
 * await using server = await startServer("tcp://127.0.0.1:*", { dataDir: "./data", fsync: "always" });
 * const state = new State(server.address);
 */
export async function startServer(address?: string, options: StartServerOptions = {}): Promise<ServerHandle> {
  checkStartServerOptions(address, options);
  const { inProcess, startTimeout = 10_000, security, ...serverOptions } = options;
  if (serverOptions.mutations) serverOptions.mutations = moduleUrlOf(serverOptions.mutations);
  if (inProcess) {
    // A running authenticator is the caller's; one built from a policy is this server's own.
    const given = security?.authenticator instanceof Authenticator ? security.authenticator : undefined;
    const built = given ? { security: undefined, authenticator: undefined } : await fromWire(toWire(security));
    const own = built.authenticator;
    let server: StateServer;
    try {
      server = await StateServer.start(address, {
        ...serverOptions,
        security: given ? { ...security, authenticator: given } : built.security,
      });
    } catch (error) {
      await own?.close();
      throw error;
    }
    const stop = async () => {
      server.close();
      // Settles once the ZAP endpoint is free (see Authenticator.close).
      await own?.close();
    };
    return { address: server.address, recovery: server.recovery, pid: undefined, stop, [Symbol.asyncDispose]: stop };
  }
  const child = track(
    fork(serverMain, [], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
  // Over IPC, not argv: a secret key in argv is readable by every user of the machine.
  child.send({ address, options: serverOptions, security: toWire(security) });
  const ready = (await Promise.race([
    once(child, "message"),
    once(child, "exit").then(([code]) => [
      { error: { name: "Error", message: `the server process exited with code ${code}` } },
    ]),
    delay(startTimeout, undefined, { ref: false }).then(() => [{ timeout: true }]),
  ])) as [
    {
      address?: string;
      recovery?: RecoveryReport;
      error?: { name: string; message: string; file?: string; reason?: string };
      timeout?: boolean;
    },
  ];
  const message = ready[0];
  if (!message.address) {
    child.kill("SIGKILL");
    if (message.timeout)
      throw new TimeoutError(`the state server did not start within ${startTimeout} ms`, startTimeout);
    const error = message.error;
    // The child checked its data dir: give the caller the same typed error it would get in-process.
    if (error?.name === "DataDirError" && error.file !== undefined && error.reason !== undefined)
      throw new DataDirError(error.file, error.reason);
    throw new ZerokitError(`the state server failed to start: ${error?.message}`, "ESTART");
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.send("stop");
    await exited;
  };
  return { address: message.address, recovery: message.recovery, pid: child.pid, stop, [Symbol.asyncDispose]: stop };
}

/** Retry policy of spawned workers. */
export interface RetryOptions {
  /** Extra attempts after the first failure. Default 0. */
  maxRetries?: number;
  /** Wait between attempts, ms. Default 0. */
  delayMs?: number;
  /** Which failures to retry: error names (e.g. `["WorkerExitError"]`) or a predicate. Default: all. */
  on?: string[] | ((error: Error) => boolean);
}

/** Options of {@link Context.spawn}. */
export interface SpawnOptions {
  /** The export to run. Default `"default"`. */
  exportName?: string;
  /** Extra arguments after the State. */
  args?: unknown[];
  /** How many identical workers. Default 1. */
  count?: number;
  retry?: RetryOptions;
  /** The namespace of the State the worker gets. Default: the context's. */
  namespace?: string;
}

/** A spawned worker. */
export interface WorkerHandle<R = unknown> {
  /** The current attempt's process id. */
  readonly pid: number | undefined;
  /** Resolves with the worker's return value; rejects with its exception (a RemoteError with the remote stack) or a WorkerExitError. */
  readonly result: Promise<R>;
  /** Kills the worker (no more retries). */
  stop(): void;
}

/** Options of {@link Context.map}. */
export interface MapOptions extends PoolMapOptions {
  /** Worker processes. Default: the number of CPUs, at least 2, at most 8. */
  workers?: number;
}

/** Options of {@link Context.pool}. */
export interface PoolOptions {
  /** Worker processes. Default: the number of CPUs, at least 2, at most 8. */
  workers?: number;
}

/** Options of a {@link Context}. */
export interface ContextOptions extends StateOptions {
  /** Options of the server a context without an address starts. */
  server?: StartServerOptions;
}

/**
 * ZProc's Context: a state server (started at a random address, or an existing one at a
 * well-known address), the State on it, and worker processes that share it.
 *
 * @example
 * await using ctx = await Context.start();
 * await ctx.state.set("count", 0);
 * ctx.spawn(new URL("./worker.js", import.meta.url), { count: 4 }); // each gets the State
 * await ctx.wait();
 */
export class Context implements AsyncDisposable {
  readonly address: string;
  /** The context's State (its namespace). */
  readonly state: State;
  /** The server this context started (undefined when it joined an existing one). */
  readonly server: ServerHandle | undefined;
  readonly #workers: { handle: WorkerHandle; result: Promise<unknown> }[] = [];
  readonly #processes = new Set<ChildProcess>();
  readonly #pools = new Set<WorkerPool>();
  /** How workers connect: the same client security as the context's State. */
  readonly #security: ClientSecurity | undefined;

  private constructor(
    address: string,
    state: State,
    server: ServerHandle | undefined,
    security: ClientSecurity | undefined,
  ) {
    this.address = address;
    this.state = state;
    this.server = server;
    this.#security = security;
  }

  /**
   * With no address, starts a server at a random address (its own process); with an address,
   * joins the server there (start it with {@link startServer}; several contexts can share it).
   */
  static async start(address?: string, options: ContextOptions = {}): Promise<Context> {
    checkString("address", address, { nonEmpty: true });
    checkObject("options", options);
    const { server: serverOptions, ...stateOptions } = options;
    checkObject("server", serverOptions);
    checkStateOptions(stateOptions);
    if (serverOptions !== undefined) checkStartServerOptions(undefined, serverOptions);
    const server = address ? undefined : await startServer(undefined, serverOptions);
    const where = address ?? (server as ServerHandle).address;
    // A context that starts its own CURVE server knows the server's key: without a security of
    // its own it talks to it with a fresh pair (enough unless the server lists allowed keys).
    const secret = serverOptions?.security?.curve?.secretKey;
    const security =
      stateOptions.security ??
      (server && secret !== undefined ? { curve: { serverKey: publicKeyOf(secret) } } : undefined);
    try {
      return new Context(where, new State(where, { ...stateOptions, security }), server, security);
    } catch (error) {
      await server?.stop();
      throw error;
    }
  }

  /** Runs `exportName` of a module in `count` worker processes, each as `fn(state, ...args)`. */
  spawn<R = unknown>(module: string | URL, options: SpawnOptions = {}): WorkerHandle<R>[] {
    checkSpawnOptions(module, options);
    const handles: WorkerHandle<R>[] = [];
    for (let i = 0; i < (options.count ?? 1); i++) {
      const handle = this.#spawnOne<R>(moduleUrlOf(module), options);
      this.#workers.push({ handle, result: handle.result });
      handle.result.catch(() => undefined);
      handles.push(handle);
    }
    return handles;
  }

  #spawnOne<R>(moduleUrl: string, options: SpawnOptions): WorkerHandle<R> {
    const retry = options.retry ?? {};
    let current: ChildProcess | undefined;
    let stopped = false;
    const setup = {
      address: this.address,
      namespace: options.namespace ?? this.state.namespace,
      moduleUrl,
      exportName: options.exportName ?? "default",
      security: this.#security,
    };
    const attempt = () =>
      new Promise<R>((resolve, reject) => {
        const child = this.#fork();
        current = child;
        let settled = false;
        child.on(
          "message",
          (message: { type: string; value?: unknown; error?: { name: string; message: string; stack: string } }) => {
            if (message.type === "boot") child.send({ type: "run", setup, args: options.args ?? [] });
            else if (message.type === "result") {
              settled = true;
              resolve(message.value as R);
            } else if (message.type === "error" && message.error) {
              settled = true;
              reject(new RemoteError(message.error.name, message.error.message, message.error.stack));
            }
          },
        );
        child.once("exit", (code, signal) => {
          if (!settled) reject(new WorkerExitError(code, signal));
        });
      });
    const shouldRetry = (error: Error) => {
      const on = retry.on;
      if (!on) return true;
      const name = error instanceof RemoteError ? error.remoteName : error.name;
      return Array.isArray(on) ? on.includes(name) : on(error);
    };
    const result = (async () => {
      for (let tries = 0; ; tries++) {
        try {
          return await attempt();
        } catch (error) {
          if (stopped || tries >= (retry.maxRetries ?? 0) || !shouldRetry(error as Error)) throw error;
          if (retry.delayMs) await delay(retry.delayMs);
        }
      }
    })();
    return {
      get pid() {
        return current?.pid;
      },
      result,
      stop: () => {
        stopped = true;
        current?.kill("SIGKILL");
      },
    };
  }

  #fork(): ChildProcess {
    const child = track(
      fork(workerMain, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] }),
    );
    this.#processes.add(child);
    child.once("exit", () => this.#processes.delete(child));
    // A message sent to a worker that is exiting fails with EPIPE as an "error" event, which
    // would crash the parent. The worker's exit reports what happened to it; make sure it exits.
    child.on("error", () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    return child;
  }

  /** Waits for every spawned worker; resolves with their results in spawn order (rejects on the first failure). */
  wait(): Promise<unknown[]> {
    return Promise.all(this.#workers.map((w) => w.result));
  }

  /** Kills every worker this context started (its pools' too). */
  stopAll(): void {
    for (const pool of this.#pools) pool.close();
    this.#pools.clear();
    for (const worker of this.#workers) worker.handle.stop();
    for (const child of this.#processes) child.kill("SIGKILL");
  }

  /**
   * Applies `exportName` of a module to every item in worker processes of its own, as
   * `fn(item, state)`; results come back in item order (ZProc's process map). The workers start
   * in parallel, each takes work as soon as it is up, and they stop when the map ends; for maps
   * that should not pay that start, use a warm {@link pool}. A function of exactly one declared
   * parameter (`fn.length === 1`) is called without the State, and its workers skip loading the
   * State client, which is about half of a worker's start-up.
   *
   * @example
   * const squares = await ctx.map(new URL("./math.js", import.meta.url), "square", [1, 2, 3]);
   */
  map<R = unknown>(
    module: string | URL,
    exportName: string,
    items: Iterable<unknown>,
    options: MapOptions = {},
  ): MapResult<R> {
    checkMapArguments(module, exportName, items, options);
    const list = [...items];
    const { workers = defaultWorkers(), ...mapOptions } = options;
    const chunkSize = options.chunkSize ?? Math.max(1, Math.ceil(list.length / (workers * 8)));
    const size = Math.max(1, Math.min(workers, Math.ceil(list.length / chunkSize)));
    const pool = new WorkerPool(size, () => this.#fork(), this.#poolSetup(), false);
    const result = pool.mapList<R>(moduleUrlOf(module), exportName, list, { ...mapOptions, chunkSize });
    pool.whenIdle(() => pool.close());
    return result;
  }

  /**
   * A pool of worker processes that stays up between maps (ZProc's swarm): `pool.map(...)` runs
   * at once on workers that have already loaded the State and the module. The workers start now,
   * in parallel; `await pool.ready()` waits for them. Close it (or the context) to stop them.
   *
   * @throws {InvalidArgumentError} for an option not allowed.
   * @example
   * await using pool = ctx.pool({ workers: 4 });
   * for (const batch of batches) results.push(await pool.map(work, "score", batch));
   */
  pool(options: PoolOptions = {}): WorkerPool {
    checkPoolOptions(options);
    const pool = new WorkerPool(options.workers ?? defaultWorkers(), () => this.#fork(), this.#poolSetup(), true);
    this.#pools.add(pool);
    return pool;
  }

  #poolSetup(): PoolSetup {
    return { address: this.address, namespace: this.state.namespace, security: this.#security };
  }

  /** Stops the workers, closes the State and stops the server this context started. */
  async close(): Promise<void> {
    this.stopAll();
    await this.state[Symbol.asyncDispose]();
    await this.server?.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
