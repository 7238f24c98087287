/**
 * The result that is both awaitable and iterable, written once: an RPC call's (await the value,
 * or iterate a stream item by item) and, later, a state map's (await every result, or iterate
 * them as they come). It decides nothing itself: the first `await` asks its source to collect,
 * each `for await` asks it for an iterator, and the source knows what either means.
 */

/** What a {@link DualResult} is made from. */
export interface ResultSource<C, I> {
  /**
   * Everything as one value. Called once, the first time the result is awaited (or
   * `then`/`catch`/`finally` is called); every later await shares that promise.
   */
  collect(): Promise<C>;
  /** An iterator over the items, each time the result is iterated (the source decides whether each gets its own). */
  iterate(): AsyncIterator<I>;
}

/**
 * Awaitable (a `Promise<C>` in every way a caller uses one) and async-iterable (`I` items).
 * Nothing happens until it is first awaited or iterated, which is how a source tells a caller
 * who collects from one who consumes with backpressure.
 *
 * @example
 * const result = new DualResult({ collect: () => all(), iterate: () => items() });
 * const values = await result;             // or: for await (const item of result) ...
 */
export class DualResult<C, I> implements Promise<C>, AsyncIterable<I> {
  readonly [Symbol.toStringTag] = "Promise";
  readonly #source: ResultSource<C, I>;
  #collected: Promise<C> | undefined;

  constructor(source: ResultSource<C, I>) {
    this.#source = source;
  }

  // biome-ignore lint/suspicious/noThenProperty: the result is deliberately awaitable.
  then<A = C, B = never>(
    onFulfilled?: ((value: C) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise().then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<C | B> {
    return this.#promise().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<C> {
    return this.#promise().finally(onFinally);
  }

  [Symbol.asyncIterator](): AsyncIterator<I> {
    return this.#source.iterate();
  }

  #promise(): Promise<C> {
    this.#collected ??= this.#source.collect();
    return this.#collected;
  }
}
