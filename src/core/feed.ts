/**
 * Fan-out of events to any number of consumers: each sees every event from the moment it
 * subscribed, through its own bounded queue (a consumer too far behind loses its oldest events,
 * counted), until it stops, its signal aborts, or the feed closes.
 */
import { abortErrorFrom, ClosedError } from "./errors.js";

interface Queue<T> {
  items: T[];
  head: number;
  wake: (() => void) | undefined;
}

export class Feed<T> {
  readonly #queues = new Set<Queue<T>>();
  readonly #limit: number;
  readonly #onDrop: () => void;
  readonly #closedMessage: string;
  #closed = false;

  /**
   * @param limit events one consumer may have queued before it loses its oldest
   * @param onDrop called once per event a consumer lost
   * @param closedMessage what {@link first} rejects with when the feed closes first
   */
  constructor(limit: number, onDrop: () => void, closedMessage = "the feed was closed") {
    this.#limit = limit;
    this.#onDrop = onDrop;
    this.#closedMessage = closedMessage;
  }

  /** Whether anyone is listening (so emitters can skip building events). */
  get listening(): boolean {
    return this.#queues.size > 0;
  }

  emit(event: T): void {
    for (const queue of this.#queues) {
      if (queue.items.length - queue.head >= this.#limit) {
        queue.head++;
        this.#onDrop();
      }
      queue.items.push(event);
      queue.wake?.();
    }
  }

  /** The events from now on. With `signal`, the loop ends normally when it aborts. */
  subscribe(signal: AbortSignal | undefined): AsyncIterableIterator<T> {
    const queue: Queue<T> = { items: [], head: 0, wake: undefined };
    const wake = () => queue.wake?.();
    if (!this.#closed) this.#queues.add(queue);
    signal?.addEventListener("abort", wake, { once: true });
    const finish = () => {
      this.#queues.delete(queue);
      signal?.removeEventListener("abort", wake);
    };
    const iterator: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (signal?.aborted) {
            finish();
            return { value: undefined, done: true };
          }
          if (queue.head < queue.items.length) {
            const value = queue.items[queue.head++] as T;
            // Compact now and then so a long-lived consumer's array does not grow without end.
            if (queue.head > 1024 && queue.head * 2 > queue.items.length) {
              queue.items = queue.items.slice(queue.head);
              queue.head = 0;
            }
            return { value, done: false };
          }
          if (!this.#queues.has(queue)) {
            finish();
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => {
            queue.wake = resolve;
          });
          queue.wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        finish();
        queue.wake?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /**
   * Waits for the first event `match` accepts (subscribed before returning, so nothing emitted
   * after the call is missed).
   */
  async first(match: (event: T) => boolean, signal: AbortSignal): Promise<T> {
    const events = this.subscribe(signal);
    try {
      for await (const event of events) if (match(event)) return event;
    } finally {
      await events.return?.();
    }
    throw signal.aborted ? abortErrorFrom(signal) : new ClosedError(this.#closedMessage);
  }

  /** Ends every consumer's loop (after the events already queued for it). */
  close(): void {
    this.#closed = true;
    const queues = [...this.#queues];
    this.#queues.clear();
    for (const queue of queues) queue.wake?.();
  }
}
