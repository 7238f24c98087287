/**
 * The zerokit error hierarchy. Every error zerokit throws is a {@link ZerokitError} with a
 * stable `code` (for programs) and a `name` (for people), and keeps the underlying error as
 * `cause` so nothing is lost when a low-level failure is translated.
 */

/** Options shared by every zerokit error constructor. */
export interface ZerokitErrorOptions {
  /** The lower-level error this one explains. */
  cause?: unknown;
}

/** Base class of every error zerokit throws. */
export class ZerokitError extends Error {
  override name = "ZerokitError";
  /** A stable, machine-readable code such as `"ETIMEDOUT"` or `"ECLOSED"`. */
  readonly code: string;

  constructor(message: string, code = "EZEROKIT", options?: ZerokitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** A wait (receive, call, condition) ran past its deadline. */
export class TimeoutError extends ZerokitError {
  override name = "TimeoutError";
  /** The deadline that expired, in milliseconds. */
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options?: ZerokitErrorOptions) {
    super(message, "ETIMEDOUT", options);
    this.timeoutMs = timeoutMs;
  }
}

/** The operation was aborted through its `AbortSignal`. */
export class AbortError extends ZerokitError {
  override name = "AbortError";
  constructor(message = "the operation was aborted", options?: ZerokitErrorOptions) {
    super(message, "ABORT_ERR", options);
  }
}

/** The socket, client or server was closed before or while the operation ran. */
export class ClosedError extends ZerokitError {
  override name = "ClosedError";
  constructor(message = "the socket is closed", options?: ZerokitErrorOptions) {
    super(message, "ECLOSED", options);
  }
}

/** An endpoint string is malformed or could not be bound/connected. */
export class EndpointError extends ZerokitError {
  override name = "EndpointError";
  /** The endpoint as the caller wrote it. */
  readonly endpoint: string;
  constructor(endpoint: string, reason: string, options?: ZerokitErrorOptions) {
    super(`invalid endpoint ${JSON.stringify(endpoint)}: ${reason}`, "EENDPOINT", options);
    this.endpoint = endpoint;
  }
}

/** A peer sent bytes that do not follow the expected protocol or codec. */
export class ProtocolError extends ZerokitError {
  override name = "ProtocolError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "EPROTO", options);
  }
}

/** A message is larger than the configured limit. */
export class MessageTooLargeError extends ZerokitError {
  override name = "MessageTooLargeError";
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number, options?: ZerokitErrorOptions) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`, "EMSGSIZE", options);
    this.size = size;
    this.limit = limit;
  }
}

/** A socket's bounded writer queue is full; the caller should slow down. */
export class QueueFullError extends ZerokitError {
  override name = "QueueFullError";
  constructor(limit: number, options?: ZerokitErrorOptions) {
    super(`the send queue is full (${limit} messages waiting)`, "EQUEUEFULL", options);
  }
}

/** A call awaited whole got more stream items than the client collects (iterate it instead). */
export class TooManyItemsError extends ZerokitError {
  override name = "TooManyItemsError";
  readonly limit: number;
  constructor(limit: number, options?: ZerokitErrorOptions) {
    super(
      `the stream sent more than ${limit} items to a call awaited whole (iterate it instead)`,
      "ETOOMANYITEMS",
      options,
    );
    this.limit = limit;
  }
}

/** The remote side of an RPC raised an error; its name, message and stack are kept. */
export class RemoteError extends ZerokitError {
  override name = "RemoteError";
  /** The error name the remote reported, e.g. `"ValueError"` or `"TypeError"`. */
  readonly remoteName: string;
  /** The remote message. */
  readonly remoteMessage: string;
  /** The remote traceback or stack, as text (may be empty). */
  readonly remoteStack: string;
  constructor(remoteName: string, remoteMessage: string, remoteStack = "", options?: ZerokitErrorOptions) {
    super(`${remoteName}: ${remoteMessage}`, "EREMOTE", options);
    this.remoteName = remoteName;
    this.remoteMessage = remoteMessage;
    this.remoteStack = remoteStack;
  }
}

/** The remote stopped answering heartbeats: it died, hung, or the network dropped. */
export class LostRemoteError extends ZerokitError {
  override name = "LostRemoteError";
  constructor(message = "lost remote after missed heartbeats", options?: ZerokitErrorOptions) {
    super(message, "ELOSTREMOTE", options);
  }
}

/** Too many calls are already running and the configured policy is to refuse more. */
export class BusyError extends ZerokitError {
  override name = "BusyError";
  constructor(message = "the server is at its concurrency limit", options?: ZerokitErrorOptions) {
    super(message, "EBUSY", options);
  }
}

/** Builds the error a wait ends with when its signal aborts, keeping the signal's reason. */
export function abortErrorFrom(signal: AbortSignal): ZerokitError {
  const reason: unknown = signal.reason;
  if (reason instanceof ZerokitError) return reason;
  return new AbortError("the operation was aborted", { cause: reason });
}

/** An option or argument of a public constructor or call has a value that is not allowed. */
export class InvalidArgumentError extends ZerokitError {
  override name = "InvalidArgumentError";
  /** The option or argument, as the caller names it (`"timeout"`, `"heartbeat"`, `"options.window"`). */
  readonly option: string;
  /** The value that was passed. */
  readonly value: unknown;
  /** What is allowed, in words (`"a finite number ≥ 1"`). */
  readonly allowed: string;
  constructor(option: string, value: unknown, allowed: string, options?: ZerokitErrorOptions) {
    super(`invalid ${option}: ${describeValue(value)}; expected ${allowed}`, "EINVAL", options);
    this.option = option;
    this.value = value;
    this.allowed = allowed;
  }
}

/** A bind found its address already taken by another socket or process. */
export class AddressInUseError extends ZerokitError {
  override name = "AddressInUseError";
  /** The endpoint as the caller wrote it. */
  readonly endpoint: string;
  constructor(endpoint: string, options?: ZerokitErrorOptions) {
    super(`address already in use: ${endpoint}`, "EADDRINUSE", options);
    this.endpoint = endpoint;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `an object (${(value as object).constructor?.name ?? "null prototype"})`;
}

/**
 * A security handshake was refused: the server's authenticator denied the client's key or
 * address, the client holds the wrong server key, or one side speaks CURVE and the other not.
 * It comes from the socket's handshake events, so it reaches the caller within milliseconds.
 */
export class AuthenticationError extends ZerokitError {
  override name = "AuthenticationError";
  /** The endpoint whose handshake failed, as the socket reported it (may be empty). */
  readonly endpoint: string;
  /** Why, in ZeroMQ's terms: a ZAP status (`"400"`), or a ZMTP error code (`"ERR_ZMTP_MECHANISM_MISMATCH"`). */
  readonly reason: string;
  constructor(message: string, endpoint = "", reason = "", options?: ZerokitErrorOptions) {
    super(message, "EAUTH", options);
    this.endpoint = endpoint;
    this.reason = reason;
  }
}

/** A CURVE certificate file is missing, unreadable or malformed. */
export class CertificateError extends ZerokitError {
  override name = "CertificateError";
  /** The file (or `"<text>"` when parsing a string). */
  readonly file: string;
  constructor(file: string, problem: string, options?: ZerokitErrorOptions) {
    super(`bad certificate ${file}: ${problem}`, "ECERT", options);
    this.file = file;
  }
}
