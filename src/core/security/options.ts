/**
 * The `security` option every zerokit server and client takes, and its mapping onto ZeroMQ
 * socket options. A server holds a secret key (and optionally an {@link Authenticator} that
 * decides who may connect); a client holds the server's public key and, optionally, its own
 * pair (without one it gets a fresh pair per socket: encrypted, but anonymous).
 */
import type * as zmq from "zeromq";
import { AuthenticationError, InvalidArgumentError } from "../errors.js";
import { observe } from "../interrupted.js";
import { checkObject } from "../options.js";
import type { Authenticator } from "./authenticator.js";
import { type CurveKey, checkCurveKey, generateKeyPair, keyToZ85, publicKeyOf } from "./keys.js";

/**
 * Marks an {@link Authenticator} (true on its prototype). Checked instead of `instanceof` so that
 * a client, which never has one, does not load the authenticator's code.
 */
export const AUTHENTICATOR_BRAND = Symbol("zerokit.Authenticator");

/** Security of a server (anything that binds): CURVE keys, and who may connect. */
export interface ServerSecurity {
  /**
   * Serve over CURVE with this key pair. `publicKey` may be left out (it is derived from the
   * secret key). Clients need the public key as their `serverKey`.
   */
  curve?: { secretKey: CurveKey; publicKey?: CurveKey };
  /**
   * Who may connect: client keys and addresses (ZAP). Without one a CURVE server accepts any
   * client key (encrypted, not authenticated), as libzmq does; with one and no `curve`, it
   * filters plaintext clients by address.
   */
  authenticator?: Authenticator;
}

/** Security of a client (anything that connects), per peer. */
export interface ClientSecurity {
  /**
   * Talk CURVE to a server whose public key is `serverKey`. `publicKey`/`secretKey` are this
   * client's own pair (both or neither); without them a fresh pair is made for each socket.
   */
  curve?: { serverKey: CurveKey; publicKey?: CurveKey; secretKey?: CurveKey };
}

/** The ZeroMQ socket options a security option turns into (pass them to the socket constructor). */
export interface SecuritySocketOptions {
  curveServer?: boolean;
  curveSecretKey?: string;
  curvePublicKey?: string;
  curveServerKey?: string;
  zapDomain?: string;
  /** Set with an authenticator: if its ZAP handler is gone, handshakes fail instead of passing. */
  zapEnforceDomain?: boolean;
  /** The authenticator's context: a server socket must live in it for ZAP to reach it. */
  context?: zmq.Context;
}

/**
 * Checks a server `security` option.
 *
 * @throws {InvalidArgumentError} naming `name.curve.secretKey`, `name.authenticator`, ...
 * @example
 * checkServerSecurity("options.security", options.security);
 */
export function checkServerSecurity(name: string, value: unknown): void {
  if (value === undefined) return;
  checkObject(name, value);
  const { curve, authenticator } = value as ServerSecurity;
  checkObject(`${name}.curve`, curve);
  if (curve !== undefined) {
    if (curve.secretKey === undefined)
      throw new InvalidArgumentError(`${name}.curve.secretKey`, undefined, "a CURVE key");
    checkCurveKey(`${name}.curve.secretKey`, curve.secretKey);
    checkCurveKey(`${name}.curve.publicKey`, curve.publicKey);
    if (curve.publicKey !== undefined && publicKeyOf(curve.secretKey) !== keyToZ85(curve.publicKey)) {
      throw new InvalidArgumentError(`${name}.curve.publicKey`, curve.publicKey, "the public key of curve.secretKey");
    }
  }
  if (
    authenticator !== undefined &&
    (authenticator as { [AUTHENTICATOR_BRAND]?: unknown })[AUTHENTICATOR_BRAND] !== true
  ) {
    throw new InvalidArgumentError(`${name}.authenticator`, authenticator, "an Authenticator");
  }
}

/**
 * Checks a client `security` option.
 *
 * @throws {InvalidArgumentError} naming `name.curve.serverKey`, ...
 */
export function checkClientSecurity(name: string, value: unknown): void {
  if (value === undefined) return;
  checkObject(name, value);
  const { curve } = value as ClientSecurity;
  checkObject(`${name}.curve`, curve);
  if (curve === undefined) return;
  if (curve.serverKey === undefined)
    throw new InvalidArgumentError(`${name}.curve.serverKey`, undefined, "a CURVE key");
  checkCurveKey(`${name}.curve.serverKey`, curve.serverKey);
  checkCurveKey(`${name}.curve.publicKey`, curve.publicKey);
  checkCurveKey(`${name}.curve.secretKey`, curve.secretKey);
  if ((curve.publicKey === undefined) !== (curve.secretKey === undefined)) {
    throw new InvalidArgumentError(`${name}.curve`, curve, "both publicKey and secretKey, or neither");
  }
  if (curve.secretKey !== undefined && publicKeyOf(curve.secretKey) !== keyToZ85(curve.publicKey as CurveKey)) {
    throw new InvalidArgumentError(`${name}.curve.publicKey`, curve.publicKey, "the public key of curve.secretKey");
  }
}

/**
 * The socket options of a server socket. Check the option with {@link checkServerSecurity}
 * first. Await `security.authenticator.start()` before the first client may connect.
 *
 * @example
 * const router = new Router({ ...serverSocketOptions(security) });
 */
export function serverSocketOptions(security: ServerSecurity | undefined): SecuritySocketOptions {
  const out: SecuritySocketOptions = {};
  if (security?.curve) {
    out.curveServer = true;
    out.curveSecretKey = keyToZ85(security.curve.secretKey);
  }
  if (security?.authenticator) {
    out.zapDomain = security.authenticator.domain;
    out.zapEnforceDomain = true;
    out.context = security.authenticator.context;
  }
  return out;
}

/**
 * The socket options of a client socket. Check the option with {@link checkClientSecurity}
 * first. A client without its own pair gets a fresh one from every call.
 *
 * @example
 * const dealer = new Dealer({ ...clientSocketOptions({ curve: { serverKey } }) });
 */
export function clientSocketOptions(security: ClientSecurity | undefined): SecuritySocketOptions {
  const curve = security?.curve;
  if (!curve) return {};
  const own =
    curve.secretKey === undefined
      ? generateKeyPair()
      : { publicKey: keyToZ85(curve.publicKey as CurveKey), secretKey: keyToZ85(curve.secretKey) };
  return { curveServerKey: keyToZ85(curve.serverKey), curvePublicKey: own.publicKey, curveSecretKey: own.secretKey };
}

/**
 * Turns a failed-handshake socket event into the {@link AuthenticationError} a caller sees, or
 * returns undefined for any other event. `"handshake:error:other"` (the server closed the
 * connection mid-handshake) is what a wrong server key looks like from the client.
 *
 * @example
 * socket.raw.events.on("handshake:error:auth", (event) => fail(handshakeError(event)!));
 */
export function handshakeError(event: zmq.Event): AuthenticationError | undefined {
  switch (event.type) {
    case "handshake:error:auth":
      return new AuthenticationError(
        `${event.address} refused the handshake (ZAP status ${event.error.status}): this key or address is not allowed`,
        event.address,
        String(event.error.status),
        { cause: event.error },
      );
    case "handshake:error:protocol": {
      const code = event.error.code;
      const why =
        code === "ERR_ZMTP_MECHANISM_MISMATCH"
          ? "security mismatch: one side uses CURVE and the other does not"
          : code === "ERR_ZMTP_CRYPTOGRAPHIC" || code === "ERR_ZMTP_KEY_EXCHANGE"
            ? "the CURVE handshake failed (wrong server key?)"
            : `the handshake broke the protocol (${code})`;
      return new AuthenticationError(`handshake with ${event.address} failed: ${why}`, event.address, code, {
        cause: event.error,
      });
    }
    case "handshake:error:other":
      return new AuthenticationError(
        `handshake with ${event.address} failed: the peer dropped the connection (wrong server key?)`,
        event.address,
        event.error.code ?? "",
        { cause: event.error },
      );
    default:
      return undefined;
  }
}

const FAILURES = ["handshake:error:auth", "handshake:error:protocol", "handshake:error:other"] as const;

/**
 * Calls `listener` with an {@link AuthenticationError} for every failed handshake of `socket`,
 * until the returned function is called. On a server it reports what the authenticator never
 * sees (a client with the wrong server key, a plaintext client), by the bound endpoint: libzmq
 * does not tell a server the address of a peer whose handshake failed.
 *
 * @example
 * const stop = onHandshakeFailure(router.raw, (error) => console.warn(error.message));
 */
export function onHandshakeFailure(socket: zmq.Socket, listener: (error: AuthenticationError) => void): () => void {
  const handle = (event: zmq.Event) => {
    const error = handshakeError(event);
    if (error) listener(error);
  };
  const events = observe(socket);
  for (const type of FAILURES) events.on(type, handle);
  return () => {
    for (const type of FAILURES) events.off(type, handle);
  };
}
