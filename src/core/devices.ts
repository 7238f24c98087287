/**
 * Devices relay messages between sockets, like pyzmq's `zmq.devices`: a queue (ROUTER⇄DEALER),
 * a forwarder (XSUB⇄XPUB), a streamer (PULL→PUSH) and a monitored queue that also publishes
 * every message it relays, prefixed with its direction, for a hub to watch.
 */
import type { Message, ZSocket } from "./socket.js";
import { type Dealer, type Pub, type Pull, type Push, Router, type XPub, type XSub } from "./sockets.js";

/** A running device. */
export interface Device extends AsyncDisposable {
  /** Settles when the device stops: resolves after `stop()`/abort/close, rejects on a relay error. */
  readonly done: Promise<void>;
  /** Stops relaying. The sockets stay open (they are the caller's). */
  stop(): void;
}

/** Options of every device. */
export interface DeviceOptions {
  /** Stops the device when it aborts. */
  signal?: AbortSignal;
}

type AnySocket = ZSocket<never, Message>;
type Tap = (message: Message) => Promise<void> | void;

function startDevice(
  pipes: [from: AnySocket, to: AnySocket, transform: ((m: Message) => Message) | undefined, tap: Tap | undefined][],
  options: DeviceOptions,
): Device {
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (options.signal) {
    if (options.signal.aborted) stop();
    else options.signal.addEventListener("abort", stop, { once: true });
  }
  const pump = async ([from, to, transform, tap]: (typeof pipes)[number]) => {
    for await (const received of from.messages({ signal: controller.signal })) {
      const message = transform ? transform(received) : received;
      if (tap) await tap(message);
      await to.send(message);
    }
  };
  const done = Promise.all(pipes.map(pump)).then(
    () => {
      controller.abort();
      options.signal?.removeEventListener("abort", stop);
    },
    (error: unknown) => {
      controller.abort();
      options.signal?.removeEventListener("abort", stop);
      if ((error as { code?: string }).code === "ECLOSED") return;
      throw error;
    },
  );
  return {
    done,
    stop,
    async [Symbol.asyncDispose]() {
      stop();
      await done.catch(() => undefined);
    },
  };
}

const asAny = (socket: unknown) => socket as AnySocket;

/**
 * Queue device: clients connect to `frontend` (ROUTER), workers to `backend` (DEALER); requests
 * and replies are relayed both ways with their routing envelopes intact.
 *
 * @example
 * const device = queue(router, dealer, { signal });
 * await device.done;
 */
export function queue(frontend: Router, backend: Dealer, options: DeviceOptions = {}): Device {
  return startDevice(
    [
      [asAny(frontend), asAny(backend), undefined, undefined],
      [asAny(backend), asAny(frontend), undefined, undefined],
    ],
    options,
  );
}

/**
 * Forwarder device: publishers connect to `frontend` (XSUB), subscribers to `backend` (XPUB);
 * messages flow forward and subscriptions flow back.
 */
export function forwarder(frontend: XSub, backend: XPub, options: DeviceOptions = {}): Device {
  return startDevice(
    [
      [asAny(frontend), asAny(backend), undefined, undefined],
      [asAny(backend), asAny(frontend), undefined, undefined],
    ],
    options,
  );
}

/** Streamer device: a pipeline stage relaying from `frontend` (PULL) to `backend` (PUSH). */
export function streamer(frontend: Pull, backend: Push, options: DeviceOptions = {}): Device {
  return startDevice([[asAny(frontend), asAny(backend), undefined, undefined]], options);
}

/** Options of {@link monitoredQueue}. */
export interface MonitoredQueueOptions extends DeviceOptions {
  /** First frame of messages relayed from `inSocket` to `outSocket`. Default `"in"`. */
  inPrefix?: string | Buffer;
  /** First frame of messages relayed from `outSocket` to `inSocket`. Default `"out"`. */
  outPrefix?: string | Buffer;
}

/**
 * Monitored queue (pyzmq's MonitoredQueue): relays both ways between `inSocket` and `outSocket`
 * and publishes every relayed message on `monitor` as `[prefix, ...frames]`, prefix `"in"` for
 * in→out and `"out"` for out→in. When both sides are ROUTERs, the first two frames (sender and
 * recipient identities) are swapped, as pyzmq does, so replies route back.
 *
 * @example
 * const device = monitoredQueue(router, dealer, pub); // a hub SUB on pub sees ["in", ...] and ["out", ...]
 */
export function monitoredQueue(
  inSocket: Router | Dealer,
  outSocket: Router | Dealer,
  monitor: Pub,
  options: MonitoredQueueOptions = {},
): Device {
  const inPrefix = Buffer.from(options.inPrefix ?? "in");
  const outPrefix = Buffer.from(options.outPrefix ?? "out");
  const bothRouters = inSocket instanceof Router && outSocket instanceof Router;
  const swap = bothRouters
    ? (message: Message): Message => {
        const [a, b, ...rest] = message;
        return a && b ? [b, a, ...rest] : message;
      }
    : undefined;
  const watch = (prefix: Buffer) => (message: Message) => monitor.send([prefix, ...message]);
  return startDevice(
    [
      [asAny(inSocket), asAny(outSocket), swap, watch(inPrefix)],
      [asAny(outSocket), asAny(inSocket), swap, watch(outPrefix)],
    ],
    options,
  );
}
