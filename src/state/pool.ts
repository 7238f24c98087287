/**
 * Worker pools: processes that apply a module's function to chunks of items, started in
 * parallel and kept warm between maps. `Context.map` runs on a pool of its own that it closes
 * afterwards; `Context.pool` gives one that stays until it is closed.
 */
import type { ChildProcess } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { abortErrorFrom, ClosedError, InvalidArgumentError, RemoteError, TimeoutError } from "../core/errors.js";
import { checkDuration, checkNumber, checkObject, checkSignal } from "../core/options.js";
import type { ClientSecurity } from "../core/security/index.js";
import { waitWithin } from "../core/wait.js";
import { DualResult } from "../rpc/result.js";
import { WorkerExitError } from "./errors.js";
import { packNumbers } from "./numbers.js";

/** Options of a map on a pool (`Context.map` adds `workers`). */
export interface PoolMapOptions {
  /** Items per message to a worker. Default: enough for ~8 chunks per worker. */
  chunkSize?: number;
  signal?: AbortSignal;
}

/** Options of {@link WorkerPool.ready}. */
export interface PoolReadyOptions {
  /** ms to wait for every worker (0: only tell whether they are up); default no limit. */
  timeout?: number;
  signal?: AbortSignal;
}

/** What a map returns: await for every result in order, or iterate them in order as they come. */
export interface MapResult<R> extends Promise<R[]>, AsyncIterable<R> {}

/** What a worker needs to connect its State. */
export interface PoolSetup {
  address: string;
  namespace: string;
  security: ClientSecurity | undefined;
}

/** A module as a URL string (a path is resolved against the working directory). */
export function moduleUrlOf(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z]+:/i.test(module) ? module : pathToFileURL(resolvePath(module)).href;
}

export function checkModule(module: unknown): void {
  if (!(module instanceof URL) && (typeof module !== "string" || module === ""))
    throw new InvalidArgumentError("module", module, "a path or URL of a module");
}

/**
 * Validates the arguments and options of a map (a pool's, or with `workers` a context's) in
 * one place.
 */
export function checkMapArguments(module: unknown, exportName: unknown, items: unknown, options: unknown): void {
  checkModule(module);
  if (typeof exportName !== "string" || exportName === "")
    throw new InvalidArgumentError("exportName", exportName, "a non-empty string");
  if (items === null || typeof (items as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== "function")
    throw new InvalidArgumentError("items", items, "an iterable");
  checkObject("options", options);
  const o = (options ?? {}) as Record<string, unknown>;
  checkNumber("workers", o.workers, { min: 1, max: 1024, integer: true });
  checkNumber("chunkSize", o.chunkSize, { min: 1, integer: true });
  checkSignal("signal", o.signal);
}

interface Task {
  moduleUrl: string;
  exportName: string;
}

type Reply = {
  type: string;
  map?: number;
  id?: number;
  results?: unknown[] | Float64Array;
  error?: { name: string; message: string; stack: string };
};

/**
 * How many workers may boot at once: the CPUs other work leaves idle (by the 1-minute load
 * average), at least one. On an idle machine that is every CPU; on a busy one, fewer boots at
 * once bring the first worker up sooner, and it takes work while the others boot.
 */
function idleCpus(): number {
  const cpus = availableParallelism();
  return Math.max(1, Math.min(cpus, Math.round(cpus - (loadavg()[0] ?? 0))));
}

/** Chunks each worker holds at once: the next one is there while a result travels back. */
const IN_FLIGHT = 2;

/** One map's progress. */
class MapRun {
  readonly results: (unknown[] | Float64Array | undefined)[];
  done = 0;
  failure: Error | undefined;
  #wakers: (() => void)[] = [];
  onEnd: (() => void) | undefined;
  constructor(
    readonly id: number,
    readonly task: Task,
    readonly list: unknown[],
    readonly chunkSize: number,
    readonly chunks: number,
  ) {
    this.results = new Array(chunks);
  }
  get finished(): boolean {
    return this.failure !== undefined || this.done === this.chunks;
  }
  /** Chunk `id`'s items as they travel (see {@link packNumbers}). */
  items(id: number): unknown[] | Float64Array {
    return packNumbers(this.list, id * this.chunkSize, Math.min(this.list.length, (id + 1) * this.chunkSize));
  }
  notify(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
    if (this.finished) {
      const end = this.onEnd;
      this.onEnd = undefined;
      end?.();
    }
  }
  wait(): Promise<void> {
    return new Promise((wake) => {
      this.#wakers.push(wake);
    });
  }
}

interface Member {
  child: ChildProcess;
  booted: boolean;
  /** The chunks it holds: map id and chunk id. */
  holding: { run: MapRun; id: number }[];
}

/**
 * A pool of worker processes applying module functions to items, as `fn(item, state)`; results
 * come back in item order. Workers start in parallel and take work as soon as each is up; they
 * stay up between maps (a warm pool), and several maps may run at once (their chunks are served
 * in the order the maps were asked). Made by {@link Context.pool}.
 *
 * @example
 * await using pool = ctx.pool({ workers: 4 });
 * const squares = await pool.map(new URL("./math.js", import.meta.url), "square", [1, 2, 3]);
 */
export class WorkerPool implements AsyncDisposable {
  /** How many worker processes the pool keeps. */
  readonly size: number;
  readonly #fork: () => ChildProcess;
  readonly #setup: PoolSetup;
  readonly #members: Member[] = [];
  /** Chunks waiting for a worker, in order. */
  readonly #queue: { run: MapRun; id: number }[] = [];
  #queueHead = 0;
  readonly #runs = new Map<number, MapRun>();
  #nextRun = 0;
  #closed = false;
  /** Aborted by {@link close}: ends every {@link ready} wait with `ClosedError`. */
  readonly #closing = new AbortController();
  /** Whether every worker has booted once; {@link ready} waits on `#readyWakers` until then. */
  #isBooted = false;
  readonly #readyWakers = new Set<() => void>();
  /** Whether a worker exit replaces the worker (a warm pool) or not (a one-map pool). */
  readonly #replace: boolean;
  /** Most workers booting at once (see the constructor). */
  readonly #startAtOnce: number;
  /** Workers started and not booted yet. */
  #booting = 0;

  /**
   * @internal Made by `Context.pool` and `Context.map`. Booting a worker is CPU-bound (Node's
   * start and the State client's imports), so at most `startAtOnce` (default: the idle CPUs,
   * see {@link idleCpus}) boot at once: more would not finish sooner in all, they would only make
   * the first, which can already take work, come up later (4 workers on 2 cores: the first is up
   * in half the time). Each boot starts the next; a one-map pool starts more only while chunks
   * wait, so a map the first workers finish never pays for the others.
   */
  constructor(size: number, fork: () => ChildProcess, setup: PoolSetup, replace: boolean, startAtOnce = idleCpus()) {
    this.size = size;
    this.#fork = fork;
    this.#setup = setup;
    this.#replace = replace;
    this.#startAtOnce = Math.max(1, startAtOnce);
    this.#startMore();
  }

  /** Workers started so far (a one-map pool may finish with fewer than its size). */
  get started(): number {
    return this.#members.length;
  }

  /** Starts workers up to the size, at most {@link #startAtOnce} booting at once. */
  #startMore(): void {
    while (
      !this.#closed &&
      this.#members.length < this.size &&
      this.#booting < this.#startAtOnce &&
      (this.#replace || this.#members.length === 0 || this.#queueHead < this.#queue.length)
    )
      this.#start();
  }

  /**
   * Resolves once every worker has started (maps do not need to wait for it). A worker that
   * exits while booting is replaced, so a pool whose workers cannot start never gets ready: give
   * a `timeout` or `signal` to stop waiting. Any number of callers may wait at once.
   *
   * @throws {ClosedError} (rejected) when the pool is or gets closed first.
   * @throws {TimeoutError} (rejected) when `timeout` ms pass first.
   * @throws {AbortError} (rejected) when `signal` aborts first.
   * @throws {InvalidArgumentError} (rejected) for an option not allowed.
   * @example
   * await pool.ready({ timeout: 10_000 });
   */
  async ready(options: PoolReadyOptions = {}): Promise<void> {
    checkObject("options", options);
    checkDuration("timeout", options.timeout, { allowZero: true, orInfinity: true });
    checkSignal("signal", options.signal);
    return waitWithin(
      {
        timeout: options.timeout,
        signal: options.signal,
        closed: this.#closing.signal,
        timedOut: (ms) => new TimeoutError(`the pool's ${this.size} workers were not all up within ${ms} ms`, ms),
        closedError: () => new ClosedError("the worker pool was closed"),
      },
      (signal) =>
        this.#isBooted
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              // A waker in a set, dropped when the wait gives up: waits that time out leave nothing.
              const wake = () => {
                signal.removeEventListener("abort", stop);
                resolve();
              };
              const stop = () => {
                this.#readyWakers.delete(wake);
                reject(signal.reason);
              };
              signal.addEventListener("abort", stop, { once: true });
              this.#readyWakers.add(wake);
            }),
    );
  }

  #start(): void {
    const member: Member = { child: this.#fork(), booted: false, holding: [] };
    this.#booting++;
    this.#members.push(member);
    const child = member.child;
    child.on("message", (message: Reply) => this.#onMessage(member, message));
    child.once("exit", (code, signal) => this.#onExit(member, code, signal));
  }

  #onMessage(member: Member, message: Reply): void {
    if (message.type === "boot") {
      if (member.booted) return;
      member.booted = true;
      this.#booting--;
      if (!this.#isBooted && this.#members.length === this.size && this.#members.every((m) => m.booted)) {
        this.#isBooted = true;
        for (const wake of this.#readyWakers) wake();
        this.#readyWakers.clear();
      }
      if (this.#closed) return;
      member.child.send({ type: "pool", setup: this.#setup });
      this.#dispatch(member);
      this.#startMore();
      return;
    }
    const run = message.map === undefined ? undefined : this.#runs.get(message.map);
    const id = message.id;
    if (id !== undefined) {
      const index = member.holding.findIndex((h) => h.run.id === message.map && h.id === id);
      if (index >= 0) member.holding.splice(index, 1);
    }
    if (message.type === "chunk" && run && id !== undefined && !run.finished) {
      run.results[id] = message.results;
      run.done++;
      if (run.finished) this.#runs.delete(run.id);
      run.notify();
    } else if ((message.type === "chunkError" || message.type === "error") && message.error) {
      const error = new RemoteError(message.error.name, message.error.message, message.error.stack);
      if (run) this.#fail(run, error);
    }
    this.#dispatch(member);
  }

  #onExit(member: Member, code: number | null, signal: NodeJS.Signals | null): void {
    const index = this.#members.indexOf(member);
    if (index >= 0) this.#members.splice(index, 1);
    if (!member.booted) this.#booting--;
    const error = new WorkerExitError(code, signal);
    for (const { run } of member.holding) this.#fail(run, error);
    member.holding = [];
    if (this.#closed) return;
    // A one-map pool has failed its map already; a warm pool stays warm.
    if (this.#replace) this.#startMore();
    else for (const run of this.#runs.values()) this.#fail(run, error);
  }

  /** Gives a booted worker chunks until it holds {@link IN_FLIGHT}. */
  #dispatch(member: Member): void {
    if (!member.booted || this.#closed) return;
    while (member.holding.length < IN_FLIGHT && this.#queueHead < this.#queue.length) {
      const next = this.#queue[this.#queueHead] as { run: MapRun; id: number };
      this.#queue[this.#queueHead++] = undefined as never;
      if (next.run.finished) continue;
      member.holding.push(next);
      member.child.send({
        type: "chunk",
        map: next.run.id,
        id: next.id,
        task: next.run.task,
        items: next.run.items(next.id),
      });
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    }
  }

  #fail(run: MapRun, error: Error): void {
    if (run.finished) return;
    run.failure = error;
    this.#runs.delete(run.id);
    run.notify();
  }

  /**
   * Applies `exportName` of a module to every item on the pool's workers, as `fn(item, state)`;
   * results come back in item order (await them all, or iterate them as they come). Any number
   * of maps may run at once; each worker loads a module once and keeps it. A function of exactly
   * one declared parameter (`fn.length === 1`) is called without the State, and a worker loads
   * the State client only when a function needs it.
   *
   * @throws {InvalidArgumentError} (synchronously) for an argument or option not allowed.
   * @example
   * const squares = await pool.map(new URL("./math.js", import.meta.url), "square", [1, 2, 3]);
   */
  map<R = unknown>(
    module: string | URL,
    exportName: string,
    items: Iterable<unknown>,
    options: PoolMapOptions = {},
  ): MapResult<R> {
    checkMapArguments(module, exportName, items, options);
    if ((options as { workers?: unknown }).workers !== undefined)
      throw new InvalidArgumentError(
        "workers",
        (options as { workers?: unknown }).workers,
        "nothing: a pool has its size",
      );
    return this.mapList(moduleUrlOf(module), exportName, [...items], options);
  }

  /** @internal {@link map} after its checks (Context.map's one-map pool comes here). */
  mapList<R>(moduleUrl: string, exportName: string, list: unknown[], options: PoolMapOptions): MapResult<R> {
    const chunkSize = options.chunkSize ?? Math.max(1, Math.ceil(list.length / (this.size * 8)));
    const chunks = Math.ceil(list.length / chunkSize);
    const run = new MapRun(this.#nextRun++, { moduleUrl, exportName }, list, chunkSize, chunks);
    const signal = options.signal;
    if (this.#closed) run.failure = new ClosedError("the worker pool is closed");
    else if (signal?.aborted) run.failure = abortErrorFrom(signal);
    else if (chunks > 0) {
      this.#runs.set(run.id, run);
      for (let id = 0; id < chunks; id++) this.#queue.push({ run, id });
      if (signal) {
        const onAbort = () => this.#fail(run, abortErrorFrom(signal));
        signal.addEventListener("abort", onAbort, { once: true });
        run.onEnd = () => signal.removeEventListener("abort", onAbort);
      }
      for (const member of this.#members) this.#dispatch(member);
      this.#startMore();
    }
    return resultOf<R>(run);
  }

  /** @internal Runs `onEnd` when every map so far has finished. */
  whenIdle(onEnd: () => void): void {
    const open = [...this.#runs.values()];
    if (open.length === 0) {
      onEnd();
      return;
    }
    let left = open.length;
    for (const run of open) {
      const previous = run.onEnd;
      run.onEnd = () => {
        previous?.();
        if (--left === 0) onEnd();
      };
    }
  }

  /** Stops every worker; maps still running fail with `ClosedError`. Safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    const closed = new ClosedError("the worker pool was closed");
    for (const run of [...this.#runs.values()]) this.#fail(run, closed);
    for (const member of this.#members) member.child.kill();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** The awaitable-and-iterable result of a map (the RPC call's DualResult): awaiting it joins the chunks once, with no promise per item. */
function resultOf<R>(run: MapRun): MapResult<R> {
  async function* ordered(): AsyncGenerator<R> {
    for (let i = 0; i < run.chunks; i++) {
      while (run.results[i] === undefined) {
        if (run.failure) throw run.failure;
        await run.wait();
      }
      if (run.failure) throw run.failure;
      const values = run.results[i] as ArrayLike<R>;
      run.results[i] = [];
      for (let k = 0; k < values.length; k++) yield values[k] as R;
    }
  }
  const iterator = ordered();
  return new DualResult<R[], R>({
    async collect() {
      while (!run.finished) await run.wait();
      if (run.failure) throw run.failure;
      // Sized once and filled by index: pushing 200k results one by one cost 3× as much (growth copies).
      const out = new Array<R>(run.list.length);
      let at = 0;
      for (const values of run.results as ArrayLike<R>[])
        for (let i = 0; i < values.length; i++) out[at++] = values[i] as R;
      return out;
    },
    iterate: () => iterator,
  }) as unknown as MapResult<R>;
}
