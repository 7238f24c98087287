/**
 * The draft sockets: CLIENT/SERVER (single-frame, thread-safe in libzmq) and RADIO/DISH
 * (single-frame, by group). They live in their own entry, `zerokit/draft`, because loading
 * zeromq's draft module prints an experimental warning.
 */
import * as draft from "zeromq/draft.js";
import { checkGroup } from "./options.js";
import { ASSERT_NOT_UNBINDING, SEND_ROUTED, translateSocketError, withDefaults, ZSocket } from "./socket.js";
import type { SocketOptions } from "./sockets.js";

/** What a {@link Server} receives: one frame and the routing id of the client that sent it. */
export type ServerMessage = [Buffer, { routingId: number }];

/** What a {@link Dish} receives: one frame and the group it was sent to. */
export type DishMessage = [Buffer, { group: Buffer }];

/**
 * Draft SERVER: receives single frames with the sender's routing id; reply with
 * `server.send(frame, { routingId })`.
 *
 * @example
 * const [frame, { routingId }] = await server.receive();
 * await server.send(frame, { routingId });
 */
export class Server extends ZSocket<draft.Server, ServerMessage> {
  constructor(options?: SocketOptions<draft.Server>) {
    super(new draft.Server(withDefaults(options)), options);
  }
}

/** Draft CLIENT: sends single frames to SERVER peers (round-robin) and receives replies. */
export class Client extends ZSocket<draft.Client, [Buffer]> {
  constructor(options?: SocketOptions<draft.Client>) {
    super(new draft.Client(withDefaults(options)), options);
  }
}

/**
 * Draft RADIO: sends single frames to a group, which every DISH that joined it receives.
 * Send-only; send with {@link sendTo}.
 *
 * @example
 * await radio.sendTo("weather", Buffer.from("rain"));
 */
export class Radio extends ZSocket<draft.Radio> {
  declare receive: never;

  constructor(options?: SocketOptions<draft.Radio>) {
    super(new draft.Radio(withDefaults(options)), options);
  }

  /**
   * Sends `frame` to `group`; resolves when ZeroMQ took it. It goes through the writer queue as
   * any send does: in call order with every other send, and after an unbind under way.
   *
   * @throws {InvalidArgumentError} (rejected) for a group name not allowed (empty, over 255
   *   UTF-8 bytes). @throws {ClosedError} (rejected) once the socket is closed.
   */
  sendTo(group: string, frame: Buffer): Promise<void> {
    try {
      checkGroup("group", group, true);
    } catch (error) {
      return Promise.reject(error);
    }
    return this[SEND_ROUTED](frame, { group });
  }
}

/** Draft DISH: receives the single frames sent to the groups it joined. Receive-only. */
export class Dish extends ZSocket<draft.Dish, DishMessage> {
  declare send: never;

  constructor(options?: SocketOptions<draft.Dish>) {
    super(new draft.Dish(withDefaults(options)), options);
  }

  /**
   * Receives what is sent to `group` from now on.
   *
   * @throws {InvalidArgumentError} for a group name not allowed (empty, over 255 UTF-8 bytes).
   * @throws {ClosedError} after close. @throws {ZerokitError} (code `EBUSY`) while an unbind runs.
   *   Any other refusal (a group already joined) is libzmq's `EINVAL`.
   */
  join(group: string): void {
    checkGroup("group", group, true);
    this.#membership(() => this.raw.join(group), "join");
  }

  /** Stops receiving what is sent to `group` (errors as {@link join}; a group not joined is `EINVAL`). */
  leave(group: string): void {
    checkGroup("group", group, true);
    this.#membership(() => this.raw.leave(group), "leave");
  }

  #membership(change: () => void, what: string): void {
    this[ASSERT_NOT_UNBINDING](what);
    try {
      change();
    } catch (error) {
      throw translateSocketError(error, this.closed, what);
    }
  }
}
