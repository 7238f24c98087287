/**
 * ZeroMQ's ZAP protocol (RFC 27) served in-process: libzmq asks whoever is bound to
 * `inproc://zeromq.zap.01` in a socket's context whether a connecting peer may complete its
 * handshake. One handler per context answers for every {@link Authenticator} in it, each keyed
 * by its ZAP domain, so servers with different policies can share a process.
 */
import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import * as zmq from "zeromq";
import { AddressInUseError, ClosedError, InvalidArgumentError } from "../errors.js";
import { observe } from "../interrupted.js";
import { checkBoolean, checkFunction, checkObject, checkString } from "../options.js";
import { Router } from "../sockets.js";
import { readPublicKeys } from "./certificates.js";
import { type CurveKey, checkCurveKey, keyToZ85, z85Encode } from "./keys.js";
import { AUTHENTICATOR_BRAND } from "./options.js";

/** Why a connection was refused, as the authenticator reports it. */
export interface Refusal {
  /** The peer's IP address as libzmq saw it (empty for ipc). */
  address: string;
  /** `"CURVE"`, `"NULL"` or `"PLAIN"`. */
  mechanism: string;
  /** The client's public key (Z85), for CURVE. */
  clientKey: string | undefined;
  /** The ZAP domain of the server socket. */
  domain: string;
  /** Why, in words (`"unknown key"`, `"address denied"`...). */
  reason: string;
}

/** The CURVE policy: which client keys may connect. */
export type CurvePolicy =
  /** Any client key (encryption without client authentication). */
  | "any"
  | {
      /** Allowed client public keys. */
      keys?: Iterable<CurveKey>;
      /**
       * A directory of public certificates (pyzmq's `*.key`, czmq's certificate store). A file
       * added to it is picked up at the next unknown key; `reload()` (or `watch`) also sees
       * files changed or removed.
       */
      directory?: string;
      /** Reload the directory when it changes (fs.watch). Default false. */
      watch?: boolean;
    };

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** Which CURVE clients may connect. Without it every CURVE client is refused. */
  curve?: CurvePolicy;
  /** Only these addresses (IPs or CIDR subnets such as `"10.0.0.0/8"`) may connect. */
  allow?: Iterable<string>;
  /** These addresses (IPs or CIDR subnets) may never connect; checked before `allow`. */
  deny?: Iterable<string>;
  /**
   * The ZAP domain servers using this authenticator set. Default: a name unique to this
   * authenticator. `""` makes it answer for every server socket in the context that has no
   * domain of its own (pyzmq's global authenticator).
   */
  domain?: string;
  /** The ZeroMQ context of the servers it guards. Default: zeromq.js's global context. */
  context?: zmq.Context;
  /** Called for each refused connection. Default: one `console.warn` line. */
  onRefusal?: (refusal: Refusal) => void;
  /** Called after each read of the certificate directory with how many keys it holds. */
  onReload?: (keys: number) => void;
  /** Called for unexpected failures (a directory that cannot be read, a malformed ZAP request). */
  onError?: (error: Error) => void;
}

/** Counters of an authenticator. */
export interface AuthenticatorStats {
  allowed: number;
  refused: number;
  /** ZAP requests that were malformed (answered 400 or, without a request id, dropped). */
  malformed: number;
  /** Times the certificate directory was read. */
  reloads: number;
}

const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
/**
 * The longest a closing handler waits for libzmq to free the endpoint, and how long after a
 * handler closed a new one retries EADDRINUSE on it when that could not be watched.
 */
const RELEASE_WAIT_MS = 2_000;
/** How long a new handler retries its bind at least, once it has waited for the release. */
const RELEASE_RETRY_MS = 200;
const ZAP_VERSION = "1.0";
/** Refusals kept in {@link Authenticator.recentRefusals}. */
const RECENT_REFUSALS = 100;
const MAX_ALLOWED_KEYS = 100_000;
let domainCounter = 0;

interface Decision {
  ok: boolean;
  reason: string;
  userId: string;
}

/**
 * Decides who may connect to the servers that name it in their `security` option: CURVE client
 * keys from a list or a certificate directory (or any key), and IP allow/deny lists. Refusals are
 * answered at once (the client sees an `AuthenticationError` within milliseconds) and reported
 * with the peer's address. Requests are answered one at a time, in the order libzmq sends them.
 *
 * @example
 * await using auth = new Authenticator({ curve: { directory: "keys/clients" }, deny: ["10.0.0.0/8"] });
 * await auth.start();
 * const server = new RpcServer(target, { security: { curve: serverKeys, authenticator: auth } });
 */
export class Authenticator implements AsyncDisposable {
  /** What the `security` option checks for (see AUTHENTICATOR_BRAND). */
  get [AUTHENTICATOR_BRAND](): true {
    return true;
  }
  /** The ZAP domain; servers using this authenticator set it as their `zapDomain`. */
  readonly domain: string;
  /** The context whose ZAP requests it answers. */
  readonly context: zmq.Context;
  readonly stats: AuthenticatorStats = { allowed: 0, refused: 0, malformed: 0, reloads: 0 };
  readonly #anyKey: boolean;
  readonly #curve: boolean;
  readonly #keys = new Set<string>();
  readonly #directory: string | undefined;
  #directoryKeys = new Set<string>();
  #directoryStamp = -1;
  #loading: Promise<void> | undefined;
  #watcher: FSWatcher | undefined;
  readonly #allow: BlockList | undefined;
  readonly #deny: BlockList | undefined;
  readonly #onRefusal: (refusal: Refusal) => void;
  readonly #onError: (error: Error) => void;
  readonly #onReload: ((keys: number) => void) | undefined;
  /** A change was seen while a read was under way: read again when it ends. */
  #reloadAgain = false;
  readonly #recent: Refusal[] = [];
  #handler: ZapHandler | undefined;
  #starting: Promise<void> | undefined;
  #closed = false;
  /** Settles when close() is done (see there). */
  #released: Promise<void> | undefined;
  /** What unregistering from the handler returned when close() came before start() ended. */
  #lateRelease: Promise<void> | undefined;

  constructor(options: AuthenticatorOptions = {}) {
    checkObject("options", options);
    const { curve, domain, onRefusal, onError } = options;
    if (curve !== undefined && curve !== "any") {
      checkObject("options.curve", curve);
      checkString("options.curve.directory", curve.directory, { nonEmpty: true });
      checkBoolean("options.curve.watch", curve.watch);
      if (curve.watch && curve.directory === undefined) {
        throw new InvalidArgumentError("options.curve.watch", true, "false without options.curve.directory");
      }
    }
    checkString("options.domain", domain);
    if (domain !== undefined && domain.length > 254) {
      throw new InvalidArgumentError("options.domain", domain, "at most 254 characters");
    }
    if (options.context !== undefined && !(options.context instanceof zmq.Context)) {
      throw new InvalidArgumentError("options.context", options.context, "a zeromq Context");
    }
    checkFunction("options.onRefusal", onRefusal);
    checkFunction("options.onError", onError);
    checkFunction("options.onReload", options.onReload);
    this.#allow = addressList("options.allow", options.allow);
    this.#deny = addressList("options.deny", options.deny);
    this.#curve = curve !== undefined;
    this.#anyKey = curve === "any";
    if (curve !== undefined && curve !== "any") {
      for (const key of curve.keys ?? []) this.allowKey(key);
      this.#directory = curve.directory;
    }
    this.domain = domain ?? `zerokit-${process.pid}-${++domainCounter}`;
    this.context = options.context ?? zmq.context;
    this.#onRefusal = onRefusal ?? defaultRefusalLog;
    this.#onReload = options.onReload;
    this.#onError = onError ?? ((error) => console.warn(`zerokit authenticator: ${error.message}`));
    if (curve !== undefined && curve !== "any" && curve.watch) this.#watch();
  }

  /**
   * Starts answering ZAP requests (and reads the certificate directory). Idempotent: servers
   * call it too. Await it before clients connect, or their first handshakes fail.
   *
   * @throws {AddressInUseError} when something else in the context already serves ZAP.
   * @throws {InvalidArgumentError} when another authenticator in the context has this domain.
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("the authenticator is closed"));
    this.#starting ??= (async () => {
      if (this.#directory !== undefined) await this.reload();
      const handler = await ZapHandler.register(this);
      if (this.#closed) this.#lateRelease = handler.unregister(this);
      else this.#handler = handler;
    })().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  /** Allows a client public key (takes effect for the next handshake). */
  allowKey(key: CurveKey): void {
    checkCurveKey("key", key);
    if (this.#keys.size >= MAX_ALLOWED_KEYS)
      throw new InvalidArgumentError("key", key, `at most ${MAX_ALLOWED_KEYS} keys`);
    this.#keys.add(keyToZ85(key));
  }

  /** Removes a key added with {@link allowKey} (not one from the directory). Existing connections stay. */
  revokeKey(key: CurveKey): void {
    checkCurveKey("key", key);
    this.#keys.delete(keyToZ85(key));
  }

  /**
   * Re-reads the certificate directory now, so changed and removed files count too. Concurrent
   * calls share one read. Files that do not parse are skipped and reported to `onError`.
   */
  reload(): Promise<void> {
    if (this.#directory === undefined) return Promise.resolve();
    const directory = this.#directory;
    this.#loading ??= (async () => {
      try {
        const stamp = await directoryStamp(directory);
        const { keys, errors } = await readPublicKeys(directory);
        this.#directoryKeys = keys;
        this.#directoryStamp = stamp;
        this.stats.reloads++;
        for (const error of errors) this.#onError(error);
        this.#onReload?.(keys.size);
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }

  /** A watched change: read now, or once more after the read under way (it may have missed it). */
  #changed(): void {
    if (this.#closed) return;
    if (this.#loading) {
      this.#reloadAgain = true;
      return;
    }
    this.reload()
      .catch((error: Error) => this.#onError(error))
      .finally(() => {
        if (!this.#reloadAgain) return;
        this.#reloadAgain = false;
        this.#changed();
      });
  }

  /** The last refusals (at most 100), oldest first. */
  get recentRefusals(): readonly Refusal[] {
    return this.#recent;
  }

  /** @internal Reports a failure of the context's ZAP handler to `onError` (the handler's one outlet). */
  reportError(error: Error): void {
    this.#onError(error);
  }

  /** @internal Decides one ZAP request; called by the context's handler. */
  async decide(address: string, mechanism: string, credentials: Buffer[]): Promise<Decision> {
    const denied = this.#addressDenied(address);
    if (denied) return this.#refuse(address, mechanism, undefined, denied);
    if (mechanism === "NULL") return this.#accept("anonymous");
    if (mechanism !== "CURVE") return this.#refuse(address, mechanism, undefined, `${mechanism} is not supported`);
    const raw = credentials[0];
    if (credentials.length !== 1 || raw === undefined || raw.length !== 32) {
      this.stats.malformed++;
      return this.#refuse(address, mechanism, undefined, "malformed CURVE credentials");
    }
    const key = z85Encode(raw);
    if (!this.#curve) return this.#refuse(address, mechanism, key, "no CURVE clients are allowed");
    if (this.#anyKey || this.#keys.has(key) || this.#directoryKeys.has(key)) return this.#accept(key);
    if (this.#directory !== undefined && (await this.#directoryChanged())) {
      await this.reload().catch((error: Error) => this.#onError(error));
      if (this.#directoryKeys.has(key)) return this.#accept(key);
    }
    return this.#refuse(address, mechanism, key, "unknown key");
  }

  #addressDenied(address: string): string | undefined {
    if (!this.#deny && !this.#allow) return undefined;
    const family = isIP(address);
    // ipc peers have no address: address lists do not apply to them.
    if (family === 0) return undefined;
    const type = family === 6 ? "ipv6" : "ipv4";
    if (this.#deny?.check(address, type)) return "address denied";
    if (this.#allow && !this.#allow.check(address, type)) return "address not allowed";
    return undefined;
  }

  async #directoryChanged(): Promise<boolean> {
    if (this.#loading) {
      await this.#loading.catch(() => undefined);
      return false;
    }
    try {
      return (await directoryStamp(this.#directory as string)) !== this.#directoryStamp;
    } catch {
      return false;
    }
  }

  #accept(userId: string): Decision {
    this.stats.allowed++;
    return { ok: true, reason: "OK", userId };
  }

  #refuse(address: string, mechanism: string, clientKey: string | undefined, reason: string): Decision {
    this.stats.refused++;
    const refusal: Refusal = { address, mechanism, clientKey, domain: this.domain, reason };
    if (this.#recent.length >= RECENT_REFUSALS) this.#recent.shift();
    this.#recent.push(refusal);
    try {
      this.#onRefusal(refusal);
    } catch (error) {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    }
    return { ok: false, reason, userId: "" };
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.#directory as string, { persistent: false }, () => this.#changed());
      this.#watcher.on("error", (error) => this.#onError(error));
    } catch (error) {
      this.#onError(error as Error);
    }
  }

  /**
   * Stops answering; servers using it then refuse every CURVE client (their domain is unknown).
   * It stops at once; the promise settles when libzmq has let go of the context's ZAP endpoint
   * (at once when other authenticators of the context still serve it). Until then a handshake
   * that starts on another server in the context can send its ZAP request to the closing socket,
   * where nothing answers it and the handshake stalls, so await it before starting servers or
   * another ZAP handler in the same context. Idempotent: every call returns the same promise.
   *
   * @example
   * await auth.close();
   * const open = new RpcServer(target); // no ZAP handler left: libzmq lets every client in
   */
  close(): Promise<void> {
    if (this.#released) return this.#released;
    this.#closed = true;
    this.#watcher?.close();
    const handler = this.#handler;
    this.#handler = undefined;
    this.#released = handler
      ? handler.unregister(this)
      : (this.#starting ?? Promise.resolve()).then(
          () => this.#lateRelease,
          () => undefined,
        );
    return this.#released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function defaultRefusalLog(refusal: Refusal): void {
  const who = refusal.clientKey ? `key ${refusal.clientKey}` : refusal.mechanism;
  console.warn(`zerokit: refused ${who} from ${refusal.address || "ipc"} (${refusal.domain}): ${refusal.reason}`);
}

async function directoryStamp(directory: string): Promise<number> {
  const info = await stat(directory);
  return info.mtimeMs + info.ctimeMs;
}

function addressList(name: string, value: Iterable<string> | undefined): BlockList | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" || typeof (value as Iterable<string>)[Symbol.iterator] !== "function") {
    throw new InvalidArgumentError(name, value, "an array of IP addresses or CIDR subnets");
  }
  const list = new BlockList();
  for (const entry of value) {
    const [ip, bits, extra] = typeof entry === "string" ? entry.split("/") : [];
    const family = ip === undefined ? 0 : isIP(ip);
    const prefix = bits === undefined ? undefined : Number(bits);
    const max = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= max && bits !== ""))
    ) {
      throw new InvalidArgumentError(`${name} entry`, entry, "an IP address or a CIDR subnet such as 10.0.0.0/8");
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(ip as string, type);
    else list.addSubnet(ip as string, prefix, type);
  }
  return list;
}

/**
 * The one ZAP socket of a context: a ROUTER bound to `inproc://zeromq.zap.01` (libzmq's ZAP
 * client speaks REQ, so requests arrive as `[routing id, "", ...request]`). It lives while at
 * least one authenticator of the context is registered.
 */
class ZapHandler {
  static readonly #byContext = new WeakMap<zmq.Context, ZapHandler>();
  /**
   * When a handler of the context last closed: libzmq frees the inproc name only later, in its
   * reaper thread, so a new handler's bind may meet EADDRINUSE for a few milliseconds after that.
   */
  static readonly #closedAt = new WeakMap<zmq.Context, number>();
  /** The last closed handler of each context, until libzmq has freed the endpoint it held. */
  static readonly #releasing = new WeakMap<zmq.Context, Promise<void>>();
  readonly #context: zmq.Context;
  readonly #socket: Router;
  /** Settles when libzmq has destroyed the socket, and so has unregistered its endpoint. */
  readonly #destroyed: Promise<void> | undefined;
  readonly #domains = new Map<string, Authenticator>();
  readonly #ready: Promise<void>;

  private constructor(context: zmq.Context) {
    this.#context = context;
    // linger 0: a reply to a handshake that is gone has nowhere to go.
    this.#socket = new Router({ context, linger: 0 });
    this.#destroyed = destruction(this.#socket);
    this.#ready = this.#bind().then(
      () => void this.#serve(),
      (error: unknown) => {
        this.#close(false);
        throw new AddressInUseError(ZAP_ENDPOINT, { cause: error });
      },
    );
  }

  static async register(auth: Authenticator): Promise<ZapHandler> {
    let handler = ZapHandler.#byContext.get(auth.context);
    if (!handler) {
      handler = new ZapHandler(auth.context);
      ZapHandler.#byContext.set(auth.context, handler);
    }
    if (handler.#domains.has(auth.domain)) {
      throw new InvalidArgumentError(
        "options.domain",
        auth.domain,
        "a ZAP domain no other authenticator in the context uses",
      );
    }
    handler.#domains.set(auth.domain, auth);
    try {
      await handler.#ready;
    } catch (error) {
      handler.#domains.delete(auth.domain);
      throw error;
    }
    return handler;
  }

  /** Settles when the handler is gone and its endpoint free, or at once while others use it. */
  unregister(auth: Authenticator): Promise<void> {
    if (this.#domains.get(auth.domain) === auth) this.#domains.delete(auth.domain);
    return this.#domains.size === 0 ? this.#close() : Promise.resolve();
  }

  /**
   * Binds the endpoint, retrying EADDRINUSE for a while after an earlier handler of the context
   * closed (its name is still being freed). ZSocket binds in the main thread, so no bind races
   * the socket's receive.
   */
  async #bind(): Promise<void> {
    await ZapHandler.#releasing.get(this.#context);
    const closedAt = ZapHandler.#closedAt.get(this.#context);
    // Counted from after the wait too: when the release could not be seen and the wait ran out,
    // the name may still be held, and the retries get their own time instead of one last try.
    const deadline = closedAt === undefined ? 0 : Math.max(closedAt + RELEASE_WAIT_MS, Date.now() + RELEASE_RETRY_MS);
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        await this.#socket.bind(ZAP_ENDPOINT);
        return;
      } catch (error) {
        if (!(error instanceof AddressInUseError) || Date.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /**
   * `bound`: whether this handler held the endpoint (its successor then waits for the name).
   * Settles once libzmq has freed the name, or after RELEASE_WAIT_MS if that cannot be seen.
   */
  #close(bound = true): Promise<void> {
    if (ZapHandler.#byContext.get(this.#context) === this) ZapHandler.#byContext.delete(this.#context);
    // Closed at once, never unbound: zeromq.js runs unbind() in a libuv worker thread while this
    // socket's pending receive keeps polling it from the main thread, and libzmq sockets are not
    // thread-safe. The two threads working one socket's pipes aborted the process
    // (pipe.cpp:355, about 1 run in 10 of security.test.js under load). close() stops the
    // polling first and runs in the main thread; libzmq's reaper thread frees the name later.
    this.#socket.close();
    if (!bound) return Promise.resolve();
    ZapHandler.#closedAt.set(this.#context, Date.now());
    if (!this.#destroyed) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const released = Promise.race([
      this.#destroyed,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, RELEASE_WAIT_MS);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      if (ZapHandler.#releasing.get(this.#context) === released) ZapHandler.#releasing.delete(this.#context);
    });
    ZapHandler.#releasing.set(this.#context, released);
    return released;
  }

  /** The receive loop: nothing a request does (or a bug in a policy) escapes it. */
  async #serve(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.#socket.receive();
      } catch (error) {
        if (error instanceof ClosedError) return;
        this.#report(error);
        continue;
      }
      try {
        await this.#answer(frames);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  async #answer(frames: Buffer[]): Promise<void> {
    // [routing id, "", version, request id, domain, address, identity, mechanism, ...credentials]
    const [route, empty, version, requestId, domainFrame, addressFrame, , mechanismFrame] = frames;
    if (route === undefined || empty === undefined || requestId === undefined || empty.length !== 0) {
      this.#countMalformed(frames.length);
      return;
    }
    const reply = (status: string, text: string, userId = "") =>
      this.#socket.send([route, empty, ZAP_VERSION, requestId, status, text, userId, ""]);
    if (version?.toString() !== ZAP_VERSION || mechanismFrame === undefined) {
      this.#countMalformed(frames.length);
      await reply("400", "malformed ZAP request");
      return;
    }
    const domain = domainFrame?.toString() ?? "";
    const auth = this.#domains.get(domain);
    if (!auth) {
      // libzmq with no ZAP handler lets every client in; keep that for servers that have no
      // authenticator of their own, and refuse those whose authenticator has gone.
      if (domain === "") await reply("200", "OK", "anonymous");
      else await reply("400", "unknown ZAP domain");
      return;
    }
    const decision = await auth.decide(addressFrame?.toString() ?? "", mechanismFrame.toString(), frames.slice(8));
    await reply(decision.ok ? "200" : "400", decision.reason, decision.userId);
  }

  #any(): Authenticator | undefined {
    return this.#domains.values().next().value;
  }

  #countMalformed(frames: number): void {
    const auth = this.#any();
    if (auth) auth.stats.malformed++;
    this.#report(new Error(`malformed ZAP request of ${frames} frames`));
  }

  #report(error: unknown): void {
    const auth = this.#any();
    const failure = error instanceof Error ? error : new Error(String(error));
    try {
      auth?.reportError(failure);
    } catch {
      // a failing error hook must not stop the loop
    }
  }
}

/**
 * When libzmq has destroyed a socket: its monitor stops (zeromq.js's "end" event) only after
 * the reaper thread has unregistered the socket's inproc endpoints. Undefined when the monitor
 * cannot be made (zeromq.js throws EINTR when a signal interrupts it).
 */
function destruction(socket: Router): Promise<void> | undefined {
  try {
    const events = observe(socket.raw);
    return new Promise((resolve) => events.on("end", () => resolve()));
  } catch {
    return undefined;
  }
}
