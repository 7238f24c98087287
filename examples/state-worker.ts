/** Worker functions for examples/08-state.ts (each runs in its own process). */
import type { State } from "../src/state/index.js";

/** Increments the shared counter `times` times, atomically on the server. */
export async function bump(state: State, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await state.increment("count");
}

export function square(x: number): number {
  return x * x;
}
