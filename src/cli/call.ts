/**
 * The command line's plain client call, `zerokit rpc ADDRESS METHOD [PARAMS...]` (or `zerorpc
 * ...`) with no flag, as an entry of its own. The build bundles this module and what it imports
 * into one CommonJS file, dist/src/cli/call.cjs, which bin/ tries first: a call that loads one
 * file through `require` skips the ES module loader's per-module work. The call itself goes over
 * direct.ts (ZMTP in plain JavaScript, no zeromq.js nor libzmq to load), and falls back to the
 * zeromq.js client (rpc.js, left out of the bundle and loaded from dist/) for what that path
 * does not speak. So nothing here may use `import.meta` (it is gone in the bundle), and what only
 * the full command line needs (commander, the other commands) stays out of its imports.
 *
 * main.ts uses the same pieces for every other command line.
 */
import { constants } from "node:os";
import { quickRpcArgs } from "./quick.js";
import type { Io, RpcArgs } from "./rpc.js";

/** Which program was started: decides the command tree and the name in messages. */
export type Program = "zerokit" | "zerorpc";

/**
 * The parsed command line when it is a plain client call (`zerokit rpc ADDRESS METHOD ...` or
 * `zerorpc ...` without a flag), which needs no commander; otherwise undefined.
 */
export function quickCall(argv: readonly string[], program: Program): RpcArgs | undefined {
  if (program === "zerorpc") return quickRpcArgs(argv);
  return argv[0] === "rpc" ? quickRpcArgs(argv.slice(1)) : undefined;
}

/** `rpc --help`'s text, as the full command tree prints it (loads commander: error paths only). */
async function rpcUsage(program: Program): Promise<string> {
  const [{ Command }, { rpcCommand }] = await Promise.all([import("commander"), import("./rpc-command.js")]);
  const noop = () => {};
  if (program === "zerorpc") return rpcCommand("zerorpc", noop).helpInformation();
  const rpc = rpcCommand("rpc", noop);
  new Command("zerokit").addCommand(rpc);
  return rpc.helpInformation();
}

/** The name a program's rpc messages start with. */
export function rpcProg(program: Program): string {
  return program === "zerorpc" ? "zerorpc" : "zerokit rpc";
}

/** The process's streams and signals as an rpc command's {@link Io}. */
export function rpcIo(prog: string, usage: () => string | Promise<string>): Io {
  return {
    prog,
    stdout: (text, newline = true) => process.stdout.write(newline ? `${text}\n` : text),
    stderr: (text) => process.stderr.write(`${text}\n`),
    stdoutIsTty: process.stdout.isTTY === true,
    usage,
    interrupted: waitForSignal,
  };
}

/** Resolves with the first of `signals` to arrive; a second one exits at once. */
export function waitForSignal(signals: NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolvePromise) => {
    let seen = false;
    for (const signal of signals) {
      process.on(signal, () => {
        if (seen) process.exit(128 + (constants.signals[signal] ?? 15)); // a second Ctrl-C: leave now
        seen = true;
        resolvePromise(signal);
      });
    }
  });
}

/**
 * Runs a parsed plain call to its exit status: directly (direct.ts, no zeromq.js) when it can,
 * else with the zeromq.js client, imported here rather than at the top so that main.ts can use
 * this module for every command without loading it.
 */
export async function runQuickCall(args: RpcArgs, program: Program): Promise<number> {
  const io = rpcIo(rpcProg(program), () => rpcUsage(program));
  const { directCall, directTarget, FALLBACK } = await import("./direct.js");
  const target = directTarget(args);
  const status = target ? await directCall(target, args, io) : FALLBACK;
  if (typeof status === "number") return status;
  const { runRpc } = await import("./rpc.js");
  // When the direct path tried, it already said where it connects: not twice.
  return runRpc(args, target ? { ...io, stderr: skipOnce(io.stderr, `connecting to "${args.address}"`) } : io);
}

/** `write`, except that the first time `line` comes it is dropped. */
function skipOnce(write: (text: string) => void, line: string): (text: string) => void {
  let skipped = false;
  return (text) => {
    if (!skipped && text === line) skipped = true;
    else write(text);
  };
}

/** Flushes stdout and stderr, then exits (sockets may linger; the answer is already out). */
function exitWith(code: number): void {
  process.stdout.write("", () => {
    process.stderr.write("", () => process.exit(code));
  });
}

/** Runs a command to its exit status, then exits with it (a crash prints its stack, status 1). */
export function runToExit(program: Program, command: Promise<number>): void {
  process.stdout.on("error", () => process.exit(0)); // e.g. piped into `head`
  command.then(exitWith, (error: unknown) => {
    process.stderr.write(`${program}: ${(error as Error)?.stack ?? String(error)}\n`);
    exitWith(1);
  });
}

/**
 * Runs the process's command line when it is a plain client call, and says whether it was:
 * when not, nothing was started and the caller runs the full command line (main.ts).
 */
export function runPlainCall(program: Program): boolean {
  const args = quickCall(process.argv.slice(2), program);
  if (!args) return false;
  // msgpackr's native string extractor pays off on large strings; loading it (a native addon
  // found through three packages) is 14 ms of a 170 ms call, so a one-call process goes without.
  // Set here, before direct.js loads msgpackr, and only for this process's plain call.
  process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= "true";
  runToExit(program, runQuickCall(args, program));
  return true;
}
