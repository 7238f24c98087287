/**
 * The server side of ZMTP 3 with the NULL mechanism, in plain JavaScript over `node:net`: a
 * ROUTER that binds one tcp or ipc endpoint. It exists for the state server, whose small
 * messages pay zeromq.js's per-message cost (its receive promise, libzmq's I/O thread hop) on
 * every hop a watcher's change takes. It is no socket library: no CURVE, no connect, no inproc;
 * {@link listenerAddress} says which endpoints it takes, and the owner keeps zeromq.js for the rest.
 *
 * What a ROUTER does, it does as libzmq does: a routing id per connection (the peer's own
 * `Identity` when it sends one, else five bytes, a zero then a counter), messages in as
 * `[id, ...frames]`, out by their first frame, a send to an unknown id failed as EHOSTUNREACH
 * (libzmq's `ZMQ_ROUTER_MANDATORY`), a peer that does not read refused with back-pressure.
 */
import { lstatSync, unlinkSync } from "node:fs";
import { createServer, isIP, type Server, type Socket } from "node:net";
import { parseEndpoint } from "./endpoint.js";
import { AddressInUseError, ClosedError, EndpointError, QueueFullError, ZerokitError } from "./errors.js";
import type { Message } from "./socket.js";
import {
  decodeProperties,
  encodeCommand,
  encodeGreeting,
  encodeProperties,
  HANDSHAKE_MS,
  PONG_BACKLOG,
  writeMessage,
  type ZmtpInput,
  type ZmtpLimits,
  ZmtpReader,
} from "./zmtp.js";

/** The socket types a ROUTER may talk to (RFC 28's compatibility table). */
const ROUTER_PEERS = new Set(["DEALER", "REQ", "ROUTER"]);

/** How a {@link ZmtpListener} bounds what peers make it hold. */
export interface ZmtpListenerOptions {
  /** What one incoming message may be. */
  readonly limits: ZmtpLimits;
  /**
   * Bytes written to one peer and not yet taken by its kernel past which a send is refused
   * with {@link QueueFullError} (libzmq's send high-water mark, in bytes). Default 8 MiB.
   */
  readonly sendBacklogBytes?: number;
  /**
   * Messages received from one peer and not yet taken by {@link ZmtpListener.receive} past which
   * that peer is no longer read until they are (libzmq's receive high-water mark, which is per
   * peer too: one peer's flood never stops the others). Default 1,000.
   */
  readonly queuedPerPeer?: number;
  /** How long a handshake may take, in ms, before the connection is closed. Default 30,000. */
  readonly handshakeMs?: number;
}

const DEFAULT_SEND_BACKLOG = 8 * 1024 * 1024;
const DEFAULT_QUEUED_PER_PEER = 1000;

/**
 * Where a {@link ZmtpListener} binds `endpoint`, or undefined when it cannot (inproc, an abstract
 * or wildcard ipc path, a tcp host name libzmq would resolve, an endpoint that does not parse).
 *
 * @example
 * listenerAddress("tcp://127.0.0.1:*"); // { host: "127.0.0.1", port: 0 }
 */
export function listenerAddress(endpoint: string): { host: string; port: number } | { path: string } | undefined {
  let parsed: ReturnType<typeof parseEndpoint>;
  try {
    parsed = parseEndpoint(endpoint, "bind");
  } catch {
    return undefined;
  }
  if (parsed.transport === "ipc") {
    return parsed.path.startsWith("@") || parsed.path === "*" ? undefined : { path: parsed.path };
  }
  if (parsed.transport !== "tcp") return undefined;
  const host = parsed.host === "*" ? "0.0.0.0" : parsed.host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) === 0 || host.includes("%")) return undefined;
  return { host, port: parsed.port === "*" ? 0 : parsed.port };
}

/**
 * libzmq takes over an ipc path whatever holds it (a live socket's too, measured with zeromq.js
 * 6.8); a bind here does so only for a socket file, and a regular file of that name stays.
 */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // nothing there, or not ours to remove: listen() says which
  }
}

/** One connection, from accept to close. */
interface Peer {
  readonly socket: Socket;
  /** Its routing id, once its handshake completed. */
  id: Buffer | undefined;
  /** Its messages in the inbox. */
  queued: number;
  paused: boolean;
}

/**
 * A ROUTER on one tcp or ipc endpoint, NULL mechanism only. One owner: {@link receive} is called
 * by one loop at a time (a second waiting receive is refused), {@link post} and {@link send} from
 * anywhere on the event loop. Every fault of a peer (bytes that are not ZMTP 3, a message beyond
 * the limits, a stalled handshake) closes that peer's connection and nothing else.
 *
 * @example
 * const router = new ZmtpListener({ limits: { maxFrameBytes: 1 << 20, maxFrames: 64, maxMessageBytes: 1 << 20 } });
 * await router.bind("tcp://127.0.0.1:*");
 * const [id, ...frames] = await router.receive();
 * router.post([id, ...frames], (error) => console.error(error));
 */
export class ZmtpListener {
  readonly #limits: ZmtpLimits;
  readonly #sendBacklog: number;
  readonly #queuedPerPeer: number;
  readonly #handshakeMs: number;
  #server: Server | undefined;
  /** Ready peers by routing id (latin1 of its bytes). */
  readonly #routes = new Map<string, Peer>();
  readonly #peers = new Set<Peer>();
  #inbox: Message[] = [];
  /** Who sent each message of the inbox. */
  #senders: Peer[] = [];
  #inboxHead = 0;
  #waiter: { resolve: (message: Message) => void; reject: (error: Error) => void } | undefined;
  /** The next generated routing id's number (libzmq starts at a random one too). */
  #nextId = Math.floor(Math.random() * 0x1_0000_0000);
  #closed = false;

  constructor(options: ZmtpListenerOptions) {
    this.#limits = options.limits;
    this.#sendBacklog = options.sendBacklogBytes ?? DEFAULT_SEND_BACKLOG;
    this.#queuedPerPeer = options.queuedPerPeer ?? DEFAULT_QUEUED_PER_PEER;
    this.#handshakeMs = options.handshakeMs ?? HANDSHAKE_MS;
  }

  /**
   * Listens on `endpoint` (one per listener); resolves with the connectable address, with the
   * real port after an ephemeral bind.
   * @throws {EndpointError} for an endpoint {@link listenerAddress} refuses, a second bind or a failed one.
   * @throws {AddressInUseError} when something else holds the address.
   */
  async bind(endpoint: string): Promise<string> {
    if (this.#closed) throw new ClosedError("cannot bind: the listener is closed");
    if (this.#server) throw new EndpointError(endpoint, "this listener is bound already");
    const address = listenerAddress(endpoint);
    if (!address) throw new EndpointError(endpoint, "only a tcp address with a numeric host or an ipc path");
    if ("path" in address) removeStaleSocket(address.path);
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => {
        this.#server = undefined;
        if (error.code === "EADDRINUSE") reject(new AddressInUseError(endpoint, { cause: error }));
        else reject(new EndpointError(endpoint, `bind failed: ${error.message}`, { cause: error }));
      };
      server.once("error", failed);
      const listening = () => {
        server.off("error", failed);
        // A listener error after the bind (EMFILE on accept) must not become an uncaught exception.
        server.on("error", () => {});
        resolve();
      };
      if ("path" in address) server.listen(address.path, listening);
      else server.listen(address.port, address.host, listening);
    });
    if (this.#closed) {
      server.close();
      throw new ClosedError("cannot bind: the listener closed meanwhile");
    }
    if ("path" in address) return `ipc://${address.path}`;
    const bound = server.address();
    const port = typeof bound === "object" && bound ? bound.port : address.port;
    return `tcp://${address.host.includes(":") ? `[${address.host}]` : address.host}:${port}`;
  }

  /** Messages received and not yet taken by {@link receive}: per peer, at most the bound plus one read's worth. */
  get queued(): number {
    return this.#inbox.length - this.#inboxHead;
  }

  /**
   * The next message, `[routing id, ...frames]`, in arrival order.
   * @throws {ClosedError} when the listener closes while waiting or before.
   */
  receive(): Promise<Message> {
    if (this.#inboxHead < this.#inbox.length) return Promise.resolve(this.#take());
    if (this.#closed) return Promise.reject(new ClosedError("cannot receive: the listener is closed"));
    if (this.#waiter) return Promise.reject(new ZerokitError("a receive is already waiting", "EBUSY"));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /**
   * Sends `[routing id, ...frames]` now, or reports why not to `onError`: a {@link QueueFullError}
   * when the peer does not read what it was sent (try again later), an `EHOSTUNREACH` error when no
   * peer has that id (it disconnected), a {@link ClosedError} after close.
   */
  post(message: readonly (Buffer | string)[], onError: (error: Error) => void): void {
    const error = this.#write(message);
    if (error) onError(error);
  }

  /** {@link post} as a promise: resolves when the message was written, rejects with the same errors. */
  send(message: readonly (Buffer | string)[]): Promise<void> {
    const error = this.#write(message);
    return error ? Promise.reject(error) : Promise.resolve();
  }

  /** Stops listening and closes every connection; a waiting receive rejects. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server?.close();
    for (const peer of this.#peers) peer.socket.destroy();
    this.#peers.clear();
    this.#routes.clear();
    this.#inbox = [];
    this.#senders = [];
    this.#inboxHead = 0;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(new ClosedError("cannot receive: the listener is closed"));
  }

  #write(message: readonly (Buffer | string)[]): Error | undefined {
    if (this.#closed) return new ClosedError("cannot send: the listener is closed");
    const id = message[0];
    const peer = id === undefined ? undefined : this.#routes.get(typeof id === "string" ? id : id.toString("latin1"));
    if (!peer) return new ZerokitError("cannot send: no peer has this routing id", "EHOSTUNREACH");
    const socket = peer.socket;
    if (socket.writableLength > this.#sendBacklog) return new QueueFullError(this.#sendBacklog);
    if (message.length === 2 && Buffer.isBuffer(message[1])) writeMessage(socket, message[1]);
    else {
      const frames: Buffer[] = [];
      for (let i = 1; i < message.length; i++) {
        const frame = message[i] as Buffer | string;
        frames.push(typeof frame === "string" ? Buffer.from(frame) : frame);
      }
      writeMessage(socket, frames);
    }
    return undefined;
  }

  #take(): Message {
    const at = this.#inboxHead++;
    const message = this.#inbox[at] as Message;
    const sender = this.#senders[at] as Peer;
    this.#inbox[at] = undefined as unknown as Message;
    this.#senders[at] = undefined as unknown as Peer;
    if (this.#inboxHead === this.#inbox.length) {
      this.#inbox = [];
      this.#senders = [];
      this.#inboxHead = 0;
    }
    sender.queued--;
    if (sender.paused && sender.queued <= this.#queuedPerPeer / 2) {
      sender.paused = false;
      if (!sender.socket.destroyed) sender.socket.resume();
    }
    return message;
  }

  #deliver(peer: Peer, message: Message): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(message);
      return;
    }
    this.#inbox.push(message);
    this.#senders.push(peer);
    if (++peer.queued >= this.#queuedPerPeer && !peer.paused) {
      // TCP pushes back on this peer until its messages are taken; the others go on.
      peer.paused = true;
      peer.socket.pause();
    }
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const peer: Peer = { socket, id: undefined, queued: 0, paused: false };
    this.#peers.add(peer);
    socket.setNoDelay(true);
    socket.write(encodeGreeting());
    const reader = new ZmtpReader(this.#limits);
    let greeted = false;
    const deadline = setTimeout(() => socket.destroy(), this.#handshakeMs);
    deadline.unref();
    const inputs: ZmtpInput[] = [];
    socket.on("data", (chunk: Buffer) => {
      if (socket.destroyed) return;
      inputs.length = 0;
      let fault = false;
      try {
        reader.push(chunk, inputs);
      } catch {
        fault = true;
      }
      // The boundary of this peer's input: whatever it sent, only its own connection suffers.
      try {
        for (const input of inputs) {
          if (socket.destroyed) return;
          if (input.kind === "message") {
            if (peer.id) this.#deliver(peer, [peer.id, ...input.frames]);
            else fault = true; // a message before READY
          } else if (input.kind === "greeting") {
            if (input.mechanism !== "NULL") fault = true;
            else {
              socket.write(encodeCommand("READY", encodeProperties(new Map([["Socket-Type", ROUTER_TYPE]]))));
              greeted = true;
            }
          } else if (!peer.id) {
            if (input.name !== "READY" || !greeted || !this.#identify(peer, input.data)) fault = true;
            else clearTimeout(deadline);
          } else if (input.name === "PING" && socket.writableLength <= PONG_BACKLOG) {
            // PING: a 2-byte TTL, then a context the PONG echoes (ZMTP 3.1).
            socket.write(encodeCommand("PONG", input.data.subarray(2, 2 + 16)));
          }
          if (fault) break;
        }
      } catch {
        fault = true;
      }
      if (fault) socket.destroy();
    });
    socket.on("error", () => {}); // followed by "close"
    socket.on("close", () => {
      clearTimeout(deadline);
      this.#peers.delete(peer);
      if (peer.id) {
        const key = peer.id.toString("latin1");
        if (this.#routes.get(key) === peer) this.#routes.delete(key);
      }
    });
  }

  /** Gives a peer that sent READY its routing id; false when its READY is refused. */
  #identify(peer: Peer, data: Buffer): boolean {
    let properties: Map<string, Buffer>;
    try {
      properties = decodeProperties(data);
    } catch {
      return false;
    }
    const type = properties.get("socket-type")?.toString("latin1") ?? "";
    if (!ROUTER_PEERS.has(type)) return false;
    const own = properties.get("identity");
    let id: Buffer;
    // libzmq keeps ids that start with a zero byte for the ones it makes up.
    if (own && own.length > 0 && own[0] !== 0) {
      // libzmq (without ZMQ_ROUTER_HANDOVER) refuses a second connection with an id in use.
      if (own.length > 255 || this.#routes.has(own.toString("latin1"))) return false;
      id = Buffer.from(own);
    } else {
      id = Buffer.allocUnsafe(5);
      id[0] = 0;
      do {
        id.writeUInt32BE(this.#nextId, 1);
        this.#nextId = (this.#nextId + 1) >>> 0;
      } while (this.#routes.has(id.toString("latin1")));
    }
    peer.id = id;
    this.#routes.set(id.toString("latin1"), peer);
    return true;
  }
}

const ROUTER_TYPE = Buffer.from("ROUTER", "latin1");
