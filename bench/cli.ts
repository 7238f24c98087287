/**
 * `npm run bench -- cli`: what one shell command costs. One `zerokit rpc EP echo x` against a
 * running server (wall time from spawn to exit, median and p90, and max RSS), next to the floor,
 * a bare `node -e 0`, and the ceiling, a minimal raw zeromq.js script making the same call
 * (a DEALER sending one zerorpc request, packed and unpacked with msgpackr, as any Node client of
 * zerorpc must). Then the wall time of a process that only imports each package entry, next to
 * one that imports `zeromq` alone. All processes of one round run back to back, round after
 * round, so every case sees the same machine; the rows are medians over the rounds.
 *
 * Python's `zerorpc` CLI is not installed here: the figures the README compares with were
 * measured by hand (see issue 14), and are not rows of this table.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RpcServer } from "../src/rpc/index.js";
import { Child, childMain, median, type Row, repoRoot, row } from "./lib.js";

const ROUNDS = 15;
/** Rounds measured for max RSS (through /usr/bin/time or an exit hook, see {@link maxRss}). */
const RSS_ROUNDS = 5;
const ENTRIES = ["zerokit", "zerokit/rpc", "zerokit/state", "zerokit/zre", "zerokit/draft"];

/** The ceiling: one zerorpc call with nothing but zeromq.js and msgpackr. */
function rawCallScript(endpoint: string): string {
  return `import { Dealer } from "zeromq";
import { pack, unpack } from "msgpackr";
const dealer = new Dealer({ linger: 0 });
dealer.connect(${JSON.stringify(endpoint)});
await dealer.send([Buffer.alloc(0), pack([{ message_id: "1", v: 3 }, "echo", ["x"]])]);
const [, reply] = await dealer.receive();
const [, name, args] = unpack(reply);
if (name !== "OK") process.exit(1);
process.stdout.write(args[0] + "\\n");
dealer.close();`;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Runs `node ...args` in the repository; resolves with its wall time in ms, from spawn to exit. */
function timed(args: readonly string[], prefix: readonly string[] = []): Promise<{ ms: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const command = prefix.length > 0 ? prefix[0]! : process.execPath;
    const argv = prefix.length > 0 ? [...prefix.slice(1), process.execPath, ...args] : [...args];
    const start = performance.now();
    const child = spawn(command, argv, { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - start;
      if (code !== 0) reject(new Error(`node ${args.join(" ")} exited with ${code}\n${stderr}`));
      else resolve({ ms, stderr });
    });
  });
}

const TIME = "/usr/bin/time";
/** Prints the process's own max RSS when it exits (where /usr/bin/time is missing). */
const RSS_HOOK = `data:text/javascript,process.on("exit",()=>process.stderr.write("\\nmaxrss-kib="+process.resourceUsage().maxRSS+"\\n"))`;

/** The max RSS of `node ...args`, in MiB. */
async function maxRss(args: readonly string[]): Promise<number> {
  if (existsSync(TIME)) {
    const { stderr } = await timed(args, [TIME, "-f", "maxrss-kib=%M"]);
    return kib(stderr) / 1024;
  }
  const { stderr } = await timed(["--import", RSS_HOOK, ...args]);
  return kib(stderr) / 1024;
}

function kib(stderr: string): number {
  const match = /maxrss-kib=(\d+)/.exec(stderr);
  if (!match) throw new Error(`no max RSS in ${JSON.stringify(stderr)}`);
  return Number(match[1]);
}

childMain(import.meta.url, {
  server: async (_args, io) => {
    const server = new RpcServer({ echo: (x: unknown) => x }, { name: "bench" });
    io.report({ endpoint: await server.bind("tcp://127.0.0.1:*") });
    await io.released;
    server.close();
  },
});

export async function run(): Promise<Row[]> {
  const server = Child.spawn(import.meta.url, "server");
  try {
    const { endpoint } = await server.next<{ endpoint: string }>();
    const cases: Record<string, string[]> = {
      floor: ["-e", "0"],
      raw: ["--input-type=module", "-e", rawCallScript(endpoint)],
      cli: [join(repoRoot, "bin", "zerokit.js"), "rpc", endpoint, "echo", "x"],
      zeromq: ["--input-type=module", "-e", `import "zeromq";`],
      ...Object.fromEntries(ENTRIES.map((entry) => [entry, ["--input-type=module", "-e", `import "${entry}";`]])),
    };
    const times = new Map<string, number[]>(Object.keys(cases).map((name) => [name, []]));
    for (const args of Object.values(cases)) await timed(args); // unmeasured: warm the file cache
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, args] of Object.entries(cases)) times.get(name)!.push((await timed(args)).ms);
    }
    const rss = new Map<string, number[]>([
      ["floor", []],
      ["raw", []],
      ["cli", []],
    ]);
    for (let round = 0; round < RSS_ROUNDS; round++) {
      for (const [name, values] of rss) values.push(await maxRss(cases[name]!));
    }
    const p50 = (name: string) => median(times.get(name)!);
    const p90 = (name: string) => percentile(times.get(name)!, 0.9);
    const mib = (name: string) => median(rss.get(name)!);
    const rows = [
      row("`zerokit rpc EP echo x`, wall p50 (raw: zeromq.js script; lower is better)", "ms", p50("cli"), p50("raw")),
      row("`zerokit rpc EP echo x`, wall p90 (raw: zeromq.js script)", "ms", p90("cli"), p90("raw")),
      row("`zerokit rpc EP echo x`, max RSS (raw: zeromq.js script)", "MiB", mib("cli"), mib("raw")),
      row("`node -e 0` (the floor), wall p50 (raw: zeromq.js script)", "ms", p50("floor"), p50("raw")),
      row("`node -e 0` (the floor), max RSS (raw: zeromq.js script)", "MiB", mib("floor"), mib("raw")),
    ];
    for (const entry of ENTRIES) {
      rows.push(row(`import "${entry}", process wall p50 (raw: import "zeromq")`, "ms", p50(entry), p50("zeromq")));
    }
    await server.finish();
    return rows;
  } catch (error) {
    server.kill();
    throw error;
  }
}
