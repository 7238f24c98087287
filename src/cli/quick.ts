/**
 * The common case of the command line, `zerokit rpc ADDRESS METHOD [PARAMS...]` with no flag,
 * parsed without commander: loading and building commander's command tree is about a tenth of
 * such a call's CPU time. Any word that starts with `-` (a flag, `--`, a negative number) goes
 * to commander, so this parser only has positionals to read; test/cli/quick.test.ts checks it
 * gives what commander gives for the same words.
 */
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
