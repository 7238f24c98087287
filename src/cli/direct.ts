/**
 * The plain call's direct path: `zerokit rpc ADDRESS METHOD [PARAMS...]` (no flag) to a tcp or
 * ipc address, made over ZMTP in plain JavaScript (src/core/zmtp.ts) instead of zeromq.js.
 * Loading zeromq.js and starting libzmq is about a fifth of such a process's wall time; this path
 * skips both. It prints exactly what the zeromq.js path prints (reply.ts is shared), and keeps
 * its rules: the call's timeout counts from the start, heartbeats are passive (the clock runs
 * from the server's first beat), a stream is granted credit as it is printed, Ctrl-C cancels.
 *
 * Anything it does not speak (a by-name address, CURVE, an older ZMTP, a peer that is no
 * ROUTER/DEALER/REP, a refused handshake) goes back to the zeromq.js path: it returns
 * {@link FALLBACK} before the request was sent, so the call is never made twice.
 */
import { AbortError, MessageTooLargeError, ProtocolError } from "../core/errors.js";
import { type ZmtpAddress, ZmtpConnection, zmtpAddress } from "../core/zmtp.js";
import { CallChannel, type ChannelHost } from "../rpc/channel.js";
import { Ticker } from "../rpc/context.js";
import {
  CANCEL,
  channelHeader,
  DEFAULT_MAX_MESSAGE,
  decodeEvent,
  encodeEvent,
  encodeFast,
  FEATURES,
  nextIdNumber,
  ownIdNumber,
  peekResponseTo,
  type RpcEvent,
} from "../rpc/protocol.js";
import { remoteErrorOf, typedRemoteError } from "../rpc/remote-errors.js";
import { channelEventName, isOkArgs, meaningOf, replyFrames } from "../rpc/semantics.js";
import { printReply, reportCallError } from "./reply.js";
import type { Io, RpcArgs } from "./rpc.js";

/** The direct path did not make the call (nothing was sent): the zeromq.js path makes it. */
export const FALLBACK: unique symbol = Symbol("fallback");

/** libzmq's default: reconnect every 100 ms. */
const RECONNECT_MS = 100;
/**
 * What the connection holds of one message at most. The zeromq.js client takes any message and
 * then refuses one over its `maxMessageSize` (default {@link DEFAULT_MAX_MESSAGE}) by failing
 * the call it answers; this path does the same, above a bound on memory of its own.
 */
const LIMITS = { maxFrameBytes: 1 << 30, maxFrames: 64, maxMessageBytes: 1 << 30 } as const;
/** How often the call's clocks are checked (its timeout, the heartbeats). */
const TICK_MS = 50;
/** The stream window: what the zeromq.js client grants by default. */
const WINDOW = 100;
const EMPTY = Buffer.alloc(0);

/**
 * Where a plain call goes when the direct path can make it: a call (not a listing) to a tcp or
 * ipc address it can reach; undefined sends the command line to the zeromq.js path, which also
 * says what is wrong with an address that does not parse.
 */
export function directTarget(args: RpcArgs): ZmtpAddress | undefined {
  const { address, command } = args;
  if (address === undefined || command === undefined) return undefined;
  return zmtpAddress(address);
}

/**
 * Makes a plain call (parsed by quick.ts) to `target` (see {@link directTarget}) and resolves
 * with its exit status, or with {@link FALLBACK} when the zeromq.js path must make it. Prints
 * `connecting to "ADDRESS"` first, as the zeromq.js path does (on FALLBACK, the caller keeps
 * that path from printing the line twice).
 *
 * @example
 * const target = directTarget(args);
 * const status = target ? await directCall(target, args, io) : FALLBACK;
 */
export async function directCall(target: ZmtpAddress, args: RpcArgs, io: Io): Promise<number | typeof FALLBACK> {
  io.stderr(`connecting to "${args.address}"`);
  const call = new DirectCall(target, args.command as string, args);
  try {
    return await call.run(io);
  } finally {
    call.close();
  }
}

/** One call over one {@link ZmtpConnection}: the {@link ChannelHost} of its channel. */
class DirectCall implements ChannelHost {
  readonly window = WINDOW;
  /** Never reached: the command line iterates a stream (printing it) rather than collecting it. */
  readonly maxCollected = Number.POSITIVE_INFINITY;
  readonly #command: string;
  readonly #args: RpcArgs;
  readonly #heartbeat: number | false;
  readonly #channel: CallChannel<undefined>;
  readonly #ticker: Ticker;
  readonly #link: ZmtpConnection;
  /**
   * Keeps the process alive while the call waits: the call's clocks run on an unref'd ticker, and
   * the connection may hold nothing open for a while (between reconnects).
   */
  readonly #alive = setInterval(() => {}, 1 << 30);
  /** Settles with FALLBACK when the peer is not for this path before the request went out. */
  readonly #fallback: Promise<typeof FALLBACK>;
  #fallBack: () => void = () => {};
  #sent = false;
  #replyKind: "ok" | "stream" | undefined;
  /** The `_zerokit_features` probe sent after Ctrl-C, and what settles the wait for it. */
  #probeKey: number | undefined;
  #probeAnswered = false;
  #cancelSettled: (() => void) | undefined;

  constructor(target: ZmtpAddress, command: string, args: RpcArgs) {
    this.#command = command;
    this.#args = args;
    this.#heartbeat = args.heartbeat === 0 ? false : Math.max(1, Math.round(args.heartbeat * 1000));
    const timeoutMs = Math.max(1, Math.round(args.timeout * 1000));
    this.#channel = new CallChannel(this, nextIdNumber(), command, undefined, {
      timeoutMs,
      now: performance.now(),
      passive: !args.activeHb,
    });
    this.#fallback = new Promise((resolve) => {
      this.#fallBack = () => resolve(FALLBACK);
    });
    this.#ticker = new Ticker(
      TICK_MS,
      (now) => this.#onTick(now),
      () => !this.#channel.done,
    );
    this.#ticker.ensure();
    this.#link = new ZmtpConnection(target, LIMITS, RECONNECT_MS, {
      ready: () => this.#onReady(),
      message: (frames) => this.#onMessage(frames),
      unsupported: () => {
        if (!this.#sent) this.#fallBack();
        // Once the request is out, the call's clocks decide, as for a connection that dropped.
      },
      dropped: () => {},
    });
  }

  /** Waits for the reply and prints it; resolves with the exit status (or FALLBACK). */
  async run(io: Io): Promise<number | typeof FALLBACK> {
    let interrupted = false;
    void io.interrupted(["SIGINT"]).then(() => {
      if (this.#channel.done) return;
      interrupted = true;
      this.#channel.settle(undefined, new AbortError("interrupted (Ctrl-C)"));
      this.#probeCancel();
    });
    const printed = printReply(
      io,
      this.#args,
      this.#channel.iterate(),
      () => this.#replyKind === "stream",
      () => this.#channel.collect(),
    );
    try {
      return await Promise.race([this.#fallback, printed]);
    } catch (error) {
      if (interrupted) {
        // Give the cancel a moment to reach the server (probe, then cancel), then leave.
        await new Promise<void>((resolve) => {
          this.#cancelSettled = resolve;
          if (this.#probeKey === undefined || this.#probeAnswered) resolve();
          setTimeout(resolve, 1000).unref();
        });
        io.stderr("interrupted");
        return 130;
      }
      return reportCallError(error, io, this.#args, this.#command, this.#heartbeat);
    }
  }

  close(): void {
    clearInterval(this.#alive);
    this.#ticker.stop();
    this.#link.close();
  }

  sendCredit(channel: CallChannel, credit: number): void {
    this.#sendOnChannel(channel.key, channelEventName("credit"), [credit]);
  }

  cancel(channel: CallChannel, reason: Error): void {
    channel.settle(undefined, reason);
  }

  fail(channel: CallChannel, error: Error): void {
    channel.settle(undefined, error);
  }

  #onReady(): void {
    if (this.#sent) return; // a reconnect: the server forgot the call with the old connection
    this.#sent = true;
    this.#link.send([EMPTY, encodeFast(this.#channel.key, undefined, this.#command, this.#args.params)]);
  }

  #sendOnChannel(key: number, name: string, args: unknown): void {
    this.#link.send([EMPTY, encodeEvent(channelHeader(key), name, args)]);
  }

  /** After Ctrl-C: ask whether the server understands cancel (unknown events can wedge Python). */
  #probeCancel(): void {
    if (!this.#sent || !this.#link.ready) return;
    this.#probeKey = nextIdNumber();
    this.#link.send([EMPTY, encodeFast(this.#probeKey, undefined, FEATURES, [])]);
  }

  #onTick(now: number): void {
    const channel = this.#channel;
    switch (channel.check(now, this.#heartbeat)) {
      case "timeout":
        channel.settle(undefined, channel.timeoutError());
        return;
      case "lost":
        channel.settle(undefined, channel.lostError(this.#heartbeat as number));
        return;
      case "beat":
        channel.beat(now);
        this.#sendOnChannel(channel.key, channelEventName("heartbeat"), [0]);
        return;
    }
  }

  /** Every message from the server: the one boundary no exception crosses. */
  #onMessage(frames: Buffer[]): void {
    try {
      const { first, batch } = replyFrames(frames);
      // Batches are a zerokit framing negotiated per connection; this path never asks for them.
      if (first < 0 || batch || frames.length !== first + 1) return;
      const blob = frames[first] as Buffer;
      if (blob.length > DEFAULT_MAX_MESSAGE) {
        // Not decoded, as the zeromq.js client does not: the size alone is the verdict.
        this.#failIfOurs(blob, new MessageTooLargeError(blob.length, DEFAULT_MAX_MESSAGE));
        return;
      }
      let event: RpcEvent;
      try {
        event = decodeEvent(blob);
      } catch (error) {
        // A well-formed header may still name the call, which must fail rather than wait.
        const message = `a reply could not be decoded: ${(error as Error).message}`;
        this.#failIfOurs(blob, new ProtocolError(message, { cause: error }));
        return;
      }
      const responseTo = event.header.response_to;
      const key = responseTo === undefined || responseTo === null ? undefined : ownIdNumber(responseTo);
      if (key === this.#channel.key) this.#dispatch(event);
      else if (key !== undefined && key === this.#probeKey) this.#onProbeReply(event);
    } catch (error) {
      if (!this.#channel.done) this.#channel.settle(undefined, error as Error);
    }
  }

  /** Fails the call with `error` when `blob`'s header (read alone) answers it. */
  #failIfOurs(blob: Buffer, error: Error): void {
    const responseTo = peekResponseTo(blob);
    if (responseTo !== undefined && ownIdNumber(responseTo) === this.#channel.key)
      this.#channel.settle(undefined, error);
  }

  #dispatch(event: RpcEvent): void {
    const channel = this.#channel;
    const action = channel.onReply(meaningOf(event.name), event.args, performance.now());
    if (this.#replyKind === undefined) {
      if (channel.streaming) this.#replyKind = "stream";
      else if (action === "ok") this.#replyKind = "ok";
    }
    if (action === "ok") channel.settle((event.args as [unknown])[0], undefined);
    else if (action === "end") channel.settle(undefined, undefined);
    else if (action instanceof ProtocolError) channel.settle(undefined, action);
    else if (action !== undefined && action !== "unknown")
      channel.settle(undefined, typedRemoteError(remoteErrorOf(action)));
  }

  #onProbeReply(event: RpcEvent): void {
    const meaning = meaningOf(event.name);
    if (meaning === "ok") {
      const features = isOkArgs(event.args) ? event.args[0] : undefined;
      if ((features as { cancel?: unknown } | null | undefined)?.cancel === true) {
        this.#sendOnChannel(this.#channel.key, CANCEL, []);
      }
    }
    if (meaning === "ok" || meaning === "error") {
      this.#probeAnswered = true;
      this.#cancelSettled?.();
    }
  }
}
