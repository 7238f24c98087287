/**
 * RPC services found by name, beyond ZIO: an `RpcServer` announced as a port of a node
 * ({@link Node.serve}), and an `RpcClient` connected by node/port name ({@link connectByName}):
 * to every server with that name, those that appear later included, dropping those that exit;
 * the client's calls go round-robin over the live ones. zerorpc users put HAProxy in front of
 * servers for this; here discovery does it.
 */

import { normalizeEndpoint } from "../core/endpoint.js";
import { abortErrorFrom, ClosedError, InvalidArgumentError, TimeoutError } from "../core/errors.js";
import { Feed } from "../core/feed.js";
import { checkDuration, checkObject, checkSignal, checkString } from "../core/options.js";
import type { RpcClient } from "../rpc/client.js";
import { Peer, type PeerEvent } from "../zre/peer.js";
import type { PortChange } from "./port.js";

/** What a service port publishes in `zio.port.<name>.service`. */
export const SERVICE_KIND = "zerorpc";

/** A service to connect to: the node's nickname and the service (port) name. */
export interface ServiceName {
  node: string;
  port: string;
}

/** Options of {@link connectByName}. */
export interface ConnectByNameOptions {
  /** The discovery peer that hears of the servers (started, or started later). */
  peer: Peer;
}

/** What {@link ServiceLink.stats} counts. */
export interface ServiceLinkStats {
  /** Peers with the wanted name whose address header was missing or not connectable. */
  unresolved: number;
  /** Changes a slow {@link ServiceLink.changes} consumer lost. */
  changesDropped: number;
}

/**
 * The link between an `RpcClient` and every server of one name. Single-threaded like everything
 * in Node; closing it (or disposing it) disconnects the client from every server it connected.
 */
export class ServiceLink implements AsyncDisposable {
  readonly name: ServiceName;
  readonly #client: RpcClient;
  readonly #byPeer = new Map<string, string>();
  readonly #controller = new AbortController();
  readonly #loop: Promise<void>;
  readonly #stats: ServiceLinkStats = { unresolved: 0, changesDropped: 0 };
  readonly #changes = new Feed<PortChange>(1000, () => this.#stats.changesDropped++, "the link was closed");

  /** @internal Made by {@link connectByName}. */
  constructor(client: RpcClient, name: ServiceName, peer: Peer) {
    this.#client = client;
    this.name = name;
    this.#loop = this.#follow(peer, this.#controller.signal);
  }

  /** The server addresses the client is connected to through this link. */
  get connections(): readonly string[] {
    return [...new Set(this.#byPeer.values())];
  }

  /**
   * Resolves once the client is connected to at least one server of the name (at once when it
   * is already): a call made before any server is known fails with `ClosedError`.
   *
   * @throws {TimeoutError} after `timeout` ms. @throws {AbortError} when `signal` aborts.
   * @example
   * await link.ready({ timeout: 5000 });
   */
  async ready(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<void> {
    checkObject("options", options);
    checkDuration("options.timeout", options.timeout, { orInfinity: true });
    checkSignal("options.signal", options.signal);
    const signals = [this.#controller.signal];
    if (options.signal) signals.push(options.signal);
    const timeout = options.timeout;
    if (timeout !== undefined && timeout !== Number.POSITIVE_INFINITY) signals.push(AbortSignal.timeout(timeout));
    const signal = AbortSignal.any(signals);
    const changes = this.#changes.subscribe(signal);
    try {
      if (this.#byPeer.size > 0) return;
      for await (const change of changes) if (change.type === "connect") return;
    } finally {
      await changes.return?.();
    }
    if (options.signal?.aborted) throw abortErrorFrom(options.signal);
    if (this.#controller.signal.aborted) throw new ClosedError("the link was closed");
    throw new TimeoutError(`no server ${this.name.node}/${this.name.port} within ${timeout} ms`, timeout ?? 0);
  }

  get stats(): ServiceLinkStats {
    return { ...this.#stats };
  }

  /**
   * The connects and disconnects from now on (with the server's discovery uuid), until the link
   * closes or `signal` aborts.
   *
   * @example
   * for await (const change of link.changes({ signal })) console.log(change.type, change.address);
   */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PortChange> {
    checkObject("options", options);
    checkSignal("options.signal", options.signal);
    return this.#changes.subscribe(options.signal);
  }

  async #follow(peer: Peer, signal: AbortSignal): Promise<void> {
    // Subscribed before looking at who is known, so no ENTER falls between the two.
    const events = peer.events({ signal });
    for (const info of peer.peers()) this.#onEvent({ type: "ENTER", ...info });
    try {
      for await (const event of events) this.#onEvent(event);
    } catch {
      // the peer stopped: nothing more enters or exits
    }
  }

  #onEvent(event: PeerEvent): void {
    try {
      if (event.type === "ENTER" && event.name === this.name.node) this.#entered(event.uuid, event.headers);
      else if (event.type === "EXIT") this.#exited(event.uuid);
    } catch {
      // the event boundary: whatever a peer published, the link goes on
      this.#stats.unresolved++;
    }
  }

  #entered(uuid: string, headers: ReadonlyMap<string, string>): void {
    const address = headers.get(`zio.port.${this.name.port}.address`);
    let usable = address !== undefined;
    if (address !== undefined) {
      try {
        normalizeEndpoint(address, "connect");
      } catch {
        usable = false;
      }
    }
    // A new HELLO from a known uuid replaces what it published before.
    if (this.#byPeer.get(uuid) !== address) this.#exited(uuid);
    if (!usable || address === undefined) {
      this.#stats.unresolved++;
      return;
    }
    if (this.#byPeer.has(uuid)) return;
    const shared = [...this.#byPeer.values()].includes(address);
    this.#byPeer.set(uuid, address);
    if (!shared) this.#client.connect(address);
    this.#changes.emit({ type: "connect", address, uuid });
  }

  #exited(uuid: string): void {
    const address = this.#byPeer.get(uuid);
    if (address === undefined) return;
    this.#byPeer.delete(uuid);
    if (![...this.#byPeer.values()].includes(address)) this.#client.disconnect(address);
    this.#changes.emit({ type: "disconnect", address, uuid });
  }

  /** Stops following discovery and disconnects the client from every server of this link. Safe twice. */
  async close(): Promise<void> {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort();
    await this.#loop;
    for (const uuid of [...this.#byPeer.keys()]) {
      try {
        this.#exited(uuid);
      } catch {
        // the client was closed first: nothing left to disconnect
      }
    }
    this.#changes.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Connects `client` to every server announced as `port` by a node named `node` (see
 * {@link Node.serve}), as discovery finds them, and disconnects it from each that exits; the
 * client's calls go round-robin over the live ones. Returns the link; close it to stop.
 *
 * @throws {InvalidArgumentError} for an empty name or a missing peer.
 * @example
 * await using peer = new Peer("caller", { discovery: { mode: "beacon", interface: "lo" } });
 * await peer.start();
 * await using client = new RpcClient();
 * await using link = connectByName(client, { node: "calc-node", port: "calc" }, { peer });
 * console.log(await client.call("add", [1, 2]));
 */
export function connectByName(client: RpcClient, name: ServiceName, options: ConnectByNameOptions): ServiceLink {
  if (client === null || typeof client !== "object" || typeof (client as RpcClient).connect !== "function") {
    throw new InvalidArgumentError("client", client, "an RpcClient");
  }
  checkObject("name", name);
  if (name === undefined) throw new InvalidArgumentError("name", name, "{ node, port }");
  if (name.node === undefined) throw new InvalidArgumentError("name.node", undefined, "a node name");
  if (name.port === undefined) throw new InvalidArgumentError("name.port", undefined, "a port name");
  checkString("name.node", name.node, { nonEmpty: true });
  checkString("name.port", name.port, { nonEmpty: true });
  checkObject("options", options);
  if (!(options?.peer instanceof Peer)) throw new InvalidArgumentError("options.peer", options?.peer, "a zre Peer");
  return new ServiceLink(client, { node: name.node, port: name.port }, options.peer);
}
