import * as zmq from "zeromq";
import { withDefaults, type ZerokitSocketOptions, ZSocket } from "./socket.js";

/** Constructor options of a socket: every zeromq.js option of that type plus zerokit's own. */
export type SocketOptions<T extends zmq.Socket> = zmq.SocketOptions<T> & ZerokitSocketOptions;

// Send-only and receive-only patterns hide the half they do not have at the type level
// (`declare` emits nothing, so this costs nothing at run time).

/** REQ: strict send, receive, send, receive. Pair with {@link Rep} or {@link Router}. */
export class Req extends ZSocket<zmq.Request> {
  constructor(options?: SocketOptions<zmq.Request>) {
    super(new zmq.Request(withDefaults(options)), options);
  }
}

/** REP: strict receive, send, receive, send. Pair with {@link Req} or {@link Dealer}. */
export class Rep extends ZSocket<zmq.Reply> {
  constructor(options?: SocketOptions<zmq.Reply>) {
    super(new zmq.Reply(withDefaults(options)), options);
  }
}

/** DEALER: asynchronous requests, round-robin over connected peers, fair-queued replies. */
export class Dealer extends ZSocket<zmq.Dealer> {
  constructor(options?: SocketOptions<zmq.Dealer>) {
    super(new zmq.Dealer(withDefaults(options)), options);
  }
}

/** ROUTER: receives `[identity, ...frames]` and routes replies by that first frame. */
export class Router extends ZSocket<zmq.Router> {
  constructor(options?: SocketOptions<zmq.Router>) {
    super(new zmq.Router(withDefaults(options)), options);
  }
}

/** PUB: sends to every subscriber whose prefix matches the first frame. Send-only. */
export class Pub extends ZSocket<zmq.Publisher> {
  declare receive: never;
  declare messages: never;
  declare receiveAs: never;
  declare receiveString: never;
  declare receiveJson: never;
  declare receiveMsgpack: never;
  declare receiveObject: never;
  declare receiveArray: never;
  constructor(options?: SocketOptions<zmq.Publisher>) {
    super(new zmq.Publisher(withDefaults(options)), options);
  }
}

/** SUB: receives what publishers send on subscribed prefixes. Receive-only. */
export class Sub extends ZSocket<zmq.Subscriber> {
  declare send: never;
  declare sendAs: never;
  declare sendString: never;
  declare sendJson: never;
  declare sendMsgpack: never;
  declare sendObject: never;
  declare sendArray: never;
  constructor(options?: SocketOptions<zmq.Subscriber>) {
    super(new zmq.Subscriber(withDefaults(options)), options);
  }

  /** Subscribes to messages whose first frame starts with one of `prefixes` (none: all). */
  subscribe(...prefixes: (string | Buffer)[]): void {
    this.raw.subscribe(...prefixes);
  }

  /** Removes subscriptions made with {@link subscribe}. */
  unsubscribe(...prefixes: (string | Buffer)[]): void {
    this.raw.unsubscribe(...prefixes);
  }
}

/** XPUB: a PUB that also receives subscription messages (`\x01prefix` / `\x00prefix`). */
export class XPub extends ZSocket<zmq.XPublisher> {
  constructor(options?: SocketOptions<zmq.XPublisher>) {
    super(new zmq.XPublisher(withDefaults(options)), options);
  }
}

/** XSUB: a SUB that sends its subscriptions as messages (`\x01prefix` subscribes). */
export class XSub extends ZSocket<zmq.XSubscriber> {
  constructor(options?: SocketOptions<zmq.XSubscriber>) {
    super(new zmq.XSubscriber(withDefaults(options)), options);
  }
}

/** PUSH: distributes messages round-robin over connected pullers. Send-only. */
export class Push extends ZSocket<zmq.Push> {
  declare receive: never;
  declare messages: never;
  declare receiveAs: never;
  declare receiveString: never;
  declare receiveJson: never;
  declare receiveMsgpack: never;
  declare receiveObject: never;
  declare receiveArray: never;
  constructor(options?: SocketOptions<zmq.Push>) {
    super(new zmq.Push(withDefaults(options)), options);
  }
}

/** PULL: fair-queues messages from connected pushers. Receive-only. */
export class Pull extends ZSocket<zmq.Pull> {
  declare send: never;
  declare sendAs: never;
  declare sendString: never;
  declare sendJson: never;
  declare sendMsgpack: never;
  declare sendObject: never;
  declare sendArray: never;
  constructor(options?: SocketOptions<zmq.Pull>) {
    super(new zmq.Pull(withDefaults(options)), options);
  }
}

/** PAIR: one exclusive peer, both directions. */
export class Pair extends ZSocket<zmq.Pair> {
  constructor(options?: SocketOptions<zmq.Pair>) {
    super(new zmq.Pair(withDefaults(options)), options);
  }
}
