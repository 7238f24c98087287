/**
 * One call's channel on the client, as its own unit: its clocks (the deadline of the first reply,
 * the heartbeats heard and sent), the stream credit it grants the server, the items it buffers
 * for an iterating consumer, and how it settles. It sends nothing and reads no clock itself:
 * times come in as arguments, and what must go out (a credit grant, a cancel) goes through its
 * {@link ChannelHost}, so it is tested with plain numbers and a fake host.
 */
import { AbortError, LostRemoteError, ProtocolError, TimeoutError, TooManyItemsError } from "../core/errors.js";
import type { PendingWork } from "../core/peers.js";
import type { ResultSource } from "./result.js";
import { type ErrorTuple, type EventMeaning, isOkArgs, readErrorTuple, replyShapeError } from "./semantics.js";

/** What a channel asks of the client that owns it. */
export interface ChannelHost {
  /** Stream items the server may send ahead of the consumer. */
  readonly window: number;
  /** The most items a collecting consumer (a call awaited whole) holds before the call fails. */
  readonly maxCollected: number;
  /** Sends the server a grant of `credit` more stream items. */
  sendCredit(channel: CallChannel, credit: number): void;
  /** The consumer stopped early (or gave up): settle the call with `reason` and tell the server. */
  cancel(channel: CallChannel, reason: Error): void;
  /** Settles the call with `error` and forgets it (its peer was removed or refused, ...). */
  fail(channel: CallChannel, error: Error): void;
}

/** How the consumer takes the result: not yet known, all at once (await), or item by item. */
export type ConsumeMode = "undecided" | "collect" | "iterate";

/** What a clock check found (see {@link CallChannel.check}). */
export type ChannelVerdict = "timeout" | "lost" | "beat" | undefined;

/**
 * The heartbeat rule of a channel, on either side: `"lost"` after more than 2 periods without
 * a beat heard, `"beat"` when a period passed since this side's last beat, else undefined. No
 * other event sent stands in for a beat (the State link alone also counts items heard, for older
 * zerokit servers that streamed without beating): a zerorpc peer refreshes liveness only on
 * `_zpc_hb`, so a side that skipped its beats while it streamed items or granted credit was
 * declared lost mid-stream (a watch fed every 10 ms lost its server after 3 periods). Clocks are
 * plain numbers (ms), so the rule is tested with a fake clock; the client's {@link CallChannel}
 * and the server's channels both ask it.
 *
 * @example
 * heartbeatVerdict(channel.lastHeard, channel.lastBeat, performance.now(), 5000);
 */
export function heartbeatVerdict(
  lastHeard: number,
  lastBeat: number,
  now: number,
  period: number,
): "lost" | "beat" | undefined {
  if (now - lastHeard > 2 * period) return "lost";
  if (now - lastBeat >= period) return "beat";
  return undefined;
}

/**
 * What a reply event leaves its call's owner to do (see {@link CallChannel.onReply}): `"ok"`,
 * settle with the event's `args[0]`; an {@link ErrorTuple}, settle with that remote error;
 * `"end"`, settle the finished stream; a `ProtocolError`, the event broke the protocol (fail
 * the call); `"unknown"`, an event no client expects (report it); undefined, nothing.
 */
export type ReplyAction = "ok" | "end" | "unknown" | ErrorTuple | ProtocolError | undefined;

/** Facts about a request, given to client hooks. */
export interface RequestInfo {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly headers: Record<string, unknown>;
}

/**
 * One open call. `L` is where the call went (the client's per-peer state). Single-threaded: the
 * client calls it from its receive loop, its ticker and the consumer's awaits.
 */
export class CallChannel<L = unknown> implements ResultSource<unknown, unknown>, PendingWork {
  readonly key: number;
  readonly method: string;
  readonly timeoutMs: number;
  /** Where the call was sent; set once a peer is picked. */
  link: L;
  request: RequestInfo | undefined = undefined;
  /** The request's large frame, for its link to reuse once the first reply shows it was read. */
  sentFrame: Buffer | undefined = undefined;
  /** When the call times out without a first reply (Infinity once a stream has started). */
  deadline: number;
  lastHeard: number;
  /** When this side last sent a heartbeat (or opened the call): the next is due a period later. */
  lastBeat: number;
  /** Whether the liveness clock runs: at once (active), or from the server's first beat (passive). */
  beating: boolean;
  mode: ConsumeMode;
  /** Whether the reply is a stream (a STREAM or STREAM_DONE arrived). */
  streaming = false;
  done = false;
  value: unknown = undefined;
  error: Error | undefined = undefined;
  /** Stream items not yet consumed, from `itemHead` on. */
  items: unknown[] = [];
  itemHead = 0;
  /** Items the server may still send: 1 before the stream starts (zerorpc's implicit first). */
  serverCredit = 1;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  readonly #host: ChannelHost;
  #resolve: ((value: unknown) => void) | undefined = undefined;
  #reject: ((error: Error) => void) | undefined = undefined;
  #wake: (() => void) | undefined = undefined;

  constructor(
    host: ChannelHost,
    key: number,
    method: string,
    link: L,
    timing: { timeoutMs: number; now: number; passive: boolean },
    mode: ConsumeMode = "undecided",
  ) {
    this.#host = host;
    this.key = key;
    this.method = method;
    this.link = link;
    this.timeoutMs = timing.timeoutMs;
    this.deadline = timing.now + timing.timeoutMs;
    this.lastHeard = timing.now;
    this.lastBeat = timing.now;
    this.beating = !timing.passive;
    this.mode = mode;
  }

  /** Fails the call (the peer set calls this when the call's peer is removed or refused). */
  fail(error: Error): void {
    this.#host.fail(this, error);
  }

  /** A heartbeat from the server at `now`: the liveness clock restarts (and runs from now on). */
  heard(now: number): void {
    this.lastHeard = now;
    this.beating = true;
  }

  /** A heartbeat went to the server at `now` (the next is due a period later). */
  beat(now: number): void {
    this.lastBeat = now;
  }

  /**
   * The clocks at `now`, with heartbeat period `period` (false: none): `"timeout"` when no first
   * reply came by the deadline, `"lost"` after more than 2 periods without a beat heard,
   * `"beat"` when a period passed since this side's last beat, else undefined.
   */
  check(now: number, period: number | false): ChannelVerdict {
    if (now >= this.deadline) return "timeout";
    if (period === false || !this.beating) return undefined;
    return heartbeatVerdict(this.lastHeard, this.lastBeat, now, period);
  }

  /**
   * Applies one reply event, by its meaning, to this call: a stream item is taken (a violation
   * past the credit granted), a stream's end and a heartbeat noted, a credit grant ignored (a
   * client never streams to its server). OK and ERR are checked and left to the owner, which
   * may run hooks before it settles. One rule for every client of a channel.
   *
   * @example
   * const action = channel.onReply(meaningOf(event.name), event.args, performance.now());
   * if (action === "ok") settle((event.args as [unknown])[0]);
   */
  onReply(meaning: EventMeaning, args: unknown, now: number): ReplyAction {
    switch (meaning) {
      case "ok":
        if (!isOkArgs(args)) return replyShapeError("ok", args);
        return this.streaming ? new ProtocolError("OK in the middle of a stream") : "ok";
      case "error":
        return readErrorTuple(args) ?? replyShapeError("error", args);
      case "stream-item":
        // More items than granted: an honest server waits, so buffering them would let one
        // server make the caller hold anything.
        return this.onItem(args)
          ? undefined
          : new ProtocolError("the server sent a stream item beyond the credit granted");
      case "stream-end":
        this.streaming = true;
        return "end";
      case "heartbeat":
        this.heard(now);
        return undefined;
      case "credit":
        return undefined; // a Python server grants credit for its own receive queue: we never stream to it
      default:
        return "unknown";
    }
  }

  /** The error of a call whose first reply did not come by its deadline. */
  timeoutError(): TimeoutError {
    return new TimeoutError(
      `timeout after ${this.timeoutMs} ms, when calling remote method ${this.method}`,
      this.timeoutMs,
    );
  }

  /** The error of a call whose server went silent for two heartbeat periods of `period` ms. */
  lostError(period: number): LostRemoteError {
    return new LostRemoteError(
      `lost remote after ${2 * period} ms without heartbeat, when calling remote method ${this.method}`,
    );
  }

  /**
   * A stream item arrived. Returns false, keeping nothing, when the server had no credit for it
   * (an honest server waits, so buffering it would let one server make the caller hold anything).
   */
  onItem(item: unknown): boolean {
    if (this.serverCredit <= 0) return false;
    this.streaming = true;
    this.deadline = Number.POSITIVE_INFINITY;
    this.serverCredit--;
    this.items.push(item);
    if (this.mode === "collect" && this.items.length - this.itemHead > this.#host.maxCollected) {
      // A collecting consumer grants credit as items come: without this bound, a server that
      // streams forever would make the caller hold everything it sent.
      this.#host.cancel(this, new TooManyItemsError(this.#host.maxCollected));
      return true;
    }
    this.grantCredit();
    this.#wakeConsumer();
    return true;
  }

  /**
   * Grants the server more items as the consumer makes room: when less than half the window is
   * ahead (buffered plus granted), enough to fill it again (Python semantics: `_zpc_more` adds).
   * A collecting consumer holds nothing back, so only the credit counts.
   */
  grantCredit(): void {
    if (!this.streaming || this.done) return;
    const window = this.#host.window;
    const buffered = this.mode === "collect" ? 0 : this.items.length - this.itemHead;
    const ahead = buffered + this.serverCredit;
    if (ahead * 2 >= window) return;
    const grant = window - ahead;
    this.serverCredit += grant;
    this.#host.sendCredit(this, grant);
  }

  /**
   * Ends the call with a value or an error and delivers it. A stream collects into the array of
   * the items not yet consumed. Returns false when it had already ended.
   */
  settle(value: unknown, error: Error | undefined): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    if (error) this.error = error;
    else if (this.streaming && this.mode !== "iterate") this.value = this.items.slice(this.itemHead);
    else if (!this.streaming) this.value = value;
    const resolve = this.#resolve;
    if (resolve) {
      this.#resolve = undefined;
      if (error) this.#reject?.(error);
      else resolve(this.value);
      this.#reject = undefined;
    }
    this.#wakeConsumer();
    return true;
  }

  /** The whole reply (see {@link ResultSource.collect}): a stream's items are collected. */
  collect(): Promise<unknown> {
    if (this.mode === "undecided") {
      this.mode = "collect";
      this.grantCredit();
    }
    if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve(this.value);
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /**
   * The reply item by item: a stream's items as they come (granting credit as they are taken),
   * a plain reply's elements when it is an array, else the reply itself. Ending the loop early
   * cancels the call.
   */
  iterate(): AsyncIterator<unknown> {
    if (this.mode === "undecided") this.mode = "iterate";
    let finished = false;
    return {
      next: async (): Promise<IteratorResult<unknown>> => {
        while (!finished) {
          if (this.itemHead < this.items.length) {
            const value = this.items[this.itemHead];
            this.items[this.itemHead++] = undefined;
            this.grantCredit();
            return { value, done: false };
          }
          if (this.done) {
            finished = true;
            if (this.error) throw this.error;
            if (!this.streaming) {
              // A plain OK reply iterates as its elements (an array) or as itself.
              this.streaming = true;
              const value = this.value;
              if (Array.isArray(value)) {
                this.items = value.slice();
                this.itemHead = 0;
                finished = false;
                continue;
              }
              return { value, done: false };
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((wake) => {
            this.#wake = wake;
          });
        }
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<unknown>> => {
        finished = true;
        if (!this.done) this.#host.cancel(this, new AbortError("the stream was closed by its consumer"));
        return { value: undefined, done: true };
      },
    };
  }

  #wakeConsumer(): void {
    const wake = this.#wake;
    if (wake) {
      this.#wake = undefined;
      wake();
    }
  }
}
