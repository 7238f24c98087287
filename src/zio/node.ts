/**
 * A ZIO node: a nickname, an origin and named ports, brought online in ZIO's order, which solves
 * the bind/discover catch-22: 1) every port binds and collects its headers, 2) a discovery peer
 * starts with nickname = node name and all those headers, 3) every port connects, by address at
 * once and by node/port name as peers with that nickname appear.
 */
import { InvalidArgumentError } from "../core/errors.js";
import { checkObject, checkString } from "../core/options.js";
import { RpcServer, type ServerOptions } from "../rpc/server.js";
import { type Discovery, Peer, type PeerOptions } from "../zre/peer.js";
import { PortStateError } from "./errors.js";
import { checkUint64, type Uint64 } from "./message.js";
import { Port, type PortOptions, type SocketType } from "./port.js";
import { SERVICE_KIND } from "./service.js";

/** Options of {@link Node}. */
export interface NodeOptions {
  /** Stamped on every message the node's ports send (a port's own `origin` wins). Default 0, as ZIO. */
  origin?: Uint64;
  /** The host plain `bind()`s bind on. Default `"127.0.0.1"`, as ZIO. */
  hostname?: string;
  /** How the node's discovery peer finds others. Default `{ mode: "beacon" }`. */
  discovery?: Discovery;
  /** The discovery peer's other options (clocks, bounds); its name and headers come from the node. */
  peer?: Omit<PeerOptions, "headers" | "discovery">;
}

/** Options of {@link Node.serve}: the server's own, and where it binds. */
export interface ServeOptions extends ServerOptions {
  /** Where the server binds. Default an ephemeral TCP port on the node's hostname. */
  bind?: string;
  /** For a server bound already (passed to `serve` instead of a target): the address to publish. */
  address?: string;
  /** More headers, published as `zio.port.<name>.<key>`. */
  headers?: Record<string, string>;
}

interface Service {
  server: RpcServer;
  bind: string | undefined;
  headers: Record<string, string>;
  address: string | undefined;
}

/**
 * A ZIO node. Single-threaded like everything in Node: ports may be used from any callback;
 * `online()`, `offline()` and `close()` must not overlap each other (each waits for the last).
 *
 * @example
 * await using node = new Node("server", { origin: 42, discovery: { mode: "beacon", interface: "lo" } });
 * const port = node.port("spigot", "ROUTER");
 * port.bind();
 * await node.online();
 * const m = await port.recv({ timeout: 1000 });
 * if (m) await port.send(m);
 */
export class Node implements AsyncDisposable {
  /** The nickname, which is the discovery peer's name. */
  readonly name: string;
  readonly origin: Uint64;
  readonly hostname: string;
  readonly #discovery: Discovery | undefined;
  readonly #peerOptions: Omit<PeerOptions, "headers" | "discovery">;
  readonly #ports = new Map<string, Port>();
  readonly #services = new Map<string, Service>();
  #peer: Peer | undefined;
  #online = false;
  #closed = false;
  #busy: Promise<unknown> = Promise.resolve();

  /** @throws {InvalidArgumentError} naming the first option that is not allowed. */
  constructor(name: string, options: NodeOptions = {}) {
    if (name === undefined) throw new InvalidArgumentError("name", name, "a non-empty string");
    checkString("name", name, { nonEmpty: true });
    checkObject("options", options);
    checkUint64("options.origin", options.origin);
    checkString("options.hostname", options.hostname, { nonEmpty: true });
    checkObject("options.discovery", options.discovery);
    checkObject("options.peer", options.peer);
    this.name = name;
    this.origin = options.origin ?? 0;
    this.hostname = options.hostname ?? "127.0.0.1";
    this.#discovery = options.discovery;
    this.#peerOptions = { ...(options.peer ?? {}) };
    // The peer checks its own options: made now (and dropped) so a bad one fails here, not at online().
    new Peer(name, this.#peerConfig(new Map()));
  }

  #peerConfig(headers: ReadonlyMap<string, string>): PeerOptions {
    const config: PeerOptions = { ...this.#peerOptions, headers };
    if (this.#discovery !== undefined) config.discovery = this.#discovery;
    return config;
  }

  /** The discovery peer while online (its uuid, events, `peers()`), else undefined. */
  get peer(): Peer | undefined {
    return this.#peer;
  }

  get isOnline(): boolean {
    return this.#online;
  }

  /** The ports, by name. */
  get ports(): ReadonlyMap<string, Port> {
    return new Map(this.#ports);
  }

  /**
   * The port named `name`: made with `type` (and `options`) the first time, the same one after.
   * Ports are added while the node is offline (their headers go out once, in the HELLO).
   *
   * @throws {InvalidArgumentError} when `type` is missing for a new port or differs from the existing one's.
   * @throws {PortStateError} for a new port while the node is online.
   * @example
   * const port = node.port("spigot", "ROUTER");
   */
  port(name: string, type?: SocketType, options: PortOptions = {}): Port {
    this.#assertOpen();
    const existing = this.#ports.get(name);
    if (existing) {
      if (type !== undefined && type !== existing.type) {
        throw new InvalidArgumentError("type", type, `${existing.type}, the type of port ${name}`);
      }
      return existing;
    }
    if (type === undefined) throw new InvalidArgumentError("type", type, `a socket type for the new port ${name}`);
    if (this.#online) throw new PortStateError(`node ${this.name} is online: add port ${name} before online()`);
    if (this.#services.has(name)) throw new InvalidArgumentError("name", name, "a name no service of this node has");
    checkObject("options", options);
    const port = new Port(name, type, { origin: this.origin, hostname: this.hostname, ...options });
    this.#ports.set(name, port);
    return port;
  }

  /**
   * Serves `target` over RPC (zerorpc protocol) as the port `name` of this node (or announces an
   * `RpcServer` made and bound already, at `options.address`): the server binds
   * when the node goes online (an ephemeral TCP port on the node's hostname unless `bind` says
   * otherwise) and is published like a port (`zio.port.<name>.address`, `.socket` = ROUTER,
   * `.service` = zerorpc), so clients find it with {@link connectByName}. The server stays bound
   * while the node is offline (unannounced: clients drop it when the node exits) and closes with
   * the node.
   *
   * @throws {PortStateError} while online (headers go out once, in the HELLO).
   * @example
   * node.serve("calc", { add: (a: number, b: number) => a + b });
   * await node.online();
   */
  serve(name: string, target: object | RpcServer, options: ServeOptions = {}): RpcServer {
    this.#assertOpen();
    checkString("name", name, { nonEmpty: true });
    if (name === undefined || name.includes(".")) throw new InvalidArgumentError("name", name, "a name without dots");
    if (this.#online) throw new PortStateError(`node ${this.name} is online: serve ${name} before online()`);
    if (this.#ports.has(name) || this.#services.has(name)) {
      throw new InvalidArgumentError("name", name, "a name no port or service of this node has");
    }
    checkObject("options", options);
    const { bind, address, headers = {}, ...serverOptions } = options;
    checkString("options.bind", bind, { nonEmpty: true });
    checkString("options.address", address, { nonEmpty: true });
    if (target instanceof RpcServer && address === undefined) {
      throw new InvalidArgumentError("options.address", address, "the address a given RpcServer is bound to");
    }
    checkObject("options.headers", headers);
    for (const [key, value] of Object.entries(headers)) checkString(`options.headers[${JSON.stringify(key)}]`, value);
    const server = target instanceof RpcServer ? target : new RpcServer(target, serverOptions);
    this.#services.set(name, { server, bind, headers: { ...headers }, address });
    return server;
  }

  async #bindServices(headers: Map<string, string>): Promise<void> {
    for (const [name, service] of this.#services) {
      service.address ??= await service.server.bind(service.bind ?? `tcp://${this.hostname}:*`);
      const prefix = `zio.port.${name}.`;
      for (const [key, value] of Object.entries(service.headers)) headers.set(`${prefix}${key}`, value);
      headers.set(`${prefix}address`, service.address);
      headers.set(`${prefix}socket`, "ROUTER");
      headers.set(`${prefix}service`, SERVICE_KIND);
    }
  }

  /**
   * Goes online in ZIO's order (binds, discovery with every port's headers plus `headers`,
   * connects). Online already: does nothing. A failed bind leaves the node offline.
   *
   * @example
   * await node.online({ role: "server" });
   */
  online(headers: Record<string, string> = {}): Promise<void> {
    return this.#serial(() => this.#goOnline(headers));
  }

  async #goOnline(extra: Record<string, string>): Promise<void> {
    this.#assertOpen();
    if (this.#online) return;
    checkObject("headers", extra);
    const headers = new Map<string, string>();
    for (const [key, value] of Object.entries(extra)) {
      checkString(`headers[${JSON.stringify(key)}]`, value);
      headers.set(key, value);
    }
    const ports = [...this.#ports.values()];
    try {
      for (const port of ports) for (const [key, value] of await port.doBinds()) headers.set(key, value);
      await this.#bindServices(headers);
      const peer = new Peer(this.name, this.#peerConfig(headers));
      this.#peer = peer;
      await peer.start();
      for (const port of ports) await port.online(peer);
    } catch (error) {
      await this.#goOffline();
      throw error;
    }
    this.#online = true;
  }

  /**
   * Goes offline as ZIO does: every port disconnects and unbinds, then the discovery peer leaves
   * (the others see EXIT at once). The ports and their requests stay: `online()` again works.
   */
  offline(): Promise<void> {
    return this.#serial(() => this.#goOffline());
  }

  async #goOffline(): Promise<void> {
    for (const port of this.#ports.values()) await port.offline();
    const peer = this.#peer;
    this.#peer = undefined;
    this.#online = false;
    await peer?.stop();
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(work, work);
    this.#busy = run.catch(() => {});
    return run;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PortStateError(`node ${this.name} is closed`);
  }

  /** Goes offline and closes every port for good. Safe twice. */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      await this.#goOffline();
      this.#closed = true;
      for (const port of this.#ports.values()) await port.close();
      for (const service of this.#services.values()) await service.server[Symbol.asyncDispose]();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
