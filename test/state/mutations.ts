/** Named mutations the test state server loads (the safe form of ZProc's @atomic). */
import { setTimeout as delay } from "node:timers/promises";
import type { MutationState } from "../../src/state/index.js";

export function transfer(state: MutationState, from: string, to: string, amount: number): number {
  const balance = (state.get(from) as number) ?? 0;
  if (balance < amount) throw new Error(`insufficient funds in ${from}`);
  state.set(from, balance - amount);
  state.set(to, ((state.get(to) as number) ?? 0) + amount);
  return balance - amount;
}

export function halfThenFail(state: MutationState): void {
  state.set("touched", true);
  throw new Error("changed my mind");
}

export async function slow(state: MutationState): Promise<void> {
  state.set("slow", true);
  await delay(60_000, undefined, { ref: false });
}
