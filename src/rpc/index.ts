/**
 * zerokit/rpc — RPC wire compatible with zerorpc (protocol v3): servers, clients with a typed
 * proxy, streams as async iterables, heartbeats, cancellation, introspection, one-way events.
 */

export {
  AbortError,
  BusyError,
  ClosedError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  TooManyItemsError,
  ZerokitError,
} from "../core/errors.js";
export {
  type PeerChange,
  type PeerOptions,
  type PeerResolver,
  type PeerState,
  type PeerStatus,
  staticResolver,
} from "../core/peers.js";
export {
  type CallOptions,
  type CallResult,
  type ClientHooks,
  type ClientOptions,
  type ClientStats,
  type Proxied,
  type Remote,
  type RequestInfo,
  RpcClient,
  type StreamResult,
} from "./client.js";
export { type AsyncContextMode, type CallContext, currentCall } from "./context.js";
export {
  type EventProxy,
  type EventSecurity,
  Publisher,
  Puller,
  Pusher,
  type ReceiverOptions,
  type ReceiverStats,
  Subscriber,
} from "./events.js";
export { doc } from "./introspect.js";
export { type RemoteErrorFactory, registerRemoteError } from "./remote-errors.js";
export {
  type CallInfo,
  RpcServer,
  type ServerHooks,
  type ServerOptions,
} from "./server.js";
export { PushStream, type StreamSink } from "./streams.js";
