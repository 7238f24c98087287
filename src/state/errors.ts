/**
 * The errors of the shared-state layer, and how a state server's error comes back typed: the
 * server raises these by name, the client turns a `RemoteError` of a known name back into its
 * class through the remote-error registry of `src/rpc/remote-errors.ts`, where this module
 * registers them.
 */
import { RemoteError, ZerokitError, type ZerokitErrorOptions } from "../core/errors.js";
import { registerRemoteError, typedRemoteError } from "../rpc/remote-errors.js";

/** A state watcher asked for changes older than the server's history still holds. */
export class HistoryTruncatedError extends ZerokitError {
  override name = "HistoryTruncatedError";
  constructor(
    message = "the change history was truncated: some changes can no longer be replayed",
    options?: ZerokitErrorOptions,
  ) {
    super(message, "EHISTORY", options);
  }
}

/** A state transaction kept conflicting with concurrent writers past its retry limit. */
export class TransactionConflictError extends ZerokitError {
  override name = "TransactionConflictError";
  constructor(
    message = "the transaction conflicted with concurrent writes too many times",
    options?: ZerokitErrorOptions,
  ) {
    super(message, "ECONFLICT", options);
  }
}

/** A peer asked for more than it may hold at once (watchers, ...). */
export class StateLimitError extends ZerokitError {
  override name = "StateLimitError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "ELIMIT", options);
  }
}

/** A named server-side mutation threw (the state is unchanged) or kept conflicting. */
export class MutationError extends ZerokitError {
  override name = "MutationError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "EMUTATION", options);
  }
}

/**
 * A data directory that cannot be loaded: names the file and says exactly what is wrong with it,
 * so an operator can repair or move it. The server does not start on a data dir it cannot read.
 */
export class DataDirError extends ZerokitError {
  override name = "DataDirError";
  /** The file (or directory) at fault. */
  readonly file: string;
  /** What is wrong with it. */
  readonly reason: string;
  constructor(file: string, reason: string, options?: ZerokitErrorOptions) {
    super(`cannot load the state data dir: ${file}: ${reason}`, "EDATADIR", options);
    this.file = file;
    this.reason = reason;
  }
}

/** A worker process that exited without reporting a result. */
export class WorkerExitError extends ZerokitError {
  override name = "WorkerExitError";
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(exitCode: number | null, signal: string | null) {
    super(`the worker exited (${signal ? `signal ${signal}` : `code ${exitCode}`}) without a result`, "EWORKER");
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

// The errors a state server sends by name that every client in the process raises as their own
// class. Others (`StateLimitError`, `MutationError`, argument errors) stay `RemoteError`s, as they
// always were: their remote name says what they are, and code matching `RemoteError` keeps working.
registerRemoteError(
  "HistoryTruncatedError",
  (remote) => new HistoryTruncatedError(remote.remoteMessage, { cause: remote }),
);

/** The typed error of a state server's `RemoteError` (through the remote-error registry), or the error itself. */
export function stateErrorOf(error: unknown): unknown {
  return error instanceof RemoteError ? typedRemoteError(error) : error;
}
