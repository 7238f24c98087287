/**
 * The State client's connection to its server (over a {@link LinkTransport}: plain-JavaScript
 * ZMTP, or a zeromq.js DEALER for CURVE and inproc), speaking the zerorpc protocol with zerokit
 * framing to a zerokit server. It
 * does only what the state contract needs (calls, and the one stream a watch is), so a call
 * costs one id, one encoded frame, one map entry and one promise; deadlines and heartbeats are
 * checked by one ticker for every call rather than a timer each.
 */
import {
  AbortError,
  abortErrorFrom,
  ClosedError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  TimeoutError,
} from "../core/errors.js";
import type { PendingWork } from "../core/peers.js";
import type { ClientSecurity } from "../core/security/index.js";
import type { Message } from "../core/socket.js";
import { heartbeatVerdict } from "../rpc/channel.js";
import { currentCall, Ticker } from "../rpc/context.js";
import {
  CANCEL,
  decodeEvent,
  ERR,
  type EventHeader,
  encodeEvent,
  encodeFast,
  HEARTBEAT,
  idBytes,
  idString,
  isBatchMarker,
  MORE,
  nextIdNumber,
  OK,
  ownIdNumber,
  type PackedHeaders,
  PROTOCOL_VERSION,
  packHeaderEntries,
  STREAM,
  STREAM_DONE,
} from "../rpc/protocol.js";
import { remoteErrorOf, typedRemoteError } from "../rpc/remote-errors.js";
import { batchFrames, isOkArgs, readErrorTuple } from "../rpc/semantics.js";
import { type LinkTransport, openTransport, type TransportChoice } from "./transport.js";

/** Options of a {@link StateLink} (checked by the State that makes it). */
export interface LinkOptions {
  /** Milliseconds a call waits for its first reply. */
  timeout: number;
  /** Heartbeat period of a call that waits (and of a watch), ms, or false. */
  heartbeat: number | false;
  security?: ClientSecurity | undefined;
  /** How messages travel (see {@link TransportChoice}). Default `"auto"`. */
  transport?: TransportChoice | undefined;
}

/** Largest request or reply, as the RPC client's default. */
const MAX_MESSAGE = 100 * 1024 * 1024;
/** Most events, and bytes, one zerokit batch carries before it goes out early. */
const MAX_BATCH_EVENTS = 256;
const MAX_BATCH_BYTES = 1024 * 1024;
/** Stream items a watch lets the server send ahead of its consumer. */
const STREAM_WINDOW = 100;

/** An open call: settled by its reply, its deadline, a lost heartbeat, an abort or its peer's failure. */
class Channel implements PendingWork {
  done = false;
  lastHeard: number;
  /** When this side last sent a heartbeat (or opened the call). */
  lastBeat: number;
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: ((value: unknown) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
  /** Set for a watch: where its items go. */
  stream: LinkStream | undefined;
  /** Applied to the result before it resolves. */
  map: ((value: unknown) => unknown) | undefined;
  constructor(
    readonly link: StateLink,
    readonly key: number,
    readonly method: string,
    readonly timeoutMs: number,
    now: number,
  ) {
    this.lastHeard = now;
    this.lastBeat = now;
    this.deadline = now + timeoutMs;
  }
  /** From the transport: the server refused the handshake. */
  fail(error: Error): void {
    this.link.finish(this, error);
  }
}

/**
 * A streamed reply (a watch), iterated once: items are buffered up to the window granted, and
 * credit is granted back as the consumer takes them. `return()` cancels the call on the server.
 */
export class LinkStream implements AsyncIterableIterator<unknown> {
  readonly #items: unknown[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #error: Error | undefined;
  /** Items the server may still send without more credit. */
  credit = 1;
  /** Whether the server has started streaming (credit is granted from then on). */
  started = false;
  channel: Channel | undefined;

  constructor(readonly link: StateLink) {}

  /** @internal */
  push(item: unknown): void {
    this.#items.push(item);
    this.#notify();
  }

  /** @internal Ends the stream, with an error or not. */
  end(error: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#notify();
  }

  /** Items received and not yet taken. */
  get buffered(): number {
    return this.#items.length - this.#head;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async next(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.#head < this.#items.length) {
        const value = this.#items[this.#head];
        this.#items[this.#head++] = undefined;
        if (this.#head === this.#items.length) {
          this.#items.length = 0;
          this.#head = 0;
        }
        if (this.channel) this.link.grantCredit(this.channel);
        return { value, done: false };
      }
      if (this.#ended) {
        if (this.#error) {
          const error = this.#error;
          this.#error = undefined;
          throw error;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((wake) => {
        this.#wake = wake;
      });
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    if (this.channel && !this.channel.done)
      this.link.cancel(this.channel, new AbortError("the watch was closed by its consumer"));
    this.end(undefined);
    this.#error = undefined;
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * The connection of a State (and of the States it shares it with) to its server. Any number of
 * calls may be in flight at once; those made in one turn of the event loop travel in one message.
 */
export class StateLink implements AsyncDisposable {
  readonly address: string;
  readonly #timeout: number;
  readonly #heartbeat: number | false;
  readonly #transport: LinkTransport;
  /** Whether an event went out in this turn of the event loop (the ones after it are batched). */
  #sentThisTurn = false;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  readonly #endTurn = (): void => {
    this.#sentThisTurn = false;
    this.#flush();
  };
  readonly #channels = new Map<number, Channel>();
  readonly #ticker: Ticker;
  #closed = false;
  /** Replies for calls no longer open (late after a timeout or cancel): dropped, counted. */
  stale = 0;
  /** Messages that broke the protocol: dropped (failing their call), counted. */
  protocolErrors = 0;
  /** The server answered `getseq` with NameError (it is from before it): every namespace on this link waits on snapshots. */
  noGetseq = false;

  /** Which wire code carries the link's messages now (for tests and diagnostics). */
  get transportKind(): "zmtp" | "zeromq" {
    return this.#transport.kind;
  }

  constructor(address: string, options: LinkOptions) {
    this.address = address;
    this.#timeout = options.timeout;
    this.#heartbeat = options.heartbeat;
    this.#transport = openTransport(address, options.security, options.transport ?? "auto", {
      message: (frames) => {
        // The one boundary of this receive loop: whatever a message does, the loop goes on.
        try {
          this.#onMessage(frames);
        } catch {
          this.protocolErrors++;
        }
      },
      busy: () => this.#channels.size > 0,
      open: () => this.#channels.values(),
    });
    // Deadlines are seconds long and heartbeats seconds apart, so a tick every 100 ms (finer only
    // for short ones) keeps them within a few percent, with a quarter of the wake-ups of the
    // RPC client's 25 ms tick in every client process.
    const period = Math.min(100, this.#timeout / 4, this.#heartbeat === false ? 100 : this.#heartbeat / 4);
    this.#ticker = new Ticker(
      Math.max(1, period),
      (now) => this.#onTick(now),
      () => this.#channels.size > 0,
    );
  }

  /**
   * Calls `method` and resolves with its result, passed through `map` when given (in the same
   * step, so decoding a reply costs no promise of its own; a throw rejects). `headers` are packed
   * context headers (the writer's origin); the headers of an RPC call this runs inside travel
   * along as well.
   */
  call(
    method: string,
    args: unknown[],
    headers?: PackedHeaders,
    signal?: AbortSignal,
    map?: (value: unknown) => unknown,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const channel = this.#open(method, args, headers, signal, undefined, resolve, reject);
      if (channel && map) channel.map = map;
    });
  }

  /** Calls a streaming method (a watch): its items, in order, with backpressure. */
  stream(method: string, args: unknown[], headers?: PackedHeaders, signal?: AbortSignal): LinkStream {
    const stream = new LinkStream(this);
    stream.channel = this.#open(method, args, headers, signal, stream, undefined, (error) => stream.end(error));
    return stream;
  }

  /** Opens a channel and sends its request; on a failure before sending, calls `failed` and returns nothing. */
  #open(
    method: string,
    args: unknown[],
    headers: PackedHeaders | undefined,
    signal: AbortSignal | undefined,
    stream: LinkStream | undefined,
    resolve: ((value: unknown) => void) | undefined,
    failed: (error: Error) => void,
  ): Channel | undefined {
    if (this.#closed) return void failed(new ClosedError("the state client is closed"));
    if (signal?.aborted) return void failed(abortErrorFrom(signal));
    const key = nextIdNumber();
    let blob: Buffer;
    try {
      blob = this.#encode(key, method, args, headers);
    } catch (error) {
      return void failed(new ProtocolError(`cannot encode the request: ${(error as Error).message}`, { cause: error }));
    }
    if (blob.length > MAX_MESSAGE) return void failed(new MessageTooLargeError(blob.length, MAX_MESSAGE));
    const channel = new Channel(this, key, method, this.#timeout, performance.now());
    channel.stream = stream;
    channel.resolve = resolve;
    channel.reject = failed;
    this.#channels.set(key, channel);
    this.#transport.track(channel); // fails the channel at once when the server already refused
    if (channel.done) return channel;
    if (signal) {
      channel.signal = signal;
      channel.onAbort = () => this.cancel(channel, abortErrorFrom(signal));
      signal.addEventListener("abort", channel.onAbort, { once: true });
    }
    this.#ticker.ensure();
    this.#post(blob, channel);
    this.#transport.listen();
    return channel;
  }

  #encode(key: number, method: string, args: unknown[], headers: PackedHeaders | undefined): Buffer {
    const context = currentCall()?.headers;
    if (context === undefined || Object.keys(context).length === 0)
      return encodeFast(key, undefined, method, args, headers);
    // Inside an RPC handler: its context headers (a trace id) travel along, as RpcClient's do.
    const header: EventHeader = { message_id: idBytes(idString(key)), v: PROTOCOL_VERSION, ...context };
    if (headers) Object.assign(header, unpackHeaders(headers));
    return encodeEvent(header, method, args);
  }

  /**
   * Sends one event: the first of a turn of the event loop goes at once (a lone call waits for
   * nothing), the ones after it leave together in one batch message at the end of the turn.
   */
  #post(blob: Buffer, channel: Channel): void {
    if (!this.#sentThisTurn) {
      this.#sentThisTurn = true;
      queueMicrotask(this.#endTurn);
      this.#transport.post(blob, (error) => this.finish(channel, error));
      return;
    }
    this.#batch.push(blob);
    this.#batchBytes += blob.length;
    if (this.#batch.length >= MAX_BATCH_EVENTS || this.#batchBytes >= MAX_BATCH_BYTES) this.#flush();
  }

  #flush(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#batchBytes = 0;
    // A batch that cannot leave fails as the socket does (closed): its calls fail by their deadline.
    this.#transport.post(batchFrames(batch));
  }

  /** One event (`[event]`), or a zerokit batch (`[marker, event...]`). */
  #onMessage(frames: Message): void {
    if (frames.length === 1) {
      this.#onEvent(frames[0] as Buffer);
      return;
    }
    if (frames.length > 1 && isBatchMarker(frames[0])) {
      for (let i = 1; i < frames.length; i++) this.#onEvent(frames[i] as Buffer);
      return;
    }
    this.protocolErrors++;
  }

  /** Delivers one event to its call. Each event is its own boundary: a bad one fails at most its call. */
  #onEvent(blob: Buffer): void {
    if (blob.length > MAX_MESSAGE) {
      this.protocolErrors++;
      return;
    }
    let event: ReturnType<typeof decodeEvent>;
    try {
      event = decodeEvent(blob);
    } catch {
      this.protocolErrors++;
      return;
    }
    const responseTo = event.header.response_to;
    const key = responseTo === undefined || responseTo === null ? undefined : ownIdNumber(responseTo);
    if (key === undefined) {
      this.protocolErrors++;
      return;
    }
    const channel = this.#channels.get(key);
    if (!channel) {
      this.stale++;
      return;
    }
    const args = event.args;
    switch (event.name) {
      case OK:
        if (!isOkArgs(args) || channel.stream) {
          this.#violation(channel, "OK must carry [result] and answer a call, not a watch");
          return;
        }
        this.finish(channel, undefined, args[0]);
        return;
      case ERR:
        {
          const tuple = readErrorTuple(args);
          this.finish(
            channel,
            tuple
              ? typedRemoteError(remoteErrorOf(tuple))
              : new ProtocolError("ERR must carry [name, message, traceback]"),
          );
        }
        return;
      case STREAM: {
        const stream = channel.stream;
        if (!stream) {
          this.#violation(channel, "a call that is not a watch got a stream item");
          return;
        }
        if (stream.credit <= 0) {
          // More than granted: an honest server waits, so buffering it would let a server make us hold anything.
          this.#violation(channel, "the server sent a stream item beyond the credit granted");
          return;
        }
        stream.credit--;
        stream.started = true;
        channel.deadline = Number.POSITIVE_INFINITY;
        channel.lastHeard = performance.now();
        stream.push(args);
        this.grantCredit(channel);
        return;
      }
      case STREAM_DONE:
        this.finish(channel, undefined, undefined);
        return;
      case HEARTBEAT:
        channel.lastHeard = performance.now();
        return;
      case MORE:
        return; // a server granting credit for its own queue: we never stream to it
      default:
        this.protocolErrors++;
    }
  }

  #violation(channel: Channel, what: string): void {
    this.protocolErrors++;
    this.cancel(channel, new ProtocolError(what));
  }

  /** @internal Grants a watch's server credit as its consumer makes room (`_zpc_more` adds). */
  grantCredit(channel: Channel): void {
    const stream = channel.stream;
    if (!stream?.started || channel.done) return;
    const ahead = stream.buffered + stream.credit;
    if (ahead * 2 >= STREAM_WINDOW) return;
    const grant = STREAM_WINDOW - ahead;
    stream.credit += grant;
    this.#send(channel, MORE, [grant]);
  }

  /** An event on an open channel (credit, heartbeat, cancel). */
  #send(channel: Channel, name: string, args: unknown): void {
    const blob = encodeFast(nextIdNumber(), idBytes(idString(channel.key)), name, args);
    this.#post(blob, channel);
  }

  /** @internal Settles a call with its value or error; safe to call again (later calls do nothing). */
  finish(channel: Channel, error: Error | undefined, value?: unknown): void {
    if (channel.done) return;
    channel.done = true;
    this.#channels.delete(channel.key);
    this.#transport.untrack(channel);
    if (this.#channels.size === 0) this.#transport.idle();
    if (channel.onAbort) channel.signal?.removeEventListener("abort", channel.onAbort);
    const stream = channel.stream;
    if (stream) stream.end(error);
    else if (error) channel.reject?.(error);
    else if (channel.map) {
      let mapped: unknown;
      try {
        mapped = channel.map(value);
      } catch (failure) {
        channel.reject?.(failure as Error);
        return;
      }
      channel.resolve?.(mapped);
    } else channel.resolve?.(value);
  }

  /** @internal Stops a call from this side: settles it at once and tells the server to stop. */
  cancel(channel: Channel, reason: Error): void {
    if (channel.done) return;
    this.finish(channel, reason);
    // The state server is always zerokit's, which understands cancel.
    if (!this.#closed) this.#send(channel, CANCEL, []);
  }

  #onTick(now: number): void {
    const period = this.#heartbeat;
    for (const channel of this.#channels.values()) {
      if (now >= channel.deadline) {
        this.finish(
          channel,
          new TimeoutError(
            `no state server answered at ${this.address} within ${channel.timeoutMs} ms (${channel.method})`,
            channel.timeoutMs,
          ),
        );
        continue;
      }
      if (period === false) continue;
      const verdict = heartbeatVerdict(channel.lastHeard, channel.lastBeat, now, period);
      if (verdict === "lost") {
        this.#transport.suspect(2 * period);
        this.finish(
          channel,
          new LostRemoteError(`lost the state server at ${this.address} after ${2 * period} ms without heartbeat`),
        );
      } else if (verdict === "beat") {
        channel.lastBeat = now;
        this.#send(channel, HEARTBEAT, [0]);
      }
    }
  }

  /** Closes the connection; calls still waiting reject with `ClosedError`. Safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ticker.stop();
    const closed = new ClosedError("the state client was closed");
    for (const channel of [...this.#channels.values()]) this.finish(channel, closed);
    this.#transport.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#transport.closed();
  }
}

/** The entries of packed headers back as an object (only on the rare path inside an RPC handler). */
function unpackHeaders(headers: PackedHeaders): Record<string, unknown> {
  return headerCache.get(headers) ?? {};
}
const headerCache = new WeakMap<PackedHeaders, Record<string, unknown>>();

/** Packs headers and remembers their entries (see {@link unpackHeaders}). */
export function packHeaders(headers: Record<string, unknown>): PackedHeaders {
  const packed = packHeaderEntries(headers);
  headerCache.set(packed, { ...headers });
  return packed;
}
