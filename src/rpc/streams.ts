/**
 * A server's streamed replies, apart from the server that routes them: pulling an iterable or a
 * generator under the client's credit, and feeding a {@link PushStream} from its producer's
 * pushes. Both speak to the server through a narrow {@link StreamHost} (send an item, end, fail,
 * wait for credit), so the credit rules live here once and the server keeps only the routing.
 */
import { checkFunction } from "../core/options.js";

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
  /** @throws {InvalidArgumentError} when `start` is not a function. */
  constructor(readonly start: (sink: StreamSink) => void) {
    checkFunction("start", start);
  }
}

/** The part of a server channel a stream reads and writes. */
export interface StreamChannel {
  /** Items the client has granted and not yet received. */
  credit: number;
  /** Called by the server each time the client grants more credit. */
  onCredit: (() => void) | undefined;
}

/** What a stream asks of its server, for one channel. */
export interface StreamHost<C extends StreamChannel> {
  /** Aborts when the client cancels or is lost, or the server closes. */
  signalOf(channel: C): AbortSignal;
  /** Resolves when the client grants credit or the channel aborts. */
  waitCredit(channel: C): Promise<void>;
  /** Sends one STREAM item (credit already taken). */
  item(channel: C, value: unknown): void;
  /** Ends the call with STREAM_DONE. */
  done(channel: C): void;
  /** Ends the call with ERR for `error`. */
  fail(channel: C, error: unknown): void;
  /** Releases an aborted stream's channel. */
  release(channel: C): void;
}

/** Stream items sent in a row before a stream lets other clients' work run. */
const YIELD_EVERY = 64;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Whether a handler's result streams by being pulled (an async iterable or a generator). */
export function isPulledStream(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  if (value === null || typeof value !== "object") return false;
  if (Symbol.asyncIterator in value) return true;
  return typeof (value as Iterator<unknown>).next === "function" && Symbol.iterator in value;
}

/**
 * Pulls `source` into STREAM items while the client's credit lasts, then STREAM_DONE. Never
 * rejects: a failing source answers ERR, and an aborted one is returned (its `finally` runs).
 */
export async function runPulledStream<C extends StreamChannel>(
  host: StreamHost<C>,
  channel: C,
  source: AsyncIterable<unknown> | Iterable<unknown>,
): Promise<void> {
  let iterator: AsyncIterator<unknown> | Iterator<unknown>;
  try {
    iterator =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (source as Iterable<unknown>)[Symbol.iterator]();
  } catch (error) {
    host.fail(channel, error);
    return;
  }
  const signal = host.signalOf(channel);
  let finished = false;
  let streak = 0;
  try {
    while (true) {
      if (channel.credit <= 0) {
        streak = 0;
        await host.waitCredit(channel);
      }
      if (signal.aborted) break;
      const step = await iterator.next();
      if (step.done) {
        finished = true;
        break;
      }
      if (signal.aborted) break;
      channel.credit--;
      host.item(channel, step.value);
      // A generator's next() resolves in a microtask: without a turn of the event loop now and
      // then, one stream would keep every other client's messages unread.
      if (++streak >= YIELD_EVERY) {
        streak = 0;
        await nextTurn();
      }
    }
    if (finished) {
      if (channel.credit <= 0) await host.waitCredit(channel);
      if (!signal.aborted) host.done(channel);
    }
  } catch (error) {
    if (!signal.aborted) host.fail(channel, error);
  } finally {
    if (!finished) {
      try {
        await iterator.return?.();
      } catch {
        // The stream is over either way.
      }
    }
    if (signal.aborted) host.release(channel);
  }
}

/** Starts a {@link PushStream}: its producer's pushes go out while the client's credit lasts. */
export function startPushStream<C extends StreamChannel>(host: StreamHost<C>, channel: C, stream: PushStream): void {
  const signal = host.signalOf(channel);
  let open = true;
  let ending = false;
  const sendDone = () => {
    if (!open || signal.aborted || channel.credit <= 0) return;
    open = false;
    host.done(channel);
  };
  const sink: StreamSink = {
    get credit() {
      return open && !ending && !signal.aborted ? channel.credit : 0;
    },
    push: (item) => {
      if (!open || ending || signal.aborted || channel.credit <= 0) return false;
      channel.credit--;
      host.item(channel, item);
      return true;
    },
    end: () => {
      ending = true;
      sendDone();
    },
    fail: (error) => {
      if (!open) return;
      open = false;
      host.fail(channel, error);
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
