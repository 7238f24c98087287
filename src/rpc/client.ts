import type * as zmq from "zeromq";
import {
  AbortError,
  type AuthenticationError,
  abortErrorFrom,
  ClosedError,
  InvalidArgumentError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from "../core/errors.js";
import {
  checkBoolean,
  checkDuration,
  checkFunction,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
} from "../core/options.js";
import {
  type ClientSecurity,
  checkClientSecurity,
  checkServerSecurity,
  clientSocketOptions,
  onHandshakeFailure,
  type ServerSecurity,
  serverSocketOptions,
} from "../core/security/options.js";
import type { Message } from "../core/socket.js";
import { Dealer, type SocketOptions } from "../core/sockets.js";
import { currentCall, Ticker } from "./context.js";
import {
  BATCH_MARKER,
  CANCEL,
  decodeEvent,
  ERR,
  type EventFrames,
  type EventHeader,
  encodeEvent,
  encodeEventFrames,
  encodeFast,
  encodeFastFrames,
  FEATURES,
  framesBytes,
  HEARTBEAT,
  idBytes,
  idString,
  isBatchMarker,
  MAX_PACKED_HEADERS,
  MORE,
  nextIdNumber,
  OK,
  ownIdNumber,
  type PackedHeaders,
  PROTOCOL_VERSION,
  packHeaderEntries,
  type RpcEvent,
  readHeaderOnly,
  STREAM,
  STREAM_DONE,
  splitParts,
  type WireId,
} from "./protocol.js";
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

/** Facts about a request, given to client hooks. */
export interface RequestInfo {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly headers: Record<string, unknown>;
}

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

type Mode = "undecided" | "collect" | "iterate";

interface Peer {
  socket: Dealer;
  label: string;
  /** Whether this is the bound socket (its handshake failures are other workers', not its own). */
  bound: boolean;
  /** Why the last handshake failed, until one succeeds: calls routed here fail with it. */
  failure: AuthenticationError | undefined;
  /** Completed handshakes (a bound socket may have several workers). */
  connections: number;
  observed: boolean;
  cancel: boolean | undefined;
  probing: Promise<boolean> | undefined;
  suspectUntil: number;
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
}

/** Most events, and bytes, one zerokit batch carries before it goes out early. */
const MAX_BATCH_EVENTS = 256;
const MAX_BATCH_BYTES = 1024 * 1024;

interface ClientChannel {
  key: number;
  method: string;
  peer: Peer;
  request: RequestInfo | undefined;
  deadline: number;
  timeoutMs: number;
  lastHeard: number;
  lastSent: number;
  beating: boolean;
  mode: Mode;
  streaming: boolean;
  done: boolean;
  value: unknown;
  error: Error | undefined;
  items: unknown[];
  itemHead: number;
  serverCredit: number;
  resolve: ((value: unknown) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
  wake: (() => void) | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const DEFAULT_MAX_MESSAGE = 100 * 1024 * 1024;
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

/** What a {@link Result} may ask of its client (kept off the client's public surface). */
interface ChannelOps {
  grantCredit(channel: ClientChannel): void;
  cancelChannel(channel: ClientChannel, reason: Error): void;
}

class Result {
  readonly [Symbol.toStringTag] = "Promise";
  constructor(
    private readonly channel: ClientChannel,
    private readonly ops: ChannelOps,
  ) {}

  // biome-ignore lint/suspicious/noThenProperty: a call result is deliberately awaitable.
  then<A = unknown, B = never>(
    onFulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.promise().then(onFulfilled, onRejected);
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<unknown> {
    return this.promise().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<unknown> {
    return this.promise().finally(onFinally);
  }

  private promise(): Promise<unknown> {
    const channel = this.channel;
    if (channel.mode === "undecided") {
      channel.mode = "collect";
      this.ops.grantCredit(channel);
    }
    if (channel.done) return channel.error ? Promise.reject(channel.error) : Promise.resolve(channel.value);
    return new Promise((resolve, reject) => {
      channel.resolve = resolve;
      channel.reject = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    const channel = this.channel;
    const ops = this.ops;
    if (channel.mode === "undecided") channel.mode = "iterate";
    let finished = false;
    return {
      next: async (): Promise<IteratorResult<unknown>> => {
        while (!finished) {
          if (channel.itemHead < channel.items.length) {
            const value = channel.items[channel.itemHead];
            channel.items[channel.itemHead++] = undefined;
            ops.grantCredit(channel);
            return { value, done: false };
          }
          if (channel.done) {
            finished = true;
            if (channel.error) throw channel.error;
            if (!channel.streaming) {
              // A plain OK reply iterates as its elements (an array) or as itself.
              channel.streaming = true;
              const value = channel.value;
              if (Array.isArray(value)) {
                channel.items = value.slice();
                channel.itemHead = 0;
                finished = false;
                continue;
              }
              return { value, done: false };
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((wake) => {
            channel.wake = wake;
          });
        }
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<unknown>> => {
        finished = true;
        if (!channel.done) ops.cancelChannel(channel, new AbortError("the stream was closed by its consumer"));
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * A zerorpc-compatible client. Connect to one or more servers (one socket per server, so a
 * call's heartbeats and credit always reach the server that runs it, and a dead server is skipped
 * while a live one can answer), or bind and let workers connect.
 *
 * Security is per peer: `security` in the options is the default, `connect(endpoint, { security })`
 * gives one server its own (its key, this side's pair), so one client can reach servers of
 * different keys. A server that refuses the handshake fails the calls sent to it with
 * `AuthenticationError` (`EAUTH`) within milliseconds, and later calls go to the other servers.
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
  readonly #peers: Peer[] = [];
  #bindPeer: Peer | undefined;
  #next = 0;
  #closed = false;
  readonly #ticker: Ticker;
  readonly #ops: ChannelOps = {
    grantCredit: (channel) => this.#grantCredit(channel),
    cancelChannel: (channel, reason) => this.#cancelChannel(channel, reason),
  };

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
    this.#batching = options.framing === "zerokit";
    this.#hooks = options.hooks;
    this.#socketOptions = options.socket;
    this.#security = options.security;
    this.#onEvent = options.onEvent;
    this.#onProtocolError = options.onProtocolError;
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
   * @throws {InvalidArgumentError} when `endpoint` is not a non-empty string, or for a security
   *   option not allowed.
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
    const socket = new Dealer({ ...this.#socketOptions, ...clientSocketOptions(security) });
    this.#addPeer(socket, endpoint, false);
    try {
      socket.connect(endpoint);
    } catch (error) {
      this.#peers.pop();
      socket.close();
      throw error;
    }
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
    const gone = this.#peers.filter((peer) => !peer.bound && peer.label === endpoint);
    if (gone.length === 0) return false;
    for (const peer of gone) this.#peers.splice(this.#peers.indexOf(peer), 1);
    this.#next = 0;
    const error = new ClosedError(`the client disconnected from ${endpoint}`);
    for (const peer of gone) {
      this.#failPeer(peer, error);
      peer.socket.close();
    }
    return true;
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
    if (this.#bindPeer && security !== undefined && security !== this.#bindSecurity) {
      throw new InvalidArgumentError("options.security", security, "the security of the client's first bind");
    }
    await security?.authenticator?.start();
    this.#assertOpen();
    if (!this.#bindPeer) {
      const socket = new Dealer({ ...this.#socketOptions, ...serverSocketOptions(security) });
      this.#bindSecurity = security;
      this.#bindPeer = this.#addPeer(socket, endpoint, true);
    }
    return this.#bindPeer.socket.bind(endpoint);
  }

  /** Fails every call open on `peer` (a refused handshake, a disconnect). */
  #failPeer(peer: Peer, error: Error): void {
    for (const channel of [...this.#channels.values()]) {
      if (channel.peer === peer) this.#forget(channel, error);
    }
  }

  #addPeer(socket: Dealer, label: string, bound: boolean): Peer {
    const peer: Peer = {
      socket,
      label,
      bound,
      failure: undefined,
      connections: 0,
      observed: false,
      cancel: undefined,
      probing: undefined,
      suspectUntil: 0,
      receiving: undefined,
      onFrames: (frames) => {
        peer.receiving = undefined;
        this.#messages++;
        // The one boundary of this receive loop: whatever a message does, the loop goes on.
        try {
          this.#onMessage(frames);
        } catch (error) {
          this.#violation(undefined, asProtocolError(error, "a message could not be handled"), frames);
        }
        if (this.#channels.size > 0) this.#listen(peer);
      },
      onReceiveError: (error) => {
        peer.receiving = undefined;
        if (!(error instanceof ClosedError) && !this.#closed && this.#channels.size > 0) this.#listen(peer);
      },
      sentThisTurn: false,
      endTurn: () => {
        peer.sentThisTurn = false;
        this.#flushBatch(peer);
      },
      batch: [],
      batchBytes: 0,
      batchErrors: [],
    };
    // The monitor must exist before connect/bind, or it misses the handshake.
    this.#observe(peer);
    this.#peers.push(peer);
    return peer;
  }

  /**
   * Waits for the peer's next message unless a receive already does. A peer listens only while
   * calls are open: a lone call then sends before its receive is armed, as a plain DEALER would,
   * which spares the send zeromq.js's readiness check for the pending read. Messages that come
   * while no call is open wait in ZeroMQ's queue and are read (and dropped) by the next call.
   */
  #listen(peer: Peer): void {
    if (peer.receiving || this.#closed) return;
    peer.receiving = peer.socket.receive().then(peer.onFrames, peer.onReceiveError);
  }

  #observe(peer: Peer): void {
    if (peer.observed) return;
    peer.observed = true;
    const events = peer.socket.raw.events;
    events.on("handshake", () => {
      peer.connections++;
      peer.suspectUntil = 0;
      peer.failure = undefined;
    });
    // A bound socket's failures are one worker's: the others (and the calls they run) are fine.
    if (!peer.bound) {
      onHandshakeFailure(peer.socket.raw, (error) => {
        peer.failure = error;
        if (peer.connections === 0) this.#failPeer(peer, error);
      });
    }
    events.on("disconnect", () => {
      peer.connections = Math.max(0, peer.connections - 1);
    });
  }

  #pickPeer(): Peer {
    const peers = this.#peers;
    if (peers.length === 1) {
      const only = peers[0] as Peer;
      if (only.failure !== undefined && only.connections === 0) throw only.failure;
      return only;
    }
    if (peers.length === 0) throw new ClosedError("the client is not connected or bound to any endpoint");
    const now = performance.now();
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(this.#next + i) % peers.length] as Peer;
      if (peer.connections > 0 && peer.suspectUntil <= now) {
        this.#next = (this.#next + i + 1) % peers.length;
        return peer;
      }
    }
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(this.#next + i) % peers.length] as Peer;
      if (peer.connections > 0) {
        this.#next = (this.#next + i + 1) % peers.length;
        return peer;
      }
    }
    // None is connected yet: the next one whose handshake has not failed (it may still succeed).
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(this.#next + i) % peers.length] as Peer;
      if (peer.failure === undefined) {
        this.#next = (this.#next + i + 1) % peers.length;
        return peer;
      }
    }
    throw (peers[0] as Peer).failure as AuthenticationError;
  }

  #newChannel(key: number, method: string, peer: Peer, timeoutMs: number, mode: Mode, now: number): ClientChannel {
    return {
      key,
      method,
      peer,
      request: undefined,
      deadline: now + timeoutMs,
      timeoutMs,
      lastHeard: now,
      lastSent: now,
      beating: !this.#passive,
      mode,
      streaming: false,
      done: false,
      value: undefined,
      error: undefined,
      items: [],
      itemHead: 0,
      serverCredit: 1,
      resolve: undefined,
      reject: undefined,
      wake: undefined,
      signal: undefined,
      onAbort: undefined,
    };
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
    const channel = this.#newChannel(key, method, undefined as unknown as Peer, timeoutMs, "undecided", now);
    const result = new Result(channel, this.#ops) as unknown as CallResult<T>;
    if (this.#closed) {
      this.#settle(channel, undefined, new ClosedError("the client is closed"));
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
    let blob: Buffer | EventFrames;
    try {
      if (this.#batching)
        blob = header
          ? encodeEventFrames(header, method, args, this.#inproc)
          : encodeFastFrames(key, undefined, method, args, packed, this.#inproc);
      else blob = header ? encodeEvent(header, method, args) : encodeFast(key, undefined, method, args, packed);
    } catch (error) {
      this.#settle(
        channel,
        undefined,
        new ProtocolError(`cannot encode the request: ${(error as Error).message}`, { cause: error }),
      );
      return result;
    }
    const size = Buffer.isBuffer(blob) ? blob.length : framesBytes(blob);
    if (size > this.#maxMessageSize) {
      this.#settle(channel, undefined, new MessageTooLargeError(size, this.#maxMessageSize));
      return result;
    }
    const signal = options?.signal;
    if (signal) {
      if (signal.aborted) {
        this.#settle(channel, undefined, abortErrorFrom(signal));
        return result;
      }
      channel.signal = signal;
      channel.onAbort = () => this.#cancelChannel(channel, abortErrorFrom(signal));
      signal.addEventListener("abort", channel.onAbort, { once: true });
    }
    let peer: Peer;
    try {
      peer = this.#pickPeer();
    } catch (error) {
      this.#settle(channel, undefined, error as Error);
      return result;
    }
    channel.peer = peer;
    if (header) this.#onEvent?.("out", method, header, args);
    this.#channels.set(key, channel);
    this.#ticker.ensure();
    this.#post(peer, blob, (error) => {
      if (!channel.done) this.#forget(channel, error);
    });
    this.#listen(peer);
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
  #post(peer: Peer, blob: Buffer | EventFrames, onError?: (error: Error) => void): void {
    if (!Buffer.isBuffer(blob)) {
      this.#flushBatch(peer); // an event with large parts is a message of its own, in order
      peer.socket.post(blob, onError);
      return;
    }
    if (!this.#batching) {
      peer.socket.post([EMPTY, blob], onError);
      return;
    }
    if (!peer.sentThisTurn) {
      peer.sentThisTurn = true;
      queueMicrotask(peer.endTurn);
      peer.socket.post(blob, onError);
      return;
    }
    peer.batch.push(blob);
    peer.batchBytes += blob.length;
    if (onError) peer.batchErrors.push(onError);
    if (peer.batch.length >= MAX_BATCH_EVENTS || peer.batchBytes >= MAX_BATCH_BYTES) this.#flushBatch(peer);
  }

  #flushBatch(peer: Peer): void {
    const batch = peer.batch;
    if (batch.length === 0) return;
    const errors = peer.batchErrors;
    peer.batch = [];
    peer.batchBytes = 0;
    peer.batchErrors = [];
    const onError =
      errors.length === 0
        ? undefined
        : (error: Error) => {
            for (const report of errors) report(error);
          };
    peer.socket.post(batch.length === 1 ? (batch[0] as Buffer) : [BATCH_MARKER, ...batch], onError);
  }

  /**
   * A message from a server: one event (after an empty delimiter with zerorpc framing), or a
   * zerokit batch of them. Any other frame layout is a protocol error.
   */
  #onMessage(frames: Message): void {
    const first = frames[0];
    const start = frames.length === 2 && first !== undefined && first.length === 0 ? 1 : 0;
    if (frames.length - start === 1) {
      this.#onEventFrame(frames[start] as Buffer, frames);
      return;
    }
    const split = splitParts(frames, 0);
    if (split) {
      this.#onEventFrame(split.blob, frames, split.parts);
      return;
    }
    if (start === 0 && frames.length > 1 && isBatchMarker(first)) {
      for (let i = 1; i < frames.length; i++) this.#onEventFrame(frames[i] as Buffer, frames);
      return;
    }
    this.#violation(
      undefined,
      new ProtocolError(`a reply must be [delimiter, event] or [event], got ${frames.length} frames`),
      frames,
    );
  }

  /**
   * Delivers one event to its channel, if the channel is still open. Each event is its own
   * boundary: a bad one (or a hook that throws on it) fails at most its own call, and the other
   * events of a batch are still delivered.
   */
  #onEventFrame(blob: Buffer, frames: Message, parts?: Buffer[]): void {
    let channel: ClientChannel | undefined;
    try {
      if (blob.length > this.#maxMessageSize || (parts && framesBytes(frames) > this.#maxMessageSize)) {
        // Not decoded: the size alone is the verdict, and decoding it is the cost to avoid.
        channel = this.#channelOf(peekResponseTo(blob));
        const tooLarge = new MessageTooLargeError(blob.length, this.#maxMessageSize);
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
    const args = event.args;
    switch (event.name) {
      case OK: {
        if (!Array.isArray(args) || args.length !== 1) {
          this.#violation(channel, new ProtocolError(`OK must carry [result], got ${describe(args)}`), frames);
          return;
        }
        if (channel.streaming) {
          this.#violation(channel, new ProtocolError("OK in the middle of a stream"), frames);
          return;
        }
        const value = args[0];
        this.#hooks?.afterCall?.(channel.request ?? { method: channel.method, args: [], headers: {} }, value);
        this.#forget(channel, undefined, value);
        return;
      }
      case ERR: {
        const error = remoteErrorOf(args);
        if (!error) {
          this.#violation(
            channel,
            new ProtocolError(`ERR must carry [name, message, traceback] as text, got ${describe(args)}`),
            frames,
          );
          return;
        }
        const replaced = this.#hooks?.onRemoteError?.(
          channel.request ?? { method: channel.method, args: [], headers: {} },
          error,
        );
        this.#forget(channel, replaced instanceof Error ? replaced : error);
        return;
      }
      case STREAM:
        if (channel.serverCredit <= 0) {
          // More items than granted: an honest server waits, so buffering them would let one
          // server make the caller hold anything.
          this.#violation(
            channel,
            new ProtocolError("the server sent a stream item beyond the credit granted"),
            frames,
          );
          return;
        }
        channel.streaming = true;
        channel.deadline = Number.POSITIVE_INFINITY;
        channel.serverCredit--;
        channel.items.push(args);
        this.#grantCredit(channel);
        this.#wake(channel);
        return;
      case STREAM_DONE:
        channel.streaming = true;
        this.#forget(channel, undefined, undefined);
        return;
      case HEARTBEAT:
        channel.lastHeard = performance.now();
        channel.beating = true;
        return;
      case MORE:
        return; // a Python server grants credit for its own receive queue: we never stream to it
      default:
        this.#report(new ProtocolError(`unknown event ${JSON.stringify(event.name.slice(0, 64))}`), frames);
        return;
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

  /** Grants the server credit as the consumer makes room (Python semantics: `_zpc_more` adds). */
  #grantCredit(channel: ClientChannel): void {
    if (!channel.streaming || channel.done) return;
    const buffered = channel.mode === "collect" ? 0 : channel.items.length - channel.itemHead;
    const ahead = buffered + channel.serverCredit;
    if (ahead * 2 >= this.#window) return;
    const grant = this.#window - ahead;
    channel.serverCredit += grant;
    this.#sendEvent(channel, MORE, [grant]);
  }

  #sendEvent(channel: ClientChannel, name: string, args: unknown): void {
    const header: EventHeader = {
      message_id: idBytes(idString(nextIdNumber())),
      v: PROTOCOL_VERSION,
      response_to: idBytes(idString(channel.key)),
    };
    channel.lastSent = performance.now();
    this.#onEvent?.("out", name, header, args);
    // A credit grant or heartbeat that cannot leave would leave the call waiting for nothing.
    this.#post(channel.peer, encodeEvent(header, name, args), (error) => {
      if (!channel.done) this.#forget(channel, error);
    });
  }

  #wake(channel: ClientChannel): void {
    const wake = channel.wake;
    if (wake) {
      channel.wake = undefined;
      wake();
    }
  }

  /** Ends a channel with a value or an error and delivers it. */
  #forget(channel: ClientChannel, error: Error | undefined, value?: unknown): void {
    this.#channels.delete(channel.key);
    this.#settle(channel, value, error);
  }

  #settle(channel: ClientChannel, value: unknown, error: Error | undefined): void {
    if (channel.done) return;
    channel.done = true;
    if (channel.onAbort) channel.signal?.removeEventListener("abort", channel.onAbort);
    if (error) channel.error = error;
    else if (channel.streaming && channel.mode !== "iterate") {
      const items = channel.items.slice(channel.itemHead);
      channel.value = items;
    } else if (!channel.streaming) channel.value = value;
    if (channel.resolve) {
      if (error) channel.reject?.(error);
      else channel.resolve(channel.value);
      channel.resolve = undefined;
      channel.reject = undefined;
    }
    this.#wake(channel);
  }

  /** Stops a call from this side: settles it at once and tells the server if it understands. */
  #cancelChannel(channel: ClientChannel, reason: Error): void {
    if (channel.done) return;
    this.#forget(channel, reason);
    const peer = channel.peer;
    if (!peer) return;
    if (peer.cancel === true) {
      this.#sendEvent(channel, CANCEL, []);
    } else if (peer.cancel === undefined) {
      // Only a peer that said it understands cancel gets one: unknown events can wedge Python.
      void this.#probe(peer).then((supported) => {
        if (supported) this.#sendEvent(channel, CANCEL, []);
      });
    }
  }

  #probe(peer: Peer): Promise<boolean> {
    peer.probing ??= new Promise<boolean>((resolve) => {
      const channel = this.#channelFor(peer, FEATURES);
      const result = new Result(channel, this.#ops);
      result.then(
        (features) => {
          peer.cancel = (features as { cancel?: unknown } | null)?.cancel === true;
          resolve(peer.cancel);
        },
        (error: unknown) => {
          if (error instanceof RemoteError) peer.cancel = false;
          peer.probing = undefined;
          resolve(false);
        },
      );
    });
    return peer.probing;
  }

  #channelFor(peer: Peer, method: string): ClientChannel {
    const now = performance.now();
    const key = nextIdNumber();
    const channel = this.#newChannel(key, method, peer, Math.min(this.#timeout, 5000), "collect", now);
    this.#channels.set(key, channel);
    this.#ticker.ensure();
    this.#onEvent?.("out", method, { message_id: idBytes(idString(key)), v: PROTOCOL_VERSION }, []);
    this.#post(peer, encodeFast(key, undefined, method, []));
    this.#listen(peer);
    return channel;
  }

  #onTick(now: number): void {
    const period = this.#heartbeat;
    for (const channel of this.#channels.values()) {
      if (now >= channel.deadline) {
        this.#forget(
          channel,
          new TimeoutError(
            `timeout after ${channel.timeoutMs} ms, when calling remote method ${channel.method}`,
            channel.timeoutMs,
          ),
        );
        continue;
      }
      if (period === false) continue;
      // A passive channel's liveness clock starts with the server's first beat (Python's rule):
      // until then only the timeout applies.
      if (channel.beating && now - channel.lastHeard > 2 * period) {
        channel.peer.suspectUntil = now + 2 * period;
        this.#forget(
          channel,
          new LostRemoteError(
            `lost remote after ${2 * period} ms without heartbeat, when calling remote method ${channel.method}`,
          ),
        );
        continue;
      }
      if (channel.beating && now - channel.lastSent >= period) this.#sendEvent(channel, HEARTBEAT, [0]);
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
    for (const peer of this.#peers) peer.socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await Promise.all(this.#peers.map((peer) => peer.receiving));
  }
}

/** A thrown value as a ProtocolError (kept as the cause when it is something else). */
function asProtocolError(error: unknown, what: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`${what}: ${text}`, { cause: error });
}

/** A short account of a received value for an error message (never its whole content). */
function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return "nil";
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return typeof value === "object" ? "a map" : typeof value;
}

function isText(value: unknown): value is string | Uint8Array | null | undefined {
  return value === undefined || value === null || typeof value === "string" || value instanceof Uint8Array;
}

function text(value: string | Uint8Array | null | undefined): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
}

/**
 * The RemoteError an ERR event's args describe: `[name, message, traceback]` (protocol v1 sends
 * `[repr]` alone), each text or nil. Undefined when the args have another shape.
 */
function remoteErrorOf(args: unknown): RemoteError | undefined {
  if (!Array.isArray(args) || args.length === 0 || args.length > 3) return undefined;
  const [name, message, stack] = args as unknown[];
  if (!isText(name) || !isText(message) || !isText(stack)) return undefined;
  return args.length === 1
    ? new RemoteError("RemoteError", text(name), "")
    : new RemoteError(text(name), text(message), text(stack));
}

/**
 * The `response_to` of a reply too large to decode, or that does not decode, read from its header
 * alone: that call must then fail instead of waiting for a reply that will never come.
 */
function peekResponseTo(blob: Buffer): WireId | undefined {
  const responseTo = readHeaderOnly(blob)?.response_to;
  return typeof responseTo === "string" || responseTo instanceof Uint8Array ? responseTo : undefined;
}
