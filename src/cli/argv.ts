/**
 * The command line before commander reads it. In a module of its own so that the main program
 * can normalise any command's arguments without loading the `rpc` command.
 */

/** Maps the unusual short flags of zerorpc (`-pj`, `-?`) to long ones commander understands. */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let rest = false;
  for (const arg of argv) {
    if (rest || arg === "--") {
      rest = true;
      out.push(arg);
    } else if (arg === "-pj") out.push("--print-json");
    else if (arg === "-?") out.push("--inspect");
    else out.push(arg);
  }
  return out;
}
