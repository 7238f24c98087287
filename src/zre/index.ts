/**
 * zerokit/zre — brokerless discovery, wire compatible with Zyre 2.x and pyre: peers find each
 * other by UDP beacon or a zgossip hub, enter and exit, join groups, whisper and shout.
 */

export {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  ProtocolError,
  TimeoutError,
  ZerokitError,
} from "../core/errors.js";
export { type BeaconData, type BeaconInterface, chooseInterface, decodeBeacon, encodeBeacon } from "./beacon.js";
export { decodeZre, encodeZre, ZRE_COMMANDS, type ZreCommand, type ZreMessage } from "./codec.js";
export { decodeGossip, encodeGossip, type GossipMessage } from "./gossip.js";
export {
  type Discovery,
  Peer,
  type PeerEvent,
  type PeerOptions,
  type PeerStats,
  UnknownPeerError,
} from "./peer.js";
export type { PeerInfo } from "./remote.js";
