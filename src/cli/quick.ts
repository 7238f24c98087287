/**
 * The common case of the command line, `zerokit rpc ADDRESS METHOD [PARAMS...]` with no flag,
 * parsed without commander: loading and building commander's command tree is about a tenth of
 * such a call's CPU time. Any word that starts with `-` (a flag, `--`, a negative number) goes
 * to commander, so this parser only has positionals to read; test/cli/quick.test.ts checks it
 * gives what commander gives for the same words.
 *
 * Also here: the runtime settings for such a one-shot call (see tuneForOneCall).
 */
import { setFlagsFromString } from "node:v8";
import type { RpcArgs } from "./rpc.js";

/** The defaults of the flags that have one; rpc-command.ts gives the same to commander. */
export const RPC_DEFAULTS = {
  /** Seconds. */
  timeout: 30,
  /** Seconds. */
  heartbeat: 5,
} as const;

/**
 * The parsed command line of a flagless client call, or undefined when commander must parse it
 * (any flag, no address, a server). `argv` is what follows `rpc` (or all of `zerorpc`'s).
 */
export function quickRpcArgs(argv: readonly string[]): RpcArgs | undefined {
  if (argv.length === 0 || argv.some((arg) => arg.startsWith("-"))) return undefined;
  const [address, command, ...params] = argv;
  return {
    server: false,
    connect: [],
    bind: [],
    timeout: RPC_DEFAULTS.timeout,
    heartbeat: RPC_DEFAULTS.heartbeat,
    poolSize: undefined,
    maxMessageSize: undefined,
    json: false,
    printJson: false,
    inspect: false,
    activeHb: false,
    debug: false,
    curveSecret: undefined,
    allow: [],
    curveServerKey: undefined,
    announce: undefined,
    interface: undefined,
    beaconPort: undefined,
    address,
    command,
    params,
  };
}

/** After this long a call is no longer a quick one: it gets the optimizing compiler back. */
const ONE_SHOT_MS = 250;

/**
 * Settings for a process that makes one call and exits, applied before the call's modules load:
 * - V8's optimizing compiler (TurboFan) off: in a 200 ms process it only compiles code that is
 *   about to stop running, on a second thread, and costs 4 MiB of peak RSS. A call that takes
 *   longer (a stream, a slow method) turns it back on after ONE_SHOT_MS.
 * - msgpackr without its native string decoder (msgpackr-extract): one more addon to find and
 *   load, worth it only for long strings. The variable is removed once msgpackr has read it,
 *   unless the user had set it.
 * Returns what to call once the call's modules are loaded.
 */
export function tuneForOneCall(): () => void {
  setFlagsFromString("--no-opt");
  setTimeout(() => setFlagsFromString("--opt"), ONE_SHOT_MS).unref();
  const env = "MSGPACKR_NATIVE_ACCELERATION_DISABLED";
  if (process.env[env] !== undefined) return () => {};
  process.env[env] = "true";
  return () => {
    delete process.env[env];
  };
}
