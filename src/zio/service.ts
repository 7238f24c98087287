/**
 * RPC services found by name, beyond ZIO: an `RpcServer` announced as a port of a node
 * ({@link Node.serve}), and an `RpcClient` connected by node/port name ({@link connectByName}):
 * to every server with that name, those that appear later included, dropping those that exit;
 * the client's calls go round-robin over the live ones. zerorpc users put HAProxy in front of
 * servers for this; here discovery does it.
 */

import { ClosedError, InvalidArgumentError, TimeoutError } from "../core/errors.js";
import { checkDuration, checkObject, checkSignal, checkString } from "../core/options.js";
import { waitWithin } from "../core/wait.js";
import type { RpcClient } from "../rpc/client.js";
import { Peer } from "../zre/peer.js";
import { Follower, type PortChange } from "./follow.js";

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
  readonly #closed = new AbortController();
  readonly #follower: Follower;

  /** @internal Made by {@link connectByName}. */
  constructor(client: RpcClient, name: ServiceName, peer: Peer) {
    this.name = name;
    this.#follower = new Follower(client, "the link was closed");
    this.#follower.want(name);
    this.#follower.follow(peer);
  }

  /** The server addresses the client is connected to through this link. */
  get connections(): readonly string[] {
    return this.#follower.connections;
  }

  /**
   * Resolves once the client is connected to at least one server of the name (at once when it
   * is already): a call made before any server is known fails with `ClosedError`.
   *
   * @throws {TimeoutError} after `timeout` ms. @throws {AbortError} when `signal` aborts.
   * @throws {ClosedError} when the link is closed first.
   * @example
   * await link.ready({ timeout: 5000 });
   */
  async ready(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<void> {
    checkObject("options", options);
    checkDuration("options.timeout", options.timeout, { orInfinity: true });
    checkSignal("options.signal", options.signal);
    const { node, port } = this.name;
    const closedError = () => new ClosedError("the link was closed");
    await waitWithin(
      {
        timeout: options.timeout,
        signal: options.signal,
        closed: this.#closed.signal,
        timedOut: (ms) => new TimeoutError(`no server ${node}/${port} within ${ms} ms`, ms),
        closedError,
      },
      async (signal) => {
        const changes = this.#follower.changes({ signal });
        try {
          if (this.#follower.connections.length > 0) return;
          for await (const change of changes) if (change.type === "connect") return;
        } finally {
          await changes.return?.();
        }
        throw closedError(); // the changes ended without an abort: the link closed
      },
    );
  }

  get stats(): ServiceLinkStats {
    return { unresolved: this.#follower.unresolved, changesDropped: this.#follower.changesDropped };
  }

  /**
   * The connects and disconnects from now on (with the server's discovery uuid), until the link
   * closes or `signal` aborts.
   */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PortChange> {
    return this.#follower.changes(options);
  }

  /** Stops following discovery and disconnects the client from every server of this link. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    await this.#follower.unfollow();
    // The client may be closed already: its disconnects fail, and nothing is left to undo.
    this.#follower.releasePeers();
    this.#follower.close();
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
