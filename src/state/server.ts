import { resolve as resolvePath } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { packObject, unpackObject } from "../core/codec.js";
import { defaultAddress } from "../core/endpoint.js";
import { TimeoutError, ZerokitError } from "../core/errors.js";
import { currentCall } from "../rpc/context.js";
import { PushStream, RpcServer, type StreamSink } from "../rpc/server.js";
import { type FsyncPolicy, Persistence, type RecoveryReport } from "./persistence.js";
import { Store, type StoredChange } from "./store.js";

/** Options of a state server. */
export interface StateServerOptions {
  /** Keep an append-only log and snapshots here; without it the state lives in memory only. */
  dataDir?: string;
  /** When the log reaches the disk. Default `"everysec"`. */
  fsync?: FsyncPolicy;
  /** Changes kept for watchers to replay or catch up. Default 10,000. */
  historyLimit?: number;
  /** Changes between snapshots. Default 10,000. */
  snapshotEvery?: number;
  /** A module (path or URL) whose exported functions clients can run with `mutate(name, ...args)`. */
  mutations?: string;
  /** Time limit of one named mutation, ms. Default 5000. */
  mutationTimeout?: number;
  /** Heartbeat period of the RPC transport, ms. Default 5000. */
  heartbeat?: number | false;
}

/** The view a named mutation gets of its namespace; writes apply atomically when it returns. */
export interface MutationState {
  get(key: string): unknown;
  has(key: string): boolean;
  keys(): string[];
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

// biome-ignore lint/suspicious/noExplicitAny: mutations take any arguments.
type Mutation = (state: MutationState, ...args: any[]) => unknown;

/** The change tuple watchers receive: `[seq, time, key, before, after, origin]`. */
export type WireChange = [number, number, string, Buffer | null, Buffer | null, string | null];

/** A live watch: the next change it has to send, and the stream it sends on. */
interface Watcher {
  ns: string;
  filter: Set<string> | undefined;
  next: number;
  sink: StreamSink;
}

class MutationFailed extends ZerokitError {
  override name = "MutationError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "EMUTATION", options);
  }
}

const decode = (bytes: Buffer | null | undefined): unknown => (bytes ? unpackObject(bytes) : undefined);

/** Checks a request argument is an encoded value (bytes), so bad input fails the call, not later reads. */
function bytes(value: unknown, what = "value"): Buffer {
  if (!Buffer.isBuffer(value))
    throw new TypeError(`the ${what} must be MessagePack bytes (object codec), got ${typeof value}`);
  return value;
}
function text(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`the ${what} must be a string, got ${typeof value}`);
  return value;
}
function pairs(value: unknown): [string, Buffer][] {
  if (!Array.isArray(value)) throw new TypeError("expected a list of [key, bytes] pairs");
  return value.map((pair) => {
    if (!Array.isArray(pair)) throw new TypeError("expected [key, bytes] pairs");
    return [text(pair[0], "key"), bytes(pair[1])];
  });
}

/**
 * A state server: namespaces of key/value state behind a zerorpc-compatible RPC surface, with
 * a change sequence and history for watchers, atomic operations, optimistic transactions, named
 * mutations and optional persistence. Start it with {@link startServer} (own process) or
 * {@link StateServer.start} (this process).
 */
export class StateServer implements AsyncDisposable {
  readonly #store: Store;
  readonly #rpc: RpcServer;
  readonly #persistence: Persistence | undefined;
  readonly #mutations: Map<string, Mutation>;
  readonly #mutationTimeout: number;
  readonly #watchers = new Set<Watcher>();
  /** The address clients should use. */
  address = "";
  /** What recovery from `dataDir` found (undefined without persistence). */
  readonly recovery: RecoveryReport | undefined;

  private constructor(options: StateServerOptions, mutations: Map<string, Mutation>) {
    this.#store = new Store(options.historyLimit ?? 10_000);
    this.#mutations = mutations;
    this.#mutationTimeout = options.mutationTimeout ?? 5000;
    if (options.dataDir) {
      const { persistence, report } = Persistence.open(
        options.dataDir,
        options.fsync ?? "everysec",
        this.#store,
        options.snapshotEvery,
      );
      this.#persistence = persistence;
      this.recovery = report;
      this.#store.onChange = (change) => persistence.append(change);
    }
    // Every handler reads its call context (origin, signal) before its first await, so the server
    // can skip AsyncLocalStorage and the promise hooks it costs on every promise.
    this.#rpc = new RpcServer(this.#api(), {
      name: "zerokit-state",
      heartbeat: options.heartbeat ?? 5000,
      asyncContext: false,
    });
  }

  /**
   * Starts a state server in this process on `address` (default: {@link defaultAddress}); a TCP
   * server binds loopback unless an address says otherwise.
   *
   * @example
   * await using server = await StateServer.start("tcp://127.0.0.1:*");
   * console.log(server.address);
   */
  static async start(address: string = defaultAddress(), options: StateServerOptions = {}): Promise<StateServer> {
    const mutations = new Map<string, Mutation>();
    if (options.mutations) {
      const url = /^[a-z]+:/.test(options.mutations)
        ? options.mutations
        : pathToFileURL(resolvePath(options.mutations)).href;
      const module = (await import(url)) as Record<string, unknown>;
      for (const [name, fn] of Object.entries(module))
        if (typeof fn === "function") mutations.set(name, fn as Mutation);
    }
    const server = new StateServer(options, mutations);
    server.address = await server.#rpc.bind(address);
    return server;
  }

  /** The current sequence number (seq of the last change). */
  get seq(): number {
    return this.#store.seq;
  }

  /** The writing client's origin id; read it before any await (the constructor says why). */
  #origin(): string | null {
    const origin = currentCall()?.headers.zk_origin;
    return typeof origin === "string" ? origin : null;
  }

  #write(ns: string, key: string, value: Buffer | null, origin = this.#origin()): StoredChange | undefined {
    const change = this.#store.write(ns, key, value, origin);
    if (this.#persistence?.snapshotDue) this.#persistence.snapshot(this.#store);
    // Watchers get the change now, before the writer's reply: it is the latency watchers see.
    if (change && this.#watchers.size > 0) for (const watcher of this.#watchers) this.#feed(watcher);
    return change;
  }

  #api(): object {
    const store = this.#store;
    const write = (ns: string, key: string, value: Buffer | null) => this.#write(ns, key, value);
    const entries = (ns: string): [string, Buffer][] => [...store.namespace(ns)].map(([k, e]) => [k, e.value]);
    return {
      ping: () => ["pong", store.seq],
      get: (ns: string, key: string) => store.get(ns, key) ?? null,
      getv: (ns: string, keys: string[]) => keys.map((key) => [store.get(ns, key) ?? null, store.version(ns, key)]),
      set: (ns: string, key: string, value: Buffer) =>
        write(text(ns, "namespace"), text(key, "key"), bytes(value))?.seq ?? store.seq,
      del: (ns: string, key: string) => write(ns, key, null) !== undefined,
      has: (ns: string, key: string) => store.namespace(ns).has(key),
      keys: (ns: string) => [...store.namespace(ns).keys()],
      entries,
      size: (ns: string) => store.namespace(ns).size,
      clear: (ns: string) => {
        const keys = [...store.namespace(ns).keys()];
        for (const key of keys) write(ns, key, null);
        return keys.length;
      },
      update: (ns: string, list: [string, Buffer][]) => {
        for (const [key, value] of pairs(list)) write(ns, key, value);
        return store.seq;
      },
      replace: (ns: string, list: [string, Buffer][]) => {
        const checked = pairs(list);
        const keep = new Set(checked.map(([key]) => key));
        for (const key of [...store.namespace(ns).keys()]) if (!keep.has(key)) write(ns, key, null);
        for (const [key, value] of checked) write(ns, key, value);
        return store.seq;
      },
      snapshot: (ns: string) => [store.seq, entries(ns)],
      op: (ns: string, key: string, name: string, argBytes: Buffer) =>
        this.#op(ns, key, name, unpackObject(argBytes) as unknown[]),
      commit: (ns: string, reads: [string, number][], writes: [string, Buffer | null][]) => {
        for (const [key, version] of reads) if (store.version(ns, key) !== version) return false;
        for (const [key, value] of writes) write(ns, key, value);
        return true;
      },
      mutate: (ns: string, name: string, argBytes: Buffer) =>
        this.#mutate(ns, name, unpackObject(argBytes) as unknown[]),
      watch: (ns: string, keys: string[] | null, since: number | null, sinceTime: number | null) =>
        this.#watch(ns, keys, since, sinceTime),
    };
  }

  #op(ns: string, key: string, name: string, args: unknown[]): Buffer {
    const current = decode(this.#store.get(ns, key));
    const set = (value: unknown) => this.#write(ns, key, packObject(value));
    let result: unknown;
    switch (name) {
      case "increment": {
        const by = args[0] ?? 1;
        const base = current ?? (typeof by === "bigint" ? 0n : 0);
        if (typeof base !== typeof by || (typeof base !== "number" && typeof base !== "bigint")) {
          throw new TypeError(`cannot increment ${JSON.stringify(key)}: it holds a ${typeof current}, not a number`);
        }
        result = (base as number) + (by as number);
        set(result);
        break;
      }
      case "append": {
        const list = current ?? [];
        if (!Array.isArray(list)) throw new TypeError(`cannot append to ${JSON.stringify(key)}: it is not an array`);
        result = [...list, ...args];
        set(result);
        break;
      }
      case "remove": {
        if (!Array.isArray(current))
          throw new TypeError(`cannot remove from ${JSON.stringify(key)}: it is not an array`);
        const index = current.findIndex((item) => isDeepStrictEqual(item, args[0]));
        result = index >= 0;
        if (index >= 0) set(current.filter((_, i) => i !== index));
        break;
      }
      case "merge": {
        const base = current ?? {};
        const patch = args[0];
        if (
          typeof base !== "object" ||
          base === null ||
          Array.isArray(base) ||
          typeof patch !== "object" ||
          patch === null
        ) {
          throw new TypeError(`cannot merge into ${JSON.stringify(key)}: both must be plain objects`);
        }
        result = { ...(base as object), ...(patch as object) };
        set(result);
        break;
      }
      case "compareAndSet":
        result = isDeepStrictEqual(current, args[0]);
        if (result) set(args[1]);
        break;
      case "setIfAbsent":
        if (current === undefined) {
          set(args[0]);
          result = args[0];
        } else result = current;
        break;
      case "pop":
        result = current === undefined ? args[0] : current;
        if (current !== undefined) this.#write(ns, key, null);
        break;
      default:
        throw new TypeError(`unknown atomic operation ${JSON.stringify(name)}`);
    }
    return packObject(result);
  }

  async #mutate(ns: string, name: string, args: unknown[]): Promise<Buffer> {
    const mutation = this.#mutations.get(name);
    if (!mutation)
      throw new TypeError(
        `no mutation named ${JSON.stringify(name)} (the server loads them from its mutations module)`,
      );
    const store = this.#store;
    const origin = this.#origin();
    for (let attempt = 0; attempt < 10; attempt++) {
      const reads = new Map<string, number>();
      const writes = new Map<string, unknown>();
      const DELETED = Symbol("deleted");
      const view: MutationState = {
        get(key) {
          if (writes.has(key)) {
            const v = writes.get(key);
            return v === DELETED ? undefined : v;
          }
          reads.set(key, store.version(ns, key));
          return decode(store.get(ns, key));
        },
        has(key) {
          return view.get(key) !== undefined;
        },
        keys() {
          const keys = new Set(store.namespace(ns).keys());
          for (const [key, value] of writes) value === DELETED ? keys.delete(key) : keys.add(key);
          return [...keys];
        },
        set(key, value) {
          writes.set(key, value);
        },
        delete(key) {
          writes.set(key, DELETED);
        },
      };
      let result: unknown;
      try {
        const timeout = this.#mutationTimeout;
        const run = Promise.resolve().then(() => mutation(view, ...args));
        result = await Promise.race([
          run,
          delay(timeout, undefined, { ref: false }).then(() => {
            throw new TimeoutError(
              `mutation ${name} ran longer than ${timeout} ms; its writes were discarded`,
              timeout,
            );
          }),
        ]);
      } catch (error) {
        if (error instanceof TimeoutError) throw error;
        throw new MutationFailed(
          `mutation ${name} failed, state unchanged: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
      }
      let conflict = false;
      for (const [key, version] of reads) if (store.version(ns, key) !== version) conflict = true;
      if (conflict) continue;
      for (const [key, value] of writes) this.#write(ns, key, value === DELETED ? null : packObject(value), origin);
      return packObject(result);
    }
    throw new MutationFailed(`mutation ${name} kept conflicting with concurrent writes`);
  }

  #watch(ns: string, keys: string[] | null, since: number | null, sinceTime: number | null): PushStream {
    const store = this.#store;
    const next = since ?? (sinceTime !== null ? store.seqAtTime(sinceTime) : store.seq + 1);
    if (next < store.oldest && store.seq >= next) store.change(next); // throws HistoryTruncatedError
    const filter = keys && keys.length > 0 ? new Set(keys) : undefined;
    return new PushStream((sink) => {
      const watcher: Watcher = { ns, filter, next, sink };
      // The first item tells the client where the watch starts, so it can resume without a gap.
      sink.push(next);
      this.#watchers.add(watcher);
      sink.signal.addEventListener("abort", () => this.#watchers.delete(watcher), { once: true });
      sink.onCredit = () => this.#feed(watcher);
      this.#feed(watcher);
    });
  }

  /**
   * Sends a watcher the changes it has not had yet, as far as its credit goes; one that has no
   * credit catches up from the history when credit comes, or fails with HistoryTruncatedError
   * once the history no longer holds what it missed.
   */
  #feed(watcher: Watcher): void {
    const store = this.#store;
    const sink = watcher.sink;
    while (watcher.next <= store.seq && sink.credit > 0) {
      let change: StoredChange;
      try {
        change = store.change(watcher.next) as StoredChange;
      } catch (error) {
        this.#watchers.delete(watcher);
        sink.fail(error);
        return;
      }
      watcher.next++;
      if (change.ns !== watcher.ns || (watcher.filter && !watcher.filter.has(change.key))) continue;
      sink.push([change.seq, change.time, change.key, change.before, change.after, change.origin]);
    }
  }

  /** Stops serving and closes the log. */
  close(): void {
    this.#rpc.close();
    this.#persistence?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
