/**
 * How a State link's messages travel to its server, behind one narrow interface: a zeromq.js
 * DEALER held by the core peer set (CURVE, inproc, and anything plain JavaScript cannot speak),
 * or ZMTP in plain JavaScript over `node:net` for a NULL-mechanism server on tcp or ipc.
 *
 * Why two: a sequential State client is bound by its own CPU per round trip, and most of that
 * is the crossing into libzmq and back (its I/O thread, the readiness polls, a promise per
 * receive). The plain-JavaScript connection measured a third of the client CPU per round trip
 * of a zeromq.js DEALER on the same echo. It speaks the same wire, so the server cannot tell.
 */
import { ClosedError, QueueFullError } from "../core/errors.js";
import { type Peer, PeerSet, type PendingWork } from "../core/peers.js";
import type { ClientSecurity } from "../core/security/index.js";
import type { Message } from "../core/socket.js";
import { Dealer } from "../core/sockets.js";
import { type ZmtpAddress, ZmtpConnection, zmtpAddress } from "../core/zmtp.js";

/** One message: a frame, or a zerokit batch's frames. */
export type Outgoing = Buffer | Buffer[];

/** What a transport tells the link. */
export interface TransportEvents {
  /** A message from the server. */
  message(frames: Message): void;
  /** Whether calls are open (the transport receives, and keeps the process alive, only then). */
  busy(): boolean;
  /** The calls open now: a transport that hands over to another tracks them there. */
  open(): Iterable<PendingWork>;
}

/** The link's side of one server connection. One owner; every method returns at once. */
export interface LinkTransport {
  /** Which wire code carries the messages now (a fallen-back ZMTP transport says `"zeromq"`). */
  readonly kind: "zmtp" | "zeromq";
  /** Sends one message (one frame, or several); `onError` hears when it cannot leave (the call's clocks decide otherwise). */
  post(message: Outgoing, onError?: (error: Error) => void): void;
  /** A call was opened: receive (and keep the process alive) until {@link TransportEvents.busy} says none is. */
  listen(): void;
  /** The last open call finished. */
  idle(): void;
  /** Fails `work` when the server refuses the handshake (at once if it already did). */
  track(work: PendingWork): void;
  untrack(work: PendingWork): void;
  /** A call missed its heartbeats: the server is suspect for `ms`. */
  suspect(ms: number): void;
  close(): void;
  /** Settles once the transport has let go of everything (its last receive settled). */
  closed(): Promise<void>;
}

/** Which transport a link uses: `"auto"` is plain-JavaScript ZMTP where it can, zeromq.js elsewhere. */
export type TransportChoice = "auto" | "zeromq";

/** Makes the transport for `address`. */
export function openTransport(
  address: string,
  security: ClientSecurity | undefined,
  choice: TransportChoice,
  events: TransportEvents,
): LinkTransport {
  const target = choice === "auto" && security?.curve === undefined ? zmtpAddress(address) : undefined;
  if (target) return new ZmtpTransport(target, () => new SocketTransport(address, security, events), events);
  return new SocketTransport(address, security, events);
}

/** A zeromq.js DEALER in a one-peer {@link PeerSet} (which watches its handshakes). */
class SocketTransport implements LinkTransport {
  readonly kind = "zeromq";
  readonly #peers: PeerSet<Dealer>;
  readonly #peer: Peer<Dealer>;
  readonly #events: TransportEvents;
  #receiving: Promise<void> | undefined;
  #closed = false;
  readonly #onFrames = (frames: Message): void => {
    this.#receiving = undefined;
    this.#events.message(frames);
    if (this.#events.busy()) this.listen();
  };
  readonly #onReceiveError = (error: unknown): void => {
    this.#receiving = undefined;
    if (!(error instanceof ClosedError) && !this.#closed && this.#events.busy()) this.listen();
  };

  constructor(address: string, security: ClientSecurity | undefined, events: TransportEvents) {
    this.#events = events;
    this.#peers = new PeerSet<Dealer>({
      socket: (options) => new Dealer({ ...options }),
      defaults: security ? { security } : {},
    });
    this.#peer = this.#peers.add(address);
  }

  post(message: Outgoing, onError?: (error: Error) => void): void {
    this.#peer.socket.post(message, onError);
  }

  /**
   * Arms a receive unless one is armed. It is armed only while calls are open, after the
   * request: a lone call then sends before its receive is armed, which spares the send
   * zeromq.js's readiness check.
   */
  listen(): void {
    if (this.#receiving || this.#closed) return;
    this.#receiving = this.#peer.socket.receive().then(this.#onFrames, this.#onReceiveError);
  }

  idle(): void {}

  track(work: PendingWork): void {
    this.#peer.track(work);
  }

  untrack(work: PendingWork): void {
    this.#peer.untrack(work);
  }

  suspect(ms: number): void {
    this.#peer.suspect(ms);
  }

  close(): void {
    this.#closed = true;
    this.#peers.close();
  }

  async closed(): Promise<void> {
    await this.#receiving;
  }
}

/** What one reader may hold of a message: the State client's own bound on a reply is checked per event. */
const LIMITS = { maxFrameBytes: 1 << 30, maxFrames: 1024, maxMessageBytes: 1 << 30 } as const;
/** libzmq's default reconnect interval. */
const RECONNECT_MS = 100;
/** Messages held while the connection is down or congested, as the socket wrapper's writer queue. */
const QUEUE_LIMIT = 100_000;

/**
 * ZMTP in plain JavaScript. Messages wait in a bounded queue until the handshake completes and
 * while the kernel's buffer is full, as they wait in a zeromq.js socket's pipe. When a handshake
 * finds a server this connection does not speak (another mechanism, an older ZMTP, a refusal with
 * a reason: also after a restart), nothing has been sent on that connection: the queue and the
 * tracked calls move to a zeromq.js transport, which reports what libzmq makes of it (a refusal
 * as `AuthenticationError`). Calls written to an earlier connection are not sent again; their
 * clocks settle them, as with libzmq.
 */
class ZmtpTransport implements LinkTransport {
  readonly #connection: ZmtpConnection;
  readonly #fallback: () => LinkTransport;
  readonly #events: TransportEvents;
  #delegate: LinkTransport | undefined;
  /** What waits to be sent, with who hears if it never can be. */
  #queue: Queued[] = [];
  #queueHead = 0;
  #closed = false;

  get kind(): "zmtp" | "zeromq" {
    return this.#delegate ? this.#delegate.kind : "zmtp";
  }

  constructor(target: ZmtpAddress, fallback: () => LinkTransport, events: TransportEvents) {
    this.#fallback = fallback;
    this.#events = events;
    this.#connection = new ZmtpConnection(
      target,
      LIMITS,
      RECONNECT_MS,
      {
        ready: () => this.#drain(),
        drain: () => this.#drain(),
        message: (frames) => this.#events.message(frames),
        unsupported: () => this.#fallBack(),
        dropped: () => {},
      },
      { persistent: true },
    );
    this.#connection.hold(false);
  }

  post(message: Outgoing, onError?: (error: Error) => void): void {
    if (this.#delegate) {
      this.#delegate.post(message, onError);
    } else if (this.#closed) {
      onError?.(new ClosedError("cannot send: the connection is closed"));
    } else if (this.#queueHead === this.#queue.length && !this.#connection.congested && this.#send(message)) {
      // sent
    } else if (this.#queue.length - this.#queueHead >= QUEUE_LIMIT) {
      onError?.(new QueueFullError(QUEUE_LIMIT));
    } else {
      this.#queue.push({ message, onError });
    }
  }

  /** False when the connection is not ready (down, or dropped in this turn): the message waits. */
  #send(message: Outgoing): boolean {
    return this.#connection.send(message);
  }

  /** Sends what waits, in order, until the kernel's buffer fills. */
  #drain(): void {
    const queue = this.#queue;
    while (this.#queueHead < queue.length && !this.#connection.congested) {
      if (!this.#send((queue[this.#queueHead] as Queued).message)) break;
      queue[this.#queueHead++] = SENT;
    }
    if (this.#queueHead === queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    }
  }

  #fallBack(): void {
    if (this.#closed || this.#delegate) return;
    const delegate = this.#fallback();
    this.#delegate = delegate;
    for (const { message, onError } of this.#queue.slice(this.#queueHead)) delegate.post(message, onError);
    this.#queue = [];
    this.#queueHead = 0;
    // Tracked only now: on ZMTP, nothing refuses a call that a fallback does not hand over.
    for (const work of [...this.#events.open()]) delegate.track(work);
    if (this.#events.busy()) delegate.listen();
  }

  listen(): void {
    if (this.#delegate) this.#delegate.listen();
    else this.#connection.hold(true);
  }

  idle(): void {
    if (this.#delegate) this.#delegate.idle();
    else this.#connection.hold(false);
  }

  track(work: PendingWork): void {
    this.#delegate?.track(work);
  }

  untrack(work: PendingWork): void {
    this.#delegate?.untrack(work);
  }

  /** One server, and libzmq would not reconnect on suspicion either: the heartbeats say the rest. */
  suspect(ms: number): void {
    this.#delegate?.suspect(ms);
  }

  close(): void {
    this.#closed = true;
    this.#connection.close();
    this.#queue = [];
    this.#queueHead = 0;
    this.#delegate?.close();
  }

  async closed(): Promise<void> {
    await this.#delegate?.closed();
  }
}

interface Queued {
  readonly message: Outgoing;
  readonly onError: ((error: Error) => void) | undefined;
}
const SENT: Queued = { message: Buffer.alloc(0), onError: undefined };
