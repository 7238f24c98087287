/**
 * zerokit — the messaging core (what pyzmq gives Python): endpoints, typed sockets that are safe
 * under concurrent use, codecs, zero-copy typed arrays, devices and the error hierarchy.
 * Subsystems have their own entries: `zerokit/rpc`, `zerokit/draft`.
 */

export { decodeArray, dtypeOf, encodeArray, type NDArray, type TypedArray } from "./core/arrays.js";
// Codecs and typed arrays
export {
  type Codec,
  createMsgpackCodec,
  Float64,
  float64,
  jsonCodec,
  type MsgpackOptions,
  msgpackCodec,
  objectCodec,
  packObject,
  packWire,
  rawCodec,
  stringCodec,
  unpackObject,
  unpackWire,
} from "./core/codec.js";
// Devices
export {
  type Device,
  type DeviceOptions,
  forwarder,
  type MonitoredQueueOptions,
  monitoredQueue,
  queue,
  streamer,
} from "./core/devices.js";
// Endpoints
export {
  type Bindable,
  bindToRandomPort,
  defaultAddress,
  type Endpoint,
  type EndpointUse,
  formatEndpoint,
  normalizeEndpoint,
  parseEndpoint,
  type RandomPortOptions,
  type Transport,
} from "./core/endpoint.js";
// Errors
export {
  AbortError,
  AddressInUseError,
  AuthenticationError,
  BusyError,
  CertificateError,
  ClosedError,
  EndpointError,
  InvalidArgumentError,
  LostRemoteError,
  MessageTooLargeError,
  ProtocolError,
  QueueFullError,
  RemoteError,
  TimeoutError,
  TooManyItemsError,
  ZerokitError,
  type ZerokitErrorOptions,
} from "./core/errors.js";
// Security: CURVE keys, certificate files, the ZAP authenticator, the `security` option
export {
  Authenticator,
  type AuthenticatorOptions,
  type AuthenticatorStats,
  type Certificate,
  type ClientSecurity,
  type CurveKey,
  type CurvePolicy,
  clientSocketOptions,
  type DirectoryKeys,
  formatCertificate,
  generateKeyPair,
  type KeyPair,
  onHandshakeFailure,
  parseCertificate,
  publicKeyOf,
  type Refusal,
  readCertificate,
  readPublicKeys,
  type SecuritySocketOptions,
  type ServerSecurity,
  serverSocketOptions,
  type WriteCertificatesOptions,
  type WrittenCertificates,
  writeCertificates,
  z85Decode,
  z85Encode,
} from "./core/security/index.js";
// Sockets
export {
  DEFAULT_LINGER_MS,
  type Frame,
  type Message,
  type Outgoing,
  type ReceiveOptions,
  type SendOptions,
  type ZerokitSocketOptions,
  ZSocket,
} from "./core/socket.js";
export {
  Dealer,
  Pair,
  Pub,
  Pull,
  Push,
  Rep,
  Req,
  Router,
  type SocketOptions,
  Sub,
  XPub,
  XSub,
} from "./core/sockets.js";
// The state errors, also exported here as they always were (zerokit/state has the rest)
export { HistoryTruncatedError, TransactionConflictError } from "./state/errors.js";
