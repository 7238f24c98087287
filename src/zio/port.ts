/**
 * A ZIO port: a named socket whose binds and connects are requests until it goes online, whose
 * bound addresses are published as discovery headers (`zio.port.<name>.address`...), and whose
 * connects may name a node and a port instead of an address, resolved through a discovery peer:
 * to every peer with that nickname, those appearing later included, dropped when they exit.
 * It sends and receives {@link Message}s framed as ZIO frames them for each socket type.
 */
import type { Dish, Radio } from "../core/draft.js";
import { normalizeEndpoint } from "../core/endpoint.js";
import { InvalidArgumentError, ProtocolError, TimeoutError } from "../core/errors.js";
import { checkGroup, checkNumber, checkObject, checkOneOf, checkSignal, checkString } from "../core/options.js";
import { RECEIVE_ABANDONABLE, type ZSocket } from "../core/socket.js";
import * as sockets from "../core/sockets.js";
import type { Peer } from "../zre/peer.js";
import { NotSupportedError, PortStateError } from "./errors.js";
import { Follower, type PortChange } from "./follow.js";
import { checkUint64, Message, type Uint64 } from "./message.js";

/** The socket types a port may have (ZeroMQ's names; SERVER, CLIENT, RADIO and DISH are draft). */
export const SOCKET_TYPES = [
  "PAIR",
  "PUB",
  "SUB",
  "REQ",
  "REP",
  "DEALER",
  "ROUTER",
  "PULL",
  "PUSH",
  "XPUB",
  "XSUB",
  "SERVER",
  "CLIENT",
  "RADIO",
  "DISH",
] as const;
export type SocketType = (typeof SOCKET_TYPES)[number];

/** The ZeroMQ options a port passes to its socket. */
export interface PortSocketOptions {
  /** ms pending messages get after close; default zerokit's 1000. */
  linger?: number;
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  /** Largest message accepted, bytes (-1: no limit). */
  maxMessageSize?: number;
  /** Sends that may wait in the socket's writer queue (see zerokit's sockets). */
  sendQueueLimit?: number;
}

/** Options of {@link Port}. */
export interface PortOptions {
  /** The host a plain `bind()` binds on. Default `"127.0.0.1"` (as ZIO). */
  hostname?: string;
  /** Stamped on every message sent (a node gives its ports its own). Default none. */
  origin?: Uint64;
  /** RADIO: the group messages go to unless `send()` names one. DISH: a group joined when online. */
  group?: string;
  /** Options of the socket made when the port goes online. */
  socket?: PortSocketOptions;
}

/** Options of {@link Port.send}. */
export interface PortSendOptions {
  /** RADIO only: the group (default the port's `group`). */
  group?: string;
  /** Give up while the message still waits in the writer queue. */
  signal?: AbortSignal;
}

/** Options of {@link Port.recv}. */
export interface PortRecvOptions {
  /** ms to wait; then `recv()` resolves with `null`. Default: no limit. */
  timeout?: number;
  /** Stop waiting: the call rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** What a port ignored or refused, by kind. Every counter only grows. */
export interface PortStats {
  /** Messages received that were not ZIO messages (each was a `ProtocolError` from `recv()`). */
  malformed: number;
  /** Peers with a wanted name whose address header was missing or could not be connected. */
  unresolved: number;
  /** Connection changes a slow {@link Port.changes} consumer lost. */
  changesDropped: number;
}

export type { PortChange } from "./follow.js";

type BindRequest = { address: string } | { host: string; port: number };

const EMPTY = Buffer.alloc(0);
const SEND_ONLY = new Set<SocketType>(["PUB", "PUSH", "RADIO"]);
const RECEIVE_ONLY = new Set<SocketType>(["SUB", "PULL", "DISH"]);

type AnySocket = ZSocket<never, unknown>;

function checkName(name: string, value: unknown): void {
  if (value === undefined) throw new InvalidArgumentError(name, value, "a non-empty string");
  checkString(name, value, { nonEmpty: true });
  if ((value as string).includes(".")) throw new InvalidArgumentError(name, value, "a name without dots");
}

/** The socket class of each type that is not draft. */
const SOCKETS = {
  PAIR: sockets.Pair,
  PUB: sockets.Pub,
  SUB: sockets.Sub,
  REQ: sockets.Req,
  REP: sockets.Rep,
  DEALER: sockets.Dealer,
  ROUTER: sockets.Router,
  PULL: sockets.Pull,
  PUSH: sockets.Push,
  XPUB: sockets.XPub,
  XSUB: sockets.XSub,
} as const;

async function makeSocket(type: SocketType, options: PortSocketOptions): Promise<AnySocket> {
  const o = { ...options } as never;
  if (type === "SERVER" || type === "CLIENT" || type === "RADIO" || type === "DISH") {
    // Loaded only when used: zeromq's draft module prints an experimental warning.
    const draft = await import("../core/draft.js");
    const Draft = { SERVER: draft.Server, CLIENT: draft.Client, RADIO: draft.Radio, DISH: draft.Dish }[type];
    return new Draft(o) as never;
  }
  return new SOCKETS[type](o) as never;
}

/** Prefers an address others can reach: tcp, then ipc, then inproc; the first of each. */
function publishedAddress(bound: readonly string[]): string | undefined {
  for (const transport of ["tcp://", "ipc://", "inproc://"]) {
    const found = bound.find((address) => address.startsWith(transport));
    if (found) return found;
  }
  return bound[0];
}

/**
 * @internal A receive a flow's loop may abandon when it closes (its message then goes to the
 * port's next receiver, in order), and the way to give back a message the loop received but
 * can no longer handle. Set by Port's static block, which reaches its private socket.
 */
export let receiveAbandonable: (port: Port) => { message: Promise<Message | undefined>; abandon(): void };
/** @internal See {@link receiveAbandonable}: the port's next `recv()` returns `message` first. */
export let giveBack: (port: Port, message: Message) => void;

/**
 * A named ZIO port. Single-threaded like everything in Node: any number of `send()` and
 * `recv()` calls may be pending at once (sends go out in call order, each message goes to one
 * receiver, in call order); `online()` and `offline()` must not overlap each other.
 *
 * @example
 * await using port = new Port("spigot", "PUSH");
 * port.bind();
 * await port.doBinds();
 * await port.online();
 * await port.send(new Message({ form: "TEXT", payload: ["hi"] }));
 */
export class Port implements AsyncDisposable {
  readonly name: string;
  readonly type: SocketType;
  readonly hostname: string;
  #origin: Uint64 | undefined;
  readonly #group: string | undefined;
  readonly #socketOptions: PortSocketOptions;
  readonly #binds: BindRequest[] = [];
  /** The direct connects requested (those by name are the follower's). */
  readonly #connects: string[] = [];
  readonly #userHeaders = new Map<string, string>();
  readonly #subscriptions: string[] = [];
  readonly #groups: string[] = [];
  #socket: AnySocket | undefined;
  #bound: string[] = [];
  #headers = new Map<string, string>();
  #online = false;
  #closed = false;
  /** Messages a closing flow received and gave back: the next `recv()`s return them first. */
  #givenBack: Message[] = [];
  #peer: Peer | undefined;
  #malformed = 0;
  /** Every connect of the socket, direct and by name, reference-counted. */
  readonly #follower = new Follower(
    {
      connect: (address) => this.#socket?.connect(address),
      disconnect: (address) => this.#socket?.disconnect(address),
    },
    "the port was closed",
  );

  /** @throws {InvalidArgumentError} for a name with dots, an unknown type or a bad option. */
  constructor(name: string, type: SocketType, options: PortOptions = {}) {
    checkName("name", name);
    if (type === undefined) throw new InvalidArgumentError("type", type, `one of ${SOCKET_TYPES.join(", ")}`);
    checkOneOf("type", type, SOCKET_TYPES);
    checkObject("options", options);
    checkString("options.hostname", options.hostname, { nonEmpty: true });
    checkUint64("options.origin", options.origin);
    checkGroup("options.group", options.group);
    checkObject("options.socket", options.socket);
    const socket = options.socket ?? {};
    checkNumber("options.socket.linger", socket.linger, { min: -1, max: 2 ** 31 - 1, integer: true });
    checkNumber("options.socket.sendHighWaterMark", socket.sendHighWaterMark, { min: 0, integer: true });
    checkNumber("options.socket.receiveHighWaterMark", socket.receiveHighWaterMark, { min: 0, integer: true });
    checkNumber("options.socket.maxMessageSize", socket.maxMessageSize, { min: -1, integer: true });
    checkNumber("options.socket.sendQueueLimit", socket.sendQueueLimit, { min: 1, integer: true, orInfinity: true });
    this.name = name;
    this.type = type;
    this.hostname = options.hostname ?? "127.0.0.1";
    this.#origin = options.origin;
    this.#group = options.group;
    this.#socketOptions = { ...socket };
    if (options.group !== undefined && type === "DISH") this.#groups.push(options.group);
  }

  /** The origin stamped on every message sent, or undefined for none. */
  get origin(): Uint64 | undefined {
    return this.#origin;
  }
  set origin(value: Uint64 | undefined) {
    checkUint64("origin", value);
    this.#origin = value;
  }

  /** Whether the port is online. */
  get isOnline(): boolean {
    return this.#online;
  }

  /** The addresses bound while online (ephemeral ports resolved). */
  get addresses(): readonly string[] {
    return [...this.#bound];
  }

  /** The addresses connected right now, direct and resolved by name. */
  get connections(): readonly string[] {
    return this.#follower.connections;
  }

  /** The headers this port publishes: its own (after {@link doBinds}) and the user's, prefixed. */
  get headers(): ReadonlyMap<string, string> {
    return new Map([...this.#userHeaders, ...this.#headers]);
  }

  /** The socket while online (for ZeroMQ options zerokit does not wrap), else undefined. */
  get socket(): ZSocket<never, unknown> | undefined {
    return this.#socket;
  }

  /** The counters of what was ignored (a copy). */
  get stats(): PortStats {
    const follower = this.#follower;
    return { malformed: this.#malformed, unresolved: follower.unresolved, changesDropped: follower.changesDropped };
  }

  /**
   * The connects and disconnects from now on (by name as peers enter and exit, direct ones as the
   * port goes online and offline), until the port closes or `signal` aborts. Any number of
   * consumers; each may fall 1000 behind before losing the oldest.
   *
   * @example
   * for await (const change of port.changes({ signal })) console.log(change.type, change.address);
   */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PortChange> {
    return this.#follower.changes(options);
  }

  /**
   * Requests a bind, done when the port goes online: `bind()` binds an ephemeral TCP port on the
   * port's hostname, `bind(address)` a ZeroMQ address, `bind(host, port)` TCP on that host and
   * port (0: ephemeral). Any number, of any forms.
   *
   * @throws {InvalidArgumentError} / `EndpointError` for a malformed request (checked now).
   * @example
   * port.bind(); port.bind("ipc:///tmp/spigot.ipc"); port.bind("127.0.0.1", 12345);
   */
  bind(address?: string, port?: number): this {
    this.#assertOpen();
    if (address === undefined) {
      if (port !== undefined) throw new InvalidArgumentError("address", address, "a host when a port is given");
      this.#binds.push({ host: this.hostname, port: 0 });
    } else if (port === undefined) {
      checkString("address", address, { nonEmpty: true });
      normalizeEndpoint(address, "bind");
      this.#binds.push({ address });
    } else {
      checkString("host", address, { nonEmpty: true });
      checkNumber("port", port, { min: 0, max: 65535, integer: true });
      normalizeEndpoint(`tcp://${address}:${port === 0 ? "*" : port}`, "bind");
      this.#binds.push({ host: address, port });
    }
    return this;
  }

  /**
   * Requests a connect, done when the port goes online: `connect(address)` to a ZeroMQ address,
   * `connect(node, port)` to the port named `port` of every node named `node` (through the
   * discovery peer given to {@link online}), those that appear later included.
   *
   * @example
   * port.connect("tcp://127.0.0.1:5000"); port.connect("client-node", "tap");
   */
  connect(addressOrNode: string, port?: string): this {
    this.#assertOpen();
    if (port === undefined) {
      checkString("address", addressOrNode, { nonEmpty: true });
      if (addressOrNode === undefined) throw new InvalidArgumentError("address", addressOrNode, "an address");
      normalizeEndpoint(addressOrNode, "connect");
      this.#connects.push(addressOrNode);
      if (this.#online) this.#follower.hold(addressOrNode);
    } else {
      checkString("node", addressOrNode, { nonEmpty: true });
      checkName("port", port);
      this.#follower.want({ node: addressOrNode, port });
      if (this.#online) {
        if (!this.#peer) {
          throw new PortStateError(`port ${this.name} connects by name and went online without a discovery peer`);
        }
        this.#follower.follow(this.#peer);
      }
    }
    return this;
  }

  /**
   * Adds headers, published as `zio.port.<name>.<key>` (values as strings). Only headers added
   * before the node goes online reach discovery (ZRE sends headers once, in HELLO).
   *
   * @example
   * port.addHeaders({ greeting: "hi" }); // zio.port.spigot.greeting = "hi"
   */
  addHeaders(headers: Record<string, unknown> | ReadonlyMap<string, unknown>): this {
    checkObject("headers", headers instanceof Map ? undefined : headers);
    const entries = headers instanceof Map ? [...headers] : Object.entries(headers);
    for (const [key, value] of entries) {
      checkString("headers key", key, { nonEmpty: true });
      if (value === undefined || value === null) {
        throw new InvalidArgumentError(`headers[${JSON.stringify(key)}]`, value, "a value");
      }
      this.#userHeaders.set(`zio.port.${this.name}.${key}`, String(value));
    }
    return this;
  }

  /**
   * SUB ports: receive messages whose prefix frame starts with `prefix` (`""`: all, as ZIO's
   * `subscribe()`; `"ZIO4TEXT"` for info-level text). Kept across offline/online.
   */
  subscribe(prefix = ""): void {
    checkString("prefix", prefix);
    if (this.type !== "SUB") throw new NotSupportedError(`a ${this.type} port cannot subscribe`);
    this.#subscriptions.push(prefix);
    (this.#socket as unknown as sockets.Sub | undefined)?.subscribe(prefix);
  }

  /**
   * DISH ports: receive messages sent to `group`. Kept across offline/online; joining a group
   * already joined does nothing (libzmq refuses a second join, which would leave the port
   * unable to go online again).
   */
  join(group: string): void {
    checkGroup("group", group, true);
    if (this.type !== "DISH") throw new NotSupportedError(`a ${this.type} port cannot join groups`);
    if (this.#groups.includes(group)) return;
    (this.#socket as unknown as Dish | undefined)?.join(group);
    this.#groups.push(group);
  }

  /**
   * Makes the socket and performs the requested binds; returns this port's headers (its
   * `address`, `addresses` when several, `socket`, and the user's), as ZIO's `do_binds()`.
   *
   * @throws {AddressInUseError} / `EndpointError` when a bind fails (the port stays offline).
   */
  async doBinds(): Promise<ReadonlyMap<string, string>> {
    this.#assertOpen();
    if (this.#online) throw new PortStateError(`port ${this.name} is online`);
    if (!this.#socket) this.#socket = await this.#newSocket();
    const socket = this.#socket;
    const bound: string[] = [];
    try {
      for (const request of this.#binds) {
        const address =
          "address" in request ? request.address : `tcp://${request.host}:${request.port === 0 ? "*" : request.port}`;
        bound.push(await socket.bind(address));
      }
    } catch (error) {
      this.#dropSocket();
      throw error;
    }
    this.#bound = bound;
    const prefix = `zio.port.${this.name}.`;
    const headers = new Map<string, string>();
    const published = publishedAddress(bound);
    if (published !== undefined) headers.set(`${prefix}address`, published);
    if (bound.length > 1) headers.set(`${prefix}addresses`, JSON.stringify(bound));
    headers.set(`${prefix}socket`, this.type);
    this.#headers = headers;
    return this.headers;
  }

  /**
   * Connects: the direct addresses now, the node/port names through `peer` as peers with those
   * nicknames enter (and leave). Calls {@link doBinds} first if it was not.
   *
   * @throws {PortStateError} when a connect names a node and no peer is given.
   * @example
   * await port.online(peer);
   */
  async online(peer?: Peer): Promise<void> {
    this.#assertOpen();
    if (this.#online) return;
    const named = this.#follower.wantsNames;
    if (named && !peer) throw new PortStateError(`port ${this.name} connects by name and no discovery peer was given`);
    if (!this.#socket) await this.doBinds();
    this.#online = true;
    this.#peer = peer;
    for (const address of this.#connects) this.#follower.hold(address);
    if (named && peer) this.#follower.follow(peer);
  }

  /**
   * Goes offline: stops following discovery, closes the socket (which undoes every bind and
   * connect; pending receives reject with `ClosedError`). The requests stay: `online()` again
   * binds and connects anew (an ephemeral bind may get another port).
   */
  async offline(): Promise<void> {
    await this.#follower.unfollow();
    this.#peer = undefined;
    this.#online = false;
    this.#dropSocket();
  }

  #dropSocket(): void {
    this.#givenBack = [];
    this.#follower.forget();
    this.#socket?.close();
    this.#socket = undefined;
    this.#bound = [];
    this.#headers = new Map();
  }

  async #newSocket(): Promise<AnySocket> {
    const socket = await makeSocket(this.type, this.#socketOptions);
    if (this.type === "SUB")
      for (const prefix of this.#subscriptions) (socket as never as sockets.Sub).subscribe(prefix);
    if (this.type === "DISH") for (const group of this.#groups) (socket as unknown as Dish).join(group);
    return socket;
  }

  /**
   * Sends a message, framed for the socket type; stamps the port's origin on it first. ROUTER
   * and SERVER ports send to the message's `routingId` (a received message has its sender's).
   *
   * @throws {PortStateError} when offline. @throws {NotSupportedError} on a receive-only port.
   * @throws {InvalidArgumentError} for a ROUTER/SERVER message without a usable `routingId`, or a
   *   RADIO message without a group.
   * @example
   * const m = await port.recv({ timeout: 1000 });
   * if (m) await port.send(m); // back to its sender
   */
  send(message: Message, options?: PortSendOptions): Promise<void> {
    try {
      return this.#send(message, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #send(message: Message, options: PortSendOptions | undefined): Promise<void> {
    if (!(message instanceof Message)) throw new InvalidArgumentError("message", message, "a zio Message");
    if (options !== undefined) {
      checkObject("options", options);
      checkGroup("options.group", options.group);
      checkSignal("options.signal", options.signal);
    }
    const socket = this.#socket;
    if (!this.#online || !socket) throw new PortStateError(`port ${this.name} is not online`);
    if (RECEIVE_ONLY.has(this.type)) throw new NotSupportedError(`a ${this.type} port cannot send`);
    if (this.#origin !== undefined && message.origin !== this.#origin) message.origin = this.#origin;
    const sendOptions = options?.signal ? { signal: options.signal } : undefined;
    switch (this.type) {
      case "ROUTER": {
        const id = message.routingId;
        if (!Buffer.isBuffer(id)) {
          throw new InvalidArgumentError("message.routingId", id, "the routing id (bytes) of a ROUTER's peer");
        }
        const payload = message.payload;
        const frames =
          payload.length === 1
            ? [id, EMPTY, message.prefix, message.coord, payload[0]!]
            : [id, EMPTY, message.prefix, message.coord, ...payload];
        return socket.send(frames, sendOptions);
      }
      case "DEALER": {
        const payload = message.payload;
        const frames =
          payload.length === 1
            ? [EMPTY, message.prefix, message.coord, payload[0]!]
            : [EMPTY, message.prefix, message.coord, ...payload];
        return socket.send(frames, sendOptions);
      }
      case "SERVER": {
        const id = message.routingId;
        if (typeof id !== "number") {
          throw new InvalidArgumentError("message.routingId", id, "the numeric routing id of a SERVER's peer");
        }
        return socket.send(message.pack(), { ...sendOptions, routingId: id });
      }
      case "CLIENT":
        return socket.send(message.pack(), sendOptions);
      case "RADIO":
        return this.#sendRadio(message, options?.group ?? this.#group);
      default:
        return socket.send(message.encode(), sendOptions);
    }
  }

  #sendRadio(message: Message, group: string | undefined): Promise<void> {
    if (group === undefined) throw new InvalidArgumentError("options.group", group, "a group (or the port's group)");
    return (this.#socket as unknown as Radio).sendTo(group, message.pack());
  }

  /**
   * Receives the next message, or `null` when `timeout` ms pass first. A message that is not a
   * ZIO message (or a ROUTER/DEALER message without ZIO's empty delimiter) rejects this call with
   * a `ProtocolError`; the next call receives the next message.
   *
   * @throws {PortStateError} when offline. @throws {NotSupportedError} on a send-only port.
   * @throws {AbortError} when `signal` aborts. @throws {ClosedError} when the port goes offline meanwhile.
   * @example
   * const m = await port.recv({ timeout: 1000 });
   * if (m === null) console.log("timeout");
   */
  recv(options?: PortRecvOptions): Promise<Message | null> {
    const socket = this.#socket;
    if (options !== undefined) {
      try {
        checkObject("options", options);
        checkNumber("options.timeout", options.timeout, { min: 0, max: 2 ** 31 - 1, orInfinity: true });
        checkSignal("options.signal", options.signal);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!this.#online || !socket) return Promise.reject(new PortStateError(`port ${this.name} is not online`));
    if (SEND_ONLY.has(this.type)) return Promise.reject(new NotSupportedError(`a ${this.type} port cannot receive`));
    if (this.#givenBack.length > 0) return Promise.resolve(this.#givenBack.shift() as Message);
    const waiting = options === undefined ? socket.receive() : socket.receive(options);
    return waiting.then(this.#decode, this.#timedOut);
  }

  readonly #timedOut = (error: unknown): null => {
    if (error instanceof TimeoutError) return null;
    throw error;
  };

  static {
    receiveAbandonable = (port) => {
      const socket = port.#socket;
      if (!port.#online || !socket) {
        return { message: Promise.reject(new PortStateError(`port ${port.name} is not online`)), abandon: () => {} };
      }
      if (port.#givenBack.length > 0) return { message: Promise.resolve(port.#givenBack.shift()), abandon: () => {} };
      const receive = socket[RECEIVE_ABANDONABLE]();
      return {
        message: receive.message.then((frames) => (frames === undefined ? undefined : port.#decode(frames))),
        abandon: receive.abandon,
      };
    };
    giveBack = (port, message) => {
      if (port.#online) port.#givenBack.unshift(message);
    };
  }

  readonly #decode = (received: unknown): Message => {
    try {
      switch (this.type) {
        case "ROUTER": {
          const frames = received as Buffer[];
          if (frames.length < 2 || frames[1]!.length !== 0) {
            throw new ProtocolError("a ZIO ROUTER port expects an empty delimiter frame after the routing id");
          }
          return Message.decode(frames.slice(2), frames[0]);
        }
        case "DEALER": {
          const frames = received as Buffer[];
          if (frames.length < 1 || frames[0]!.length !== 0) {
            throw new ProtocolError("a ZIO DEALER port expects an empty delimiter frame first");
          }
          return Message.decode(frames.slice(1));
        }
        case "SERVER": {
          const [frame, { routingId }] = received as [Buffer, { routingId: number }];
          return Message.unpack(frame, routingId);
        }
        case "CLIENT":
        case "DISH":
          return Message.unpack((received as Buffer[])[0]!);
        default:
          return Message.decode(received as Buffer[]);
      }
    } catch (error) {
      this.#malformed++;
      throw error;
    }
  };

  #assertOpen(): void {
    if (this.#closed) throw new PortStateError(`port ${this.name} is closed`);
  }

  /** Goes offline for good. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.offline();
    this.#closed = true;
    this.#follower.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
