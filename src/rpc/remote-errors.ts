/**
 * Remote errors back into typed errors, through one registry. An ERR reply always becomes a
 * {@link RemoteError} (its name, message and traceback as the remote sent them); a layer whose
 * servers raise errors of its own registers a factory for their name, and callers then get that
 * type instead (with the RemoteError as its `cause`). Remote names are hostile input: they live
 * in a Map, and an unregistered name is never more than a RemoteError.
 */
import { InvalidArgumentError, RemoteError } from "../core/errors.js";
import { checkFunction, checkString } from "../core/options.js";
import type { ErrorTuple } from "./semantics.js";

/** Makes the typed error for a remote error of one name (keep `remote` as its `cause`). */
export type RemoteErrorFactory = (remote: RemoteError) => Error;

const factories = new Map<string, RemoteErrorFactory>();

/**
 * Registers how remote errors named `name` become a typed error, for every client in this
 * process. Returns a function that removes this registration (and only this one).
 *
 * @throws {InvalidArgumentError} for an empty name, a factory that is not a function, or a name
 *   another factory already holds.
 * @example
 * registerRemoteError("HistoryTruncatedError", (e) => new HistoryTruncatedError(e.remoteMessage, { cause: e }));
 */
export function registerRemoteError(name: string, factory: RemoteErrorFactory): () => void {
  if (typeof name !== "string") throw new InvalidArgumentError("name", name, "a remote error name");
  checkString("name", name, { nonEmpty: true });
  if (factory === undefined) throw new InvalidArgumentError("factory", factory, "a function (remote) => Error");
  checkFunction("factory", factory);
  if (factories.has(name)) throw new InvalidArgumentError("name", name, "a remote error name not already registered");
  factories.set(name, factory);
  return () => {
    if (factories.get(name) === factory) factories.delete(name);
  };
}

/** The RemoteError of an ERR reply's tuple (see `readErrorTuple`). */
export function remoteErrorOf(tuple: ErrorTuple): RemoteError {
  return new RemoteError(tuple.name, tuple.message, tuple.traceback);
}

/**
 * The error a caller sees for `remote`: the registered factory's for its name, else `remote`
 * itself. A factory that throws or returns something other than an Error leaves `remote` as it is.
 *
 * @example
 * throw typedRemoteError(remoteErrorOf(tuple));
 */
export function typedRemoteError(remote: RemoteError): Error {
  const factory = factories.get(remote.remoteName);
  if (factory === undefined) return remote;
  try {
    const typed = factory(remote);
    return typed instanceof Error ? typed : remote;
  } catch {
    return remote;
  }
}
