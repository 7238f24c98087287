/**
 * Devices relay messages between sockets, like pyzmq's `zmq.devices`: a queue (ROUTER⇄DEALER),
 * a forwarder (XSUB⇄XPUB), a streamer (PULL→PUSH) and a monitored queue that also publishes
 * every message it relays, prefixed with its direction, for a hub to watch.
 */
import { ClosedError, InvalidArgumentError } from "./errors.js";
import { checkFunction, checkObject, checkSignal } from "./options.js";
import type { Message, ZSocket } from "./socket.js";
import { type Dealer, type Pub, type Pull, type Push, Router, type XPub, type XSub } from "./sockets.js";

/** A running device. */
export interface Device extends AsyncDisposable {
  /**
   * Settles when the device stops: resolves after `stop()`/abort or when one of its sockets is
   * closed, rejects when a socket fails to receive. A single message that cannot be relayed does
   * not stop it (see {@link DeviceOptions.onError}).
   */
  readonly done: Promise<void>;
  /** How many messages were dropped because they could not be relayed (or monitored). */
  readonly dropped: number;
  /** Stops relaying. The sockets stay open (they are the caller's). */
  stop(): void;
}

/** Options of every device. */
export interface DeviceOptions {
  /** Stops the device when it aborts. */
  signal?: AbortSignal;
  /**
   * Called with each message that could not be relayed (e.g. a reply whose routing id is no
   * longer connected to a ROUTER with `mandatory: true`) or monitored, and the error; the device drops
   * it and goes on. Without it, the first such error is printed as a process warning and the
   * rest are only counted in {@link Device.dropped}. An exception it throws is ignored.
   */
  onError?: (error: unknown, message: Message) => void;
}

function checkDeviceOptions(options: DeviceOptions): void {
  checkObject("options", options);
  checkSignal("signal", options.signal);
  checkFunction("onError", options.onError);
}

type AnySocket = ZSocket<never, Message>;
type Tap = (message: Message) => Promise<void> | void;

function startDevice(
  pipes: [from: AnySocket, to: AnySocket, transform: ((m: Message) => Message) | undefined, tap: Tap | undefined][],
  options: DeviceOptions,
): Device {
  checkDeviceOptions(options);
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (options.signal) {
    if (options.signal.aborted) stop();
    else options.signal.addEventListener("abort", stop, { once: true });
  }
  let dropped = 0;
  const drop = (error: unknown, message: Message) => {
    dropped++;
    try {
      if (options.onError) options.onError(error, message);
      else if (dropped === 1) {
        process.emitWarning(`a device dropped a message it could not relay: ${String(error)}`, "ZerokitDeviceWarning");
      }
    } catch {
      // the caller's handler failed: the device must keep relaying for everyone else
    }
  };
  const pump = async ([from, to, transform, tap]: (typeof pipes)[number]) => {
    for await (const received of from.messages({ signal: controller.signal })) {
      // One boundary per message: what goes wrong with one message drops that message only.
      // Only the closing of the device's own socket ends the device (as a receive error does).
      let message = received;
      try {
        if (transform) message = transform(received);
      } catch (error) {
        drop(error, received);
        continue;
      }
      if (tap) {
        try {
          await tap(message); // a monitor that fails still lets the message through
        } catch (error) {
          drop(error, message);
        }
      }
      try {
        await to.send(message);
      } catch (error) {
        if (error instanceof ClosedError && to.closed) throw error;
        drop(error, message);
      }
    }
  };
  // When one direction ends (its socket closed), the device as a whole stops.
  const done = Promise.all(pipes.map((pipe) => pump(pipe).finally(stop))).then(
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
    get dropped() {
      return dropped;
    },
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

function checkPrefix(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "string" && !Buffer.isBuffer(value)) {
    throw new InvalidArgumentError(name, value, "a string or a Buffer");
  }
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
  checkDeviceOptions(options);
  checkPrefix("inPrefix", options.inPrefix);
  checkPrefix("outPrefix", options.outPrefix);
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
