/**
 * `zerokit rpc` (also installed as `zerorpc`): the zerorpc command line, flag for flag.
 *
 *   zerokit rpc [--client|--server] [--connect EP]... [--bind EP]... [--timeout S] [--heartbeat S]
 *               [--pool-size N] [--max-message-size BYTES] [-j] [-pj] [-?] [--active-hb] [-d]
 *               [--curve-secret FILE] [--allow DIR|KEY]... [--curve-server-key KEY|FILE]
 *               [address] [command] [params...]
 *
 * Output follows zerorpc-python's CLI: results pretty-printed the Python way (or JSON with -pj),
 * one line per stream item, `[name]` then aligned `method  doc` lines when no command is given,
 * and `connecting to "EP"` on stderr.
 */
import { rmSync } from "node:fs";
import { parseEndpoint } from "../core/endpoint.js";
import { AbortError, EndpointError, RemoteError } from "../core/errors.js";
import { RpcClient } from "../rpc/client.js";
import type { EventHeader } from "../rpc/protocol.js";
import { meaningOf } from "../rpc/semantics.js";
import { pyRepr, pyStrOf } from "./pyformat.js";
import { printReply, reportCallError, UsageError } from "./reply.js";
import { clientSecurityFrom, SecurityFlagError, serverSecurityFrom } from "./security.js";

// A client call loads neither the server, the authenticator, the module loader, the exposure
// checks nor commander: runServer imports the first four, and the command's definition is in
// rpc-command.ts (main.ts loads it only when it parses with commander). Loading and compiling
// modules is most of a call's start.

/** The parsed command line of `zerokit rpc`. */
export interface RpcArgs {
  server: boolean;
  connect: string[];
  bind: string[];
  /** Seconds. */
  timeout: number;
  /** Seconds; 0 turns heartbeats off. */
  heartbeat: number;
  poolSize: number | undefined;
  /** Bytes; the largest request the server accepts (undefined: the server's default). */
  maxMessageSize: number | undefined;
  json: boolean;
  printJson: boolean;
  inspect: boolean;
  activeHb: boolean;
  debug: boolean;
  /** A secret certificate file: the server's, or (with `curveServerKey`) the client's own. */
  curveSecret: string | undefined;
  /** Server: who may connect (certificate directories, Z85 keys, certificate files, or `any`). */
  allow: string[];
  /** Client: the server's public key, Z85 or a certificate file. */
  curveServerKey: string | undefined;
  /** Server: announce it by discovery as NODE/PORT (a client gives NODE/PORT as its address). */
  announce: string | undefined;
  /** Discovery (by-name server or client): the interface to beacon on. */
  interface: string | undefined;
  /** Discovery: the UDP beacon port (default Zyre's 5670). */
  beaconPort: number | undefined;
  address: string | undefined;
  command: string | undefined;
  params: string[];
}

/** Where the command writes, and how it is called (for messages and usage). */
export interface Io {
  /** The name the user typed: `zerokit rpc` or `zerorpc`. */
  prog: string;
  /** Writes to stdout, followed by a newline unless `newline` is false. */
  stdout: (text: string, newline?: boolean) => void;
  stderr: (text: string) => void;
  /** Whether stdout is a terminal (then `-pj` output ends with a newline). */
  stdoutIsTty: boolean;
  /** The command's help text (async: building it may load commander). */
  usage: () => string | Promise<string>;
  /** Resolves on Ctrl-C (SIGINT); the server also stops on SIGTERM. */
  interrupted: (signals: NodeJS.Signals[]) => Promise<NodeJS.Signals>;
}

/** Runs a parsed `zerokit rpc` command line; resolves with the exit status. */
export async function runRpc(args: RpcArgs, io: Io): Promise<number> {
  try {
    return args.server ? await runServer(args, io) : await runClient(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.showUsage) io.stderr((await io.usage()).trimEnd());
      io.stderr(`${io.prog}: ${error.message}`);
      return 2;
    }
    if (error instanceof SecurityFlagError) {
      io.stderr(`${io.prog}: ${error.message}`);
      return 2;
    }
    const e = error as Error;
    io.stderr(`${io.prog}: ${e?.name ?? "Error"}: ${e?.message ?? String(error)}`);
    if (args.debug && e?.stack) io.stderr(e.stack);
    return 1;
  }
}

/** Python's rule: with --connect/--bind the positionals shift (address becomes the command). */
function shiftPositionals(args: RpcArgs): {
  address: string | undefined;
  command: string | undefined;
  params: string[];
} {
  if (args.bind.length > 0 || args.connect.length > 0) {
    const params = args.command !== undefined ? [args.command, ...args.params] : [...args.params];
    return { address: undefined, command: args.address, params };
  }
  return { address: args.address, command: args.command, params: [...args.params] };
}

function checkEndpoint(endpoint: string, use: "bind" | "connect"): void {
  try {
    parseEndpoint(endpoint, use);
  } catch (error) {
    if (error instanceof EndpointError) throw new UsageError(error.message);
    throw error;
  }
}

function heartbeatOption(args: RpcArgs): number | false {
  return args.heartbeat === 0 ? false : Math.max(1, Math.round(args.heartbeat * 1000));
}

function debugPrinter(io: Io) {
  return (direction: "in" | "out", name: string, header: EventHeader, payload: unknown) => {
    // Header keys in wire order (pyRepr would sort them like pprint).
    const fields = Object.entries(header).map(([key, value]) => `${pyRepr(key)}: ${pyRepr(value)}`);
    io.stderr(`${direction === "out" ? "-->" : "<--"} ${name} {${fields.join(", ")}} ${pyRepr(payload)}`);
  };
}

function idText(id: unknown): string | undefined {
  if (id === undefined || id === null) return undefined;
  if (typeof id === "string") return id;
  if (id instanceof Uint8Array) return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("latin1");
  return String(id);
}

export { UsageError };

// ---------------------------------------------------------------------------------------------
// Client

interface MethodDetails {
  args: unknown;
  doc: unknown;
}

async function runClient(args: RpcArgs, io: Io): Promise<number> {
  const { address, command, params } = shiftPositionals(args);
  if (args.bind.length === 0 && args.connect.length === 0 && address === undefined) {
    throw new UsageError("give the address of a service, or --connect/--bind", true);
  }
  for (const endpoint of args.bind) checkEndpoint(endpoint, "bind");
  for (const endpoint of args.connect) checkEndpoint(endpoint, "connect");
  // NODE/PORT instead of an address: found by discovery (zerokit/zio), loaded only then.
  const byName = address !== undefined && !address.includes("://") && address.includes("/");
  if (address !== undefined && !byName) checkEndpoint(address, "connect");
  if (args.announce !== undefined) throw new UsageError("--announce is for a server (--server)");
  if (args.allow.length > 0)
    throw new UsageError("--allow is for a server (--server): a client gives --curve-server-key");
  const security = await clientSecurityFrom({ curveServerKey: args.curveServerKey, curveSecret: args.curveSecret });
  if (security && args.bind.length > 0)
    throw new UsageError("--curve-server-key is for --connect: a client that binds (--bind) has no CURVE flags yet");
  let callArgs: unknown[] = params;
  if (args.json && command !== undefined && !args.inspect) {
    callArgs = params.map((text, i) => {
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        throw new UsageError(
          `parameter ${i + 1} is not valid JSON (-j): ${JSON.stringify(text)} (${(error as Error).message})`,
        );
      }
    });
  }

  // Which reply the call got: OK, or a stream (STREAM/STREAM_DONE) — seen on the wire.
  let requestId: string | undefined;
  let replyKind: "ok" | "stream" | undefined;
  let interrupted = false;
  let cancelSettled: (() => void) | undefined;
  const printEvent = args.debug ? debugPrinter(io) : undefined;
  const heartbeat = heartbeatOption(args);
  const client = new RpcClient({
    timeout: Math.max(1, Math.round(args.timeout * 1000)),
    heartbeat,
    passiveHeartbeat: !args.activeHb,
    ...(security ? { security } : {}),
    onEvent: (direction, name, header, payload) => {
      printEvent?.(direction, name, header, payload);
      if (direction === "out") {
        if (requestId === undefined && name === command && header.response_to === undefined) {
          requestId = idText(header.message_id);
        }
        if (interrupted && meaningOf(name) === "cancel") cancelSettled?.();
      } else {
        if (replyKind === undefined && requestId !== undefined && idText(header.response_to) === requestId) {
          const meaning = meaningOf(name);
          if (meaning === "stream-item" || meaning === "stream-end") replyKind = "stream";
          else if (meaning === "ok") replyKind = "ok";
        }
        // After Ctrl-C: the answer to the cancel probe (an ERR means the server cannot cancel).
        if (interrupted && meaningOf(name) === "error") cancelSettled?.();
      }
    },
  });

  const controller = new AbortController();
  const signal = controller.signal;
  void io.interrupted(["SIGINT"]).then(() => {
    interrupted = true;
    controller.abort(new AbortError("interrupted (Ctrl-C)"));
  });
  let method = command ?? "_zerorpc_inspect";
  let named: { close(): Promise<void> } | undefined;

  try {
    for (const endpoint of args.bind) {
      io.stderr(`binding to "${endpoint}"`);
      try {
        await client.bind(endpoint);
      } catch (error) {
        throw new Error(`cannot bind ${endpoint}: ${(error as Error).message}`);
      }
    }
    for (const endpoint of [...args.connect, ...(address !== undefined && !byName ? [address] : [])]) {
      io.stderr(`connecting to "${endpoint}"`);
      client.connect(endpoint);
    }
    if (byName) named = await (await import("./announce.js")).linkByName(client, address as string, args, io);

    if (command === undefined || args.inspect) {
      const call = (name: string, callParams: unknown[] = []) => {
        method = name;
        return client.call(name, callParams, { signal });
      };
      const { service, methods } = await inspectService(call, command);
      printInspection(io, service, methods, command, args.inspect);
      return 0;
    }

    const result = client.call(command, callArgs, { signal });
    return await printReply(
      io,
      args,
      result[Symbol.asyncIterator](),
      () => replyKind === "stream",
      () => result,
    );
  } catch (error) {
    if (interrupted) {
      // Give the cancel a moment to reach the server (probe, then cancel), then leave.
      await new Promise<void>((resolve) => {
        cancelSettled = resolve;
        setTimeout(resolve, 1000).unref();
      });
      io.stderr("interrupted");
      return 130;
    }
    return reportCallError(error, io, args, method, heartbeat);
  } finally {
    await named?.close();
    client.close();
  }
}

type Caller = (name: string, params?: unknown[]) => PromiseLike<unknown>;

/** `_zerorpc_inspect`, or the older `_zerorpc_list`/`_zerorpc_help`/`_zerorpc_args` calls. */
async function inspectService(
  call: Caller,
  only: string | undefined,
): Promise<{ service: string; methods: [string, MethodDetails][] }> {
  let result: unknown;
  try {
    result = await call("_zerorpc_inspect");
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    return legacyInspect(call, only);
  }
  const r = (result ?? {}) as { name?: unknown; methods?: unknown };
  const service = r.name === undefined || r.name === null ? "N/A" : pyStrOf(r.name);
  const all = r.methods && typeof r.methods === "object" ? Object.entries(r.methods as Record<string, unknown>) : [];
  const methods = all
    .filter(([name]) => only === undefined || name === only)
    .map(([name, details]): [string, MethodDetails] => {
      const d = (details ?? {}) as { args?: unknown; doc?: unknown };
      return [name, { args: d.args, doc: d.doc }];
    });
  return { service, methods };
}

async function legacyInspect(
  call: Caller,
  only: string | undefined,
): Promise<{ service: string; methods: [string, MethodDetails][] }> {
  let service = "N/A";
  try {
    service = pyStrOf(await call("_zerorpc_name"));
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
  }
  const names = ((await call("_zerorpc_list")) as unknown[]).map((n) => pyStrOf(n));
  const methods: [string, MethodDetails][] = [];
  for (const name of names) {
    if (only !== undefined && name !== only) continue;
    let argList: unknown;
    try {
      const spec = (await call("_zerorpc_args", [name])) as [unknown[], unknown, unknown, unknown[] | null];
      const argNames = (spec?.[0] ?? []).map((a) => pyStrOf(a));
      const defaults = spec?.[3] ?? [];
      const firstDefault = argNames.length - defaults.length;
      argList = argNames.map((n, i) =>
        i >= firstDefault ? { name: n, default: defaults[i - firstDefault] } : { name: n },
      );
    } catch (error) {
      if (!(error instanceof RemoteError)) throw error;
    }
    methods.push([name, { args: argList, doc: await call("_zerorpc_help", [name]) }]);
  }
  return { service, methods };
}

/** `name(a, b=2)` as zerorpc's CLI formats a signature. */
function signature(name: string, args: unknown): string {
  if (!Array.isArray(args)) return `${name}(??)`;
  const parts = args.map((arg) => {
    const a = (arg ?? {}) as { name?: unknown; default?: unknown };
    const argName = pyStrOf(a.name);
    return a.default === undefined || a.default === null ? argName : `${argName}=${pyStrOf(a.default)}`;
  });
  return `${name}(${parts.join(", ")})`;
}

function docText(doc: unknown, long: boolean): string {
  const text = doc === undefined || doc === null ? "" : pyStrOf(doc);
  if (!text.trim()) return "<undocumented>";
  if (long) return text;
  return text.replace(/^\s*\n/, "").split(/\r\n|\r|\n/)[0] as string;
}

function printInspection(
  io: Io,
  service: string,
  methods: [string, MethodDetails][],
  command: string | undefined,
  withSignatures: boolean,
): void {
  if (command !== undefined) {
    const found = methods[0];
    if (!found) {
      io.stdout(`[${service}]\nNo documentation for "${command}".`);
      return;
    }
    const [name, details] = found;
    io.stdout(`[${service}]\n${signature(name, details.args)}\n\n${docText(details.doc, true)}\n`);
    return;
  }
  io.stdout(`[${service}]`);
  const rows = methods.map(([name, details]) => ({
    name: withSignatures ? signature(name, details.args) : name,
    doc: docText(details.doc, false),
  }));
  if (withSignatures) {
    for (const row of rows) io.stdout(row.name);
    return;
  }
  const width = Math.max(0, ...rows.map((row) => row.name.length));
  for (const row of rows) io.stdout(`${row.name.padEnd(width)} ${row.doc}`);
}

// ---------------------------------------------------------------------------------------------
// Server

async function runServer(args: RpcArgs, io: Io): Promise<number> {
  const shifted = shiftPositionals(args);
  let { address, command } = shifted;
  const binds = [...args.bind];
  const connects = [...args.connect];
  let defaulted = false;
  if (command === undefined) {
    if (address === undefined) throw new UsageError("give the module to serve", true);
    if (address.includes("://")) throw new UsageError(`give the module to serve after ${address}`, true);
    // Only a module: serve it on a fresh local address.
    command = address;
    address = undefined;
  } else if (address !== undefined) {
    connects.push(address); // `--server EP module`: a worker connecting to a client or queue
  }
  if (command.includes("://")) {
    throw new UsageError(
      `"${command}" is an address, not a module: with --bind/--connect give only the module (or --connect ${command})`,
    );
  }
  if (shifted.params.length > 0) {
    throw new UsageError(`unexpected arguments after the module: ${shifted.params.join(" ")}`);
  }
  if (binds.length === 0 && connects.length === 0) {
    const { defaultAddress } = await import("../core/endpoint.js");
    binds.push(defaultAddress());
    defaulted = true;
  }
  for (const endpoint of binds) checkEndpoint(endpoint, "bind");
  for (const endpoint of connects) checkEndpoint(endpoint, "connect");
  if (args.curveServerKey !== undefined)
    throw new UsageError("--curve-server-key is for a client: a server gives --curve-secret and --allow");
  const policy = await serverSecurityFrom({ curveSecret: args.curveSecret, allow: args.allow });

  const [{ LoadError, loadService }, { dangerousMethods, dangerWarning, exposureWarning, listeningAddress }] =
    await Promise.all([import("./load.js"), import("./exposure.js")]);
  let loaded: Awaited<ReturnType<typeof loadService>>;
  try {
    loaded = await loadService(command);
  } catch (error) {
    if (error instanceof LoadError) throw new UsageError(error.message);
    throw error;
  }
  const { target, name } = loaded;
  const [{ RpcServer }, { fromWire, toWire }] = await Promise.all([
    import("../rpc/server.js"),
    import("../state/security.js"),
  ]);
  // The authenticator answers ZAP in this process, which owns the server socket.
  const { security, authenticator } = await fromWire(toWire(policy));
  const server = new RpcServer(target, {
    ...(security ? { security } : {}),
    name,
    heartbeat: heartbeatOption(args),
    ...(args.poolSize !== undefined ? { poolSize: args.poolSize } : {}),
    ...(args.maxMessageSize !== undefined ? { maxMessageSize: args.maxMessageSize } : {}),
    ...(args.debug ? { onEvent: debugPrinter(io) } : {}),
  });
  // A terminal that closes sends SIGHUP: it must clean up (ipc files) like Ctrl-C does.
  const stopped = io.interrupted(["SIGINT", "SIGTERM", "SIGHUP"]);
  const listening: string[] = [];
  const connectable: string[] = [];
  const ipcPaths: string[] = [];
  let announced: { close(): Promise<void> } | undefined;
  try {
    if (server.methods.length === 0) io.stderr(`warning: "${command}" has no public functions to serve`);
    const danger = dangerWarning(command, await dangerousMethods(target, server.methods));
    if (danger) io.stderr(danger);
    for (const endpoint of binds) {
      if (!defaulted) io.stderr(`binding to "${endpoint}"`);
      // Said before binding, so it is read before anyone can connect.
      const exposed = exposureWarning(endpoint, policy);
      if (exposed) io.stderr(exposed);
      let address: string;
      try {
        address = await server.bind(endpoint);
      } catch (error) {
        throw new Error(`cannot bind ${endpoint}: ${(error as Error).message}`);
      }
      if (address.startsWith("ipc://")) ipcPaths.push(address.slice(6));
      listening.push(listeningAddress(endpoint, address));
      connectable.push(address);
    }
    for (const endpoint of connects) {
      io.stderr(`connecting to "${endpoint}"`);
      server.connect(endpoint);
      listening.push(endpoint);
    }
    if (args.announce !== undefined) {
      announced = await (await import("./announce.js")).announce(server, connectable, args, io);
    }
    io.stdout(`serving "${name}" on ${listening.join(", ")}`);
    if (connectable[0] !== undefined) io.stdout(`call it with: ${io.prog} ${connectable[0]}`);
    await stopped;
    return 0;
  } finally {
    await announced?.close();
    server.close();
    await authenticator?.close();
    // libzmq leaves the socket file of an ipc bind behind.
    for (const path of ipcPaths) rmSync(path, { force: true });
  }
}
