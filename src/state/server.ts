import { resolve as resolvePath } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { packObject, unpackObject } from "../core/codec.js";
import { defaultAddress } from "../core/endpoint.js";
import { InvalidArgumentError, TimeoutError } from "../core/errors.js";
import { checkDuration, checkNumber, checkObject, checkOneOf, checkString } from "../core/options.js";
import { checkServerSecurity, type ServerSecurity } from "../core/security/index.js";
import { listenerAddress } from "../core/zmtp-listener.js";
import { currentCall } from "../rpc/context.js";
import { type InternalServerOptions, PLAIN_LISTENER, RpcServer } from "../rpc/server.js";
import { PushStream, type StreamSink } from "../rpc/streams.js";
import { encodedValueProblem } from "./encoded.js";
import { MutationError, StateLimitError } from "./errors.js";
import { type FsyncPolicy, Persistence, type RecoveryReport } from "./persistence.js";
import { Store, type StoredChange, type StoreStats } from "./store.js";
import { type Method, OPERATIONS, ORIGIN_HEADER, wireChange } from "./wire.js";

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
  /**
   * Bytes of values (before and after each change) the history may hold, besides `historyLimit`.
   * Default 64 MiB; the newest change is always kept.
   */
  historyBytes?: number;
  /** Watches one client connection may have open at once. Default 1000. */
  maxWatchersPerPeer?: number;
  /**
   * CURVE keys and who may connect (an `Authenticator`; `start()` waits for it to start), passed to
   * the RPC server. Without it the server is plaintext and open to anyone who reaches it.
   */
  security?: ServerSecurity;
  /**
   * How messages travel. `"auto"` (the default) serves ZMTP in plain JavaScript when there is no
   * `security` and the address is tcp with a numeric host or an ipc path: the same wire, without
   * zeromq.js's per-message hops, which is the latency a watcher sees. Anything else (CURVE,
   * inproc, a host name, a wildcard or abstract ipc path) uses a zeromq.js ROUTER, as `"zeromq"`
   * always does.
   */
  transport?: "auto" | "zeromq";
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

/** A live watch: the next change it has to send, and the stream it sends on. */
interface Watcher {
  ns: string;
  filter: Set<string> | undefined;
  next: number;
  sink: StreamSink;
  /** The routing id of the client, for the per-peer bound. */
  peer: string;
  released: boolean;
}

const decode = (bytes: Buffer | null | undefined): unknown => (bytes ? unpackObject(bytes) : undefined);

const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;
const DEFAULT_WATCHERS_PER_PEER = 1000;

/**
 * Validates every option of a state server in one place.
 * @throws {InvalidArgumentError} naming the option, its value and what is allowed.
 */
export function checkStateServerOptions(options: unknown): asserts options is StateServerOptions {
  checkObject("options", options);
  if (options === undefined) return;
  const o = options as Record<string, unknown>;
  checkString("dataDir", o.dataDir, { nonEmpty: true });
  checkOneOf("fsync", o.fsync, ["always", "everysec", "no"]);
  checkNumber("historyLimit", o.historyLimit, { min: 1, max: 10_000_000, integer: true });
  checkNumber("historyBytes", o.historyBytes, { min: 1, integer: true });
  checkNumber("snapshotEvery", o.snapshotEvery, { min: 1, integer: true });
  if (o.mutations !== undefined && !(o.mutations instanceof URL))
    checkString("mutations", o.mutations, { nonEmpty: true });
  checkDuration("mutationTimeout", o.mutationTimeout);
  if (o.heartbeat !== false) checkDuration("heartbeat", o.heartbeat);
  checkNumber("maxWatchersPerPeer", o.maxWatchersPerPeer, { min: 1, integer: true });
  checkServerSecurity("security", o.security);
  if (o.transport !== undefined) checkOneOf("transport", o.transport, ["auto", "zeromq"]);
}

// Request fields arrive from any peer: each is checked before use, so a bad request fails alone,
// with an InvalidArgumentError naming the field, and nothing malformed is ever stored.

function str(field: string, value: unknown): string {
  if (typeof value !== "string") throw new InvalidArgumentError(field, value, "a string");
  return value;
}
/**
 * An encoded value. A decoded bin is a view into the whole received frame: a copy of its own
 * keeps a 1-byte value from holding a 4 MB message alive for as long as it is stored.
 */
function bin(field: string, value: unknown): Buffer {
  if (!(value instanceof Uint8Array))
    throw new InvalidArgumentError(field, value, "MessagePack bytes (bin, object codec)");
  if (Buffer.isBuffer(value) && value.byteLength === value.buffer.byteLength) return value;
  const copy = Buffer.allocUnsafeSlow(value.byteLength);
  copy.set(value);
  return copy;
}
/** A value to store: bytes that are exactly one encoded value, so every later reader can decode it. */
function stored(field: string, value: unknown): Buffer {
  const bytes = bin(field, value);
  const problem = encodedValueProblem(bytes);
  if (problem !== undefined)
    throw new InvalidArgumentError(field, value, `one value encoded with the object codec (${problem})`);
  return bytes;
}
function list(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new InvalidArgumentError(field, value, "a list");
  return value;
}
function strings(field: string, value: unknown): string[] {
  return list(field, value).map((item, i) => str(`${field}[${i}]`, item));
}
function pairs(field: string, value: unknown): [string, Buffer][] {
  return list(field, value).map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new InvalidArgumentError(`${field}[${i}]`, pair, "[key, bytes]");
    return [str(`${field}[${i}] key`, pair[0]), stored(`${field}[${i}] value`, pair[1])];
  });
}
function version(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(field, value, "an integer version ≥ 0");
  return value;
}
/** The arguments of an op or mutation: encoded bytes of a list. */
function argList(field: string, value: unknown): unknown[] {
  let args: unknown;
  try {
    args = unpackObject(bin(field, value));
  } catch (error) {
    throw new InvalidArgumentError(field, value, `one encoded list (${(error as Error).message})`, { cause: error });
  }
  if (!Array.isArray(args)) throw new InvalidArgumentError(field, args, "the encoding of a list of arguments");
  return args;
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
  readonly #maxWatchersPerPeer: number;
  /** Every live watcher. */
  readonly #watchers = new Set<Watcher>();
  /**
   * Watchers caught up and with credit, by namespace: the only ones a write feeds, so its cost
   * never grows with watchers that have no credit (they catch up from the history when it comes).
   */
  readonly #ready = new Map<string, Set<Watcher>>();
  readonly #watchersByPeer = new Map<string, number>();
  /** The address clients should use. */
  address = "";
  /** What recovery from `dataDir` found (undefined without persistence). */
  readonly recovery: RecoveryReport | undefined;

  private constructor(address: string, options: StateServerOptions, mutations: Map<string, Mutation>) {
    this.#store = new Store({
      historyLimit: options.historyLimit ?? 10_000,
      historyBytes: options.historyBytes ?? DEFAULT_HISTORY_BYTES,
    });
    this.#mutations = mutations;
    this.#mutationTimeout = options.mutationTimeout ?? 5000;
    this.#maxWatchersPerPeer = options.maxWatchersPerPeer ?? DEFAULT_WATCHERS_PER_PEER;
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
    const plain = options.transport !== "zeromq" && !options.security && listenerAddress(address) !== undefined;
    const rpcOptions: InternalServerOptions = {
      name: "zerokit-state",
      heartbeat: options.heartbeat ?? 5000,
      asyncContext: false,
      ...(options.security ? { security: options.security } : {}),
      [PLAIN_LISTENER]: plain,
    };
    this.#rpc = new RpcServer(this.#api(), rpcOptions);
  }

  /**
   * Starts a state server in this process on `address` (default: {@link defaultAddress}); a TCP
   * server binds loopback unless an address says otherwise.
   *
   * @throws {InvalidArgumentError} for an option that is not allowed; {@link DataDirError} when
   *   `dataDir` cannot be loaded (naming the file and why).
   * @example
   * await using server = await StateServer.start("tcp://127.0.0.1:*");
   * console.log(server.address);
   */
  static async start(address: string = defaultAddress(), options: StateServerOptions = {}): Promise<StateServer> {
    checkString("address", address, { nonEmpty: true });
    checkStateServerOptions(options);
    const mutations = new Map<string, Mutation>();
    if (options.mutations) {
      const source = String(options.mutations);
      const url = /^[a-z]+:/.test(source) ? source : pathToFileURL(resolvePath(source)).href;
      const module = (await import(url)) as Record<string, unknown>;
      for (const [name, fn] of Object.entries(module))
        if (typeof fn === "function") mutations.set(name, fn as Mutation);
    }
    // Started before binding: a client that connects first must not meet a missing ZAP handler.
    await options.security?.authenticator?.start();
    const server = new StateServer(address, options, mutations);
    try {
      server.address = await server.#rpc.bind(address);
    } catch (error) {
      server.close();
      throw error;
    }
    return server;
  }

  /** The current sequence number (seq of the last change). */
  get seq(): number {
    return this.#store.seq;
  }

  /**
   * What the server holds now: namespaces, keys, the history's changes and bytes, and watchers
   * (`idleWatchers`: those without credit, which writes do not touch). For monitoring and tests;
   * a synchronous read of counters kept up to date, safe to call at any time.
   *
   * @example
   * const { keys, historyBytes, idleWatchers } = server.stats();
   */
  stats(): StoreStats & { watchers: number; idleWatchers: number } {
    let ready = 0;
    for (const set of this.#ready.values()) ready += set.size;
    return { ...this.#store.stats, watchers: this.#watchers.size, idleWatchers: this.#watchers.size - ready };
  }

  /** The writing client's origin id; read it before any await (the constructor says why). */
  #origin(): string | null {
    const origin = currentCall()?.headers[ORIGIN_HEADER];
    return typeof origin === "string" ? origin : null;
  }

  #write(ns: string, key: string, value: Buffer | null, origin = this.#origin()): StoredChange | undefined {
    const change = this.#store.write(ns, key, value, origin);
    if (this.#persistence?.snapshotDue) this.#persistence.snapshot(this.#store);
    // Watchers get the change now, before the writer's reply: it is the latency watchers see.
    if (change) {
      const ready = this.#ready.get(ns);
      if (ready) for (const watcher of ready) this.#feed(watcher);
    }
    return change;
  }

  /**
   * The methods of the wire contract (src/state/wire.ts): its types say what each receives, and
   * every argument is checked here because it comes from any peer.
   */
  #api(): Record<Method, (...args: unknown[]) => unknown> {
    const store = this.#store;
    const write = (ns: string, key: string, value: Buffer | null) => this.#write(ns, key, value);
    const entries = (ns: string): [string, Buffer][] => [...store.read(ns)].map(([k, e]) => [k, e.value]);
    const namespace = (ns: unknown) => str("namespace", ns);
    const key = (k: unknown) => str("key", k);
    return {
      ping: () => ["pong", store.seq],
      get: (ns: unknown, k: unknown) => store.get(namespace(ns), key(k)) ?? null,
      getseq: (ns: unknown, k: unknown) => {
        const n = namespace(ns);
        const checked = key(k);
        return [store.seq, store.get(n, checked) ?? null];
      },
      getv: (ns: unknown, keys: unknown) => {
        const n = namespace(ns);
        return strings("keys", keys).map((k) => [store.get(n, k) ?? null, store.version(n, k)]);
      },
      set: (ns: unknown, k: unknown, value: unknown) =>
        write(namespace(ns), key(k), stored("value", value))?.seq ?? store.seq,
      del: (ns: unknown, k: unknown) => write(namespace(ns), key(k), null) !== undefined,
      has: (ns: unknown, k: unknown) => store.read(namespace(ns)).has(key(k)),
      keys: (ns: unknown) => [...store.read(namespace(ns)).keys()],
      entries: (ns: unknown) => entries(namespace(ns)),
      size: (ns: unknown) => store.read(namespace(ns)).size,
      clear: (ns: unknown) => {
        const n = namespace(ns);
        const keys = [...store.read(n).keys()];
        for (const k of keys) write(n, k, null);
        return keys.length;
      },
      update: (ns: unknown, items: unknown) => {
        const n = namespace(ns);
        for (const [k, value] of pairs("entries", items)) write(n, k, value);
        return store.seq;
      },
      replace: (ns: unknown, items: unknown) => {
        const n = namespace(ns);
        const checked = pairs("entries", items);
        const keep = new Set(checked.map(([k]) => k));
        for (const k of [...store.read(n).keys()]) if (!keep.has(k)) write(n, k, null);
        for (const [k, value] of checked) write(n, k, value);
        return store.seq;
      },
      snapshot: (ns: unknown) => [store.seq, entries(namespace(ns))],
      op: (ns: unknown, k: unknown, name: unknown, args: unknown) => {
        const n = namespace(ns);
        const checkedKey = key(k);
        const operation = str("operation", name);
        if (!(OPERATIONS as readonly string[]).includes(operation))
          throw new InvalidArgumentError(
            "operation",
            operation,
            `one of ${OPERATIONS.join(", ")} (unknown atomic operation)`,
          );
        return this.#op(n, checkedKey, operation, argList("arguments", args));
      },
      commit: (ns: unknown, reads: unknown, writes: unknown) => {
        const n = namespace(ns);
        // Every field is checked before anything is written: a bad commit changes nothing.
        const checkedReads = list("reads", reads).map((read, i): [string, number] => {
          if (!Array.isArray(read) || read.length !== 2)
            throw new InvalidArgumentError(`reads[${i}]`, read, "[key, version]");
          return [str(`reads[${i}] key`, read[0]), version(`reads[${i}] version`, read[1])];
        });
        const checkedWrites = list("writes", writes).map((entry, i): [string, Buffer | null] => {
          if (!Array.isArray(entry) || entry.length !== 2)
            throw new InvalidArgumentError(`writes[${i}]`, entry, "[key, bytes or nil]");
          return [str(`writes[${i}] key`, entry[0]), entry[1] === null ? null : stored(`writes[${i}] value`, entry[1])];
        });
        for (const [k, v] of checkedReads) if (store.version(n, k) !== v) return false;
        for (const [k, value] of checkedWrites) write(n, k, value);
        return true;
      },
      mutate: (ns: unknown, name: unknown, args: unknown) =>
        this.#mutate(namespace(ns), str("mutation", name), argList("arguments", args)),
      watch: (ns: unknown, keys: unknown, since: unknown, sinceTime: unknown) => {
        const n = namespace(ns);
        const filter = keys === null || keys === undefined ? null : strings("keys", keys);
        if (since !== null && since !== undefined) version("since", since);
        if (
          sinceTime !== null &&
          sinceTime !== undefined &&
          (typeof sinceTime !== "number" || !Number.isFinite(sinceTime))
        )
          throw new InvalidArgumentError("sinceTime", sinceTime, "a time in ms since the epoch, or nil");
        return this.#watch(
          n,
          filter,
          (since as number | null | undefined) ?? null,
          (sinceTime as number | null | undefined) ?? null,
        );
      },
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
      throw new InvalidArgumentError(
        "mutation",
        name,
        `one of the server's mutations (${[...this.#mutations.keys()].join(", ") || "it loaded none"})`,
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
          const keys = new Set<string>(store.read(ns).keys());
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
        throw new MutationError(
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
    throw new MutationError(`mutation ${name} kept conflicting with concurrent writes`);
  }

  #watch(ns: string, keys: string[] | null, since: number | null, sinceTime: number | null): PushStream {
    const store = this.#store;
    const peer = currentCall()?.peer ?? "";
    // seq 0 never exists: a watch from 0 means from the first change.
    const next = since !== null ? Math.max(1, since) : sinceTime !== null ? store.seqAtTime(sinceTime) : store.seq + 1;
    if (next < store.oldest && store.seq >= next) store.change(next); // throws HistoryTruncatedError
    const held = this.#watchersByPeer.get(peer) ?? 0;
    if (held >= this.#maxWatchersPerPeer)
      throw new StateLimitError(
        `this client already has ${held} watches open (maxWatchersPerPeer ${this.#maxWatchersPerPeer}); close some first`,
      );
    const filter = keys && keys.length > 0 ? new Set(keys) : undefined;
    return new PushStream((sink) => {
      const watcher: Watcher = { ns, filter, next, sink, peer, released: false };
      this.#watchersByPeer.set(peer, (this.#watchersByPeer.get(peer) ?? 0) + 1);
      this.#watchers.add(watcher);
      sink.signal.addEventListener("abort", () => this.#release(watcher), { once: true });
      // The first item tells the client where the watch starts, so it can resume without a gap.
      sink.push(next);
      sink.onCredit = () => this.#feed(watcher);
      this.#feed(watcher);
    });
  }

  /** Forgets a watcher that ended (its stream failed, or the client cancelled or was lost). Idempotent. */
  #release(watcher: Watcher): void {
    if (watcher.released) return;
    watcher.released = true;
    this.#watchers.delete(watcher);
    this.#unready(watcher);
    const held = (this.#watchersByPeer.get(watcher.peer) ?? 1) - 1;
    if (held > 0) this.#watchersByPeer.set(watcher.peer, held);
    else this.#watchersByPeer.delete(watcher.peer);
  }

  #unready(watcher: Watcher): void {
    const set = this.#ready.get(watcher.ns);
    if (set?.delete(watcher) && set.size === 0) this.#ready.delete(watcher.ns);
  }

  /**
   * Sends a watcher the changes it has not had yet, as far as its credit goes; one that has no
   * credit is parked (writes skip it) and catches up from the history when credit comes, or fails
   * with HistoryTruncatedError once the history no longer holds what it missed.
   */
  #feed(watcher: Watcher): void {
    if (watcher.released) return;
    const store = this.#store;
    const sink = watcher.sink;
    while (watcher.next <= store.seq && sink.credit > 0) {
      let change: StoredChange;
      try {
        change = store.change(watcher.next) as StoredChange;
      } catch (error) {
        this.#release(watcher);
        sink.fail(error);
        return;
      }
      watcher.next++;
      if (change.ns !== watcher.ns || (watcher.filter && !watcher.filter.has(change.key))) continue;
      sink.push(wireChange(change));
    }
    if (sink.credit > 0) {
      let set = this.#ready.get(watcher.ns);
      if (!set) {
        set = new Set();
        this.#ready.set(watcher.ns, set);
      }
      set.add(watcher);
    } else {
      this.#unready(watcher);
      // A stream that ended without an abort (failed or done) is gone for good.
      if (sink.signal.aborted) this.#release(watcher);
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
