/**
 * One-way zerorpc events: Pusher/Puller (PUSH/PULL) and Publisher/Subscriber (PUB/SUB). Each
 * message is one frame, the same `[header, name, args]` event as RPC, with no reply.
 */
import type * as zmq from "zeromq";
import { ClosedError, EndpointError, InvalidArgumentError, ProtocolError } from "../core/errors.js";
import { checkFunction, checkNumber, checkObject, checkOneOf } from "../core/options.js";
import { type Peer, PeerSet } from "../core/peers.js";
import {
  type Authenticator,
  type ClientSecurity,
  checkClientSecurity,
  checkServerSecurity,
  clientSocketOptions,
  type SecuritySocketOptions,
  type ServerSecurity,
  serverSocketOptions,
} from "../core/security/index.js";
import type { Message, ZSocket } from "../core/socket.js";
import { Pub, Pull, Push, type SocketOptions, Sub } from "../core/sockets.js";
import { checkEndpoint } from "./client.js";
import { type AsyncContextMode, currentCall, runAsCall, usesStorage } from "./context.js";
import { type AnyFunction, collectMethods, type MethodInfo } from "./introspect.js";
import {
  contextOf,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_MAX_MESSAGE,
  decodeEvent,
  type EventHeader,
  encodeEvent,
  idBytes,
  idString,
  nextIdNumber,
  PROTOCOL_VERSION,
} from "./protocol.js";

/** One-way events have no client to lose: their signal never aborts. */
const NEVER_ABORTED = new AbortController().signal;
const DEFAULT_MAX_PENDING = 1000;
const ASYNC_CONTEXT_MODES = [true, false, "auto"] as const;

// biome-ignore lint/suspicious/noExplicitAny: matches any function signature.
type AnyFn = (...args: any[]) => any;

/** The typed view of an event receiver: each method sends an event and resolves once queued. */
export type EventProxy<Api> = {
  readonly [K in keyof Api as Api[K] extends AnyFn ? K : never]: Api[K] extends (...args: infer A) => unknown
    ? (...args: A) => Promise<void>
    : never;
};

/**
 * The `security` of an event socket. One socket is the CURVE server or client of all its
 * connections: a socket that binds takes {@link ServerSecurity} (its key pair, an authenticator
 * for who may connect), one that connects takes {@link ClientSecurity} (the `serverKey` of the
 * socket it connects to). Which one it is, is told by `curve.serverKey`: only a client has it.
 */
export type EventSecurity = ServerSecurity | ClientSecurity;

/** Checks an event socket's `security` option and turns it into socket options. */
function eventSecurity(
  name: string,
  security: unknown,
): { socket: SecuritySocketOptions; authenticator: Authenticator | undefined } {
  if (security === undefined) return { socket: {}, authenticator: undefined };
  checkObject(name, security);
  if (isClientSecurity(security as EventSecurity)) {
    checkClientSecurity(name, security);
    return { socket: clientSocketOptions(security as ClientSecurity), authenticator: undefined };
  }
  checkServerSecurity(name, security);
  const server = security as ServerSecurity;
  return { socket: serverSocketOptions(server), authenticator: server.authenticator };
}

/** Emitter options: the socket's own, and its security. */
type EmitterOptions<T extends zmq.Socket> = SocketOptions<T> & {
  /**
   * See {@link EventSecurity}: ServerSecurity for the socket that binds, ClientSecurity as the
   * default of every `connect()` that names none.
   */
  security?: EventSecurity;
};

/** An emitter's constructor options without `security` (ZeroMQ refuses options it does not know). */
function withoutSecurity<T extends zmq.Socket>(options: EmitterOptions<T> | undefined): SocketOptions<T> {
  if (options === undefined) return {} as SocketOptions<T>;
  const { security: _, ...rest } = options;
  return rest as SocketOptions<T>;
}

/** Whether a checked event `security` is a client's (only a client names the server's key). */
function isClientSecurity(security: EventSecurity | undefined): security is ClientSecurity {
  const curve = (security as { curve?: unknown } | undefined)?.curve;
  return typeof curve === "object" && curve !== null && "serverKey" in curve;
}

const noop = (): void => {};

/**
 * A sender of one-way events. Binding uses one socket (made with the constructor's options);
 * each `connect()` adds a peer to a {@link PeerSet}, with its own socket and its own security, so
 * one sender can reach receivers of different keys. A refused handshake closes that peer's
 * socket at once (libzmq never retries it).
 */
abstract class Emitter<S extends ZSocket<zmq.Socket>> implements AsyncDisposable {
  /** The socket of every bind, and of emits while nothing is connected (as one socket was before). */
  protected readonly socket: S;
  /** The connected receivers. */
  protected readonly peers: PeerSet<S>;
  /** Whether the bound socket has bound anything (it then takes its share of emits). */
  protected bound = false;
  readonly #authenticator: Authenticator | undefined;

  /** Checks the constructor's options (the socket's own values are checked by ZeroMQ). */
  constructor(options: EmitterOptions<zmq.Socket> | undefined, make: (options: SocketOptions<zmq.Socket>) => S) {
    checkObject("options", options);
    const checked = eventSecurity("security", options?.security);
    this.#authenticator = checked.authenticator;
    const own = withoutSecurity(options);
    this.socket = make({ ...own, ...checked.socket });
    // A server's security (for binding) also secures connects that name none, as it did when
    // one socket did both; a client's is the default of every connect.
    const client = isClientSecurity(options?.security) ? options?.security : undefined;
    const unnamed = client === undefined ? checked.socket : {};
    this.peers = new PeerSet<S>({
      socket: (security) => make({ ...own, ...(Object.keys(security).length === 0 ? unnamed : security) }),
      defaults: client === undefined ? {} : { security: client },
      closeRefused: true,
    });
  }

  /** Binds an endpoint; resolves with the connectable address (after starting the authenticator, if any). */
  bind(endpoint: string): Promise<string> {
    checkEndpoint(endpoint);
    return this.#bind(endpoint);
  }

  async #bind(endpoint: string): Promise<string> {
    await this.#authenticator?.start();
    const address = await this.socket.bind(endpoint);
    this.bound = true;
    return address;
  }

  /**
   * Connects to a receiver, with its own socket and security (`options.security`, else the
   * constructor's): one sender can reach receivers of different keys.
   *
   * @throws {EndpointError} for a malformed endpoint.
   * @throws {InvalidArgumentError} for an endpoint already connected or a security option not allowed.
   * @example
   * pusher.connect("tcp://127.0.0.1:4243", { security: { curve: { serverKey } } });
   */
  connect(endpoint: string, options: { security?: ClientSecurity } = {}): void {
    checkEndpoint(endpoint);
    checkObject("options", options);
    checkClientSecurity("options.security", options.security);
    this.peers.add(endpoint, options.security === undefined ? undefined : { security: options.security });
  }

  /**
   * Closes the connection to a receiver (its socket, after its linger). Returns whether it was
   * connected.
   *
   * @example
   * pusher.disconnect("tcp://127.0.0.1:4243");
   */
  disconnect(endpoint: string): boolean {
    checkEndpoint(endpoint);
    try {
      return this.peers.remove(endpoint);
    } catch (error) {
      // A malformed endpoint was never connected.
      if (error instanceof EndpointError) return false;
      throw error;
    }
  }

  /** Sends one encoded event where the pattern says: one receiver (PUSH) or all (PUB). */
  protected abstract deliver(blob: Buffer): Promise<void>;

  /**
   * Sends the event `name(...args)`; resolves once ZeroMQ accepted it. Safe to call concurrently.
   * @throws {InvalidArgumentError} (synchronously) for a `name`, `args` or `headers` not allowed.
   * @example
   * await pusher.emit("hello", ["world"]);
   */
  emit(name: string, args: readonly unknown[] = [], headers?: Record<string, unknown>): Promise<void> {
    if (typeof name !== "string" || name.length === 0) {
      throw new InvalidArgumentError("name", name, "a non-empty event name");
    }
    if (!Array.isArray(args)) throw new InvalidArgumentError("args", args, "an array of positional arguments");
    if (headers !== undefined && (typeof headers !== "object" || headers === null || Array.isArray(headers))) {
      throw new InvalidArgumentError("headers", headers, "an object of header values");
    }
    const header: EventHeader = { message_id: idBytes(idString(nextIdNumber())), v: PROTOCOL_VERSION };
    const context = currentCall();
    if (context) Object.assign(header, context.headers);
    if (headers) Object.assign(header, headers);
    return this.deliver(encodeEvent(header, name, args));
  }

  /**
   * A typed view: `pusher.proxy<Api>().hello("world")` emits `hello`. Not a thenable.
   */
  proxy<Api extends object>(): EventProxy<Api> {
    return new Proxy(Object.create(null) as object, {
      get: (_target, property) => {
        if (typeof property !== "string" || property === "then") return undefined;
        return (...args: unknown[]) => this.emit(property, args);
      },
    }) as EventProxy<Api>;
  }

  /** Closes every socket; emits still waiting reject with `ClosedError`. Safe twice. */
  close(): void {
    this.peers.close();
    this.socket.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * Sends one-way events to Pullers (PUSH: each event goes to one puller, round-robin over the
 * connected ones, skipping refused ones; with nothing connected it waits on the bound socket).
 */
export class Pusher extends Emitter<Push> {
  #boundTurn = false;

  /** @throws {InvalidArgumentError} for an option that is not allowed. */
  constructor(options?: EmitterOptions<zmq.Push>) {
    super(options as EmitterOptions<zmq.Socket> | undefined, (o) => new Push(o as SocketOptions<zmq.Push>));
  }

  protected deliver(blob: Buffer): Promise<void> {
    const peers = this.peers;
    if (peers.size === 0) return this.socket.send(blob);
    if (this.bound) {
      this.#boundTurn = !this.#boundTurn;
      if (this.#boundTurn) return this.socket.send(blob);
    }
    let peer: Peer<Push>;
    try {
      peer = peers.pick();
    } catch (error) {
      // Every connected receiver refused: a bound socket may still have takers.
      return this.bound ? this.socket.send(blob) : Promise.reject(error);
    }
    // A send still queued when the peer is refused fails as the refusal, not as a closed socket.
    return peer.socket.send(blob).catch((error: unknown) => {
      throw peer.failure ?? error;
    });
  }
}

/** Sends one-way events to every Subscriber (PUB), bound or connected. */
export class Publisher extends Emitter<Pub> {
  /** @throws {InvalidArgumentError} for an option that is not allowed. */
  constructor(options?: EmitterOptions<zmq.Publisher>) {
    super(options as EmitterOptions<zmq.Socket> | undefined, (o) => new Pub(o as SocketOptions<zmq.Publisher>));
  }

  protected deliver(blob: Buffer): Promise<void> {
    const peers = this.peers.peers();
    if (peers.length === 0) return this.socket.send(blob);
    const sends: Promise<void>[] = this.bound ? [this.socket.send(blob)] : [];
    // A refused peer's socket is closed: PUB drops what nobody can receive, and so does this.
    for (const peer of peers) if (!peer.socket.closed) sends.push(peer.socket.send(blob));
    return sends.length === 1 ? (sends[0] as Promise<void>) : Promise.all(sends).then(noop);
  }
}

/** Options of event receivers. */
export interface ReceiverOptions {
  /**
   * Called when a handler throws or its promise rejects, and for protocol errors when there is
   * no `onProtocolError`. The receiver keeps going whatever happens (counted in `stats`).
   */
  onError?: (error: Error) => void;
  /** Called for every message that breaks the protocol (not one frame, undecodable, too large, no such method). */
  onProtocolError?: (error: ProtocolError, frames: Message) => void;
  /** How handlers see their event through `currentCall()`; as `ServerOptions.asyncContext`. */
  asyncContext?: AsyncContextMode;
  /** Largest event accepted, in bytes; a larger one is dropped without being decoded. Default 100 MiB. */
  maxMessageSize?: number;
  /**
   * Most async handler calls running at once. At the limit the receiver stops reading until one
   * settles, so a fast sender meets ZeroMQ's high-water mark instead of growing this process.
   * Default 1000.
   */
  maxPending?: number;
  /** See {@link EventSecurity}: ServerSecurity for a receiver that binds, ClientSecurity for one that connects. */
  security?: EventSecurity;
}

/** What a receiver has seen since it was made (see {@link Puller.stats}). */
export interface ReceiverStats {
  /** Messages read from the socket. */
  readonly received: number;
  /** Events handed to a handler. */
  readonly dispatched: number;
  /** Messages dropped for breaking the protocol. */
  readonly protocolErrors: number;
  /** Handlers that threw or rejected. */
  readonly handlerErrors: number;
}

abstract class Receiver<S extends ZSocket<zmq.Socket>> implements AsyncDisposable {
  protected abstract readonly socket: S;
  readonly #methods: Map<string, MethodInfo>;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onProtocolError: ((error: ProtocolError, frames: Message) => void) | undefined;
  readonly #asyncContext: AsyncContextMode;
  readonly #maxMessageSize: number;
  readonly #maxPending: number;
  readonly #authenticator: Authenticator | undefined;
  /** The socket options the security option turns into (the subclass spreads them into its socket). */
  protected readonly securityOptions: SecuritySocketOptions;
  #loop: Promise<void> | undefined;
  #pending = 0;
  #slotFree: (() => void) | undefined;
  #received = 0;
  #dispatched = 0;
  #protocolErrors = 0;
  #handlerErrors = 0;
  readonly #settled = (): void => {
    this.#pending--;
    this.#freeSlot();
  };
  readonly #rejected = (error: unknown): void => {
    this.#pending--;
    this.#handlerFailed(error);
    this.#freeSlot();
  };

  /** @throws {InvalidArgumentError} for a `target` or an option that is not allowed. */
  constructor(target: object, options: ReceiverOptions & { socket?: object } = {}) {
    if (target === null || (typeof target !== "object" && typeof target !== "function")) {
      throw new InvalidArgumentError("target", target, "an object whose methods handle the events");
    }
    checkObject("options", options);
    checkFunction("onError", options.onError);
    checkFunction("onProtocolError", options.onProtocolError);
    checkOneOf("asyncContext", options.asyncContext, ASYNC_CONTEXT_MODES);
    checkNumber("maxMessageSize", options.maxMessageSize, { min: 1, integer: true });
    checkNumber("maxPending", options.maxPending, { min: 1, integer: true });
    checkObject("socket", options.socket);
    const security = eventSecurity("security", options.security);
    this.securityOptions = security.socket;
    this.#authenticator = security.authenticator;
    this.#methods = collectMethods(target);
    this.#onError = options.onError;
    this.#onProtocolError = options.onProtocolError;
    this.#asyncContext = options.asyncContext ?? "auto";
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** What the receiver has seen so far (a fresh snapshot on every read). */
  get stats(): ReceiverStats {
    return {
      received: this.#received,
      dispatched: this.#dispatched,
      protocolErrors: this.#protocolErrors,
      handlerErrors: this.#handlerErrors,
    };
  }

  /** Binds an endpoint and starts dispatching; resolves with the connectable address. */
  async bind(endpoint: string): Promise<string> {
    checkEndpoint(endpoint);
    await this.#authenticator?.start();
    const address = await this.socket.bind(endpoint);
    this.#loop ??= this.#run();
    return address;
  }
  /** Connects and starts dispatching. */
  connect(endpoint: string): void {
    checkEndpoint(endpoint);
    this.socket.connect(endpoint);
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const socket = this.socket as unknown as ZSocket<zmq.Pull>;
    while (!socket.closed) {
      let frames: Message;
      try {
        frames = await socket.receive();
      } catch (error) {
        if (error instanceof ClosedError || socket.closed) return;
        continue;
      }
      this.#received++;
      // The one boundary of this loop: nothing one message does stops it.
      try {
        this.#dispatch(frames);
      } catch (error) {
        this.#protocolError(
          new ProtocolError(`an event could not be handled: ${String(error)}`, { cause: error }),
          frames,
        );
      }
      if (this.#pending >= this.#maxPending && !socket.closed) {
        await new Promise<void>((resolve) => {
          this.#slotFree = resolve;
        });
      }
    }
  }

  #dispatch(frames: Message): void {
    const blob = frames[0];
    if (frames.length !== 1 || blob === undefined) {
      this.#protocolError(new ProtocolError(`an event is one frame, got ${frames.length}`), frames);
      return;
    }
    if (blob.length > this.#maxMessageSize) {
      this.#protocolError(
        new ProtocolError(`an event of ${blob.length} bytes exceeds maxMessageSize (${this.#maxMessageSize})`),
        frames,
      );
      return;
    }
    let event: ReturnType<typeof decodeEvent>;
    try {
      // A receiver takes events from anyone: nesting and element counts are bounded before decoding.
      event = decodeEvent(blob, DEFAULT_DECODE_LIMITS);
    } catch (error) {
      this.#protocolError(
        error instanceof ProtocolError ? error : new ProtocolError(String(error), { cause: error }),
        frames,
      );
      return;
    }
    const method = this.#methods.get(event.name);
    if (!method) {
      this.#protocolError(new ProtocolError(`no method ${JSON.stringify(event.name.slice(0, 64))} for event`), frames);
      return;
    }
    const args = Array.isArray(event.args) ? event.args : [event.args];
    const context = { method: event.name, headers: contextOf(event.header) ?? {}, peer: "", signal: NEVER_ABORTED };
    const stored = usesStorage(this.#asyncContext, method.resumes);
    this.#dispatched++;
    let result: unknown;
    try {
      result = runAsCall(context, stored, method.fn as AnyFunction, args);
    } catch (error) {
      this.#handlerFailed(error);
      return;
    }
    if (result instanceof Promise) {
      this.#pending++;
      result.then(this.#settled, this.#rejected);
    }
  }

  #freeSlot(): void {
    const free = this.#slotFree;
    if (free && this.#pending < this.#maxPending) {
      this.#slotFree = undefined;
      free();
    }
  }

  #handlerFailed(error: unknown): void {
    this.#handlerErrors++;
    this.#tell(this.#onError, error instanceof Error ? error : new Error(String(error)));
  }

  #protocolError(error: ProtocolError, frames: Message): void {
    this.#protocolErrors++;
    if (this.#onProtocolError) {
      try {
        this.#onProtocolError(error, frames);
      } catch {
        // An observer that throws must not stop the loop: the error was counted.
      }
    } else this.#tell(this.#onError, error);
  }

  #tell(observer: ((error: Error) => void) | undefined, error: Error): void {
    try {
      observer?.(error);
    } catch {
      // As above: counted, and the loop goes on.
    }
  }

  close(): void {
    this.socket.close();
    const free = this.#slotFree;
    this.#slotFree = undefined;
    free?.();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#loop;
  }
}

/** Receives one-way events from Pushers and calls the matching method of `target`. */
export class Puller extends Receiver<Pull> {
  protected readonly socket: Pull;
  constructor(target: object, options: ReceiverOptions & { socket?: SocketOptions<zmq.Pull> } = {}) {
    super(target, options);
    this.socket = new Pull({ ...options.socket, ...this.securityOptions });
  }
}

/** Receives every event a Publisher sends (subscribed to all) and calls `target`'s methods. */
export class Subscriber extends Receiver<Sub> {
  protected readonly socket: Sub;
  constructor(target: object, options: ReceiverOptions & { socket?: SocketOptions<zmq.Subscriber> } = {}) {
    super(target, options);
    this.socket = new Sub({ ...options.socket, ...this.securityOptions });
    this.socket.subscribe();
  }
}
