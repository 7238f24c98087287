/**
 * `zerokit state`: run a state server and use one from the shell.
 *
 *   zerokit state serve [--bind EP] [--data-dir D] [--fsync always|everysec|no] [--mutations M]
 *                       [--curve-secret FILE --allow DIR|KEY|any...]
 *   zerokit state get KEY            (-c EP, or ZEROKIT_STATE=EP)
 *   zerokit state set KEY VALUE      (VALUE is JSON)
 *   zerokit state del KEY
 *   zerokit state watch [KEY...]     (one JSON line per change)
 *   zerokit state ping EP
 *   (clients: --curve-server-key KEY|FILE [--curve-secret FILE] for a CURVE server)
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseEndpoint } from "../core/endpoint.js";
import { type EndpointError, TimeoutError } from "../core/errors.js";
import type { State } from "../state/client.js";
import { exposureWarning } from "./exposure.js";
import {
  type ClientSecurityFlags,
  clientSecurityFrom,
  FLAG_HELP,
  SecurityFlagError,
  serverSecurityFrom,
} from "./security.js";

/** Where the commands write and how they wait for Ctrl-C (injected for the CLI's main). */
export interface StateIo {
  stdout(text: string): void;
  stderr(text: string): void;
  interrupted(signals: NodeJS.Signals[]): Promise<NodeJS.Signals>;
}

/** What a parsed `zerokit state ...` command runs; resolves with the exit status. */
export type StateRunner = (io: StateIo) => Promise<number>;

class UsageError extends Error {}

function endpoint(text: string, use: "bind" | "connect"): string {
  try {
    parseEndpoint(text, use);
    return text;
  } catch (error) {
    throw new InvalidArgumentError((error as EndpointError).message);
  }
}

function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a positive number of seconds`);
  return value;
}

/** JSON for values JSON cannot carry as they are: BigInt as a string, Map/Set as object/array, bytes as base64. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    if (v === undefined) return null;
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      if (Buffer.isBuffer(v) || v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
      return Array.from(v as unknown as ArrayLike<number | bigint>, (n) => (typeof n === "bigint" ? n.toString() : n));
    }
    return v;
  });
}

/** Builds the `state` command; `onRun` receives the runner of whichever subcommand was parsed. */
export function stateCommand(onRun: (runner: StateRunner) => void): Command {
  const state = new Command("state")
    .summary("shared state: serve it, get/set/del keys, watch changes, ping a server")
    .description("Run a zerokit state server, or read, write and watch one from the shell.");
  const connectOption = () =>
    new Option("-c, --connect <address>", "the state server (default: $ZEROKIT_STATE)").argParser((v) =>
      endpoint(v, "connect"),
    );
  const nsOption = () => new Option("-n, --namespace <name>", "the namespace").default("default");
  const timeoutOption = () =>
    new Option("--timeout <seconds>", "give up after this many seconds").default(5).argParser(seconds);
  const securityOptions = (command: Command): Command =>
    command
      .option("--curve-server-key <key|file>", FLAG_HELP.serverKey)
      .option("--curve-secret <file>", FLAG_HELP.clientSecret);
  const withClientOptions = (command: Command): Command =>
    securityOptions(command.addOption(connectOption()).addOption(nsOption()).addOption(timeoutOption()));
  const open = async (
    options: { connect?: string; namespace: string; timeout: number } & ClientSecurityFlags,
  ): Promise<State> => {
    const address = options.connect ?? process.env.ZEROKIT_STATE;
    if (!address) throw new UsageError("no state server: pass --connect <address> or set ZEROKIT_STATE");
    try {
      parseEndpoint(address, "connect");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const security = await clientSecurityFrom(options);
    const { State } = await import("../state/client.js");
    return new State(address, {
      namespace: options.namespace,
      timeout: options.timeout * 1000,
      ...(security ? { security } : {}),
    });
  };
  const guarded =
    (body: (io: StateIo) => Promise<number>): StateRunner =>
    async (io) => {
      try {
        return await body(io);
      } catch (error) {
        if (error instanceof UsageError || error instanceof SecurityFlagError) {
          io.stderr(`zerokit state: ${error.message}`);
          return 2;
        }
        const e = error as Error & { code?: unknown };
        const what = e.name === "AuthenticationError" ? `${e.name} (${String(e.code)})` : e.name;
        io.stderr(`zerokit state: ${error instanceof TimeoutError ? e.message : `${what}: ${e.message}`}`);
        return 1;
      }
    };

  state
    .command("serve")
    .description("run a state server in this process until Ctrl-C")
    .option("--bind <address>", "where to listen (default: a fresh local address)", (v) => endpoint(v, "bind"))
    .option("--data-dir <dir>", "keep an append-only log and snapshots here")
    .addOption(
      new Option("--fsync <policy>", "when the log reaches the disk")
        .choices(["always", "everysec", "no"])
        .default("everysec"),
    )
    .option("--mutations <module>", "a module whose functions clients run with mutate()")
    .option("--history <changes>", "changes kept for watchers", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError(`${JSON.stringify(v)} is not a positive integer`);
      return n;
    })
    .option("--curve-secret <file>", FLAG_HELP.serverSecret)
    .option("--allow <dir|key>", FLAG_HELP.allow, (v: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      v,
    ])
    .action(
      (options: {
        bind?: string;
        dataDir?: string;
        fsync: "always" | "everysec" | "no";
        mutations?: string;
        history?: number;
        curveSecret?: string;
        allow?: string[];
      }) => {
        onRun(
          guarded(async (io) => {
            const security = await serverSecurityFrom(options);
            if (options.bind) {
              const exposed = exposureWarning(options.bind, security);
              if (exposed) io.stderr(exposed);
            }
            const { startServer } = await import("../state/context.js");
            const server = await startServer(options.bind, {
              inProcess: true,
              ...(security ? { security } : {}),
              fsync: options.fsync,
              ...(options.dataDir ? { dataDir: options.dataDir } : {}),
              ...(options.mutations ? { mutations: options.mutations } : {}),
              ...(options.history ? { historyLimit: options.history } : {}),
            });
            // Listen before the address is printed: whoever reads it may signal at once (as a test does).
            const stopped = io.interrupted(["SIGINT", "SIGTERM", "SIGHUP"]); // SIGHUP: its terminal closed
            if (server.recovery?.problem)
              io.stderr(`recovered: ${server.recovery.problem}; cut ${server.recovery.discardedBytes} bytes`);
            io.stdout(`state server on ${server.address}`);
            io.stdout(`  ZEROKIT_STATE=${server.address} npx zerokit state set greeting '"hello"'`);
            io.stdout(`  npx zerokit state watch -c ${server.address}`);
            await stopped;
            await server.stop();
            return 0;
          }),
        );
      },
    );

  // Each action imports the state code it needs: defining the commands loads none of it.
  withClientOptions(state.command("get"))
    .description("print a key's value as JSON (exit 1 if it is missing)")
    .argument("<key>")
    .action((key: string, options: { connect?: string; namespace: string; timeout: number }) => {
      onRun(
        guarded(async (io) => {
          await using s = await open(options);
          if (!(await s.has(key))) {
            io.stderr(`zerokit state: no key ${JSON.stringify(key)}`);
            return 1;
          }
          io.stdout(toJson(await s.get(key)));
          return 0;
        }),
      );
    });

  withClientOptions(state.command("set"))
    .description("set a key to a JSON value")
    .argument("<key>")
    .argument("<value>", "a JSON value, e.g. 42, '\"text\"', '{\"a\": 1}'")
    .action((key: string, text: string, options: { connect?: string; namespace: string; timeout: number }) => {
      onRun(
        guarded(async (io) => {
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            throw new UsageError(`${JSON.stringify(text)} is not JSON (quote strings: '"text"')`);
          }
          await using s = await open(options);
          const seq = await s.set(key, value);
          io.stdout(String(seq));
          return 0;
        }),
      );
    });

  withClientOptions(state.command("del"))
    .description("delete a key (exit 1 if it was missing)")
    .argument("<key>")
    .action((key: string, options: { connect?: string; namespace: string; timeout: number }) => {
      onRun(
        guarded(async () => {
          await using s = await open(options);
          return (await s.delete(key)) ? 0 : 1;
        }),
      );
    });

  withClientOptions(state.command("watch"))
    .description("print one JSON line per change until Ctrl-C")
    .argument("[keys...]", "only these keys (default: all)")
    .option("--since <seq>", "replay from this sequence number", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError(`${JSON.stringify(v)} is not a sequence number`);
      return n;
    })
    .action((keys: string[], options: { since?: number; connect?: string; namespace: string; timeout: number }) => {
      onRun(
        guarded(async (io) => {
          await using s = await open(options);
          const controller = new AbortController();
          void io.interrupted(["SIGINT", "SIGTERM"]).then(() => controller.abort());
          await s.size(); // fail fast (timeout) when no server answers
          for await (const change of s.watch(keys, {
            signal: controller.signal,
            ...(options.since ? { since: options.since } : {}),
          })) {
            io.stdout(toJson(change));
          }
          return 0;
        }),
      );
    });

  state
    .command("ping")
    .description("exit 0 if a state server answers at the address, 1 if not")
    .argument("<address>")
    .addOption(timeoutOption())
    .option("--curve-server-key <key|file>", FLAG_HELP.serverKey)
    .option("--curve-secret <file>", FLAG_HELP.clientSecret)
    .action((address: string, options: { timeout: number } & ClientSecurityFlags) => {
      onRun(
        guarded(async (io) => {
          try {
            parseEndpoint(address, "connect");
          } catch (error) {
            throw new UsageError((error as Error).message);
          }
          const security = await clientSecurityFrom(options);
          const { ping } = await import("../state/client.js");
          if (await ping(address, { timeout: options.timeout * 1000, ...(security ? { security } : {}) })) {
            io.stdout(`pong from ${address}`);
            return 0;
          }
          io.stderr(`zerokit state: no state server answered at ${address} within ${options.timeout} s`);
          return 1;
        }),
      );
    });
  return state;
}
