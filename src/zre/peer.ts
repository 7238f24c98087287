/**
 * The discovery peer: a mailbox ROUTER that hears every remote peer, one DEALER per remote
 * mailbox (a {@link PeerSet}, routing id `0x01` + own uuid), and a way to find them: UDP beacons
 * on one interface, or a zgossip hub. It speaks ZRE v2 as Zyre 2.x and pyre do.
 */
import { randomBytes } from "node:crypto";
import { normalizeEndpoint } from "../core/endpoint.js";
import { ClosedError, InvalidArgumentError, TimeoutError, ZerokitError } from "../core/errors.js";
import { Feed } from "../core/feed.js";
import {
  checkBoolean,
  checkDuration,
  checkGroup,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
  checkString,
  MAX_GROUP,
} from "../core/options.js";
import { type Peer as Link, PeerSet } from "../core/peers.js";
import type { Frame, Message } from "../core/socket.js";
import { Dealer, Router } from "../core/sockets.js";
import { receiveEach, waitWithin } from "../core/wait.js";
import { Beacon, type BeaconInterface, chooseInterface } from "./beacon.js";
import { decodeZre, encodeZre, type ZreMessage } from "./codec.js";
import { GossipClient, GossipHub } from "./gossip.js";
import { type PeerInfo, RemotePeer } from "./remote.js";

/** How peers find each other. */
export type Discovery =
  | {
      mode: "beacon";
      /** The interface to beacon on; default `ZSYS_INTERFACE`, else the first broadcast-capable one. */
      interface?: string;
      /** The UDP port. Default 5670. */
      port?: number;
    }
  | {
      mode: "gossip";
      /** The hub, `tcp://host:port`. */
      endpoint: string;
      /** Be the hub: bind `endpoint` (and take part as a peer). Default false. */
      bind?: boolean;
      /** The interface whose address the mailbox binds on (chosen as in beacon mode). */
      interface?: string;
    };

/** Options of {@link Peer}. */
export interface PeerOptions {
  /** Headers sent in the HELLO (string values; they cannot change after start). */
  headers?: Record<string, string> | ReadonlyMap<string, string>;
  /** Default `{ mode: "beacon" }`. */
  discovery?: Discovery;
  /** Beacon interval and liveness check period, ms. Default 1000. */
  interval?: number;
  /**
   * Silence after which a peer is pinged and reported EVASIVE, ms. Default 5000. A peer that
   * stays silent one reap interval longer (the smallest of `evasive`, `expired` and 1 s: the PING
   * went unanswered) is reported SILENT, as Zyre does.
   */
  evasive?: number;
  /** Silence after which a peer is dropped (EXIT), ms. Default 30000. */
  expired?: number;
  /** Most remote peers held (heard or entered). Default 10,000. */
  maxPeers?: number;
  /** Events each {@link Peer.events} consumer may fall behind by before losing the oldest. Default 10,000. */
  eventBuffer?: number;
  /** Largest frame the mailbox accepts, bytes (a bigger one drops that connection). Default 64 MiB. */
  maxMessageSize?: number;
}

/** What happens on the network, as the application hears it. */
export type PeerEvent =
  | { type: "ENTER"; uuid: string; name: string; headers: ReadonlyMap<string, string>; endpoint: string }
  | { type: "EXIT" | "EVASIVE" | "SILENT"; uuid: string; name: string }
  | { type: "JOIN" | "LEAVE"; uuid: string; name: string; group: string }
  | { type: "WHISPER"; uuid: string; name: string; content: Buffer[] }
  | { type: "SHOUT"; uuid: string; name: string; group: string; content: Buffer[] };

/** What a peer ignored or refused, by kind. Every counter only grows. */
export interface PeerStats {
  /** Datagrams on the beacon port that were not a valid ZRE beacon. */
  beaconsMalformed: number;
  /** Beacons from outside the interface's subnet. */
  beaconsForeign: number;
  /** Mailbox messages with a bad identity, signature, version, field or length. */
  messagesMalformed: number;
  /** Well-formed messages with a command id this side does not know (ELECT, LEADER...). */
  messagesUnknown: number;
  /** Messages from a peer that had not said HELLO. */
  messagesBeforeHello: number;
  /** Peers dropped because a sequence number was skipped. */
  sequenceGaps: number;
  /** JOIN/LEAVE whose status was not the record + 1. */
  statusMismatches: number;
  /** Peers not added because `maxPeers` were held or no socket could be made for them. */
  peersRefused: number;
  /** Group memberships of a remote peer not followed: beyond 10,000 per peer, or a name over 255 bytes. */
  groupsRefused: number;
  /** Gossip messages the hub or client could not use. */
  gossipIgnored: number;
  /** Events a slow consumer lost. */
  eventsDropped: number;
}

const DEFAULT_PORT = 5670;
/** Most groups one remote peer is followed in: what a peer may make this one hold is bounded. */
const MAX_GROUPS_PER_PEER = 10_000;
const EMPTY = Buffer.alloc(0);

/** A peer that is not known (never entered, or exited). */
export class UnknownPeerError extends ZerokitError {
  override name = "UnknownPeerError";
  readonly uuid: string;
  constructor(uuid: string) {
    super(`no peer ${uuid} is known`, "ENOPEER");
    this.uuid = uuid;
  }
}

interface Remote {
  state: RemotePeer;
  link: Link<Dealer>;
}

function byteLength(name: string, value: string, max: number): void {
  if (Buffer.byteLength(value, "utf8") > max) {
    throw new InvalidArgumentError(name, value, `a string of at most ${max} UTF-8 bytes`);
  }
}

function checkFrames(name: string, frames: unknown): asserts frames is readonly Frame[] {
  const ok =
    Array.isArray(frames) &&
    frames.every((f) => typeof f === "string" || f instanceof Uint8Array || f instanceof ArrayBuffer);
  if (!ok)
    throw new InvalidArgumentError(name, frames, "an array of frames (Buffer, Uint8Array, ArrayBuffer or string)");
}

/**
 * A ZRE peer. Single-threaded like everything in Node: every method may be called from any
 * callback; sends to one remote go out in call order.
 *
 * @example
 * await using peer = new Peer("alice", { discovery: { mode: "beacon", interface: "lo" } });
 * await peer.start();
 * const bob = await peer.waitFor("bob", { timeout: 5000 });
 * await peer.whisper(bob.uuid, ["hi"]);
 */
export class Peer implements AsyncDisposable {
  readonly name: string;
  /** This peer's uuid: 32 upper-case hex digits, as `zyre_uuid()`. */
  readonly uuid: string;
  readonly #uuidBytes: Buffer;
  readonly #headers: ReadonlyMap<string, string>;
  readonly #discovery: Discovery;
  readonly #interval: number;
  readonly #liveness: { evasive: number; expired: number };
  readonly #maxPeers: number;
  readonly #maxMessageSize: number;
  readonly #remotes = new Map<string, Remote>();
  /**
   * The uuid holding each mailbox endpoint (normalized), in step with {@link #remotes}: one
   * remote per endpoint, since a peer heard at a known endpoint replaces the one held there.
   */
  readonly #byEndpoint = new Map<string, string>();
  readonly #groups = new Set<string>();
  #status = 0;
  readonly #stats: PeerStats = {
    beaconsMalformed: 0,
    beaconsForeign: 0,
    messagesMalformed: 0,
    messagesUnknown: 0,
    messagesBeforeHello: 0,
    sequenceGaps: 0,
    statusMismatches: 0,
    peersRefused: 0,
    groupsRefused: 0,
    gossipIgnored: 0,
    eventsDropped: 0,
  };
  readonly #feed: Feed<PeerEvent>;
  #links: PeerSet<Dealer> | undefined;
  #mailbox: Router | undefined;
  #endpoint = "";
  #iface: BeaconInterface | undefined;
  #beacon: Beacon | undefined;
  #hub: GossipHub | undefined;
  #hubEndpoint = "";
  #gossip: GossipClient | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #state: "new" | "starting" | "running" | "stopped" = "new";

  constructor(name: string, options: PeerOptions = {}) {
    checkString("name", name);
    if (name === undefined) throw new InvalidArgumentError("name", name, "a string");
    byteLength("name", name, 255);
    checkObject("options", options);
    const headers = options.headers instanceof Map ? options.headers : new Map(Object.entries(options.headers ?? {}));
    if (options.headers !== undefined && !(options.headers instanceof Map))
      checkObject("options.headers", options.headers);
    for (const [key, value] of headers) {
      checkString(`options.headers[${JSON.stringify(key)}]`, value);
      if (typeof key !== "string" || value === undefined) {
        throw new InvalidArgumentError(`options.headers[${JSON.stringify(key)}]`, value, "a string");
      }
      byteLength("options.headers key", key, 255);
    }
    const discovery = options.discovery ?? { mode: "beacon" };
    checkObject("options.discovery", discovery);
    checkOneOf("options.discovery.mode", discovery.mode, ["beacon", "gossip"]);
    checkString("options.discovery.interface", discovery.interface, { nonEmpty: true });
    if (discovery.mode === "beacon") {
      checkNumber("options.discovery.port", discovery.port, { min: 1, max: 65535, integer: true });
    } else {
      if (discovery.endpoint === undefined) {
        throw new InvalidArgumentError("options.discovery.endpoint", undefined, "the hub's tcp:// endpoint");
      }
      checkString("options.discovery.endpoint", discovery.endpoint, { nonEmpty: true });
      checkBoolean("options.discovery.bind", discovery.bind);
      normalizeEndpoint(discovery.endpoint, discovery.bind ? "bind" : "connect");
    }
    checkDuration("options.interval", options.interval);
    checkDuration("options.evasive", options.evasive);
    checkDuration("options.expired", options.expired);
    checkNumber("options.maxPeers", options.maxPeers, { min: 1, integer: true });
    checkNumber("options.eventBuffer", options.eventBuffer, { min: 1, integer: true });
    checkNumber("options.maxMessageSize", options.maxMessageSize, { min: 256, integer: true });
    this.name = name;
    this.#headers = new Map(headers);
    this.#discovery = { ...discovery };
    this.#interval = options.interval ?? 1000;
    this.#liveness = { evasive: options.evasive ?? 5000, expired: options.expired ?? 30000 };
    if (this.#liveness.expired <= this.#liveness.evasive) {
      throw new InvalidArgumentError("options.expired", this.#liveness.expired, "more than options.evasive");
    }
    this.#maxPeers = options.maxPeers ?? 10_000;
    this.#maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
    this.#uuidBytes = randomBytes(16);
    this.uuid = this.#uuidBytes.toString("hex").toUpperCase();
    this.#feed = new Feed(options.eventBuffer ?? 10_000, () => this.#stats.eventsDropped++, "the peer stopped");
  }

  /** The counters of what was ignored (a copy). */
  get stats(): PeerStats {
    return { ...this.#stats };
  }

  /** The mailbox endpoint others connect to (after {@link start}). */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** In gossip mode with `bind`, the hub's bound endpoint (a `*` port resolved) after {@link start}. */
  get hubEndpoint(): string {
    return this.#hubEndpoint;
  }

  /** The interface discovery uses (after {@link start}). */
  get interface(): BeaconInterface | undefined {
    return this.#iface;
  }

  /** The groups this peer is in. */
  get groups(): readonly string[] {
    return [...this.#groups];
  }

  /**
   * Binds the mailbox on the interface's address and starts discovery (beacons or gossip).
   *
   * @throws {ZerokitError} (code `ENOIFACE`) when the interface has no IPv4 address.
   * @throws {ClosedError} after {@link stop}.
   * @example
   * await peer.start();
   */
  async start(): Promise<void> {
    if (this.#state === "stopped") throw new ClosedError("the peer was stopped");
    if (this.#state !== "new") throw new ZerokitError("the peer is already started", "EALREADY");
    this.#state = "starting";
    try {
      const iface = chooseInterface(this.#discovery.interface);
      this.#iface = iface;
      const routingId = Buffer.concat([Buffer.from([1]), this.#uuidBytes]);
      this.#links = new PeerSet<Dealer>({
        socket: (security) =>
          new Dealer({
            ...security,
            // zeromq.js types the id as a string, but passes bytes through unchanged.
            routingId: routingId as unknown as string,
            linger: 500,
          }),
        maxPeers: this.#maxPeers,
      });
      // handover: a peer that reconnects with its routing id (after replacing us) is heard at once.
      const mailbox = new Router({ linger: 0, maxMessageSize: this.#maxMessageSize, handover: true });
      this.#mailbox = mailbox;
      this.#endpoint = await mailbox.bind(`tcp://${iface.address}:*`);
      this.#loop = this.#receive(mailbox);
      const port = Number(this.#endpoint.slice(this.#endpoint.lastIndexOf(":") + 1));
      if (this.#discovery.mode === "beacon") {
        this.#beacon = new Beacon(iface, this.#discovery.port ?? DEFAULT_PORT, this.#uuidBytes, {
          beacon: (data, address) => {
            if (data.port === 0) this.#drop(data.uuid);
            else if (!this.#remotes.has(data.uuid)) this.#require(data.uuid, `tcp://${address}:${data.port}`);
          },
          ignored: (reason) => {
            if (reason === "malformed") this.#stats.beaconsMalformed++;
            else this.#stats.beaconsForeign++;
          },
        });
        await this.#beacon.start(port, this.#interval);
      } else {
        const tuple = (key: string, value: string) => {
          if (key !== this.uuid && !this.#remotes.has(key)) this.#require(key, value);
        };
        const ignored = () => this.#stats.gossipIgnored++;
        if (this.#discovery.bind) {
          this.#hub = new GossipHub({
            maxTuples: this.#maxPeers,
            maxClients: this.#maxPeers,
            onTuple: tuple,
            onIgnored: ignored,
          });
          this.#hubEndpoint = await this.#hub.bind(this.#discovery.endpoint);
          this.#hub.publish(this.uuid, this.#endpoint);
        } else {
          this.#gossip = new GossipClient({ onTuple: tuple, onIgnored: ignored });
          this.#gossip.connect(this.#discovery.endpoint, this.uuid, this.#endpoint);
        }
      }
      this.#ticker = setInterval(() => this.#tick(), this.#interval);
      this.#ticker.unref();
      this.#state = "running";
    } catch (error) {
      await this.#shutdown(false);
      throw error;
    }
  }

  /** The known peers (those that said HELLO), with their groups and headers. */
  peers(): PeerInfo[] {
    const list: PeerInfo[] = [];
    for (const remote of this.#remotes.values()) if (remote.state.ready) list.push(remote.state.info());
    return list;
  }

  /**
   * The events from now on, until the peer stops or `signal` aborts (the loop then ends
   * normally). Several consumers may iterate at once; each sees every event.
   *
   * @example
   * for await (const ev of peer.events({ signal })) if (ev.type === "ENTER") console.log(ev.name);
   */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<PeerEvent> {
    checkObject("options", options);
    checkSignal("options.signal", options.signal);
    return this.#feed.subscribe(options.signal);
  }

  /**
   * Resolves with the first peer named `name`: one already known, or the next to enter.
   *
   * @throws {TimeoutError} after `timeout` ms. @throws {AbortError} when `signal` aborts.
   * @example
   * const bob = await peer.waitFor("bob", { timeout: 5000 });
   */
  async waitFor(name: string, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<PeerInfo> {
    if (name === undefined) throw new InvalidArgumentError("name", name, "a string"); // else it waits for nobody
    checkString("name", name);
    checkObject("options", options);
    checkDuration("options.timeout", options.timeout, { orInfinity: true });
    checkSignal("options.signal", options.signal);
    const timedOut = (ms: number) => new TimeoutError(`no peer named ${JSON.stringify(name)} within ${ms} ms`, ms);
    const isEnter = (event: PeerEvent) => event.type === "ENTER" && event.name === name;
    return waitWithin({ timeout: options.timeout, signal: options.signal, timedOut }, async (signal) => {
      const entered = this.#feed.first(isEnter, signal);
      entered.catch(() => {}); // abandoned when the peer is already known
      const known = this.peers().find((info) => info.name === name);
      if (known) return known;
      let event = await entered;
      // It may have exited again in between: then wait for the next one, under the same deadline.
      for (;;) {
        const info = this.#remotes.get(event.uuid)?.state.info();
        if (info) return info;
        event = await this.#feed.first(isEnter, signal);
      }
    });
  }

  /**
   * Joins `group`: every peer is told (JOIN with the new status). Joining a group already
   * joined does nothing.
   *
   * @example
   * await peer.join("G");
   */
  async join(group: string): Promise<void> {
    checkGroup("group", group, true);
    if (this.#groups.has(group)) return;
    this.#groups.add(group);
    this.#changeGroup("JOIN", group);
  }

  /** Leaves `group` (LEAVE with the new status to every peer). Leaving a group not joined does nothing. */
  async leave(group: string): Promise<void> {
    checkGroup("group", group, true);
    if (!this.#groups.delete(group)) return;
    this.#changeGroup("LEAVE", group);
  }

  #changeGroup(command: "JOIN" | "LEAVE", group: string): void {
    this.#status = (this.#status + 1) & 0xff;
    for (const remote of this.#remotes.values()) {
      this.#post(remote, { command, sequence: 0, group, status: this.#status });
    }
  }

  /**
   * Sends `frames` to the peer `uuid`. Resolves when ZeroMQ took the message.
   *
   * @throws {UnknownPeerError} when no such peer is known.
   * @example
   * await peer.whisper(bob.uuid, [Buffer.from("hi")]);
   */
  async whisper(uuid: string, frames: readonly Frame[]): Promise<void> {
    checkString("uuid", uuid);
    checkFrames("frames", frames);
    const remote = this.#remotes.get(uuid);
    if (!remote?.state.ready) throw new UnknownPeerError(uuid);
    const [frame0] = encodeZre({ command: "WHISPER", sequence: remote.state.nextSequence(), content: [] });
    await remote.link.socket.send([frame0!, ...(frames.length === 0 ? [EMPTY] : frames)]);
  }

  /**
   * Sends `frames` to every peer in `group` (this peer need not be in it). Resolves when ZeroMQ
   * took every copy.
   *
   * @example
   * await peer.shout("G", ["hello, group"]);
   */
  async shout(group: string, frames: readonly Frame[]): Promise<void> {
    checkGroup("group", group, true);
    checkFrames("frames", frames);
    const content = frames.length === 0 ? [EMPTY] : frames;
    const sends: Promise<void>[] = [];
    for (const remote of this.#remotes.values()) {
      if (!remote.state.ready || !remote.state.inGroup(group)) continue;
      const [frame0] = encodeZre({ command: "SHOUT", sequence: remote.state.nextSequence(), group, content: [] });
      sends.push(remote.link.socket.send([frame0!, ...content]));
    }
    await Promise.all(sends);
  }

  #post(remote: Remote, message: ZreMessage): void {
    (message as { sequence: number }).sequence = remote.state.nextSequence();
    remote.link.socket.post(encodeZre(message));
  }

  /** Connects to a peer heard of (beacon, gossip or HELLO) and says HELLO. */
  #require(uuid: string, endpoint: string): Remote | undefined {
    const links = this.#links;
    if (!links || this.#state === "stopped") return undefined;
    let key: string;
    try {
      key = normalizeEndpoint(endpoint, "connect");
    } catch {
      this.#stats.messagesMalformed++;
      return undefined;
    }
    if (!key.startsWith("tcp://")) {
      this.#stats.messagesMalformed++;
      return undefined;
    }
    const moved = this.#remotes.get(uuid);
    if (moved && moved.link.endpoint !== key) this.#drop(uuid);
    // A known endpoint under another (or a replaced) uuid: that peer is gone, and its DEALER is
    // kept for the new one, since a second connection with the same routing id would be refused
    // by the remote ROUTER until the first one closed, losing the HELLO.
    let link: Link<Dealer> | undefined;
    const other = this.#byEndpoint.get(key);
    if (other !== undefined) {
      link = this.#remotes.get(other)?.link;
      this.#drop(other, true);
    }
    if (!link) {
      if (this.#remotes.size >= this.#maxPeers) {
        this.#stats.peersRefused++;
        return undefined;
      }
      try {
        link = links.add(key);
      } catch {
        // no socket to be had (the context's or the process's limit): like a full set
        this.#stats.peersRefused++;
        return undefined;
      }
    }
    const remote: Remote = { state: new RemotePeer(uuid, key, this.#liveness, performance.now()), link };
    this.#remotes.set(uuid, remote);
    this.#byEndpoint.set(key, uuid);
    this.#post(remote, {
      command: "HELLO",
      sequence: 0,
      endpoint: this.#endpoint,
      groups: [...this.#groups],
      status: this.#status,
      name: this.name,
      headers: this.#headers,
    });
    return remote;
  }

  /** Forgets a peer (keeping its DEALER when `keepLink`); EXIT when it had entered. */
  #drop(uuid: string, keepLink = false): void {
    const remote = this.#remotes.get(uuid);
    if (!remote) return;
    this.#remotes.delete(uuid);
    if (this.#byEndpoint.get(remote.link.endpoint) === uuid) this.#byEndpoint.delete(remote.link.endpoint);
    if (!keepLink) this.#links?.remove(remote.link.endpoint);
    if (remote.state.ready) this.#feed.emit({ type: "EXIT", uuid, name: remote.state.name });
  }

  /** The mailbox's receive boundary: whatever a peer sent, the loop goes on (counted as malformed). */
  #receive(mailbox: Router): Promise<void> {
    return receiveEach(
      mailbox,
      (message) => this.#handle(message),
      () => this.#stats.messagesMalformed++,
    );
  }

  #handle(frames: Message): void {
    const identity = frames[0];
    if (identity?.length !== 17 || identity[0] !== 1 || frames.length < 2) {
      this.#stats.messagesMalformed++;
      return;
    }
    let message: ZreMessage;
    try {
      message = decodeZre(frames.slice(1));
    } catch {
      this.#stats.messagesMalformed++;
      return;
    }
    const uuid = identity.toString("hex", 1).toUpperCase();
    if (uuid === this.uuid) return;
    let remote = this.#remotes.get(uuid);
    if (message.command === "HELLO") {
      // A new HELLO from a known uuid starts over (#require keeps the DEALER when the endpoint is the same).
      if (remote?.state.ready || (remote && normalizeEndpointSafe(message.endpoint) !== remote.link.endpoint)) {
        remote = undefined;
      }
      remote ??= this.#require(uuid, message.endpoint);
      if (!remote) return;
      if (!remote.state.accept(message.sequence, true)) {
        this.#stats.sequenceGaps++;
        this.#drop(uuid);
        return;
      }
      remote.state.refresh(performance.now());
      // JOIN carries a group as a short string: a longer one in a HELLO is none a peer could have joined.
      const groups = message.groups.filter((group) => Buffer.byteLength(group, "utf8") <= MAX_GROUP);
      this.#stats.groupsRefused += message.groups.length - groups.length;
      message.groups = groups;
      if (message.groups.length > MAX_GROUPS_PER_PEER) {
        this.#stats.groupsRefused += message.groups.length - MAX_GROUPS_PER_PEER;
        message.groups.length = MAX_GROUPS_PER_PEER;
      }
      remote.state.hello(message.name, message.headers, message.groups, message.status);
      const name = message.name;
      this.#feed.emit({ type: "ENTER", uuid, name, headers: message.headers, endpoint: remote.link.endpoint });
      // Its groups as recorded (a set): a HELLO naming a group twice joins it once.
      for (const group of remote.state.groups) this.#feed.emit({ type: "JOIN", uuid, name, group });
      return;
    }
    if (!remote?.state.ready) {
      this.#stats.messagesBeforeHello++;
      return;
    }
    const state = remote.state;
    if (!state.accept(message.sequence, false)) {
      this.#stats.sequenceGaps++;
      this.#drop(uuid);
      return;
    }
    state.refresh(performance.now());
    const name = state.name;
    switch (message.command) {
      case "WHISPER":
        this.#feed.emit({ type: "WHISPER", uuid, name, content: message.content });
        return;
      case "SHOUT":
        this.#feed.emit({ type: "SHOUT", uuid, name, group: message.group, content: message.content });
        return;
      case "JOIN":
      case "LEAVE": {
        if (message.command === "JOIN" && !state.inGroup(message.group) && state.groups.size >= MAX_GROUPS_PER_PEER) {
          // Not followed, so its later status is off by one: counted as a mismatch then, never fatal.
          this.#stats.groupsRefused++;
          return;
        }
        const change =
          message.command === "JOIN"
            ? state.join(message.group, message.status)
            : state.leave(message.group, message.status);
        if (!change.exact) this.#stats.statusMismatches++;
        if (change.changed) this.#feed.emit({ type: message.command, uuid, name, group: message.group });
        return;
      }
      case "PING":
        this.#post(remote, { command: "PING-OK", sequence: 0 });
        return;
      case "PING-OK":
        return;
      case "GOODBYE":
        this.#drop(uuid);
        return;
      case "UNKNOWN":
        this.#stats.messagesUnknown++;
        return;
    }
  }

  #tick(): void {
    try {
      const now = performance.now();
      for (const remote of [...this.#remotes.values()]) {
        const { vitality, firstEvasive, firstSilent } = remote.state.check(now);
        if (vitality === "expired") this.#drop(remote.state.uuid);
        else if (vitality === "evasive" && remote.state.ready) {
          this.#post(remote, { command: "PING", sequence: 0 });
          if (firstEvasive) this.#feed.emit({ type: "EVASIVE", uuid: remote.state.uuid, name: remote.state.name });
          if (firstSilent) this.#feed.emit({ type: "SILENT", uuid: remote.state.uuid, name: remote.state.name });
        }
      }
    } catch {
      // a timer callback must never throw: the next tick tries again
    }
  }

  /**
   * Tells every peer this one is leaving (GOODBYE, and a port-0 beacon), closes every socket
   * and ends the event loops. Safe twice.
   *
   * @example
   * await peer.stop();
   */
  async stop(): Promise<void> {
    await this.#shutdown(true);
  }

  async #shutdown(goodbye: boolean): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    if (this.#ticker) clearInterval(this.#ticker);
    if (goodbye) await this.#goodbyes();
    await this.#beacon?.stop();
    await this.#gossip?.close();
    await this.#hub?.close();
    this.#mailbox?.close();
    await this.#loop;
    this.#remotes.clear();
    this.#byEndpoint.clear();
    this.#links?.close();
    this.#feed.close();
  }

  /**
   * GOODBYE to every peer, waiting (at most one interval) until ZeroMQ took each: the port-0
   * beacon that follows travels by UDP and would otherwise overtake the last messages on TCP, so
   * a peer would drop this one before hearing what it said last.
   */
  async #goodbyes(): Promise<void> {
    const sends: Promise<void>[] = [];
    for (const remote of this.#remotes.values()) {
      const frames = encodeZre({ command: "GOODBYE", sequence: remote.state.nextSequence() });
      sends.push(remote.link.socket.send(frames).catch(() => {}));
    }
    if (sends.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#interval);
    });
    await Promise.race([Promise.all(sends), cap]);
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function normalizeEndpointSafe(endpoint: string): string {
  try {
    return normalizeEndpoint(endpoint, "connect");
  } catch {
    return endpoint;
  }
}
