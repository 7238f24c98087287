/**
 * A chunk of items or results that are all numbers travels between a pool and its workers as
 * one Float64Array (lossless for every JS number, -0 and NaN included): the structured clone
 * of an array writes and reads each number on its own, and on the receiving side each
 * non-integer or large number becomes a heap object the garbage collector then copies. Kept
 * apart from pool.ts so a worker loads only this.
 */

/** Below this many values the check and copy cost more than they save. */
const SMALLEST = 64;

/**
 * `values[start..end)` as a Float64Array when every one is a number, else as an array (`values`
 * itself when that is the whole of it). One copy either way: a pool packs a chunk straight from
 * its map's list.
 */
export function packNumbers(values: unknown[], start = 0, end = values.length): unknown[] | Float64Array {
  const whole = start === 0 && end === values.length;
  const plain = () => (whole ? values : values.slice(start, end));
  if (end - start < SMALLEST) return plain();
  for (let i = start; i < end; i++) if (typeof values[i] !== "number") return plain();
  const packed = new Float64Array(end - start);
  for (let i = start; i < end; i++) packed[i - start] = values[i] as number;
  return packed;
}
