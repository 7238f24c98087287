import type * as zmq from "zeromq";
import { BusyError, ClosedError, LostRemoteError, MessageTooLargeError, ProtocolError } from "../core/errors.js";
import type { Message } from "../core/socket.js";
import { Router, type SocketOptions } from "../core/sockets.js";
import { type AsyncContextMode, type CallContext, receiveLoop, runAsCall, Ticker, usesStorage } from "./context.js";
import { argsTuple, collectMethods, inspectEntry, type MethodInfo } from "./introspect.js";
import {
  BATCH_MARKER,
  CANCEL,
  contextOf,
  decodeEvent,
  ERR,
  type EventHeader,
  encodeEvent,
  encodeFast,
  FEATURES,
  HEARTBEAT,
  idBytes,
  idKey,
  idString,
  isBatchMarker,
  MORE,
  nextIdNumber,
  OK,
  PROTOCOL_VERSION,
  type RpcEvent,
  STREAM,
  STREAM_DONE,
  type WireId,
} from "./protocol.js";

/** Facts about a call, given to server hooks. */
export interface CallInfo {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly headers: Readonly<Record<string, unknown>>;
  readonly peer: string;
}

/** Middleware points, the zerorpc-python ones in TypeScript form. Hooks must not throw. */
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
  /** Largest request accepted, in bytes; larger ones answer MessageTooLargeError. Default 100 MiB. */
  maxMessageSize?: number;
  /** Middleware. */
  hooks?: ServerHooks;
  /** Called for input that could not be answered (e.g. undecodable MessagePack). */
  onProtocolError?: (error: ProtocolError, frames: Message) => void;
  /** Options for the ROUTER socket. */
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
}

/** Observes events: `"in"` for received, `"out"` for sent. */
export type EventObserver = (direction: "in" | "out", name: string, header: EventHeader, args: unknown) => void;

interface ServerChannel {
  key: string;
  /** A push stream's credit listener (see {@link PushStream}). */
  onCredit: (() => void) | undefined;
  envelope: Buffer[];
  requestId: WireId;
  version: number;
  credit: number;
  creditWaiter: (() => void) | undefined;
  lastHeard: number;
  lastSent: number;
  controller: AbortController | undefined;
  info: CallInfo;
  context: CallContext | undefined;
  /** Whether the handler runs inside AsyncLocalStorage (see {@link ServerOptions.asyncContext}). */
  stored: boolean;
}

const DEFAULT_MAX_MESSAGE = 100 * 1024 * 1024;
const noop = () => {};

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

/** What a {@link PushStream}'s producer is given to feed its stream. */
export interface StreamSink {
  /** Items the client accepts right now (its credit); 0 once the stream ended or the call is gone. */
  readonly credit: number;
  /**
   * Sends one STREAM item at once. Returns false, sending nothing, when there is no credit or the
   * stream is over: keep the item and push it from {@link onCredit}.
   */
  push(item: unknown): boolean;
  /** Ends the stream with STREAM_DONE (sent as soon as the client's credit allows). */
  end(): void;
  /** Ends the stream with ERR `[name, message, stack]` of `error`. */
  fail(error: unknown): void;
  /** Aborts when the client cancels or is lost, or the server closes: stop producing then. */
  readonly signal: AbortSignal;
  /** Called each time the client grants more credit. */
  onCredit: (() => void) | undefined;
}

/**
 * A streamed reply fed by pushes instead of pulled from an iterator. Return one from a handler
 * when items come from events (a state watcher's changes): each item leaves the moment the
 * producer pushes it, with none of an async iterator's hand-offs in between, and the client's
 * credit still bounds what is sent ahead.
 *
 * Concurrency: `start` runs once, synchronously, when the handler's result is settled; the sink
 * may then be used from any callback until the stream ends or `sink.signal` aborts.
 *
 * @example
 * const ticks = () => new PushStream((sink) => {
 *   const timer = setInterval(() => sink.push(Date.now()), 100);
 *   sink.signal.addEventListener("abort", () => clearInterval(timer));
 * });
 */
export class PushStream {
  constructor(readonly start: (sink: StreamSink) => void) {}
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && Symbol.asyncIterator in value;
}
function isGenerator(value: unknown): value is Iterator<unknown> & Iterable<unknown> {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof (value as Iterator<unknown>).next === "function" &&
    Symbol.iterator in value
  );
}

/** The `[name, message, stack]` args of an ERR event for a thrown value. */
export function errorArgs(error: unknown): [string, string, string] {
  if (error instanceof Error) {
    return [error.name || error.constructor.name, error.message, error.stack ?? ""];
  }
  return ["Error", String(error), ""];
}

/**
 * A zerorpc-compatible server: exposes the public methods (names not starting with `_`) of an
 * object, class instance, module namespace or map of functions to zerokit and Python zerorpc
 * clients. Sync and async methods answer OK; methods returning a generator or async iterable
 * stream with credit flow control; throws answer ERR `[name, message, stack]`.
 *
 * Concurrency: every request runs at once (a slow handler never blocks others) unless
 * `poolSize` bounds it. Bind and/or connect to any number of endpoints (connect = worker mode).
 *
 * @example
 * await using server = new RpcServer({ add: (a: number, b: number) => a + b }, { name: "calc" });
 * const address = await server.bind("tcp://127.0.0.1:4242");
 */
export class RpcServer implements AsyncDisposable {
  readonly name: string;
  readonly #socket: Router;
  readonly #methods: Map<string, MethodInfo>;
  readonly #heartbeat: number | false;
  readonly #poolSize: number;
  readonly #overflow: "queue" | "reject";
  readonly #maxQueued: number;
  readonly #maxMessageSize: number;
  readonly #hooks: ServerHooks | undefined;
  readonly #onProtocolError: ((error: ProtocolError, frames: Message) => void) | undefined;
  readonly #onEvent: EventObserver | undefined;
  readonly #channels = new Map<string, ServerChannel>();
  readonly #ticker: Ticker | undefined;
  readonly #asyncContext: AsyncContextMode;
  #running = 0;
  #queued: (() => void)[] = [];
  // While a batch runs: its sender, and the replies to it that go back as one batch message.
  #batchPeer: Buffer | undefined;
  #batchReplies: Buffer[] | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(target: object, options: ServerOptions = {}) {
    this.#methods = collectMethods(target);
    const ctorName = (target as { constructor?: { name?: string } }).constructor?.name;
    this.name = options.name ?? (ctorName && ctorName !== "Object" ? ctorName : "zerokit");
    this.#heartbeat = options.heartbeat === undefined ? 5000 : options.heartbeat;
    this.#poolSize = options.poolSize ?? Number.POSITIVE_INFINITY;
    this.#overflow = options.overflow ?? "queue";
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    this.#hooks = options.hooks;
    this.#onProtocolError = options.onProtocolError;
    this.#onEvent = options.onEvent;
    this.#asyncContext = options.asyncContext ?? "auto";
    // Replies go out with zerokit's eager sends (no readiness check per reply, see ZSocket).
    this.#socket = new Router(options.socket);
    if (this.#heartbeat !== false) {
      const period = this.#heartbeat;
      this.#ticker = new Ticker(
        Math.max(5, period / 4),
        (now) => this.#onTick(now, period),
        () => this.#channels.size > 0,
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
    const address = await this.#socket.bind(endpoint);
    this.#start();
    return address;
  }

  /** Connects to a client or queue that binds (worker mode) and starts serving. */
  connect(endpoint: string): void {
    this.#socket.connect(endpoint);
    this.#start();
  }

  #start(): void {
    this.#loop ??= receiveLoop(
      this.#socket,
      () => this.#closed,
      (frames) => this.#onMessage(frames),
    );
  }

  #onMessage(frames: Message): void {
    const last = frames.length - 1;
    if (last < 1) return;
    if (last >= 2 && isBatchMarker(frames[1])) {
      this.#onBatch(frames);
      return;
    }
    this.#onEventFrame(frames.slice(0, last), frames[last] as Buffer);
  }

  /**
   * A zerokit batch `[identity, marker, event...]`: the events run in order, and the replies they
   * produce before the batch is done go back together in one batch message.
   */
  #onBatch(frames: Message): void {
    const identity = frames[0] as Buffer;
    const envelope = [identity];
    const replies: Buffer[] = [];
    this.#batchPeer = identity;
    this.#batchReplies = replies;
    try {
      for (let i = 2; i < frames.length; i++) this.#onEventFrame(envelope, frames[i] as Buffer);
    } finally {
      this.#batchPeer = undefined;
      this.#batchReplies = undefined;
    }
    if (replies.length === 1) this.#socket.post([identity, replies[0] as Buffer]);
    else if (replies.length > 1) this.#socket.post([identity, BATCH_MARKER, ...replies]);
  }

  #onEventFrame(envelope: Buffer[], blob: Buffer): void {
    if (blob.length > this.#maxMessageSize) {
      this.#rejectOversized(envelope, blob);
      return;
    }
    let event: RpcEvent;
    try {
      event = decodeEvent(blob);
    } catch (error) {
      this.#onProtocolError?.(error as ProtocolError, [...envelope, blob]);
      return;
    }
    this.#onEvent?.("in", event.name, event.header, event.args);
    const responseTo = event.header.response_to;
    if (responseTo !== undefined && responseTo !== null) {
      this.#onChannelEvent(idKey(responseTo), event);
      return;
    }
    this.#onRequest(envelope, event);
  }

  #rejectOversized(envelope: Buffer[], blob: Buffer): void {
    // Read only the header, which comes first, to answer the right channel.
    let header: EventHeader | undefined;
    try {
      header = decodeEvent(blob).header;
    } catch {
      this.#onProtocolError?.(new ProtocolError("oversized message could not be decoded"), [...envelope, blob]);
      return;
    }
    if (header.response_to !== undefined && header.response_to !== null) return;
    const error = new MessageTooLargeError(blob.length, this.#maxMessageSize);
    this.#send(envelope, header.message_id, ERR, errorArgs(error), undefined);
  }

  #onChannelEvent(key: string, event: RpcEvent): void {
    const channel = this.#channels.get(key);
    if (!channel) return; // unknown or finished channel: drop, never block (zerorpc-python #61)
    const name = channel.version < 3 ? swapV2(event.name) : event.name;
    if (name === HEARTBEAT) {
      channel.lastHeard = performance.now();
    } else if (name === MORE) {
      const n = Array.isArray(event.args) ? Number(event.args[0]) : Number.NaN;
      if (Number.isFinite(n) && n > 0) {
        channel.credit += n;
        const wake = channel.creditWaiter;
        channel.creditWaiter = undefined;
        wake?.();
        channel.onCredit?.();
      }
    } else if (name === CANCEL) {
      this.#abortChannel(channel, new ClosedError("the client cancelled the call"));
    }
  }

  #onRequest(envelope: Buffer[], event: RpcEvent): void {
    const { header, name } = event;
    const version = typeof header.v === "number" ? header.v : 1;
    if (!Array.isArray(event.args)) {
      const error = new ProtocolError(`the args of ${JSON.stringify(name)} must be an array`);
      this.#send(envelope, header.message_id, ERR, errorArgs(error), undefined);
      return;
    }
    const args = event.args as unknown[];
    if (this.#running >= this.#poolSize) {
      if (this.#overflow === "reject" || this.#queued.length >= this.#maxQueued) {
        this.#send(envelope, header.message_id, ERR, errorArgs(new BusyError()), undefined);
        return;
      }
      this.#queued.push(() => this.#dispatch(envelope, header, name, args, version));
      return;
    }
    this.#dispatch(envelope, header, name, args, version);
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
      onCredit: undefined,
      envelope,
      requestId: header.message_id,
      version,
      credit: 1,
      creditWaiter: undefined,
      // Like Python, the liveness clock starts at the first beat, one period in: a passive client
      // only starts beating once it has heard us.
      lastHeard: now + (this.#heartbeat === false ? 0 : this.#heartbeat),
      lastSent: now,
      controller: undefined,
      info: new Call(name, args, headers, envelope),
      context: undefined,
      stored: usesStorage(this.#asyncContext, method.resumes),
    };
    this.#running++;
    const hooks = this.#hooks;
    if (hooks?.beforeCall) {
      this.#register(channel);
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
    const context = new Context(channel);
    channel.context = context;
    let result: unknown;
    try {
      result = runAsCall(context, channel.stored, method.fn, args);
    } catch (error) {
      this.#fail(channel, error);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      if (!registered) this.#register(channel);
      (result as PromiseLike<unknown>).then(
        (value) => this.#settle(channel, value),
        (error: unknown) => this.#fail(channel, error),
      );
      return;
    }
    this.#settle(channel, result);
  }

  #settle(channel: ServerChannel, value: unknown): void {
    if (this.#isGone(channel)) return;
    if (value instanceof PushStream) {
      if (!channel.key) this.#register(channel);
      const context = channel.context;
      if (!context) this.#startPush(channel, value);
      else runAsCall(context, channel.stored, () => this.#startPush(channel, value), []);
      return;
    }
    if (isAsyncIterable(value) || isGenerator(value)) {
      if (!channel.key) this.#register(channel);
      // Generator bodies run on first next(): keep them inside the call's context.
      const context = channel.context;
      if (!context) void this.#runStream(channel, value);
      else void runAsCall(context, channel.stored, () => this.#runStream(channel, value), []);
      return;
    }
    this.#finish(channel);
    this.#hooks?.afterCall?.(channel.info, value);
    this.#send(channel.envelope, channel.requestId, OK, [value], channel);
  }

  #fail(channel: ServerChannel, error: unknown): void {
    if (this.#isGone(channel)) return;
    this.#finish(channel);
    const reported = this.#hooks?.onError?.(channel.info, error) ?? error;
    this.#send(channel.envelope, channel.requestId, ERR, errorArgs(reported), channel);
  }

  /** True when the channel was aborted (client lost or cancelled): then nothing more is sent. */
  #isGone(channel: ServerChannel): boolean {
    return channel.controller?.signal.aborted === true;
  }

  async #runStream(channel: ServerChannel, source: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
    const iterator = isAsyncIterable(source)
      ? source[Symbol.asyncIterator]()
      : (source as Iterable<unknown>)[Symbol.iterator]();
    const controller = controllerOf(channel);
    let finished = false;
    try {
      while (true) {
        if (channel.credit <= 0) await this.#waitCredit(channel);
        if (controller.signal.aborted) break;
        const step = await iterator.next();
        if (step.done) {
          finished = true;
          break;
        }
        if (controller.signal.aborted) break;
        channel.credit--;
        this.#send(channel.envelope, channel.requestId, STREAM, step.value, channel);
      }
      if (finished) {
        if (channel.credit <= 0) await this.#waitCredit(channel);
        if (!controller.signal.aborted) {
          this.#finish(channel);
          this.#hooks?.afterCall?.(channel.info, undefined);
          this.#send(channel.envelope, channel.requestId, STREAM_DONE, null, channel);
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) this.#fail(channel, error);
    } finally {
      if (!finished) await Promise.resolve(iterator.return?.()).then(noop, noop);
      if (controller.signal.aborted) this.#finish(channel);
    }
  }

  #startPush(channel: ServerChannel, stream: PushStream): void {
    const signal = controllerOf(channel).signal;
    let open = true;
    let ending = false;
    const sendDone = () => {
      if (!open || signal.aborted || channel.credit <= 0) return;
      open = false;
      this.#finish(channel);
      this.#hooks?.afterCall?.(channel.info, undefined);
      this.#send(channel.envelope, channel.requestId, STREAM_DONE, null, channel);
    };
    const sink: StreamSink = {
      get credit() {
        return open && !ending && !signal.aborted ? channel.credit : 0;
      },
      push: (item) => {
        if (!open || ending || signal.aborted || channel.credit <= 0) return false;
        channel.credit--;
        this.#send(channel.envelope, channel.requestId, STREAM, item, channel);
        return true;
      },
      end: () => {
        ending = true;
        sendDone();
      },
      fail: (error) => {
        if (!open) return;
        open = false;
        this.#fail(channel, error);
      },
      signal,
      onCredit: undefined,
    };
    channel.onCredit = () => {
      if (ending) sendDone();
      else if (open) sink.onCredit?.();
    };
    try {
      stream.start(sink);
    } catch (error) {
      sink.fail(error);
    }
  }

  #waitCredit(channel: ServerChannel): Promise<void> {
    const signal = controllerOf(channel).signal;
    if (signal.aborted) return Promise.resolve();
    // #abortChannel wakes the waiter, so no abort listener is needed per wait.
    return new Promise<void>((resolve) => {
      channel.creditWaiter = resolve;
    });
  }

  #register(channel: ServerChannel): void {
    channel.key = idKey(channel.requestId);
    this.#channels.set(channel.key, channel);
    this.#ticker?.ensure();
  }

  /** Ends a call's bookkeeping once (its channel, its pool slot). */
  #finish(channel: ServerChannel): void {
    if (channel.lastSent < 0) return;
    channel.lastSent = -1;
    if (channel.key) this.#channels.delete(channel.key);
    this.#running--;
    const next = this.#queued.shift();
    if (next) next();
  }

  #abortChannel(channel: ServerChannel, reason: Error): void {
    this.#channels.delete(channel.key);
    const controller = controllerOf(channel);
    controller.abort(reason);
    channel.creditWaiter?.();
    if (channel.lastSent >= 0) {
      channel.lastSent = -1;
      this.#running--;
      const next = this.#queued.shift();
      if (next) next();
    }
  }

  #onTick(now: number, period: number): void {
    for (const channel of this.#channels.values()) {
      if (now - channel.lastHeard > 2 * period) {
        this.#abortChannel(
          channel,
          new LostRemoteError(`lost the client of ${channel.info.method} after ${2 * period} ms without heartbeat`),
        );
        continue;
      }
      if (now - channel.lastSent >= period) {
        channel.lastSent = now;
        const name = channel.version < 3 ? swapV2(HEARTBEAT) : HEARTBEAT;
        this.#send(channel.envelope, channel.requestId, name, [0], undefined);
      }
    }
  }

  #send(envelope: Buffer[], responseTo: WireId, name: string, args: unknown, channel: ServerChannel | undefined): void {
    const extra = channel && this.#hooks?.replyHeaders?.(channel.info);
    let blob: Buffer;
    if (extra || this.#onEvent) {
      const header: EventHeader = {
        message_id: idBytes(idString(nextIdNumber())),
        v: PROTOCOL_VERSION,
        response_to: responseTo,
      };
      if (extra) Object.assign(header, extra);
      try {
        blob = encodeEvent(header, name, args);
      } catch (error) {
        blob = encodeEvent(
          header,
          ERR,
          errorArgs(new ProtocolError(`cannot encode the reply: ${(error as Error).message}`)),
        );
      }
      this.#onEvent?.("out", name, header, args);
    } else {
      const id = nextIdNumber();
      try {
        blob = encodeFast(id, responseTo, name, args);
      } catch (error) {
        blob = encodeFast(
          id,
          responseTo,
          ERR,
          errorArgs(new ProtocolError(`cannot encode the reply: ${(error as Error).message}`)),
        );
      }
    }
    if (channel && channel.lastSent >= 0) channel.lastSent = performance.now();
    if (this.#batchReplies && envelope[0] === this.#batchPeer) this.#batchReplies.push(blob);
    else this.#socket.post([...envelope, blob]);
  }

  #introspect(
    name: string,
    args: unknown[],
  ): { ok: true; value: unknown } | { ok: false; error: [string, string, string] } | undefined {
    if (!name.startsWith("_z")) return undefined;
    const method = (n: unknown) => this.#methods.get(String(n));
    switch (name) {
      case "_zerorpc_ping":
        return { ok: true, value: ["pong", this.name] };
      case "_zerorpc_name":
        return { ok: true, value: this.name };
      case "_zerorpc_list":
        return { ok: true, value: this.methods };
      case "_zerorpc_help": {
        const m = method(args[0]);
        return m ? { ok: true, value: m.doc } : { ok: false, error: ["NameError", String(args[0]), ""] };
      }
      case "_zerorpc_args": {
        const m = method(args[0]);
        return m ? { ok: true, value: argsTuple(m) } : { ok: false, error: ["NameError", String(args[0]), ""] };
      }
      case "_zerorpc_inspect": {
        const methods: Record<string, unknown> = {};
        for (const m of this.#methods.values()) methods[m.name] = inspectEntry(m);
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
    for (const channel of [...this.#channels.values()])
      this.#abortChannel(channel, new ClosedError("the server closed"));
    this.#queued = [];
    this.#socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#loop;
  }
}

/** Protocol v2 swapped the names of the heartbeat and credit events. */
function swapV2(name: string): string {
  return name === HEARTBEAT ? MORE : name === MORE ? HEARTBEAT : name;
}
