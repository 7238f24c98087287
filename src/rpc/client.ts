import type * as zmq from "zeromq";
import {
  AbortError,
  abortErrorFrom,
  ClosedError,
  EndpointError,
  InvalidArgumentError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from "../core/errors.js";
import { observe } from "../core/interrupted.js";
import {
  checkBoolean,
  checkDuration,
  checkFunction,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
} from "../core/options.js";
import { type Peer, type PeerResolver, PeerSet, type PeerStatus } from "../core/peers.js";
import {
  type ClientSecurity,
  checkClientSecurity,
  checkServerSecurity,
  type ServerSecurity,
  serverSocketOptions,
} from "../core/security/options.js";
import type { Message } from "../core/socket.js";
import { Dealer, type SocketOptions } from "../core/sockets.js";
import { CallChannel, type ChannelHost, type ConsumeMode, type RequestInfo } from "./channel.js";
import { currentCall, Ticker } from "./context.js";
import {
  CANCEL,
  channelHeader,
  DEFAULT_MAX_MESSAGE,
  decodeEvent,
  type EventFrames,
  type EventHeader,
  encodeEvent,
  encodeEventFrames,
  encodeFast,
  encodeFastFrames,
  FEATURES,
  FrameShelf,
  framesBytes,
  idBytes,
  idString,
  MAX_PACKED_HEADERS,
  nextIdNumber,
  ownIdNumber,
  type PackedHeaders,
  PROTOCOL_VERSION,
  packHeaderEntries,
  peekResponseTo,
  type RpcEvent,
  splitParts,
  type WireId,
} from "./protocol.js";
import { remoteErrorOf, typedRemoteError } from "./remote-errors.js";
import { DualResult } from "./result.js";
import { batchFrames, channelEventName, meaningOf, replyFrames } from "./semantics.js";
import type { EventObserver } from "./server.js";

/** Options of one call. */
export interface CallOptions {
  /** Milliseconds to wait for the first reply; default the client's `timeout`. */
  timeout?: number;
  /** Aborting stops waiting at once and cancels the call on the server (see README). */
  signal?: AbortSignal;
  /** Context headers sent with the request (e.g. `{ trace_id: "..." }`). */
  headers?: Record<string, unknown>;
}

export type { RequestInfo } from "./channel.js";

/** Client middleware points (zerorpc-python's client hooks in TypeScript form). */
export interface ClientHooks {
  /** Before a request leaves; may add headers (zerorpc `client_before_request`). */
  beforeCall?(request: RequestInfo): void;
  /** When a call answered (OK or stream end) (`client_after_request`). */
  afterCall?(request: RequestInfo, result: unknown): void;
  /** When a call failed remotely; may return a replacement error (`client_handle_remote_error`). */
  onRemoteError?(request: RequestInfo, error: RemoteError): unknown;
}

/** Options of {@link RpcClient}. */
export interface ClientOptions {
  /** Milliseconds to wait for a call's first reply. Default 30,000 (zerorpc's 30 s). */
  timeout?: number;
  /** Heartbeat period in ms, or `false` to turn heartbeats off. Default 5000. */
  heartbeat?: number | false;
  /** Start beating on a channel only after the server's first beat (zerorpc's passive mode). */
  passiveHeartbeat?: boolean;
  /** Largest request or reply accepted, in bytes. Default 100 MiB. */
  maxMessageSize?: number;
  /** Stream items the client lets the server send ahead of the consumer. Default 100. */
  streamWindow?: number;
  /**
   * The most stream items a call awaited whole (`await client.call(...)`) collects; past it the
   * call fails with `TooManyItemsError` and is cancelled on the server. Iterating a call holds
   * at most `streamWindow` items instead. Default 1,000,000.
   */
  maxCollectedItems?: number;
  /** Middleware. */
  hooks?: ClientHooks;
  /**
   * How events are framed. `"zerorpc"` (the default): each event is its own message after an
   * empty delimiter frame, as zerorpc-python and zerorpc-node servers expect. `"zerokit"`, for
   * zerokit servers only: no delimiter, and the events a client sends in one turn of the event
   * loop (many concurrent calls) travel together in one message, as do the server's replies to
   * them, which saves most of the per-message cost of ZeroMQ. The State client uses it.
   */
  framing?: "zerorpc" | "zerokit";
  /** Options for the DEALER sockets. */
  socket?: SocketOptions<zmq.Dealer>;
  /**
   * How to secure each connection whose `connect()` names none (see {@link ClientSecurity}):
   * the server's public key, and this client's own pair (without one, each peer gets a fresh
   * anonymous pair). A server that refuses the handshake fails the calls sent to it with
   * `AuthenticationError` (code `EAUTH`) at once.
   */
  security?: ClientSecurity;
  /** Sees every event received and sent (for debugging, e.g. the CLI's `-d`). */
  onEvent?: EventObserver;
  /**
   * Called for every message from a server that breaks the protocol (undecodable, wrongly shaped,
   * more stream items than granted...). The client drops it and goes on; a call the message
   * belongs to fails with the same `ProtocolError`. Counted in {@link RpcClient.stats}.
   */
  onProtocolError?: (error: ProtocolError, frames: Message) => void;
}

/** What a client has received, counted since it was made (see {@link RpcClient.stats}). */
export interface ClientStats {
  /** Messages read from the servers (a zerokit batch counts once). */
  readonly messages: number;
  /** Events or messages that broke the protocol (each also went to `onProtocolError`). */
  readonly protocolErrors: number;
  /**
   * Events for a call that is no longer open: late replies after a timeout or cancel, duplicate
   * replies, heartbeats in flight. The protocol says to drop them; they are only counted.
   */
  readonly stale: number;
}

/**
 * What the client keeps per socket: a connected server's (its {@link Peer} in the peer set holds
 * the socket, the handshakes, suspicion and the calls waiting on it) or the bound socket's.
 */
interface Link {
  socket: Dealer;
  /** The peer of a connected server; undefined for the bound socket (its workers come and go). */
  peer: Peer<Dealer> | undefined;
  /** Completed handshakes of the bound socket (it may have several workers). */
  connections: number;
  cancel: boolean | undefined;
  probing: Promise<boolean> | undefined;
  /** The receive waiting for this peer's next message, if one is (see #listen). */
  receiving: Promise<void> | undefined;
  onFrames: (frames: Message) => void;
  onReceiveError: (error: unknown) => void;
  /** zerokit framing: whether this turn of the event loop already sent an event (see #post). */
  sentThisTurn: boolean;
  /** zerokit framing: ends the turn, sending what it held back. */
  endTurn: () => void;
  /** zerokit framing: the events held back to go out together at the end of this turn. */
  batch: Buffer[];
  batchBytes: number;
  batchErrors: ((error: Error) => void)[];
  /**
   * Large request frames this link's server has read, for its next requests (see FrameShelf):
   * only for one connected server over tcp or ipc. Over inproc the server's view of a request
   * is the request's memory itself, and a bound socket's workers share one socket.
   */
  shelf: FrameShelf | undefined;
}

/** Most events, and bytes, one zerokit batch carries before it goes out early. */
const MAX_BATCH_EVENTS = 256;
const MAX_BATCH_BYTES = 1024 * 1024;

type ClientChannel = CallChannel<Link>;

const DEFAULT_MAX_COLLECTED = 1_000_000;
/**
 * Largest stream window: the window is how many items a server may send ahead, so it is also
 * how many items one server can make an iterating caller hold.
 */
export const MAX_STREAM_WINDOW = 10_000;
const FRAMINGS = ["zerorpc", "zerokit"] as const;
const HOOK_NAMES = ["beforeCall", "afterCall", "onRemoteError"] as const;

/** Every option of the constructor, checked once (see src/core/options.ts). */
function validateClientOptions(options: ClientOptions): void {
  checkObject("options", options);
  checkDuration("timeout", options.timeout, { orInfinity: true });
  checkHeartbeat("heartbeat", options.heartbeat);
  checkBoolean("passiveHeartbeat", options.passiveHeartbeat);
  checkNumber("maxMessageSize", options.maxMessageSize, { min: 1, integer: true });
  checkNumber("streamWindow", options.streamWindow, { min: 2, max: MAX_STREAM_WINDOW, integer: true });
  checkNumber("maxCollectedItems", options.maxCollectedItems, { min: 1, integer: true });
  checkObject("hooks", options.hooks);
  if (options.hooks) for (const name of HOOK_NAMES) checkFunction(`hooks.${name}`, options.hooks[name]);
  checkOneOf("framing", options.framing, FRAMINGS);
  checkObject("socket", options.socket);
  checkFunction("onEvent", options.onEvent);
  checkFunction("onProtocolError", options.onProtocolError);
  checkClientSecurity("security", options.security);
}

/** A heartbeat period: milliseconds ≥ 1 (0 would declare every server lost at once), or false. */
function checkHeartbeat(name: string, value: unknown): void {
  if (value === undefined || value === false) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
    throw new InvalidArgumentError(name, value, "a number of milliseconds ≥ 1, or false");
  }
}

/** An endpoint to connect or bind; what is in it is checked by the socket (EndpointError). */
export function checkEndpoint(endpoint: unknown): void {
  if (typeof endpoint !== "string" || endpoint.length === 0) {
    throw new InvalidArgumentError("endpoint", endpoint, 'a non-empty endpoint string such as "tcp://127.0.0.1:4242"');
  }
}

/**
 * The options of one call. It runs on every call, so the common case (nothing given, or valid
 * values) costs a few type checks and allocates nothing; the checkers only run to throw.
 */
function validateCallOptions(method: unknown, args: unknown, options: CallOptions | undefined): void {
  if (typeof method !== "string") throw new InvalidArgumentError("method", method, "a method name (a string)");
  if (!Array.isArray(args)) throw new InvalidArgumentError("args", args, "an array of positional arguments");
  if (options === undefined) return;
  if (typeof options !== "object" || options === null) checkObject("options", options);
  const timeout = options.timeout;
  if (timeout !== undefined && !(typeof timeout === "number" && timeout > 0)) {
    checkDuration("options.timeout", timeout, { orInfinity: true });
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) checkSignal("options.signal", signal);
  const headers = options.headers;
  if (headers !== undefined && (typeof headers !== "object" || headers === null || Array.isArray(headers))) {
    throw new InvalidArgumentError("options.headers", headers, "an object of header values");
  }
}
const EMPTY = Buffer.alloc(0);

interface CachedHeaders {
  keys: string[];
  values: unknown[];
  packed: PackedHeaders;
}

// Callers tend to pass the same headers object on every call (State passes its origin): its
// packed form is kept until an entry changes. Only primitive values are cached, since a nested
// object could change without the check below seeing it.
const packedHeaderCache = new WeakMap<object, CachedHeaders>();

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== "object" && typeof value !== "function");
}

function sameEntries(cached: CachedHeaders, headers: Readonly<Record<string, unknown>>): boolean {
  let i = 0;
  for (const key in headers) {
    if (cached.keys[i] !== key || cached.values[i] !== headers[key]) return false;
    i++;
  }
  return i === cached.keys.length;
}

/** The packed context entries of `headers`, or undefined when they do not fit the fast encoder. */
function packedHeadersOf(headers: Readonly<Record<string, unknown>>): PackedHeaders | undefined {
  const cached = packedHeaderCache.get(headers);
  if (cached && sameEntries(cached, headers)) return cached.packed;
  const keys = Object.keys(headers);
  if (keys.length > MAX_PACKED_HEADERS) return undefined;
  const values = keys.map((key) => headers[key]);
  const packed = packHeaderEntries(headers);
  if (values.every(isPrimitive)) packedHeaderCache.set(headers, { keys, values, packed });
  return packed;
}

/**
 * The result of a call: await it for the value (a streamed reply collects into an array), or
 * iterate it with `for await` to consume a stream item by item with backpressure. The reply
 * tells which it is; nothing needs declaring up front.
 */
export interface CallResult<T> extends Promise<T>, AsyncIterable<T extends readonly (infer U)[] ? U : T> {}

/** A streamed reply: iterate it (backpressure), or await it to collect every item. */
export interface StreamResult<T> extends Promise<T[]>, AsyncIterable<T> {}

// biome-ignore lint/suspicious/noExplicitAny: matches any function signature.
type AnyFn = (...args: any[]) => any;

/** What calling a remote method returns, given the local signature's return type. */
export type Remote<R> =
  R extends AsyncGenerator<infer U, unknown, unknown>
    ? StreamResult<U>
    : R extends Generator<infer U, unknown, unknown>
      ? StreamResult<U>
      : R extends AsyncIterable<infer U>
        ? StreamResult<U>
        : CallResult<Awaited<R>>;

/** The typed view of a remote service: each method returns a {@link Remote} of its result. */
export type Proxied<Api> = {
  readonly [K in keyof Api as Api[K] extends AnyFn ? K : never]: Api[K] extends (...args: infer A) => infer R
    ? (...args: A) => Remote<R>
    : never;
};

/**
 * A zerorpc-compatible client. Connect to one or more servers (the core's peer set: one socket
 * per server, so a call's heartbeats and credit always reach the server that runs it, and a dead
 * server is skipped while a live one can answer), let a resolver add and remove them
 * ({@link follow}), or bind and let workers connect.
 *
 * Security is per peer: `security` in the options is the default, `connect(endpoint, { security })`
 * gives one server its own (its key, this side's pair), so one client can reach servers of
 * different keys. A server that refuses the handshake fails the calls sent to it with
 * `AuthenticationError` (`EAUTH`) within milliseconds, its socket is closed at once (libzmq never
 * retries it), and later calls go to the other servers.
 *
 * Concurrency: any number of calls may be in flight at once from any number of callers.
 *
 * @example
 * await using client = new RpcClient({ timeout: 5000 });
 * client.connect("tcp://127.0.0.1:4242");
 * const sum = await client.call<number>("add", [1, 2]);
 * for await (const n of client.call<number>("range", [5])) console.log(n);
 */
export class RpcClient implements AsyncDisposable {
  readonly #timeout: number;
  readonly #heartbeat: number | false;
  readonly #passive: boolean;
  readonly #maxMessageSize: number;
  readonly #window: number;
  readonly #batching: boolean;
  /** Whether a server may be over inproc, which hands it our memory: large parts are then copied. */
  #inproc = false;
  readonly #hooks: ClientHooks | undefined;
  readonly #socketOptions: SocketOptions<zmq.Dealer> | undefined;
  readonly #security: ClientSecurity | undefined;
  #bindSecurity: ServerSecurity | undefined;
  readonly #onEvent: EventObserver | undefined;
  readonly #onProtocolError: ((error: ProtocolError, frames: Message) => void) | undefined;
  readonly #channels = new Map<number, ClientChannel>();
  #messages = 0;
  #protocolErrors = 0;
  #stale = 0;
  /** The connected servers: one DEALER each, with its own security. */
  readonly #peers: PeerSet<Dealer>;
  readonly #links = new Map<Peer<Dealer>, Link>();
  /** The socket of every bind, if the client binds. */
  #bound: Link | undefined;
  /** With both a bound socket and connected servers, calls alternate between the two. */
  #boundTurn = false;
  #closed = false;
  readonly #ticker: Ticker;
  /** What the client's channels may ask of it (kept off the client's public surface). */
  readonly #host: ChannelHost;

  /**
   * @throws {InvalidArgumentError} (code `EINVAL`) for an option whose value is not allowed,
   *   naming the option, the value and what is allowed.
   */
  constructor(options: ClientOptions = {}) {
    validateClientOptions(options);
    this.#timeout = options.timeout ?? 30_000;
    this.#heartbeat = options.heartbeat === undefined ? 5000 : options.heartbeat;
    this.#passive = options.passiveHeartbeat ?? false;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    this.#window = options.streamWindow ?? 100;
    this.#host = {
      window: this.#window,
      maxCollected: options.maxCollectedItems ?? DEFAULT_MAX_COLLECTED,
      sendCredit: (channel, credit) => this.#sendEvent(channel as ClientChannel, channelEventName("credit"), [credit]),
      cancel: (channel, reason) => this.#cancelChannel(channel as ClientChannel, reason),
      fail: (channel, error) => {
        if (!channel.done) this.#forget(channel as ClientChannel, error);
      },
    };
    this.#batching = options.framing === "zerokit";
    this.#hooks = options.hooks;
    this.#socketOptions = options.socket;
    this.#security = options.security;
    this.#onEvent = options.onEvent;
    this.#onProtocolError = options.onProtocolError;
    this.#peers = new PeerSet<Dealer>({
      socket: (security) => new Dealer({ ...this.#socketOptions, ...security }),
      closeRefused: true,
      onStatus: (status, peer) => this.#onPeerStatus(status, peer),
    });
    const period = this.#heartbeat === false ? 100 : Math.min(25, this.#heartbeat / 4);
    this.#ticker = new Ticker(
      Math.max(1, period),
      (now) => this.#onTick(now),
      () => this.#channels.size > 0,
    );
  }

  /** What the client has received and dropped so far (a fresh snapshot on every read). */
  get stats(): ClientStats {
    return { messages: this.#messages, protocolErrors: this.#protocolErrors, stale: this.#stale };
  }

  /**
   * Connects to a server. Each endpoint gets its own socket, with its own security
   * (`options.security`, else the client's): one client can reach servers of different keys.
   * Calls go round-robin over the servers that are connected, skipping those that refused the
   * handshake; a call sent to a server that refuses fails with `AuthenticationError` (`EAUTH`)
   * as soon as the handshake fails (libzmq does not retry a connection its server refused).
   *
   * @throws {EndpointError} for a malformed endpoint.
   * @throws {InvalidArgumentError} when `endpoint` is not a non-empty string, is already
   *   connected (in any spelling of it), or for a security option not allowed.
   * @example
   * client.connect("tcp://127.0.0.1:4242", { security: { curve: { serverKey, publicKey, secretKey } } });
   */
  connect(endpoint: string, options: { security?: ClientSecurity } = {}): void {
    checkEndpoint(endpoint);
    checkObject("options", options);
    checkClientSecurity("options.security", options.security);
    this.#assertOpen();
    if (endpoint.startsWith("inproc:")) this.#inproc = true;
    const security = options.security ?? this.#security;
    this.#peers.add(endpoint, security === undefined ? {} : { security });
  }

  /**
   * Follows a resolver (a static list today, discovery later): connects to the servers it adds
   * and disconnects from those it removes, as {@link connect} and {@link disconnect} do, until it
   * ends or `signal` aborts (then the servers it added are disconnected). A server it adds
   * without options gets the client's `security`. Resolves when following stops.
   *
   * @throws {InvalidArgumentError} (rejected) for a resolver or option not allowed.
   * @throws {ClosedError} (rejected) after {@link close}.
   * @example
   * void client.follow(staticResolver(["tcp://127.0.0.1:4242", "tcp://127.0.0.1:4243"]), { signal });
   */
  async follow(resolver: PeerResolver, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen();
    await this.#peers.follow(resolver, options);
  }

  /**
   * What happens to the connected servers from now on (added, connected, disconnected, handshake
   * failed with why, removed), until the client closes or `signal` aborts. Several consumers may
   * iterate at once.
   *
   * @example
   * for await (const s of client.status({ signal })) if (s.type === "handshake-failed") log(s.error);
   */
  status(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PeerStatus> {
    return this.#peers.status(options);
  }

  /**
   * Closes the connection to `endpoint` (as given to {@link connect}; every socket connected to
   * it). Only the calls sent to it fail, with `ClosedError`; the other servers go on serving.
   * Returns whether the client was connected to it.
   *
   * @example
   * client.disconnect("tcp://127.0.0.1:4242");
   */
  disconnect(endpoint: string): boolean {
    checkEndpoint(endpoint);
    try {
      return this.#peers.remove(endpoint, new ClosedError(`the client disconnected from ${endpoint}`));
    } catch (error) {
      // A malformed endpoint was never connected.
      if (error instanceof EndpointError) return false;
      throw error;
    }
  }

  /**
   * Binds an endpoint for workers (servers that connect) and resolves with its address. Every
   * bind shares one socket; see the README for what that means for N workers. A bound client
   * is the CURVE server of its workers' connections, so it takes {@link ServerSecurity}: its
   * key pair (the workers' `serverKey`), and an authenticator deciding which workers may join
   * (started here before binding). Every bind shares the security of the first.
   *
   * @throws {InvalidArgumentError} for a security option not allowed, or a second bind with
   *   another security than the first.
   * @example
   * await client.bind("tcp://127.0.0.1:4242", { security: { curve: brokerKeys, authenticator } });
   */
  async bind(endpoint: string, options: { security?: ServerSecurity } = {}): Promise<string> {
    checkEndpoint(endpoint);
    checkObject("options", options);
    checkServerSecurity("options.security", options.security);
    this.#assertOpen();
    if (endpoint.startsWith("inproc:")) this.#inproc = true;
    const security = options.security;
    if (this.#bound && security !== undefined && security !== this.#bindSecurity) {
      throw new InvalidArgumentError("options.security", security, "the security of the client's first bind");
    }
    await security?.authenticator?.start();
    this.#assertOpen();
    if (!this.#bound) {
      const socket = new Dealer({ ...this.#socketOptions, ...serverSocketOptions(security) });
      this.#bindSecurity = security;
      const bound = this.#newLink(socket, undefined);
      // Counted before bind, or the first worker's handshake is missed. A worker's failed
      // handshake is that worker's: the others (and the calls they run) are fine.
      const events = observe(socket.raw);
      events.on("handshake", () => {
        bound.connections++;
      });
      events.on("disconnect", () => {
        bound.connections = Math.max(0, bound.connections - 1);
      });
      this.#bound = bound;
    }
    return this.#bound.socket.bind(endpoint);
  }

  /** The peer set's news: a server's link is made when it is added and dropped when it goes. */
  #onPeerStatus(status: PeerStatus, peer: Peer<Dealer>): void {
    if (status.type === "added") {
      this.#links.set(peer, this.#newLink(peer.socket, peer));
      return;
    }
    const link = this.#links.get(peer);
    if (!link) return;
    if (status.type === "removed" || status.type === "handshake-failed") {
      // Its calls already failed (the peer set failed what they tracked); what they held back
      // for the end of this turn must not go to a socket that is gone or refused.
      link.batch = [];
      link.batchBytes = 0;
      link.batchErrors = [];
    }
    if (status.type === "removed") {
      link.shelf?.clear();
      this.#links.delete(peer);
    }
  }

  #newLink(socket: Dealer, peer: Peer<Dealer> | undefined): Link {
    const link: Link = {
      socket,
      peer,
      connections: 0,
      cancel: undefined,
      probing: undefined,
      receiving: undefined,
      onFrames: (frames) => {
        link.receiving = undefined;
        this.#messages++;
        // The one boundary of this receive loop: whatever a message does, the loop goes on.
        try {
          this.#onMessage(frames, link);
        } catch (error) {
          this.#violation(undefined, asProtocolError(error, "a message could not be handled"), frames);
        }
        if (this.#channels.size > 0) this.#listen(link);
      },
      onReceiveError: (error) => {
        link.receiving = undefined;
        if (!(error instanceof ClosedError) && !this.#closed && this.#channels.size > 0) this.#listen(link);
      },
      sentThisTurn: false,
      endTurn: () => {
        link.sentThisTurn = false;
        this.#flushBatch(link);
      },
      batch: [],
      batchBytes: 0,
      batchErrors: [],
      shelf: peer && /^(tcp|ipc):/.test(peer.endpoint) ? new FrameShelf() : undefined,
    };
    return link;
  }

  /**
   * Waits for the link's next message unless a receive already does. A link listens only while
   * calls are open: a lone call then sends before its receive is armed, as a plain DEALER would,
   * which spares the send zeromq.js's readiness check for the pending read. Messages that come
   * while no call is open wait in ZeroMQ's queue and are read (and dropped) by the next call.
   */
  #listen(link: Link): void {
    if (link.receiving || this.#closed || link.socket.closed) return;
    link.receiving = link.socket.receive().then(link.onFrames, link.onReceiveError);
  }

  /**
   * Where the next call goes: round-robin over the connected servers, skipping suspected and
   * refused ones (see {@link PeerSet.pick}), alternating with the bound socket when there is one.
   */
  #pickLink(): Link {
    const bound = this.#bound;
    const peers = this.#peers;
    if (bound === undefined) {
      if (peers.size === 0) throw new ClosedError("the client is not connected or bound to any endpoint");
      return this.#links.get(peers.pick()) as Link;
    }
    if (peers.size === 0) return bound;
    this.#boundTurn = !this.#boundTurn;
    if (this.#boundTurn && bound.connections > 0) return bound;
    try {
      return this.#links.get(peers.pick()) as Link;
    } catch {
      return bound;
    }
  }

  #newChannel(
    key: number,
    method: string,
    link: Link,
    timeoutMs: number,
    mode: ConsumeMode,
    now: number,
  ): ClientChannel {
    return new CallChannel(this.#host, key, method, link, { timeoutMs, now, passive: this.#passive }, mode);
  }

  /**
   * Calls `method` with positional `args`. Await the result for the value, or iterate it when the
   * method streams.
   *
   * @throws {RemoteError} the remote raised; {@link TimeoutError} no first reply in time;
   *   {@link LostRemoteError} heartbeats stopped; {@link AbortError} the signal aborted;
   *   {@link MessageTooLargeError} the request or reply exceeds `maxMessageSize`;
   *   {@link ProtocolError} the server's reply broke the protocol; {@link QueueFullError} or
   *   {@link ClosedError} the request could not be sent. All of these reject the result.
   * @throws {InvalidArgumentError} (synchronously) for a `method`, `args` or option not allowed.
   * @example
   * const sum = await client.call<number>("add", [1, 2], { timeout: 1000 });
   */
  call<T = unknown>(method: string, args: readonly unknown[] = [], options?: CallOptions): CallResult<T> {
    validateCallOptions(method, args, options);
    const now = performance.now();
    const key = nextIdNumber();
    const timeoutMs = options?.timeout ?? this.#timeout;
    const channel = this.#newChannel(key, method, undefined as unknown as Link, timeoutMs, "undecided", now);
    const result = new DualResult(channel) as unknown as CallResult<T>;
    if (this.#closed) {
      channel.settle(undefined, new ClosedError("the client is closed"));
      return result;
    }
    const context = currentCall();
    const contextHeaders = context && Object.keys(context.headers).length > 0 ? context.headers : undefined;
    let header: EventHeader | undefined;
    let packed: PackedHeaders | undefined;
    const plainHeaders = !contextHeaders && !this.#hooks?.beforeCall && !this.#onEvent;
    if (plainHeaders && options?.headers) packed = packedHeadersOf(options.headers);
    if (!plainHeaders || (options?.headers && !packed)) {
      header = { message_id: idBytes(idString(key)), v: PROTOCOL_VERSION };
      if (contextHeaders) Object.assign(header, contextHeaders);
      if (options?.headers) Object.assign(header, options.headers);
      if (this.#hooks?.beforeCall) {
        const request: RequestInfo = { method, args, headers: header };
        channel.request = request;
        this.#hooks.beforeCall(request);
      }
    }
    let link: Link;
    try {
      link = this.#pickLink();
    } catch (error) {
      channel.settle(undefined, error as Error);
      return result;
    }
    let blob: Buffer | EventFrames;
    try {
      if (this.#batching)
        blob = header
          ? encodeEventFrames(header, method, args, this.#inproc)
          : encodeFastFrames(key, undefined, method, args, packed, this.#inproc);
      else if (header) blob = encodeEvent(header, method, args);
      else {
        blob = encodeFast(key, undefined, method, args, packed, link.shelf);
        if (link.shelf) channel.sentFrame = blob;
      }
    } catch (error) {
      channel.settle(
        undefined,
        new ProtocolError(`cannot encode the request: ${(error as Error).message}`, { cause: error }),
      );
      return result;
    }
    const size = Buffer.isBuffer(blob) ? blob.length : framesBytes(blob);
    if (size > this.#maxMessageSize) {
      channel.settle(undefined, new MessageTooLargeError(size, this.#maxMessageSize));
      return result;
    }
    const signal = options?.signal;
    if (signal) {
      if (signal.aborted) {
        channel.settle(undefined, abortErrorFrom(signal));
        return result;
      }
      channel.signal = signal;
      channel.onAbort = () => this.#cancelChannel(channel, abortErrorFrom(signal));
      signal.addEventListener("abort", channel.onAbort, { once: true });
    }
    channel.link = link;
    if (header) this.#onEvent?.("out", method, header, args);
    this.#channels.set(key, channel);
    link.peer?.track(channel);
    if (channel.done) return result; // the peer was refused or removed meanwhile: tracking failed it
    this.#ticker.ensure();
    this.#post(link, blob, (error) => {
      if (!channel.done) this.#forget(channel, error);
    });
    this.#listen(link);
    return result;
  }

  /**
   * A typed view of the service: `client.proxy<Api>().add(1, 2)` calls `add`. The proxy is not
   * a thenable (it has no `then`), so it can be returned from async functions safely.
   *
   * @example
   * const api = client.proxy<typeof import("./service.js")>();
   * const sum: number = await api.add(1, 2);
   * for await (const n of api.range(3)) console.log(n);
   */
  proxy<Api extends object>(options?: CallOptions): Proxied<Api> {
    validateCallOptions("proxy", [], options);
    const cache = new Map<string, AnyFn>();
    return new Proxy(Object.create(null) as object, {
      get: (_target, property) => {
        if (typeof property !== "string" || property === "then") return undefined;
        let fn = cache.get(property);
        if (!fn) {
          fn = (...args: unknown[]) => this.call(property, args, options);
          cache.set(property, fn);
        }
        return fn;
      },
      has: () => false,
    }) as Proxied<Api>;
  }

  /**
   * Sends one event to a peer. With zerokit framing the first event of a turn of the event loop
   * goes at once (a lone call waits for nothing) and the ones after it wait for the end of the
   * turn to leave together in one batch message.
   */
  #post(link: Link, blob: Buffer | EventFrames, onError?: (error: Error) => void): void {
    if (!Buffer.isBuffer(blob)) {
      this.#flushBatch(link); // an event with large parts is a message of its own, in order
      link.socket.post(blob, onError);
      return;
    }
    if (!this.#batching) {
      link.socket.post([EMPTY, blob], onError);
      return;
    }
    if (!link.sentThisTurn) {
      link.sentThisTurn = true;
      queueMicrotask(link.endTurn);
      link.socket.post(blob, onError);
      return;
    }
    link.batch.push(blob);
    link.batchBytes += blob.length;
    if (onError) link.batchErrors.push(onError);
    if (link.batch.length >= MAX_BATCH_EVENTS || link.batchBytes >= MAX_BATCH_BYTES) this.#flushBatch(link);
  }

  #flushBatch(link: Link): void {
    const batch = link.batch;
    if (batch.length === 0) return;
    const errors = link.batchErrors;
    link.batch = [];
    link.batchBytes = 0;
    link.batchErrors = [];
    const onError =
      errors.length === 0
        ? undefined
        : (error: Error) => {
            for (const report of errors) report(error);
          };
    link.socket.post(batchFrames(batch), onError);
  }

  /**
   * A message from a server: one event (after an empty delimiter with zerorpc framing), or a
   * zerokit batch of them. Any other frame layout is a protocol error.
   */
  #onMessage(frames: Message, link: Link): void {
    const split = splitParts(frames, 0);
    if (split) {
      this.#onEventFrame(split.blob, frames, link, split.parts);
      return;
    }
    const { first, batch } = replyFrames(frames);
    if (first < 0) {
      this.#violation(
        undefined,
        new ProtocolError(`a reply must be [delimiter, event] or [event], got ${frames.length} frames`),
        frames,
      );
      return;
    }
    if (!batch) {
      this.#onEventFrame(frames[first] as Buffer, frames, link);
      return;
    }
    for (let i = first; i < frames.length; i++) this.#onEventFrame(frames[i] as Buffer, frames, link);
  }

  /**
   * Delivers one event to its channel, if the channel is still open. Each event is its own
   * boundary: a bad one (or a hook that throws on it) fails at most its own call, and the other
   * events of a batch are still delivered.
   */
  #onEventFrame(blob: Buffer, frames: Message, link: Link, parts?: Buffer[]): void {
    let channel: ClientChannel | undefined;
    try {
      // The size counts what the server's check counts: the event and its parts.
      const size = parts ? blob.length + framesBytes(parts) : blob.length;
      if (size > this.#maxMessageSize) {
        // Not decoded: the size alone is the verdict, and decoding it is the cost to avoid.
        channel = this.#channelOf(peekResponseTo(blob));
        const tooLarge = new MessageTooLargeError(size, this.#maxMessageSize);
        this.#report(new ProtocolError(`a reply was too large: ${tooLarge.message}`, { cause: tooLarge }), frames);
        if (channel) this.#forget(channel, tooLarge);
        return;
      }
      let event: RpcEvent;
      try {
        event = decodeEvent(blob, undefined, parts);
      } catch (error) {
        // A well-formed header may still name the call, which must fail rather than wait.
        channel = this.#channelOf(peekResponseTo(blob));
        this.#violation(channel, asProtocolError(error, "a reply could not be decoded"), frames);
        return;
      }
      const responseTo = event.header.response_to;
      if (responseTo === undefined || responseTo === null) {
        this.#violation(undefined, new ProtocolError(`a ${event.name} event without response_to`), frames);
        return;
      }
      const key = ownIdNumber(responseTo);
      if (key === undefined) {
        this.#violation(undefined, new ProtocolError(`a ${event.name} event for a channel never opened`), frames);
        return;
      }
      channel = this.#channels.get(key);
      if (!channel) {
        this.#stale++;
        return;
      }
      if (channel.link !== link) {
        // Ids are predictable: one server must not answer (or end) a call sent to another.
        const misrouted = new ProtocolError(`a ${event.name} event for a call sent to another server`);
        channel = undefined;
        this.#violation(undefined, misrouted, frames);
        return;
      }
      if (channel.sentFrame) {
        link.shelf?.give(channel.sentFrame);
        channel.sentFrame = undefined;
      }
      this.#onEvent?.("in", event.name, event.header, event.args);
      this.#dispatch(channel, event, frames);
    } catch (error) {
      // A hook or observer threw: its call fails with that error; anything else is reported.
      const failure = error instanceof Error ? error : new ProtocolError(`a reply handler threw ${String(error)}`);
      if (channel && !channel.done) this.#forget(channel, failure);
      else this.#violation(undefined, asProtocolError(failure, "a reply could not be handled"), frames);
    }
  }

  #channelOf(responseTo: WireId | undefined): ClientChannel | undefined {
    const key = responseTo === undefined ? undefined : ownIdNumber(responseTo);
    return key === undefined ? undefined : this.#channels.get(key);
  }

  #dispatch(channel: ClientChannel, event: RpcEvent, frames: Message): void {
    const action = channel.onReply(meaningOf(event.name), event.args, performance.now());
    if (action === undefined) return;
    if (action === "ok") {
      const value = (event.args as [unknown])[0];
      this.#hooks?.afterCall?.(channel.request ?? { method: channel.method, args: [], headers: {} }, value);
      this.#forget(channel, undefined, value);
    } else if (action === "end") {
      this.#forget(channel, undefined, undefined);
    } else if (action === "unknown") {
      this.#report(new ProtocolError(`unknown event ${JSON.stringify(event.name.slice(0, 64))}`), frames);
    } else if (action instanceof ProtocolError) {
      this.#violation(channel, action, frames);
    } else {
      const remote = remoteErrorOf(action);
      const replaced = this.#hooks?.onRemoteError?.(
        channel.request ?? { method: channel.method, args: [], headers: {} },
        remote,
      );
      this.#forget(channel, replaced instanceof Error ? replaced : typedRemoteError(remote));
    }
  }

  /** A protocol violation: counted, reported, and the call it belongs to (if any) fails with it. */
  #violation(channel: ClientChannel | undefined, error: ProtocolError, frames: Message): void {
    this.#report(error, frames);
    if (channel && !channel.done) this.#cancelChannel(channel, error);
  }

  #report(error: ProtocolError, frames: Message): void {
    this.#protocolErrors++;
    try {
      this.#onProtocolError?.(error, frames);
    } catch {
      // The observer's own failure must not stop the receive loop either; it was counted.
    }
  }

  #sendEvent(channel: ClientChannel, name: string, args: unknown): void {
    const header = channelHeader(channel.key);
    this.#onEvent?.("out", name, header, args);
    // A credit grant or heartbeat that cannot leave would leave the call waiting for nothing.
    this.#post(channel.link, encodeEvent(header, name, args), (error) => {
      if (!channel.done) this.#forget(channel, error);
    });
  }

  /** Ends a channel with a value or an error and delivers it. */
  #forget(channel: ClientChannel, error: Error | undefined, value?: unknown): void {
    this.#channels.delete(channel.key);
    channel.link?.peer?.untrack(channel);
    channel.settle(value, error);
  }

  /** Stops a call from this side: settles it at once and tells the server if it understands. */
  #cancelChannel(channel: ClientChannel, reason: Error): void {
    if (channel.done) return;
    this.#forget(channel, reason);
    const link = channel.link;
    if (!link) return;
    if (link.cancel === true) {
      this.#sendEvent(channel, CANCEL, []);
    } else if (link.cancel === undefined) {
      // Only a peer that said it understands cancel gets one: unknown events can wedge Python.
      void this.#probe(link).then((supported) => {
        if (supported) this.#sendEvent(channel, CANCEL, []);
      });
    }
  }

  #probe(link: Link): Promise<boolean> {
    link.probing ??= new Promise<boolean>((resolve) => {
      const channel = this.#channelFor(link, FEATURES);
      const result = new DualResult(channel);
      result.then(
        (features) => {
          link.cancel = (features as { cancel?: unknown } | null)?.cancel === true;
          resolve(link.cancel);
        },
        (error: unknown) => {
          if (error instanceof RemoteError) link.cancel = false;
          link.probing = undefined;
          resolve(false);
        },
      );
    });
    return link.probing;
  }

  #channelFor(link: Link, method: string): ClientChannel {
    const now = performance.now();
    const key = nextIdNumber();
    const channel = this.#newChannel(key, method, link, Math.min(this.#timeout, 5000), "collect", now);
    this.#channels.set(key, channel);
    link.peer?.track(channel);
    this.#ticker.ensure();
    this.#onEvent?.("out", method, { message_id: idBytes(idString(key)), v: PROTOCOL_VERSION }, []);
    this.#post(link, encodeFast(key, undefined, method, []));
    this.#listen(link);
    return channel;
  }

  #onTick(now: number): void {
    const period = this.#heartbeat;
    for (const channel of this.#channels.values()) {
      switch (channel.check(now, period)) {
        case "timeout":
          this.#forget(channel, channel.timeoutError());
          break;
        case "lost":
          channel.link.peer?.suspect(2 * (period as number));
          this.#forget(channel, channel.lostError(period as number));
          break;
        case "beat":
          channel.beat(now);
          this.#sendEvent(channel, channelEventName("heartbeat"), [0]);
          break;
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError("the client is closed");
  }

  /** Closes every socket; calls still waiting reject with `ClosedError`. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ticker.stop();
    for (const channel of [...this.#channels.values()]) this.#forget(channel, new ClosedError("the client was closed"));
    for (const link of this.#links.values()) link.shelf?.clear();
    this.#peers.close();
    this.#bound?.socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const links = [...this.#links.values()];
    if (this.#bound) links.push(this.#bound);
    this.close();
    await Promise.all(links.map((link) => link.receiving));
  }
}

/** A thrown value as a ProtocolError (kept as the cause when it is something else). */
function asProtocolError(error: unknown, what: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`${what}: ${text}`, { cause: error });
}
