/**
 * The connection layer: a set of remote peers, each an endpoint with its own options (its
 * security included) and, where the pattern needs one, its own socket (a DEALER per server for
 * RPC, a DEALER per remote mailbox for discovery). The set tracks each peer's handshakes, picks a
 * live one round-robin, and fails only a removed or refusing peer's pending work. A resolver feeds
 * it: a static list today, discovery later.
 */
import { normalizeEndpoint } from "./endpoint.js";
import { type AuthenticationError, ClosedError, InvalidArgumentError, ZerokitError } from "./errors.js";
import { Feed } from "./feed.js";
import { observe } from "./interrupted.js";
import { checkBoolean, checkFunction, checkNumber, checkObject, checkSignal } from "./options.js";
import {
  type ClientSecurity,
  checkClientSecurity,
  clientSocketOptions,
  handshakeError,
  type SecuritySocketOptions,
} from "./security/options.js";
import type { ZSocket } from "./socket.js";

/** One peer's own options. */
export interface PeerOptions {
  /** How to secure this peer's connection (its server key, this side's keys). */
  security?: ClientSecurity;
}

/**
 * Makes the socket of a new peer. It gets the socket options of the peer's security (spread them
 * into the constructor: CURVE options must be set before connecting) and the endpoint; the set
 * connects it, and closes it when the peer is removed.
 */
export type SocketFactory<S extends ZSocket> = (security: SecuritySocketOptions, endpoint: string) => S;

/** What happened to a peer, in the order it happened. */
export type PeerStatus =
  | { type: "added"; endpoint: string }
  | { type: "connected"; endpoint: string }
  | { type: "disconnected"; endpoint: string }
  /** The handshake failed: refused by the server's authenticator, wrong keys, or a security mismatch. */
  | { type: "handshake-failed"; endpoint: string; error: AuthenticationError }
  | { type: "removed"; endpoint: string };

/** Where a peer is: `"refused"` means its last handshake failed and none succeeded since. */
export type PeerState = "connecting" | "connected" | "disconnected" | "refused" | "removed";

/** Pending work a peer's owner registers, failed when the peer is removed or refuses its handshake. */
export interface PendingWork {
  fail(error: Error): void;
}

/** A change a {@link PeerResolver} reports. */
export type PeerChange =
  | { type: "add"; endpoint: string; options?: PeerOptions }
  | { type: "remove"; endpoint: string };

/** Feeds a peer set: where the peers are, and when that changes. */
export interface PeerResolver {
  /** The changes, until `signal` aborts (a static resolver yields its list and ends). */
  changes(signal: AbortSignal): AsyncIterable<PeerChange>;
}

/** Options of {@link PeerSet}. */
export interface PeerSetOptions<S extends ZSocket> {
  /** Makes each peer's socket. */
  socket: SocketFactory<S>;
  /** Options of peers added without their own (their own replace these as a whole). */
  defaults?: PeerOptions;
  /** Most peers at once. Default 10,000. */
  maxPeers?: number;
  /** Statuses each {@link PeerSet.status} consumer may fall behind by; older ones are dropped. Default 1,000. */
  statusBuffer?: number;
  /** Called synchronously with every status, before stream consumers see it (for the owner). */
  onStatus?: (status: PeerStatus, peer: Peer<S>) => void;
  /** Called when an `onStatus` hook or a resolver fails. Default: `console.warn`. */
  onError?: (error: Error) => void;
  /**
   * Close a peer's socket (linger 0, nothing left to send) as soon as its handshake is refused
   * for good: by the server's authenticator or for a security mismatch, after which libzmq
   * never reconnects it. The peer stays in the set, refused, until removed. A connection dropped
   * mid-handshake (`handshake:error:other`, which libzmq retries) keeps its socket. Default false.
   */
  closeRefused?: boolean;
}

const DEFAULT_MAX_PEERS = 10_000;
const DEFAULT_STATUS_BUFFER = 1000;

/**
 * One remote peer of a {@link PeerSet}: its endpoint, options and socket, and what its
 * handshakes said. Only the set creates and removes peers.
 */
export class Peer<S extends ZSocket = ZSocket> {
  readonly endpoint: string;
  readonly options: PeerOptions;
  readonly socket: S;
  #connections = 0;
  #state: PeerState = "connecting";
  #failure: AuthenticationError | undefined;
  #suspectUntil = 0;
  readonly #controller = new AbortController();
  readonly #pending = new Set<PendingWork>();

  /** @internal Made by {@link PeerSet.add}. */
  constructor(endpoint: string, options: PeerOptions, socket: S) {
    this.endpoint = endpoint;
    this.options = options;
    this.socket = socket;
  }

  /** Whether a handshake has completed and the connection has not dropped since. */
  get connected(): boolean {
    return this.#connections > 0;
  }

  get state(): PeerState {
    return this.#state;
  }

  /** Why the last handshake failed, until one succeeds. */
  get failure(): AuthenticationError | undefined {
    return this.#failure;
  }

  /** Aborts (with the reason) when the peer is removed: hook long waits on it. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the owner suspects this peer (see {@link suspect}). */
  get suspected(): boolean {
    return this.#suspectUntil > performance.now();
  }

  /**
   * Marks the peer suspect (e.g. a call to it missed its heartbeats) for `durationMs`, or until
   * its next successful handshake: {@link PeerSet.pick} then prefers other peers.
   */
  suspect(durationMs = Number.POSITIVE_INFINITY): void {
    checkNumber("durationMs", durationMs, { min: 0, orInfinity: true });
    this.#suspectUntil = performance.now() + durationMs;
  }

  clearSuspicion(): void {
    this.#suspectUntil = 0;
  }

  /**
   * Registers work waiting on this peer; it is failed (and forgotten) when the peer is removed
   * or its handshake is refused, and at once if that already happened (a refused peer stays
   * refused: libzmq does not retry after a ZAP refusal; remove and add it again to retry). Call {@link untrack} when it finishes. O(1), no allocation.
   *
   * @example
   * peer.track(call); try { await reply; } finally { peer.untrack(call); }
   */
  track(work: PendingWork): void {
    if (this.#state === "removed") {
      work.fail(this.#controller.signal.reason as Error);
      return;
    }
    // libzmq does not reconnect after a ZAP refusal (status 400): nothing tracked now could succeed.
    if (this.#state === "refused" && this.#failure) {
      work.fail(this.#failure);
      return;
    }
    this.#pending.add(work);
  }

  untrack(work: PendingWork): void {
    this.#pending.delete(work);
  }

  /** How much tracked work is waiting. */
  get pending(): number {
    return this.#pending.size;
  }

  /** @internal */
  handshake(): boolean {
    this.#connections++;
    this.#failure = undefined;
    this.#suspectUntil = 0;
    const changed = this.#state !== "connected";
    this.#state = "connected";
    return changed;
  }

  /** @internal */
  disconnect(): boolean {
    if (this.#connections === 0) return false;
    this.#connections--;
    if (this.#connections > 0) return false;
    this.#state = "disconnected";
    return true;
  }

  /** @internal Returns whether this is news (a first failure, or a different reason). */
  refuse(error: AuthenticationError): boolean {
    const news = this.#state !== "refused" || this.#failure?.reason !== error.reason;
    this.#failure = error;
    if (this.#state !== "connected") this.#state = "refused";
    this.#failAll(error);
    return news;
  }

  /** @internal */
  remove(reason: Error): void {
    this.#state = "removed";
    this.#connections = 0;
    this.#controller.abort(reason);
    this.#failAll(reason);
  }

  #failAll(error: Error): void {
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const work of pending) {
      try {
        work.fail(error);
      } catch {
        // one owner's failing callback must not keep the others from hearing
      }
    }
  }
}

// What pick() looks for, best first (module-level: pick runs once per call sent).
const isLive = (peer: Peer): boolean => peer.connected && !peer.suspected;
const isConnected = (peer: Peer): boolean => peer.connected;
const mayConnect = (peer: Peer): boolean => peer.state === "connecting" || peer.state === "disconnected";

/**
 * A set of remote peers, one socket each, keyed by endpoint. Adding a peer makes and connects
 * its socket; its handshake events become statuses; {@link pick} chooses a live peer round-robin.
 * Single-threaded like everything in Node: add/remove/pick may be called from any callback, and
 * statuses are delivered synchronously to `onStatus` before any await.
 *
 * @example
 * await using peers = new PeerSet({ socket: (security) => new Dealer({ ...security }) });
 * peers.add("tcp://127.0.0.1:5555", { security: { curve: { serverKey } } });
 * const peer = peers.pick();
 * await peer.socket.send(request);
 */
export class PeerSet<S extends ZSocket = ZSocket> implements AsyncDisposable {
  readonly #factory: SocketFactory<S>;
  readonly #defaults: PeerOptions;
  readonly #maxPeers: number;
  readonly #onStatus: ((status: PeerStatus, peer: Peer<S>) => void) | undefined;
  readonly #onError: (error: Error) => void;
  readonly #closeRefused: boolean;
  readonly #peers = new Map<string, Peer<S>>();
  /** The peers in insertion order, for round-robin; rebuilt on add/remove, which are rare. */
  #order: Peer<S>[] = [];
  #next = 0;
  readonly #statuses: Feed<PeerStatus>;
  readonly #controller = new AbortController();
  #closed = false;

  constructor(options: PeerSetOptions<S>) {
    checkObject("options", options);
    if (options === undefined) throw new InvalidArgumentError("options", options, "an options object with socket");
    if (options.socket === undefined) throw new InvalidArgumentError("options.socket", undefined, "a socket factory");
    checkFunction("options.socket", options.socket);
    checkObject("options.defaults", options.defaults);
    checkClientSecurity("options.defaults.security", options.defaults?.security);
    checkNumber("options.maxPeers", options.maxPeers, { min: 1, integer: true });
    checkNumber("options.statusBuffer", options.statusBuffer, { min: 1, integer: true });
    checkFunction("options.onStatus", options.onStatus);
    checkFunction("options.onError", options.onError);
    checkBoolean("options.closeRefused", options.closeRefused);
    this.#factory = options.socket;
    this.#defaults = options.defaults ?? {};
    this.#maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    // A consumer too far behind loses its oldest statuses; nothing else needs to know.
    this.#statuses = new Feed<PeerStatus>(
      options.statusBuffer ?? DEFAULT_STATUS_BUFFER,
      () => {},
      "the peer set was closed",
    );
    this.#onStatus = options.onStatus;
    this.#closeRefused = options.closeRefused ?? false;
    this.#onError = options.onError ?? ((error) => console.warn(`zerokit peers: ${error.message}`));
  }

  /** How many peers the set holds. */
  get size(): number {
    return this.#peers.size;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Every peer, in the order they were added. */
  peers(): readonly Peer<S>[] {
    return this.#order;
  }

  /** The peer at `endpoint` (any spelling {@link normalizeEndpoint} accepts), if any. */
  get(endpoint: string): Peer<S> | undefined {
    return this.#peers.get(normalizeEndpoint(endpoint, "connect"));
  }

  /**
   * Adds a peer: makes its socket with the security options of `options` (or the set's
   * defaults), watches its handshakes, connects it, and reports `"added"`.
   *
   * @throws {EndpointError} for a malformed endpoint.
   * @throws {InvalidArgumentError} for bad options or an endpoint already in the set.
   * @throws {ZerokitError} (code `EPEERLIMIT`) when the set already holds `maxPeers`.
   * @throws {ClosedError} after {@link close}.
   * @example
   * const peer = peers.add("ipc:///tmp/calc.sock", { security: { curve: { serverKey } } });
   */
  add(endpoint: string, options?: PeerOptions): Peer<S> {
    if (this.#closed) throw new ClosedError("the peer set is closed");
    const key = normalizeEndpoint(endpoint, "connect");
    checkObject("options", options);
    checkClientSecurity("options.security", options?.security);
    if (this.#peers.has(key))
      throw new InvalidArgumentError("endpoint", endpoint, "an endpoint not already in the set");
    if (this.#peers.size >= this.#maxPeers) {
      throw new ZerokitError(`the peer set already holds ${this.#maxPeers} peers`, "EPEERLIMIT");
    }
    const own = options ?? this.#defaults;
    const socket = this.#factory(clientSocketOptions(own.security), key);
    const peer = new Peer(key, own, socket);
    this.#observe(peer);
    try {
      socket.connect(key);
    } catch (error) {
      socket.close();
      throw error;
    }
    this.#peers.set(key, peer);
    this.#order = [...this.#order, peer];
    this.#emit({ type: "added", endpoint: key }, peer);
    return peer;
  }

  /**
   * Removes a peer: its tracked work fails with `reason` (default a `ClosedError`), its signal
   * aborts, its socket closes, and `"removed"` is reported. Other peers are untouched. Returns
   * false when there was no such peer.
   *
   * @example
   * peers.remove("tcp://127.0.0.1:5555");
   */
  remove(endpoint: string, reason?: Error): boolean {
    const key = normalizeEndpoint(endpoint, "connect");
    const peer = this.#peers.get(key);
    if (!peer) return false;
    this.#peers.delete(key);
    this.#order = this.#order.filter((p) => p !== peer);
    this.#drop(peer, key, reason ?? new ClosedError(`peer ${key} was removed`));
    return true;
  }

  #drop(peer: Peer<S>, key: string, reason: Error): void {
    peer.remove(reason);
    peer.socket.close();
    this.#emit({ type: "removed", endpoint: key }, peer);
  }

  /**
   * Picks a peer to send to, round-robin: connected and unsuspected peers first, then connected
   * suspected ones, then peers still connecting (a DEALER queues until the handshake). Refused
   * peers are never picked.
   *
   * @throws {AuthenticationError} when every peer refused its handshake (the latest failure).
   * @throws {ClosedError} when the set is empty or closed.
   * @example
   * const peer = peers.pick(); peer.track(call); peer.socket.post(request);
   */
  pick(): Peer<S> {
    const order = this.#order;
    const n = order.length;
    if (n === 0) throw new ClosedError(this.#closed ? "the peer set is closed" : "there are no peers");
    if (n === 1 && order[0]!.connected && !order[0]!.suspected) return order[0]!;
    return this.#scan(isLive) ?? this.#scan(isConnected) ?? this.#scan(mayConnect) ?? this.#refused();
  }

  #scan(ok: (peer: Peer<S>) => boolean): Peer<S> | undefined {
    const order = this.#order;
    for (let i = 0; i < order.length; i++) {
      const index = (this.#next + i) % order.length;
      const peer = order[index]!;
      if (ok(peer)) {
        this.#next = (index + 1) % order.length;
        return peer;
      }
    }
    return undefined;
  }

  #refused(): never {
    for (let i = this.#order.length - 1; i >= 0; i--) {
      const failure = this.#order[i]!.failure;
      if (failure) throw failure;
    }
    throw new ClosedError("no peer can be reached");
  }

  /**
   * The statuses of every peer from now on, until the set closes or `signal` aborts (then the
   * loop ends normally). Several consumers may iterate at once; each sees every status. A
   * consumer more than `statusBuffer` statuses behind loses the oldest.
   *
   * @example
   * for await (const s of peers.status({ signal })) if (s.type === "handshake-failed") log(s.error);
   */
  status(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PeerStatus> {
    checkObject("options", options);
    checkSignal("options.signal", options.signal);
    return this.#statuses.subscribe(options.signal);
  }

  /**
   * Follows a resolver: adds and removes peers as it reports, until it ends or `signal` aborts
   * (then the peers it added are removed). A change that fails (a bad endpoint, a full set) is
   * reported to `onError` and skipped; an endpoint already present is left as it is.
   *
   * @example
   * await peers.follow(staticResolver(["tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556"]));
   */
  async follow(resolver: PeerResolver, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (resolver === null || typeof resolver !== "object" || typeof resolver.changes !== "function") {
      throw new InvalidArgumentError("resolver", resolver, "a PeerResolver (an object with changes(signal))");
    }
    checkObject("options", options);
    checkSignal("options.signal", options.signal);
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#controller.signal])
      : this.#controller.signal;
    const added = new Set<string>();
    try {
      for await (const change of resolver.changes(signal)) {
        if (signal.aborted) break;
        try {
          if (change.type === "add") {
            const key = normalizeEndpoint(change.endpoint, "connect");
            if (this.#peers.has(key)) continue;
            this.add(key, change.options);
            added.add(key);
          } else if (change.type === "remove") {
            const key = normalizeEndpoint(change.endpoint, "connect");
            added.delete(key);
            this.remove(key);
          }
        } catch (error) {
          this.#report(error);
        }
      }
    } catch (error) {
      if (!signal.aborted) this.#report(error);
    }
    if (signal.aborted && !this.#closed) for (const key of added) this.remove(key);
  }

  #observe(peer: Peer<S>): void {
    // The observer must exist before connect(), or it misses the first handshake.
    const events = observe(peer.socket.raw);
    events.on("handshake", () => {
      if (peer.handshake()) this.#emit({ type: "connected", endpoint: peer.endpoint }, peer);
    });
    events.on("disconnect", () => {
      if (peer.disconnect()) this.#emit({ type: "disconnected", endpoint: peer.endpoint }, peer);
    });
    const failed = (event: Parameters<typeof handshakeError>[0]) => {
      const error = handshakeError(event);
      if (!error || peer.state === "removed") return;
      const news = peer.refuse(error);
      // libzmq ends the session for good after a ZAP refusal or a protocol error; a socket kept
      // open until the owner closes it once aborted libzmq at exit (pipe.cpp:355), so it goes now.
      if (this.#closeRefused && event.type !== "handshake:error:other" && !peer.socket.closed) {
        peer.socket.raw.linger = 0;
        peer.socket.close();
      }
      if (news) this.#emit({ type: "handshake-failed", endpoint: peer.endpoint, error }, peer);
    };
    events.on("handshake:error:auth", failed);
    events.on("handshake:error:protocol", failed);
    events.on("handshake:error:other", failed);
  }

  #emit(status: PeerStatus, peer: Peer<S>): void {
    if (this.#onStatus) {
      try {
        this.#onStatus(status, peer);
      } catch (error) {
        this.#report(error);
      }
    }
    this.#statuses.emit(status);
  }

  #report(error: unknown): void {
    try {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // the error hook itself failed: nothing further to tell
    }
  }

  /** Removes every peer (their work fails with `ClosedError`) and ends the status streams. Safe twice. */
  close(): void {
    if (this.#closed) return;
    // All at once (removing one by one would copy the order once per peer).
    const peers = [...this.#peers];
    this.#peers.clear();
    this.#order = [];
    for (const [key, peer] of peers) this.#drop(peer, key, new ClosedError("the peer set was closed"));
    this.#closed = true;
    this.#controller.abort(new ClosedError("the peer set was closed"));
    this.#statuses.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * A resolver over a fixed list of endpoints (each a string or `{ endpoint, options }`): it adds
 * them all and ends. Discovery will provide a resolver that keeps reporting.
 *
 * @example
 * await peers.follow(staticResolver(["tcp://127.0.0.1:5555"]));
 */
export function staticResolver(entries: Iterable<string | { endpoint: string; options?: PeerOptions }>): PeerResolver {
  const list = [...entries].map(
    (entry): PeerChange =>
      typeof entry === "string"
        ? { type: "add", endpoint: entry }
        : entry.options === undefined
          ? { type: "add", endpoint: entry.endpoint }
          : { type: "add", endpoint: entry.endpoint, options: entry.options },
  );
  return {
    async *changes(signal: AbortSignal): AsyncIterable<PeerChange> {
      for (const change of list) {
        if (signal.aborted) return;
        yield change;
      }
    },
  };
}
