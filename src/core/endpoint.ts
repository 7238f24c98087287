import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EndpointError, InvalidArgumentError } from "./errors.js";
import { checkNumber, checkObject } from "./options.js";

/** The transports zerokit speaks. */
export type Transport = "tcp" | "ipc" | "inproc";

/** A parsed `<transport>://<address>` endpoint. */
export type Endpoint =
  | {
      readonly transport: "tcp";
      /** Host or interface: an IPv4/IPv6 address, a name, or `*` for every interface. */
      readonly host: string;
      /** The port, or `"*"` for an ephemeral port chosen when binding. */
      readonly port: number | "*";
    }
  | { readonly transport: "ipc"; readonly path: string }
  | { readonly transport: "inproc"; readonly name: string };

/** How the endpoint will be used: a wildcard host or port only makes sense for `bind`. */
export type EndpointUse = "bind" | "connect" | "any";

// Linux sun_path holds 108 bytes including the terminating NUL.
const MAX_IPC_PATH = 107;
const HOST_PATTERN = /^(?:\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+(?:%[A-Za-z0-9_.-]+)?)$/;

/**
 * Parses and validates an endpoint without touching any socket, applying the ZeroMQ/zerorpc
 * shorthands: `tcp://0:1234` is `tcp://0.0.0.0:1234`, and a port of `0` or `*` is ephemeral.
 *
 * @throws {EndpointError} naming the endpoint and what is wrong with it.
 * @example
 * parseEndpoint("tcp://0:4242"); // { transport: "tcp", host: "0.0.0.0", port: 4242 }
 */
export function parseEndpoint(text: string, use: EndpointUse = "any"): Endpoint {
  if (typeof text !== "string") throw new EndpointError(String(text), "an endpoint must be a string");
  const sep = text.indexOf("://");
  if (sep < 0) throw new EndpointError(text, 'expected "<transport>://<address>", e.g. tcp://127.0.0.1:5555');
  const transport = text.slice(0, sep);
  const address = text.slice(sep + 3);
  if (address.length === 0) throw new EndpointError(text, "the address after :// is empty");
  switch (transport) {
    case "tcp":
      return parseTcp(text, address, use);
    case "ipc":
      if (address.length > MAX_IPC_PATH) {
        throw new EndpointError(text, `an ipc path may be at most ${MAX_IPC_PATH} bytes long`);
      }
      if (address === "*" && use === "connect") throw new EndpointError(text, "cannot connect to a wildcard ipc path");
      return { transport: "ipc", path: address };
    case "inproc":
      return { transport: "inproc", name: address };
    default:
      throw new EndpointError(text, `unknown transport ${JSON.stringify(transport)} (expected tcp, ipc or inproc)`);
  }
}

function parseTcp(text: string, address: string, use: EndpointUse): Endpoint {
  const colon = address.lastIndexOf(":");
  if (colon <= 0) throw new EndpointError(text, "a tcp address needs a host and a port, e.g. tcp://127.0.0.1:5555");
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host === "0") host = "0.0.0.0";
  if (!HOST_PATTERN.test(host)) throw new EndpointError(text, `${JSON.stringify(host)} is not a valid host`);
  let port: number | "*";
  if (portText === "*" || portText === "0") {
    port = "*";
  } else if (/^[0-9]{1,5}$/.test(portText) && Number(portText) <= 65535) {
    port = Number(portText);
  } else {
    throw new EndpointError(text, `${JSON.stringify(portText)} is not a port (expected 1-65535, 0 or *)`);
  }
  if (use === "connect") {
    if (host === "*") throw new EndpointError(text, "cannot connect to a wildcard host");
    if (port === "*") throw new EndpointError(text, "cannot connect to a wildcard port");
  }
  return { transport: "tcp", host, port };
}

/** Formats an endpoint in the canonical form ZeroMQ accepts. */
export function formatEndpoint(endpoint: Endpoint): string {
  switch (endpoint.transport) {
    case "tcp":
      return `tcp://${endpoint.host}:${endpoint.port}`;
    case "ipc":
      return `ipc://${endpoint.path}`;
    case "inproc":
      return `inproc://${endpoint.name}`;
  }
}

/** Validates and canonicalises an endpoint string in one step (see {@link parseEndpoint}). */
export function normalizeEndpoint(text: string, use: EndpointUse = "any"): string {
  return formatEndpoint(parseEndpoint(text, use));
}

/**
 * The address a new local service should use when none is given: a fresh IPC path under the OS
 * temp dir where the platform has IPC, else TCP on loopback with an ephemeral port (ZProc's rule).
 *
 * @example
 * const server = new Router();
 * const address = await server.bind(defaultAddress()); // the bound, connectable address
 */
export function defaultAddress(): string {
  if (process.platform === "win32") return "tcp://127.0.0.1:*";
  const path = join(tmpdir(), `zerokit-${process.pid}-${randomBytes(6).toString("hex")}.sock`);
  return path.length <= MAX_IPC_PATH ? `ipc://${path}` : "tcp://127.0.0.1:*";
}

/** A socket that can bind, as far as {@link bindToRandomPort} needs. */
export interface Bindable {
  bind(endpoint: string): Promise<string>;
}

/** Options of {@link bindToRandomPort}. */
export interface RandomPortOptions {
  /** Lowest port to try (inclusive). Default 49152. */
  min?: number;
  /** Highest port to try (exclusive). Default 65536. */
  max?: number;
  /** How many random ports to try before giving up. Default 100. */
  maxTries?: number;
}

/**
 * Binds `socket` to a random port of `hostEndpoint` (e.g. `"tcp://127.0.0.1"`) and returns the
 * port, like pyzmq's `bind_to_random_port`.
 *
 * @throws {EndpointError} for a malformed host endpoint, or when every try found the port taken.
 * @throws {InvalidArgumentError} when an option is not allowed (ports are integers in [1, 65536]).
 * @example
 * const port = await bindToRandomPort(pub, "tcp://127.0.0.1", { min: 20000, max: 30000 });
 */
export async function bindToRandomPort(
  socket: Bindable,
  hostEndpoint: string,
  options: RandomPortOptions = {},
): Promise<number> {
  const { min, max, maxTries } = checkRandomPortOptions(options);
  if (!/^tcp:\/\/[^/]+$/.test(hostEndpoint) || /:[0-9*]+$/.test(hostEndpoint.slice(6).replace(/^\[.*\]/, ""))) {
    throw new EndpointError(hostEndpoint, 'expected a tcp endpoint without a port, e.g. "tcp://127.0.0.1"');
  }
  parseEndpoint(`${hostEndpoint}:1`, "bind");
  let lastError: unknown;
  for (let i = 0; i < maxTries; i++) {
    const port = min + Math.floor(Math.random() * (max - min));
    try {
      await socket.bind(`${hostEndpoint}:${port}`);
      return port;
    } catch (error) {
      if ((error as { code?: string }).code !== "EADDRINUSE" && !isAddressInUse(error)) throw error;
      lastError = error;
    }
  }
  throw new EndpointError(hostEndpoint, `no free port found in [${min}, ${max}) after ${maxTries} tries`, {
    cause: lastError,
  });
}

/** Checks {@link RandomPortOptions} and fills in the defaults. */
function checkRandomPortOptions(options: RandomPortOptions): Required<RandomPortOptions> {
  checkObject("options", options);
  checkNumber("min", options.min, { min: 1, max: 65535, integer: true });
  checkNumber("max", options.max, { min: 2, max: 65536, integer: true });
  checkNumber("maxTries", options.maxTries, { min: 1, integer: true });
  const { min = 49152, max = 65536, maxTries = 100 } = options;
  if (min >= max) throw new InvalidArgumentError("max", max, `a port above min (${min})`);
  return { min, max, maxTries };
}

function isAddressInUse(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === "EADDRINUSE";
}
