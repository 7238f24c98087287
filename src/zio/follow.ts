/**
 * Connects by node/port name, written once for a port's socket and a service link's RPC client:
 * the names wanted, a discovery follower that resolves them through each remote peer's headers
 * (`zio.port.<port>.address`) as peers enter, re-enter and exit, and a reference count per
 * address, so an address held several times (by several peers, or also as a direct connect) is
 * connected once and stays connected until its last holder lets go.
 */
import { normalizeEndpoint } from "../core/endpoint.js";
import { Feed } from "../core/feed.js";
import { checkObject, checkSignal } from "../core/options.js";
import type { Peer, PeerEvent } from "../zre/peer.js";

/** A connection made or dropped: direct (no uuid) or for the discovery peer `uuid`. */
export interface PortChange {
  type: "connect" | "disconnect";
  address: string;
  /** The remote discovery peer the address was resolved from; undefined for a direct connect. */
  uuid?: string;
}

/** What the follower connects: a socket, or an RPC client. */
export interface Connector {
  /** @throws when the address cannot be connected (counted as unresolved). */
  connect(address: string): void;
  disconnect(address: string): void;
}

/** A connect by name: the port `port` of every node named `node`. */
export interface NamedConnect {
  node: string;
  port: string;
}

/**
 * One set of connections to follow: direct holds and connects by name, each connect and
 * disconnect reported as a {@link PortChange} (one per holder: a peer's release of a shared
 * address is reported though the address stays connected for the others).
 */
export class Follower {
  readonly #connector: Connector;
  readonly #names: NamedConnect[] = [];
  /** Per remote peer uuid, the addresses held for it. */
  readonly #byPeer = new Map<string, Set<string>>();
  /** How many holders (direct or per peer) each connected address has. */
  readonly #refs = new Map<string, number>();
  readonly #changes: Feed<PortChange>;
  #unresolved = 0;
  /** Per remote peer uuid, the wanted names (`node\0port`) it failed to resolve, counted once each. */
  readonly #unresolvedBy = new Map<string, Set<string>>();
  #changesDropped = 0;
  #peer: Peer | undefined;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;

  /** @param closedMessage what a change consumer's wait rejects with once {@link close}d */
  constructor(connector: Connector, closedMessage: string) {
    this.#connector = connector;
    this.#changes = new Feed<PortChange>(1000, () => this.#changesDropped++, closedMessage);
  }

  /** Peers with a wanted name whose address was missing or not connectable, and direct connects that failed. */
  get unresolved(): number {
    return this.#unresolved;
  }

  /** Changes a slow {@link changes} consumer lost. */
  get changesDropped(): number {
    return this.#changesDropped;
  }

  /** The addresses connected right now. */
  get connections(): string[] {
    return [...this.#refs.keys()];
  }

  /** Whether any connect is by name (so a discovery peer is needed). */
  get wantsNames(): boolean {
    return this.#names.length > 0;
  }

  /** The changes from now on, until {@link close} or `signal` aborts; each consumer may fall 1000 behind. */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PortChange> {
    checkObject("options", options);
    checkSignal("options.signal", options.signal);
    return this.#changes.subscribe(options.signal);
  }

  /** Wants the port `port` of every node named `node` (connected once {@link follow} runs). */
  want(name: NamedConnect): void {
    this.#names.push({ node: name.node, port: name.port });
  }

  /**
   * Follows `peer`'s discovery: connects to what the peers known now and those entering later
   * publish for the wanted names, and lets go of what each exiting peer held. Following already:
   * looks at the known peers again (for a name wanted since).
   */
  follow(peer: Peer): void {
    if (this.#stop) {
      for (const info of this.#peer!.peers()) this.#onEvent({ type: "ENTER", ...info });
      return;
    }
    this.#peer = peer;
    this.#stop = new AbortController();
    this.#loop = this.#follow(peer, this.#stop.signal);
  }

  /** Stops following (what was connected stays). */
  async unfollow(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    this.#stop = undefined;
    this.#loop = undefined;
    this.#peer = undefined;
  }

  async #follow(peer: Peer, signal: AbortSignal): Promise<void> {
    // Subscribed before looking at who is known, so no ENTER falls between the two.
    const events = peer.events({ signal });
    for (const info of peer.peers()) this.#onEvent({ type: "ENTER", ...info });
    try {
      for await (const event of events) this.#onEvent(event);
    } catch {
      // the peer stopped under us: nothing more will enter or exit
    }
  }

  /** The event boundary: whatever a peer published, the follower goes on. */
  #onEvent(event: PeerEvent): void {
    try {
      if (event.type === "ENTER") this.#entered(event.uuid, event.name, event.headers);
      else if (event.type === "EXIT") this.#exited(event.uuid);
    } catch {
      this.#unresolved++;
    }
  }

  #entered(uuid: string, name: string, headers: ReadonlyMap<string, string>): void {
    const wanted = new Set<string>();
    // The known peers are looked at again for each name wanted later: count a name once per peer.
    const counted = this.#unresolvedBy.get(uuid);
    const failed = new Set<string>();
    for (const request of this.#names) {
      if (request.node !== name) continue;
      const address = headers.get(`zio.port.${request.port}.address`);
      if (address === undefined || !connectable(address)) {
        const which = `${request.node}\0${request.port}`;
        if (!counted?.has(which) && !failed.has(which)) this.#unresolved++;
        failed.add(which);
        continue;
      }
      wanted.add(address);
    }
    if (failed.size > 0) this.#unresolvedBy.set(uuid, failed);
    else this.#unresolvedBy.delete(uuid);
    // A new HELLO from a known uuid replaces what it published before.
    const before = this.#byPeer.get(uuid);
    const held = new Set<string>();
    if (before) {
      for (const address of before) {
        if (wanted.has(address)) held.add(address);
        else this.release(address, uuid);
      }
    }
    for (const address of wanted) if (!held.has(address) && this.hold(address, uuid)) held.add(address);
    if (held.size === 0) this.#byPeer.delete(uuid);
    else this.#byPeer.set(uuid, held);
  }

  #exited(uuid: string): void {
    this.#unresolvedBy.delete(uuid);
    const addresses = this.#byPeer.get(uuid);
    if (!addresses) return;
    this.#byPeer.delete(uuid);
    for (const address of addresses) this.release(address, uuid);
  }

  /** Holds `address` (for peer `uuid`, else directly), connecting it if it is the first holder. False when that connect failed. */
  hold(address: string, uuid?: string): boolean {
    const count = this.#refs.get(address) ?? 0;
    if (count === 0) {
      try {
        this.#connector.connect(address);
      } catch {
        this.#unresolved++;
        return false;
      }
    }
    this.#refs.set(address, count + 1);
    this.#changes.emit(uuid === undefined ? { type: "connect", address } : { type: "connect", address, uuid });
    return true;
  }

  /** Lets go of one hold of `address`, disconnecting it when that was the last. */
  release(address: string, uuid?: string): void {
    const count = this.#refs.get(address);
    if (count === undefined) return;
    if (count > 1) {
      this.#refs.set(address, count - 1);
    } else {
      this.#refs.delete(address);
      try {
        this.#connector.disconnect(address);
      } catch {
        // already gone with its socket or client
      }
    }
    this.#changes.emit(uuid === undefined ? { type: "disconnect", address } : { type: "disconnect", address, uuid });
  }

  /** Lets go of every peer's holds (each reported), disconnecting what no direct hold keeps. */
  releasePeers(): void {
    for (const uuid of [...this.#byPeer.keys()]) this.#exited(uuid);
  }

  /**
   * Forgets every hold without disconnecting (the socket went with them): one disconnect
   * reported per holder, as each connect was (with the peer's uuid for a hold by name).
   */
  forget(): void {
    const direct = new Map(this.#refs);
    for (const [uuid, addresses] of this.#byPeer) {
      for (const address of addresses) {
        this.#changes.emit({ type: "disconnect", address, uuid });
        direct.set(address, (direct.get(address) ?? 1) - 1);
      }
    }
    for (const [address, count] of direct) {
      for (let i = 0; i < count; i++) this.#changes.emit({ type: "disconnect", address });
    }
    this.#byPeer.clear();
    this.#refs.clear();
  }

  /** Ends every change consumer's loop. */
  close(): void {
    this.#changes.close();
  }
}

function connectable(address: string): boolean {
  try {
    normalizeEndpoint(address, "connect");
    return true;
  } catch {
    return false;
  }
}
