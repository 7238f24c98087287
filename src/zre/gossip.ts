/**
 * zgossip as Zyre uses it, for networks without broadcast: clients (DEALER) tell a hub (ROUTER)
 * `uuid → mailbox endpoint` tuples. Frame `AA A0` + id + version 1; HELLO=1, PUBLISH=2 (key
 * string, value longstr, ttl uint32), PING=3, PONG=4, INVALID=5. The hub answers HELLO with every
 * tuple it holds, forwards each new or changed tuple to every client (its sender included), never
 * drops a silent client (Zyre's client never pings), and answers PING with PONG.
 */
import { ProtocolError } from "../core/errors.js";
import type { Message } from "../core/socket.js";
import { Dealer, Router } from "../core/sockets.js";
import { receiveEach } from "../core/wait.js";
import { Reader, Writer } from "./codec.js";

export type GossipMessage =
  | { command: "HELLO" | "PING" | "PONG" | "INVALID" }
  | { command: "PUBLISH"; key: string; value: string; ttl: number };

const IDS = { HELLO: 1, PUBLISH: 2, PING: 3, PONG: 4, INVALID: 5 } as const;
const NAMES = ["", "HELLO", "PUBLISH", "PING", "PONG", "INVALID"] as const;

/** Encodes one zgossip message as its single frame. */
export function encodeGossip(message: GossipMessage): Buffer {
  const w = new Writer();
  w.u8(0xaa);
  w.u8(0xa0);
  w.u8(IDS[message.command]);
  w.u8(1);
  if (message.command === "PUBLISH") {
    w.string(message.key);
    w.longstr(Buffer.from(message.value, "utf8"));
    w.u32(message.ttl);
  }
  return w.finish();
}

/**
 * Decodes one zgossip frame.
 *
 * @throws {ProtocolError} for a wrong signature, version or id, or a truncated field.
 */
export function decodeGossip(frame: Buffer): GossipMessage {
  const r = new Reader(frame, "zgossip");
  if (r.u8() !== 0xaa || r.u8() !== 0xa0) throw new ProtocolError("not a zgossip message (bad signature)");
  const id = r.u8();
  const version = r.u8();
  if (version !== 1) throw new ProtocolError(`zgossip version ${version} (only 1 is spoken)`);
  const command = NAMES[id];
  if (command === undefined || command === "") throw new ProtocolError(`unknown zgossip command ${id}`);
  if (command === "PUBLISH") return { command, key: r.string(), value: r.longstr(), ttl: r.u32() };
  return { command };
}

/** A key is a peer's uuid as 32 upper-case hex digits; anything else is not a ZRE tuple. */
const UUID_KEY = /^[0-9A-F]{32}$/;
const MAX_VALUE = 1024;

/** Hub and client alike follow only ZRE tuples: a uuid key and a short value. */
function checkTuple(key: string, value: string): void {
  if (!UUID_KEY.test(key) || value.length > MAX_VALUE) throw new ProtocolError("not a ZRE tuple");
}

/** Options of {@link GossipHub}. */
export interface GossipHubOptions {
  /** Most tuples held; further new keys are ignored (counted). */
  maxTuples: number;
  /** Most clients remembered; further new clients are ignored (counted). */
  maxClients: number;
  /** Called with every new or changed tuple (the owning peer connects to it). */
  onTuple: (key: string, value: string) => void;
  /** Called with every message the hub could not use. */
  onIgnored: () => void;
}

/**
 * The hub: a ROUTER holding tuples. One receive loop; nothing a client sends can throw out of it.
 * Its own tuple (the hub's peer) is added with {@link publish}.
 */
export class GossipHub {
  readonly #router = new Router({ linger: 0, maxMessageSize: 64 * 1024 });
  readonly #tuples = new Map<string, string>();
  readonly #clients = new Map<string, Buffer>();
  readonly #options: GossipHubOptions;
  #loop: Promise<void> | undefined;

  constructor(options: GossipHubOptions) {
    this.#options = options;
  }

  /** Binds the hub; resolves with the bound endpoint. */
  async bind(endpoint: string): Promise<string> {
    const bound = await this.#router.bind(endpoint);
    this.#loop = this.#run();
    return bound;
  }

  /** How many clients and tuples the hub holds. */
  get size(): { clients: number; tuples: number } {
    return { clients: this.#clients.size, tuples: this.#tuples.size };
  }

  /** Adds or changes a tuple and forwards it to every client when it is news. */
  publish(key: string, value: string): void {
    if (this.#tuples.get(key) === value) return;
    if (!this.#tuples.has(key) && this.#tuples.size >= this.#options.maxTuples) {
      this.#options.onIgnored();
      return;
    }
    this.#tuples.set(key, value);
    const frame = encodeGossip({ command: "PUBLISH", key, value, ttl: 0 });
    for (const id of this.#clients.values()) this.#router.post([id, frame]);
    this.#options.onTuple(key, value);
  }

  #run(): Promise<void> {
    return receiveEach(this.#router, (message) => this.#handle(message), this.#options.onIgnored);
  }

  #handle([id, frame, ...rest]: Message): void {
    if (!id || !frame || rest.length > 0) throw new ProtocolError("a zgossip message is one frame");
    const message = decodeGossip(frame);
    const client = id.toString("hex");
    if (!this.#clients.has(client)) {
      if (this.#clients.size >= this.#options.maxClients) throw new ProtocolError("too many gossip clients");
      this.#clients.set(client, id);
    }
    switch (message.command) {
      case "HELLO":
        for (const [key, value] of this.#tuples) {
          this.#router.post([id, encodeGossip({ command: "PUBLISH", key, value, ttl: 0 })]);
        }
        return;
      case "PUBLISH":
        checkTuple(message.key, message.value);
        this.publish(message.key, message.value);
        return;
      case "PING":
        this.#router.post([id, encodeGossip({ command: "PONG" })]);
        return;
      default:
        return;
    }
  }

  /** Closes the hub. Safe twice. */
  async close(): Promise<void> {
    this.#router.close();
    await this.#loop;
  }
}

/** Options of {@link GossipClient}. */
export interface GossipClientOptions {
  onTuple: (key: string, value: string) => void;
  onIgnored: () => void;
}

/** The client: a DEALER to the hub that says HELLO, publishes its own tuple, and reports the tuples it hears. */
export class GossipClient {
  readonly #dealer = new Dealer({ linger: 200, maxMessageSize: 64 * 1024 });
  readonly #options: GossipClientOptions;
  #hello: Buffer[] = [];
  #loop: Promise<void> | undefined;

  constructor(options: GossipClientOptions) {
    this.#options = options;
  }

  /** Connects to the hub at `endpoint` and publishes `key → value`. */
  connect(endpoint: string, key: string, value: string): void {
    this.#hello = [encodeGossip({ command: "HELLO" }), encodeGossip({ command: "PUBLISH", key, value, ttl: 0 })];
    this.#dealer.connect(endpoint);
    for (const frame of this.#hello) this.#dealer.post(frame);
    this.#loop = this.#run();
  }

  #run(): Promise<void> {
    return receiveEach(this.#dealer, (message) => this.#handle(message), this.#options.onIgnored);
  }

  #handle([frame, ...rest]: Message): void {
    if (!frame || rest.length > 0) throw new ProtocolError("a zgossip message is one frame");
    const decoded = decodeGossip(frame);
    if (decoded.command === "PUBLISH") {
      checkTuple(decoded.key, decoded.value);
      this.#options.onTuple(decoded.key, decoded.value);
    } else if (decoded.command === "INVALID") {
      // The hub lost track of us (it restarted): say HELLO and publish again, as zgossip does.
      for (const hello of this.#hello) this.#dealer.post(hello);
    } else if (decoded.command === "PING") {
      this.#dealer.post(encodeGossip({ command: "PONG" }));
    }
  }

  /** Closes the client. Safe twice. */
  async close(): Promise<void> {
    this.#dealer.close();
    await this.#loop;
  }
}
