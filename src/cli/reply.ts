/**
 * How a client call of the command line ends: its reply printed the way zerorpc-python's CLI
 * prints it, or its error as one line and an exit status. Shared by the zeromq.js path (rpc.ts)
 * and the plain call's direct path (direct.ts), which must print exactly the same; nothing here
 * may load zeromq.
 */
import { AuthenticationError, LostRemoteError, RemoteError, TimeoutError } from "../core/errors.js";
import { pformat, pyJson } from "./pyformat.js";
import type { Io, RpcArgs } from "./rpc.js";

/** A mistake on the command line: one line on stderr, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}

/**
 * Prints a call's reply and resolves with exit status 0: a plain reply pretty-printed (`-pj`:
 * as JSON), a stream one item per line as it arrives (`-pj`: a JSON array written as it grows).
 * `isStream` says, once the first step came, whether the reply is a stream; `whole` is the plain
 * reply. Rejects with the call's error.
 */
export async function printReply(
  io: Io,
  args: Pick<RpcArgs, "printJson">,
  iterator: AsyncIterator<unknown>,
  isStream: () => boolean,
  whole: () => PromiseLike<unknown>,
): Promise<number> {
  let step = await iterator.next();
  if (!isStream()) {
    const value = await whole();
    if (args.printJson) io.stdout(pyJson(value) + (io.stdoutIsTty ? "\n" : ""), false);
    else io.stdout(pformat(value));
    return 0;
  }
  if (args.printJson) io.stdout("[", false);
  let first = true;
  while (!step.done) {
    if (args.printJson) {
      io.stdout((first ? "" : ",") + pyJson(step.value), false);
      first = false;
    } else io.stdout(pformat(step.value));
    step = await iterator.next();
  }
  if (args.printJson) io.stdout(`]${io.stdoutIsTty ? "\n" : ""}`, false);
  return 0;
}

/** Prints a failed call's error the way zerorpc's CLI does; returns the exit status (1). */
export function reportCallError(
  error: unknown,
  io: Io,
  args: RpcArgs,
  method: string,
  heartbeat: number | false,
): number {
  if (error instanceof UsageError) throw error;
  if (error instanceof RemoteError) {
    io.stderr(`${error.remoteName}: ${error.remoteMessage}`);
    if (args.debug && error.remoteStack) io.stderr(`remote stack:\n${error.remoteStack.trimEnd()}`);
    return 1;
  }
  if (error instanceof TimeoutError) {
    io.stderr(`TimeoutExpired: timeout after ${args.timeout}s, when calling remote method ${method}`);
    return 1;
  }
  if (error instanceof AuthenticationError) {
    io.stderr(`AuthenticationError (EAUTH): ${error.message}`);
    return 1;
  }
  if (error instanceof LostRemoteError) {
    const after = heartbeat === false ? "" : ` after ${(2 * heartbeat) / 1000}s without heartbeat`;
    io.stderr(`LostRemote: lost remote${after}, when calling remote method ${method}`);
    return 1;
  }
  const e = error as Error;
  io.stderr(`${e?.name ?? "Error"}: ${e?.message ?? String(error)}`);
  if (args.debug && e?.stack) io.stderr(e.stack);
  return 1;
}
