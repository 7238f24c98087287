import { unlinkSync } from "node:fs";
import type * as zmq from "zeromq";
import { decodeArray, encodeArray, type NDArray } from "./arrays.js";
import { type Codec, jsonCodec, msgpackCodec, objectCodec, stringCodec } from "./codec.js";
import { type EndpointUse, normalizeEndpoint } from "./endpoint.js";
import {
  AbortError,
  AddressInUseError,
  abortErrorFrom,
  ClosedError,
  EndpointError,
  ProtocolError,
  QueueFullError,
  TimeoutError,
  ZerokitError,
} from "./errors.js";
import { retryInterrupted } from "./interrupted.js";
import { checkDuration, checkFunction, checkNumber, checkObject, checkSignal } from "./options.js";

/** One frame as it may be sent: bytes (sent without a copy above 128 B) or a string (UTF-8). */
export type Frame = Buffer | Uint8Array | ArrayBuffer | string;
/** A whole message as received: one Buffer per frame, each standalone at offset 0. */
export type Message = Buffer[];
/** What `send()` accepts: a single frame or the frames of a multipart message. */
export type Outgoing = Frame | readonly Frame[];

/** Options of {@link ZSocket.receive}. */
export interface ReceiveOptions {
  /** Stop waiting when this signal aborts; the call rejects with an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Stop waiting after this many milliseconds (≥ 0, at most 2^31 - 1, or Infinity for no limit);
   * the call rejects with a `TimeoutError`.
   */
  timeout?: number;
}

/** Options of {@link ZSocket.send}. */
export interface SendOptions {
  /** Give up while the message still waits in the writer queue; it is then never sent. */
  signal?: AbortSignal;
  /** Draft SERVER sockets only: the routing id of the CLIENT peer to send to. */
  routingId?: number;
}

/** zerokit's own options, accepted by every socket constructor next to the ZeroMQ options. */
export interface ZerokitSocketOptions {
  /**
   * How many `send()` calls may wait in the socket's writer queue before further calls are
   * refused with a `QueueFullError`. Default 100,000.
   */
  sendQueueLimit?: number;
}

/**
 * Linger applied to every socket unless the caller sets one: pending messages get one second to
 * leave after `close()`, and a process never hangs at exit on an undelivered message (libzmq's
 * default of -1 blocks exit forever).
 */
export const DEFAULT_LINGER_MS = 1000;
const DEFAULT_SEND_QUEUE_LIMIT = 100_000;
/** The longest timer Node keeps: a longer `setTimeout` fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks zerokit's socket options and the zeromq.js ones it relies on, before any socket exists:
 * zeromq.js turns `linger: NaN` into 0 and `receiveTimeout: 1.5` into 1 without a word.
 * @throws {InvalidArgumentError} naming the first option that is not allowed.
 */
function checkSocketOptions(options: unknown): void {
  checkObject("options", options);
  if (options === undefined) return;
  const o = options as Record<string, unknown>;
  checkNumber("sendQueueLimit", o.sendQueueLimit, { min: 1, integer: true, orInfinity: true });
  checkNumber("linger", o.linger, { min: -1, max: MAX_TIMER_MS, integer: true });
  checkNumber("sendTimeout", o.sendTimeout, { min: -1, max: MAX_TIMER_MS, integer: true });
  checkNumber("receiveTimeout", o.receiveTimeout, { min: -1, max: MAX_TIMER_MS, integer: true });
  checkNumber("sendHighWaterMark", o.sendHighWaterMark, { min: 0, max: MAX_TIMER_MS, integer: true });
  checkNumber("receiveHighWaterMark", o.receiveHighWaterMark, { min: 0, max: MAX_TIMER_MS, integer: true });
}

/** Checks the options of `receive()` and friends. */
function checkReceiveOptions(options: ReceiveOptions): void {
  checkObject("options", options);
  checkDuration("timeout", options.timeout, { allowZero: true, orInfinity: true });
  if (options.timeout !== undefined && options.timeout !== Number.POSITIVE_INFINITY) {
    checkNumber("timeout", options.timeout, { max: MAX_TIMER_MS });
  }
  checkSignal("signal", options.signal);
}

/** Checks the options of `send()` and friends. */
function checkSendOptions(options: SendOptions): void {
  checkObject("options", options);
  checkSignal("signal", options.signal);
  checkNumber("routingId", options.routingId, { min: 1, max: 0xffffffff, integer: true });
}
/** Eager sends in a row before one waits for the event loop (zeromq.js's own guard is off then). */
const EAGER_STREAK_LIMIT = 512;

/** What a raw send may take besides the message: a SERVER's peer, or a RADIO's group. */
type RawRoute = { routingId: number } | { group: string };

interface QueuedSend {
  message: Outgoing;
  routing: RawRoute | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

interface Waiter {
  resolve: (message: never) => void;
  reject: (error: unknown) => void;
  done: boolean;
  cleanup: (() => void) | undefined;
}

type RawReadable = zmq.Socket & { receive(): Promise<unknown> };

/**
 * @internal A receive its caller may abandon: then its message goes to the receiver after it
 * (or is kept for the next one), as if it had never been asked for, and `message` resolves
 * undefined. For loops that must stop at once without a signal's cost on every message.
 */
export const RECEIVE_ABANDONABLE = Symbol("zerokit.receiveAbandonable");

/** @internal What {@link RECEIVE_ABANDONABLE} returns. */
export interface AbandonableReceive<In> {
  message: Promise<In | undefined>;
  abandon(): void;
}
/**
 * @internal A send with a raw route zerokit's {@link SendOptions} do not carry (a RADIO's
 * group), through the writer queue like any send: in order, and never during an unbind.
 */
export const SEND_ROUTED = Symbol("zerokit.sendRouted");

/**
 * @internal Throws EBUSY while an unbind runs: a synchronous libzmq call on the socket then (a
 * DISH's join) would race the unbind's worker thread.
 */
export const ASSERT_NOT_UNBINDING = Symbol("zerokit.assertNotUnbinding");

type RawWritable = zmq.Socket & {
  send(message: Outgoing, routing?: RawRoute): Promise<void>;
  sendTimeout: number;
};

/**
 * Translates a zeromq.js error into a zerokit error. `EAGAIN` on a closed socket and `EBADF`
 * both mean the socket was closed under the caller.
 */
export function translateSocketError(error: unknown, closed: boolean, what: string): Error {
  if (error instanceof ZerokitError) return error;
  const code = (error as { code?: string } | undefined)?.code;
  if (closed || code === "EBADF" || code === "ENOTSOCK" || code === "ETERM") {
    return new ClosedError(`cannot ${what}: the socket is closed`, { cause: error });
  }
  if (code === "EAGAIN") return new TimeoutError(`${what} timed out`, 0, { cause: error });
  if (error instanceof Error) {
    return new ZerokitError(`${what} failed: ${error.message}`, code ?? "EZEROKIT", { cause: error });
  }
  return new ZerokitError(`${what} failed: ${String(error)}`, "EZEROKIT", { cause: error });
}

function isBusy(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === "EBUSY";
}

function isAgain(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === "EAGAIN";
}

const noop = (): void => {};
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A ZeroMQ socket that is safe to share: any number of callers may `send()` and `receive()` at
 * once. Sends go through one ordered writer queue (bounded, each `send()` resolves when ZeroMQ
 * accepted the message, which is the backpressure); receives are served first come, first
 * served, and a message whose receiver gave up (abort, timeout) is kept for the next receiver,
 * never dropped.
 *
 * @example
 * await using pull = new Pull();
 * await pull.bind("tcp://127.0.0.1:5555");
 * const [frame] = await pull.receive({ timeout: 1000 });
 */
export class ZSocket<Raw extends zmq.Socket = zmq.Socket, In = Message> implements AsyncDisposable {
  /**
   * The underlying zeromq.js socket, for options zerokit does not wrap. Do not call its
   * `send()`/`receive()` while the wrapper is in use: that would bypass the queues.
   */
  readonly raw: Raw;
  readonly #sendQueueLimit: number;
  /**
   * True unless the caller chose a send timeout: the raw socket then has `sendTimeout: 0`, which
   * skips zeromq.js's readiness check (a system call) before every send; a send that cannot go
   * at once is retried blocking. See {@link #rawSend}.
   */
  readonly #eager: boolean;
  #eagerStreak = 0;
  #closed = false;
  #ipcPaths: string[] = [];

  // Writer state: `#sending` is true while a raw send is in flight; later sends queue behind it.
  #sending = false;
  #sendQueue: (QueuedSend | undefined)[] = [];
  #sendHead = 0;

  // Reader state: `#inflight` is the raw receive of the fast path; waiters queue behind it, and
  // messages nobody waits for any more are parked in `#parked` for the next receiver.
  #inflight: Promise<unknown> | undefined;
  /** Whether a raw receive waits in zeromq.js (its poller then watches the libzmq socket). */
  #rawReceiving = false;
  /** Whether the fast path's receive in flight was abandoned (its message goes to the next receiver). */
  #abandoned = false;
  #pumping = false;
  #unbinding = false;
  #waiters: (Waiter | undefined)[] = [];
  #waitHead = 0;
  #parked: In[] = [];

  /** @throws {InvalidArgumentError} when an option is not allowed (see {@link ZerokitSocketOptions}). */
  constructor(raw: Raw, options: ZerokitSocketOptions = {}) {
    checkSocketOptions(options);
    this.raw = raw;
    this.#sendQueueLimit = options.sendQueueLimit ?? DEFAULT_SEND_QUEUE_LIMIT;
    // Receive-only sockets have no sendTimeout (their option object is sealed).
    this.#eager = (options as { sendTimeout?: number }).sendTimeout === undefined && "sendTimeout" in raw;
    if (this.#eager) (raw as unknown as RawWritable).sendTimeout = 0;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The last endpoint bound or connected, with the real port after an ephemeral bind. */
  get lastEndpoint(): string | null {
    return this.raw.lastEndpoint;
  }

  /**
   * Binds to an endpoint and resolves with the address peers can connect to (an ephemeral
   * `tcp://127.0.0.1:*` or `:0` resolves to the real port).
   *
   * @throws {EndpointError} for a malformed endpoint (before any socket call) or a failed bind.
   * @throws {AddressInUseError} (code `EADDRINUSE`) when another socket or process holds the address.
   * @example
   * const address = await rep.bind("tcp://127.0.0.1:*"); // "tcp://127.0.0.1:41234"
   */
  async bind(endpoint: string): Promise<string> {
    const address = this.#checkEndpoint(endpoint, "bind");
    try {
      // Synchronously, in this thread: zeromq.js's async bind() runs in a libuv worker thread,
      // and if a receive or send is waiting on the socket meanwhile, the two threads work one
      // libzmq socket at once (it is not thread-safe) and libzmq aborts the process.
      retryInterrupted(() => this.raw.bindSync(address));
    } catch (error) {
      // The endpoint is fine: another socket or process holds the address.
      if ((error as { code?: string }).code === "EADDRINUSE") throw new AddressInUseError(endpoint, { cause: error });
      throw new EndpointError(endpoint, `bind failed: ${(error as Error).message}`, { cause: error });
    }
    const bound = this.raw.lastEndpoint ?? address;
    // libzmq leaves ipc socket files behind; remember ours so close() can remove them.
    if (bound.startsWith("ipc://") && !bound.startsWith("ipc://@")) this.#ipcPaths.push(bound.slice(6));
    return connectableAddress(bound);
  }

  /**
   * Stops listening on an endpoint bound before. zeromq.js unbinds in a libuv worker thread (it
   * has no working synchronous unbind), and libzmq sockets are not thread-safe, so the socket must
   * be idle: sends and receives made meanwhile wait until the unbind is done.
   *
   * @throws {ZerokitError} (code `EBUSY`) while a receive or a send is waiting on the socket
   *   (a serving socket always has one, and after a `receive({ timeout })` gave up, its raw
   *   receive stays armed for the next message): close the socket instead, or unbind before
   *   receiving. A draft `Radio.sendTo` made meanwhile waits like any send; `Dish.join` and
   *   `leave` throw EBUSY.
   * @throws {ClosedError} when the socket is closed.
   * @throws {EndpointError} for a malformed endpoint or one not bound.
   * @example
   * await pull.unbind("tcp://127.0.0.1:5555");
   */
  async unbind(endpoint: string): Promise<void> {
    const address = this.#checkEndpoint(endpoint, "bind");
    if (this.#closed) throw new ClosedError("cannot unbind: the socket is closed");
    if (this.#rawReceiving || this.#sending || this.#pumping) {
      throw new ZerokitError(
        "cannot unbind while a receive or a send waits on the socket: zeromq.js unbinds in another thread, " +
          "which would race it on the libzmq socket; close the socket instead",
        "EBUSY",
      );
    }
    // Hold sends and receives made meanwhile (as if one were in flight) until the unbind is done.
    this.#sending = true;
    this.#pumping = true;
    this.#unbinding = true;
    try {
      await this.raw.unbind(address);
    } catch (error) {
      if (this.#closed) throw new ClosedError("the socket was closed", { cause: error });
      throw new EndpointError(endpoint, `unbind failed: ${(error as Error).message}`, { cause: error });
    } finally {
      this.#unbinding = false;
      this.#pumping = false;
      if (this.#closed) this.#failWaiters(new ClosedError("the socket was closed"));
      else if (this.#nextWaiter() !== undefined) void this.#pumpReceives();
      this.#afterSend();
    }
  }

  /**
   * Connects to an endpoint. ZeroMQ connects in the background and reconnects by itself, so this
   * returns at once; a peer that is not there is not an error.
   *
   * @throws {EndpointError} for a malformed endpoint.
   */
  connect(endpoint: string): void {
    const address = this.#checkEndpoint(endpoint, "connect");
    try {
      retryInterrupted(() => this.raw.connect(address));
    } catch (error) {
      throw new EndpointError(endpoint, `connect failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Drops a connection made with `connect()`. */
  disconnect(endpoint: string): void {
    const address = this.#checkEndpoint(endpoint, "connect");
    retryInterrupted(() => this.raw.disconnect(address));
  }

  #checkEndpoint(endpoint: string, use: EndpointUse): string {
    if (this.#closed) throw new ClosedError(`cannot ${use} ${endpoint}: the socket is closed`);
    return normalizeEndpoint(endpoint, use);
  }

  /**
   * Queues a message (a frame or an array of frames) and resolves once ZeroMQ has accepted it.
   * Concurrent calls are sent in call order; none ever sees EBUSY. Buffers and typed arrays above
   * 128 B are sent without a copy: do not modify them after calling.
   *
   * @throws {QueueFullError} when the writer queue already holds `sendQueueLimit` messages.
   * @throws {InvalidArgumentError} (rejected) when an option is not allowed.
   * @throws {ClosedError} when the socket is or gets closed first.
   * @example
   * await Promise.all(items.map((item) => push.send(item))); // safe: one ordered queue
   */
  send(message: Outgoing, options?: SendOptions): Promise<void> {
    if (options !== undefined) {
      try {
        checkSendOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const routing = options?.routingId === undefined ? undefined : { routingId: options.routingId };
    return this.#send(message, options, routing);
  }

  /** @internal See {@link SEND_ROUTED}. */
  [SEND_ROUTED](message: Outgoing, routing: RawRoute): Promise<void> {
    return this.#send(message, undefined, routing);
  }

  /** @internal See {@link ASSERT_NOT_UNBINDING}. */
  [ASSERT_NOT_UNBINDING](what: string): void {
    if (this.#unbinding) {
      throw new ZerokitError(`cannot ${what} while an unbind runs: zeromq.js unbinds in another thread`, "EBUSY");
    }
  }

  #send(message: Outgoing, options: SendOptions | undefined, routing: RawRoute | undefined): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("cannot send: the socket is closed"));
    if (!this.#sending) {
      if (options?.signal?.aborted) return Promise.reject(abortErrorFrom(options.signal));
      let sent: Promise<void>;
      try {
        sent = this.#startSend(message, routing);
      } catch (error) {
        return Promise.reject(translateSocketError(error, this.#closed, "send"));
      }
      return sent.then(this.#afterSend, (error: unknown) => this.#sendFailed(error, message, routing));
    }
    return this.#enqueueSend(message, options, routing);
  }

  /**
   * Sends like {@link send} without handing back a promise: for senders that never wait for the
   * acknowledgement (replies, heartbeats), it saves a promise per message. A failure goes to
   * `onError`; without one it is dropped, so use it only where a lost message is expected and
   * handled (a ROUTER drops replies to a peer that is gone anyway).
   *
   * @example
   * router.post([identity, EMPTY, reply]);
   */
  post(message: Outgoing, onError?: (error: Error) => void): void {
    checkFunction("onError", onError);
    const report = onError ?? noop;
    if (this.#closed) {
      report(new ClosedError("cannot send: the socket is closed"));
      return;
    }
    if (this.#sending) {
      this.#enqueueSend(message, undefined, undefined).then(undefined, report);
      return;
    }
    let sent: Promise<void>;
    try {
      sent = this.#startSend(message, undefined);
    } catch (error) {
      report(translateSocketError(error, this.#closed, "send"));
      return;
    }
    sent.then(this.#afterSend, (error: unknown) => {
      this.#sendFailed(error, message, undefined).then(undefined, report);
    });
  }

  /** Marks the writer busy and starts one raw send (see {@link #rawSend}). */
  #startSend(message: Outgoing, routing: RawRoute | undefined): Promise<void> {
    this.#sending = true;
    try {
      return this.#rawSend(message, routing);
    } catch (error) {
      this.#sending = false;
      throw error;
    }
  }

  /**
   * One raw send. In eager mode the raw socket has `sendTimeout: 0`, so a message it cannot take
   * at once (no peer yet, high-water mark) fails with EAGAIN without being sent; the caller then
   * sends it again blocking (see {@link #sendFailed}), as it would have gone without eager mode.
   * Every {@link EAGER_STREAK_LIMIT} sends wait for the next event-loop turn, because eager sends
   * resolve at once and a send loop would otherwise starve timers and I/O.
   */
  #rawSend(message: Outgoing, routing: RawRoute | undefined): Promise<void> {
    const raw = this.raw as unknown as RawWritable;
    if (this.#eager && ++this.#eagerStreak >= EAGER_STREAK_LIMIT) {
      this.#eagerStreak = 0;
      return nextTurn().then(() => (routing ? raw.send(message, routing) : raw.send(message)));
    }
    return routing ? raw.send(message, routing) : raw.send(message);
  }

  /** A raw send failed: retries an eager EAGAIN blocking, otherwise rejects with a zerokit error. */
  async #sendFailed(error: unknown, message: Outgoing, routing: RawRoute | undefined): Promise<void> {
    if (this.#eager && isAgain(error) && !this.#closed) {
      try {
        await this.#sendBlocking(message, routing);
      } catch (retryError) {
        this.#afterSendFailure(retryError);
      }
      this.#afterSend();
      return;
    }
    this.#afterSendFailure(error);
  }

  /** Sends with the raw socket's blocking timeout; only one raw send runs at a time, so switching it is safe. */
  async #sendBlocking(message: Outgoing, routing: RawRoute | undefined): Promise<void> {
    const raw = this.raw as unknown as RawWritable;
    raw.sendTimeout = -1;
    try {
      await (routing ? raw.send(message, routing) : raw.send(message));
    } finally {
      if (!this.#closed) raw.sendTimeout = 0;
    }
  }

  readonly #afterSend = (): void => {
    if (this.#sendHead < this.#sendQueue.length) void this.#drainSends();
    else this.#sending = false;
  };

  readonly #afterSendFailure = (error: unknown): never => {
    this.#afterSend();
    throw translateSocketError(error, this.#closed, "send");
  };

  #enqueueSend(message: Outgoing, options: SendOptions | undefined, routing: RawRoute | undefined): Promise<void> {
    const signal = options?.signal;
    if (this.#sendQueue.length - this.#sendHead >= this.#sendQueueLimit) {
      return Promise.reject(new QueueFullError(this.#sendQueueLimit));
    }
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    return new Promise<void>((resolve, reject) => {
      const item: QueuedSend = { message, routing, resolve, reject, signal, onAbort: undefined, done: false };
      if (signal) {
        item.onAbort = () => {
          if (item.done) return;
          item.done = true;
          reject(abortErrorFrom(signal));
        };
        signal.addEventListener("abort", item.onAbort, { once: true });
      }
      this.#sendQueue.push(item);
    });
  }

  async #drainSends(): Promise<void> {
    while (this.#sendHead < this.#sendQueue.length) {
      const item = this.#sendQueue[this.#sendHead];
      this.#sendQueue[this.#sendHead++] = undefined;
      if (!item || item.done) continue;
      item.done = true;
      if (item.onAbort) item.signal?.removeEventListener("abort", item.onAbort);
      try {
        try {
          await this.#rawSend(item.message, item.routing);
        } catch (error) {
          if (!(this.#eager && isAgain(error) && !this.#closed)) throw error;
          await this.#sendBlocking(item.message, item.routing);
        }
        item.resolve();
      } catch (error) {
        item.reject(translateSocketError(error, this.#closed, "send"));
      }
    }
    this.#sendQueue = [];
    this.#sendHead = 0;
    this.#sending = false;
  }

  /**
   * Receives the next whole message (all its frames). Many callers may wait at once; each
   * message goes to exactly one of them, in the order they called.
   *
   * @throws {InvalidArgumentError} (rejected) when an option is not allowed, e.g. `timeout: NaN`.
   * @throws {TimeoutError} when `timeout` ms pass first (the message, if one comes later, stays
   *   queued for the next receiver).
   * @throws {AbortError} when `signal` aborts first.
   * @throws {ClosedError} when the socket is or gets closed.
   * @example
   * const [topic, body] = await sub.receive({ timeout: 5000 });
   */
  receive(options?: ReceiveOptions): Promise<In> {
    if (options !== undefined) {
      try {
        checkReceiveOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#parked.length > 0) return Promise.resolve(this.#parked.shift() as In);
    if (this.#closed) return Promise.reject(new ClosedError("cannot receive: the socket is closed"));
    if (options === undefined && !this.#pumping && this.#waitHead === this.#waiters.length) {
      try {
        return this.#startFastReceive();
      } catch (error) {
        if (!isBusy(error)) return Promise.reject(translateSocketError(error, this.#closed, "receive"));
        // Another fast-path receive is in flight: queue behind it.
      }
    }
    return this.#enqueueWaiter(options);
  }

  /** Starts the fast path's raw receive (throws zeromq.js's EBUSY when one is in flight). */
  #startFastReceive(): Promise<In> {
    const inflight = (this.raw as unknown as RawReadable).receive() as Promise<In>;
    this.#inflight = inflight;
    this.#rawReceiving = true;
    return inflight.then(this.#received, this.#receiveFailure);
  }

  readonly #received = (message: In): In => {
    this.#rawReceiving = false;
    if (this.#abandoned) {
      this.#abandoned = false;
      this.#deliver(message);
      return undefined as In;
    }
    return message;
  };

  readonly #receiveFailure = (error: unknown): never => {
    this.#rawReceiving = false;
    this.#abandoned = false;
    throw translateSocketError(error, this.#closed, "receive");
  };

  /** Gives a message to the first receiver still waiting, or keeps it for the next one. */
  #deliver(message: In): void {
    const waiter = this.#nextWaiter();
    if (!waiter) {
      this.#parked.push(message);
      return;
    }
    waiter.done = true;
    waiter.cleanup?.();
    this.#waiters[this.#waitHead++] = undefined;
    waiter.resolve(message as never);
  }

  /** @internal See {@link RECEIVE_ABANDONABLE}. */
  [RECEIVE_ABANDONABLE](): AbandonableReceive<In> {
    if (this.#parked.length > 0) return { message: Promise.resolve(this.#parked.shift() as In), abandon: noop };
    if (this.#closed) {
      return { message: Promise.reject(new ClosedError("cannot receive: the socket is closed")), abandon: noop };
    }
    if (!this.#pumping && this.#waitHead === this.#waiters.length) {
      try {
        const message = this.#startFastReceive();
        const inflight = this.#inflight;
        return {
          message,
          abandon: () => {
            // Before it settled: #received hands its message on (in order: it was first in line).
            if (this.#inflight === inflight && this.#rawReceiving) this.#abandoned = true;
          },
        };
      } catch (error) {
        if (!isBusy(error))
          return { message: Promise.reject(translateSocketError(error, this.#closed, "receive")), abandon: noop };
      }
    }
    // The queued path: abandoning gives up the wait, as a timeout does (the message stays in line).
    const before = this.#waiters.length;
    const message = this.#enqueueWaiter(undefined) as Promise<In | undefined>;
    const waiter = this.#waiters.length > before ? this.#waiters[this.#waiters.length - 1] : undefined;
    return {
      message,
      abandon: () => {
        if (!waiter || waiter.done) return;
        waiter.done = true;
        waiter.cleanup?.();
        waiter.resolve(undefined as never);
      },
    };
  }

  #enqueueWaiter(options: ReceiveOptions | undefined): Promise<In> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    return new Promise<In>((resolve, reject) => {
      const waiter: Waiter = { resolve: resolve as (message: never) => void, reject, done: false, cleanup: undefined };
      const timeout = options?.timeout;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const give = (error: Error) => {
        if (waiter.done) return;
        waiter.done = true;
        waiter.cleanup?.();
        reject(error);
      };
      if (timeout !== undefined && timeout !== Number.POSITIVE_INFINITY) {
        timer = setTimeout(() => give(new TimeoutError(`no message within ${timeout} ms`, timeout)), timeout);
      }
      if (signal) {
        onAbort = () => give(abortErrorFrom(signal));
        signal.addEventListener("abort", onAbort, { once: true });
      }
      if (timer || onAbort) {
        waiter.cleanup = () => {
          if (timer) clearTimeout(timer);
          if (onAbort) signal?.removeEventListener("abort", onAbort);
        };
      }
      this.#waiters.push(waiter);
      if (!this.#pumping) void this.#pumpReceives();
    });
  }

  async #pumpReceives(): Promise<void> {
    this.#pumping = true;
    const raw = this.raw as unknown as RawReadable;
    try {
      if (this.#inflight) await this.#inflight.then(undefined, () => undefined);
      while (this.#nextWaiter() !== undefined) {
        let message: In;
        try {
          this.#inflight = raw.receive();
          this.#rawReceiving = true;
          message = (await this.#inflight) as In;
          this.#rawReceiving = false;
        } catch (error) {
          this.#rawReceiving = false;
          const failure = translateSocketError(error, this.#closed, "receive");
          if (failure instanceof ClosedError) {
            this.#failWaiters(failure);
            return;
          }
          this.#nextWaiter()?.reject(failure);
          continue;
        }
        this.#deliver(message);
      }
    } finally {
      this.#inflight = undefined;
      this.#waiters = [];
      this.#waitHead = 0;
      this.#pumping = false;
    }
  }

  /** The first waiter that still waits, dropping those that gave up. */
  #nextWaiter(): Waiter | undefined {
    while (this.#waitHead < this.#waiters.length) {
      const waiter = this.#waiters[this.#waitHead];
      if (waiter && !waiter.done) return waiter;
      this.#waiters[this.#waitHead++] = undefined;
    }
    return undefined;
  }

  #failWaiters(error: Error): void {
    for (let waiter = this.#nextWaiter(); waiter; waiter = this.#nextWaiter()) {
      waiter.done = true;
      waiter.cleanup?.();
      this.#waiters[this.#waitHead++] = undefined;
      waiter.reject(error);
    }
  }

  // --- Codec helpers (the pyzmq send_string/send_json/send_pyobj family) -----------------------

  /** Sends `value` encoded by `codec` as a one-frame message. */
  sendAs<T>(codec: Codec<T>, value: T, options?: SendOptions): Promise<void> {
    let frame: Buffer;
    try {
      frame = codec.encode(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.send(frame, options);
  }

  /**
   * Receives a one-frame message and decodes it with `codec`.
   * @throws {ProtocolError} when the message has several frames or does not decode.
   */
  async receiveAs<T>(codec: Codec<T>, options?: ReceiveOptions): Promise<T> {
    const message = (await this.receive(options)) as unknown as Buffer[];
    if (message.length !== 1 || message[0] === undefined) {
      throw new ProtocolError(`expected a one-frame ${codec.name} message, got ${message.length} frames`);
    }
    return codec.decode(message[0]);
  }

  /** Sends a UTF-8 string (pyzmq `send_string`). */
  sendString(text: string, options?: SendOptions): Promise<void> {
    return this.sendAs(stringCodec, text, options);
  }
  /** Receives a UTF-8 string (pyzmq `recv_string`). */
  receiveString(options?: ReceiveOptions): Promise<string> {
    return this.receiveAs(stringCodec, options);
  }
  /** Sends a value as JSON (pyzmq `send_json`). */
  sendJson(value: unknown, options?: SendOptions): Promise<void> {
    return this.sendAs(jsonCodec, value, options);
  }
  /** Receives a JSON value (pyzmq `recv_json`). */
  receiveJson<T = unknown>(options?: ReceiveOptions): Promise<T> {
    return this.receiveAs(jsonCodec, options) as Promise<T>;
  }
  /** Sends a value as standard MessagePack (what Python's `msgpack.packb` reads). */
  sendMsgpack(value: unknown, options?: SendOptions): Promise<void> {
    return this.sendAs(msgpackCodec, value, options);
  }
  /** Receives a standard MessagePack value. */
  receiveMsgpack<T = unknown>(options?: ReceiveOptions): Promise<T> {
    return this.receiveAs(msgpackCodec, options) as Promise<T>;
  }
  /** Sends any JS value keeping Date, Map, Set, BigInt and typed arrays (pyzmq `send_pyobj`). */
  sendObject(value: unknown, options?: SendOptions): Promise<void> {
    return this.sendAs(objectCodec, value, options);
  }
  /** Receives a value sent with {@link sendObject} (pyzmq `recv_pyobj`). */
  receiveObject<T = unknown>(options?: ReceiveOptions): Promise<T> {
    return this.receiveAs(objectCodec, options) as Promise<T>;
  }

  /**
   * Sends a typed array without copying it: a JSON `{dtype, shape}` frame, then the bytes in their
   * own frame (pyzmq's `send_array` recipe). Do not modify the array until this resolves.
   *
   * @example
   * await push.sendArray(new Float64Array(1024), { shape: [32, 32] });
   */
  sendArray(array: ArrayBufferView, options?: SendOptions & { shape?: readonly number[] }): Promise<void> {
    let frames: [Buffer, Uint8Array];
    try {
      if (options !== undefined) checkSendOptions(options);
      frames = encodeArray(array, options?.shape);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.send(frames, options);
  }

  /**
   * Receives a typed array sent by {@link sendArray} or pyzmq's recipe; the data is a view over
   * the received frame (no copy).
   * @throws {ProtocolError} for a message that is not a header and a data frame.
   */
  async receiveArray(options?: ReceiveOptions): Promise<NDArray> {
    const message = (await this.receive(options)) as unknown as Buffer[];
    const [header, data] = message;
    if (message.length !== 2 || !header || !data) {
      throw new ProtocolError(`expected an array message of 2 frames, got ${message.length}`);
    }
    return decodeArray(header, data);
  }

  /**
   * Iterates over received messages until the socket closes (then the loop ends normally).
   * Breaking out of the loop leaves the socket open.
   *
   * @example
   * for await (const [frame] of pull) console.log(frame.toString());
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<In, void, undefined> {
    while (true) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof ClosedError) return;
        throw error;
      }
    }
  }

  /**
   * Like iterating the socket, but stops (without error) when `signal` aborts.
   *
   * @example
   * for await (const msg of sub.messages({ signal: AbortSignal.timeout(1000) })) handle(msg);
   */
  async *messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<In, void, undefined> {
    checkObject("options", options);
    checkSignal("signal", options.signal);
    while (true) {
      try {
        yield await this.receive(options.signal ? { signal: options.signal } : undefined);
      } catch (error) {
        if (error instanceof ClosedError || error instanceof AbortError) return;
        if (options.signal?.aborted && error === options.signal.reason) return;
        throw error;
      }
    }
  }

  /**
   * Closes the socket. Waiting receivers and queued senders reject with `ClosedError`; messages
   * already accepted by ZeroMQ get up to `linger` ms to leave. Safe to call twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new ClosedError("the socket was closed");
    for (let i = this.#sendHead; i < this.#sendQueue.length; i++) {
      const item = this.#sendQueue[i];
      if (item && !item.done) {
        item.done = true;
        if (item.onAbort) item.signal?.removeEventListener("abort", item.onAbort);
        item.reject(error);
      }
    }
    this.#sendQueue = [];
    this.#sendHead = 0;
    this.raw.close();
    for (const path of this.#ipcPaths) {
      try {
        unlinkSync(path);
      } catch {
        // already gone, or never created (a relative ipc path in another cwd): nothing to clean
      }
    }
    this.#ipcPaths = [];
    if (!this.#pumping) this.#failWaiters(error);
  }

  /** Closes the socket (`await using socket = new Push()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** A wildcard bind reports `0.0.0.0`; peers on this machine connect through loopback instead. */
function connectableAddress(address: string): string {
  return address.replace(/^tcp:\/\/0\.0\.0\.0:/, "tcp://127.0.0.1:").replace(/^tcp:\/\/\[::\]:/, "tcp://[::1]:");
}

/** Applies zerokit's defaults to the options passed to a zeromq.js constructor. */
export function withDefaults<T extends object>(options: T | undefined): T & { linger: number } {
  checkSocketOptions(options);
  const merged = { ...(options ?? {}) } as T & { linger?: number; sendQueueLimit?: number };
  delete merged.sendQueueLimit;
  if (merged.linger === undefined) merged.linger = DEFAULT_LINGER_MS;
  return merged as T & { linger: number };
}
