import { AsyncLocalStorage } from "node:async_hooks";
import { ClosedError } from "../core/errors.js";
import type { Message, ZSocket } from "../core/socket.js";

/** What a running handler can learn about its call, without changing its signature. */
export interface CallContext {
  /** The method being called. */
  readonly method: string;
  /** The request's context headers (every header key but the protocol's own), e.g. `trace_id`. */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The caller's routing identity, hex-encoded (empty for one-way events). */
  readonly peer: string;
  /** Aborts when the client cancels, is lost (missed heartbeats) or the server closes. */
  readonly signal: AbortSignal;
}

export const callStorage = new AsyncLocalStorage<CallContext>();

/**
 * How handlers see their call through {@link currentCall}: `true` through AsyncLocalStorage,
 * `false` during their synchronous part only, `"auto"` through AsyncLocalStorage for async and
 * generator functions and during the synchronous part for plain functions.
 */
export type AsyncContextMode = boolean | "auto";

/** Whether a handler runs inside {@link callStorage} under `mode` (see {@link AsyncContextMode}). */
export function usesStorage(mode: AsyncContextMode, resumes: boolean): boolean {
  return mode === true || (mode === "auto" && resumes);
}

// The call whose handler is running synchronously right now, for handlers that run outside
// AsyncLocalStorage (see AsyncContextMode): it has no cost until a handler needs it, whereas
// AsyncLocalStorage, once used, turns on promise hooks that slow every promise in the process.
let syncCall: CallContext | undefined;

/**
 * Calls `fn(...args)` as the call `context`: inside {@link callStorage} when `stored`, otherwise
 * visible to {@link currentCall} during its synchronous part only. `args` is passed as is (a
 * request's decoded args array), so the usual path copies nothing.
 */
export function runAsCall<R>(context: CallContext, stored: boolean, fn: (...args: unknown[]) => R, args: unknown[]): R {
  if (stored) return callStorage.run(context, fn, ...args);
  const previous = syncCall;
  syncCall = context;
  try {
    return fn.apply(undefined, args);
  } finally {
    syncCall = previous;
  }
}

/**
 * The context of the RPC call the current code runs in, or `undefined` outside a handler.
 * Calls made from inside a handler carry its context headers along (e.g. a trace id).
 *
 * @example
 * async function slow() {
 *   const { signal, headers } = currentCall()!;
 *   await setTimeout(10_000, undefined, { signal }); // stops when the client goes away
 * }
 */
export function currentCall(): CallContext | undefined {
  return syncCall ?? callStorage.getStore();
}

/** Runs `tick` every `periodMs` while `active()` is true; never keeps the process alive. */
export class Ticker {
  #timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly periodMs: number,
    private readonly tick: (now: number) => void,
    private readonly active: () => boolean,
  ) {}

  /** Starts ticking if it is not already. Cheap enough to call on every new channel. */
  ensure(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.tick(performance.now());
      if (!this.active()) this.stop();
    }, this.periodMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Hands every message of `socket` to `onMessage` until the socket closes. One bad message never
 * stops the loop: `onMessage` should handle its own failures (it knows which call to answer),
 * and whatever it still throws goes to `onError` (or is dropped), never out of the loop.
 */
export async function receiveLoop(
  socket: Pick<ZSocket, "receive">,
  closed: () => boolean,
  onMessage: (frames: Message) => void,
  onError?: (error: unknown, frames: Message) => void,
): Promise<void> {
  while (!closed()) {
    let frames: Message;
    try {
      frames = await socket.receive();
    } catch (error) {
      if (error instanceof ClosedError || closed()) return;
      continue;
    }
    try {
      onMessage(frames);
    } catch (error) {
      try {
        onError?.(error, frames);
      } catch {
        // The last resort must not become the loop's end either.
      }
    }
  }
}
