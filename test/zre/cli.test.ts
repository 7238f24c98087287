/**
 * `zerokit peers` shows a peer entering (JSON lines), over beacons on lo; `zerokit gossip-hub`
 * lets two peers on 127.0.0.1 find each other.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers.js";
import { loOptions, randomPort, startPeer } from "./util.js";

function zerokit(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [join(repoRoot, "bin", "zerokit.cjs"), ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ZSYS_INTERFACE: "lo" },
  });
}

/** Resolves with the first output line of `stream` that `match` accepts. */
function line(stream: NodeJS.ReadableStream, match: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let partial = "";
    const onData = (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      const found = lines.find(match);
      if (found !== undefined) {
        stream.off("data", onData);
        resolve(found);
      }
    };
    stream.on("data", onData);
    stream.once("end", () => reject(new Error("the output ended")));
  });
}

test("zerokit peers --json prints a peer entering, with its headers", { timeout: 30000 }, async () => {
  const port = randomPort();
  const peer = await startPeer("watched", { ...loOptions(port), headers: { role: "test" } });
  const child = zerokit(["peers", "--interface", "lo", "--port", String(port), "--json"]);
  try {
    const text = await line(child.stdout, (l) => l.includes('"ENTER"'));
    const event = JSON.parse(text) as { uuid: string; name: string; headers: Record<string, string> };
    assert.deepEqual([event.uuid, event.name, event.headers.role], [peer.uuid, "watched", "test"]);
  } finally {
    child.kill("SIGKILL");
    await peer.stop();
  }
});

test("zerokit gossip-hub lets two peers find each other", { timeout: 30000 }, async () => {
  const endpoint = `tcp://127.0.0.1:${randomPort()}`;
  const hub = zerokit(["gossip-hub", "--bind", endpoint]);
  const peers = [];
  try {
    await line(hub.stderr, (l) => l.includes("listening"));
    const discovery = { mode: "gossip" as const, endpoint, interface: "lo" };
    peers.push(await startPeer("one", { interval: 100, discovery }));
    peers.push(await startPeer("two", { interval: 100, discovery }));
    assert.equal((await peers[0]!.waitFor("two", { timeout: 20000 })).uuid, peers[1]!.uuid);
    assert.equal((await peers[1]!.waitFor("one", { timeout: 20000 })).uuid, peers[0]!.uuid);
  } finally {
    hub.kill("SIGKILL");
    for (const peer of peers) await peer.stop();
  }
});
