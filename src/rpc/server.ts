import type * as zmq from "zeromq";
import {
  type AuthenticationError,
  BusyError,
  ClosedError,
  InvalidArgumentError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  QueueFullError,
  TimeoutError,
} from "../core/errors.js";
import { checkDuration, checkFunction, checkNumber, checkObject, checkOneOf, checkString } from "../core/options.js";
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
import { Router, type SocketOptions } from "../core/sockets.js";
import { ZmtpListener } from "../core/zmtp-listener.js";
import { heartbeatVerdict } from "./channel.js";
import { type AsyncContextMode, type CallContext, receiveLoop, runAsCall, Ticker, usesStorage } from "./context.js";
import { argsTuple, collectMethods, inspectEntry, type MethodInfo } from "./introspect.js";
import {
  contextOf,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_MAX_MESSAGE,
  type DecodeLimits,
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
  idBytes,
  idKey,
  idString,
  MAX_DEPTH_LIMIT,
  MORE,
  nextIdNumber,
  OK,
  PROTOCOL_VERSION,
  type RpcEvent,
  readHeaderOnly,
  STREAM,
  STREAM_DONE,
  splitParts,
  type WireId,
} from "./protocol.js";
import { batchFrames, channelEventName, creditOf, errorTupleOf, eventFrames, meaningOf } from "./semantics.js";
import { isPulledStream, PushStream, runPulledStream, type StreamHost, startPushStream } from "./streams.js";

/** Facts about a call, given to server hooks. */
export interface CallInfo {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly headers: Readonly<Record<string, unknown>>;
  readonly peer: string;
}

/**
 * Middleware points, the zerorpc-python ones in TypeScript form. A throw from `beforeCall`
 * answers ERR; one from the others is reported through `onProtocolError` and the call goes on.
 */
export interface ServerHooks {
  /** Before a call runs (zerorpc `server_before_exec`). May be async; a throw answers ERR. */
  beforeCall?(call: CallInfo): void | Promise<void>;
  /** After a call answered OK or finished its stream (`server_after_exec`). */
  afterCall?(call: CallInfo, result: unknown): void;
  /** When a call fails; may return a replacement error (`server_inspect_exception`). */
  onError?(call: CallInfo, error: unknown): unknown;
  /** Extra header keys for every reply of a call (`get_task_context` on the server side). */
  replyHeaders?(call: CallInfo): Record<string, unknown> | undefined;
}

/** Options of {@link RpcServer}. */
export interface ServerOptions {
  /** Name for `_zerorpc_name`/`_zerorpc_ping`. Default: the class name of the exposed object. */
  name?: string;
  /** Heartbeat period in ms, or `false` to turn heartbeats off. Default 5000 (zerorpc's 5 s). */
  heartbeat?: number | false;
  /** Most calls running at once. Default unlimited. */
  poolSize?: number;
  /** At the pool limit: `"queue"` (default) waits for a free slot, `"reject"` answers BusyError. */
  overflow?: "queue" | "reject";
  /** Most calls waiting for a slot with `overflow: "queue"`; more are refused. Default 10,000. */
  maxQueued?: number;
  /**
   * Largest request accepted, in bytes; larger ones answer MessageTooLargeError, read no
   * further than their header. Default 100 MiB.
   */
  maxMessageSize?: number;
  /** Deepest nesting of containers a request may have (1 to 1000); deeper ones are refused. Default 100. */
  maxDepth?: number;
  /** Most array elements and map entries (×2) a request may hold in all. Default 1,000,000. */
  maxItems?: number;
  /**
   * Most stream items one stream may have granted ahead (`_zpc_more` adds up to this). A client
   * asking more gets this many; it bounds what one stream can make the server send at once.
   * Default 1000 (zerorpc clients ask 100).
   */
  maxCredit?: number;
  /**
   * Most calls one client (routing id) may have open at once: running async calls, streams and
   * calls waiting for a pool slot. More are answered BusyError. Default 10,000.
   */
  maxCallsPerPeer?: number;
  /**
   * Most bytes of replies the server keeps for one client that does not read them (past the
   * socket's send high-water mark). Past it, that client's replies are dropped, its open calls
   * abort and `onProtocolError` hears of it; no other client is affected. Default 64 MiB.
   */
  maxPeerBacklog?: number;
  /**
   * Serve exactly these methods (own or inherited, each must be a function of the target)
   * instead of every public method the target and its own classes define.
   */
  methods?: readonly string[];
  /** Middleware. */
  hooks?: ServerHooks;
  /**
   * Called for every message the server could not handle (undecodable MessagePack, wrong shape,
   * an exception while handling it, a client over its backlog); the server goes on. The same
   * events are counted in {@link RpcServer.stats}. Must not throw (a throw is ignored).
   */
  onProtocolError?: (error: ProtocolError, frames: Message) => void;
  /**
   * Options for the ROUTER socket. The server always routes with `mandatory: true` and, unless
   * given here, `sendTimeout: 0`, so a reply the socket cannot take is kept for its client
   * (see `maxPeerBacklog`) instead of being dropped or blocking every other client.
   */
  socket?: SocketOptions<zmq.Router>;
  /**
   * How handlers see their call through `currentCall()`. `"auto"` (the default): a method
   * declared `async` or as a generator sees it across every `await` and `yield`
   * (AsyncLocalStorage); a plain function sees it while it runs, but not in the callbacks or
   * promise continuations it leaves behind. `true`: every method sees it everywhere. `false`:
   * only until the first `await` or `yield`. AsyncLocalStorage, once used, turns on promise hooks
   * that slow every promise in the process (about 6% of this server's CPU per call), so `"auto"`
   * spares a server whose methods are plain functions that cost, and `false` spares every server.
   */
  asyncContext?: AsyncContextMode;
  /** Sees every event received and sent (for debugging, e.g. the CLI's `-d`). */
  onEvent?: EventObserver;
  /**
   * CURVE keys and who may connect (see {@link ServerSecurity}). With an authenticator, `bind`
   * starts it first, and each refusal is reported by its `onRefusal` (with the peer's address;
   * by default one `console.warn` line); the server keeps serving everyone else. A refused
   * client never reaches the server: no method runs for it.
   */
  security?: ServerSecurity;
  /**
   * Called for each failed handshake the authenticator never sees (a client with a wrong server
   * key, a plaintext client against a CURVE server). libzmq retries such a client about ten
   * times a second. Default, when `security` is set: a `console.warn` line at most every 10 s.
   */
  onHandshakeFailure?: (error: AuthenticationError) => void;
}

/** Observes events: `"in"` for received, `"out"` for sent. */
export type EventObserver = (direction: "in" | "out", name: string, header: EventHeader, args: unknown) => void;

interface ServerChannel {
  /** Its key in `peer.channels` (empty until registered). */
  key: string;
  /** The client it belongs to, once registered. */
  peer: Peer | undefined;
  /** A push stream's credit listener (see {@link PushStream}). */
  onCredit: (() => void) | undefined;
  envelope: Buffer[];
  requestId: WireId;
  version: number;
  credit: number;
  creditWaiter: (() => void) | undefined;
  lastHeard: number;
  /** When this side last sent a heartbeat (or took the call); -1 once the call finished or aborted. */
  lastBeat: number;
  controller: AbortController | undefined;
  info: CallInfo;
  context: CallContext | undefined;
  /** Whether the handler runs inside AsyncLocalStorage (see {@link ServerOptions.asyncContext}). */
  stored: boolean;
}

/**
 * What the server holds for one client (routing id) while it has something open: its channels
 * by request id (ids are unique per client, not across clients), the calls it has waiting for a
 * pool slot, and replies its socket pipe could not take yet, in order.
 */
interface Peer {
  readonly key: number | string;
  readonly channels: Map<string, ServerChannel>;
  queued: number;
  backlog: OutMessage[];
  backlogBytes: number;
  flushing: boolean;
}

/** Counters of what the server refused or survived; they only grow. */
export interface ServerStats {
  /** Messages that could not be handled: undecodable, wrongly shaped, or that threw (see `onProtocolError`). */
  protocolErrors: number;
  /** Requests larger than `maxMessageSize`. */
  oversized: number;
  /** Requests that reused the id of a call still open for the same client. */
  duplicateIds: number;
  /** Calls refused with BusyError (pool full, queue full or `maxCallsPerPeer`). */
  busy: number;
  /** Replies kept back because a client's pipe was full (sent later, in order). */
  deferredReplies: number;
  /** Replies dropped: their client was gone, or over `maxPeerBacklog`. */
  droppedReplies: number;
}

const DEFAULT_MAX_CREDIT = 1000;
const DEFAULT_MAX_CALLS_PER_PEER = 10_000;
const DEFAULT_MAX_PEER_BACKLOG = 64 * 1024 * 1024;
/** How soon a kept-back reply is offered to its client's pipe again. */
const BACKLOG_RETRY_MS = 2;

/** The key of a routing id without allocating for libzmq's own 5-byte ids (0x00 + uint32). */
function peerKey(identity: Buffer): number | string {
  return identity.length === 5 && identity[0] === 0 ? identity.readUInt32BE(1) : identity.toString("latin1");
}

/** Where an exception inside a message handler is turned into a report: never a crash. */
function asProtocolError(error: unknown, what: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  return new ProtocolError(`${what} failed: ${errorTupleOf(error)[1]}`, { cause: error });
}

/** A stand-in for a hostile argument in an error message: its kind, never its text. */
function shown(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Buffer.isBuffer(value) ? value : {};
}

/** A call's facts; the peer's hex form is made only if someone reads it (most calls never do). */
class Call implements CallInfo {
  #peer: string | undefined;
  constructor(
    readonly method: string,
    readonly args: readonly unknown[],
    readonly headers: Readonly<Record<string, unknown>>,
    private readonly envelope: Buffer[],
  ) {}
  get peer(): string {
    // A ROUTER's envelope starts with the routing id, with or without the empty delimiter after it.
    this.#peer ??= this.envelope.length > 0 ? (this.envelope[0] as Buffer).toString("hex") : "";
    return this.#peer;
  }
}

/** `callStorage` context with a lazily created AbortSignal (most calls never read it). */
class Context implements CallContext {
  constructor(private readonly channel: ServerChannel) {}
  get method(): string {
    return this.channel.info.method;
  }
  get headers(): Readonly<Record<string, unknown>> {
    return this.channel.info.headers;
  }
  get peer(): string {
    return this.channel.info.peer;
  }
  get signal(): AbortSignal {
    return controllerOf(this.channel).signal;
  }
}

function controllerOf(channel: ServerChannel): AbortController {
  channel.controller ??= new AbortController();
  return channel.controller;
}

const EMPTY_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});

const HOOK_NAMES = ["beforeCall", "afterCall", "onError", "replyHeaders"] as const;

/** Validates the constructor's arguments in one place (see src/core/options.ts). */
function checkServerOptions(target: unknown, options: ServerOptions): void {
  if (target === null || (typeof target !== "object" && typeof target !== "function")) {
    throw new InvalidArgumentError("target", target, "an object, class instance, module namespace or map of functions");
  }
  checkObject("options", options);
  checkString("name", options.name, { nonEmpty: true });
  if (options.heartbeat !== false) checkDuration("heartbeat", options.heartbeat);
  checkNumber("poolSize", options.poolSize, { min: 1, integer: true, orInfinity: true });
  checkOneOf("overflow", options.overflow, ["queue", "reject"]);
  checkNumber("maxQueued", options.maxQueued, { min: 0, integer: true });
  checkNumber("maxMessageSize", options.maxMessageSize, { min: 1, integer: true });
  checkNumber("maxDepth", options.maxDepth, { min: 1, max: MAX_DEPTH_LIMIT, integer: true });
  checkNumber("maxItems", options.maxItems, { min: 1, integer: true });
  checkNumber("maxCredit", options.maxCredit, { min: 1, integer: true });
  checkNumber("maxCallsPerPeer", options.maxCallsPerPeer, { min: 1, integer: true });
  checkNumber("maxPeerBacklog", options.maxPeerBacklog, { min: 0, integer: true });
  const methods: unknown = options.methods;
  if (
    methods !== undefined &&
    (!Array.isArray(methods) || methods.some((name) => typeof name !== "string" || name.length === 0))
  ) {
    throw new InvalidArgumentError("methods", methods, "an array of method names");
  }
  checkObject("hooks", options.hooks);
  for (const hook of HOOK_NAMES) checkFunction(`hooks.${hook}`, options.hooks?.[hook]);
  checkFunction("onProtocolError", options.onProtocolError);
  checkFunction("onEvent", options.onEvent);
  checkObject("socket", options.socket);
  checkOneOf("asyncContext", options.asyncContext, [true, false, "auto"]);
  checkServerSecurity("security", options.security);
  checkFunction("onHandshakeFailure", options.onHandshakeFailure);
  if (options.security?.authenticator && options.socket?.context !== undefined) {
    // ZAP requests go to the socket's context: the authenticator must be listening in it.
    if (options.socket.context !== options.security.authenticator.context) {
      throw new InvalidArgumentError("socket.context", options.socket.context, "the context of security.authenticator");
    }
  }
}

/** How often the default handshake-failure warning may print. */
const HANDSHAKE_WARNING_EVERY_MS = 10_000;

/**
 * The default report of failed handshakes: libzmq retries a client with a wrong server key about
 * ten times a second, so one line per period, counting the ones it did not print.
 */
function throttledWarning(name: string): (error: AuthenticationError) => void {
  let last = Number.NEGATIVE_INFINITY;
  let unprinted = 0;
  return (error) => {
    const now = performance.now();
    if (now - last < HANDSHAKE_WARNING_EVERY_MS) {
      unprinted++;
      return;
    }
    const more = unprinted > 0 ? ` (${unprinted} more failed handshakes since the last warning)` : "";
    console.warn(`zerokit rpc server ${name}: ${error.message}${more}`);
    last = now;
    unprinted = 0;
  };
}

/** What the server needs of its socket: a zeromq.js ROUTER, or the plain-JavaScript {@link ZmtpListener}. */
interface RouterSocket {
  bind(endpoint: string): Promise<string>;
  receive(): Promise<Message>;
  post(message: OutMessage, onError: (error: Error) => void): void;
  send(message: OutMessage): Promise<void>;
  close(): void;
}

/**
 * An option of the state server's own RPC server, not of the public API: serve with the
 * plain-JavaScript ZMTP listener (NULL mechanism, one tcp or ipc bind, no connect). The state
 * server sets it only when no security is asked and its address is one the listener takes.
 */
export const PLAIN_LISTENER: unique symbol = Symbol("zerokit.plainListener");

/** {@link ServerOptions} with the internal {@link PLAIN_LISTENER} flag. */
export type InternalServerOptions = ServerOptions & { [PLAIN_LISTENER]?: boolean };

/**
 * Bytes a message may exceed `maxMessageSize` by and still reach the server on the plain
 * listener, which then answers it as oversized (a larger one closes the connection).
 */
const OVERSIZE_SLACK = 64 * 1024;

/** Whether a send failed because the client's pipe (or the writer queue) is full, not because it is gone. */
function isBackPressure(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof QueueFullError;
}

/** A message the server sends: frames, strings among them only as large parts (see PARTS_MARKER). */
type OutMessage = (Buffer | string)[];

function messageBytes(message: OutMessage): number {
  let size = 0;
  for (const frame of message) size += frame.length;
  return size;
}

/**
 * A zerorpc-compatible server: exposes the public methods (names not starting with `_`) of an
 * object, class instance, module namespace or map of functions to zerokit and Python zerorpc
 * clients; methods inherited from Node's or the language's base classes (EventEmitter, Object...)
 * are never served, and `methods` narrows the set to an explicit list. Sync and async methods
 * answer OK; methods returning a generator or async iterable stream with credit flow control;
 * throws answer ERR `[name, message, stack]`.
 *
 * Hostile input: no message stops the server. One that cannot be handled is counted in
 * {@link stats}, reported to `onProtocolError` and, when it names a call, answered ERR. What one
 * client can hold is bounded (`maxCallsPerPeer`, `maxCredit`, `maxPeerBacklog`) and one client
 * over a bound fails its own calls, never another client's.
 *
 * Concurrency: every request runs at once (a slow handler never blocks others) unless
 * `poolSize` bounds it. Bind and/or connect to any number of endpoints (connect = worker mode).
 *
 * @example
 * await using server = new RpcServer({ add: (a: number, b: number) => a + b }, { name: "calc" });
 * const address = await server.bind("tcp://127.0.0.1:4242");
 */
export class RpcServer implements AsyncDisposable {
  /** What this server's streams ask of it (see streams.ts). */
  readonly #streams: StreamHost<ServerChannel> = {
    signalOf: (channel) => controllerOf(channel).signal,
    waitCredit: (channel) => this.#waitCredit(channel),
    item: (channel, value) => this.#send(channel.envelope, channel.requestId, STREAM, value, channel),
    done: (channel) => {
      this.#finish(channel);
      this.#afterCall(channel, undefined);
      this.#send(channel.envelope, channel.requestId, STREAM_DONE, null, channel);
    },
    fail: (channel, error) => this.#fail(channel, error),
    release: (channel) => this.#finish(channel),
  };
  readonly name: string;
  /** What the server refused or survived so far (see {@link ServerStats}); read-only. */
  readonly stats: ServerStats = {
    protocolErrors: 0,
    oversized: 0,
    duplicateIds: 0,
    busy: 0,
    deferredReplies: 0,
    droppedReplies: 0,
  };
  readonly #socket: RouterSocket;
  /** The zeromq.js socket, for what only it has (CURVE, monitors, connect); undefined on the plain listener. */
  readonly #router: Router | undefined;
  readonly #security: ServerSecurity | undefined;
  #stopHandshakeReports: (() => void) | undefined;
  /** The client security the socket's options were last set to by `connect` (worker mode). */
  #connectSecurity: ClientSecurity | undefined;
  readonly #methods: Map<string, MethodInfo>;
  readonly #heartbeat: number | false;
  readonly #poolSize: number;
  readonly #overflow: "queue" | "reject";
  readonly #maxQueued: number;
  readonly #maxMessageSize: number;
  readonly #limits: DecodeLimits;
  readonly #maxCredit: number;
  readonly #maxCallsPerPeer: number;
  readonly #maxPeerBacklog: number;
  readonly #hooks: ServerHooks | undefined;
  readonly #onProtocolError: ((error: ProtocolError, frames: Message) => void) | undefined;
  readonly #onEvent: EventObserver | undefined;
  /** Clients with something open, by routing id (see {@link peerKey}). */
  readonly #peers = new Map<number | string, Peer>();
  #openChannels = 0;
  /** How many peers have replies kept back: while 0, a send looks up no peer. */
  #backlogged = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #ticker: Ticker | undefined;
  readonly #asyncContext: AsyncContextMode;
  #running = 0;
  #queued: (() => void)[] = [];
  // While a batch runs: its sender, and the replies to it that go back as one batch message.
  #batchPeer: Buffer | undefined;
  #batchReplies: (Buffer | EventFrames)[] | undefined;
  /** Envelopes of messages that came in zerokit framing: replies on them may carry large parts. */
  readonly #framed = new WeakSet<Buffer[]>();
  /** Whether a client may be over inproc, which hands it our memory: large parts are then copied. */
  #inproc = false;
  #loop: Promise<void> | undefined;
  #closed = false;

  /**
   * @throws {InvalidArgumentError} for a target that is not an object or an option out of range.
   */
  constructor(target: object, options: ServerOptions = {}) {
    checkServerOptions(target, options);
    this.#methods = collectMethods(target, options.methods);
    const ctorName = (target as { constructor?: { name?: string } }).constructor?.name;
    this.name =
      options.name ?? (typeof ctorName === "string" && ctorName && ctorName !== "Object" ? ctorName : "zerokit");
    this.#heartbeat = options.heartbeat === undefined ? 5000 : options.heartbeat;
    this.#poolSize = options.poolSize ?? Number.POSITIVE_INFINITY;
    this.#overflow = options.overflow ?? "queue";
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    this.#limits = {
      maxDepth: options.maxDepth ?? DEFAULT_DECODE_LIMITS.maxDepth,
      maxItems: options.maxItems ?? DEFAULT_DECODE_LIMITS.maxItems,
    };
    this.#maxCredit = options.maxCredit ?? DEFAULT_MAX_CREDIT;
    this.#maxCallsPerPeer = options.maxCallsPerPeer ?? DEFAULT_MAX_CALLS_PER_PEER;
    this.#maxPeerBacklog = options.maxPeerBacklog ?? DEFAULT_MAX_PEER_BACKLOG;
    this.#hooks = options.hooks;
    this.#onProtocolError = options.onProtocolError;
    this.#onEvent = options.onEvent;
    this.#asyncContext = options.asyncContext ?? "auto";
    // Mandatory routing: a reply the client's pipe cannot take fails instead of vanishing (the
    // ROUTER default drops it past the send high-water mark). With sendTimeout 0 it fails at
    // once, so one client that does not read never holds up the replies to the others.
    this.#security = options.security;
    const socketOptions = {
      sendTimeout: 0,
      ...options.socket,
      ...serverSocketOptions(options.security),
      mandatory: true,
    };
    if ((options as InternalServerOptions)[PLAIN_LISTENER] && !options.security) {
      this.#router = undefined;
      const maxMessageBytes = this.#maxMessageSize + OVERSIZE_SLACK;
      // A batch is at most 257 frames; a message with large parts, a few more.
      this.#socket = new ZmtpListener({ limits: { maxFrameBytes: maxMessageBytes, maxFrames: 1024, maxMessageBytes } });
    } else {
      const router = new Router(socketOptions);
      this.#router = router;
      this.#socket = router;
      const report = options.onHandshakeFailure ?? (options.security ? throttledWarning(this.name) : undefined);
      if (report) {
        this.#stopHandshakeReports = onHandshakeFailure(router.raw, (error) => {
          try {
            report(error);
          } catch {
            // the observer is the user's: its failure must not reach the socket's event loop
          }
        });
      }
    }
    if (this.#heartbeat !== false) {
      const period = this.#heartbeat;
      this.#ticker = new Ticker(
        Math.max(5, period / 4),
        (now) => this.#onTick(now, period),
        () => this.#openChannels > 0,
      );
    }
  }

  /** Names of the exposed methods, sorted. */
  get methods(): string[] {
    return [...this.#methods.keys()];
  }

  /**
   * Listens on an endpoint and starts serving; resolves with the connectable address.
   * @throws {EndpointError} for a malformed endpoint or a failed bind.
   */
  async bind(endpoint: string): Promise<string> {
    checkString("endpoint", endpoint, { nonEmpty: true });
    // Started before the first client can connect, or its handshake finds no ZAP handler.
    await this.#security?.authenticator?.start();
    if (this.#closed) throw new ClosedError("the server is closed");
    const address = await this.#socket.bind(endpoint);
    if (address.startsWith("inproc:")) this.#inproc = true;
    this.#start();
    return address;
  }

  /**
   * Connects to a client or queue that binds (worker mode) and starts serving. A bound client
   * is the CURVE server of that connection (it authenticates its workers), so a worker takes
   * the {@link ClientSecurity} of the client it connects to: its `serverKey`, and this worker's
   * own pair. Without it the server's own `security` applies (the worker stays the CURVE server).
   *
   * @example
   * server.connect("tcp://127.0.0.1:4242", { security: { curve: { serverKey: brokerPublic } } });
   */
  connect(endpoint: string, options: { security?: ClientSecurity } = {}): void {
    checkString("endpoint", endpoint, { nonEmpty: true });
    checkObject("options", options);
    checkClientSecurity("options.security", options.security);
    const router = this.#router;
    if (!router)
      throw new InvalidArgumentError("endpoint", endpoint, "none: a server on the plain listener only binds");
    const security = options.security;
    if (security !== undefined && security !== this.#connectSecurity) {
      // libzmq takes a socket's security options at each connect: these apply to this one on.
      const raw = router.raw as zmq.Router;
      const own = clientSocketOptions(security);
      raw.curveServer = false;
      if (own.curveServerKey !== undefined) {
        raw.curveServerKey = own.curveServerKey;
        raw.curvePublicKey = own.curvePublicKey as string;
        raw.curveSecretKey = own.curveSecretKey as string;
      }
      this.#connectSecurity = security;
    }
    router.connect(endpoint);
    if (endpoint.startsWith("inproc:")) this.#inproc = true;
    this.#start();
  }

  #start(): void {
    this.#loop ??= receiveLoop(
      this.#socket,
      () => this.#closed,
      (frames) => this.#onMessage(frames),
    );
  }

  /** Counts and reports a message that could not be handled; the report itself may not throw. */
  #protocolError(error: ProtocolError, frames: Message): void {
    this.stats.protocolErrors++;
    try {
      this.#onProtocolError?.(error, frames);
    } catch {
      // The observer is the user's: its failure must not become the loop's.
    }
  }

  /** The receive loop's one boundary: no exception from one message reaches the loop. */
  #onMessage(frames: Message): void {
    try {
      const last = frames.length - 1;
      if (last < 1) {
        this.#protocolError(new ProtocolError("a message without an event frame"), frames);
        return;
      }
      if (eventFrames(frames, 1).batch) {
        this.#onBatch(frames);
        return;
      }
      const split = splitParts(frames, 1);
      if (split) {
        const envelope = [frames[0] as Buffer];
        this.#framed.add(envelope);
        this.#onEventFrame(envelope, split.blob, split.parts);
        return;
      }
      this.#onEventFrame(frames.slice(0, last), frames[last] as Buffer);
    } catch (error) {
      this.#protocolError(asProtocolError(error, "handling a message"), frames);
    }
  }

  /**
   * A zerokit batch `[identity, marker, event...]`: the events run in order, and the replies they
   * produce before the batch is done go back together in one batch message.
   */
  #onBatch(frames: Message): void {
    const identity = frames[0] as Buffer;
    const envelope = [identity];
    this.#framed.add(envelope);
    const replies: (Buffer | EventFrames)[] = [];
    this.#batchPeer = identity;
    this.#batchReplies = replies;
    try {
      for (let i = 2; i < frames.length; i++) this.#onEventFrame(envelope, frames[i] as Buffer);
    } finally {
      this.#batchPeer = undefined;
      this.#batchReplies = undefined;
    }
    // In order: runs of plain replies go as batches, a reply with large parts as its own message.
    let run: Buffer[] = [];
    for (const reply of replies) {
      if (Buffer.isBuffer(reply)) {
        run.push(reply);
        continue;
      }
      this.#deliverRun(identity, run);
      run = [];
      this.#deliver([identity, ...reply]);
    }
    this.#deliverRun(identity, run);
  }

  #deliverRun(identity: Buffer, replies: Buffer[]): void {
    if (replies.length > 0) this.#deliver([identity, ...batchFrames(replies)]);
  }

  #onEventFrame(envelope: Buffer[], blob: Buffer, parts?: Buffer[]): void {
    if (blob.length > this.#maxMessageSize || (parts && blob.length + framesBytes(parts) > this.#maxMessageSize)) {
      this.#rejectOversized(envelope, blob, parts);
      return;
    }
    let event: RpcEvent;
    try {
      event = decodeEvent(blob, this.#limits, parts);
    } catch (error) {
      const problem = asProtocolError(error, "decoding an event");
      this.#protocolError(problem, [...envelope, blob]);
      // A blob refused for its depth or size usually still has a readable header: answer it.
      const header = readHeaderOnly(blob);
      if (header) this.#answerFailure(envelope, header, problem);
      return;
    }
    try {
      this.#onEvent?.("in", event.name, event.header, event.args);
      const responseTo = event.header.response_to;
      if (responseTo !== undefined && responseTo !== null) {
        this.#onChannelEvent(envelope, responseTo, event);
        return;
      }
      this.#onRequest(envelope, event);
    } catch (error) {
      const problem = asProtocolError(error, `handling ${JSON.stringify(event.name)}`);
      this.#protocolError(problem, [...envelope, blob]);
      this.#answerFailure(envelope, event.header, problem);
    }
  }

  /** Answers ERR for a message that failed: on its channel if it had one, else to its id. */
  #answerFailure(envelope: Buffer[], header: EventHeader, error: Error): void {
    const responseTo = header.response_to;
    if (responseTo !== undefined && responseTo !== null) {
      const channel = this.#channelOf(envelope, responseTo);
      if (channel) this.#failChannel(channel, error);
      return;
    }
    this.#send(envelope, header.message_id, ERR, errorTupleOf(error), undefined);
  }

  #rejectOversized(envelope: Buffer[], blob: Buffer, parts: Buffer[] | undefined): void {
    this.stats.oversized++;
    const error = new MessageTooLargeError(blob.length + (parts ? framesBytes(parts) : 0), this.#maxMessageSize);
    // Only the header, which comes first, is read: decoding the rest is the work to refuse.
    const header = readHeaderOnly(blob);
    if (!header) {
      this.#protocolError(new ProtocolError(`${error.message}, with no readable header`), envelope);
      return;
    }
    this.#protocolError(new ProtocolError(error.message), envelope);
    this.#answerFailure(envelope, header, error);
  }

  #channelOf(envelope: Buffer[], responseTo: WireId): ServerChannel | undefined {
    if (this.#openChannels === 0) return undefined;
    return this.#peers.get(peerKey(envelope[0] as Buffer))?.channels.get(idKey(responseTo));
  }

  #onChannelEvent(envelope: Buffer[], responseTo: WireId, event: RpcEvent): void {
    const channel = this.#channelOf(envelope, responseTo);
    if (!channel) return; // unknown or finished channel: drop, never block (zerorpc-python #61)
    const meaning = meaningOf(event.name, channel.version);
    if (meaning === "heartbeat") {
      channel.lastHeard = performance.now();
    } else if (meaning === "credit") {
      const n = creditOf(event.args);
      if (n === undefined) {
        const raw = Array.isArray(event.args) ? (event.args[0] as unknown) : undefined;
        const error = new InvalidArgumentError(`the credit of ${MORE}`, shown(raw), "an integer > 0");
        this.#protocolError(new ProtocolError(error.message), envelope);
        this.#failChannel(channel, error);
        return;
      }
      // Capped: a client may ask for 1e12 items, but one stream never runs that far ahead.
      channel.credit = Math.min(channel.credit + n, this.#maxCredit);
      const wake = channel.creditWaiter;
      channel.creditWaiter = undefined;
      wake?.();
      channel.onCredit?.();
    } else if (meaning === "cancel") {
      this.#abortChannel(channel, new ClosedError("the client cancelled the call"));
    }
  }

  #onRequest(envelope: Buffer[], event: RpcEvent): void {
    const { header, name } = event;
    const version = typeof header.v === "number" ? header.v : 1;
    if (!Array.isArray(event.args)) {
      const error = new ProtocolError(`the args of ${JSON.stringify(name)} must be an array`);
      this.#send(envelope, header.message_id, ERR, errorTupleOf(error), undefined);
      return;
    }
    const args = event.args as unknown[];
    if (this.#refused(envelope, header.message_id, true)) return;
    if (this.#running >= this.#poolSize) {
      if (this.#overflow === "reject" || this.#queued.length >= this.#maxQueued) {
        this.#busy(envelope, header.message_id, new BusyError());
        return;
      }
      const peer = this.#peerFor(envelope[0] as Buffer);
      peer.queued++;
      this.#queued.push(() => {
        peer.queued--;
        try {
          if (!this.#refused(envelope, header.message_id, false)) this.#dispatch(envelope, header, name, args, version);
        } catch (error) {
          this.#protocolError(asProtocolError(error, `starting ${JSON.stringify(name)}`), envelope);
        }
        this.#forgetIfIdle(peer);
      });
      return;
    }
    this.#dispatch(envelope, header, name, args, version);
  }

  /**
   * Answers ERR and returns true when a request may not run: its id is that of a call still open
   * for the same client, or (`counting`) the client is at `maxCallsPerPeer`. Costs nothing for
   * a client with nothing open.
   */
  #refused(envelope: Buffer[], id: WireId, counting: boolean): boolean {
    if (this.#peers.size === 0) return false;
    const peer = this.#peers.get(peerKey(envelope[0] as Buffer));
    if (peer === undefined) return false;
    if (peer.channels.size > 0 && peer.channels.has(idKey(id))) {
      this.stats.duplicateIds++;
      const error = new ProtocolError("a call with this message_id is still open: ids must be unique per client");
      this.#send(envelope, id, ERR, errorTupleOf(error), undefined);
      return true;
    }
    if (counting && peer.channels.size + peer.queued >= this.#maxCallsPerPeer) {
      this.#busy(envelope, id, new BusyError(`this client already has ${this.#maxCallsPerPeer} calls open`));
      return true;
    }
    return false;
  }

  #busy(envelope: Buffer[], id: WireId, error: BusyError): void {
    this.stats.busy++;
    this.#send(envelope, id, ERR, errorTupleOf(error), undefined);
  }

  #peerFor(identity: Buffer): Peer {
    const key = peerKey(identity);
    let peer = this.#peers.get(key);
    if (peer === undefined) {
      peer = { key, channels: new Map(), queued: 0, backlog: [], backlogBytes: 0, flushing: false };
      this.#peers.set(key, peer);
    }
    return peer;
  }

  /** Drops a peer's record once it holds nothing, so idle clients cost nothing. */
  #forgetIfIdle(peer: Peer): void {
    if (peer.channels.size === 0 && peer.queued === 0 && peer.backlog.length === 0 && !peer.flushing) {
      if (this.#peers.get(peer.key) === peer) this.#peers.delete(peer.key);
    }
  }

  #dispatch(envelope: Buffer[], header: EventHeader, name: string, args: unknown[], version: number): void {
    const builtin = this.#introspect(name, args);
    if (builtin !== undefined) {
      this.#send(
        envelope,
        header.message_id,
        builtin.ok ? OK : ERR,
        builtin.ok ? [builtin.value] : builtin.error,
        undefined,
      );
      return;
    }
    const method = this.#methods.get(name);
    if (!method) {
      this.#send(envelope, header.message_id, ERR, ["NameError", name, `NameError: ${name}`], undefined);
      return;
    }
    const now = performance.now();
    const headers = contextOf(header) ?? EMPTY_HEADERS;
    const channel: ServerChannel = {
      key: "",
      peer: undefined,
      onCredit: undefined,
      envelope,
      requestId: header.message_id,
      version,
      credit: 1,
      creditWaiter: undefined,
      // Like Python, the liveness clock starts at the first beat, one period in: a passive client
      // only starts beating once it has heard us.
      lastHeard: now + (this.#heartbeat === false ? 0 : this.#heartbeat),
      lastBeat: now,
      controller: undefined,
      info: new Call(name, args, headers, envelope),
      context: undefined,
      stored: usesStorage(this.#asyncContext, method.resumes),
    };
    this.#running++;
    const hooks = this.#hooks;
    if (hooks?.beforeCall) {
      if (!this.#register(channel)) return;
      let before: void | Promise<void>;
      try {
        before = hooks.beforeCall(channel.info);
      } catch (error) {
        this.#fail(channel, error);
        return;
      }
      Promise.resolve(before).then(
        () => this.#invoke(channel, method, args, true),
        (error: unknown) => this.#fail(channel, error),
      );
      return;
    }
    this.#invoke(channel, method, args, false);
  }

  #invoke(channel: ServerChannel, method: MethodInfo, args: unknown[], registered: boolean): void {
    if (this.#isGone(channel)) return;
    const context = new Context(channel);
    channel.context = context;
    let result: unknown;
    let pending: boolean;
    try {
      result = runAsCall(context, channel.stored, method.fn, args);
      pending =
        result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function";
    } catch (error) {
      this.#fail(channel, error);
      return;
    }
    if (pending) {
      if (!registered && !this.#register(channel)) return;
      try {
        (result as PromiseLike<unknown>).then(
          (value) => this.#settle(channel, value),
          (error: unknown) => this.#fail(channel, error),
        );
      } catch (error) {
        this.#fail(channel, error);
      }
      return;
    }
    this.#settle(channel, result);
  }

  /** Never throws: it runs in promise callbacks, where a throw would be an unhandled rejection. */
  #settle(channel: ServerChannel, value: unknown): void {
    if (this.#isGone(channel)) return;
    try {
      if (value instanceof PushStream) {
        if (!channel.key && !this.#register(channel)) return;
        const context = channel.context;
        if (!context) startPushStream(this.#streams, channel, value);
        else runAsCall(context, channel.stored, () => startPushStream(this.#streams, channel, value), []);
        return;
      }
      if (isPulledStream(value)) {
        if (!channel.key && !this.#register(channel)) return;
        // Generator bodies run on first next(): keep them inside the call's context.
        const context = channel.context;
        if (!context) void runPulledStream(this.#streams, channel, value);
        else void runAsCall(context, channel.stored, () => runPulledStream(this.#streams, channel, value), []);
        return;
      }
    } catch (error) {
      this.#fail(channel, error);
      return;
    }
    this.#finish(channel);
    this.#afterCall(channel, value);
    this.#send(channel.envelope, channel.requestId, OK, [value], channel);
  }

  /** Never throws (see {@link #settle}). */
  #fail(channel: ServerChannel, error: unknown): void {
    if (this.#isGone(channel)) return;
    this.#finish(channel);
    let reported = error;
    const onError = this.#hooks?.onError;
    if (onError) {
      try {
        reported = onError(channel.info, error) ?? error;
      } catch (hookError) {
        this.#hookFailed("onError", hookError, channel);
      }
    }
    this.#send(channel.envelope, channel.requestId, ERR, errorTupleOf(reported), channel);
  }

  /** Answers ERR on a channel and stops what feeds it (a stream's generator or producer). */
  #failChannel(channel: ServerChannel, error: Error): void {
    this.#fail(channel, error);
    this.#abortChannel(channel, error);
  }

  #afterCall(channel: ServerChannel, value: unknown): void {
    const afterCall = this.#hooks?.afterCall;
    if (!afterCall) return;
    try {
      afterCall(channel.info, value);
    } catch (error) {
      this.#hookFailed("afterCall", error, channel);
    }
  }

  #hookFailed(hook: string, error: unknown, channel: ServerChannel): void {
    this.#protocolError(asProtocolError(error, `the ${hook} hook`), channel.envelope);
  }

  /** True when the channel finished, or was aborted (client lost or cancelled): nothing more is sent. */
  #isGone(channel: ServerChannel): boolean {
    return channel.lastBeat < 0 || channel.controller?.signal.aborted === true;
  }

  #waitCredit(channel: ServerChannel): Promise<void> {
    const signal = controllerOf(channel).signal;
    if (signal.aborted) return Promise.resolve();
    // #abortChannel wakes the waiter, so no abort listener is needed per wait.
    return new Promise<void>((resolve) => {
      channel.creditWaiter = resolve;
    });
  }

  /**
   * Files a channel under its client. A second open call with the same id (possible only for
   * calls that waited for a pool slot together) is answered ERR and its slot freed: returns false.
   */
  #register(channel: ServerChannel): boolean {
    const key = idKey(channel.requestId);
    const peer = this.#peerFor(channel.envelope[0] as Buffer);
    if (peer.channels.has(key)) {
      this.stats.duplicateIds++;
      this.#fail(
        channel,
        new ProtocolError("a call with this message_id is still open: ids must be unique per client"),
      );
      this.#forgetIfIdle(peer);
      return false;
    }
    channel.key = key;
    channel.peer = peer;
    peer.channels.set(key, channel);
    this.#openChannels++;
    this.#ticker?.ensure();
    return true;
  }

  #unregister(channel: ServerChannel): void {
    const peer = channel.peer;
    if (peer === undefined) return;
    channel.peer = undefined;
    if (peer.channels.get(channel.key) === channel) {
      peer.channels.delete(channel.key);
      this.#openChannels--;
    }
    this.#forgetIfIdle(peer);
  }

  /** Ends a call's bookkeeping once (its channel, its pool slot). */
  #finish(channel: ServerChannel): void {
    if (channel.lastBeat < 0) return;
    channel.lastBeat = -1;
    this.#unregister(channel);
    this.#releaseSlot();
  }

  /** Frees a pool slot and starts waiting calls while slots are free (a refused one takes none). */
  #releaseSlot(): void {
    this.#running--;
    while (this.#running < this.#poolSize && this.#queued.length > 0) (this.#queued.shift() as () => void)();
  }

  #abortChannel(channel: ServerChannel, reason: Error): void {
    this.#unregister(channel);
    const controller = controllerOf(channel);
    if (!controller.signal.aborted) controller.abort(reason);
    channel.creditWaiter?.();
    channel.creditWaiter = undefined;
    if (channel.lastBeat >= 0) {
      channel.lastBeat = -1;
      this.#releaseSlot();
    }
  }

  #onTick(now: number, period: number): void {
    try {
      for (const peer of this.#peers.values()) {
        for (const channel of peer.channels.values()) {
          const verdict = heartbeatVerdict(channel.lastHeard, channel.lastBeat, now, period);
          if (verdict === "lost") {
            this.#abortChannel(
              channel,
              new LostRemoteError(`lost the client of ${channel.info.method} after ${2 * period} ms without heartbeat`),
            );
            continue;
          }
          if (verdict === "beat") {
            channel.lastBeat = now;
            this.#send(
              channel.envelope,
              channel.requestId,
              channelEventName("heartbeat", channel.version),
              [0],
              undefined,
            );
          }
        }
      }
    } catch (error) {
      this.#protocolError(asProtocolError(error, "the heartbeat tick"), []);
    }
  }

  #send(envelope: Buffer[], responseTo: WireId, name: string, args: unknown, channel: ServerChannel | undefined): void {
    let extra: Record<string, unknown> | undefined;
    const replyHeaders = channel && this.#hooks?.replyHeaders;
    if (replyHeaders) {
      try {
        extra = replyHeaders(channel.info);
      } catch (error) {
        this.#hookFailed("replyHeaders", error, channel);
      }
    }
    // A client in zerokit framing gets large parts as frames of their own; anyone else plain events.
    const framed = this.#framed.has(envelope);
    let blob: Buffer | EventFrames;
    if (extra || this.#onEvent) {
      const header: EventHeader = {
        message_id: idBytes(idString(nextIdNumber())),
        v: PROTOCOL_VERSION,
        response_to: responseTo,
      };
      if (extra) Object.assign(header, extra);
      try {
        blob = framed ? encodeEventFrames(header, name, args, this.#inproc) : encodeEvent(header, name, args);
      } catch (error) {
        blob = encodeEvent(
          header,
          ERR,
          errorTupleOf(new ProtocolError(`cannot encode the reply: ${errorTupleOf(error)[1]}`)),
        );
      }
      try {
        this.#onEvent?.("out", name, header, args);
      } catch {
        // A debugging observer must not stop the reply.
      }
    } else {
      const id = nextIdNumber();
      try {
        blob = framed
          ? encodeFastFrames(id, responseTo, name, args, undefined, this.#inproc)
          : encodeFast(id, responseTo, name, args);
      } catch (error) {
        blob = encodeFast(
          id,
          responseTo,
          ERR,
          errorTupleOf(new ProtocolError(`cannot encode the reply: ${errorTupleOf(error)[1]}`)),
        );
      }
    }
    if (this.#batchReplies && envelope[0] === this.#batchPeer) this.#batchReplies.push(blob);
    else if (!Buffer.isBuffer(blob)) this.#deliver([...envelope, ...blob]);
    else this.#deliver(envelope.length === 1 ? [envelope[0] as Buffer, blob] : [...envelope, blob]);
  }

  /**
   * Hands a message to the socket. A client with replies kept back gets this one behind them, in
   * order; a reply its pipe cannot take is kept (see {@link #undelivered}).
   */
  #deliver(message: OutMessage): void {
    if (this.#backlogged > 0) {
      const peer = this.#peers.get(peerKey(message[0] as Buffer));
      if (peer !== undefined && peer.backlog.length > 0) {
        this.#keep(peer, message);
        return;
      }
    }
    this.#socket.post(message, (error) => this.#undelivered(message, error));
  }

  #undelivered(message: OutMessage, error: Error): void {
    if (this.#closed) return;
    if (isBackPressure(error)) {
      this.#keep(this.#peerFor(message[0] as Buffer), message);
      return;
    }
    // EHOSTUNREACH: the client disconnected, and its calls with it.
    this.stats.droppedReplies++;
    const peer = this.#peers.get(peerKey(message[0] as Buffer));
    if (peer) this.#dropPeer(peer, new LostRemoteError("the client disconnected"));
  }

  /** Keeps a reply for a client whose pipe is full, within `maxPeerBacklog`. */
  #keep(peer: Peer, message: OutMessage): void {
    const size = messageBytes(message);
    if (peer.backlogBytes + size > this.#maxPeerBacklog) {
      this.stats.droppedReplies++;
      const identity = message[0] as Buffer;
      this.#protocolError(
        new ProtocolError(
          `client ${identity.toString("hex")} left over ${this.#maxPeerBacklog} bytes of replies unread: its calls are aborted and its unread replies dropped`,
        ),
        [identity],
      );
      this.#dropPeer(peer, new BusyError("the client did not read its replies"));
      return;
    }
    if (peer.backlog.length === 0) this.#backlogged++;
    peer.backlog.push(message);
    peer.backlogBytes += size;
    this.stats.deferredReplies++;
    this.#scheduleRetry();
  }

  /** Aborts what a client has open and forgets the replies kept for it. */
  #dropPeer(peer: Peer, reason: Error): void {
    for (const channel of [...peer.channels.values()]) this.#abortChannel(channel, reason);
    if (peer.backlog.length > 0) {
      this.stats.droppedReplies += peer.backlog.length;
      peer.backlog = [];
      peer.backlogBytes = 0;
      this.#backlogged--;
    }
    this.#forgetIfIdle(peer);
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      for (const peer of this.#peers.values()) {
        if (peer.backlog.length > 0 && !peer.flushing) void this.#flush(peer);
      }
    }, BACKLOG_RETRY_MS);
    this.#retryTimer.unref();
  }

  /** Offers a client's kept replies to its pipe again, oldest first, until it is full again. */
  async #flush(peer: Peer): Promise<void> {
    peer.flushing = true;
    try {
      while (peer.backlog.length > 0 && !this.#closed) {
        const message = peer.backlog[0] as OutMessage;
        try {
          await this.#socket.send(message);
        } catch (error) {
          if (isBackPressure(error)) this.#scheduleRetry();
          else if (!this.#closed) this.#dropPeer(peer, new LostRemoteError("the client disconnected"));
          return;
        }
        if (peer.backlog[0] !== message) continue; // dropped meanwhile
        peer.backlog.shift();
        peer.backlogBytes -= messageBytes(message);
        if (peer.backlog.length === 0) this.#backlogged--;
      }
    } finally {
      peer.flushing = false;
      this.#forgetIfIdle(peer);
    }
  }

  #introspect(
    name: string,
    args: unknown[],
  ): { ok: true; value: unknown } | { ok: false; error: [string, string, string] } | undefined {
    if (!name.startsWith("_z")) return undefined;
    switch (name) {
      case "_zerorpc_ping":
        return { ok: true, value: ["pong", this.name] };
      case "_zerorpc_name":
        return { ok: true, value: this.name };
      case "_zerorpc_list":
        return { ok: true, value: this.methods };
      case "_zerorpc_help":
      case "_zerorpc_args": {
        const wanted = args[0];
        const methodName =
          typeof wanted === "string" ? wanted : Buffer.isBuffer(wanted) ? wanted.toString("utf8") : undefined;
        if (methodName === undefined) {
          const error = new InvalidArgumentError(`the method name of ${name}`, shown(wanted), "a string");
          return { ok: false, error: errorTupleOf(error) };
        }
        const m = this.#methods.get(methodName);
        if (!m) return { ok: false, error: ["NameError", methodName, ""] };
        return { ok: true, value: name === "_zerorpc_help" ? m.doc : argsTuple(m) };
      }
      case "_zerorpc_inspect": {
        const methods = Object.fromEntries([...this.#methods.values()].map((m) => [m.name, inspectEntry(m)]));
        return { ok: true, value: { name: this.name, methods } };
      }
      case FEATURES:
        return { ok: true, value: { cancel: true, version: 1 } };
      default:
        return undefined;
    }
  }

  /** Stops serving: running calls see their signal abort; the socket closes. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ticker?.stop();
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#queued = [];
    for (const peer of [...this.#peers.values()]) {
      for (const channel of [...peer.channels.values()])
        this.#abortChannel(channel, new ClosedError("the server closed"));
    }
    this.#peers.clear();
    this.#backlogged = 0;
    this.#stopHandshakeReports?.();
    this.#socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#loop;
  }
}
