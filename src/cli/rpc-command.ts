/**
 * The definition of `zerokit rpc` (and `zerorpc`) for commander: flags, help and validation.
 * Apart from rpc.ts, which runs a parsed command line, so that a plain call parsed by
 * quick.ts loads no commander at all; the defaults both use are quick.ts's RPC_DEFAULTS.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { RPC_DEFAULTS } from "./quick.js";
import type { RpcArgs } from "./rpc.js";
import { FLAG_HELP } from "./security.js";

function seconds(zeroAllowed: boolean) {
  return (text: string): number => {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0)) {
      throw new InvalidArgumentError(zeroAllowed ? "expected seconds >= 0" : "expected seconds > 0");
    }
    return value;
  };
}

function positiveInt(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError("expected a whole number >= 1");
  }
  return value;
}

const UNITS = new Map([
  ["", 1],
  ["b", 1],
  ["k", 1024],
  ["kib", 1024],
  ["m", 1024 ** 2],
  ["mib", 1024 ** 2],
  ["g", 1024 ** 3],
  ["gib", 1024 ** 3],
]);

/** A size in bytes: `1048576`, `64KiB`, `1MiB`, `1m` (units are powers of 1024). */
function bytes(text: string): number {
  const match = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = match ? UNITS.get((match[2] as string).toLowerCase()) : undefined;
  const value = match && unit !== undefined ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError("expected a size in bytes >= 1, e.g. 1048576, 64KiB or 1MiB");
  }
  return value;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function examples(prog: string): string {
  const rows: [string, string][] = [
    ["--server --bind tcp://127.0.0.1:4242 os", "serve Node's os module, on loopback only"],
    ["tcp://127.0.0.1:4242", "list its methods with their first doc line"],
    ["-? tcp://127.0.0.1:4242", "list their signatures"],
    ["tcp://127.0.0.1:4242 hostname", "call one"],
    ["-j tcp://127.0.0.1:4242 setPriority 0 10", "parameters as JSON"],
    ["--server ./service.ts", "serve a file's functions on a fresh local address"],
    ["--server --max-message-size 1MiB ./service.ts", "refuse requests over 1 MiB"],
    ["--bind tcp://127.0.0.1:4242 hostname", "wait for a worker to connect and call it..."],
    ["--server tcp://127.0.0.1:4242 os", "...the worker"],
    [
      "--server --curve-secret k/server.key_secret --allow k/clients os",
      "serve over CURVE to clients whose certificates are in k/ (zerokit keygen --dir k server)",
    ],
    ["--curve-server-key k/server.key --curve-secret k/me.key_secret EP hostname", "call it with a key"],
  ];
  const width = Math.max(...rows.map(([command]) => command.length));
  const lines = rows.map(([command, what]) => `  ${prog} ${command.padEnd(width)}  ${what}`);
  return `\nExamples:\n${lines.join("\n")}\n\nExit status: 0 done, 1 remote error, timeout or lost remote, 2 usage error, 130 interrupted.\n`;
}

/**
 * Builds the `rpc` command (named `zerorpc` when it is the whole program). `onParsed` receives
 * the command line once commander has validated it.
 */
export function rpcCommand(name: string, onParsed: (args: RpcArgs) => void): Command {
  const command = new Command(name);
  command
    .description(
      "Make a zerorpc call to a remote service, or serve a module's functions (zerorpc-python's CLI, flag for flag).",
    )
    .usage("[--client | --server] [--connect address]... [--bind address]... [options] [address] [command] [params...]")
    .addOption(new Option("--client", "remote procedure call mode (default)").conflicts("server"))
    .addOption(new Option("--server", "serve a module: a Node built-in, a package, or a .ts/.js/.mjs file"))
    .option("--connect <address>", "address to connect to; repeat it, or mix with --bind", collect)
    .option("--bind <address>", "address to listen on; repeat it, or mix with --connect", collect)
    .option(
      "--timeout <seconds>",
      "abort a call after this many seconds (client only)",
      seconds(false),
      RPC_DEFAULTS.timeout,
    )
    .option(
      "--heartbeat <seconds>",
      "heartbeat period; use the same as the other side (0 turns heartbeats off)",
      seconds(true),
      RPC_DEFAULTS.heartbeat,
    )
    .option("--pool-size <count>", "most calls running at once (server only; default unlimited)", positiveInt)
    .option(
      "--max-message-size <bytes>",
      "largest request accepted, e.g. 1MiB; larger ones get an error before decoding (server only; default 100MiB)",
      bytes,
    )
    .option("-j, --json", "parameters are JSON, each parsed before being sent")
    .option("--print-json", "print the result as JSON")
    .option("--inspect", "list signatures, or show one method's signature and doc")
    .option("--active-hb", "heartbeat from the start (default: wait for the server's first heartbeat)")
    .option("-d, --debug", "print every event sent and received on stderr")
    .option(
      "--curve-secret <file>",
      "a secret certificate: the server's (serve over CURVE), or with --curve-server-key the client's own",
    )
    .option("--allow <dir|key>", `server: ${FLAG_HELP.allow}`, collect)
    .option("--curve-server-key <key|file>", `client: ${FLAG_HELP.serverKey}`)
    .option(
      "--announce <node/port>",
      "server: announce it by discovery; clients call it as node/port instead of an address",
    )
    .option("--interface <if>", "discovery (--announce, or a node/port address): the interface to beacon on")
    .option("--beacon-port <port>", "discovery: the UDP beacon port (default 5670, Zyre's)", positiveInt)
    .argument("[address]", "address to connect to; skip it if you gave --connect or --bind")
    .argument(
      "[command]",
      "method to call (client), or module to serve (--server); without one a client lists the methods",
    )
    .argument("[params...]", "parameters of the call (strings, or JSON with -j)")
    .configureHelp({
      optionTerm: (option) =>
        option.long === "--print-json"
          ? "-pj, --print-json"
          : option.long === "--inspect"
            ? "-?, --inspect"
            : option.flags,
    })
    .addHelpText("after", () => examples(name === "zerorpc" ? "zerorpc" : "zerokit rpc"))
    .action((address: string | undefined, cmd: string | undefined, params: string[], options) => {
      const o = options as {
        server?: boolean;
        connect?: string[];
        bind?: string[];
        timeout: number;
        heartbeat: number;
        poolSize?: number;
        maxMessageSize?: number;
        json?: boolean;
        printJson?: boolean;
        inspect?: boolean;
        activeHb?: boolean;
        debug?: boolean;
        curveSecret?: string;
        allow?: string[];
        curveServerKey?: string;
        announce?: string;
        interface?: string;
        beaconPort?: number;
      };
      onParsed({
        server: o.server === true,
        connect: o.connect ?? [],
        bind: o.bind ?? [],
        timeout: o.timeout,
        heartbeat: o.heartbeat,
        poolSize: o.poolSize,
        maxMessageSize: o.maxMessageSize,
        json: o.json === true,
        printJson: o.printJson === true,
        inspect: o.inspect === true,
        activeHb: o.activeHb === true,
        debug: o.debug === true,
        curveSecret: o.curveSecret,
        allow: o.allow ?? [],
        curveServerKey: o.curveServerKey,
        announce: o.announce,
        interface: o.interface,
        beaconPort: o.beaconPort,
        address,
        command: cmd,
        params,
      });
    });
  return command;
}
