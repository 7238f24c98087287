/**
 * One-way zerorpc events: Pusher/Puller (PUSH/PULL) and Publisher/Subscriber (PUB/SUB). Each
 * message is one frame, the same `[header, name, args]` event as RPC, with no reply.
 */
import type * as zmq from "zeromq";
import type { ProtocolError } from "../core/errors.js";
import type { ZSocket } from "../core/socket.js";
import { Pub, Pull, Push, type SocketOptions, Sub } from "../core/sockets.js";
import { type AsyncContextMode, currentCall, receiveLoop, runAsCall, usesStorage } from "./context.js";

/** One-way events have no client to lose: their signal never aborts. */
const NEVER_ABORTED = new AbortController().signal;

import { type AnyFunction, collectMethods, type MethodInfo } from "./introspect.js";
import {
  contextOf,
  decodeEvent,
  type EventHeader,
  encodeEvent,
  idBytes,
  idString,
  nextIdNumber,
  PROTOCOL_VERSION,
} from "./protocol.js";

// biome-ignore lint/suspicious/noExplicitAny: matches any function signature.
type AnyFn = (...args: any[]) => any;

/** The typed view of an event receiver: each method sends an event and resolves once queued. */
export type EventProxy<Api> = {
  readonly [K in keyof Api as Api[K] extends AnyFn ? K : never]: Api[K] extends (...args: infer A) => unknown
    ? (...args: A) => Promise<void>
    : never;
};

abstract class Emitter<S extends ZSocket<zmq.Socket>> implements AsyncDisposable {
  protected abstract readonly socket: S;

  /** Binds an endpoint; resolves with the connectable address. */
  bind(endpoint: string): Promise<string> {
    return this.socket.bind(endpoint);
  }
  /** Connects to an endpoint. */
  connect(endpoint: string): void {
    this.socket.connect(endpoint);
  }

  /**
   * Sends the event `name(...args)`; resolves once ZeroMQ accepted it. Safe to call concurrently.
   * @example
   * await pusher.emit("hello", ["world"]);
   */
  emit(name: string, args: readonly unknown[] = [], headers?: Record<string, unknown>): Promise<void> {
    const header: EventHeader = { message_id: idBytes(idString(nextIdNumber())), v: PROTOCOL_VERSION };
    const context = currentCall();
    if (context) Object.assign(header, context.headers);
    if (headers) Object.assign(header, headers);
    return (this.socket as unknown as ZSocket<zmq.Push>).send(encodeEvent(header, name, args));
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

  close(): void {
    this.socket.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** Sends one-way events to Pullers (PUSH: each event goes to one puller). */
export class Pusher extends Emitter<Push> {
  protected readonly socket: Push;
  constructor(options?: SocketOptions<zmq.Push>) {
    super();
    this.socket = new Push(options);
  }
}

/** Sends one-way events to every Subscriber (PUB). */
export class Publisher extends Emitter<Pub> {
  protected readonly socket: Pub;
  constructor(options?: SocketOptions<zmq.Publisher>) {
    super();
    this.socket = new Pub(options);
  }
}

/** Options of event receivers. */
export interface ReceiverOptions {
  /** Called when an event cannot be decoded or names no method; the receiver keeps going. */
  onError?: (error: Error) => void;
  /** How handlers see their event through `currentCall()`; as `ServerOptions.asyncContext`. */
  asyncContext?: AsyncContextMode;
}

abstract class Receiver<S extends ZSocket<zmq.Socket>> implements AsyncDisposable {
  protected abstract readonly socket: S;
  readonly #methods: Map<string, MethodInfo>;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #asyncContext: AsyncContextMode;
  #loop: Promise<void> | undefined;

  constructor(target: object, options: ReceiverOptions = {}) {
    this.#methods = collectMethods(target);
    this.#onError = options.onError;
    this.#asyncContext = options.asyncContext ?? "auto";
  }

  /** Binds an endpoint and starts dispatching; resolves with the connectable address. */
  async bind(endpoint: string): Promise<string> {
    const address = await this.socket.bind(endpoint);
    this.#loop ??= this.#run();
    return address;
  }
  /** Connects and starts dispatching. */
  connect(endpoint: string): void {
    this.socket.connect(endpoint);
    this.#loop ??= this.#run();
  }

  #run(): Promise<void> {
    const socket = this.socket as unknown as ZSocket<zmq.Pull>;
    return receiveLoop(
      socket,
      () => socket.closed,
      (frames) => this.#dispatch(frames),
    );
  }

  #dispatch(frames: Buffer[]): void {
    const blob = frames[frames.length - 1];
    if (!blob) return;
    try {
      const event = decodeEvent(blob);
      const method = this.#methods.get(event.name);
      if (!method) throw new Error(`no method ${JSON.stringify(event.name)} for event`);
      const args = Array.isArray(event.args) ? event.args : [event.args];
      const context = { method: event.name, headers: contextOf(event.header) ?? {}, peer: "", signal: NEVER_ABORTED };
      const stored = usesStorage(this.#asyncContext, method.resumes);
      const result = runAsCall(context, stored, method.fn as AnyFunction, args);
      if (result instanceof Promise) result.catch((error: unknown) => this.#onError?.(error as Error));
    } catch (error) {
      this.#onError?.(error as ProtocolError);
    }
  }

  close(): void {
    this.socket.close();
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
    this.socket = new Pull(options.socket);
  }
}

/** Receives every event a Publisher sends (subscribed to all) and calls `target`'s methods. */
export class Subscriber extends Receiver<Sub> {
  protected readonly socket: Sub;
  constructor(target: object, options: ReceiverOptions & { socket?: SocketOptions<zmq.Subscriber> } = {}) {
    super(target, options);
    this.socket = new Sub(options.socket);
    this.socket.subscribe();
  }
}
