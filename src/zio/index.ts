/**
 * zerokit/zio — what ZIO gives Python, for Node: messages with a level, form, label and
 * coordinates; ports that bind and connect by address or by node/port name; nodes that publish
 * their ports through discovery (`zerokit/zre`, wire compatible with Zyre); credit-based flows;
 * and RPC services found by name.
 */

export {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  ProtocolError,
  TimeoutError,
  ZerokitError,
} from "../core/errors.js";
export { Peer, type PeerEvent, type PeerOptions } from "../zre/peer.js";
export { FlowEndedError, FlowError, NotSupportedError, PortStateError } from "./errors.js";
export { Flow, type FlowDirection, type FlowOptions, type FlowWaitOptions } from "./flow.js";
export {
  LEVELS,
  type Level,
  type LevelName,
  Message,
  type MessageInit,
  type PayloadFrame,
  packParts,
  type Uint64,
  unpackParts,
} from "./message.js";
export { Node, type NodeOptions, type ServeOptions } from "./node.js";
export {
  Port,
  type PortChange,
  type PortOptions,
  type PortRecvOptions,
  type PortSendOptions,
  type PortSocketOptions,
  type PortStats,
  SOCKET_TYPES,
  type SocketType,
} from "./port.js";
export {
  type ConnectByNameOptions,
  connectByName,
  SERVICE_KIND,
  ServiceLink,
  type ServiceLinkStats,
  type ServiceName,
} from "./service.js";
