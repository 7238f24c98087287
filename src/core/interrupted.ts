/**
 * libzmq calls a signal can break. zmq_connect(), zmq_disconnect(), zmq_bind() and zeromq.js's
 * making of a socket's event monitor (on first access to `socket.events`) each start by
 * processing the socket's pending commands, which fails with EINTR when a signal arrives
 * meanwhile, before they have done anything: they are safe to repeat. A profiler's SIGPROF every
 * 20 µs broke the monitor and then connect() in 5 of 5 runs that made 300 States (binds in the
 * same storm never failed, but they start the same way). zeromq.js does not repeat them, so
 * zerokit does.
 */
import type * as zmq from "zeromq";

/** How long the retries may take before the error reaches the caller. */
const RETRY_MS = 200;
let pause: Int32Array | undefined;

/**
 * Runs `call` again while it throws an error whose code is in `codes` (EINTR by default), for
 * at most RETRY_MS. Synchronous: the callers cannot go on without the call's effect. After the
 * first failure each retry waits a millisecond, blocking the thread (a rare path).
 *
 * @example
 * retryInterrupted(() => raw.connect(address));
 */
export function retryInterrupted<T>(call: () => T, codes: readonly string[] = ["EINTR"]): T {
  const deadline = performance.now() + RETRY_MS;
  for (;;) {
    try {
      return call();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== "string" || !codes.includes(code) || performance.now() >= deadline) throw error;
    }
    pause ??= new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(pause, 0, 0, 1);
  }
}

/**
 * `socket.events`, retried through signals. An interrupted attempt may leave its monitor's
 * inproc name registered until libzmq's reaper thread frees it, so the next attempt can meet
 * EADDRINUSE for a moment: that is retried too. Make it before connect() or bind(), or it misses
 * the first handshake.
 *
 * @example
 * observe(dealer.raw).on("handshake", () => connected());
 */
export function observe(socket: zmq.Socket): zmq.Observer {
  return retryInterrupted(() => socket.events, ["EINTR", "EADDRINUSE"]);
}
