/**
 * The `zerokit` command line (and `zerorpc`, which is `zerokit rpc` under zerorpc's name).
 *
 *   zerokit rpc ...     zerorpc-compatible client and server (see `zerokit rpc --help`)
 *   zerokit state ...   shared state: serve, get/set/del, watch, ping (see `zerokit state --help`)
 *   zerokit keygen      write a CURVE certificate pair and print its public key
 *   zerokit --version
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { type Program, quickCall, rpcIo, rpcProg, runQuickCall, runToExit, waitForSignal } from "./call.js";
import type { KeygenRunner } from "./keygen.js";
import type { RpcArgs } from "./rpc.js";
import type { StateRunner } from "./state.js";

export type { Program };

/** The commands of `zerokit`, in the order its help lists them. */
const COMMANDS = ["rpc", "state", "keygen", "peers", "gossip-hub"] as const;
type CommandName = (typeof COMMANDS)[number];

/**
 * The one command a command line runs, when its first word names one (a root option, `help` or
 * a typo: undefined, and the whole tree is built, so help and suggestions stay complete). Only
 * that command's module is loaded: a call needs neither the state nor the ZRE code.
 */
function chosenCommand(argv: readonly string[]): CommandName | undefined {
  return COMMANDS.find((name) => name === argv[0]);
}

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "zerokit" && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return "unknown";
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text);
}

/**
 * Runs the command line `argv` (without `node` and the script) and resolves with the exit
 * status. Long-running servers resolve when stopped with Ctrl-C, SIGTERM or SIGHUP.
 */
export async function main(argv: readonly string[], program: Program = "zerokit"): Promise<number> {
  const prog = rpcProg(program);
  const quick = quickCall(argv, program);
  if (quick) return runQuickCall(quick, program);

  let parsed: RpcArgs | undefined;
  let stateRunner: StateRunner | undefined;
  let keygenRunner: KeygenRunner | undefined;
  const onParsed = (args: RpcArgs) => {
    parsed = args;
  };
  const chosen = program === "zerorpc" ? "rpc" : chosenCommand(argv);
  const wanted = (name: CommandName) => chosen === undefined || chosen === name;
  const [{ Command, CommanderError }, { normalizeArgv }, rpcCli, rpcDefinition, stateCli, keygenCli, zreCli] =
    await Promise.all([
      import("commander"),
      import("./argv.js"),
      wanted("rpc") ? import("./rpc.js") : undefined,
      wanted("rpc") ? import("./rpc-command.js") : undefined,
      wanted("state") ? import("./state.js") : undefined,
      wanted("keygen") ? import("./keygen.js") : undefined,
      wanted("peers") || wanted("gossip-hub") ? import("./zre.js") : undefined,
    ]);
  let root: Command;
  let rpc: Command | undefined;
  const output = {
    writeOut: (text: string) => write(process.stdout, text),
    writeErr: (text: string) => write(process.stderr, text),
    outputError: (text: string, writeErr: (s: string) => void) => writeErr(`${prog}: ${text.replace(/^error: /, "")}`),
  };
  if (program === "zerorpc") {
    rpc = rpcDefinition!.rpcCommand("zerorpc", onParsed);
    root = rpc;
  } else {
    root = new Command("zerokit")
      .description("ZeroMQ toolkit command line.")
      .version(packageVersion(), "-V, --version", "print the zerokit version")
      .addHelpText(
        "after",
        "\nRun `zerokit rpc --help` for the RPC client and server, `zerokit state --help` for shared state, `zerokit keygen --help` for CURVE keys.",
      );
    if (rpcDefinition) {
      rpc = rpcDefinition
        .rpcCommand("rpc", onParsed)
        .summary("zerorpc-compatible client and server (the same as `zerorpc`)");
      root.addCommand(rpc);
    }
    if (stateCli) {
      const state = stateCli.stateCommand((runner) => {
        stateRunner = runner;
      });
      state.configureOutput({
        ...output,
        outputError: (text, writeErr) => writeErr(`zerokit state: ${text.replace(/^error: /, "")}`),
      });
      state.exitOverride();
      for (const sub of state.commands) {
        sub.configureOutput({
          ...output,
          outputError: (text, writeErr) => writeErr(`zerokit state ${sub.name()}: ${text.replace(/^error: /, "")}`),
        });
        sub.exitOverride();
      }
      root.addCommand(state);
    }
    if (keygenCli) {
      const keygen = keygenCli.keygenCommand((runner) => {
        keygenRunner = runner;
      });
      keygen.configureOutput({
        ...output,
        outputError: (text, writeErr) => writeErr(`zerokit keygen: ${text.replace(/^error: /, "")}`),
      });
      keygen.exitOverride();
      root.addCommand(keygen);
    }
    for (const command of zreCli?.zreCommands() ?? []) root.addCommand(command);
    root.configureOutput({
      ...output,
      outputError: (text, writeErr) => writeErr(`zerokit: ${text.replace(/^error: /, "")}`),
    });
    root.exitOverride();
  }
  rpc?.configureOutput(output);
  rpc?.exitOverride();
  if (program === "zerorpc") rpc?.version(packageVersion(), "-V, --version", "print the zerokit version");

  try {
    await root.parseAsync(normalizeArgv(argv), { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  if (keygenRunner) {
    return keygenRunner({
      stdout: (text) => write(process.stdout, `${text}\n`),
      stderr: (text) => write(process.stderr, `${text}\n`),
    });
  }
  if (stateRunner) {
    return stateRunner({
      stdout: (text) => write(process.stdout, `${text}\n`),
      stderr: (text) => write(process.stderr, `${text}\n`),
      interrupted: waitForSignal,
    });
  }
  if (!parsed || !rpcCli || !rpc) return 0;
  const rpcHelp = rpc;
  return rpcCli.runRpc(
    parsed,
    rpcIo(prog, () => rpcHelp.helpInformation()),
  );
}

/** Runs `program` with the process's arguments and exits with its status. */
export function run(program: Program = "zerokit"): void {
  runToExit(program, main(process.argv.slice(2), program));
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  // The usual start is through bin/: then the script is not this file, and no path is resolved.
  if (!script || /[\\/]bin[\\/]zero(kit|rpc)(\.cjs)?$/.test(script)) return false;
  try {
    return realpathSync(resolve(script)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) run("zerokit");
