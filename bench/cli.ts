/**
 * `npm run bench -- cli`: what one shell command costs. One `zerokit rpc EP echo x` against a
 * running server (wall time from spawn to exit, median and p90, CPU time and max RSS), next to
 * the floor, a bare `node -e 0`, and a minimal raw zeromq.js script making the same call (a
 * DEALER sending one zerorpc request, packed and unpacked with msgpackr): the ceiling of any
 * client that loads zeromq.js. The plain call does not (it speaks ZMTP itself, src/cli/direct.ts),
 * so it may beat that script. The same call with a flag (`-j`) is parsed by commander instead of
 * the plain call's own parser (src/cli/quick.ts), runs from the ES modules of dist/ instead of
 * the plain call's one-file bundle (src/cli/call.ts) and over the zeromq.js client: its row shows
 * what those cost. Then the wall and CPU time of a process that only imports each package entry,
 * next to one that imports `zeromq` alone. All processes of one round run back to back, round
 * after round, so every case sees the same machine; the rows are medians over the rounds.
 *
 * Python's own `zerorpc` CLI makes the same call in the same rounds when it can: the Python named
 * by `ZK_BENCH_PYTHON` (default `python3`) runs `zerorpc.cli:main`, what zerorpc-python's
 * console script runs, with the arguments of the plain call; `zerorpc` comes from wherever that
 * Python finds it (an install, or a checkout on PYTHONPATH; byte-compile a checkout with
 * `python3 -m compileall` as an install is, or under PYTHONDONTWRITEBYTECODE every call compiles
 * zerorpc again). Its rows have it in the raw column. zerorpc-python is not a dependency: when
 * that Python cannot import it, or its CLI prints something else than zerokit's for the call, the
 * suite says why and leaves those rows out.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RpcServer } from "../src/rpc/index.js";
import { Child, childMain, median, type ProcessOutput, type Row, repoRoot, row, runProcess } from "./lib.js";

const ROUNDS = 15;
const ENTRIES = ["zerokit", "zerokit/rpc", "zerokit/state", "zerokit/zre", "zerokit/draft"];

/** The ceiling of a zeromq.js client: one zerorpc call with nothing but zeromq.js and msgpackr. */
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

/** One run: wall time from spawn to exit, CPU time (user + system) and max RSS. */
interface Run {
  ms: number;
  cpuMs: number;
  rssMiB: number;
}

const TIME = "/usr/bin/time";
const HAS_TIME = existsSync(TIME);
/** Where /usr/bin/time is missing, the process reports its own CPU time and max RSS at exit. */
const EXIT_HOOK = `data:text/javascript,process.on("exit",()=>{const u=process.resourceUsage();process.stderr.write("\\nusage="+(u.userCPUTime+u.systemCPUTime)/1000+" "+u.maxRSS+"\\n")})`;

/**
 * The Python that runs zerorpc-python's CLI. Like the ZProc rows of the state suite, it is not a
 * dependency: without it (or without `zerorpc` on its path) the Python rows are left out.
 */
const PYTHON = process.env.ZK_BENCH_PYTHON ?? "python3";
/** What zerorpc-python's `zerorpc` console script runs (setup.py: `zerorpc = zerorpc.cli:main`). */
const PYTHON_CLI = "import sys; from zerorpc.cli import main; sys.exit(main())";
/** The same, reporting its CPU time and max RSS at exit as {@link EXIT_HOOK} does (no /usr/bin/time). */
const PYTHON_CLI_HOOKED = `import atexit, resource, sys
def usage():
    u = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write("\\nusage=%s %s\\n" % ((u.ru_utime + u.ru_stime) * 1000, u.ru_maxrss))
atexit.register(usage)
${PYTHON_CLI}`;

/** A process to time: its command line, and the same reporting its own usage where /usr/bin/time is missing. */
interface Case {
  argv: string[];
  selfReporting: string[];
}

const nodeCase = (...args: string[]): Case => ({
  argv: [process.execPath, ...args],
  selfReporting: [process.execPath, "--import", EXIT_HOOK, ...args],
});

const pythonCase = (...args: string[]): Case => ({
  argv: [PYTHON, "-c", PYTHON_CLI, ...args],
  selfReporting: [PYTHON, "-c", PYTHON_CLI_HOOKED, ...args],
});

/**
 * Runs one case in the repository. CPU time is the steadier figure when the machine is shared:
 * wall time includes waiting for a core.
 */
function measure(c: Case): Promise<Run> {
  const [command, ...argv] = HAS_TIME ? [TIME, "-f", "usage=%e %U %S %M", ...c.argv] : c.selfReporting;
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command!, argv, { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - start;
      const usage = /usage=([\d. ]+)\s*$/.exec(stderr)?.[1]?.trim().split(" ").map(Number);
      if (code !== 0 || !usage) {
        reject(new Error(`${c.argv.join(" ")} exited with ${code}\n${stderr}`));
        return;
      }
      const [cpuMs, rssKiB] = HAS_TIME
        ? [((usage[1] ?? 0) + (usage[2] ?? 0)) * 1000, usage[3] ?? 0]
        : [usage[0] ?? 0, usage[1] ?? 0];
      resolve({ ms, cpuMs, rssMiB: rssKiB / 1024 });
    });
  });
}

/**
 * Whether Python's zerorpc CLI can make the call, printing what zerokit's prints for it (both
 * pprint the result: `'x'`). Says which, in one line, either way.
 */
async function pythonAvailable(cli: Case, python: Case): Promise<boolean> {
  const leftOut = (why: string) => {
    console.log(`cli: ${why} (set ZK_BENCH_PYTHON, PYTHONPATH); the Python zerorpc rows are left out`);
    return false;
  };
  const probe = await runProcess(PYTHON, ["-c", "from zerorpc.version import __version__; print(__version__)"]);
  if (probe.code !== 0) {
    const why = probe.stderr.trim().split("\n").at(-1) || `exit ${probe.code}`;
    return leftOut(
      probe.code === null ? `${PYTHON} does not start: ${why}` : `${PYTHON} cannot import zerorpc: ${why}`,
    );
  }
  const zk = await runProcess(cli.argv[0]!, cli.argv.slice(1));
  const py = await runProcess(python.argv[0]!, python.argv.slice(1));
  if (py.code !== 0 || zk.code !== 0 || py.stdout !== zk.stdout) {
    const printed = (r: ProcessOutput) => `${JSON.stringify(r.stdout)} (exit ${r.code})`;
    return leftOut(`Python's zerorpc CLI printed ${printed(py)} where zerokit printed ${printed(zk)}`);
  }
  console.log(
    `cli: zerorpc ${probe.stdout.trim()} CLI (${PYTHON}) makes the call beside zerokit; its rows have it in the raw column`,
  );
  return true;
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
    const cli = nodeCase(join(repoRoot, "bin", "zerokit.cjs"), "rpc", endpoint, "echo", "x");
    const python = pythonCase(endpoint, "echo", "x");
    const hasPython = await pythonAvailable(cli, python);
    const cases: Record<string, Case> = {
      floor: nodeCase("-e", "0"),
      raw: nodeCase("--input-type=module", "-e", rawCallScript(endpoint)),
      cli,
      ...(hasPython ? { python } : {}),
      cliFlag: nodeCase(join(repoRoot, "bin", "zerokit.cjs"), "rpc", "-j", endpoint, "echo", '"x"'),
      zeromq: nodeCase("--input-type=module", "-e", `import "zeromq";`),
      ...Object.fromEntries(
        ENTRIES.map((entry) => [entry, nodeCase("--input-type=module", "-e", `import "${entry}";`)]),
      ),
    };
    const runs = new Map<string, Run[]>(Object.keys(cases).map((name) => [name, []]));
    for (const c of Object.values(cases)) await measure(c); // unmeasured: warm the file cache
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, c] of Object.entries(cases)) runs.get(name)!.push(await measure(c));
    }
    const of = (name: string, key: keyof Run) => runs.get(name)!.map((r) => r[key]);
    const p50 = (name: string, key: keyof Run = "ms") => median(of(name, key));
    const p90 = (name: string) => percentile(of(name, "ms"), 0.9);
    const call = "`zerokit rpc EP echo x`";
    const pyCall = "Python zerorpc's `zerorpc EP echo x`";
    const floor = "`node -e 0` (the floor)";
    const flagged = "`zerokit rpc -j EP echo '\"x\"'` (commander)";
    const rows = [
      row(`${call}, wall p50 (raw: zeromq.js script; lower is better)`, "ms", p50("cli"), p50("raw")),
      row(`${call}, wall p90 (raw: zeromq.js script)`, "ms", p90("cli"), p90("raw")),
      row(`${call}, CPU p50 (raw: zeromq.js script)`, "ms", p50("cli", "cpuMs"), p50("raw", "cpuMs")),
      row(`${call}, max RSS (raw: zeromq.js script)`, "MiB", p50("cli", "rssMiB"), p50("raw", "rssMiB")),
      ...(hasPython
        ? [
            row(`${call}, wall p50 (raw column: ${pyCall})`, "ms", p50("cli"), p50("python")),
            row(`${call}, CPU p50 (raw column: ${pyCall})`, "ms", p50("cli", "cpuMs"), p50("python", "cpuMs")),
            row(`${call}, max RSS (raw column: ${pyCall})`, "MiB", p50("cli", "rssMiB"), p50("python", "rssMiB")),
          ]
        : []),
      row(`${flagged}, wall p50 (raw: zeromq.js script)`, "ms", p50("cliFlag"), p50("raw")),
      row(`${flagged}, CPU p50 (raw: zeromq.js script)`, "ms", p50("cliFlag", "cpuMs"), p50("raw", "cpuMs")),
      row(`${flagged}, max RSS (raw: zeromq.js script)`, "MiB", p50("cliFlag", "rssMiB"), p50("raw", "rssMiB")),
      row(`${floor}, wall p50 (raw: zeromq.js script)`, "ms", p50("floor"), p50("raw")),
      row(`${floor}, CPU p50 (raw: zeromq.js script)`, "ms", p50("floor", "cpuMs"), p50("raw", "cpuMs")),
      row(`${floor}, max RSS (raw: zeromq.js script)`, "MiB", p50("floor", "rssMiB"), p50("raw", "rssMiB")),
    ];
    for (const entry of ENTRIES) {
      rows.push(row(`import "${entry}", process wall p50 (raw: import "zeromq")`, "ms", p50(entry), p50("zeromq")));
      rows.push(
        row(
          `import "${entry}", process CPU p50 (raw: import "zeromq")`,
          "ms",
          p50(entry, "cpuMs"),
          p50("zeromq", "cpuMs"),
        ),
      );
    }
    await server.finish();
    return rows;
  } catch (error) {
    server.kill();
    throw error;
  }
}
