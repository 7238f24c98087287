import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repo root, from dist/test/rpc/<file>.js. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const vectorsDir = join(repoRoot, "test", "fixtures", "vectors");

export function readVector<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(join(vectorsDir, name), "utf8")) as T;
}

/** Turns `{"$bin": hex}` markers of the recorded vectors back into Buffers. */
export function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const bin = (value as { $bin?: string }).$bin;
    if (typeof bin === "string") return Buffer.from(bin, "hex");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

let counter = 0;
/** A fresh bind endpoint for a transport (tcp binds an ephemeral port). */
export function endpointFor(transport: "tcp" | "ipc"): string {
  counter++;
  return transport === "tcp" ? "tcp://127.0.0.1:*" : `ipc://${join(tmpdir(), `zk-rpc-${process.pid}-${counter}.sock`)}`;
}

export const transports = ["tcp", "ipc"] as const;

/** Starts a compiled fixture as a child process and waits for its first stdout line. */
export async function startChild(script: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [join(repoRoot, "dist/test/rpc", script), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(([code]) => {
      throw new Error(`${script} exited with ${code} before printing`);
    }),
  ])) as [string];
  return { child, line };
}

/** Kills a child and waits until it is gone. */
export async function kill(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}
