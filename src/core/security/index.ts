/**
 * CURVE security: keys, certificate files (pyzmq/czmq format), the ZAP authenticator, and the
 * `security` option servers and clients share.
 */
export {
  Authenticator,
  type AuthenticatorOptions,
  type AuthenticatorStats,
  type CurvePolicy,
  type Refusal,
} from "./authenticator.js";
export {
  type Certificate,
  type DirectoryKeys,
  formatCertificate,
  MAX_DIRECTORY_CERTIFICATES,
  parseCertificate,
  readCertificate,
  readPublicKeys,
  type WriteCertificatesOptions,
  type WrittenCertificates,
  writeCertificates,
} from "./certificates.js";
export {
  type CurveKey,
  checkCurveKey,
  generateKeyPair,
  isCurveKey,
  type KeyPair,
  keyToBytes,
  keyToZ85,
  publicKeyOf,
  z85Decode,
  z85Encode,
} from "./keys.js";
export {
  type ClientSecurity,
  checkClientSecurity,
  checkServerSecurity,
  clientSocketOptions,
  handshakeError,
  onHandshakeFailure,
  type SecuritySocketOptions,
  type ServerSecurity,
  serverSocketOptions,
} from "./options.js";
