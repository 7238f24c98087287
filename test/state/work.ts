/** Worker functions for the state tests (run in worker processes). */
import { readFileSync } from "node:fs";
import type { State } from "../../src/state/index.js";

export default async function count(state: State, times: number): Promise<number> {
  for (let i = 0; i < times; i++) await state.increment("count");
  return process.pid;
}

export async function txIncrement(state: State, times: number): Promise<number> {
  for (let i = 0; i < times; i++) {
    await state.transaction(async (tx) => {
      const n = ((await tx.get("n" as never)) as number | undefined) ?? 0;
      tx.set("n" as never, (n + 1) as never);
    });
  }
  return times;
}

export function fail(_state: State, message: string): never {
  const error = new RangeError(message);
  throw error;
}

/** Fails until the state says enough attempts were made (for retry tests). */
export async function flaky(state: State, succeedOn: number): Promise<string> {
  const attempt = await state.increment("attempts");
  if (attempt < succeedOn) process.exit(3);
  return `ok after ${attempt}`;
}

export function square(x: number): number {
  return x * x;
}

export function explode(x: number): number {
  if (x === 7) throw new Error("seven");
  return x;
}

/** The worker's pid, for telling whether a pool reused its processes. */
export function pid(_x: number): number {
  return process.pid;
}

export async function slowSquare(x: number): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  return x * x;
}

/** Ends its worker process on item 3. */
export function dieOnThree(x: number): number {
  if (x === 3) process.exit(5);
  return x;
}

/** A map function that uses its State: adds each item to "total". */
export async function addToTotal(x: number, state: State): Promise<number> {
  await state.increment("total", x);
  return x;
}

/** Whether this worker process has loaded zeromq's native addon (a map function of one parameter should not need it). */
export function loadedZeromq(_x: number): boolean {
  return readFileSync("/proc/self/maps", "utf8").includes("zeromq");
}

export function identity(x: unknown): unknown {
  return x;
}

export function kind(x: unknown): string {
  return typeof x;
}
