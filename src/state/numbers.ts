/**
 * A chunk of items or results that are all numbers travels between a pool and its workers as
 * one Float64Array (lossless for every JS number, -0 and NaN included): the structured clone
 * of an array writes and reads each number on its own, and on the receiving side each
 * non-integer or large number becomes a heap object the garbage collector then copies. Kept
 * apart from pool.ts so a worker loads only this.
 */

/** Below this many values the check and copy cost more than they save. */
const SMALLEST = 64;

/** `values` as a Float64Array when every one is a number, else `values` itself. */
export function packNumbers(values: unknown[]): unknown[] | Float64Array {
  if (values.length < SMALLEST) return values;
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== "number") return values;
  return Float64Array.from(values as number[]);
}
