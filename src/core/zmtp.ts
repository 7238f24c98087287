/**
 * ZMTP 3 (the ZeroMQ wire protocol, rfc.zeromq.org/spec/23 and /37) for one outgoing DEALER
 * connection with the NULL mechanism, in plain JavaScript over `node:net`. It exists for the
 * command line's plain call: a process that only makes one call starts in less time and memory
 * without loading zeromq.js and libzmq (about a fifth of such a call's wall time here). It is no
 * socket library: no CURVE, no bind, one peer. The caller falls back to zeromq.js for anything
 * else, which it can do safely because nothing is sent before the peer's handshake is known.
 * The server side (a ROUTER that binds, for the state server) is in zmtp-listener.ts.
 *
 * {@link ZmtpReader} is the byte-level protocol (pure, tested on its own); {@link ZmtpConnection}
 * is the transport: connecting, the handshake, reconnecting like libzmq, PING/PONG.
 */
import { connect, type Socket } from "node:net";
import { parseEndpoint } from "./endpoint.js";
import { ProtocolError } from "./errors.js";

/** The greeting of ZMTP 3.x: signature, version, mechanism, as-server, filler. */
const GREETING_BYTES = 64;
const MECHANISM_OFFSET = 12;
const MECHANISM_BYTES = 20;

const EMPTY = Buffer.alloc(0);
const FLAG_MORE = 0x01;
const FLAG_LONG = 0x02;
const FLAG_COMMAND = 0x04;

/** What the peer sent, in order. */
export type ZmtpInput =
  | { readonly kind: "greeting"; readonly major: number; readonly minor: number; readonly mechanism: string }
  | { readonly kind: "command"; readonly name: string; readonly data: Buffer }
  | { readonly kind: "message"; readonly frames: Buffer[] };

/** Bounds on what one peer can make the reader hold. */
export interface ZmtpLimits {
  /** The largest frame accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** The most frames one message may have. */
  readonly maxFrames: number;
  /** The largest message accepted (all its frames), in bytes. */
  readonly maxMessageBytes: number;
}

/**
 * Parses the bytes a peer sends into its greeting, commands and messages. Incremental: chunks
 * may split anything anywhere. A large frame is gathered into one buffer of its announced size
 * as its chunks come (no repeated concatenation); a frame wholly inside one chunk is a view of it.
 *
 * @throws {ProtocolError} from {@link push} on bytes that are not ZMTP 3, or beyond the limits.
 * @example
 * const reader = new ZmtpReader({ maxFrameBytes: 1 << 20, maxFrames: 16 });
 * for (const input of reader.push(chunk)) console.log(input.kind);
 */
export class ZmtpReader {
  readonly #limits: ZmtpLimits;
  /** Bytes of a greeting or frame header not yet complete. */
  #head: Buffer = EMPTY;
  #greeted = false;
  /** The frame whose body is being gathered. */
  #body: { buffer: Buffer; filled: number; flags: number } | undefined;
  #frames: Buffer[] = [];
  /** Bytes of the message being read so far, frame headers aside. */
  #messageBytes = 0;

  constructor(limits: ZmtpLimits) {
    this.#limits = limits;
  }

  /**
   * Takes the next chunk of bytes; returns what it completed, appended to `out`. When it throws,
   * `out` still holds what the chunk completed before the fault.
   */
  push(chunk: Buffer, out: ZmtpInput[] = []): ZmtpInput[] {
    let at = 0;
    while (at < chunk.length) {
      const body = this.#body;
      if (body) {
        const n = Math.min(body.buffer.length - body.filled, chunk.length - at);
        chunk.copy(body.buffer, body.filled, at, at + n);
        body.filled += n;
        at += n;
        if (body.filled === body.buffer.length) {
          this.#body = undefined;
          this.#frame(body.flags, body.buffer, out);
        }
        continue;
      }
      const flags = (this.#head.length > 0 ? this.#head[0] : chunk[at]) as number;
      const need = !this.#greeted ? GREETING_BYTES : flags & FLAG_LONG ? 9 : 2;
      if (this.#head.length === 0 && chunk.length - at >= need) {
        at = this.#headRead(chunk, at, out, true);
        continue;
      }
      // A greeting or header split across chunks: gathered here (at most 64 bytes).
      const take = Math.min(need - this.#head.length, chunk.length - at);
      this.#head = Buffer.concat([this.#head, chunk.subarray(at, at + take)]);
      at += take;
      // An older peer sends only the start of a greeting, then waits for ours to match it.
      if (!this.#greeted) checkGreetingStart(this.#head);
      if (this.#head.length === need) {
        const head = this.#head;
        this.#head = EMPTY;
        this.#headRead(head, 0, out, false);
      }
    }
    return out;
  }

  /**
   * Reads the complete greeting or frame header at `at` in `bytes`; when `bytes` is the chunk
   * (`inChunk`), the body's bytes that follow in it too. Returns where reading stopped.
   */
  #headRead(bytes: Buffer, at: number, out: ZmtpInput[], inChunk: boolean): number {
    if (!this.#greeted) {
      out.push(readGreeting(bytes.subarray(at, at + GREETING_BYTES)));
      this.#greeted = true;
      return at + GREETING_BYTES;
    }
    const flags = bytes[at] as number;
    if (flags & ~(FLAG_MORE | FLAG_LONG | FLAG_COMMAND)) {
      throw new ProtocolError(`a ZMTP frame with unknown flags 0x${flags.toString(16)}`);
    }
    let size: number;
    let start: number;
    if (flags & FLAG_LONG) {
      const big = bytes.readBigUInt64BE(at + 1);
      if (big > BigInt(this.#limits.maxFrameBytes)) throw tooLarge(big, this.#limits.maxFrameBytes);
      size = Number(big);
      start = at + 9;
    } else {
      size = bytes[at + 1] as number;
      start = at + 2;
    }
    if (size > this.#limits.maxFrameBytes) throw tooLarge(BigInt(size), this.#limits.maxFrameBytes);
    if (!(flags & FLAG_COMMAND)) {
      this.#messageBytes += size;
      if (this.#messageBytes > this.#limits.maxMessageBytes) {
        throw new ProtocolError(`a ZMTP message of more than ${this.#limits.maxMessageBytes} bytes`);
      }
    }
    if (!inChunk) {
      if (size === 0) this.#frame(flags, EMPTY, out);
      else this.#body = { buffer: Buffer.allocUnsafe(size), filled: 0, flags };
      return start;
    }
    if (bytes.length - start >= size) {
      this.#frame(flags, bytes.subarray(start, start + size), out);
      return start + size;
    }
    const buffer = Buffer.allocUnsafe(size);
    this.#body = { buffer, filled: bytes.copy(buffer, 0, start), flags };
    return bytes.length;
  }

  #frame(flags: number, body: Buffer, out: ZmtpInput[]): void {
    if (flags & FLAG_COMMAND) {
      if (flags & FLAG_MORE) throw new ProtocolError("a ZMTP command with the MORE flag");
      if (this.#frames.length > 0) throw new ProtocolError("a ZMTP command inside a message");
      const nameLength = body[0] ?? 0;
      if (body.length < 1 + nameLength) throw new ProtocolError("a ZMTP command shorter than its name");
      out.push({
        kind: "command",
        name: body.toString("latin1", 1, 1 + nameLength),
        data: body.subarray(1 + nameLength),
      });
      return;
    }
    this.#frames.push(body);
    if (flags & FLAG_MORE) {
      if (this.#frames.length >= this.#limits.maxFrames) {
        throw new ProtocolError(`a ZMTP message of more than ${this.#limits.maxFrames} frames`);
      }
      return;
    }
    const frames = this.#frames;
    this.#frames = [];
    this.#messageBytes = 0;
    out.push({ kind: "message", frames });
  }
}

function tooLarge(size: bigint, limit: number): ProtocolError {
  return new ProtocolError(`a ZMTP frame of ${size} bytes (the limit is ${limit})`);
}

/**
 * Checks as much of a greeting as has come, as libzmq does: a ZMTP 1.0 peer sends no signature
 * (its first byte is a frame length), and a ZMTP 2.0 peer stops after its revision byte and
 * socket type, so waiting for 64 bytes would wait for ever.
 */
function checkGreetingStart(bytes: Buffer): void {
  if (bytes.length >= 1 && bytes[0] !== 0xff) throw new ProtocolError("the peer speaks ZMTP 1.0 (no signature)");
  if (bytes.length >= 10 && ((bytes[9] as number) & 0x01) === 0) {
    throw new ProtocolError("the peer speaks ZMTP 1.0 (no signature)");
  }
  if (bytes.length >= 11 && (bytes[10] as number) < 3) {
    throw new ProtocolError(`the peer speaks an older ZMTP (revision ${bytes[10]}), not ZMTP 3`);
  }
}

function readGreeting(bytes: Buffer): ZmtpInput {
  checkGreetingStart(bytes);
  const mechanism = bytes.toString("latin1", MECHANISM_OFFSET, MECHANISM_OFFSET + MECHANISM_BYTES).replace(/\0+$/, "");
  return { kind: "greeting", major: bytes[10] as number, minor: bytes[11] as number, mechanism };
}

/** Our greeting: ZMTP 3.1, the NULL mechanism (whose as-server bit is 0 on both sides). */
export function encodeGreeting(): Buffer {
  const greeting = Buffer.alloc(GREETING_BYTES);
  greeting[0] = 0xff;
  greeting[9] = 0x7f;
  greeting[10] = 3;
  greeting[11] = 1;
  greeting.write("NULL", MECHANISM_OFFSET, "latin1");
  return greeting;
}

/** Writes a frame's header (flags and size) at `at` in `out`; returns where the body starts. */
function writeFrameHeader(out: Buffer, at: number, size: number, more: boolean, command = false): number {
  const long = size > 255;
  out[at] = (more ? FLAG_MORE : 0) | (long ? FLAG_LONG : 0) | (command ? FLAG_COMMAND : 0);
  if (!long) {
    out[at + 1] = size;
    return at + 2;
  }
  out.writeUInt32BE(Math.floor(size / 0x1_0000_0000), at + 1);
  out.writeUInt32BE(size >>> 0, at + 5);
  return at + 9;
}

/** A frame's header: flags and size. */
export function frameHeader(size: number, more: boolean, command = false): Buffer {
  const head = Buffer.allocUnsafe(size > 255 ? 9 : 2);
  writeFrameHeader(head, 0, size, more, command);
  return head;
}

/** The largest frame {@link ZmtpConnection.send} copies behind its header rather than writing apart. */
const COALESCE_BYTES = 2048;

/** One last frame, header and body in one buffer. */
function withHeader(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe((body.length > 255 ? 9 : 2) + body.length);
  body.copy(out, writeFrameHeader(out, 0, body.length, false));
  return out;
}

/**
 * Writes one message (one frame, or its frames) to `socket`. A small single frame goes with its
 * header in one write (from Node's buffer pool): one write request instead of two, for the
 * messages a State sends by the thousand.
 */
export function writeMessage(socket: Socket, frames: Buffer | readonly Buffer[]): void {
  if (Buffer.isBuffer(frames)) {
    if (frames.length <= COALESCE_BYTES) socket.write(withHeader(frames));
    else {
      socket.cork();
      socket.write(frameHeader(frames.length, false));
      socket.write(frames);
      socket.uncork();
    }
    return;
  }
  socket.cork();
  frames.forEach((frame, i) => {
    socket.write(frameHeader(frame.length, i < frames.length - 1));
    if (frame.length > 0) socket.write(frame);
  });
  socket.uncork();
}

/** A command frame's body: its name, then `data` (e.g. encoded properties). */
export function encodeCommand(name: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.allocUnsafe(1 + name.length + data.length);
  body[0] = name.length;
  body.write(name, 1, "latin1");
  data.copy(body, 1 + name.length);
  return Buffer.concat([frameHeader(body.length, false, true), body]);
}

/** ZMTP metadata: name-length, name, 4-byte value-length, value, for each property. */
export function encodeProperties(properties: ReadonlyMap<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of properties) {
    const head = Buffer.allocUnsafe(1 + name.length + 4);
    head[0] = name.length;
    head.write(name, 1, "latin1");
    head.writeUInt32BE(value.length, 1 + name.length);
    parts.push(head, value);
  }
  return Buffer.concat(parts);
}

/** Reads ZMTP metadata; names are case-insensitive (kept as sent, looked up lower-cased). */
export function decodeProperties(data: Buffer): Map<string, Buffer> {
  const properties = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const nameLength = data[at] as number;
    if (at + 1 + nameLength + 4 > data.length) throw new ProtocolError("a ZMTP property is cut short");
    const name = data.toString("latin1", at + 1, at + 1 + nameLength).toLowerCase();
    const valueLength = data.readUInt32BE(at + 1 + nameLength);
    const start = at + 1 + nameLength + 4;
    if (start + valueLength > data.length) throw new ProtocolError("a ZMTP property value is cut short");
    properties.set(name, data.subarray(start, start + valueLength));
    at = start + valueLength;
  }
  return properties;
}

/**
 * Most bytes waiting to be written before a PING goes unanswered: libzmq keeps one PONG pending,
 * and a peer that PINGs without reading must not make us queue without end.
 */
export const PONG_BACKLOG = 64 * 1024;

/** The socket types a DEALER may talk to (ZMTP 3: RFC 28's compatibility table). */
const DEALER_PEERS = new Set(["DEALER", "ROUTER", "REP"]);

/** Where to connect: what {@link parseEndpoint} gives for tcp and ipc. */
export type ZmtpAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/**
 * Where a connection to `endpoint` goes, for the tcp and ipc endpoints this connection can reach
 * (a host name is resolved by `node:net`); undefined for anything else (inproc, abstract ipc, a
 * scoped IPv6 address, an endpoint that does not parse), which zeromq.js must take.
 *
 * @example
 * zmtpAddress("tcp://127.0.0.1:4242"); // { host: "127.0.0.1", port: 4242 }
 */
export function zmtpAddress(endpoint: string): ZmtpAddress | undefined {
  let parsed: ReturnType<typeof parseEndpoint>;
  try {
    parsed = parseEndpoint(endpoint, "connect");
  } catch {
    return undefined;
  }
  if (parsed.transport === "ipc") return parsed.path.startsWith("@") ? undefined : { path: parsed.path };
  if (parsed.transport !== "tcp" || typeof parsed.port !== "number" || parsed.host.includes("%")) return undefined;
  const host = parsed.host.startsWith("[") ? parsed.host.slice(1, -1) : parsed.host;
  return { host, port: parsed.port };
}

/** What a {@link ZmtpConnection} tells its owner. */
export interface ZmtpEvents {
  /** The handshake completed: messages may be sent (again, after a reconnect). */
  ready(): void;
  /** A message from the peer. */
  message(frames: Buffer[]): void;
  /**
   * The peer is something this connection does not speak (another mechanism, an older ZMTP,
   * a socket type a DEALER cannot talk to, an ERROR command, a close in the handshake): `reason`
   * says which. Only before the first handshake completed: the connection is closed, and
   * zeromq.js can take over, as nothing was sent yet. After one completed, the same is a drop
   * and the connection is made again, as libzmq does (a proxy in front of a restarting server
   * closes connections at once for a while).
   */
  unsupported(reason: string): void;
  /** The connection dropped after its handshake (it reconnects on its own). */
  dropped(): void;
  /** What was written has gone to the kernel: {@link ZmtpConnection.congested} is false again. */
  drain?(): void;
}

/** How a {@link ZmtpConnection} reads what a peer does in a handshake. */
export interface ZmtpConnectionOptions {
  /**
   * For a long-lived owner that keeps what it has not sent (a queue): a peer that closes a
   * handshake before sending a byte is a drop, retried (a proxy whose backend is down does
   * that), and a refusal with a reason (another mechanism, ERROR, an older ZMTP, a partial
   * greeting then a close, as libzmq does to a NULL client of a CURVE server) is `unsupported`
   * even after a handshake once completed, so the owner can move to zeromq.js with nothing sent
   * twice. Default false (one call: any refusal in the first handshake is unsupported, every
   * later one a drop, so a request already sent is never sent again elsewhere).
   */
  readonly persistent?: boolean;
  /**
   * How long a handshake may take from the connect, in ms, before the connection is dropped
   * and made again (default 30,000, libzmq's `ZMQ_HANDSHAKE_IVL`). A fixed deadline: a peer
   * that trickles bytes does not extend it.
   */
  readonly handshakeMs?: number;
}

/** What libzmq allows a handshake (its `ZMQ_HANDSHAKE_IVL` default) before dropping the connection. */
export const HANDSHAKE_MS = 30_000;

/**
 * One DEALER's connection to one peer, with the NULL mechanism: connects, greets, reconnects
 * every `reconnectMs` when refused or dropped (as libzmq does), answers PING with PONG. Not
 * thread-safe nor shared: one owner calls {@link send} and {@link close}; events come on the
 * event loop. Sends before `ready` are refused (the owner waits for it).
 *
 * @example
 * const link = new ZmtpConnection({ host: "127.0.0.1", port: 4242 }, LIMITS, 100, {
 *   ready: () => link.send([Buffer.alloc(0), request]),
 *   message: (frames) => console.log(frames),
 *   unsupported: (reason) => console.error(reason),
 *   dropped: () => {},
 * });
 */
export class ZmtpConnection {
  readonly #address: ZmtpAddress;
  readonly #limits: ZmtpLimits;
  readonly #reconnectMs: number;
  readonly #events: ZmtpEvents;
  #socket: Socket | undefined;
  #ready = false;
  /** Whether a handshake ever completed (then a refused one is a drop, not unsupported). */
  #wasEverReady = false;
  #closed = false;
  readonly #persistent: boolean;
  readonly #handshakeMs: number;
  /** Whether the connection keeps the process alive (see {@link hold}). */
  #held = true;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    address: ZmtpAddress,
    limits: ZmtpLimits,
    reconnectMs: number,
    events: ZmtpEvents,
    options: ZmtpConnectionOptions = {},
  ) {
    this.#address = address;
    this.#limits = limits;
    this.#reconnectMs = reconnectMs;
    this.#events = events;
    this.#persistent = options.persistent ?? false;
    this.#handshakeMs = options.handshakeMs ?? HANDSHAKE_MS;
    this.#connect();
  }

  /** Whether the handshake is complete (so {@link send} may be called). */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Whether written bytes wait in memory for the kernel (the peer reads slower than we write):
   * an owner that bounds what it holds stops sending until `drain`.
   */
  get congested(): boolean {
    return this.#socket?.writableNeedDrain ?? false;
  }

  /**
   * Whether the connection (its socket, its reconnect timer) keeps the process alive: yes by
   * default; an owner with nothing waiting lets go, as a zeromq.js socket with no receive does.
   */
  hold(held: boolean): void {
    if (this.#held === held) return;
    this.#held = held;
    if (held) {
      this.#socket?.ref();
      this.#timer?.ref();
    } else {
      this.#socket?.unref();
      this.#timer?.unref();
    }
  }

  /**
   * Sends one message (one frame, or its frames); false when not connected (the caller's clocks
   * decide what follows).
   */
  send(frames: Buffer | readonly Buffer[]): boolean {
    const socket = this.#socket;
    if (!this.#ready || !socket) return false;
    writeMessage(socket, frames);
    return true;
  }

  /** Closes the connection and stops reconnecting. Safe to call twice. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#ready = false;
  }

  #connect(): void {
    const socket =
      "path" in this.#address ? connect(this.#address.path) : connect(this.#address.port, this.#address.host);
    this.#socket = socket;
    if (!this.#held) socket.unref();
    socket.setNoDelay(true);
    socket.write(encodeGreeting());
    const reader = new ZmtpReader(this.#limits);
    let greeted = false;
    let connected = false;
    /** Whether this connection's handshake completed (`#ready` is cleared before a drop). */
    let handshook = false;
    let received = 0;
    // A peer refusing what we are: we stop (unsupported) instead of reconnecting.
    let finished = false;
    const drop = () => {
      // Cleared now, not at "close": a send from a reply this chunk resolved must queue, not vanish.
      if (this.#socket === socket) this.#ready = false;
      socket.destroy(); // "close" reconnects
    };
    /** `positive`: the peer said what it refuses (not a bare close, which a proxy also does). */
    const unsupported = (reason: string, positive = true) => {
      const report = this.#wasEverReady ? this.#persistent && positive : !this.#persistent || positive;
      if (!report) return drop();
      finished = true;
      this.close();
      this.#events.unsupported(reason);
    };
    socket.on("connect", () => {
      connected = true;
      // A host name with several addresses is tried one socket handle after another (happy
      // eyeballs): the handle that connected is not the one unref'd above.
      if (this.#held) socket.ref();
      else socket.unref();
    });
    // libzmq drops a handshake that stalls; so do we (a listener that accepts and never greets,
    // or sends a byte at a time). Unref'd: the socket itself holds the process while held.
    let stalled = false;
    const deadline = setTimeout(() => {
      if (handshook || this.#socket !== socket) return;
      stalled = true; // our own deadline, not the peer refusing: a drop
      drop();
    }, this.#handshakeMs);
    deadline.unref();
    socket.on("data", (chunk: Buffer) => {
      if (finished || this.#socket !== socket) return;
      received += chunk.length;
      const inputs: ZmtpInput[] = [];
      let fault: unknown;
      try {
        reader.push(chunk, inputs);
      } catch (error) {
        fault = error;
      }
      // The connection is dying: what the messages before the fault make their owner send must wait.
      if (fault !== undefined && handshook) this.#ready = false;
      for (const input of inputs) {
        if (finished || this.#socket !== socket) return;
        if (input.kind === "greeting") {
          if (input.mechanism !== "NULL") return unsupported(`the peer wants the ${input.mechanism} mechanism`);
          const properties = new Map([
            ["Socket-Type", Buffer.from("DEALER", "latin1")],
            ["Identity", Buffer.alloc(0)],
          ]);
          socket.write(encodeCommand("READY", encodeProperties(properties)));
          greeted = true;
        } else if (input.kind === "command") {
          if (!handshook) {
            if (input.name === "ERROR") {
              const reason = input.data.toString("latin1", 1, 1 + (input.data[0] ?? 0));
              return unsupported(`the peer refused the handshake: ${reason}`);
            }
            if (input.name !== "READY" || !greeted) return unsupported(`a ${input.name} command in the handshake`);
            let type = "";
            try {
              type = decodeProperties(input.data).get("socket-type")?.toString("latin1") ?? "";
            } catch (error) {
              return unsupported((error as Error).message);
            }
            if (!DEALER_PEERS.has(type)) return unsupported(`the peer is a ${type || "socket of no type"}`);
            handshook = true;
            clearTimeout(deadline);
            this.#wasEverReady = true;
            // Bad bytes after it in this chunk: the connection is dying already, so its owner
            // hears of it at the next handshake, not now (a send now would be refused and lost).
            if (fault === undefined) {
              this.#ready = true;
              this.#events.ready();
            }
          } else if (input.name === "PING") {
            // PING: a 2-byte TTL, then a context the PONG echoes (ZMTP 3.1).
            if (socket.writableLength <= PONG_BACKLOG)
              socket.write(encodeCommand("PONG", input.data.subarray(2, 2 + 16)));
          }
        } else if (handshook) {
          this.#events.message(input.frames);
        }
      }
      if (fault !== undefined && !finished && this.#socket === socket) {
        // Bytes that are not ZMTP 3 (or beyond the limits). In the handshake, zeromq.js may make
        // more of them; later, the connection is dropped and made again, as libzmq does.
        if (!handshook) return unsupported((fault as Error).message);
        drop();
      }
    });
    socket.on("drain", () => {
      if (this.#socket === socket) this.#events.drain?.();
    });
    socket.on("error", () => {}); // followed by "close", where it is handled
    socket.on("close", () => {
      clearTimeout(deadline);
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#ready = false;
      if (this.#closed || finished) return;
      // libzmq closes a handshake it refuses (another mechanism: after its signature alone).
      if (connected && !handshook) {
        if (stalled) unsupported("the handshake stalled", false);
        else unsupported("the peer closed the connection in the handshake", received > 0);
        if (finished) return;
      }
      if (handshook) this.#events.dropped();
      if (this.#closed) return; // closed by its owner on hearing of the drop
      this.#timer = setTimeout(() => this.#connect(), this.#reconnectMs);
      if (!this.#held) this.#timer.unref();
    });
  }
}
