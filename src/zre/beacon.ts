/**
 * ZRE's UDP beacon: 22 bytes, `Z R E 0x01`, the sender's 16-byte UUID and its mailbox TCP port
 * (big-endian; 0 means "leaving"), broadcast every interval to the chosen interface's broadcast
 * address. The receiver takes the peer's address from the datagram's source address.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { ProtocolError, ZerokitError } from "../core/errors.js";

export const BEACON_SIZE = 22;
const PREFIX = Buffer.from([0x5a, 0x52, 0x45, 0x01]);

/** A decoded beacon. `uuid` is 32 upper-case hex digits. */
export interface BeaconData {
  uuid: string;
  port: number;
}

/** Encodes a beacon; `uuid` is 16 bytes. */
export function encodeBeacon(uuid: Uint8Array, port: number): Buffer {
  const buffer = Buffer.alloc(BEACON_SIZE);
  PREFIX.copy(buffer, 0);
  buffer.set(uuid, 4);
  buffer.writeUInt16BE(port, 20);
  return buffer;
}

/**
 * Decodes a beacon.
 *
 * @throws {ProtocolError} for a wrong length, signature or version.
 */
export function decodeBeacon(datagram: Buffer): BeaconData {
  if (datagram.length !== BEACON_SIZE) throw new ProtocolError(`a beacon is 22 bytes, not ${datagram.length}`);
  if (datagram[0] !== 0x5a || datagram[1] !== 0x52 || datagram[2] !== 0x45) {
    throw new ProtocolError("not a ZRE beacon (bad signature)");
  }
  if (datagram[3] !== 0x01) throw new ProtocolError(`beacon version ${datagram[3]} (only 1 is spoken)`);
  return { uuid: datagram.toString("hex", 4, 20).toUpperCase(), port: datagram.readUInt16BE(20) };
}

/** The interface a peer beacons on: its IPv4 address, netmask and broadcast address. */
export interface BeaconInterface {
  name: string;
  address: string;
  netmask: string;
  broadcast: string;
}

/**
 * Chooses the interface as Zyre does: `name`, else the `ZSYS_INTERFACE` environment variable,
 * else the first broadcast-capable (IPv4, not loopback, not point-to-point) interface.
 *
 * @throws {ZerokitError} (code `ENOIFACE`) when that interface has no IPv4 address.
 */
export function chooseInterface(name: string | undefined, env: NodeJS.ProcessEnv = process.env): BeaconInterface {
  const wanted = name ?? (env.ZSYS_INTERFACE ? env.ZSYS_INTERFACE : undefined);
  for (const [ifName, addresses] of Object.entries(networkInterfaces())) {
    if (wanted !== undefined && ifName !== wanted) continue;
    for (const info of addresses ?? []) {
      if (info.family !== "IPv4") continue;
      if (wanted === undefined && (info.internal || info.netmask === "255.255.255.255")) continue;
      return { name: ifName, address: info.address, netmask: info.netmask, broadcast: broadcastOf(info) };
    }
  }
  throw new ZerokitError(
    wanted === undefined
      ? "no broadcast-capable IPv4 interface found (set the interface option or ZSYS_INTERFACE)"
      : `interface ${JSON.stringify(wanted)} has no IPv4 address`,
    "ENOIFACE",
  );
}

function toInt(address: string): number {
  return address.split(".").reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0);
}

function fromInt(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

function broadcastOf(info: { address: string; netmask: string }): string {
  return fromInt((toInt(info.address) | ~toInt(info.netmask)) >>> 0);
}

/** Whether `address` lies in the interface's subnet (beacons from anywhere else are not ours to follow). */
export function onSubnet(iface: BeaconInterface, address: string): boolean {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) return false;
  const mask = toInt(iface.netmask);
  return (toInt(address) & mask) >>> 0 === (toInt(iface.address) & mask) >>> 0;
}

/** What a {@link Beacon} hears: a well-formed beacon from someone else, or a datagram it ignored and why. */
export interface BeaconListener {
  beacon(data: BeaconData, address: string): void;
  ignored(reason: "malformed" | "foreign"): void;
}

/**
 * One UDP socket that broadcasts this peer's beacon every `interval` ms and reports the beacons
 * it hears (its own excluded). Several on one host share the port (SO_REUSEADDR: Linux delivers
 * every broadcast to each). Datagrams are handled inside one boundary: nothing they contain can
 * throw out of it.
 */
export class Beacon {
  readonly #iface: BeaconInterface;
  readonly #port: number;
  readonly #own: string;
  readonly #uuid: Uint8Array;
  readonly #listener: BeaconListener;
  #socket: UdpSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #beacon: Buffer | undefined;

  constructor(iface: BeaconInterface, port: number, uuid: Uint8Array, listener: BeaconListener) {
    this.#iface = iface;
    this.#port = port;
    this.#uuid = uuid;
    this.#own = Buffer.from(uuid).toString("hex").toUpperCase();
    this.#listener = listener;
  }

  /** Binds the UDP port and starts broadcasting `mailboxPort` every `interval` ms. */
  async start(mailboxPort: number, interval: number): Promise<void> {
    const socket = createSocket({ type: "udp4", reuseAddr: true });
    socket.on("message", (datagram, rinfo) => this.#heard(datagram, rinfo.address));
    // A send error (no route) must not crash the process; the next interval tries again.
    socket.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(this.#port, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    this.#socket = socket;
    this.#beacon = encodeBeacon(this.#uuid, mailboxPort);
    this.#send(this.#beacon);
    this.#timer = setInterval(() => this.#send(this.#beacon!), interval);
    this.#timer.unref();
  }

  #send(datagram: Buffer): Promise<void> {
    const socket = this.#socket;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.send(datagram, this.#port, this.#iface.broadcast, () => resolve()));
  }

  #heard(datagram: Buffer, address: string): void {
    try {
      let data: BeaconData;
      try {
        data = decodeBeacon(datagram);
      } catch {
        this.#listener.ignored("malformed");
        return;
      }
      if (data.uuid === this.#own) return;
      if (!onSubnet(this.#iface, address)) {
        this.#listener.ignored("foreign");
        return;
      }
      this.#listener.beacon(data, address);
    } catch {
      // the receive boundary: a listener's failure must not become an uncaught socket error
    }
  }

  /** Broadcasts a port-0 beacon (leaving) and closes the socket. Safe twice. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    if (!socket) return;
    await this.#send(encodeBeacon(this.#uuid, 0));
    this.#socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
