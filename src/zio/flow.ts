/**
 * ZIO flows: credit-based one-way streams between a serverish port (SERVER, ROUTER) and a
 * clientish one (CLIENT, DEALER). Every flow message has form `FLOW` and a JSON label whose
 * `"flow"` is BOT, DAT, PAY or EOT, written as ZIO Python writes it (`json.dumps`). The client
 * sends BOT with its direction and credit; the server answers BOT with the reversed direction and
 * may lower the credit. The taker (direction `inject`) grants PAY; the giver (`extract`) spends
 * one credit per DAT, so a flow never has more messages in flight than its credit. Either side
 * may send EOT; the other echoes it; the initiator drains until the echo. Each side numbers what
 * it sends: BOT is seqno 0, then 1, 2...
 */
import { InvalidArgumentError, TimeoutError } from "../core/errors.js";
import { checkDuration, checkNumber, checkObject, checkOneOf, checkSignal } from "../core/options.js";
import { waitWithin } from "../core/wait.js";
import { FlowEndedError, FlowError, PortStateError } from "./errors.js";
import { Message } from "./message.js";
import { giveBack, type Port, receiveAbandonable } from "./port.js";
import { pyJson } from "./pyjson.js";

/** `extract`: this side gives (sends DAT); `inject`: this side takes (receives DAT, grants PAY). */
export type FlowDirection = "extract" | "inject";

/** Options of {@link Flow}. */
export interface FlowOptions {
  direction: FlowDirection;
  /** The most messages in flight. A server lowers it to a client's smaller offer. Default 10. */
  credit?: number;
  /** Default ms a wait (bot, put, get, eot) may take; undefined: no limit. */
  timeout?: number;
}

/** Options of a flow wait. */
export interface FlowWaitOptions {
  /** ms; default the flow's `timeout`. */
  timeout?: number;
  signal?: AbortSignal;
}

const SERVERISH = new Set(["SERVER", "ROUTER"]);
const CLIENTISH = new Set(["CLIENT", "DEALER"]);
const MAX_CREDIT = 1_000_000;
/** The labels of the common case (no application keys), written once. */
const DAT_LABEL = pyJson({ flow: "DAT" });
const EOT_LABEL = pyJson({ flow: "EOT" });

type FlowKind = "BOT" | "DAT" | "PAY" | "EOT";

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

function checkWait(options: FlowWaitOptions | undefined): void {
  if (options === undefined) return;
  checkObject("options", options);
  checkDuration("options.timeout", options.timeout, { allowZero: true, orInfinity: true });
  checkSignal("options.signal", options.signal);
}

/** The label as an object (ZIO's `label_object`): `{}` when empty. */
function labelObject(message: Message): Record<string, unknown> {
  const value = message.labelObject();
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FlowError(`a flow label is a JSON object, got ${JSON.stringify(message.label.slice(0, 80))}`);
  }
  return value as Record<string, unknown>;
}

/** Sets the label's `flow` (and more) keeping the application's keys, as ZIO's `dict.update`. */
function withFlow(message: Message, fields: Record<string, unknown>): void {
  message.form = "FLOW";
  if (message.label === "" && fields.flow === "DAT" && Object.keys(fields).length === 1) {
    message.label = DAT_LABEL;
    return;
  }
  if (message.label === DAT_LABEL && fields.flow === "DAT") return;
  const object = message.label === "" ? {} : labelObject(message);
  message.label = pyJson(Object.assign(object, fields));
}

function kindOf(message: Message): { kind: FlowKind; label: Record<string, unknown> } {
  if (message.form !== "FLOW") throw new FlowError(`a flow message has form FLOW, got ${JSON.stringify(message.form)}`);
  if (message.label === DAT_LABEL) return { kind: "DAT", label: { flow: "DAT" } };
  const label = labelObject(message);
  const kind = label.flow;
  if (kind !== "BOT" && kind !== "DAT" && kind !== "PAY" && kind !== "EOT") {
    throw new FlowError(`unknown flow message ${JSON.stringify(kind)}`);
  }
  return { kind, label };
}

/**
 * One flow over a port. Single-threaded like everything in Node, and one-way: a giver calls
 * `put()`, a taker `get()`; one wait of each kind at a time (a second overlapping `put()` or
 * `get()` waits behind the first). The flow owns the port's receive side from `bot()` until it
 * ends, so do not `recv()` on the port meanwhile.
 *
 * @example
 * const flow = new Flow(clientPort, { direction: "inject", credit: 10 });
 * await flow.bot();
 * for (;;) {
 *   const dat = await flow.get({ timeout: 1000 }).catch((e) => (e instanceof FlowEndedError ? null : Promise.reject(e)));
 *   if (!dat) break;
 * }
 */
export class Flow implements AsyncDisposable {
  readonly port: Port;
  readonly direction: FlowDirection;
  readonly serverish: boolean;
  readonly #timeout: number | undefined;
  #total: number;
  /** Giver: credit it may spend now. Taker: credit consumed and not yet granted back. */
  #credit = 0;
  #sendSeqno = 0;
  #remote: Buffer | number | undefined;
  #state: "idle" | "bot" | "flowing" | "ending" | "ended" = "idle";
  #failure: Error | undefined;
  /** Taker: DATs received and not yet taken by `get()`. */
  #queue: Message[] = [];
  #queueHead = 0;
  #waiter: Waiter | undefined;
  #echo: Message | undefined;
  #pump: Promise<void> | undefined;
  /** Abandons the receive the loop waits on, if it waits. */
  #abandon: (() => void) | undefined;
  /** Whether close() abandoned that receive (the loop then ends when it settles, and is not awaited). */
  #abandoned = false;
  readonly #stop = new AbortController();
  #puts: Promise<unknown> = Promise.resolve();
  #gets: Promise<unknown> = Promise.resolve();

  /** @throws {InvalidArgumentError} for a port that is neither serverish nor clientish, or a bad option. */
  constructor(port: Port, options: FlowOptions) {
    checkObject("options", options);
    if (options === undefined) throw new InvalidArgumentError("options", options, "{ direction, credit }");
    if (options.direction === undefined) {
      throw new InvalidArgumentError("options.direction", undefined, '"extract" or "inject"');
    }
    checkOneOf("options.direction", options.direction, ["extract", "inject"]);
    checkNumber("options.credit", options.credit, { min: 1, max: MAX_CREDIT, integer: true });
    checkDuration("options.timeout", options.timeout, { allowZero: true, orInfinity: true });
    const type = (port as { type?: string } | undefined)?.type ?? "";
    if (!SERVERISH.has(type) && !CLIENTISH.has(type)) {
      throw new InvalidArgumentError("port", type, "a SERVER, ROUTER, CLIENT or DEALER port");
    }
    this.port = port;
    this.direction = options.direction;
    this.serverish = SERVERISH.has(type);
    this.#total = options.credit ?? 10;
    this.#timeout = options.timeout;
  }

  /** The credit agreed (after {@link bot}: the server's choice). */
  get totalCredit(): number {
    return this.#total;
  }

  /** Giver: credit it may spend now. Taker: credit consumed and not granted back yet. */
  get credit(): number {
    return this.#credit;
  }

  /** Whether the flow ended (EOT both ways) or broke. */
  get ended(): boolean {
    return this.#state === "ended";
  }

  #giver(): boolean {
    return this.direction === "extract";
  }

  /**
   * The BOT handshake: a client sends its BOT and waits for the server's; a server waits for a
   * client's (with the other direction), lowers its credit to the client's offer if smaller, and
   * answers. `message` (optional) carries application label keys and payload. Resolves with the
   * other side's BOT. A taker then grants all its credit at once (ZIO's `begin`).
   *
   * @throws {FlowError} for a BOT with the same direction or no credit. @throws {TimeoutError}.
   * @example
   * const theirs = await flow.bot({ timeout: 5000 });
   */
  async bot(options: FlowWaitOptions & { message?: Message } = {}): Promise<Message> {
    checkWait(options);
    if (options.message !== undefined && !(options.message instanceof Message)) {
      throw new InvalidArgumentError("options.message", options.message, "a zio Message");
    }
    if (this.#state !== "idle") throw new FlowError("the BOT handshake was done already");
    this.#state = "bot";
    try {
      let theirs: Message;
      if (this.serverish) {
        theirs = await this.#receiveBot(options);
        await this.#sendBot(options.message);
      } else {
        await this.#sendBot(options.message);
        theirs = await this.#receiveBot(options);
      }
      this.#state = "flowing";
      this.#pump = this.#run();
      if (!this.#giver()) {
        this.#credit = this.#total;
        await this.#grant();
      }
      return theirs;
    } catch (error) {
      this.#state = "ended";
      throw error;
    }
  }

  async #sendBot(message: Message | undefined): Promise<void> {
    const bot = message ?? new Message();
    withFlow(bot, { flow: "BOT", credit: this.#total, direction: this.direction });
    await this.#send(bot);
  }

  async #receiveBot(options: FlowWaitOptions): Promise<Message> {
    const message = await this.#recv(options);
    const { kind, label } = kindOf(message);
    if (kind !== "BOT") throw new FlowError(`expected BOT, got ${kind}`);
    if (label.direction === this.direction || (label.direction !== "extract" && label.direction !== "inject")) {
      throw new FlowError(`a BOT's direction must be the other one, got ${JSON.stringify(label.direction)}`);
    }
    const offer = label.credit;
    if (typeof offer !== "number" || !Number.isInteger(offer) || offer < 1 || offer > MAX_CREDIT) {
      throw new FlowError(`a BOT's credit is an integer from 1 to ${MAX_CREDIT}, got ${JSON.stringify(offer)}`);
    }
    // A server may lower its credit to the client's offer; a client takes the server's.
    if (!this.serverish || offer < this.#total) this.#total = offer;
    if (this.serverish) this.#remote = message.routingId;
    return message;
  }

  async #recv(options: FlowWaitOptions): Promise<Message> {
    const timeout = options.timeout ?? this.#timeout;
    const message = await this.port.recv({
      ...(timeout === undefined ? {} : { timeout }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (message === null) throw new TimeoutError(`no flow message within ${timeout} ms`, timeout ?? 0);
    return message;
  }

  #send(message: Message): Promise<void> {
    message.form = "FLOW";
    message.seqno = this.#sendSeqno++;
    if (this.serverish) message.routingId = this.#remote;
    return this.port.send(message);
  }

  /** The receive loop from BOT to the end: the one boundary no peer's message crosses. */
  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (this.#state === "flowing" || this.#state === "ending") {
      let message: Message | null;
      try {
        // No signal: a receive with one takes zerokit's slower waiter path, once per message
        // (15-35% of a flow's rate). close() abandons the waiting receive instead.
        const receive = receiveAbandonable(this.port);
        this.#abandon = receive.abandon;
        message = (await receive.message) ?? null;
        this.#abandon = undefined;
      } catch (error) {
        this.#abandon = undefined;
        if (signal.aborted) return;
        if ((error as { code?: string }).code === "EPROTO") continue; // not ZIO: the port counted it
        this.#fail(error instanceof PortStateError ? error : new FlowError("the port failed", { cause: error }));
        return;
      }
      if (message === null) return; // abandoned by close()
      if (signal.aborted) {
        giveBack(this.port, message); // received just before close(): it is the port's next message
        return;
      }
      if (this.serverish && !sameRemote(message.routingId, this.#remote)) continue; // another client's
      try {
        this.#handle(message);
      } catch (error) {
        this.#fail(error instanceof FlowError ? error : new FlowError("a flow message failed", { cause: error }));
        return;
      }
    }
  }

  #handle(message: Message): void {
    const { kind, label } = kindOf(message);
    if (kind === "EOT") {
      if (this.#state === "ending") {
        this.#echo = message;
      } else {
        // The other side ends: echo at once; what it sent before stays for get().
        this.#send(new Message({ form: "FLOW", label: EOT_LABEL })).catch(() => {});
      }
      this.#state = "ended";
      this.#stop.abort();
      this.#wake();
      return;
    }
    if (this.#state === "ending") return; // draining until the echo
    if (this.#giver()) {
      if (kind !== "PAY") throw new FlowError(`a giver receives PAY, got ${kind}`);
      const pay = label.credit;
      if (typeof pay !== "number" || !Number.isInteger(pay) || pay < 0 || this.#credit + pay > this.#total) {
        throw new FlowError(`a PAY of ${JSON.stringify(pay)} with ${this.#credit}/${this.#total} credit`);
      }
      this.#credit += pay;
      if (this.#credit > 0) this.#wake();
      return;
    }
    if (kind !== "DAT") throw new FlowError(`a taker receives DAT, got ${kind}`);
    if (this.#queue.length - this.#queueHead + this.#credit >= this.#total) {
      throw new FlowError(`a DAT beyond the credit of ${this.#total}`);
    }
    this.#queue.push(message);
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#state = "ended";
    this.#stop.abort();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  /**
   * Runs `wait` under the call's one deadline (its `timeout`, else the flow's) and its signal:
   * however often `wait` waits for a wake again, the timeout runs from the call.
   */
  #within<T>(
    options: FlowWaitOptions | undefined,
    what: string,
    wait: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = options?.timeout ?? this.#timeout;
    const timedOut = (ms: number) => new TimeoutError(`${what} within ${ms} ms`, ms);
    return waitWithin({ timeout, signal: options?.signal, timedOut }, wait);
  }

  /** The next wake (credit, a DAT, the end); rejects with the flow's failure, or when `signal` aborts. */
  #woken(signal: AbortSignal): Promise<void> {
    // A wait re-arms after each wake; an abort that came between two arms never fires again.
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (this.#waiter === waiter) this.#waiter = undefined;
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      this.#waiter = waiter;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #assertFlowing(): void {
    if (this.#failure) throw this.#failure;
    if (this.#state === "idle" || this.#state === "bot") throw new FlowError("the BOT handshake is not done");
    if (this.#state !== "flowing") throw new FlowEndedError();
  }

  /**
   * Giver: sends `message` as a DAT (form FLOW, label `"flow": "DAT"` added to its JSON keys,
   * the next seqno), spending one credit; waits for PAY when there is none.
   *
   * @throws {FlowEndedError} when the other side ended the flow. @throws {TimeoutError} when no
   *   credit comes in time. @throws {FlowError} when the other side broke the protocol.
   * @example
   * await flow.put(new Message({ payload: [chunk] }));
   */
  put(message: Message, options?: FlowWaitOptions): Promise<void> {
    const run = this.#puts.then(() => this.#put(message, options));
    this.#puts = run.catch(() => {});
    return run;
  }

  async #put(message: Message, options: FlowWaitOptions | undefined): Promise<void> {
    checkWait(options);
    if (!(message instanceof Message)) throw new InvalidArgumentError("message", message, "a zio Message");
    if (!this.#giver()) throw new FlowError("an inject flow takes; it cannot put");
    this.#assertFlowing();
    if (this.#credit === 0) {
      await this.#within(options, "no PAY", async (signal) => {
        while (this.#credit === 0) {
          await this.#woken(signal);
          this.#assertFlowing();
        }
      });
    }
    this.#credit--;
    withFlow(message, { flow: "DAT" });
    await this.#send(message);
  }

  /**
   * Taker: the next DAT, or `null` when `timeout` passes first. Grants PAY for what it consumed
   * before it waits (all of it when nothing is queued, else once half the credit is back).
   *
   * @throws {FlowEndedError} once the other side ended the flow and every DAT it sent before was
   *   taken. @throws {FlowError} when the other side broke the protocol.
   * @example
   * const dat = await flow.get({ timeout: 1000 });
   */
  get(options?: FlowWaitOptions): Promise<Message | null> {
    const run = this.#gets.then(() => this.#get(options));
    this.#gets = run.catch(() => {});
    return run;
  }

  async #get(options: FlowWaitOptions | undefined): Promise<Message | null> {
    checkWait(options);
    if (this.#giver()) throw new FlowError("an extract flow gives; it cannot get");
    if (this.#state === "idle" || this.#state === "bot") throw new FlowError("the BOT handshake is not done");
    for (;;) {
      if (this.#queueHead < this.#queue.length) {
        const message = this.#queue[this.#queueHead]!;
        this.#queue[this.#queueHead++] = undefined as never;
        if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        this.#credit++;
        if (this.#state === "flowing" && this.#credit * 2 >= this.#total) await this.#grant();
        return message;
      }
      if (this.#failure) throw this.#failure;
      if (this.#state !== "flowing") throw new FlowEndedError();
      await this.#grant();
      try {
        // Woken, it returns or throws: this wait is never re-armed, so its deadline is its own.
        await this.#within(options, "no DAT", (signal) => this.#woken(signal));
      } catch (error) {
        if (error instanceof TimeoutError) return null;
        throw error;
      }
    }
  }

  /** Taker: grants the consumed credit back in one PAY. */
  async #grant(): Promise<void> {
    if (this.#credit === 0) return;
    const credit = this.#credit;
    this.#credit = 0;
    await this.#send(new Message({ form: "FLOW", label: pyJson({ flow: "PAY", credit }) }));
  }

  /**
   * Ends the flow from this side: sends EOT (`message` may carry application keys), drains what
   * still arrives (a taker drops DATs in flight), and resolves with the other side's echo.
   *
   * @throws {TimeoutError} when no echo comes in time (the flow is ended anyway).
   * @example
   * await flow.eot({ timeout: 5000 });
   */
  async eot(options: FlowWaitOptions & { message?: Message } = {}): Promise<Message> {
    checkWait(options);
    if (options.message !== undefined && !(options.message instanceof Message)) {
      throw new InvalidArgumentError("options.message", options.message, "a zio Message");
    }
    if (this.#failure) throw this.#failure;
    if (this.#state !== "flowing") throw new FlowEndedError("the flow already ended");
    this.#state = "ending";
    const message = options.message ?? new Message();
    if (message.label === "") message.label = EOT_LABEL;
    else withFlow(message, { flow: "EOT" });
    await this.#send(message);
    try {
      if (!this.#echo) {
        await this.#within(options, "no EOT echo", async (signal) => {
          while (!this.#echo) {
            await this.#woken(signal);
            if (this.#failure) throw this.#failure;
            if (!this.#echo && this.#state === "ended")
              throw new FlowEndedError("the flow was closed before its EOT echo");
          }
        });
      }
    } catch (error) {
      this.#state = "ended";
      this.#stop.abort();
      throw error;
    }
    return this.#echo!; // the wait ended with it
  }

  /**
   * Stops the flow's receive loop (without EOT), at once even when the peer sends nothing: the
   * receive the loop was waiting on is abandoned, and its message goes to the port's next
   * `recv()`, in order. Safe twice.
   *
   * @example
   * await flow.close(); // the port is the caller's again
   */
  async close(): Promise<void> {
    if (this.#state !== "ended") {
      this.#state = "ended";
      this.#stop.abort();
      this.#wake();
    }
    const abandon = this.#abandon;
    if (abandon) {
      this.#abandon = undefined;
      this.#abandoned = true;
      abandon();
    }
    // An abandoned receive settles only when a message comes: the loop then just ends.
    if (!this.#abandoned) await this.#pump;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function sameRemote(a: Buffer | number | undefined, b: Buffer | number | undefined): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return a !== undefined && b !== undefined && a.equals(b);
}
