/**
 * Waiting, written once: a call that waits for something (a peer to enter, a server to connect)
 * under a timeout, the caller's AbortSignal and its owner's closing, failing with the typed error
 * that says why it stopped; and a receive loop that hands every message of a socket to a handler
 * inside one boundary no exception crosses.
 */
import { abortErrorFrom } from "./errors.js";

/** The longest delay a Node timer keeps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link waitWithin}. */
export interface WaitWithinOptions {
  /** ms from the call; undefined, Infinity or more than 2^31 - 1 (about 25 days): no limit. */
  timeout?: number | undefined;
  /** The caller's signal: its abort rejects with an `AbortError` (or the ZerokitError it carries). */
  signal?: AbortSignal | undefined;
  /** Aborted when the owner closes: the wait then rejects with `closedError()`. */
  closed?: AbortSignal | undefined;
  /** The error for a timeout (a `TimeoutError` naming what did not come). */
  timedOut: (timeout: number) => Error;
  /** The error when `closed` aborts. */
  closedError?: () => Error;
}

/**
 * Runs `wait` with one signal that aborts at the deadline, on the caller's abort or on close, and
 * always once `wait` settled (so whatever it subscribed with the signal is released). However often
 * `wait` re-arms its wait on that signal, the timeout runs from this call: there is one deadline.
 * A signal aborted already rejects without calling `wait`.
 *
 * @example
 * const info = await waitWithin({ timeout: 1000, timedOut: (ms) => new TimeoutError(`no bob in ${ms} ms`, ms) },
 *   (signal) => feed.first(isBob, signal));
 */
export async function waitWithin<T>(options: WaitWithinOptions, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { timeout, signal, closed } = options;
  const own = new AbortController();
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const why = (error: unknown): unknown => {
    if (signal?.aborted) return abortErrorFrom(signal);
    if (closed?.aborted && options.closedError) return options.closedError();
    if (expired) return options.timedOut(timeout ?? 0);
    return error;
  };
  if (signal?.aborted || closed?.aborted) throw why(undefined);
  // Node fires a timer of more than 2^31 - 1 ms (about 25 days) after 1 ms: such a wait has no limit.
  if (timeout !== undefined && timeout <= MAX_TIMER_MS) {
    timer = setTimeout(() => {
      expired = true;
      own.abort();
    }, timeout);
    // Like AbortSignal.timeout: a pending wait does not keep the process alive.
    timer.unref?.();
  }
  const signals = [own.signal];
  if (signal) signals.push(signal);
  if (closed) signals.push(closed);
  try {
    return await wait(signals.length === 1 ? own.signal : AbortSignal.any(signals));
  } catch (error) {
    throw why(error);
  } finally {
    clearTimeout(timer);
    own.abort();
  }
}

/**
 * Hands every message `socket` receives to `handle` until the socket closes (its receive
 * rejects): the receive boundary of a protocol loop. Whatever `handle` throws goes to `refused`
 * (which may count it) and the loop goes on; nothing thrown crosses it.
 */
export async function receiveEach<T>(
  socket: { receive(): Promise<T> },
  handle: (message: T) => void,
  refused: (error: unknown) => void,
): Promise<void> {
  for (;;) {
    let message: T;
    try {
      message = await socket.receive();
    } catch {
      return; // closed
    }
    try {
      handle(message);
    } catch (error) {
      try {
        refused(error);
      } catch {
        // a counter that throws must not end the loop either
      }
    }
  }
}
