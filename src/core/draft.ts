/**
 * The draft CLIENT/SERVER sockets (single-frame, thread-safe in libzmq). They live in their own
 * entry, `zerokit/draft`, because loading zeromq's draft module prints an experimental warning.
 */
import * as draft from "zeromq/draft.js";
import { withDefaults, ZSocket } from "./socket.js";
import type { SocketOptions } from "./sockets.js";

/** What a {@link Server} receives: one frame and the routing id of the client that sent it. */
export type ServerMessage = [Buffer, { routingId: number }];

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
